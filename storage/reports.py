"""Basic information's and daily reports' one door. Both are written once: the primary key
(basic_info) and the (member, day) unique constraint (daily_report) refuse a second one."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import BasicInfo, DailyReport


class ReportStatus(StrEnum):
    """A member's day, as exports and summaries tell it."""

    REPORTED = "reported"
    MISSING = "missing"  # follows the app, has not reported
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


async def report_of_day(session: AsyncSession, userid: str, day: date) -> DailyReport | None:
    return (await session.execute(
        sa.select(DailyReport).where(DailyReport.userid == userid,
                                     DailyReport.report_date == day))).scalars().first()


async def last_report_before(session: AsyncSession, userid: str, day: date
                             ) -> DailyReport | None:
    return (await session.execute(
        sa.select(DailyReport).where(DailyReport.userid == userid,
                                     DailyReport.report_date < day)
        .order_by(DailyReport.report_date.desc()).limit(1))).scalars().first()


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
