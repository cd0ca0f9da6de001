"""Callback benchmark: the bare limit, the naive Flask peer and the real bot, in one run.

Each server runs in its own process (so its peak RSS is its own); this process runs the WeCom
emulator, which encrypts and signs every callback exactly as WeCom does, and the load. Printed:
callbacks/s, p50/p99 latency of the HTTP answer, peak RSS, and for the bot the chat latency —
from a member's answer to the next message reaching the emulator's inbox.

The peer (bench/flask_peer.py: Flask + wechatpy under gunicorn -w 2, one SQLite insert per
callback) needs `pip install -e '.[bench]'`. The rush: every member answers as soon as the
bot's answer arrives, and the time from an answer to the next message in the member's chat is
measured (with passive replies, the next message is in the callback's own HTTP answer).

Each server's CPU time per callback (user + system, workers included) is printed beside its
rate: on a machine the load generator shares, it is the steadier figure.

    python bench/callback_bench.py [--requests 2000] [--concurrency 32] [--members 200]
                                   [--database postgresql+asyncpg://user@host/db [--workers N]]

With --workers N (PostgreSQL only) the bot is `yiqingtong serve --workers N` itself, as
production runs it on both cores (the peer, too, runs two processes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.emulator.api import WeComEmulator  # noqa: E402
from bench.common import (  # noqa: E402
    cpu_seconds,
    fresh_roster,
    free_port,
    pct,
    serve_env,
    wait_ready,
)
from storage.db import Database  # noqa: E402


# ----------------------------------------------------------------------------- servers


def serve_bare(port: int) -> None:
    """The floor: verify the signature, decrypt, parse the envelope, answer 200."""
    from aiohttp import web

    from bot.wecom.crypto import CallbackRejected, WeComCrypto
    from bot.wecom.inbound import parse_envelope, parse_plaintext

    emu = WeComEmulator()
    crypto = WeComCrypto(emu.token, emu.encoding_aes_key, emu.corp_id)

    async def receive(request: web.Request) -> web.Response:
        q = request.query
        try:
            encrypted, _ = parse_envelope(await request.read())
            parse_plaintext(crypto.decrypt(q["msg_signature"], q["timestamp"], q["nonce"],
                                           encrypted))
        except CallbackRejected as exc:
            return web.Response(status=exc.status)
        return web.Response(text="")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/wecom/callback", receive)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _bench_settings(port: int, api_base: str, db_url: str) -> Any:
    from bot.settings import DatabaseSettings, ScheduleSettings, ServerSettings, Settings

    emu = WeComEmulator()
    emu.base_url = api_base
    return Settings(wecom=emu.wecom_settings(), server=ServerSettings(port=port),
                    database=DatabaseSettings(url=db_url),
                    schedule=ScheduleSettings(enabled=False))


async def load_roster(db_url: str, members: int) -> None:
    """A fresh schema with `members` roster members who accepted the privacy notice."""
    db = Database(db_url)
    await fresh_roster(db, members, units=10)
    if db.is_postgres:
        async with db.engine.connect() as conn:  # plans for tables of this size
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("ANALYZE")
    await db.dispose()


def serve_bot(port: int, api_base: str, db_url: str, members: int) -> None:
    """One process, as `yiqingtong serve` runs it (the only way on SQLite)."""
    from aiohttp import web

    from app.factory import create_app

    asyncio.run(load_roster(db_url, members))
    try:  # as `yiqingtong serve` does where uvloop is installed
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    web.run_app(create_app(_bench_settings(port, api_base, db_url)), host="127.0.0.1",
                port=port, print=None, access_log=None)


def serve_workers_command(emu: WeComEmulator, port: int, db_url: str, workers: int
                          ) -> tuple[list[str], dict[str, str]]:
    """`yiqingtong serve --workers N` itself (PostgreSQL), configured as an operator would."""
    return ([sys.executable, "-m", "app", "serve", "--workers", str(workers)],
            serve_env(emu, port, db_url))


# ----------------------------------------------------------------------------- load


async def sample_rss(pid: int, peak: list[int], stop: asyncio.Event) -> None:
    """The largest RSS any one process of the server reached (its workers are processes of
    their own: the target is per process)."""
    process = psutil.Process(pid)
    while not stop.is_set():
        try:
            processes = [process, *process.children(recursive=True)]
        except psutil.Error:
            return
        for each in processes:
            try:
                peak[0] = max(peak[0], each.memory_info().rss)
            except psutil.Error:
                pass
        await asyncio.sleep(0.05)


async def load(emu: WeComEmulator, requests: int, concurrency: int, members: int,
               expect: str | None = None, server: str = "") -> tuple[float, list[float]]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    latencies: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            result = await emu.send_text(f"m{i % members}", "状态")
            if result.status != 200:
                raise RuntimeError(f"{server}: a callback was answered {result.status}")
            if expect is not None and expect not in (result.reply or ""):
                raise RuntimeError(f"the bot answered {result.reply!r}, not the status")
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


async def chat_latency(emu: WeComEmulator, rounds: int) -> list[float]:
    """From a member's message to the bot's reply arriving in the member's inbox."""
    samples = []
    for i in range(rounds):
        user = f"m{i}"
        before = len(emu.inbox(user))
        started = time.perf_counter()
        await emu.send_text(user, "状态")
        await emu.wait_for_inbox(user, before + 1, timeout=10)
        samples.append(time.perf_counter() - started)
    return samples


async def rush(emu: WeComEmulator, members: int, rounds: int) -> tuple[list[float], float]:
    """Every member answers as soon as the bot's previous answer reached their chat."""
    samples: list[float] = []
    unanswered: list[str] = []

    async def member(i: int) -> None:
        user = f"m{i}"
        for _ in range(rounds):
            before = len(emu.inbox(user))
            started = time.perf_counter()
            result = await emu.send_text(user, "状态")
            if result.status != 200:  # not answered within WeCom's 5 s: it would re-send
                unanswered.append(user)
                continue
            await emu.wait_for_inbox(user, before + 1, timeout=30)
            samples.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(member(i) for i in range(members)))
    if unanswered:
        print(f"rush: {len(unanswered)} callbacks not answered within 5 s")  # noqa: T201
    return samples, len(samples) / (time.perf_counter() - started)


async def run(args: argparse.Namespace) -> None:
    emu = WeComEmulator()
    await emu.start()
    for i in range(args.members):
        emu.add_member(f"m{i}", f"Member {i}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        database = args.database or f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        for kind in ("bare", "peer", "bot"):
            port = free_port()
            if kind == "peer":
                # In WAL mode before its two workers open it: switching the mode needs the
                # database to themselves, and two workers starting at once can both ask.
                with contextlib.closing(sqlite3.connect(os.path.join(tmp, "peer.db"))) as conn:
                    conn.execute("PRAGMA journal_mode=WAL")
                cmd = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                       "--log-level", "warning", "bench.flask_peer:app"]
                env = dict(os.environ, YQT_PEER_TOKEN=emu.token,
                           YQT_PEER_AES_KEY=emu.encoding_aes_key, YQT_PEER_CORP_ID=emu.corp_id,
                           YQT_PEER_DB=os.path.join(tmp, "peer.db"))
            elif kind == "bot" and args.workers > 1:
                await load_roster(database, args.members)
                cmd, env = serve_workers_command(emu, port, database, args.workers)
            else:
                cmd = [sys.executable, __file__, "--serve", kind, "--port", str(port),
                       "--api-base", emu.base_url or "",
                       "--db", database,
                       "--members", str(args.members)]
                env = dict(os.environ)
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
            try:
                await wait_ready(port, proc)
                emu.callback_url = f"http://127.0.0.1:{port}/wecom/callback"
                peak = [0]
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_rss(proc.pid, peak, stop))
                # warm-up; the bot must answer with the member's status (not an apology)
                await load(emu, 100, args.concurrency, args.members,
                           "还没有上报" if kind == "bot" else None, kind)
                cpu_before = cpu_seconds(proc.pid)
                elapsed, latencies = await load(emu, args.requests, args.concurrency,
                                                args.members, server=kind)
                cpu = (cpu_seconds(proc.pid) - cpu_before) / args.requests * 1e6
                chat, rush_rate = ((await rush(emu, args.members, args.rounds))
                                   if kind == "bot" else ([], 0.0))
                stop.set()
                await sampler
                rows.append((kind, args.requests / elapsed, pct(latencies, 0.5),
                             pct(latencies, 0.99), peak[0] / 2**20, cpu,
                             pct(chat, 0.5) if chat else None,
                             pct(chat, 0.99) if chat else None, rush_rate))
            finally:
                proc.terminate()
                proc.wait(10)
    api_calls = emu.api_call_count("message/send")
    await emu.close()
    print(f"callbacks: {args.requests}, concurrency {args.concurrency}, "  # noqa: T201
          f"{args.members} members, {os.cpu_count()} cores, bot database "
          f"{(args.database or 'sqlite').split('://')[0]}, bot processes {args.workers}")
    print(f"{'server':6} {'callbacks/s':>12} {'p50 ms':>8} {'p99 ms':>8} "  # noqa: T201
          f"{'peak RSS MB':>12} {'CPU us/callback':>16}")
    for kind, rate, p50, p99, rss, cpu, *_ in rows:
        print(f"{kind:6} {rate:12.0f} {p50:8.1f} {p99:8.1f} {rss:12.0f} "  # noqa: T201
              f"{cpu:16.0f}")
    bare, peer, bot = rows
    print(f"rush: {args.members} members x {args.rounds} answers, each sent as soon as the "  # noqa: T201
          f"previous answer arrived: {bot[8]:.0f} callbacks/s, answer -> next message "
          f"p50 {bot[6]:.1f} ms, p99 {bot[7]:.1f} ms; message/send calls in the whole run: "
          f"{api_calls}")
    print(f"bot/peer {bot[1] / peer[1]:.2f}x (target >= 5x), bot/bare "  # noqa: T201
          f"{bot[1] / bare[1]:.2f}x (aim 0.6x), bot p99 {bot[3]:.0f} ms (target < 100), "
          f"answer->next p99 {bot[7]:.0f} ms (target < 250), bot RSS {bot[4]:.0f} MB "
          f"(target < 200 MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="answers per member in the rush")
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--database", default=None,
                        help="the bot's database URL (default: a fresh SQLite file)")
    parser.add_argument("--workers", type=int, default=1,
                        help="run the bot as `yiqingtong serve --workers N` (PostgreSQL)")
    parser.add_argument("--serve", choices=("bare", "bot"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--api-base", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)  # the URL handed to the child
    args = parser.parse_args()
    if args.workers > 1 and not (args.database or "").startswith("postgres"):
        parser.error("--workers needs --database postgresql+asyncpg://… (SQLite has one "
                     "writer)")
    if args.serve == "bare":
        serve_bare(args.port)
    elif args.serve == "bot":
        serve_bot(args.port, args.api_base, args.db, args.members)
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
