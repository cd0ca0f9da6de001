"""The callback write path's own queries: few round trips per callback, many callbacks a batch.

A batch of callbacks (handlers/processor.py) starts with two queries for all of them: the
members with their conversations (locked on PostgreSQL, in userid order so that two processes'
batches never deadlock), and the dedupe keys already seen with the replies they were answered
with. Each callback's dedupe row, state and outbox rows are then written by one flush.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import insert_ignore, is_postgres
from storage.models import Conversation, InboundEvent, Member, Outbox


async def load_members(session: AsyncSession, userids: Iterable[str], *, refresh: bool = False
                       ) -> dict[str, tuple[Member, Conversation | None, bool]]:
    """{userid: (member, conversation or None, has undelivered messages)} in one query.

    PostgreSQL first locks the member rows FOR UPDATE in userid order (a second statement): a
    member's callbacks are serialised across instances, and two batches always lock in the same
    order. `refresh` overwrites objects already in the session. The third value says whether
    messages to the member still wait in the outbox (a passive reply would overtake them)."""
    ids = sorted(set(userids))
    if not ids:
        return {}
    waiting = (sa.select(Outbox.id)
               .where(Outbox.touser == Member.userid, Outbox.status == "pending",
                      Outbox.sent_at.is_(None), Outbox.kind == "send")
               .correlate(Member).exists())
    query = (sa.select(Member, Conversation, waiting)
             .outerjoin(Conversation, Conversation.userid == Member.userid)
             .where(Member.userid.in_(ids))
             .order_by(Member.userid))
    if is_postgres(session):
        # Lock first, then read: a SELECT that waited for a lock sees the locked row's newest
        # version but the joined rows as of its start, which another instance may have
        # changed meanwhile (READ COMMITTED). Two statements on PostgreSQL, one on SQLite.
        await session.execute(sa.select(Member.userid).where(Member.userid.in_(ids))
                              .order_by(Member.userid).with_for_update())
    if refresh:  # overwrite what a rolled-back savepoint left expired
        query = query.execution_options(populate_existing=True)
    rows = (await session.execute(query)).all()
    return {member.userid: (member, conv, bool(pending)) for member, conv, pending in rows}


async def seen_replies(session: AsyncSession, keys: Iterable[str]) -> dict[str, str | None]:
    """{dedupe_key: stored reply} for the keys already recorded (re-sent callbacks)."""
    wanted = sorted({key[:255] for key in keys})
    if not wanted:
        return {}
    rows = await session.execute(
        sa.select(InboundEvent.dedupe_key, InboundEvent.reply)
        .where(InboundEvent.dedupe_key.in_(wanted)))
    return {key: reply for key, reply in rows}


async def stored_reply(session: AsyncSession, dedupe_key: str) -> tuple[bool, str | None]:
    """(seen, reply) for one dedupe key."""
    row = (await session.execute(
        sa.select(InboundEvent.reply).where(InboundEvent.dedupe_key == dedupe_key[:255])
    )).first()
    return (row is not None, row[0] if row is not None else None)


def record_inbound(session: AsyncSession, *, dedupe_key: str, userid: str, kind: str,
                   received_at: datetime, reply: str | None) -> None:
    """Add the dedupe row; it is written by the callback's flush, with everything else. A
    concurrent instance that recorded the same key first makes that flush fail (IntegrityError),
    which the processor treats as a re-send."""
    session.add(InboundEvent(dedupe_key=dedupe_key[:255], userid=userid[:64], kind=kind[:64],
                             received_at=received_at, reply=reply))


async def get_conversation(session: AsyncSession, userid: str, *, absent_at_load: bool
                           ) -> Conversation | None:
    """The member's conversation, without a query when the batch's load already told."""
    if absent_at_load:
        for obj in session.new:
            if isinstance(obj, Conversation) and obj.userid == userid:
                return obj
        key = session.sync_session.identity_key(Conversation, userid)
        found = session.sync_session.identity_map.get(key)
        return found if found is not None and found not in session.deleted else None
    return await session.get(Conversation, userid)


async def add_outbox_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Write a callback's outbox rows (`outbox_values` dicts) in one statement, in order."""
    if rows:
        await session.execute(insert_ignore(session, Outbox), rows)
