"""Who a reviewer's `提醒` reaches: their units' members who have not reported today, are
not exempt and follow the app — with or without basic information, like the scheduled
reminders (their `上报` starts basic information, then the report); who was reminded
lately; and whether the reviewer still has to report themself."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.exemptions import exempt_clause
from storage.models import BasicInfo, DailyReport, Member, Outbox

#: The outbox dedupe keys of reminders start with these: the scheduled jobs, and 提醒 (in the
#: chat or the dashboard's button; "remind:web:" rows are from before the two were one).
REMINDER_PREFIXES = ("job:morning_reminder:", "job:second_reminder:", "remindnow:",
                     "remind:web:")


async def unreported_in_units(session: AsyncSession, day: date, unit_ids: set[str] | None
                              ) -> list[tuple[Member, bool]]:
    """Members of `unit_ids` (None: every unit) a reminder for `day` should reach, and
    whether each has basic information (the reminder's wording depends on it)."""
    query = sa.select(Member, BasicInfo.userid).outerjoin(
        BasicInfo, BasicInfo.userid == Member.userid).where(
        Member.active.is_(True), Member.following.is_(True), Member.unit_id.is_not(None),
        Member.userid.not_in(sa.select(DailyReport.userid).where(DailyReport.report_date == day)),
        sa.not_(exempt_clause(Member.userid, day)))
    if unit_ids is not None:
        if not unit_ids:
            return []
        query = query.where(Member.unit_id.in_(sorted(unit_ids)))
    rows = await session.execute(query.order_by(Member.userid))
    return [(member, info is not None) for member, info in rows]


class OwnDue(StrEnum):
    """What a member still has to do today."""

    REPORT = "report"  # today's report
    BASIC_INFO = "basic_info"  # basic information first (once), then today's report


async def own_due(session: AsyncSession, member: Member, day: date) -> OwnDue | None:
    """Whether `member` (a reviewer looking at their units) must still report `day`
    themself, as the unit summary counts them: None when they are not counted (inactive, in
    no unit), have reported that day or are exempt; otherwise whether basic information
    comes first. One query."""
    if not member.active or member.unit_id is None:
        return None
    userid = sa.literal(member.userid)
    reported, exempt, has_info = (await session.execute(sa.select(
        sa.exists().where(DailyReport.userid == userid, DailyReport.report_date == day),
        exempt_clause(userid, day),
        sa.exists().where(BasicInfo.userid == userid)))).one()
    if reported or exempt:
        return None
    return OwnDue.REPORT if has_info else OwnDue.BASIC_INFO


async def reminded_since(session: AsyncSession, userids: Iterable[str], since: datetime
                         ) -> set[str]:
    """Which of `userids` were sent (or queued) a reminder at or after `since`."""
    found: set[str] = set()
    ids = sorted(set(userids))
    prefix = sa.or_(*(Outbox.dedupe_key.like(f"{p}%") for p in REMINDER_PREFIXES))
    for start in range(0, len(ids), 900):
        found.update((await session.execute(
            sa.select(Outbox.touser).where(Outbox.touser.in_(ids[start:start + 900]),
                                           Outbox.created_at >= since, prefix)
        )).scalars())
    return found
