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
               state: dict[str, Any], now: datetime, conv: Conversation | None = None,
               absent: bool = False) -> Conversation:
    """Store the form's new state (`conv` is the row the caller already holds, if any;
    `absent`: the caller knows the member has none, so it is not looked up)."""
    if conv is None and not absent:
        conv = await session.get(Conversation, userid)
    if conv is None:
        conv = Conversation(userid=userid, form_id=form_id, form_version=form_version,
                            state={}, started_at=now, updated_at=now)
    conv.form_id, conv.form_version = form_id, form_version
    conv.state = state
    conv.updated_at = now
    session.add(conv)
    return conv


def pause(conv: Conversation) -> None:
    """Keep the form of `conv` aside (a reviewer's own, while they fill one in for a member):
    the next `save` for this member starts the other form in the same row, and `end` brings
    this one back."""
    conv.paused = {"form_id": conv.form_id, "form_version": conv.form_version,
                   "state": conv.state, "started_at": conv.started_at.isoformat(),
                   "updated_at": conv.updated_at.isoformat()}


async def end(session: AsyncSession, conv: Conversation) -> Conversation | None:
    """The form is finished or cancelled (flushed: another form may start in the same
    transaction, e.g. the daily report right after basic information). A form paused under
    it comes back as it was: returned, else None."""
    paused = conv.paused
    if paused:
        conv.form_id, conv.form_version = str(paused["form_id"]), int(paused["form_version"])
        conv.state = dict(paused["state"])
        conv.started_at = datetime.fromisoformat(paused["started_at"])
        conv.updated_at = datetime.fromisoformat(paused["updated_at"])
        conv.paused = None
        session.add(conv)
        await session.flush()
        return conv
    await session.delete(conv)
    await session.flush()
    return None


async def drop_abandoned(session: AsyncSession, before: datetime) -> int:
    """Housekeeping: forms not touched since `before`."""
    result = await session.execute(sa.delete(Conversation).where(
        Conversation.updated_at < before))
    return result.rowcount or 0
