"""Adding to the outbox: handlers and jobs call `enqueue` inside their own transaction.

A row's `dedupe_key` is unique, so enqueueing the same logical message twice (a retried
callback, a job that fires twice) adds nothing.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import insert_ignore
from storage.models import Outbox

# The reminder card: the scheduler sends it, the router answers its button.
REMIND_PURPOSE = "remind"


def reminder_key(job: str, day: date, userid: str) -> str:
    """The outbox dedupe key of one member's reminder: (job, day, member) sends once."""
    return f"job:{job}:{day}:{userid}"


def payload_hash(kind: str, message: dict[str, Any]) -> str:
    """Rows with the same hash carry the same message and can share one message/send."""
    canonical = json.dumps([kind, message], sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def outbox_values(*, dedupe_key: str, touser: str, message: dict[str, Any], now: datetime,
                  kind: str = "send", not_before: datetime | None = None,
                  skip_if_reported: date | None = None) -> dict[str, Any]:
    return {
        "dedupe_key": dedupe_key[:255], "kind": kind, "touser": touser, "payload": message,
        "payload_hash": payload_hash(kind, message), "skip_if_reported": skip_if_reported,
        "status": "pending", "attempts": 0, "not_before": not_before or now, "created_at": now,
    }


async def enqueue(session: AsyncSession, **values: Any) -> bool:
    """Add one outbound call; False when a row with this dedupe_key already exists."""
    result = await session.execute(insert_ignore(session, Outbox).values(outbox_values(**values)))
    return bool(result.rowcount)


async def enqueue_many(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Bulk form of `enqueue` for fan-outs; rows are `outbox_values(...)` dicts.

    Returns how many rows were new (rows whose dedupe_key exists are skipped)."""
    inserted = 0
    for start in range(0, len(rows), 5000):
        chunk = rows[start:start + 5000]
        keys = [row["dedupe_key"] for row in chunk]
        existing: set[str] = set()
        for part in range(0, len(keys), 900):
            existing.update((await session.execute(
                sa.select(Outbox.dedupe_key).where(Outbox.dedupe_key.in_(keys[part:part + 900]))
            )).scalars())
        fresh = [row for row in chunk if row["dedupe_key"] not in existing]
        if fresh:
            # ON CONFLICT DO NOTHING still guards against a concurrent enqueue of the same key.
            await session.execute(insert_ignore(session, Outbox), fresh)
        inserted += len(fresh)
    return inserted


async def pending_count(session: AsyncSession) -> int:
    return int((await session.execute(
        sa.select(sa.func.count()).select_from(Outbox).where(Outbox.status == "pending")
    )).scalar_one())
