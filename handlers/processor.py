"""Apply one inbound callback: dedupe, serialise per member, dispatch, commit — in one transaction.

Per-member ordering: an asyncio.Lock per member in this process (FIFO, so callbacks are applied
in arrival order) and, on PostgreSQL, a row lock on the member so instances serialise too.
State is loaded only after the lock is taken.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from bot.wecom.inbound import Inbound
from handlers.context import Deps, Turn
from storage import inbound as inbound_events
from storage.db import DatabaseError, is_transient

log = logging.getLogger("handlers.callback")

Dispatch = Callable[[Turn], Awaitable[None]]


class InboundProcessor:
    def __init__(self, deps: Deps, dispatch: Dispatch,
                 on_commit: Callable[[], None] | None = None) -> None:
        self._deps = deps
        self._dispatch = dispatch
        self._on_commit = on_commit or (lambda: None)
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, int] = {}

    @asynccontextmanager
    async def _member_lock(self, userid: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(userid, asyncio.Lock())
        self._waiters[userid] = self._waiters.get(userid, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiters[userid] -= 1
            if not self._waiters[userid]:
                del self._waiters[userid]
                del self._locks[userid]

    async def process(self, inbound: Inbound, *, dispatch: Dispatch | None = None) -> bool:
        """True if applied, False if it was a re-sent duplicate. Raises if nothing was stored.
        `dispatch` replaces the router for this callback (the inbound limit's one answer)."""
        async with self._member_lock(inbound.userid):
            for attempt in range(3):
                try:
                    applied = await self._apply(inbound, dispatch or self._dispatch)
                except DatabaseError as exc:
                    if not is_transient(exc):
                        applied = await self._recover(inbound)
                    elif attempt < 2:
                        # A deadlock or serialisation failure between instances: try again.
                        log.warning("retrying callback after a database error")
                        await asyncio.sleep(0.05 * (attempt + 1))
                        continue
                    else:
                        raise  # the database stays away: the 500 makes WeCom re-send later
                except Exception:
                    applied = await self._recover(inbound)
                if applied:
                    self._on_commit()
                return applied
        return False

    async def _recover(self, inbound: Inbound) -> bool:
        """A bug, not the database: a re-send would fail the same way. Roll back, record the
        callback and tell the member to try again — never leave them in silence."""
        # The exception's type and where it happened, never its message: a database error's
        # message can quote the values (answers, mobile, location) of the failing statement.
        exc = sys.exc_info()[1]
        log.error("callback %s failed (%s at %s); the member is asked to try again",
                  inbound.kind, type(exc).__name__, _where(exc))
        return await self._apply(inbound, _apologise)

    async def _apply(self, inbound: Inbound, dispatch: Dispatch) -> bool:
        deps = self._deps
        now = deps.clock.now()
        async with deps.db.transaction() as session:
            if not await inbound_events.accept_once(session, dedupe_key=inbound.dedupe_key,
                                                    userid=inbound.userid, kind=inbound.kind,
                                                    now=now):
                log.info("duplicate callback %s ignored", inbound.kind)
                return False
            turn = await Turn.open(deps, session, inbound, now)
            await dispatch(turn)
            await turn.flush()
        return True


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
