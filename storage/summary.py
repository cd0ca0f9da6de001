"""Who reported today, per unit: the one computation behind `统计`, digests and exports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

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

    @property
    def reported(self) -> int:
        return self.reported_self + self.reported_proxy


async def unit_summaries(session: AsyncSession, day: date, unit_ids: set[str] | None
                         ) -> list[UnitDay]:
    """Summaries for the given units (None = all units), ordered by unit id."""
    members_q = sa.select(Member.userid, Member.name, Member.unit_id, Member.following).where(
        Member.active.is_(True), Member.unit_id.is_not(None))
    if unit_ids is not None:
        if not unit_ids:
            return []
        members_q = members_q.where(Member.unit_id.in_(sorted(unit_ids)))
    members = (await session.execute(members_q)).all()
    if not members:
        return []
    names = dict((await session.execute(sa.select(Unit.id, Unit.name))).all())
    reports = {row.userid: row for row in (await session.execute(
        sa.select(DailyReport.userid, DailyReport.filled_by, DailyReport.abnormal,
                  DailyReport.abnormal_reasons).where(DailyReport.report_date == day))).all()}
    with_info = set((await session.execute(sa.select(BasicInfo.userid))).scalars())
    by_unit: dict[str, UnitDay] = {}
    for userid, name, unit_id, following in sorted(members, key=lambda m: (m[2], m[0])):
        summary = by_unit.setdefault(unit_id, UnitDay(unit_id, names.get(unit_id, unit_id)))
        summary.total += 1
        report = reports.get(userid)
        if report is None:
            summary.missing.append((userid, name))
        elif report.filled_by == userid:
            summary.reported_self += 1
        else:
            summary.reported_proxy += 1
        if report is not None and report.abnormal:
            summary.abnormal.append((name, list(report.abnormal_reasons)))
        if not following:
            summary.unfollowed.append(name)
        if userid not in with_info:
            summary.no_basic_info.append(name)
    return [by_unit[k] for k in sorted(by_unit)]
