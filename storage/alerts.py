"""Alerts' one door: one alert per abnormal report, and who acknowledged it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import insert_ignore
from storage.models import Alert, DailyReport, Member


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"


def status_of(alert: Alert) -> AlertStatus:
    return AlertStatus.OPEN if alert.acknowledged_by is None else AlertStatus.ACKNOWLEDGED


async def raise_once(session: AsyncSession, *, report_id: int, reasons: list[str],
                     now: datetime) -> Alert | None:
    """The new alert for this report, or None when it was already raised (the report id is
    unique, so a re-sent callback or a second code path cannot alert twice)."""
    inserted = await session.execute(insert_ignore(session, Alert).values(
        report_id=report_id, reasons=reasons, created_at=now))
    if not inserted.rowcount:
        return None
    return (await session.execute(
        sa.select(Alert).where(Alert.report_id == report_id))).scalars().one()


async def get(session: AsyncSession, alert_id: int) -> Alert | None:
    return await session.get(Alert, alert_id)


def acknowledge(session: AsyncSession, alert: Alert, *, by: str, at: datetime) -> None:
    alert.acknowledged_by, alert.acknowledged_at = by, at
    session.add(alert)


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


async def since(session: AsyncSession, day: date, units: set[str] | None) -> list[AlertRow]:
    """Alerts about members of `units` (None: all) for reports from `day` on, newest first."""
    query = (sa.select(Alert, DailyReport, Member)
             .join(DailyReport, DailyReport.id == Alert.report_id)
             .join(Member, Member.userid == DailyReport.userid)
             .where(DailyReport.report_date >= day)
             .order_by(DailyReport.report_date.desc(), Alert.id.desc()))
    if units is not None:
        if not units:
            return []
        query = query.where(Member.unit_id.in_(sorted(units)))
    return [AlertRow(alert.id, member.userid, member.name, member.unit_id,
                     report.report_date, list(alert.reasons), dict(report.answers),
                     alert.acknowledged_by, alert.acknowledged_at)
            for alert, report, member in (await session.execute(query)).all()]


async def subject(session: AsyncSession, alert_id: int) -> Member | None:
    """The member whose report raised the alert (None for an unknown alert)."""
    return (await session.execute(
        sa.select(Member).join(DailyReport, DailyReport.userid == Member.userid)
        .join(Alert, Alert.report_id == DailyReport.id)
        .where(Alert.id == alert_id))).scalars().first()
