"""What the benchmarks share: a free port, waiting for a server, its environment as an operator
would set it, a fresh roster, percentiles, the server's CPU time, the load generator's own
garbage-collection pauses. Not part of the product."""

from __future__ import annotations

import asyncio
import gc
import socket
import subprocess
import time
import warnings
from datetime import datetime
from typing import Any

import aiohttp
import psutil

from app.emulator.api import WeComEmulator
from bot.settings import PrivacySettings
from storage.db import Database
from storage.members import accept_privacy_for_all
from storage.models import metadata
from storage.roster import import_roster, parse_roster

# The benches run as __main__, where Python shows deprecation warnings: sqlmodel's nudge towards
# session.exec() on every bulk insert of the roster would print its whole docstring (pyproject
# silences the same warning in the tests).
warnings.filterwarnings("ignore", message=r"(?s).*You probably want to use `session.exec",
                        category=DeprecationWarning)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError("server exited during startup")
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not become ready")


def serve_env(emu: WeComEmulator, port: int, db_url: str) -> dict[str, str]:
    """`yiqingtong serve`'s environment against the emulator, on `port`."""
    return emu.serve_env(db_url, YQT_SERVER__PORT=str(port),
                         YQT_WEB__SECRET="bench-" + "x" * 32)


async def fresh_roster(db: Database, members: int, units: int) -> datetime:
    """A fresh schema (a PostgreSQL database is emptied first) with members m0, m1, … in
    `units` units, who accepted the privacy notice long ago; returns the time it was done."""
    if db.is_postgres:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    await db.create_schema()
    now = datetime.now().astimezone()
    csv = "userid,name,unit,role\n" + "".join(
        f"m{i},Member {i},Unit {i % units},member\n" for i in range(members))
    async with db.transaction() as session:
        await import_roster(session, parse_roster(csv.encode()), now=now)
        # Accepted long ago: the benchmarks measure the work, not the privacy notice.
        await accept_privacy_for_all(session, PrivacySettings().notice_version, now)
    return now


def pct(values: list[float], q: float) -> float:
    """The q-quantile in milliseconds (0 for no values)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a server and its children (its workers): what a callback
    costs, steadier than callbacks/s on a machine the load generator shares."""
    proc = psutil.Process(pid)
    total = sum(proc.cpu_times()[:2])
    for child in proc.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


class GcPauses:
    """This process's garbage-collection pauses while measuring: a load generator that holds
    tens of thousands of members stops the world now and then, and every answer in flight
    looks slower by that much. Printed beside the figures so a reader can tell."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def _callback(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def summary(self) -> str:
        longest = max(self.pauses, default=0.0)
        return (f"{len(self.pauses)} collections, {sum(self.pauses):.1f} s in all, the longest "
                f"{longest * 1000:.0f} ms")
