"""Interactive cards' one door: every template card we sent, whose it is, what it is for,
and whether a click on it may still change anything."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import CardTask


class CardPurpose(StrEnum):
    ALERT_ACK = "alert:ack"  # an abnormal-report alert with its acknowledge button; ref = alert id
    REMIND = "remind"  # the daily reminder (report now / same as yesterday); userid "*"
    NOTICE = "notice"  # a policy notice with its Read button; userid "*", ref = notice id
    PRIVACY = "privacy"  # the privacy notice's 同意 / 不同意 card; ref = the notice version
    PROXY_REQUEST = "proxy:request"  # a member's 请老师代填, with a 代报 button; ref = userid


def form_purpose(form_id: str) -> str:
    """The purpose of a form question's card: "form:<form id>"."""
    return f"form:{form_id}"


def add(session: AsyncSession, *, task_id: str, userid: str, purpose: str, ref: str,
        now: datetime) -> None:
    session.add(CardTask(task_id=task_id, userid=userid, purpose=purpose, ref=ref, live=True,
                         created_at=now))


async def get(session: AsyncSession, task_id: str) -> CardTask | None:
    return await session.get(CardTask, task_id)


def keep(session: AsyncSession, card: CardTask) -> None:
    """Write back a card whose fields the caller changed (live, response_code)."""
    session.add(card)


async def retire(session: AsyncSession, *, userid: str, purpose: str,
                 ref: str | None = None) -> None:
    """Make a member's live cards of one purpose (and ref) unanswerable."""
    query = sa.update(CardTask).where(CardTask.userid == userid, CardTask.live.is_(True))
    query = query.where(CardTask.purpose == purpose)
    if ref is not None:
        query = query.where(CardTask.ref == ref)
    await session.execute(query.values(live=False))


async def retire_older_than(session: AsyncSession, cutoff: datetime) -> int:
    """Housekeeping: cards sent before `cutoff` can no longer be answered."""
    result = await session.execute(sa.update(CardTask).where(
        CardTask.live.is_(True), CardTask.created_at < cutoff).values(live=False))
    return result.rowcount or 0
