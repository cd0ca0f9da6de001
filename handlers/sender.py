"""The outbox sender: the only code that delivers messages to WeCom.

It is woken by the commit that added rows (no polling delay in a chat) and also polls, so rows
added by another instance or left by a crash are picked up. Rows are claimed with a lease
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several instances share the work), identical
messages go out in one `message/send` to up to 1000 members, each member is paced under
WeCom's limits (excess is silently dropped by WeCom, so we never exceed them), transient
errors back off with jitter, and permanent errors mark the row dead with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.clock import Clock
from bot.settings import OutboxSettings
from bot.wecom.client import WeComClient
from bot.wecom.errors import (
    ConfigurationError,
    TransientError,
    WeComError,
)
from storage.db import Database
from storage.models import DailyReport, Outbox

log = logging.getLogger("handlers.sender")

MAX_RECIPIENTS = 1000
LEASE = timedelta(seconds=120)


class MemberPacer:
    """Sliding windows per member: at most N messages a minute and M an hour.

    Seeded each round from what the outbox table says was sent in the last hour (by any
    instance), so several instances together still stay under WeCom's limits."""

    def __init__(self, per_minute: int, per_hour: int,
                 history: dict[str, list[datetime]] | None = None) -> None:
        self._limits = ((timedelta(minutes=1), per_minute), (timedelta(hours=1), per_hour))
        self._sent: dict[str, deque[datetime]] = defaultdict(deque)
        for member, times in (history or {}).items():
            self._sent[member].extend(sorted(times))

    def next_allowed(self, member: str, now: datetime) -> datetime:
        """`now` if the member may receive one more message now, else when they may."""
        history = self._sent.get(member)
        if not history:
            return now
        while history and now - history[0] >= self._limits[-1][0]:
            history.popleft()
        allowed = now
        for window, limit in self._limits:
            recent = [at for at in history if now - at < window]
            if len(recent) >= limit:
                allowed = max(allowed, recent[-limit] + window)
        return allowed

    def record(self, member: str, now: datetime) -> None:
        self._sent[member].append(now)


@dataclass
class DrainStats:
    sent: int = 0
    api_calls: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    deferred: int = 0


class OutboxSender:
    def __init__(self, db: Database, client: WeComClient, settings: OutboxSettings,
                 clock: Clock) -> None:
        self._db = db
        self._client = client
        self._settings = settings
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._worker = secrets.token_hex(8)
        self.totals = DrainStats()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        """Deliver until cancelled; a failing round is logged and retried, never fatal."""
        while True:
            try:
                while (await self.drain_once()).api_calls:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox round failed; retrying after the poll interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._settings.poll_interval_seconds)
            self._wakeup.clear()

    async def drain(self, *, until_empty_timeout: float = 30.0) -> DrainStats:
        """Deliver everything due now (CLI jobs and tests); stops when a round does nothing."""
        total = DrainStats()
        deadline = asyncio.get_running_loop().time() + until_empty_timeout
        while asyncio.get_running_loop().time() < deadline:
            stats = await self.drain_once()
            _add(total, stats)
            if not (stats.api_calls or stats.skipped or stats.dead):
                break
        return total

    async def drain_once(self) -> DrainStats:
        stats = DrainStats()
        rows = await self._claim()
        if not rows:
            return stats
        rows = await self._drop_already_reported(rows, stats)
        now = self._clock.now()
        pacer = await self._pacer_for(rows, now)
        ready: list[Outbox] = []
        for row in rows:
            paced = row.kind == "send" and bool(row.touser)
            allowed = pacer.next_allowed(row.touser, now) if paced else now
            if allowed > now:
                stats.deferred += 1
                await self._release(row.id, not_before=allowed)
            else:
                if paced:  # count it now, so that later rows of this round see it
                    pacer.record(row.touser, now)
                ready.append(row)
        sends = [r for r in ready if r.kind == "send"]
        for group in _group_sends(sends):
            await self._deliver_send(group, stats)
        for row in ready:
            if row.kind == "update_card":
                await self._deliver_update(row, stats)
        _add(self.totals, stats)
        return stats

    async def _claim(self) -> list[Outbox]:
        now = self._clock.now()
        async with self._db.transaction() as session:
            query = (
                sa.select(Outbox)
                .where(Outbox.status == "pending", Outbox.not_before <= now,
                       sa.or_(Outbox.claimed_until.is_(None), Outbox.claimed_until < now))
                .order_by(Outbox.id)
                .limit(self._settings.batch_size)
            )
            if self._db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            rows = list((await session.execute(query)).scalars())
            if not rows:
                return []
            await session.execute(
                sa.update(Outbox)
                .where(Outbox.id.in_([r.id for r in rows]))
                .values(claimed_until=now + LEASE, claimed_by=self._worker)
            )
        return rows

    async def _pacer_for(self, rows: list[Outbox], now: datetime) -> MemberPacer:
        """A pacer holding what these members were sent in the last hour, by any instance."""
        members = sorted({r.touser for r in rows if r.kind == "send" and r.touser})
        history: dict[str, list[datetime]] = defaultdict(list)
        async with self._db.session() as session:
            for chunk in _chunks(members, 900):
                result = await session.execute(
                    sa.select(Outbox.touser, Outbox.sent_at).where(
                        Outbox.touser.in_(chunk), Outbox.kind == "send",
                        Outbox.status == "sent", Outbox.sent_at > now - timedelta(hours=1)))
                for member, sent_at in result:
                    history[member].append(sent_at)
        return MemberPacer(self._settings.per_member_per_minute,
                           self._settings.per_member_per_hour, history)

    async def _drop_already_reported(self, rows: list[Outbox], stats: DrainStats
                                     ) -> list[Outbox]:
        """A reminder queued before the member reported is not sent."""
        conditional = [r for r in rows if r.skip_if_reported is not None]
        if not conditional:
            return rows
        async with self._db.transaction() as session:
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
                    sa.update(Outbox).where(Outbox.id.in_(skip), Outbox.claimed_by == self._worker)
                    .values(status="cancelled", last_error="member reported before delivery",
                            claimed_until=None))
        stats.skipped += len(skip)
        skipped = set(skip)
        return [r for r in rows if r.id not in skipped]

    async def _deliver_send(self, group: list[Outbox], stats: DrainStats) -> None:
        message = dict(group[0].payload)
        recovered = any(r.attempts or r.claimed_until is not None for r in group)
        if recovered and message.get("msgtype") != "template_card":
            # A retry, or a row whose lease expired (a crash mid-send): the earlier attempt may
            # have arrived, so let WeCom drop an exact repeat.
            message["enable_duplicate_check"] = 1
            message["duplicate_check_interval"] = 1800
        stats.api_calls += 1
        try:
            result = await self._client.send_message([r.touser for r in group], message)
        except WeComError as exc:
            await self._failed(group, exc, stats)
            return
        now = self._clock.now()
        rejected = set(result.invalid_users) | set(result.unlicensed_users)
        ok = [r for r in group if r.touser.lower() not in rejected and r.touser not in rejected]
        bad = [r for r in group if r.touser.lower() in rejected or r.touser in rejected]
        async with self._db.transaction() as session:
            if ok:
                await session.execute(
                    sa.update(Outbox).where(Outbox.id.in_([r.id for r in ok]),
                                            Outbox.claimed_by == self._worker)
                    .values(status="sent", sent_at=now, msgid=result.msgid, claimed_until=None,
                            attempts=Outbox.attempts + 1))
            if bad:
                await session.execute(
                    sa.update(Outbox).where(Outbox.id.in_([r.id for r in bad]))
                    .values(status="dead", claimed_until=None, attempts=Outbox.attempts + 1,
                            last_error="WeCom rejected the recipient "
                                       "(invaliduser/unlicenseduser)"))
        stats.sent += len(ok)
        stats.dead += len(bad)
        if bad:
            log.warning("outbox: %d recipients rejected by WeCom", len(bad))

    async def _deliver_update(self, row: Outbox, stats: DrainStats) -> None:
        payload = dict(row.payload)
        stats.api_calls += 1
        try:
            await self._client.update_template_card(
                [row.touser], payload["response_code"],
                template_card=payload.get("template_card"), button=payload.get("button"))
        except WeComError as exc:
            await self._failed([row], exc, stats)
            return
        async with self._db.transaction() as session:
            await session.execute(
                sa.update(Outbox).where(Outbox.id == row.id)
                .values(status="sent", sent_at=self._clock.now(), claimed_until=None,
                        attempts=Outbox.attempts + 1))
        stats.sent += 1

    async def _failed(self, rows: list[Outbox], exc: WeComError, stats: DrainStats) -> None:
        now = self._clock.now()
        attempts = max(r.attempts for r in rows) + 1
        ids = [r.id for r in rows]
        reason = f"{exc.errcode}: {exc.errmsg}"[:500]
        if isinstance(exc, TransientError | ConfigurationError) and (
                attempts < self._settings.max_attempts or isinstance(exc, ConfigurationError)):
            if isinstance(exc, ConfigurationError):
                # Nothing will work until an operator fixes the config: wait, do not burn tries.
                delay = 300.0
                log.error("outbox paused: WeCom configuration error %s", reason)
            else:
                delay = backoff_seconds(attempts, getattr(exc, "retry_after", None))
                log.warning("outbox: transient error %s, retry %d in %.1fs", reason, attempts,
                            delay)
            async with self._db.transaction() as session:
                await session.execute(
                    sa.update(Outbox).where(Outbox.id.in_(ids))
                    .values(attempts=Outbox.attempts + (0 if isinstance(
                        exc, ConfigurationError) else 1),
                            not_before=now + timedelta(seconds=delay), claimed_until=None,
                            last_error=reason))
            stats.retried += len(rows)
            return
        async with self._db.transaction() as session:
            await session.execute(
                sa.update(Outbox).where(Outbox.id.in_(ids))
                .values(status="dead", attempts=Outbox.attempts + 1, claimed_until=None,
                        last_error=reason))
        stats.dead += len(rows)
        log.warning("outbox: %d rows dead: %s", len(rows), reason)

    async def _release(self, row_id: int | None, *, not_before: datetime) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                sa.update(Outbox).where(Outbox.id == row_id)
                .values(claimed_until=None, not_before=not_before))


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, at least WeCom's own hint."""
    base = min(300.0, 2.0 ** attempt)
    delay = random.uniform(base / 2, base)
    return max(delay, retry_after or 0.0)


def _group_sends(rows: list[Outbox]) -> Iterable[list[Outbox]]:
    """Rows carrying the same message, in calls of up to 1000 distinct members."""
    by_payload: dict[str, list[Outbox]] = defaultdict(list)
    for row in rows:
        by_payload[row.payload_hash].append(row)
    for group in by_payload.values():
        seen: set[str] = set()
        unique: list[Outbox] = []
        repeats: list[Outbox] = []
        for row in group:
            # Two rows for the same member in one call would reach them once: keep them apart.
            (repeats if row.touser in seen else unique).append(row)
            seen.add(row.touser)
        yield from _chunks(unique, MAX_RECIPIENTS)
        for row in repeats:
            yield [row]


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _add(total: DrainStats, stats: DrainStats) -> None:
    for name in vars(total):
        setattr(total, name, getattr(total, name) + getattr(stats, name))
