"""Alerts' one door: one alert per abnormal report, and who acknowledged it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import insert_ignore
from storage.models import Alert


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
