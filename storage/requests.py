"""Help requests: a member who cannot send a location asks their reviewers to report for them.

A request is an audit row (who asked, for which day, whom we told); it is closed — once, by
another audit row — when a report for that member and day is stored, so the other reviewers
who were asked learn it is done and nobody files it twice.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditLog

REQUESTED = "proxy.requested"
CLOSED = "proxy.request_closed"


async def record_request(session: AsyncSession, *, userid: str, day: date, told: list[str],
                         now: datetime) -> None:
    session.add(AuditLog(at=now, actor=userid, action=REQUESTED, target=userid,
                         detail={"date": day.isoformat(), "told": told}))


async def close_requests(session: AsyncSession, *, userid: str, day: date, by: str,
                         now: datetime) -> list[str]:
    """Close the member's open request for `day`; the reviewers who were told, or []."""
    rows = list((await session.execute(
        sa.select(AuditLog).where(AuditLog.at >= now - timedelta(days=2),  # the `at` index
                                  AuditLog.target == userid,
                                  AuditLog.action.in_((REQUESTED, CLOSED)))
        .order_by(AuditLog.id))).scalars())
    day_text = day.isoformat()
    mine = [r for r in rows if (r.detail or {}).get("date") == day_text]
    if not any(r.action == REQUESTED for r in mine) or any(r.action == CLOSED for r in mine):
        return []
    told = sorted({u for r in mine if r.action == REQUESTED for u in r.detail.get("told", [])})
    session.add(AuditLog(at=now, actor=by, action=CLOSED, target=userid,
                         detail={"date": day_text}))
    return told
