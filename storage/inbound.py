"""Accepted callbacks' one door: a row per callback, whose primary key makes WeCom's re-sends
harmless."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import insert_ignore
from storage.models import InboundEvent


async def accept_once(session: AsyncSession, *, dedupe_key: str, userid: str, kind: str,
                      now: datetime) -> bool:
    """Record a callback; False when this one was already accepted (a re-send)."""
    inserted = await session.execute(insert_ignore(session, InboundEvent).values(
        dedupe_key=dedupe_key[:255], userid=userid, kind=kind, received_at=now))
    return bool(inserted.rowcount)


async def prune(session: AsyncSession, before: datetime) -> int:
    """Housekeeping: dedupe keys older than any re-send."""
    result = await session.execute(sa.delete(InboundEvent).where(
        InboundEvent.received_at < before))
    return result.rowcount or 0
