"""Chaos on PostgreSQL: two real `yiqingtong serve` processes behind a failing-over proxy take a
200-member rush of daily reports; one is killed with SIGKILL mid-rush and restarted. Afterwards
every report is stored once, every member has exactly one receipt, every alert arrived once, and
nothing is dead or left pending.

The proxy plays nginx and WeCom together: it spreads callbacks over the two instances and, when
one drops the connection or refuses it, sends the same callback to the other (WeCom re-sends
anything not answered 200; the dedupe key makes that harmless).
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
from datetime import UTC, datetime

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web

from app.emulator.api import WeComEmulator
from storage.db import Database
from storage.members import accept_privacy_for_all
from storage.models import BasicInfo, DailyReport, Outbox
from storage.roster import import_roster, parse_roster
from tests.conftest import reset_postgres
from tests.harness import postgres_url
from tests.test_serve import ROOT, free_port

pytestmark = pytest.mark.postgres

MEMBERS = 200
FEVER_EVERY = 10


class FailoverProxy:
    """Round-robin over the upstreams; a refused or dropped request goes to the next one."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self._next = itertools.cycle(range(len(upstreams)))
        self.failovers = 0
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        self._http = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        body = await request.read()
        first = next(self._next)
        for attempt in range(40):
            base = self.upstreams[(first + attempt) % len(self.upstreams)]
            try:
                async with self._http.request(
                        request.method, base + request.path_qs, data=body,
                        headers={"Content-Type": request.content_type},
                        timeout=aiohttp.ClientTimeout(total=10)) as resp:
                    if resp.status >= 500:
                        raise aiohttp.ClientError(f"HTTP {resp.status}")
                    return web.Response(status=resp.status, body=await resp.read())
            except (TimeoutError, aiohttp.ClientError):
                self.failovers += 1
                await asyncio.sleep(0.05 * min(attempt, 10))
        return web.Response(status=502)


def spawn(emulator: WeComEmulator, url: str, port: int) -> subprocess.Popen[bytes]:
    env = emulator.serve_env(url, YQT_SERVER__PORT=str(port),
                       YQT_OUTBOX__POLL_INTERVAL_SECONDS="0.5", YQT_LOG__LEVEL="WARNING")
    return subprocess.Popen([sys.executable, "-m", "app", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            assert proc.poll() is None, "server exited"
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("server did not become ready")


async def answered(emu: WeComEmulator, userid: str, plaintext: str, result: object) -> None:
    """WeCom re-sends a callback not answered 200 within 5 s (three times; a loaded CI machine
    gets a few more): the same plaintext, so the same dedupe key."""
    for _ in range(6):
        if getattr(result, "status", 0) == 200:
            return
        params, body = emu.build_callback(plaintext)
        result = await emu.post_raw(params, body, userid=userid)
    assert getattr(result, "status", 0) == 200, (userid, plaintext, result)


async def report(emu: WeComEmulator, userid: str, fever: bool, progress: list[int]) -> None:
    def sent_since(before: int) -> list[str]:
        return [p for u, p in emu.callback_log[before:] if u == userid]

    async def say(text: str) -> None:
        before = len(emu.callback_log)
        result = await emu.send_text(userid, text)
        await answered(emu, userid, sent_since(before)[0], result)
        progress[0] += 1

    await say("上报")
    before = len(emu.callback_log)
    results = await emu.enter_app(userid, 39.9515, 116.3227)
    for plaintext, result in zip(sent_since(before), results, strict=True):
        await answered(emu, userid, plaintext, result)
    progress[0] += 1
    for text in ("1", "1", "38.6" if fever else "36.5", "1", "2", "1", "无", "1"):
        await say(text)


async def test_kill_one_of_two_instances_mid_rush(tmp_path) -> None:  # noqa: ANN001
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL tests need YQT_TEST_POSTGRES_URL (CI sets it)")
    await reset_postgres(url)
    members = [f"k{i:03d}" for i in range(MEMBERS)]
    roster = ("userid,name,unit,role,mobile,parent_unit,reviews\n"
              "admin,管理员,大学,admin,,,\nteacher,王老师,学院,reviewer,13800000001,大学,\n"
              + "".join(f"{m},成员{m[1:]},学院,member,,大学,\n" for m in members))
    now = datetime.now(UTC)
    db = Database(url)
    await db.create_schema()
    async with db.transaction() as session:
        await import_roster(session, parse_roster(roster.encode()), now=now)
        await accept_privacy_for_all(session, 1, now)
        for m in members:
            session.add(BasicInfo(userid=m, name=m, staff_no=m, mobile="13800000000",
                                  beijing_hukou=True, member_type="student", form_version=1,
                                  answers={}, submitted_at=now))
    emu = WeComEmulator()  # wall-clock time, like WeCom
    await emu.start()
    for m in ["admin", "teacher", *members]:
        emu.add_member(m, m, client="wechat_plugin")
    ports = [free_port(), free_port()]
    procs = [spawn(emu, url, port) for port in ports]
    proxy = FailoverProxy([f"http://127.0.0.1:{p}" for p in ports])
    try:
        for port, proc in zip(ports, procs, strict=True):
            await wait_ready(port, proc)
        emu.callback_url = await proxy.start() + "/wecom/callback"
        progress = [0]
        gate = asyncio.Semaphore(40)
        fevers = set(members[::FEVER_EVERY])

        async def one(m: str) -> None:
            async with gate:
                await report(emu, m, m in fevers, progress)

        rush = asyncio.gather(*(one(m) for m in members))
        total = MEMBERS * 10
        while progress[0] < total // 3:  # a third of the way in ...
            await asyncio.sleep(0.05)
        procs[0].send_signal(signal.SIGKILL)  # ... instance A dies mid-burst
        procs[0].wait(10)
        await asyncio.sleep(1.0)
        procs[0] = spawn(emu, url, ports[0])  # and comes back
        await rush
        await wait_ready(ports[0], procs[0])

        async def settled() -> tuple[int, dict[str, int]]:
            async with db.session() as session:
                n = (await session.execute(sa.select(sa.func.count())
                                           .select_from(DailyReport))).scalar_one()
                statuses = dict((await session.execute(sa.select(
                    Outbox.status, sa.func.count()).group_by(Outbox.status))).all())
            return n, statuses

        for _ in range(600):  # the senders (and the lease takeover) finish within seconds
            n, statuses = await settled()
            if n == MEMBERS and not statuses.get("pending"):
                break
            await asyncio.sleep(0.1)
        n, statuses = await settled()
        assert n == MEMBERS and not statuses.get("pending") and not statuses.get("dead"), (
            n, statuses)
        async with db.session() as session:
            receipts = dict((await session.execute(
                sa.select(DailyReport.userid, DailyReport.receipt))).all())
        assert sorted(receipts) == members  # each report stored once
        for m in members:
            got = [d.text for d in emu.inbox(m) if receipts[m] in d.text]
            assert len(got) == 1, (m, got)  # exactly one receipt
        alerts = [d.text for d in emu.inbox("teacher")]
        for m in fevers:
            assert sum(f"成员{m[1:]}" in t for t in alerts) == 1, m  # every alert, once
        assert proxy.failovers > 0  # the kill was felt
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        await proxy.stop()
        await emu.close()
        await db.dispose()
