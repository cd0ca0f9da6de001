"""A university's morning, simulated: N roster members report through the real server.

`yiqingtong serve --workers W` on PostgreSQL, against the WeCom emulator. Every member (basic
information already on file, the WeChat-plugin text client) arrives within the window, says
上报, enters the app (enter_agent + LOCATION), and answers the daily report — about 10 callbacks
— at human pace (2–8 s between answers). Arrivals are concentrated early in the window (a
triangular distribution peaking at a fifth of it); `--compress` divides every time (window and
pace) so that a run fits this machine. Printed: callbacks/s, answer → next message in the
member's chat p50/p99, lost reports (members answered 200 at every step but without a stored
report: must be 0), message/send calls, peak RSS of each worker, database size.

    python bench/morning_bench.py --database postgresql+asyncpg://postgres@127.0.0.1/yqt_bench \
        [--members 50000] [--workers 2] [--window-minutes 30] [--compress 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import psutil
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.emulator.api import WeComEmulator  # noqa: E402
from bench.common import (  # noqa: E402
    GcPauses,
    cpu_seconds,
    fresh_roster,
    free_port,
    pct,
    serve_env,
    wait_ready,
)
from storage.db import Database  # noqa: E402
from storage.models import BasicInfo, DailyReport  # noqa: E402

BEIJING = (39.99, 116.31)
# on campus, 36.5, no symptoms, no contact, no quarantine, no remarks, submit
ANSWERS = ["1", "1", "36.5", "1", "2", "1", "无", "1"]


def event_loop() -> str:
    """What `serve` runs on here: uvloop where it is installed (`pip install -e '.[bench]'`)."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio (uvloop not installed: pip install -e '.[bench]')"
    return "uvloop"


async def prepare(url: str, members: int) -> None:
    db = Database(url)
    now = await fresh_roster(db, members, units=50)
    rows = [dict(userid=f"m{i}", name=f"Member {i}", staff_no=f"S{i:07d}",
                 mobile="13800000000", beijing_hukou=True, member_type="student",
                 form_version=1, answers={}, submitted_at=now) for i in range(members)]
    async with db.transaction() as session:
        for start in range(0, len(rows), 5000):
            await session.execute(sa.insert(BasicInfo), rows[start:start + 5000])
    await db.dispose()


ANALYSED = ("inbound_event", "conversation", "outbox", "daily_report", "member", "basic_info",
            "audit_log", "alert")


# PostgreSQL's defaults: autovacuum_analyze_threshold and autovacuum_analyze_scale_factor.
ANALYZE_THRESHOLD = 50
ANALYZE_SCALE_FACTOR = 0.1
_DUE = sa.text(
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
    "WHERE s.relname = ANY(:tables) "
    "AND s.n_mod_since_analyze > :threshold + :scale * greatest(c.reltuples, 0)")


async def analyse_while_autovacuum_is_off(url: str, stop: asyncio.Event,
                                          every: float = 15.0) -> int:
    """Where the server's autovacuum is off (it is on by default, and in production), do what
    autovacuum would: every `every` seconds (its naptime is 60 s), ANALYZE each table that grows
    during the morning once more rows changed than autovacuum's threshold, 50 + 10 % of the
    table. Otherwise plans cached while the tables were empty keep scanning them whole. (An
    earlier version analysed every table every 15 s: 1.2 s of the server's CPU each time by the
    end of the morning, four times an hour more than autovacuum would spend.) Returns the
    number of tables analysed."""
    db = Database(url)
    try:
        if not await db.autovacuum_off():
            return 0
        runs = 0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            async with db.engine.begin() as conn:
                due = (await conn.execute(_DUE, {
                    "tables": list(ANALYSED), "threshold": ANALYZE_THRESHOLD,
                    "scale": ANALYZE_SCALE_FACTOR})).scalars().all()
                for table in due:
                    await conn.exec_driver_sql(f"ANALYZE {table}")
            runs += len(due)
        return runs
    finally:
        await db.dispose()


async def keep_the_collector_away(stop: asyncio.Event, every: float = 5.0) -> None:
    """The load generator is not what is measured, but it holds every member's chat (half a
    million messages by the end of a 50,000-member morning), and a full collection over that
    stopped it for up to 380 ms at a time: every answer in flight looked that much slower.
    What it holds only grows, so it is frozen as it goes (the server's own collector is left
    alone: its pauses are part of the figures)."""
    while not stop.is_set():
        gc.freeze()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def sample_rss(pid: int, peak: dict[int, int], stop: asyncio.Event) -> None:
    """Peak RSS of every process of the server: its workers, or (`--workers 1`) the one
    process `serve` itself is."""
    parent = psutil.Process(pid)
    while not stop.is_set():
        try:
            for each in (parent, *parent.children(recursive=True)):
                try:
                    peak[each.pid] = max(peak.get(each.pid, 0), each.memory_info().rss)
                except psutil.Error:
                    pass
        except psutil.Error:
            return
        await asyncio.sleep(0.2)


async def run(args: argparse.Namespace) -> None:
    await prepare(args.database, args.members)
    emu = WeComEmulator(callback_timeout=10.0)
    await emu.start()
    for i in range(args.members):
        emu.add_member(f"m{i}", f"Member {i}", client="wechat_plugin")
    port = free_port()
    env = serve_env(emu, port, args.database)
    proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--workers",
                             str(args.workers)], cwd=ROOT, env=env, start_new_session=True)
    waits: list[float] = []
    timeline: list[tuple[float, float]] = []  # (when the answer was sent, its wait)
    by_step: dict[str, list[float]] = {}
    failed: set[str] = set()
    callbacks = 0
    try:
        await wait_ready(port, proc)
        emu.callback_url = f"http://127.0.0.1:{port}/wecom/callback"
        window = args.window_minutes * 60 / args.compress
        rng = random.Random(7)
        peak: dict[int, int] = {}
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(proc.pid, peak, stop))
        analyser = asyncio.create_task(analyse_while_autovacuum_is_off(args.database, stop))
        gc.collect()
        freezer = asyncio.create_task(keep_the_collector_away(stop))

        async def step(user: str, send, name: str) -> bool:  # noqa: ANN001
            nonlocal callbacks
            before = len(emu.inbox(user))
            started = time.perf_counter()
            result = await send()
            callbacks += 1
            if result.status != 200:
                failed.add(user)
                return False
            try:
                await emu.wait_for_inbox(user, before + 1, timeout=30)
            except TimeoutError:
                failed.add(user)
                return False
            waits.append(time.perf_counter() - started)
            timeline.append((started, waits[-1]))
            by_step.setdefault(name, []).append(waits[-1])
            return True

        async def member(i: int) -> None:
            nonlocal callbacks
            user = f"m{i}"
            await asyncio.sleep(rng.triangular(0, window, window / 5))
            if not await step(user, lambda: emu.send_text(user, "上报"), "report"):
                return
            before = len(emu.inbox(user))
            started = time.perf_counter()
            results = await emu.enter_app(user, *BEIJING)
            callbacks += len(results)
            if any(r.status != 200 for r in results):
                failed.add(user)
                return
            try:  # the position to confirm
                await emu.wait_for_inbox(user, before + 1, timeout=30)
            except TimeoutError:
                failed.add(user)
                return
            waits.append(time.perf_counter() - started)
            timeline.append((started, waits[-1]))
            by_step.setdefault("enter+LOCATION", []).append(waits[-1])
            for n, answer in enumerate(ANSWERS):
                await asyncio.sleep(rng.uniform(2, 8) / args.compress)
                if not await step(user, lambda a=answer: emu.send_text(user, a),
                                  f"answer {n + 1}"):
                    return

        me = psutil.Process()
        cpu_before = sum(me.cpu_times()[:2])
        server_cpu_before = cpu_seconds(proc.pid)
        started = time.perf_counter()
        with GcPauses() as gc_pauses:
            await asyncio.gather(*(member(i) for i in range(args.members)))
        elapsed = time.perf_counter() - started
        loadgen_cpu = sum(me.cpu_times()[:2]) - cpu_before
        server_cpu = cpu_seconds(proc.pid) - server_cpu_before
        await asyncio.sleep(2)  # the last messages settle
        stop.set()
        await sampler
        await freezer
        analyses = await analyser
    finally:
        proc.terminate()
        proc.wait(30)
    db = Database(args.database)
    async with db.session() as session:
        reported = set(await session.scalars(sa.select(DailyReport.userid)))
        size = await session.scalar(
            sa.select(sa.func.pg_database_size(sa.func.current_database())))
    await db.dispose()
    answered = {f"m{i}" for i in range(args.members)} - failed
    lost = answered - reported
    sends = emu.api_call_count("message/send")
    await emu.close()
    print(f"morning: {args.members} members, {args.workers} workers on PostgreSQL, window "  # noqa: T201
          f"{args.window_minutes} min compressed {args.compress}x ({window:.0f} s), "
          f"{os.cpu_count()} cores, event loop {event_loop()}")
    print(f"callbacks {callbacks} in {elapsed:.0f} s = {callbacks / elapsed:.0f}/s; "  # noqa: T201
          f"answer -> next message p50 {pct(waits, 0.5):.0f} ms, p99 {pct(waits, 0.99):.0f} ms "
          f"(target < 250)")
    print(f"reports stored {len(reported)}, members with a failed step {len(failed)}, "  # noqa: T201
          f"lost reports {len(lost)} (must be 0); message/send calls {sends}; peak RSS per "
          f"worker {max(peak.values(), default=0) / 2**20:.0f} MiB; database "
          f"{size / 2**20:.0f} MiB")
    print("answer -> next p50/p99 by step (ms): " + ", ".join(  # noqa: T201
        f"{name} {pct(values, 0.5):.0f}/{pct(values, 0.99):.0f}"
        for name, values in by_step.items()))
    # Where the slow answers were: a tail at the peak is queueing; one spread evenly is a
    # periodic stall.
    tenths: list[list[float]] = [[] for _ in range(10)]
    for when, wait in timeline:
        tenths[min(9, int((when - started) / elapsed * 10))].append(wait)
    print("by tenth of the run, answers/s and answer -> next p50/p99 ms: " + ", ".join(  # noqa: T201
        f"{len(t) / (elapsed / 10):.0f} {pct(t, 0.5):.0f}/{pct(t, 0.99):.0f}" for t in tenths))
    if analyses:
        print(f"autovacuum is off on this server: {analyses} tables analysed during the run "  # noqa: T201
              "by autovacuum's rule (50 + 10 % of a table's rows changed)")
    per_callback = server_cpu / callbacks * 1e6
    print(f"server (every worker): {server_cpu:.0f} s CPU = {per_callback:.0f} µs per "  # noqa: T201
          "callback (the database server's own not counted)")
    print(f"load generator and emulator (this process): {loadgen_cpu:.0f} s CPU in "  # noqa: T201
          f"{elapsed:.0f} s = {loadgen_cpu / elapsed * 100:.0f}% of one core; its garbage "
          f"collection: {gc_pauses.summary()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=os.environ.get("YQT_TEST_POSTGRES_URL"),
                        help="PostgreSQL URL (its tables are dropped and created)")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--window-minutes", type=float, default=30)
    parser.add_argument("--compress", type=float, default=30)
    args = parser.parse_args()
    if not args.database or not args.database.startswith("postgres"):
        parser.error("--database must name a PostgreSQL database")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
