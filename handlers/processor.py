"""Apply inbound callbacks: dedupe, dispatch, commit — then answer, with the passive reply.

Group commit: callbacks that arrive while a transaction is being written wait for the next one,
and share it. The batch starts with two queries for all of its callbacks (members with their
conversations, locked on PostgreSQL in userid order; dedupe keys already seen), applies each
callback in arrival order, and ends by writing the batch's state, dedupe rows and outbox rows
together (one flush, two inserts) before the one commit. Every callback is answered only after
the batch has committed.

A callback that fails (a bug in a handler, or a dedupe key another instance recorded first)
fails the whole transaction; the batch is then applied again with each callback in its own
SAVEPOINT, so the failing one rolls back alone and its member is asked to try again, while the
others are applied as if nothing happened. Savepoints cost two statements per callback, so they
are only paid for in that rare second pass. If a batch fails at the database level (the
database went away, the commit failed), its callbacks are applied again one by one, each in its
own transaction; the dedupe rows make that harmless.

Per-member order: one batch runs at a time in this process and applies its callbacks in
arrival order; on PostgreSQL the member row locks order a member's callbacks across instances.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from bot.clock import local_date
from bot.wecom.inbound import Inbound, LocationMessageIn, MenuClickIn, TextIn
from handlers.context import Deps, Turn
from storage import inbound as inbound_events
from storage import reports
from storage.db import AsyncSession, DatabaseError, DuplicateError, is_transient
from storage.outbox import enqueue_rows, written_in

log = logging.getLogger("handlers.callback")

Dispatch = Callable[[Turn], Awaitable[None]]

#: Callbacks WeCom lets us answer with a passive text reply: messages and menu clicks. Card
#: events are answered with update_button/update_template_card only (DOC-90241), which we
#: do through the outbox.
PASSIVE_KINDS = (TextIn, LocationMessageIn, MenuClickIn)

MAX_BATCH = 64


@dataclass(frozen=True)
class Outcome:
    """What a callback came to: applied now (or a re-send), and the passive reply if any."""

    applied: bool
    reply: str | None = None
    #: Its transaction queued outbox rows (the sender is woken after the commit).
    queued: bool = False


@dataclass
class _Pending:
    inbound: Inbound
    future: asyncio.Future[Outcome]
    dispatch: Dispatch | None = None


class InboundProcessor:
    def __init__(self, deps: Deps, dispatch: Dispatch,
                 on_commit: Callable[[], None] | None = None, *,
                 max_batch: int = MAX_BATCH,
                 on_batch: Callable[[int, float], None] | None = None) -> None:
        self._deps = deps
        self._dispatch = dispatch
        self._on_commit = on_commit or (lambda: None)
        #: Told each batch's size and seconds from its start to its callbacks' outcomes.
        self._on_batch = on_batch or (lambda size, seconds: None)
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        self._runner: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        #: Sizes of the latest batches (tests and benchmarks look at the group commit).
        self.batches: deque[int] = deque(maxlen=1024)

    @property
    def passive_enabled(self) -> bool:
        return self._deps.settings.bot.passive_replies

    async def process(self, inbound: Inbound, *, dispatch: Dispatch | None = None) -> Outcome:
        """Apply one callback (with whatever else arrives meanwhile); returns once committed.
        Raises if nothing could be stored (the caller answers 500 and WeCom re-sends).
        `dispatch` replaces the router for this callback (the inbound limit's one answer)."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(inbound, future, dispatch))
        self._idle.clear()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="callbacks")
        # A client that hangs up must not cancel the batch its callback is part of.
        return await asyncio.shield(future)

    async def wait_idle(self, timeout: float) -> None:
        """Wait (at most `timeout` s) until no callback is queued or being applied: the outbox
        sender defers to callbacks on the single SQLite connection."""
        if self._idle.is_set():
            return
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            pass

    async def _run(self) -> None:
        try:
            while self._queue:
                batch = self._queue[:self._max_batch]
                del self._queue[:self._max_batch]
                await self._run_batch(batch)
        finally:
            if not self._queue:
                self._idle.set()

    async def _run_batch(self, batch: list[_Pending]) -> None:
        self.batches.append(len(batch))
        started = time.perf_counter()
        try:
            await self._settle_batch(batch)
        finally:
            self._on_batch(len(batch), time.perf_counter() - started)

    async def _settle_batch(self, batch: list[_Pending]) -> None:
        outcomes: list[Outcome] | None = None
        try:
            outcomes = await self._apply_batch(batch)
        except Exception as exc:
            if not _database_level(exc):
                # A failing callback (or a re-send another instance recorded first): again,
                # with a savepoint per callback.
                try:
                    outcomes = await self._apply_batch_isolated(batch)
                except Exception as again:
                    exc = again
            if outcomes is None and (len(batch) == 1 or not _database_level(exc)):
                log.warning("callback batch of %d failed (%s); applying one by one",
                            len(batch), type(exc).__name__)
        if outcomes is not None:
            if any(o.queued for o in outcomes):
                self._on_commit()
            for item, outcome in zip(batch, outcomes, strict=True):
                if not item.future.done():
                    item.future.set_result(outcome)
            return
        for item in batch:
            try:
                outcome = await self._process_alone(item.inbound,
                                                    item.dispatch or self._dispatch)
            except Exception as exc:
                if not item.future.done():
                    item.future.set_exception(exc)
                continue
            if outcome.queued:
                self._on_commit()
            if not item.future.done():
                item.future.set_result(outcome)

    # ------------------------------------------------------------------ group commit

    async def _apply_batch(self, batch: list[_Pending]) -> list[Outcome]:
        """The common case: the whole batch in one transaction, no savepoints; any failure
        fails the batch (the caller then isolates the callbacks)."""
        deps = self._deps
        now = deps.clock.now()
        outcomes: list[Outcome] = []
        async with deps.db.transaction() as session:
            members = await inbound_events.load_members(
                session, (p.inbound.userid for p in batch))
            seen = await inbound_events.seen_replies(
                session, (p.inbound.dedupe_key for p in batch))
            # Forms look up the member's newest reports on every step: one query for all.
            await reports.prefetch_latest(session, sorted(members), local_date(deps.clock, now))
            queued: set[str] = set()  # members given outbox rows earlier in this batch
            dedupe_rows: list[dict[str, object]] = []
            outbox_rows: list[dict[str, Any]] = []
            for item in batch:
                inbound = item.inbound
                key = inbound.dedupe_key[:255]
                if key in seen:
                    log.info("duplicate callback %s ignored", inbound.kind)
                    outcomes.append(Outcome(False, seen[key]))
                    continue
                member, conv, waiting = members.get(inbound.userid, (None, None, False))
                passive = (self.passive_enabled and isinstance(inbound, PASSIVE_KINDS)
                           and not waiting and inbound.userid not in queued)
                turn = Turn(deps=deps, session=session, inbound=inbound, now=now,
                            member=member, passive=passive, buffer_outbox=True,
                            no_conversation_at_load=conv is None)
                await (item.dispatch or self._dispatch)(turn)
                dedupe_rows.append(inbound_events.inbound_values(
                    dedupe_key=key, userid=inbound.userid, kind=inbound.kind,
                    received_at=now, reply=turn.reply))
                outbox_rows.extend(turn.take_rows())
                queued.update(turn.queued_for)
                seen[key] = turn.reply
                outcomes.append(Outcome(True, turn.reply))
            await session.flush()
            await inbound_events.record_inbound_rows(session, dedupe_rows)
            await enqueue_rows(session, outbox_rows)
        return _queued(outcomes, session)

    async def _apply_batch_isolated(self, batch: list[_Pending]) -> list[Outcome]:
        """The batch again after a failure, each callback in its own SAVEPOINT."""
        deps = self._deps
        now = deps.clock.now()
        outcomes: list[Outcome] = []
        async with deps.db.transaction() as session:
            members = await inbound_events.load_members(
                session, (p.inbound.userid for p in batch))
            seen = await inbound_events.seen_replies(
                session, (p.inbound.dedupe_key for p in batch))
            queued: set[str] = set()  # members given outbox rows earlier in this batch
            for index, item in enumerate(batch):
                inbound = item.inbound
                key = inbound.dedupe_key[:255]
                if key in seen:
                    log.info("duplicate callback %s ignored", inbound.kind)
                    outcomes.append(Outcome(False, seen[key]))
                    continue
                outcome = None
                for dispatch in (item.dispatch or self._dispatch, _apologise):
                    member, conv, waiting = members.get(inbound.userid, (None, None, False))
                    passive = (self.passive_enabled and isinstance(inbound, PASSIVE_KINDS)
                               and not waiting and inbound.userid not in queued)
                    turn = Turn(deps=deps, session=session, inbound=inbound, now=now,
                                member=member, passive=passive, buffer_outbox=True,
                                no_conversation_at_load=conv is None)
                    try:
                        outcome = await self._savepoint(session, turn, dispatch)
                    except Exception as exc:
                        if dispatch is _apologise or _database_level(exc):
                            raise
                        _log_failure(inbound, exc)
                        # The savepoint's rollback expired what the callback had touched:
                        # load the rest of the batch's members and conversations afresh.
                        members.update(await inbound_events.load_members(
                            session, (p.inbound.userid for p in batch[index:]), refresh=True))
                        continue
                    queued.update(turn.queued_for)
                    break
                assert outcome is not None
                seen[key] = outcome.reply
                outcomes.append(outcome)
        return _queued(outcomes, session)

    async def _savepoint(self, session: AsyncSession, turn: Turn, dispatch: Dispatch
                         ) -> Outcome:
        """Apply one callback in a SAVEPOINT; a failure rolls back this callback alone."""
        inbound = turn.inbound
        try:
            async with session.begin_nested():
                await dispatch(turn)
                inbound_events.record_inbound(
                    session, dedupe_key=inbound.dedupe_key, userid=inbound.userid,
                    kind=inbound.kind, received_at=turn.now, reply=turn.reply)
                await turn.flush()
        except DuplicateError:
            # Another instance recorded this callback first: then it is a re-send.
            seen, reply = await inbound_events.stored_reply(session, inbound.dedupe_key)
            if seen:
                return Outcome(False, reply)
            raise
        return Outcome(True, turn.reply)

    # ------------------------------------------------------------------ one by one

    async def _process_alone(self, inbound: Inbound, dispatch: Dispatch) -> Outcome:
        """One callback in its own transaction, retried on transient database errors."""
        passive = self.passive_enabled and isinstance(inbound, PASSIVE_KINDS)
        for attempt in range(3):
            try:
                return await self._apply_alone(inbound, dispatch, passive)
            except DuplicateError:
                seen, reply = await self._reply_of(inbound)
                if seen:
                    return Outcome(False, reply)
                return await self._recover(inbound, passive)
            except DatabaseError as exc:
                if not is_transient(exc):
                    return await self._recover(inbound, passive)
                if attempt < 2:
                    # A deadlock or serialisation failure between instances: try again.
                    log.warning("retrying callback after a database error")
                    await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                raise  # the database stays away: the 500 makes WeCom re-send later
            except Exception:
                return await self._recover(inbound, passive)
        raise AssertionError("unreachable")

    async def _reply_of(self, inbound: Inbound) -> tuple[bool, str | None]:
        async with self._deps.db.session() as session:
            return await inbound_events.stored_reply(session, inbound.dedupe_key)

    async def _recover(self, inbound: Inbound, passive: bool) -> Outcome:
        """A bug, not the database: a re-send would fail the same way. Roll back, record the
        callback and tell the member to try again — never leave them in silence."""
        _log_failure(inbound)
        return await self._apply_alone(inbound, _apologise, passive)

    async def _apply_alone(self, inbound: Inbound, dispatch: Dispatch, passive: bool
                           ) -> Outcome:
        deps = self._deps
        now = deps.clock.now()
        async with deps.db.transaction() as session:
            seen, reply = await inbound_events.stored_reply(session, inbound.dedupe_key)
            if seen:
                log.info("duplicate callback %s ignored", inbound.kind)
                return Outcome(False, reply)
            members = await inbound_events.load_members(session, [inbound.userid])
            member, conv, waiting = members.get(inbound.userid, (None, None, False))
            turn = Turn(deps=deps, session=session, inbound=inbound, now=now, member=member,
                        passive=passive and not waiting, buffer_outbox=True,
                        no_conversation_at_load=conv is None)
            await dispatch(turn)
            inbound_events.record_inbound(
                session, dedupe_key=inbound.dedupe_key, userid=inbound.userid,
                kind=inbound.kind, received_at=now, reply=turn.reply)
            await turn.flush()
        return Outcome(True, turn.reply, queued=written_in(session))


def _queued(outcomes: list[Outcome], session: AsyncSession) -> list[Outcome]:
    """Mark a committed batch's applied callbacks when it queued outbox rows."""
    if not written_in(session):
        return outcomes
    return [replace(o, queued=True) if o.applied else o for o in outcomes]


def _database_level(exc: BaseException) -> bool:
    """Errors after which the batch's transaction cannot continue: the connection is gone, a
    deadlock or serialisation failure, or a failed commit."""
    if isinstance(exc, DatabaseError):
        return bool(exc.connection_invalidated) or is_transient(exc)
    return False


async def _apologise(turn: Turn) -> None:
    if turn.member is not None:
        await turn.say("error.retry")


def _where(exc: BaseException | None) -> str:
    """file:line of the innermost frame of our own code, for a log line without values."""
    if exc is None:
        return "?"
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "/site-packages/" not in f.filename]
    frame = frames[-1] if frames else None
    return f"{'/'.join(frame.filename.rsplit('/', 2)[-2:])}:{frame.lineno}" if frame else "?"


def _log_failure(inbound: Inbound, exc: BaseException | None = None) -> None:
    # The exception's type and where it happened, never its message: a database error's
    # message can quote the values (answers, mobile, location) of the failing statement.
    exc = exc if exc is not None else sys.exc_info()[1]
    log.error("callback %s failed (%s at %s); the member is asked to try again",
              inbound.kind, type(exc).__name__, _where(exc))
