"""What the member page and the reviewers' dashboard read and write (no SQL in handlers/web).

Authorisation is not decided here: callers scope every query with the unit set from
`storage.units.reviewed_units` (None = every unit), exactly like `统计`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import insert_ignore
from storage.models import (
    Alert,
    AuditLog,
    BasicInfo,
    Conversation,
    DailyReport,
    InboundEvent,
    Member,
    Unit,
)
from storage.outbox import enqueue


async def claim_once(session: AsyncSession, key: str, *, userid: str, kind: str,
                     now: datetime) -> bool:
    """True the first time `key` is claimed, False ever after (one-time OAuth states).

    Uses the callbacks' dedupe table, so housekeeping prunes old keys with the others."""
    result = await session.execute(insert_ignore(session, InboundEvent).values(
        dedupe_key=key[:255], userid=userid[:64], kind=kind[:64], received_at=now))
    return bool(result.rowcount)


async def get_member(session: AsyncSession, userid: str) -> Member | None:
    return await session.get(Member, userid)


async def set_language(session: AsyncSession, userid: str, lang: str) -> None:
    """The same preference as the chat's 中文 / English."""
    await session.execute(sa.update(Member).where(Member.userid == userid)
                          .values(language=lang))


async def get_basic_info(session: AsyncSession, userid: str) -> BasicInfo | None:
    return await session.get(BasicInfo, userid)


async def report_on(session: AsyncSession, userid: str, day: date) -> DailyReport | None:
    return (await session.execute(
        sa.select(DailyReport).where(DailyReport.userid == userid,
                                     DailyReport.report_date == day))).scalars().first()


async def open_conversation(session: AsyncSession, userid: str) -> Conversation | None:
    """The form the member has started in the chat, if any (its answers prefill the page)."""
    return await session.get(Conversation, userid)


async def drop_conversation(session: AsyncSession, userid: str, form_id: str) -> None:
    """The page completed the form the chat had started: the chat's half is over."""
    await session.execute(sa.delete(Conversation).where(Conversation.userid == userid,
                                                        Conversation.form_id == form_id))


async def audit(session: AsyncSession, *, actor: str, action: str, target: str,
                detail: dict[str, Any], now: datetime) -> None:
    session.add(AuditLog(at=now, actor=actor, action=action, target=target[:128],
                         detail=detail))


async def history(session: AsyncSession, userid: str, *, limit: int = 60) -> list[DailyReport]:
    """A member's reports, newest first."""
    return list((await session.execute(
        sa.select(DailyReport).where(DailyReport.userid == userid)
        .order_by(DailyReport.report_date.desc()).limit(limit))).scalars())


async def units_named(session: AsyncSession) -> dict[str, str]:
    return dict((await session.execute(sa.select(Unit.id, Unit.name))).all())


@dataclass(frozen=True)
class DayPoint:
    day: date
    members: int
    reported: int
    abnormal: int

    @property
    def rate(self) -> float:
        return self.reported / self.members if self.members else 0.0


async def daily_series(session: AsyncSession, end: date, days: int, units: set[str] | None
                       ) -> list[DayPoint]:
    """Reported and abnormal counts per day for the active members of `units` (today's
    membership: the chart shows how today's people reported, not historical rosters)."""
    start = end - timedelta(days=days - 1)
    members_q = sa.select(Member.userid).where(Member.active.is_(True),
                                               Member.unit_id.is_not(None))
    if units is not None:
        members_q = members_q.where(Member.unit_id.in_(sorted(units)))
    scope = members_q.scalar_subquery()
    total = int((await session.execute(
        sa.select(sa.func.count()).select_from(Member).where(Member.userid.in_(scope))
    )).scalar_one())
    rows = (await session.execute(
        sa.select(DailyReport.report_date, sa.func.count(),
                  sa.func.sum(sa.case((DailyReport.abnormal.is_(True), 1), else_=0)))
        .where(DailyReport.report_date >= start, DailyReport.report_date <= end,
               DailyReport.userid.in_(scope))
        .group_by(DailyReport.report_date))).all()
    by_day = {row[0]: (int(row[1]), int(row[2] or 0)) for row in rows}
    return [DayPoint(day, total, *by_day.get(day, (0, 0)))
            for day in (start + timedelta(days=i) for i in range(days))]


@dataclass(frozen=True)
class AlertRow:
    alert_id: int
    userid: str
    name: str
    unit_id: str | None
    day: date
    reasons: list[str]
    answers: dict[str, Any]
    acknowledged_by: str | None
    acknowledged_at: datetime | None


async def alerts_since(session: AsyncSession, since: date, units: set[str] | None
                       ) -> list[AlertRow]:
    """Abnormal-report alerts of members of `units` from `since` on, newest first."""
    query = (sa.select(Alert, DailyReport, Member)
             .join(DailyReport, DailyReport.id == Alert.report_id)
             .join(Member, Member.userid == DailyReport.userid)
             .where(DailyReport.report_date >= since)
             .order_by(DailyReport.report_date.desc(), Alert.id.desc()))
    if units is not None:
        if not units:
            return []
        query = query.where(Member.unit_id.in_(sorted(units)))
    return [AlertRow(alert.id, member.userid, member.name, member.unit_id,
                     report.report_date, list(alert.reasons), dict(report.answers),
                     alert.acknowledged_by, alert.acknowledged_at)
            for alert, report, member in (await session.execute(query)).all()]


async def alert_subject(session: AsyncSession, alert_id: int) -> Member | None:
    """The member whose report raised the alert (None for an unknown alert)."""
    return (await session.execute(
        sa.select(Member).join(DailyReport, DailyReport.userid == Member.userid)
        .join(Alert, Alert.report_id == DailyReport.id)
        .where(Alert.id == alert_id))).scalars().first()


def web_reminder_key(day: date, userid: str) -> str:
    """One "remind now" per member per day from the dashboard, whoever presses it."""
    return f"remind:web:{day.isoformat()}:{userid}"


async def enqueue_reminder(session: AsyncSession, *, userid: str, day: date,
                           message: dict[str, Any], now: datetime) -> bool:
    """Queue a reminder through the outbox (paced by the sender like every message); skipped
    if the member reports before it goes out. False when already reminded today from here."""
    return await enqueue(session, dedupe_key=web_reminder_key(day, userid), touser=userid,
                         message=message, now=now, skip_if_reported=day)
