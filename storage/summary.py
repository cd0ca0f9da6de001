"""Who reported today, per unit: the one computation behind `统计`, digests and exports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.exemptions import exempt_clause
from storage.models import BasicInfo, DailyReport, Member, Unit


@dataclass
class UnitDay:
    unit_id: str
    unit_name: str
    total: int = 0
    reported_self: int = 0
    reported_proxy: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)  # (userid, name)
    abnormal: list[tuple[str, list[str]]] = field(default_factory=list)  # (name, reasons)
    unfollowed: list[str] = field(default_factory=list)
    no_basic_info: list[str] = field(default_factory=list)
    exempt: list[str] = field(default_factory=list)  # names of members exempt that day
    reported_late: int = 0  # of `reported`: filed afterwards by a reviewer (补报)

    @property
    def reported(self) -> int:
        return self.reported_self + self.reported_proxy

    @property
    def expected(self) -> int:
        """Members who were due to report: everyone but the exempt."""
        return self.total - len(self.exempt)

    @property
    def rate(self) -> float | None:
        """Share of the members due who reported (None when nobody was due)."""
        return self.reported / self.expected if self.expected else None


async def unit_summaries(session: AsyncSession, day: date, unit_ids: set[str] | None, *,
                         tz: tzinfo) -> list[UnitDay]:
    """Summaries for the given units (None = all units), ordered by unit id.

    Who counts on `day`: the active members who were in the roster by its end (midnight in
    `tz`), and anyone with a report for it (a 补报 of a day before they joined). The export
    applies the same rule, so a trend over days before the roster was imported agrees with
    the spreadsheet instead of counting everyone missing."""
    day_end = datetime.combine(day + timedelta(days=1), time(), tz)
    # One query: each member with today's report (if any) and whether basic info exists.
    members_q = (
        sa.select(Member.userid, Member.name, Member.unit_id, Member.following,
                  DailyReport.filled_by, DailyReport.abnormal, DailyReport.abnormal_reasons,
                  DailyReport.late, BasicInfo.userid.label("info"),
                  exempt_clause(Member.userid, day).label("exempt"))
        .outerjoin(DailyReport, sa.and_(DailyReport.userid == Member.userid,
                                        DailyReport.report_date == day))
        .outerjoin(BasicInfo, BasicInfo.userid == Member.userid)
        .where(Member.active.is_(True), Member.unit_id.is_not(None),
               sa.or_(Member.created_at < day_end, DailyReport.userid.is_not(None))))
    if unit_ids is not None:
        if not unit_ids:
            return []
        members_q = members_q.where(Member.unit_id.in_(sorted(unit_ids)))
    members = (await session.execute(members_q)).all()
    if not members:
        return []
    names = dict((await session.execute(sa.select(Unit.id, Unit.name))).all())
    by_unit: dict[str, UnitDay] = {}
    for row in sorted(members, key=lambda m: (m.unit_id, m.userid)):
        summary = by_unit.setdefault(row.unit_id,
                                     UnitDay(row.unit_id, names.get(row.unit_id, row.unit_id)))
        summary.total += 1
        if row.filled_by is None and row.exempt:
            summary.exempt.append(row.name)
        elif row.filled_by is None:
            summary.missing.append((row.userid, row.name))
        elif row.filled_by == row.userid:
            summary.reported_self += 1
        else:
            summary.reported_proxy += 1
        if row.late:
            summary.reported_late += 1
        if row.abnormal:
            summary.abnormal.append((row.name, list(row.abnormal_reasons)))
        if not row.following:
            summary.unfollowed.append(row.name)
        if row.info is None:
            summary.no_basic_info.append(row.name)
    return [by_unit[k] for k in sorted(by_unit)]


async def reports_on(session: AsyncSession, day: date) -> int:
    """How many daily reports were stored for `day` (a count, nothing personal)."""
    return int((await session.execute(
        sa.select(sa.func.count()).select_from(DailyReport)
        .where(DailyReport.report_date == day))).scalar_one())
