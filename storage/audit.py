"""The audit log's one door: every read of others' data and every change made on someone's
behalf is recorded here, in the caller's transaction. Rows are never pruned."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditLog


class AuditAction(StrEnum):
    STATS = "stats"  # a reviewer read their units' summary
    ALERT_ACK = "alert.ack"
    PROXY_REPORT = "proxy.report"  # a reviewer reported on behalf of a member
    EXPORT = "export"
    ROSTER_IMPORT = "roster.import"
    ROSTER_SYNC = "roster.sync"
    REVIEWER_ADD = "reviewer.add"
    BASIC_INFO_CORRECT = "basic_info.correct"
    PRIVACY_EXPORT = "privacy.export"
    PRIVACY_ERASE = "privacy.erase"
    OUTBOX_RETRY = "outbox.retry"
    PROXY_REQUESTED = "proxy.requested"  # a member who cannot locate asked their reviewers
    PROXY_REQUEST_CLOSED = "proxy.request_closed"  # a report for that day was stored
    LATE_REPORT = "late.report"  # 补报: a reviewer filed a past day for a member
    EXEMPT = "exempt"  # 免报
    REMIND_NOW = "remind.now"  # a reviewer's 提醒
    NOTICE_SEND = "notice.send"
    NOTICE_STATUS = "notice.status"  # who has read a notice (names: a read of others' data)
    WEB_SIGN_IN = "web.sign_in"  # a member signed in to the web pages
    WEB_DASHBOARD = "web.dashboard"  # a reviewer viewed their units' dashboard
    WEB_MEMBER = "web.member"  # a reviewer viewed a member's history
    WEB_EXPORT = "web.export"  # a reviewer downloaded an export
    WEB_REMIND = "web.remind"  # a reviewer reminded non-reporters from the dashboard
    FORM_PUBLISH = "form.publish"  # a new version of a form was published


def record(session: AsyncSession, *, at: datetime, actor: str, action: AuditAction | str,
           target: str = "", detail: dict[str, Any] | None = None) -> None:
    """Add one audit row (committed with the change it describes)."""
    session.add(AuditLog(at=at, actor=actor[:64], action=str(action)[:64], target=target[:128],
                         detail=detail or {}))


# ---- help requests: a member who cannot send a location asks their reviewers ------------------
# A request is an audit row (who asked, for which day, whom we told); it is closed once, by
# another row, when a report for that member and day is stored, so the other reviewers who were
# asked learn it is done and nobody files it twice.


def record_proxy_request(session: AsyncSession, *, userid: str, day: date, told: list[str],
                         now: datetime) -> None:
    record(session, at=now, actor=userid, action=AuditAction.PROXY_REQUESTED, target=userid,
           detail={"date": day.isoformat(), "told": told})


async def close_proxy_request(session: AsyncSession, *, userid: str, day: date, by: str,
                              now: datetime) -> list[str]:
    """Close the member's open request for `day`; the reviewers who were told, or []."""
    actions = (AuditAction.PROXY_REQUESTED.value, AuditAction.PROXY_REQUEST_CLOSED.value)
    rows = list((await session.execute(
        sa.select(AuditLog).where(AuditLog.at >= now - timedelta(days=2),  # the `at` index
                                  AuditLog.target == userid, AuditLog.action.in_(actions))
        .order_by(AuditLog.id))).scalars())
    mine = [r for r in rows if (r.detail or {}).get("date") == day.isoformat()]
    if not any(r.action == actions[0] for r in mine) or any(r.action == actions[1]
                                                            for r in mine):
        return []
    told = sorted({u for r in mine if r.action == actions[0] for u in r.detail.get("told", [])})
    record(session, at=now, actor=by, action=AuditAction.PROXY_REQUEST_CLOSED, target=userid,
           detail={"date": day.isoformat()})
    return told
