"""The commands as an operator runs them: `python -m app serve` answers WeCom's URL verification
and a callback; `yiqingtong jobs run remind` delivers before exiting; `jobs list` shows times."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from app.cli import main
from app.emulator.api import WeComEmulator
from storage.db import Database
from storage.models import BasicInfo
from storage.roster import import_roster, parse_roster

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def live_emulator():
    emu = WeComEmulator()  # wall-clock time, like the real WeCom
    await emu.start()
    yield emu
    await emu.close()


async def test_serve_answers_url_verification_and_callbacks(live_emulator: WeComEmulator,
                                                            tmp_path: Path) -> None:
    port = free_port()
    env = live_emulator.serve_env(f"sqlite:///{tmp_path / 'serve.db'}",
                       YQT_SERVER__PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "app", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(150):
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        live_emulator.callback_url = f"http://127.0.0.1:{port}/wecom/callback"
        assert await live_emulator.verify_url("7429934023") == "7429934023"
        live_emulator.add_member("nobody", "Nobody")
        result = await live_emulator.send_text("nobody", "上报")
        assert result.status == 200 and "花名册" in (result.reply or "")  # a passive reply
        for _ in range(100):  # the running sender delivers the answer
            if live_emulator.inbox("nobody"):
                break
            await asyncio.sleep(0.05)
        assert "花名册" in live_emulator.inbox("nobody")[0].text
        # What startup built is out of the collector's way, and collections are timed.
        status, body = await metrics_of(port)
        assert status == 200
        assert metric(body, "yqt_gc_frozen_objects") > 10_000
        assert metric(body, 'yqt_gc_pause_seconds_count{generation="0"}') >= 1
    finally:
        proc.terminate()
        proc.wait(10)


async def metrics_of(port: int) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}/metrics") as response:
        return response.status, await response.text()


def metric(body: str, name: str) -> float:
    """The value of the sample `name` (with its labels) in a Prometheus text page."""
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_jobs_run_remind_delivers_before_exiting(live_emulator: WeComEmulator,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    db_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    db = Database(db_url)
    await db.create_schema()
    roster = "userid,name,unit,role\n" + "".join(f"s{i},S{i},U,member\n" for i in range(30))
    async with db.transaction() as session:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        await import_roster(session, parse_roster(roster.encode()), now=now)
        for i in range(25):
            session.add(BasicInfo(userid=f"s{i}", name=f"S{i}", staff_no=str(i),
                                  mobile="13800000000", beijing_hukou=True, member_type="student",
                                  form_version=1, answers={}, submitted_at=now))
    await db.dispose()
    for i in range(30):
        live_emulator.add_member(f"s{i}", f"S{i}")
    for key, value in live_emulator.serve_env(db_url).items():
        monkeypatch.setenv(key, value)
    code = await asyncio.to_thread(main, ["jobs", "run", "remind"])
    out = capsys.readouterr().out
    assert code == 0
    assert "30 messages queued" in out and "delivered 30" in out
    assert all(len(live_emulator.inbox(f"s{i}")) == 1 for i in range(30))
    # Those without basic information get their own text (basic information first): one
    # grouped message/send per distinct message.
    assert all("基本信息" in live_emulator.inbox(f"s{i}")[0].text for i in range(25, 30))
    assert all("基本信息" not in live_emulator.inbox(f"s{i}")[0].text for i in range(25))
    assert live_emulator.api_call_count("message/send") == 2


def test_jobs_list_shows_every_job(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "list"]) == 0
    out = capsys.readouterr().out
    for job in ("morning_reminder", "second_reminder", "reviewer_digest", "admin_summary",
                "basic_info_reminder"):
        assert job in out and "next run" in out


def test_jobs_run_unknown_name_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "run", "everything"]) == 2
    assert "unknown job" in capsys.readouterr().err


async def test_menu_creates_the_app_menu_whose_clicks_are_commands(
        live_emulator: WeComEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers.commands import parse_command

    for key, value in live_emulator.serve_env(f"sqlite:///{tmp_path / 'm.db'}").items():
        monkeypatch.setenv(key, value)
    assert await asyncio.to_thread(main, ["menu"]) == 0
    menu = live_emulator.menu
    assert menu is not None and len(menu["button"]) == 3  # WeCom allows at most three
    keys = [b["key"] for b in menu["button"] if "key" in b]
    keys += [s["key"] for b in menu["button"] for s in b.get("sub_button", [])]
    assert keys == ["report", "status", "info", "help", "text", "cards"]
    assert all(parse_command(key) is not None for key in keys)  # a click is a command


async def test_menu_reports_a_wecom_refusal(live_emulator: WeComEmulator, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in live_emulator.serve_env(f"sqlite:///{tmp_path / 'm.db'}").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("YQT_WECOM__AGENT_ID", "999")
    assert await asyncio.to_thread(main, ["menu"]) == 1
    assert "40056" in capsys.readouterr().err and live_emulator.menu is None


def test_workers_need_postgresql(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"YQT_WECOM__CORP_ID": "ww1", "YQT_WECOM__AGENT_ID": "1000002",
                       "YQT_WECOM__SECRET": "s", "YQT_WECOM__TOKEN": "t",
                       "YQT_WECOM__ENCODING_AES_KEY": "a" * 43,
                       "YQT_DATABASE__URL": f"sqlite:///{tmp_path / 'w.db'}"}.items():
        monkeypatch.setenv(key, value)
    assert main(["serve", "--workers", "2"]) == 2
    assert "PostgreSQL" in capsys.readouterr().err


@pytest.mark.postgres
async def test_serve_workers_share_one_port_and_answer_callbacks(
        live_emulator: WeComEmulator) -> None:
    from tests.conftest import reset_postgres
    from tests.harness import postgres_url

    url = postgres_url()
    if url is None:
        pytest.skip("needs YQT_TEST_POSTGRES_URL")
    await reset_postgres(url)
    port = free_port()
    env = live_emulator.serve_env(url, YQT_SERVER__PORT=str(port))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "serve", "--workers", "2", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    assert proc.stdout is not None
    lines: list[str] = []
    listening = f":{port}/wecom/callback (pid"
    try:
        # Wait until both workers say they listen: the first /healthz alone may be answered
        # while the second worker is still starting.
        async with asyncio.timeout(60):
            while sum(listening in line for line in lines) < 2:
                line = (await proc.stdout.readline()).decode()
                assert line, "serve exited early:\n" + "".join(lines)
                lines.append(line)
        live_emulator.callback_url = f"http://127.0.0.1:{port}/wecom/callback"
        for n in range(20):  # fresh connections: the kernel spreads them over the workers
            live_emulator.add_member(f"nobody{n}", "Nobody")
            result = await live_emulator.send_text(f"nobody{n}", "上报")
            assert result.status == 200 and "花名册" in (result.reply or "")
    finally:
        proc.terminate()
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    text = "".join(lines) + rest.decode()
    assert "2 workers on port" in text
    pids = {line.rsplit("(pid ", 1)[1] for line in text.splitlines() if listening in line}
    assert len(pids) == 2, text
