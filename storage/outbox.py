"""The Outbox table's one repository: every read and write of `outbox` is a function here.

Handlers and jobs call `enqueue` inside their own transaction; the sender
(`handlers/sender.py`) claims, renews, settles and reschedules rows through the functions below; the
operator's `yiqingtong outbox list|retry` and the housekeeping job do the rest. A row's
`dedupe_key` is unique, so enqueueing the same logical message twice (a retried callback, a job
that fires twice) adds nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import insert_ignore, is_postgres
from storage.models import DailyReport, Outbox


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"  # gave up: visible in `outbox list --dead` and /metrics, re-sent by `retry`
    CANCELLED = "cancelled"  # a reminder whose member reported before it went out


class OutboxKind(StrEnum):
    SEND = "send"  # message/send
    UPDATE_CARD = "update_card"  # message/update_template_card


#: Statuses a row can be pruned from (dead rows wait for an operator).
FINISHED = (OutboxStatus.SENT, OutboxStatus.CANCELLED)

def reminder_key(job: str, day: date, userid: str) -> str:
    """The outbox dedupe key of one member's reminder: (job, day, member) sends once."""
    return f"job:{job}:{day}:{userid}"


def payload_hash(kind: str, message: dict[str, Any]) -> str:
    """Rows with the same hash carry the same message and can share one message/send."""
    canonical = json.dumps([kind, message], sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def outbox_values(*, dedupe_key: str, touser: str, message: dict[str, Any], now: datetime,
                  kind: str = OutboxKind.SEND, not_before: datetime | None = None,
                  skip_if_reported: date | None = None) -> dict[str, Any]:
    return {
        "dedupe_key": dedupe_key[:255], "kind": str(kind), "touser": touser,
        "payload": message, "payload_hash": payload_hash(str(kind), message),
        "skip_if_reported": skip_if_reported, "status": OutboxStatus.PENDING.value,
        "attempts": 0, "not_before": not_before or now, "created_at": now,
    }


def written_in(session: AsyncSession) -> bool:
    """Did this session queue outbox rows (through this module)? The callback processor wakes
    the sender only then: a batch answered by passive replies alone leaves it asleep."""
    return bool(session.info.get("outbox_written"))


def _written(session: AsyncSession) -> None:
    session.info["outbox_written"] = True


async def enqueue(session: AsyncSession, **values: Any) -> bool:
    """Add one outbound call; False when a row with this dedupe_key already exists."""
    _written(session)
    result = await session.execute(insert_ignore(session, Outbox).values(outbox_values(**values)))
    return bool(result.rowcount)


async def enqueue_many(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Bulk form of `enqueue` for fan-outs; rows are `outbox_values(...)` dicts.

    Returns how many rows were new (rows whose dedupe_key exists are skipped)."""
    if rows:
        _written(session)
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


async def enqueue_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """A callback's rows (`outbox_values` dicts) in one statement, in order; keys that exist
    already are skipped."""
    if rows:
        _written(session)
        await session.execute(insert_ignore(session, Outbox), rows)


def waiting_for(userid: Any) -> Any:
    """EXISTS clause: a message to `userid` (a column) still waits to be sent."""
    return (sa.select(Outbox.id)
            .where(Outbox.touser == userid, Outbox.status == "pending",
                   Outbox.sent_at.is_(None), Outbox.kind == "send")
            .exists())


async def any_key_exists(session: AsyncSession, keys: Sequence[str]) -> bool:
    """Was any of these logical messages ever queued?"""
    if not keys:
        return False
    found = await session.execute(
        sa.select(Outbox.id).where(Outbox.dedupe_key.in_(list(keys))).limit(1))
    return found.first() is not None


# ---- the sender's side -----------------------------------------------------------------------


@dataclass
class Claimed:
    """A claimed row plus what the claim found: `recovered` means another worker had claimed
    it and its lease ran out (it died mid-round, possibly mid-send)."""

    row: Outbox
    recovered: bool


@functools.cache
def _claim_query(postgres: bool, limit: int) -> sa.Select[tuple[Outbox]]:
    """The claim's SELECT, built once per dialect and batch size (the sender claims after
    every wake-up: building the statement and hashing its cache key cost more than running
    it)."""
    now = sa.bindparam("now")
    query = (
        sa.select(Outbox)
        .where(Outbox.status == OutboxStatus.PENDING, Outbox.not_before <= now,
               sa.or_(Outbox.claimed_until.is_(None), Outbox.claimed_until < now))
        .order_by(Outbox.id)
        .limit(limit)
    )
    return query.with_for_update(skip_locked=True) if postgres else query


async def claim(session: AsyncSession, *, now: datetime, worker: str, lease: timedelta,
                limit: int) -> list[Claimed]:
    """Claim up to `limit` due rows for `worker` until now + lease (SKIP LOCKED on PostgreSQL,
    so several instances share the work)."""
    query = _claim_query(is_postgres(session), limit)
    rows = list((await session.execute(query, {"now": now})).scalars())
    if not rows:
        return []
    # Read before the update: the ORM update below synchronises claimed_until into these rows.
    claimed = [Claimed(row, row.claimed_until is not None) for row in rows]
    await session.execute(
        sa.update(Outbox).where(Outbox.id.in_([r.id for r in rows]))
        .values(claimed_until=now + lease, claimed_by=worker)
        .execution_options(synchronize_session=False))
    return claimed


async def renew(session: AsyncSession, ids: Sequence[int], *, worker: str,
                until: datetime) -> int:
    """Extend this worker's lease on rows it still holds (the heartbeat while sending)."""
    if not ids:
        return 0
    result = await session.execute(
        sa.update(Outbox).where(Outbox.id.in_(list(ids)), Outbox.claimed_by == worker,
                                Outbox.status == OutboxStatus.PENDING,
                                Outbox.claimed_until.is_not(None))
        .values(claimed_until=until).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


async def mark_sent(session: AsyncSession, ids: Sequence[int], *, worker: str | None,
                    now: datetime, msgid: str | None = None, note: str | None = None) -> None:
    if not ids:
        return
    where = [Outbox.id.in_(list(ids))]
    if worker is not None:
        where.append(Outbox.claimed_by == worker)
    await session.execute(
        sa.update(Outbox).where(*where)
        .values(status=OutboxStatus.SENT, sent_at=now, msgid=msgid, claimed_until=None,
                attempts=Outbox.attempts + 1, last_error=note)
        .execution_options(synchronize_session=False))


async def mark_dead(session: AsyncSession, ids: Sequence[int], *, reason: str) -> None:
    if not ids:
        return
    await session.execute(
        sa.update(Outbox).where(Outbox.id.in_(list(ids)))
        .values(status=OutboxStatus.DEAD, claimed_until=None, attempts=Outbox.attempts + 1,
                last_error=reason[:500])
        .execution_options(synchronize_session=False))


async def reschedule(session: AsyncSession, ids: Sequence[int], *, not_before: datetime,
                     reason: str, count_attempt: bool = True) -> None:
    """A transient failure: try again at `not_before` (counting the attempt unless the pause
    is the operator's to fix, e.g. a configuration error)."""
    if not ids:
        return
    await session.execute(
        sa.update(Outbox).where(Outbox.id.in_(list(ids)))
        .values(attempts=Outbox.attempts + (1 if count_attempt else 0), not_before=not_before,
                claimed_until=None, last_error=reason[:500])
        .execution_options(synchronize_session=False))


async def release(session: AsyncSession, ids: Sequence[int], *, not_before: datetime) -> None:
    """Give rows back unsent (pacing): no attempt is counted."""
    if not ids:
        return
    await session.execute(
        sa.update(Outbox).where(Outbox.id.in_(list(ids)))
        .values(claimed_until=None, not_before=not_before)
        .execution_options(synchronize_session=False))


async def cancel_if_reported(session: AsyncSession, rows: Iterable[Outbox], *,
                             worker: str) -> set[int]:
    """Cancel reminders whose member reported on the day the reminder is for."""
    conditional = [r for r in rows if r.skip_if_reported is not None]
    reported: set[tuple[str, Any]] = set()
    for day in {r.skip_if_reported for r in conditional}:
        users = [r.touser for r in conditional if r.skip_if_reported == day]
        for chunk in _chunks(users, 900):
            result = await session.execute(
                sa.select(DailyReport.userid).where(
                    DailyReport.report_date == day, DailyReport.userid.in_(chunk)))
            reported.update((u, day) for u in result.scalars())
    skip = [r.id for r in conditional if (r.touser, r.skip_if_reported) in reported]
    if skip:
        await session.execute(
            sa.update(Outbox).where(Outbox.id.in_(skip), Outbox.claimed_by == worker)
            .values(status=OutboxStatus.CANCELLED, last_error="member reported before delivery",
                    claimed_until=None)
            .execution_options(synchronize_session=False))
    return {i for i in skip if i is not None}


async def sent_history(session: AsyncSession, members: Sequence[str], *,
                       since: datetime) -> dict[str, list[datetime]]:
    """When each member was sent a message since `since`, by any instance (for pacing)."""
    history: dict[str, list[datetime]] = defaultdict(list)
    for chunk in _chunks(sorted(set(members)), 900):
        result = await session.execute(
            sa.select(Outbox.touser, Outbox.sent_at).where(
                Outbox.touser.in_(chunk), Outbox.kind == OutboxKind.SEND,
                Outbox.status == OutboxStatus.SENT, Outbox.sent_at > since))
        for member, sent_at in result:
            history[member].append(sent_at)
    return history


# ---- operators and housekeeping --------------------------------------------------------------


async def pending_count(session: AsyncSession) -> int:
    return await count(session, OutboxStatus.PENDING)


async def count(session: AsyncSession, status: OutboxStatus) -> int:
    return int((await session.execute(
        sa.select(sa.func.count()).select_from(Outbox).where(Outbox.status == status)
    )).scalar_one())


async def counts_by_status(session: AsyncSession) -> dict[str, int]:
    result = await session.execute(
        sa.select(Outbox.status, sa.func.count()).group_by(Outbox.status))
    found = {str(status): int(n) for status, n in result}
    return {s.value: found.get(s.value, 0) for s in OutboxStatus}


async def list_rows(session: AsyncSession, *, status: OutboxStatus | None = None,
                    limit: int = 100) -> list[Outbox]:
    query = sa.select(Outbox).order_by(Outbox.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Outbox.status == status)
    return list((await session.execute(query)).scalars())


async def retry_dead(session: AsyncSession, *, now: datetime,
                     ids: Sequence[int] | None = None) -> int:
    """Make dead rows pending again, due now, with a fresh attempt budget; returns how many.
    `ids=None` retries every dead row."""
    query = sa.update(Outbox).where(Outbox.status == OutboxStatus.DEAD)
    if ids is not None:
        query = query.where(Outbox.id.in_(list(ids)))
    result = await session.execute(
        query.values(status=OutboxStatus.PENDING, attempts=0,
                     not_before=sa.case((Outbox.not_before > now, now),
                                        else_=Outbox.not_before),
                     claimed_until=None, claimed_by=None)
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


async def prune(session: AsyncSession, *, created_before: datetime) -> int:
    """Delete finished rows created before the cutoff (dead rows stay for an operator)."""
    result = await session.execute(sa.delete(Outbox).where(
        Outbox.status.in_(list(FINISHED)), Outbox.created_at < created_before))
    return int(result.rowcount or 0)


async def strip_delivered_payloads(session: AsyncSession, *, sent_before: datetime) -> int:
    """Privacy: a delivered message's content (report summaries, receipts, names) is not kept
    once it is a week old; the row stays for pacing and metrics."""
    result = await session.execute(
        sa.update(Outbox).where(Outbox.status.in_(list(FINISHED)),
                                Outbox.sent_at.is_not(None), Outbox.sent_at < sent_before,
                                Outbox.payload_hash != "")
        .values(payload={}, payload_hash="").execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


async def reminder_counts(session: AsyncSession, day: date) -> dict[str, int]:
    """The day's reminder rows (both reminder jobs) by status."""
    result = await session.execute(
        sa.select(Outbox.status, sa.func.count())
        .where(Outbox.dedupe_key.like(f"job:%_reminder:{day}:%"))
        .group_by(Outbox.status))
    found = {str(status): int(n) for status, n in result}
    return {s.value: found.get(s.value, 0) for s in OutboxStatus}
