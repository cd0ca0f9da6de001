"""The SQLite connection is used from two threads (InlineSqlite: statements on the loop's thread,
a writing COMMIT in aiosqlite's worker). They must never use it at once: a COMMIT still running
in the worker after its awaiting task was cancelled (a shutdown) once let the loop thread close
the connection under it and crashed the interpreter (tests/test_outbox.py, 1 run in 6)."""
from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from storage.db import InlineSqlite


async def _open(path: Path) -> InlineSqlite:
    return await InlineSqlite(lambda: sqlite3.connect(path, check_same_thread=False), 64)


async def _until(condition: threading.Event) -> None:
    for _ in range(100_000):  # a guard against a hang, not a timing
        if condition.is_set():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the worker never started the call")


async def _cancelled_blocked_call(connection: InlineSqlite, order: list[str]
                                  ) -> threading.Event:
    """A call that is still running in the worker thread, its awaiting task cancelled (as a
    COMMIT at shutdown); it finishes when the returned event is set."""
    started, release = threading.Event(), threading.Event()

    def blocked() -> None:
        started.set()
        release.wait(30)
        order.append("worker call")

    task = asyncio.create_task(connection._in_worker(blocked))
    await _until(started)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return release


async def test_a_call_after_a_cancelled_worker_call_waits_for_it(tmp_path: Path) -> None:
    connection = await _open(tmp_path / "a.db")
    order: list[str] = []
    release = await _cancelled_blocked_call(connection, order)
    after = asyncio.create_task(connection._execute(lambda: order.append("next call")))
    for _ in range(20):
        await asyncio.sleep(0)
    assert order == [] and not after.done()  # queued behind the worker's call, not run beside
    release.set()
    await after
    assert order == ["worker call", "next call"]
    # Once the worker is idle, statements run inline again (at once, on the loop's thread).
    assert await connection._execute(lambda: threading.current_thread().name) == (
        threading.current_thread().name)
    await connection.close()


async def test_close_waits_for_a_cancelled_worker_call(tmp_path: Path) -> None:
    connection = await _open(tmp_path / "b.db")
    order: list[str] = []
    release = await _cancelled_blocked_call(connection, order)
    closing = asyncio.create_task(connection.close())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not closing.done()
    release.set()
    await closing
    assert order == ["worker call"]
