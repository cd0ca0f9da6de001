"""The SQLite connection is used from two threads (InlineSqlite: statements on the loop's thread,
a writing COMMIT in aiosqlite's worker). They must never use it at once: a COMMIT still running
in the worker after its awaiting task was cancelled (a shutdown) once let the loop thread close
the connection under it and crashed the interpreter (tests/test_outbox.py, 1 run in 6)."""
from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from storage.db import InlineSqlite


async def _open(path: Path) -> InlineSqlite:
    return await InlineSqlite(lambda: sqlite3.connect(path, check_same_thread=False), 64)


async def _cancelled_slow_call(connection: InlineSqlite, order: list[str]) -> None:
    def slow() -> None:
        time.sleep(0.3)
        order.append("worker call")

    task = asyncio.create_task(connection._in_worker(slow))
    await asyncio.sleep(0.05)  # the worker is inside slow()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert order == []  # still running in the worker


async def test_a_call_after_a_cancelled_worker_call_waits_for_it(tmp_path: Path) -> None:
    connection = await _open(tmp_path / "a.db")
    order: list[str] = []
    await _cancelled_slow_call(connection, order)
    await connection._execute(lambda: order.append("next call"))
    assert order == ["worker call", "next call"]
    # Once the worker is idle, statements run inline again.
    assert await connection._execute(lambda: order.append("inline")) is None
    assert order[-1] == "inline"
    await connection.close()


async def test_close_waits_for_a_cancelled_worker_call(tmp_path: Path) -> None:
    connection = await _open(tmp_path / "b.db")
    order: list[str] = []
    await _cancelled_slow_call(connection, order)
    await connection.close()
    assert order == ["worker call"]
