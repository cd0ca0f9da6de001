"""A member's rights under PIPL, and retention: export everything stored about a member, erase a
leaver's personal fields (keeping counts), and reduce precise locations after a while.

Every export and erase writes an audit row naming who asked; the row never holds the data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.audit import AuditAction
from storage.models import (
    Alert,
    AuditLog,
    BasicInfo,
    CardTask,
    Conversation,
    DailyReport,
    Exemption,
    InboundEvent,
    Member,
    NoticeRecipient,
    Outbox,
    ReviewerAssignment,
)

ERASED_NAME = "(已删除 erased)"


class PrivacyError(Exception):
    """The request cannot be carried out (unknown member); nothing was changed."""


def _plain(row: SQLModel) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in row.model_dump().items()}


async def _member(session: AsyncSession, userid: str) -> Member:
    member = (await session.execute(
        sa.select(Member).where(sa.func.lower(Member.userid) == userid.lower()))
    ).scalars().first()
    if member is None:
        raise PrivacyError(f"no member {userid!r} on the roster")
    return member


async def export_member(session: AsyncSession, userid: str, *, actor: str,
                        now: datetime) -> dict[str, Any]:
    """Everything stored about one member, as JSON-ready data (audited)."""
    member = await _member(session, userid)
    uid = member.userid

    async def rows(model: Any, *where: Any) -> list[dict[str, Any]]:
        return [_plain(r) for r in (await session.execute(sa.select(model).where(*where)))
                .scalars()]

    reports = await rows(DailyReport, DailyReport.userid == uid)
    report_ids = [r["id"] for r in reports]
    data = {
        "exported_at": now.isoformat(),
        "member": _plain(member),
        "basic_info": await rows(BasicInfo, BasicInfo.userid == uid),
        "daily_reports": reports,
        "alerts": await rows(Alert, Alert.report_id.in_(report_ids)) if report_ids else [],
        "conversation": await rows(Conversation, Conversation.userid == uid),
        "cards": await rows(CardTask, CardTask.userid == uid),
        "messages_to_member": await rows(Outbox, Outbox.touser == uid),
        "callbacks_received": await rows(InboundEvent, InboundEvent.userid == uid),
        "reviews_units": await rows(ReviewerAssignment, ReviewerAssignment.userid == uid),
        "exemptions": await rows(Exemption, Exemption.userid == uid),
        "notices_received": await rows(NoticeRecipient, NoticeRecipient.userid == uid),
        "audit": await rows(AuditLog, sa.or_(AuditLog.target == uid, AuditLog.actor == uid)),
    }
    audit.record(session, at=now, actor=actor, action=AuditAction.PRIVACY_EXPORT, target=uid,
                 detail={"reports": len(reports)})
    return data


async def erase_member(session: AsyncSession, userid: str, *, actor: str,
                       now: datetime) -> dict[str, int]:
    """Remove a leaver's personal fields. What stays: the userid (other rows refer to it), each
    report's day and whether it was abnormal (so past counts do not change), and audit rows."""
    member = await _member(session, userid)
    uid = member.userid
    counts: dict[str, int] = {}
    member.name = ERASED_NAME
    member.mobile = None
    member.last_lat = member.last_lng = None
    member.last_location_at = None
    member.abroad_country = None
    member.privacy_pending = None
    member.active = False
    member.following = False
    member.updated_at = now
    session.add(member)

    async def run(label: str, statement: Any) -> None:
        counts[label] = int((await session.execute(
            statement.execution_options(synchronize_session=False))).rowcount or 0)

    await run("basic_info", sa.update(BasicInfo).where(BasicInfo.userid == uid).values(
        name=ERASED_NAME, staff_no="", mobile="", hukou_address=None, answers={}))
    await run("reports", sa.update(DailyReport).where(DailyReport.userid == uid).values(
        answers={}, temperature=None, province=None, city=None, district=None, country=None,
        proxy_reason=None, late_reason=None, abnormal_reasons=[]))
    await run("exemptions", sa.update(Exemption).where(Exemption.userid == uid).values(
        reason=ERASED_NAME))
    report_ids = sa.select(DailyReport.id).where(DailyReport.userid == uid)
    await run("alerts", sa.update(Alert).where(Alert.report_id.in_(report_ids))
              .values(reasons=[]))
    await run("conversations", sa.delete(Conversation).where(Conversation.userid == uid))
    await run("cards", sa.delete(CardTask).where(CardTask.userid == uid))
    await run("messages", sa.update(Outbox).where(Outbox.touser == uid)
              .values(payload={}, payload_hash="", status=sa.case(
                  (Outbox.status == "pending", "cancelled"), else_=Outbox.status)))
    await run("callbacks", sa.delete(InboundEvent).where(InboundEvent.userid == uid))
    audit.record(session, at=now, actor=actor, action=AuditAction.PRIVACY_ERASE, target=uid,
                 detail=dict(counts))
    return counts


# ---- retention -------------------------------------------------------------------------------

#: What stays of a report's location after `raw_location_days`.
COARSE_LOCATION_KEYS = ("kind", "province", "city", "district", "category", "country",
                        "verified", "source", "reason", "proxy_reason")


def coarse_location(location: dict[str, Any]) -> dict[str, Any]:
    """A location reduced to province/city/district: no coordinates, no typed address. A
    geocoded place name (which names a district) is kept; any other label is rebuilt."""
    reduced = {k: location[k] for k in COARSE_LOCATION_KEYS if k in location}
    geocoded = location.get("kind") == "gps" and location.get("district")
    if geocoded:
        for key in ("label", "label_en"):
            if key in location:
                reduced[key] = location[key]
    else:
        parts = [location.get(k) for k in ("province", "city", "district")]
        label = "".join(dict.fromkeys(p for p in parts if p))  # 北京市北京市 -> 北京市
        if label:
            reduced["label"] = label
    return reduced


async def apply_retention(session: AsyncSession, *, now: datetime, today: Any,
                          raw_location_days: int, report_days: int,
                          batch: int = 500) -> dict[str, int]:
    """The `[privacy]` retention rules; returns counts only (the housekeeping job logs them)."""
    from datetime import timedelta

    counts: dict[str, int] = {}
    cutoff_day = today - timedelta(days=raw_location_days)
    reduced = 0
    last_id = 0
    while True:
        reports = list((await session.execute(
            sa.select(DailyReport).where(
                DailyReport.report_date < cutoff_day, DailyReport.id > last_id,
                sa.cast(DailyReport.answers, sa.String).like('%"lat"%'))
            .order_by(DailyReport.id).limit(batch))).scalars())
        if not reports:
            break
        for report in reports:
            last_id = report.id or last_id
            answers = dict(report.answers or {})
            location = answers.get("location")
            if isinstance(location, dict) and ("lat" in location or "lng" in location):
                answers["location"] = coarse_location(location)
                report.answers = answers
                session.add(report)
                reduced += 1
        await session.flush()
    counts["report locations reduced"] = reduced
    result = await session.execute(
        sa.update(Member).where(Member.last_lat.is_not(None),
                                sa.or_(Member.last_location_at.is_(None),
                                       Member.last_location_at
                                       < now - timedelta(days=raw_location_days)))
        .values(last_lat=None, last_lng=None).execution_options(synchronize_session=False))
    counts["member positions cleared"] = int(result.rowcount or 0)
    if report_days > 0:
        old = sa.select(DailyReport.id).where(
            DailyReport.report_date < today - timedelta(days=report_days))
        await session.execute(sa.delete(Alert).where(Alert.report_id.in_(old)))
        result = await session.execute(sa.delete(DailyReport).where(
            DailyReport.report_date < today - timedelta(days=report_days)))
        counts["reports deleted"] = int(result.rowcount or 0)
    return counts
