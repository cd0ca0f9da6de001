"""Conversations' one door: the form each member is filling in, saved at every step."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Conversation


async def get(session: AsyncSession, userid: str, *, absent_at_load: bool = False
              ) -> Conversation | None:
    """The member's conversation; `absent_at_load` (the callback batch's load found none)
    answers from the session without a query."""
    if absent_at_load:
        for obj in session.new:
            if isinstance(obj, Conversation) and obj.userid == userid:
                return obj
        key = session.sync_session.identity_key(Conversation, userid)
        found = session.sync_session.identity_map.get(key)
        return found if found is not None and found not in session.deleted else None
    return await session.get(Conversation, userid)


async def save(session: AsyncSession, userid: str, *, form_id: str, form_version: int,
               state: dict[str, Any], now: datetime, conv: Conversation | None = None
               ) -> Conversation:
    """Store the form's new state (`conv` is the row the caller already holds, if any)."""
    if conv is None:
        conv = await session.get(Conversation, userid)
    if conv is None:
        conv = Conversation(userid=userid, form_id=form_id, form_version=form_version,
                            state={}, started_at=now, updated_at=now)
    conv.form_id, conv.form_version = form_id, form_version
    conv.state = state
    conv.updated_at = now
    session.add(conv)
    return conv


async def end(session: AsyncSession, conv: Conversation) -> None:
    """The form is finished or cancelled (flushed: another form may start in the same
    transaction, e.g. the daily report right after basic information)."""
    await session.delete(conv)
    await session.flush()


async def drop_abandoned(session: AsyncSession, before: datetime) -> int:
    """Housekeeping: forms not touched since `before`."""
    result = await session.execute(sa.delete(Conversation).where(
        Conversation.updated_at < before))
    return result.rowcount or 0
