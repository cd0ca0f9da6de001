"""The outbox sender: the only code that delivers messages to WeCom.

It is woken by the commit that added rows (no polling delay in a chat) and also polls, so rows
added by another instance or left by a crash are picked up. Rows are claimed with a short lease
renewed while the round works (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several instances
share the work; a dead instance's rows are taken over within seconds), identical messages go
out in one `message/send` to up to 1000 members, each member is paced under WeCom's limits
(excess is silently dropped by WeCom, so we never exceed them), transient errors (429, 5xx,
timeouts, -1, 45009) back off with jitter up to an hour, and errors WeCom calls permanent mark
the row dead with the reason, visible in `yiqingtong outbox list --dead` and `/metrics` until
`yiqingtong outbox retry` sends it again.

A retry or a recovered row may already have reached the member, so only those go out with
WeCom's `enable_duplicate_check`, over a window no longer than the row's own life: WeCom then
drops the exact repeat, while intentional repeats (queued later) are outside the window.
All table access goes through `storage.outbox`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.clock import Clock
from bot.settings import OutboxSettings
from bot.wecom.client import WeComClient
from bot.wecom.errors import (
    CardError,
    ConfigurationError,
    TransientError,
    WeComError,
)
from storage import outbox as repo
from storage.db import Database
from storage.models import Outbox

log = logging.getLogger("handlers.sender")

MAX_RECIPIENTS = 1000
#: WeCom's enable_duplicate_check window may be at most four hours.
MAX_DUPLICATE_INTERVAL = 4 * 3600
#: Slack added to a retried row's duplicate-check window (clock skew between us and WeCom).
DUPLICATE_MARGIN_SECONDS = 5.0
#: A configuration error pauses the rows this long (no attempt counted).
CONFIG_PAUSE = timedelta(minutes=5)
#: template_card: "taskid has existed" — a re-sent card whose first attempt arrived.
TASK_ID_USED = 42014
#: message/send calls in flight at once in a round (different members; one member's in order).
SEND_CONCURRENCY = 8


class SendObserver(Protocol):
    """Told about every WeCom call the sender makes (metrics)."""

    def __call__(self, api: str, errcode: int, seconds: float, rows: int) -> None: ...


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
    #: Rows claimed (a full batch may leave more due).
    claimed: int = 0


class OutboxSender:
    def __init__(self, db: Database, client: WeComClient, settings: OutboxSettings,
                 clock: Clock, *, observer: SendObserver | None = None) -> None:
        self._db = db
        self._client = client
        self._settings = settings
        self._clock = clock
        self._observer = observer
        self._wakeup = asyncio.Event()
        # Set while `run` waits for a wake-up or the poll interval (nothing due to send).
        self.idle = asyncio.Event()
        #: Awaited before each round of `run`: on SQLite the callbacks come first on the one
        #: connection (the app sets it to the callback processor's wait_idle).
        self.yield_to: Callable[[], Awaitable[None]] | None = None
        self._worker = secrets.token_hex(8)
        self._lease = timedelta(seconds=settings.lease_seconds)
        self.totals = DrainStats()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        """Deliver until cancelled; a failing round is logged and retried, never fatal."""
        while True:
            try:
                while True:
                    if self.yield_to is not None:
                        await self.yield_to()
                    stats = await self.drain_once()
                    if not stats.api_calls or stats.claimed < self._settings.batch_size:
                        # Nothing more was due (a full batch may leave more): wait for the
                        # next commit's wake-up or the poll, not a claim that finds nothing.
                        break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("outbox round failed (%s); retrying after the poll interval",
                          type(exc).__name__)
            self.idle.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._settings.poll_interval_seconds)
            self.idle.clear()
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
        async with self._db.transaction() as session:
            now = self._clock.now()
            claimed = await repo.claim(session, now=now, worker=self._worker,
                                       lease=self._lease, limit=self._settings.batch_size)
            if not claimed:
                return stats
            stats.claimed = len(claimed)
            # What these members were sent in the last hour, by any instance (the pace): in
            # the claim's transaction, not a session of its own for every round.
            history = await repo.sent_history(
                session, [c.row.touser for c in claimed
                          if c.row.kind == repo.OutboxKind.SEND and c.row.touser],
                since=now - timedelta(hours=1))
        held = [c.row.id for c in claimed if c.row.id is not None]
        heartbeat = asyncio.create_task(self._heartbeat(held), name="outbox-lease")
        try:
            await self._deliver_claimed(claimed, history, stats)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        _add(self.totals, stats)
        return stats

    async def _heartbeat(self, ids: list[int]) -> None:
        """Renew the short lease while this round works, so only a dead process loses it."""
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                async with self._db.transaction() as session:
                    await repo.renew(session, ids, worker=self._worker,
                                     until=self._clock.now() + self._lease)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox lease renewal failed (%s)", type(exc).__name__)

    async def _deliver_claimed(self, claimed: list[repo.Claimed],
                               history: dict[str, list[datetime]], stats: DrainStats) -> None:
        recovered = {c.row.id for c in claimed if c.recovered}
        if recovered:
            log.warning("outbox: %d rows recovered from an expired lease", len(recovered))
        rows = await self._drop_already_reported([c.row for c in claimed], stats)
        now = self._clock.now()
        pacer = MemberPacer(self._settings.per_member_per_minute,
                            self._settings.per_member_per_hour, history)
        ready: list[Outbox] = []
        for row in rows:
            paced = row.kind == repo.OutboxKind.SEND and bool(row.touser)
            allowed = pacer.next_allowed(row.touser, now) if paced else now
            if allowed > now:
                stats.deferred += 1
                async with self._db.transaction() as session:
                    await repo.release(session, [row.id], not_before=allowed)
            else:
                if paced:  # count it now, so that later rows of this round see it
                    pacer.record(row.touser, now)
                ready.append(row)
        sends = [r for r in ready if r.kind == repo.OutboxKind.SEND]
        await self._deliver_sends(list(_group_sends(sends, recovered)), recovered, stats)
        for row in ready:
            if row.kind == repo.OutboxKind.UPDATE_CARD:
                await self._deliver_update(row, stats)

    async def _drop_already_reported(self, rows: list[Outbox], stats: DrainStats
                                     ) -> list[Outbox]:
        """A reminder queued before the member reported is not sent."""
        if not any(r.skip_if_reported is not None for r in rows):
            return rows
        async with self._db.transaction() as session:
            skipped = await repo.cancel_if_reported(session, rows, worker=self._worker)
        stats.skipped += len(skipped)
        return [r for r in rows if r.id not in skipped]

    def _duplicate_guard(self, message: dict[str, Any], group: list[Outbox]) -> None:
        """Let WeCom drop an exact repeat of what an earlier attempt may have delivered.

        Only for a retry or a row recovered from a dead process, and only over the time since
        the row was created: an intentional repeat queued later (a second re-ask, a reminder
        like yesterday's) is outside that window and is delivered."""
        first = min(r.created_at for r in group)
        window = (self._clock.now() - first).total_seconds() + DUPLICATE_MARGIN_SECONDS
        message["enable_duplicate_check"] = 1
        message["duplicate_check_interval"] = int(min(MAX_DUPLICATE_INTERVAL,
                                                      max(1.0, math.ceil(window))))

    async def _deliver_sends(self, groups: list[list[Outbox]], recovered: set[int | None],
                             stats: DrainStats) -> None:
        """Deliver the groups, up to SEND_CONCURRENCY calls at a time. A group waits for every
        earlier group sharing a member, so each member still gets their messages in order; a
        round of many members' messages no longer waits for one call after another."""
        if len(groups) <= 1:
            for group in groups:
                await self._deliver_send(group, stats, uncertain=_uncertain(group, recovered))
            return
        limit = asyncio.Semaphore(SEND_CONCURRENCY)
        last: dict[str, asyncio.Task[None]] = {}  # member -> latest group task naming them

        async def deliver(group: list[Outbox], before: list[asyncio.Task[None]]) -> None:
            if before:
                await asyncio.wait(before)
            async with limit:
                await self._deliver_send(group, stats, uncertain=_uncertain(group, recovered))

        tasks = []
        for group in groups:
            before = list({id(t): t for r in group if (t := last.get(r.touser)) is not None}
                          .values())
            task = asyncio.create_task(deliver(group, before), name="outbox-send")
            for row in group:
                last[row.touser] = task
            tasks.append(task)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _deliver_send(self, group: list[Outbox], stats: DrainStats, *,
                            uncertain: bool) -> None:
        message = dict(group[0].payload)
        if uncertain:
            self._duplicate_guard(message, group)
        stats.api_calls += 1
        started = time.monotonic()
        try:
            result = await self._client.send_message([r.touser for r in group], message)
        except WeComError as exc:
            self._observe("message/send", exc.errcode, time.monotonic() - started, len(group))
            if uncertain and isinstance(exc, CardError) and exc.errcode == TASK_ID_USED:
                # The card's task_id was taken by an earlier attempt of this very row: that
                # attempt reached WeCom, so the member has the card.
                async with self._db.transaction() as session:
                    await repo.mark_sent(session, [r.id for r in group], worker=self._worker,
                                         now=self._clock.now(),
                                         note="delivered by an earlier attempt (42014)")
                stats.sent += len(group)
                return
            await self._failed(group, exc, stats)
            return
        self._observe("message/send", 0, time.monotonic() - started, len(group))
        now = self._clock.now()
        rejected = set(result.invalid_users) | set(result.unlicensed_users)
        ok = [r for r in group if r.touser.lower() not in rejected and r.touser not in rejected]
        bad = [r for r in group if r.touser.lower() in rejected or r.touser in rejected]
        async with self._db.transaction() as session:
            await repo.mark_sent(session, [r.id for r in ok], worker=self._worker, now=now,
                                 msgid=result.msgid)
            await repo.mark_dead(session, [r.id for r in bad],
                                 reason="WeCom rejected the recipient (invaliduser/"
                                        "unlicenseduser)")
        stats.sent += len(ok)
        stats.dead += len(bad)
        if bad:
            log.warning("outbox: %d recipients rejected by WeCom", len(bad))

    async def _deliver_update(self, row: Outbox, stats: DrainStats) -> None:
        payload = dict(row.payload)
        stats.api_calls += 1
        started = time.monotonic()
        try:
            await self._client.update_template_card(
                [row.touser], payload["response_code"],
                template_card=payload.get("template_card"), button=payload.get("button"))
        except WeComError as exc:
            self._observe("message/update_template_card", exc.errcode,
                          time.monotonic() - started, 1)
            await self._failed([row], exc, stats)
            return
        self._observe("message/update_template_card", 0, time.monotonic() - started, 1)
        async with self._db.transaction() as session:
            await repo.mark_sent(session, [row.id], worker=None, now=self._clock.now())
        stats.sent += 1

    def _observe(self, api: str, errcode: int, seconds: float, rows: int) -> None:
        if self._observer is not None:
            self._observer(api, errcode, seconds, rows)

    async def _failed(self, rows: list[Outbox], exc: WeComError, stats: DrainStats) -> None:
        now = self._clock.now()
        attempts = max(r.attempts for r in rows) + 1
        ids = [r.id for r in rows if r.id is not None]
        status = f" HTTP {exc.http_status}" if exc.http_status else ""
        reason = f"{exc.errcode}{status}: {exc.errmsg}"[:500]
        if isinstance(exc, ConfigurationError):
            # Nothing will work until an operator fixes the config: wait, do not burn tries.
            log.error("outbox paused: WeCom configuration error %s", reason)
            async with self._db.transaction() as session:
                await repo.reschedule(session, ids, not_before=now + CONFIG_PAUSE,
                                      reason=reason, count_attempt=False)
            stats.retried += len(rows)
            return
        if isinstance(exc, TransientError) and attempts < self._settings.max_attempts:
            delay = backoff_seconds(attempts, getattr(exc, "retry_after", None),
                                    cap=self._settings.max_backoff_seconds)
            log.warning("outbox: transient error %s, retry %d in %.1fs", reason, attempts,
                        delay)
            async with self._db.transaction() as session:
                await repo.reschedule(session, ids, not_before=now + timedelta(seconds=delay),
                                      reason=reason)
            stats.retried += len(rows)
            return
        async with self._db.transaction() as session:
            await repo.mark_dead(session, ids, reason=reason)
        stats.dead += len(rows)
        log.warning("outbox: %d rows dead: %s (yiqingtong outbox list --dead; "
                    "yiqingtong outbox retry)", len(rows), reason)


def backoff_seconds(attempt: int, retry_after: float | None = None, *,
                    cap: float = 3600.0) -> float:
    """Exponential backoff with full jitter up to `cap`, at least WeCom's own hint."""
    base = min(cap, 2.0 ** attempt)
    delay = random.uniform(base / 2, base)
    return max(delay, retry_after or 0.0)


def _uncertain(group: list[Outbox], recovered: set[int | None]) -> bool:
    """Could an earlier attempt of these rows have reached WeCom? (a retry, or a row whose
    previous holder died while sending)"""
    return any(r.attempts or r.id in recovered for r in group)


def _group_sends(rows: list[Outbox], recovered: set[int | None] | None = None
                 ) -> Iterable[list[Outbox]]:
    """Rows carrying the same message, in calls of up to 1000 distinct members. Retried or
    recovered rows go in calls of their own, so only they carry the duplicate check."""
    by_payload: dict[tuple[str, bool], list[Outbox]] = defaultdict(list)
    for row in rows:
        by_payload[(row.payload_hash, _uncertain([row], recovered or set()))].append(row)
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
