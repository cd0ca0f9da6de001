"""The audit log's one door: every read of others' data and every change made on someone's
behalf is recorded here, in the caller's transaction. Rows are never pruned."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

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


def record(session: AsyncSession, *, at: datetime, actor: str, action: AuditAction | str,
           target: str = "", detail: dict[str, Any] | None = None) -> None:
    """Add one audit row (committed with the change it describes)."""
    session.add(AuditLog(at=at, actor=actor[:64], action=str(action)[:64], target=target[:128],
                         detail=detail or {}))
