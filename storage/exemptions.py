"""免报 (exemptions): a member on leave, graduated or in hospital need not report for a while.

An exemption covers whole days, both ends included. Exempt members are not reminded, not
counted missing (the summaries, the digest and the export show them as `exempt`), and a report
they file anyway still counts as reported.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.models import Exemption, Member
from storage.units import may_act_on

#: The longest exemption one command may record (a semester and a bit; renew for longer).
MAX_EXEMPT_DAYS = 200
MAX_REASON = 200


class ExemptionError(ValueError):
    """The exemption cannot be recorded as asked; nothing was changed. `key` names the catalog
    text that explains why (for the chat), `str()` says it in English (for the CLI)."""

    def __init__(self, key: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.key = key
        self.params = params


def exempt_clause(userid_column: sa.ColumnElement, day: date) -> sa.ColumnElement[bool]:
    """A WHERE clause: the member in `userid_column` is exempt on `day`."""
    return sa.exists().where(Exemption.userid == userid_column, Exemption.start <= day,
                             Exemption.end >= day)


async def exempt_on(session: AsyncSession, day: date, userids: set[str] | None = None
                    ) -> dict[str, str]:
    """{userid: reason} of members exempt on `day` (restricted to `userids` when given)."""
    query = sa.select(Exemption.userid, Exemption.reason).where(
        Exemption.start <= day, Exemption.end >= day).order_by(Exemption.id)
    if userids is not None:
        if not userids:
            return {}
        query = query.where(Exemption.userid.in_(sorted(userids)))
    return {userid: reason for userid, reason in (await session.execute(query)).all()}


async def exempt_days(session: AsyncSession, start: date, end: date
                      ) -> dict[str, list[tuple[date, date, str]]]:
    """{userid: [(start, end, reason), ...]} of exemptions overlapping start..end."""
    query = sa.select(Exemption.userid, Exemption.start, Exemption.end, Exemption.reason).where(
        Exemption.start <= end, Exemption.end >= start).order_by(Exemption.id)
    found: dict[str, list[tuple[date, date, str]]] = {}
    for userid, first, last, reason in (await session.execute(query)).all():
        found.setdefault(userid, []).append((first, last, reason))
    return found


def reason_on(spans: list[tuple[date, date, str]], day: date) -> str | None:
    """The reason of the latest exemption covering `day`, or None when none does."""
    reasons = [reason for first, last, reason in spans if first <= day <= last]
    return reasons[-1] if reasons else None


async def add_exemption(session: AsyncSession, *, actor: Member | None, subject: Member,
                        start: date, end: date, reason: str, now: datetime,
                        actor_name: str | None = None) -> Exemption:
    """Record an exemption after checking it; `actor` None means an operator at the CLI
    (`actor_name` says who). Raises ExemptionError, changing nothing, when it cannot be."""
    reason = " ".join(reason.split())
    if not reason:
        raise ExemptionError("exempt.reason_required", "a reason is required")
    if len(reason) > MAX_REASON:
        raise ExemptionError("exempt.reason_too_long",
                             f"the reason is longer than {MAX_REASON} characters",
                             max=MAX_REASON)
    if start > end:
        raise ExemptionError("exempt.bad_range",
                             f"{start.isoformat()} is after {end.isoformat()}",
                             start=start.isoformat(), end=end.isoformat())
    if (end - start).days + 1 > MAX_EXEMPT_DAYS:
        raise ExemptionError("exempt.too_long",
                             f"at most {MAX_EXEMPT_DAYS} days per exemption",
                             days=MAX_EXEMPT_DAYS)
    if actor is not None:
        if actor.role not in ("reviewer", "admin"):
            raise ExemptionError("exempt.not_reviewer", "only reviewers may exempt members")
        if actor.userid == subject.userid:
            # The true reason (QA2 #9): he is in a unit he reviews, but not his own reviewer.
            raise ExemptionError("exempt.not_self", "a reviewer cannot exempt themself")
        if not await may_act_on(session, actor, subject):
            raise ExemptionError("exempt.not_your_unit",
                                 f"{subject.userid} is not in a unit {actor.userid} reviews",
                                 userid=subject.userid)
    by = actor.userid if actor is not None else (actor_name or "cli")
    exemption = Exemption(userid=subject.userid, start=start, end=end, reason=reason,
                          created_by=by[:64], created_at=now)
    session.add(exemption)
    await session.flush()
    audit.record(session, at=now, actor=by, action=audit.AuditAction.EXEMPT,
                 target=subject.userid,
                 detail={"exemption": exemption.id, "from": start.isoformat(),
                         "to": end.isoformat(), "reason": reason})
    return exemption


def day_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
