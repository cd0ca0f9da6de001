"""Accepted callbacks' one door: a row per callback, whose primary key makes WeCom's re-sends
harmless, with the passive reply it was answered with.

The callback write path's own queries are here too: a batch of callbacks
(handlers/processor.py) starts with two queries for all of them — the members with their
conversations (locked on PostgreSQL, in userid order, so two processes' batches never
deadlock) and the dedupe keys already seen with their replies — and the batch's dedupe rows,
state and outbox rows are then written together at its end (one flush, two inserts).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import outbox
from storage.db import in_values, insert_ignore, is_postgres
from storage.models import Conversation, InboundEvent, Member


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


async def latest_received(session: AsyncSession) -> datetime | None:
    """When the newest recorded callback arrived (by the clock that received it)."""
    return (await session.execute(sa.select(sa.func.max(InboundEvent.received_at)))).scalar()


def _member_queries(postgres: bool) -> tuple[Any, Any]:
    """(lock, load): built once per dialect; SQLAlchemy caches their compiled forms."""
    waiting = outbox.waiting_for(Member.userid).correlate(Member)
    load = (sa.select(Member, Conversation, waiting)
            .outerjoin(Conversation, Conversation.userid == Member.userid)
            .where(in_values(Member.userid, "ids", postgres))
            .order_by(Member.userid))
    lock = (sa.select(Member.userid).where(in_values(Member.userid, "ids", postgres))
            .order_by(Member.userid).with_for_update())
    return lock, load


_MEMBER_QUERIES = {postgres: _member_queries(postgres) for postgres in (False, True)}
_SEEN_QUERIES = {postgres: sa.select(InboundEvent.dedupe_key, InboundEvent.reply)
                 .where(in_values(InboundEvent.dedupe_key, "keys", postgres))
                 for postgres in (False, True)}


_INSERT_INBOUND = sa.insert(InboundEvent.__table__)


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
    postgres = is_postgres(session)
    lock, query = _MEMBER_QUERIES[postgres]
    if postgres:
        # Lock first, then read: a SELECT that waited for a lock sees the locked row's newest
        # version but the joined rows as of its start, which another instance may have
        # changed meanwhile (READ COMMITTED). Two statements on PostgreSQL, one on SQLite.
        await session.execute(lock, {"ids": ids})
    if refresh:  # overwrite what a rolled-back savepoint left expired
        query = query.execution_options(populate_existing=True)
    rows = (await session.execute(query, {"ids": ids})).all()
    return {member.userid: (member, conv, bool(pending)) for member, conv, pending in rows}


async def seen_replies(session: AsyncSession, keys: Iterable[str]) -> dict[str, str | None]:
    """{dedupe_key: stored reply} for the keys already recorded (re-sent callbacks)."""
    wanted = sorted({key[:255] for key in keys})
    if not wanted:
        return {}
    # Core statements go to the session's connection: the ORM's execute path (entity
    # compile state, bind resolution) cost more than the statement on SQLite.
    connection = await session.connection()
    rows = await connection.execute(_SEEN_QUERIES[is_postgres(session)], {"keys": wanted})
    return {key: reply for key, reply in rows}


async def stored_reply(session: AsyncSession, dedupe_key: str) -> tuple[bool, str | None]:
    """(seen, reply) for one dedupe key."""
    row = (await session.execute(
        sa.select(InboundEvent.reply).where(InboundEvent.dedupe_key == dedupe_key[:255])
    )).first()
    return (row is not None, row[0] if row is not None else None)


def inbound_values(*, dedupe_key: str, userid: str, kind: str, received_at: datetime,
                   reply: str | None) -> dict[str, object]:
    """One dedupe row for `record_inbound_rows`."""
    return {"dedupe_key": dedupe_key[:255], "userid": userid[:64], "kind": kind[:64],
            "received_at": received_at, "reply": reply}


async def record_inbound_rows(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """A batch's dedupe rows in one statement. A key recorded already (another instance got
    the same callback first) fails the statement with IntegrityError: the processor then
    applies the batch again with a savepoint per callback and sees which one was a re-send."""
    if rows:
        connection = await session.connection()
        await connection.execute(_INSERT_INBOUND, rows)


def record_inbound(session: AsyncSession, *, dedupe_key: str, userid: str, kind: str,
                   received_at: datetime, reply: str | None) -> None:
    """Add the dedupe row; it is written by the callback's flush, with everything else. A
    concurrent instance that recorded the same key first makes that flush fail (IntegrityError),
    which the processor treats as a re-send."""
    session.add(InboundEvent(dedupe_key=dedupe_key[:255], userid=userid[:64], kind=kind[:64],
                             received_at=received_at, reply=reply))
