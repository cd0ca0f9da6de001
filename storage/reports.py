"""Basic information's and daily reports' one door. Both are written once: the primary key
(basic_info) and the (member, day) unique constraint (daily_report) refuse a second one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import BasicInfo, DailyReport, Member


class ReportStatus(StrEnum):
    """A member's day, as exports and summaries tell it."""

    REPORTED = "reported"
    MISSING = "missing"  # follows the app, has not reported
    EXEMPT = "exempt"  # 免报 that day (storage/exemptions.py): not due, not missing
    UNFOLLOWED = "unfollowed"  # cannot be reached: does not follow the app


async def basic_info(session: AsyncSession, userid: str) -> BasicInfo | None:
    return await session.get(BasicInfo, userid)


async def add_basic_info_once(session: AsyncSession, record: BasicInfo) -> bool:
    """Store a member's basic information; False (and nothing stored) if they have it."""
    try:
        async with session.begin_nested():
            session.add(record)
    except IntegrityError:
        return False
    return True


async def get_report(session: AsyncSession, report_id: int) -> DailyReport | None:
    return await session.get(DailyReport, report_id)


# The two lookups below run on nearly every callback of a form. They do not autoflush: the
# only pending change they could miss is a new report, and reports are flushed as they are
# added (add_report_once); everything else pending (a form's state, say) is written once by
# the callback batch's flush, instead of one UPDATE per callback before each lookup.
_NO_AUTOFLUSH = {"autoflush": False}


async def report_of_day(session: AsyncSession, userid: str, day: date) -> DailyReport | None:
    return (await session.execute(
        sa.select(DailyReport).where(DailyReport.userid == userid,
                                     DailyReport.report_date == day),
        execution_options=_NO_AUTOFLUSH)).scalars().first()


async def last_report_before(session: AsyncSession, userid: str, day: date
                             ) -> DailyReport | None:
    return (await session.execute(
        sa.select(DailyReport).where(DailyReport.userid == userid,
                                     DailyReport.report_date < day)
        .order_by(DailyReport.report_date.desc()).limit(1),
        execution_options=_NO_AUTOFLUSH)).scalars().first()


async def add_report_once(session: AsyncSession, report: DailyReport) -> bool:
    """Store a daily report; False (nothing stored) when the member already has one that day
    or the receipt collided (the caller tells which with `report_of_day`)."""
    try:
        async with session.begin_nested():
            session.add(report)
    except IntegrityError:
        return False
    return True


async def reporters_on(session: AsyncSession, day: date) -> set[str]:
    """Who has a report for `day`."""
    return set((await session.execute(
        sa.select(DailyReport.userid).where(DailyReport.report_date == day))).scalars())


async def history(session: AsyncSession, userid: str, *, limit: int = 60) -> list[DailyReport]:
    """A member's reports, newest first (the dashboard's member page)."""
    return list((await session.execute(
        sa.select(DailyReport).where(DailyReport.userid == userid)
        .order_by(DailyReport.report_date.desc()).limit(limit))).scalars())


@dataclass(frozen=True)
class DayPoint:
    day: date
    members: int
    reported: int
    abnormal: int

    @property
    def rate(self) -> float:
        return self.reported / self.members if self.members else 0.0


async def daily_counts(session: AsyncSession, end: date, days: int, units: set[str] | None
                       ) -> list[DayPoint]:
    """Reported and abnormal counts per day for the active members of `units` (None: all),
    measured against today's membership (the dashboard's 14-day chart)."""
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
