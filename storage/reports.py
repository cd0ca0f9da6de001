"""Basic information's and daily reports' one door. Both are written once: the primary key
(basic_info) and the (member, day) unique constraint (daily_report) refuse a second one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import in_values, is_postgres
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
#
# A callback batch also prefetches, in one query, each of its members' two newest reports up to
# the batch's day (`prefetch_latest`); both lookups answer from that when they can, instead of
# one round trip per callback. The prefetch lives in the batch's session only and a member's
# is dropped whenever a report of theirs is added in it.
_NO_AUTOFLUSH = {"autoflush": False}
_LATEST = "reports.latest"  # session.info: {userid: (day, [newest report, the one before])}


def _latest_query(postgres: bool) -> sa.Select[tuple[DailyReport]]:
    """Each member's two newest reports on or before :day, for members :ids. Built once per
    dialect: building it per batch (and hashing its cache key) cost more than running it."""
    ranked = (sa.select(DailyReport.id, sa.func.row_number().over(
        partition_by=DailyReport.userid, order_by=DailyReport.report_date.desc()).label("n"))
        .where(in_values(DailyReport.userid, "ids", postgres),
               DailyReport.report_date <= sa.bindparam("day", type_=sa.Date)).subquery())
    return (sa.select(DailyReport).join(ranked, ranked.c.id == DailyReport.id)
            .where(ranked.c.n <= 2).execution_options(**_NO_AUTOFLUSH))


_LATEST_QUERIES = {postgres: _latest_query(postgres) for postgres in (False, True)}


async def prefetch_latest(session: AsyncSession, userids: list[str], day: date) -> None:
    """Load these members' two newest reports on or before `day` into the session's cache."""
    if not userids:
        return
    found = (await session.execute(_LATEST_QUERIES[is_postgres(session)],
                                   {"ids": userids, "day": day})).scalars().all()
    latest: dict[str, list[DailyReport]] = {userid: [] for userid in userids}
    for report in found:
        latest[report.userid].append(report)
    cache = session.info.setdefault(_LATEST, {})
    for userid, reports in latest.items():
        cache[userid] = (day, sorted(reports, key=lambda r: r.report_date, reverse=True))


def _forget(session: AsyncSession, userid: str) -> None:
    session.info.get(_LATEST, {}).pop(userid, None)


_UNKNOWN = object()


def _cached(session: AsyncSession, userid: str, day: date, *, before: bool) -> object:
    """The report the cache answers for (report on `day`, or last before `day`), None for
    "none", _UNKNOWN when the prefetch cannot tell."""
    entry = session.info.get(_LATEST, {}).get(userid)
    if entry is None:
        return _UNKNOWN
    upto, reports = entry
    complete = len(reports) < 2  # every report on or before `upto` is in the cache
    if before:
        if day > upto + timedelta(days=1):
            return _UNKNOWN
        for report in reports:
            if report.report_date < day:
                return report
        return None if complete else _UNKNOWN
    if day > upto:
        return _UNKNOWN
    for report in reports:
        if report.report_date == day:
            return report
    return None if complete or day > reports[-1].report_date else _UNKNOWN


async def report_of_day(session: AsyncSession, userid: str, day: date) -> DailyReport | None:
    cached = _cached(session, userid, day, before=False)
    if cached is not _UNKNOWN:
        return cached  # type: ignore[return-value]
    return (await session.execute(
        sa.select(DailyReport).where(DailyReport.userid == userid,
                                     DailyReport.report_date == day),
        execution_options=_NO_AUTOFLUSH)).scalars().first()


async def last_report_before(session: AsyncSession, userid: str, day: date
                             ) -> DailyReport | None:
    cached = _cached(session, userid, day, before=True)
    if cached is not _UNKNOWN:
        return cached  # type: ignore[return-value]
    return (await session.execute(
        sa.select(DailyReport).where(DailyReport.userid == userid,
                                     DailyReport.report_date < day)
        .order_by(DailyReport.report_date.desc()).limit(1),
        execution_options=_NO_AUTOFLUSH)).scalars().first()


async def add_report_once(session: AsyncSession, report: DailyReport) -> bool:
    """Store a daily report; False (nothing stored) when the member already has one that day
    or the receipt collided (the caller tells which with `report_of_day`)."""
    _forget(session, report.userid)
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


async def daily_counts(session: AsyncSession, end: date, days: int, units: set[str] | None,
                       tz: tzinfo = UTC) -> list[DayPoint]:
    """Reported and abnormal counts per day for the active members of `units` (None: all),
    each day measured against the members who were in the roster by its end (`tz`'s midnight):
    a day before the roster was imported has no members, not a reporting rate of 0 % (the
    dashboard's 14-day chart)."""
    start = end - timedelta(days=days - 1)
    members_q = sa.select(Member.userid).where(Member.active.is_(True),
                                               Member.unit_id.is_not(None))
    if units is not None:
        members_q = members_q.where(Member.unit_id.in_(sorted(units)))
    scope = members_q.scalar_subquery()
    day_list = [start + timedelta(days=i) for i in range(days)]
    ends = [datetime.combine(day + timedelta(days=1), time(), tz) for day in day_list]
    in_roster = (await session.execute(
        sa.select(*[sa.func.coalesce(sa.func.sum(sa.case((Member.created_at < bound, 1),
                                                          else_=0)), 0) for bound in ends])
        .where(Member.userid.in_(scope)))).one()
    rows = (await session.execute(
        sa.select(DailyReport.report_date, sa.func.count(),
                  sa.func.sum(sa.case((DailyReport.abnormal.is_(True), 1), else_=0)))
        .where(DailyReport.report_date >= start, DailyReport.report_date <= end,
               DailyReport.userid.in_(scope))
        .group_by(DailyReport.report_date))).all()
    by_day = {row[0]: (int(row[1]), int(row[2] or 0)) for row in rows}
    return [DayPoint(day, int(count), *by_day.get(day, (0, 0)))
            for day, count in zip(day_list, in_roster, strict=True)]
