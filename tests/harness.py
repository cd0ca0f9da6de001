"""The bot, the real callback server and the WeCom emulator wired together for tests.

Nothing of ours is mocked: callbacks are encrypted by the emulator, POSTed over TCP to the real
aiohttp server, applied to a real database, and delivered by the real outbox sender through
the real async client to the emulator's API, where we read what each member saw.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from app.emulator.api import WeComEmulator
from app.factory import create_app
from bot.clock import Clock, FixedClock
from bot.settings import (
    DatabaseSettings,
    OutboxSettings,
    ScheduleSettings,
    ServerSettings,
    Settings,
    WeComSettings,
)
from handlers.keys import DATABASE, SENDER
from handlers.sender import DrainStats, OutboxSender
from storage.db import Database
from storage.members import accept_privacy_for_all
from storage.roster import import_roster, parse_roster

ROSTER = """userid,name,unit,role,mobile,parent_unit,reviews
admin,管理员,中央民族大学,admin,,,
teacher,王老师,民族学与社会学学院,reviewer,13800000001,中央民族大学,
zhangsan,张三,民族学与社会学学院,member,13800000002,中央民族大学,
lisi,李四,民族学与社会学学院,member,13800000003,中央民族大学,
maria,Maria,国际教育学院,member,,中央民族大学,
chen,陈老师,国际教育学院,reviewer,13800000004,中央民族大学,
"""

PLUGIN = "wechat_plugin"
CLIENT = "wecom"


def postgres_url() -> str | None:
    return os.environ.get("YQT_TEST_POSTGRES_URL") or None


def bot_settings(db_url: str, emulator: WeComEmulator, **sections: Any) -> Settings:
    wecom: WeComSettings = emulator.wecom_settings()
    values: dict[str, Any] = {
        "wecom": wecom,
        "database": DatabaseSettings(url=db_url),
        "server": ServerSettings(port=0),
        "outbox": OutboxSettings(poll_interval_seconds=0.05),
        # Jobs are driven explicitly in tests (scheduler/jobs.py), never by wall time.
        "schedule": ScheduleSettings(enabled=False),
    }
    values.update(sections)
    return Settings(**values)


@dataclass
class Bot:
    emulator: WeComEmulator
    settings: Settings
    clock: Clock
    app: web.Application
    runner: web.AppRunner
    url: str
    _seen: dict[str, int] = field(default_factory=dict)

    @property
    def db(self) -> Database:
        return self.app[DATABASE]

    @property
    def sender(self) -> OutboxSender:
        return self.app[SENDER]

    async def settle(self) -> DrainStats:
        """Deliver everything the bot has queued."""
        return await self.sender.drain()

    def new_messages(self, userid: str) -> list[str]:
        """Texts this member saw since the last call (cards rendered as they look now)."""
        inbox = self.emulator.inbox(userid)
        start = self._seen.get(userid, 0)
        self._seen[userid] = len(inbox)
        return [d.text for d in inbox[start:] if d.visible]

    async def say(self, userid: str, text: str) -> list[str]:
        result = await self.emulator.send_text(userid, text)
        assert result.status == 200, result
        await self.settle()
        return self.new_messages(userid)

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_bot(emulator: WeComEmulator, db_url: str, *, clock: Clock | None = None,
                    roster: str = ROSTER, clients: dict[str, str] | None = None,
                    run_sender: bool = False, port: int = 0, accept_privacy: bool = True,
                    **sections: Any) -> Bot:
    """Start the real server on a free port against the emulator and import the roster.
    The roster's members have accepted the privacy notice unless `accept_privacy` is False
    (tests/test_privacy_notice.py walks the notice itself)."""
    settings = bot_settings(db_url, emulator, **sections)
    clock = clock or FixedClock(datetime.fromisoformat("2026-11-30T08:00:00+08:00"),
                                settings.schedule.tz)
    app = create_app(settings, clock=clock, run_sender=run_sender)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}{settings.server.callback_path}"
    emulator.callback_url = url
    rows = parse_roster(roster.encode("utf-8"))
    async with app[DATABASE].transaction() as session:
        await import_roster(session, rows, now=clock.now())
        if accept_privacy:
            await accept_privacy_for_all(session, settings.privacy.notice_version, clock.now())
    clients = clients or {}
    for row in rows:
        if emulator.member(row.userid) is None:
            emulator.add_member(row.userid, row.name, client=clients.get(row.userid, PLUGIN))
    return Bot(emulator, settings, clock, app, runner, url)


async def new_emulator(clock: Clock | None = None) -> WeComEmulator:
    emulator = WeComEmulator(clock=clock)
    await emulator.start()
    return emulator


def sqlite_url(tmp_path: Path, name: str = "bot.db") -> str:
    return f"sqlite:///{tmp_path / name}"


async def fetch_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()
