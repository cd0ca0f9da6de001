"""The one dialog driver: the bot, the real callback server and the WeCom emulator wired
together, and what a member does (say, tap, pick, enter the app, send a location).

Nothing of ours is mocked: callbacks are encrypted by the emulator, POSTed over TCP to the real
aiohttp server, applied to a real database, and delivered by the real outbox sender through
the real async client to the emulator's API, where we read what each member saw. Delivery is
paced per member as WeCom demands; when a long dialog hits the pace, the test clock moves on a
minute, as a real member would simply wait.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.emulator.api import WeComEmulator
from app.emulator.member import selected_items_xml, xml_fields
from app.emulator.records import Delivered
from app.factory import create_app
from bot.clock import Clock, FixedClock, local_date
from bot.conversation.engine import ConvState
from bot.settings import (
    DatabaseSettings,
    OutboxSettings,
    ScheduleSettings,
    ServerSettings,
    Settings,
    WeComSettings,
)
from handlers import privacy_notice
from handlers.form_registry import FormRegistry
from handlers.forms import STAFF_NO_PREFILL
from handlers.keys import DATABASE, DEPS, SENDER
from handlers.sender import DrainStats, OutboxSender
from storage.db import Database, async_url
from storage.members import accept_privacy_for_all
from storage.models import BasicInfo, CardTask, Conversation, DailyReport, Member, Outbox
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


async def drop_postgres_connections(url: str) -> int:
    """Terminate every other connection to the test database: what a PostgreSQL restart or a
    failover does to the bot's pooled connections. Returns how many there were."""
    engine = create_async_engine(async_url(url), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            dropped = (await conn.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"))).scalar()
    finally:
        await engine.dispose()
    return int(dropped or 0)


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

    async def settle_paced(self) -> None:
        """Deliver everything queued; when the per-member pace (WeCom's 30 a minute) holds
        messages back, move the test clock on a minute, as a real member would simply wait."""
        for _ in range(20):
            stats = await self.settle()
            if not stats.deferred:
                return
            self.clock.advance(seconds=61)  # type: ignore[attr-defined]
        raise AssertionError("the outbox never drained")

    async def say(self, userid: str, text: str) -> list[str]:
        """The member types `text`; returns the texts they saw in reply."""
        result = await self.emulator.send_text(userid, text)
        assert result.status == 200, result
        await self.settle_paced()
        return self.new_messages(userid)

    async def stop(self) -> None:
        await self.runner.cleanup()


async def seed_roster(db: Database, roster: str, now: datetime, *, notice_version: int,
                      accept_privacy: bool = True) -> None:
    """Import `roster` as `yiqingtong roster import` does; its members have accepted the
    privacy notice unless `accept_privacy` is False."""
    async with db.transaction() as session:
        await import_roster(session, parse_roster(roster.encode("utf-8")), now=now)
        if accept_privacy:
            await accept_privacy_for_all(session, notice_version, now)


async def start_bot(emulator: WeComEmulator, db_url: str, *, clock: Clock | None = None,
                    roster: str = ROSTER, clients: dict[str, str] | None = None,
                    run_sender: bool = False, port: int = 0, accept_privacy: bool = True,
                    roster_imported: bool = False, **sections: Any) -> Bot:
    """Start the real server on a free port against the emulator and import the roster.
    The roster's members have accepted the privacy notice unless `accept_privacy` is False
    (tests/test_privacy_notice.py walks the notice itself). `roster_imported`: the database
    already holds exactly that (a copy of a template `seed_roster` made: conftest's `bot`)."""
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
    if not roster_imported:
        await seed_roster(app[DATABASE], roster, clock.now(),
                          notice_version=settings.privacy.notice_version,
                          accept_privacy=accept_privacy)
    clients = clients or {}
    for row in parse_roster(roster.encode("utf-8")):
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


# ---- what a member does ----------------------------------------------------------------------

BEIJING = (39.99, 116.31)         # 北京市 海淀区 (GCJ-02, as WeCom sends it)
BEIJING_EAST = (39.91, 116.45)    # 北京市 朝阳区
SHANGHAI_COAST = (31.23, 121.95)  # off the coast of 上海市 浦东新区
HONG_KONG = (22.28, 114.16)
TOKYO = (35.68, 139.69)
MID_OCEAN = (0.0, -140.0)


async def settle(bot: Bot) -> None:
    """Deliver everything queued; wait (on the clock) for the per-member pace if needed."""
    await bot.settle_paced()


def seen(bot: Bot, userid: str) -> list[str]:
    """What the member saw since the last look."""
    return bot.new_messages(userid)


async def say(bot: Bot, userid: str, text: str) -> list[str]:
    """The member types `text`; returns the texts they saw in reply."""
    return await bot.say(userid, text)


def joined(messages: Sequence[str]) -> str:
    return "\n".join(messages)


# ---- cards ----------------------------------------------------------------------------------


async def use_cards(bot: Bot, userid: str) -> None:
    """The member uses the WeCom client (sees cards) and asked for card questions."""
    await set_member(bot, userid, rendering="cards")
    member = bot.emulator.member(userid)
    assert member is not None
    member.client = CLIENT


def uses_plugin(bot: Bot, userid: str) -> bool:
    member = bot.emulator.member(userid)
    return member is None or member.client == PLUGIN


def cards(bot: Bot, userid: str) -> list[Delivered]:
    return [d for d in bot.emulator.inbox(userid) if d.msgtype == "template_card"]


def last_card(bot: Bot, userid: str) -> Delivered:
    found = cards(bot, userid)
    assert found, f"{userid} received no card"
    return found[-1]


async def tap(bot: Bot, userid: str, option: str | Sequence[str], *,
              task_id: str | None = None) -> list[str]:
    """Click `option` on the member's newest card (or card `task_id`): a button, or the
    options of a vote card and its submit button. Returns what the member saw afterwards."""
    delivered = last_card(bot, userid) if task_id is None else next(
        d for d in cards(bot, userid) if d.task_id == task_id)
    assert delivered.task_id is not None
    view = bot.emulator.card(delivered.task_id, userid)
    if view.card_type == "button_interaction":
        assert isinstance(option, str)
        result = await bot.emulator.click_button(userid, delivered.task_id, option)
    else:
        box = view.template_card["checkbox"]
        ids = [option] if isinstance(option, str) else list(option)
        result = await bot.emulator.submit_card(userid, delivered.task_id,
                                                {box["question_key"]: ids})
    assert result.status == 200, result
    await settle(bot)
    return seen(bot, userid)


async def forged_click(bot: Bot, userid: str, task_id: str, key: str, *,
                       card_type: str = "button_interaction",
                       selected: dict[str, list[str]] | None = None) -> list[str]:
    """A template_card_event built by hand, for clicks the emulated client would not allow
    (a greyed-out card, or another member's card): encrypted and signed exactly like WeCom."""
    emu = bot.emulator
    fields: list[tuple[str, Any]] = [
        ("ToUserName", emu.corp_id), ("FromUserName", userid),
        ("CreateTime", int(bot.clock.now().timestamp())), ("MsgType", "event"),
        ("Event", "template_card_event"), ("EventKey", key), ("TaskId", task_id),
        ("CardType", card_type), ("ResponseCode", secrets.token_urlsafe(32)),
        ("AgentID", emu.agent_id)]
    if selected:
        fields.append(("SelectedItems", selected_items_xml(selected)))
    params, body = emu.build_callback(xml_fields(fields))
    result = await emu.post_raw(params, body, userid=userid)
    assert result.status == 200, result
    await settle(bot)
    return seen(bot, userid)


async def pick(bot: Bot, userid: str, option: str | Sequence[str], typed: str) -> list[str]:
    """Answer a choice question: tap `option` on the card in card mode, or type `typed` (the
    option number, as a member of the WeChat plugin does)."""
    if uses_plugin(bot, userid):
        return await say(bot, userid, typed)
    return await tap(bot, userid, option)


async def enter_app(bot: Bot, userid: str, lat: float, lng: float) -> list[str]:
    results = await bot.emulator.enter_app(userid, lat, lng)
    assert all(r.status == 200 for r in results), results
    await settle(bot)
    return seen(bot, userid)


async def send_location(bot: Bot, userid: str, lat: float, lng: float, label: str = ""
                        ) -> list[str]:
    result = await bot.emulator.send_location(userid, lat, lng, label)
    assert result.status == 200, result
    await settle(bot)
    return seen(bot, userid)


async def send_event(bot: Bot, userid: str, event: str) -> list[str]:
    result = await bot.emulator.send_event(userid, event)
    assert result.status == 200, result
    await settle(bot)
    return seen(bot, userid)


# ---- the database ---------------------------------------------------------------------------


async def set_member(bot: Bot, userid: str, **fields: Any) -> None:
    async with bot.db.transaction() as session:
        await session.execute(sa.update(Member).where(Member.userid == userid).values(**fields))


async def notice_version_in_force(bot: Bot) -> int:
    """The privacy notice version members must have accepted today, read afresh (not through
    the running instance's registry, which looks at published versions every few seconds)."""
    deps = dataclasses.replace(bot.app[DEPS], forms=FormRegistry())
    now = bot.clock.now()
    async with bot.db.session() as session:
        return await privacy_notice.version_in_force(deps, session, local_date(bot.clock, now),
                                                     now)


async def accept_notice_in_force(bot: Bot) -> int:
    """Every member accepts the privacy notice in force (e.g. after a publish that asks
    something new, in tests about something else); returns its version."""
    version = await notice_version_in_force(bot)
    async with bot.db.transaction() as session:
        await accept_privacy_for_all(session, version, bot.clock.now())
    return version


async def member(bot: Bot, userid: str) -> Member:
    async with bot.db.session() as session:
        found = await session.get(Member, userid)
        assert found is not None
        return found


async def basic_info(bot: Bot, userid: str) -> BasicInfo | None:
    async with bot.db.session() as session:
        return await session.get(BasicInfo, userid)


async def conversation(bot: Bot, userid: str) -> Conversation | None:
    async with bot.db.session() as session:
        return await session.get(Conversation, userid)


async def step_of(bot: Bot, userid: str) -> str | None:
    """The question key, or "key#sub" at a LOCATION sub-step (a test-side shorthand)."""
    conv = await conversation(bot, userid)
    if conv is None:
        return None
    state = ConvState.from_json(conv.state, owner=userid)
    if state.sub is not None and state.step != "@resume":
        return f"{state.step}#{state.sub.value}"
    return state.step


async def answers_of(bot: Bot, userid: str) -> dict[str, Any]:
    conv = await conversation(bot, userid)
    assert conv is not None
    return dict(conv.state["answers"])


async def reports(bot: Bot, userid: str) -> list[DailyReport]:
    async with bot.db.session() as session:
        return list((await session.execute(
            sa.select(DailyReport).where(DailyReport.userid == userid)
            .order_by(DailyReport.report_date))).scalars())


async def report_on(bot: Bot, userid: str, day: date) -> DailyReport | None:
    return next((r for r in await reports(bot, userid) if r.report_date == day), None)


async def card_task(bot: Bot, task_id: str) -> CardTask | None:
    async with bot.db.session() as session:
        return await session.get(CardTask, task_id)


async def outbox_rows(bot: Bot, userid: str) -> list[Outbox]:
    async with bot.db.session() as session:
        return list((await session.execute(
            sa.select(Outbox).where(Outbox.touser == userid).order_by(Outbox.id))).scalars())


async def give_basic_info(bot: Bot, *userids: str) -> None:
    """Basic info stored directly, for tests about the daily report and the jobs."""
    async with bot.db.transaction() as session:
        for userid in userids:
            session.add(BasicInfo(userid=userid, name=userid, staff_no=userid,
                                  mobile="13800000000", beijing_hukou=True,
                                  member_type="student", form_version=1, answers={},
                                  submitted_at=bot.clock.now()))


# ---- whole flows ----------------------------------------------------------------------------


async def complete_basic_info(bot: Bot, userid: str, *, mobile: str = "13800000002") -> None:
    """Fill in basic info through the dialog (Beijing hukou, student)."""
    seen(bot, userid)
    await say(bot, userid, "信息")
    await pick(bot, userid, "prefill", "1")   # name from the roster
    if STAFF_NO_PREFILL.fullmatch(userid):
        await pick(bot, userid, "prefill", "1")   # the userid looks like an ID: offered
    else:
        await say(bot, userid, "2019011234")      # typed: a WeCom account is not an ID
    await say(bot, userid, mobile)
    await pick(bot, userid, "yes", "1")       # Beijing hukou
    await pick(bot, userid, "student", "1")
    out = await pick(bot, userid, "submit", "1")
    assert "基本信息已提交" in joined(out) or "Basic information submitted" in joined(out), out
    assert await basic_info(bot, userid) is not None


async def start_report_at_gps(bot: Bot, userid: str, at: tuple[float, float] = BEIJING
                              ) -> list[str]:
    """上报, then share a fresh position by entering the app; returns the confirmation seen."""
    await say(bot, userid, "上报")
    return await enter_app(bot, userid, *at)


async def healthy_answers(bot: Bot, userid: str, *, abroad: bool = False) -> list[str]:
    """on campus (not asked abroad), 36.5, no symptoms, no contact, no quarantine, no remarks
    → the summary."""
    if not abroad:
        await pick(bot, userid, "yes", "1")
    await say(bot, userid, "36.5")
    await pick(bot, userid, ["none"], "1")
    await pick(bot, userid, "no", "2")
    await pick(bot, userid, "none", "1")
    return await say(bot, userid, "无")


async def report_healthy_day(bot: Bot, userid: str, at: tuple[float, float] = BEIJING
                             ) -> list[str]:
    """A whole healthy report from GPS; returns what the member saw on submitting."""
    confirm = await start_report_at_gps(bot, userid, at)
    assert confirm, "no location confirmation"
    await pick(bot, userid, "ok", "1")
    await healthy_answers(bot, userid)
    return await pick(bot, userid, "submit", "1")


_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def chinese_only_lines(text: str, *, allowed: Sequence[str] = ()) -> list[str]:
    """Lines with Chinese and no English: the rule is Chinese first with English alongside,
    on the same line ("是 Yes") or on the following one(s) (a stacked message). `allowed`
    are data (names, units, places) removed before looking."""
    def clean(line: str) -> str:
        for data in allowed:
            line = line.replace(data, "")
        return line

    lines = [clean(line) for line in text.splitlines()]
    found = []
    for index, line in enumerate(lines):
        if not _CJK.search(line) or _LATIN.search(line):
            continue
        following = [rest for rest in lines[index + 1:] if rest.strip()]
        # A stacked message: the English half follows the Chinese lines.
        if any(_LATIN.search(rest) and not _CJK.search(rest) for rest in following):
            continue
        found.append(text.splitlines()[index])
    return found
