"""`yiqingtong demo`: the real bot and the WeCom emulator in one process, chatted with from a
terminal. No WeCom corp is needed: the emulator encrypts callbacks exactly as WeCom does and
shows what each member would see (cards as numbered choices for WeCom-client members, plain
text only for WeChat-plugin members).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from aiohttp import web
from pydantic import SecretStr

from app.emulator.api import WeComEmulator
from app.emulator.member import CardNotInteractive
from app.factory import create_app
from bot.clock import ShiftedClock, local_date
from bot.settings import DatabaseSettings, ServerSettings, Settings
from handlers.keys import CLOCK, DATABASE, SENDER
from storage import inbound
from storage.models import Member
from storage.roster import import_roster, parse_roster

DEMO_DB = "sqlite:///yiqingtong-demo.db"
#: Where the demo's log lines go (the terminal is the chat), beside its database.
DEMO_LOG = "yiqingtong-demo.log"
# Which client each demo member uses: most members use the WeChat plugin, as in the original.
DEMO_CLIENTS = {"lisi": "wecom", "wanglaoshi": "wecom"}
BEIJING_CAMPUS = (39.9523, 116.3235)  # GCJ-02, Minzu University of China
#: `/day +N` moves at most this far at once.
MAX_DAYS_AHEAD = 30

log = logging.getLogger("app.demo")


def out(line: str = "") -> None:
    """The demo is a terminal chat: one line to standard output, at once."""
    print(line, flush=True)

HELP = """Demo commands (everything else is sent to the bot as a chat message):
  /as USERID          chat as another member ({members})
  /enter [LAT LNG]    enter the app (WeCom sends enter_agent + LOCATION; default: campus)
  /loc LAT LNG [TEXT] send a location message (WeChat's location picker)
  /click N            press button N of the newest card (WeCom-client members)
  /pick N[,M…]        tick options N, M… of the newest vote card and submit
  /follow /unfollow   follow or leave the app
  /day [+N]           show the demo's date, or move it N days ahead (bot and WeCom alike)
  /who                list members and their clients
  /help               this text;  /quit  leave"""


def _coordinates(words: list[str]) -> tuple[float, float] | None:
    """LAT LNG as WGS-84 degrees, or None when they are not two numbers on the globe."""
    try:
        lat, lng = (float(w) for w in words)
    except ValueError:
        return None
    return (lat, lng) if -90 <= lat <= 90 and -180 <= lng <= 180 else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def demo_settings(base: Settings, emulator: WeComEmulator, port: int = 0) -> Settings:
    """The emulator's corp; the web pages sign in through the emulator's OAuth page."""
    database = base.database
    if database.url == DatabaseSettings().url:
        database = DatabaseSettings(url=DEMO_DB)
    web = base.web.model_copy(update={
        "public_url": f"http://127.0.0.1:{port}", "oauth_base": emulator.base_url,
        "secret": base.web.secret if base.web.secret.get_secret_value()
        else SecretStr(secrets.token_urlsafe(32))})
    return Settings(wecom=emulator.wecom_settings(), server=ServerSettings(port=port),
                    database=database, bot=base.bot, outbox=base.outbox,
                    schedule=base.schedule.model_copy(update={"enabled": False}), web=web)


class DemoSession:
    def __init__(self, emulator: WeComEmulator, app: web.Application, user: str) -> None:
        self.emulator = emulator
        self.app = app
        self.user = user
        self.seen: dict[str, int] = {}  # messages each member has read (shown as them)
        self.announced: dict[str, int] = {}  # messages counted in "(n new message(s) for …)"
        self.lock = asyncio.Lock()

    async def settle(self) -> None:
        await self.app[SENDER].drain(until_empty_timeout=10)

    async def watch(self, every: float = 1.0, rounds: int | None = None) -> None:
        """Deliver and show what becomes due while the user is typing: a reply held back by
        per-member pacing appears when it is sent, not after the next input."""
        while rounds is None or rounds > 0:
            rounds = None if rounds is None else rounds - 1
            await asyncio.sleep(every)
            async with self.lock:
                await self.settle()
                self.show_new()

    def show_new(self) -> None:
        """Print what the current member has not read yet; for the others, say how many new
        messages wait (read with /as, which shows exactly the unread ones)."""
        for userid in [self.user] + [m.userid for m in self.emulator.members
                                      if m.userid != self.user]:
            inbox = self.emulator.inbox(userid)
            if userid != self.user:
                announced = self.announced.get(userid, self.seen.get(userid, 0))
                if len(inbox) > announced:
                    unread = len(inbox) - self.seen.get(userid, 0)
                    out(f"  ({unread} new message(s) for {userid}; /as {userid} to read)")
                self.announced[userid] = len(inbox)
                continue
            fresh = inbox[self.seen.get(userid, 0):]
            self.seen[userid] = self.announced[userid] = len(inbox)
            for delivered in fresh:
                if not delivered.visible:
                    out("  [a card was sent; the WeChat plugin does not show cards]")
                    continue
                out("bot> " + delivered.text.replace("\n", "\n     "))

    def newest_card(self) -> tuple[str, dict] | None:
        for delivered in reversed(self.emulator.inbox(self.user)):
            if (delivered.msgtype == "template_card" and delivered.visible
                    and delivered.task_id and not (delivered.card and delivered.card.disabled)):
                return delivered.task_id, delivered.body.get("template_card", delivered.body)
        return None

    async def _handle(self, line: str) -> bool:
        words = line.split()
        command = words[0].lower() if words else ""
        emu = self.emulator
        if command in ("/quit", "/exit"):
            return False
        if command == "/help":
            out(HELP.format(members=", ".join(m.userid for m in emu.members)))
        elif command == "/who":
            for m in emu.members:
                out(f"  {m.userid:12} {m.name}  ({m.client})")
        elif command == "/as" and len(words) == 2:
            if emu.member(words[1]) is None:
                out(f"  no member {words[1]!r}")
            else:
                self.user = words[1]
                unread = len(emu.inbox(self.user)) - self.seen.get(self.user, 0)
                out(f"  you are {self.user} ({unread} unread message(s))")
                self.show_new()
        elif command == "/enter":
            point = _coordinates(words[1:3]) if len(words) >= 3 else BEIJING_CAMPUS
            if point is None:
                out("  usage: /enter [LAT LNG], e.g. /enter 39.95 116.32")
                return True
            await emu.enter_app(self.user, *point)
        elif command == "/loc":
            point = _coordinates(words[1:3])
            if point is None:
                out("  usage: /loc LAT LNG [TEXT], e.g. /loc 39.95 116.32 中关村")
                return True
            await emu.send_location(self.user, *point, " ".join(words[3:]))
        elif command == "/click" and len(words) == 2 and words[1].isdigit():
            newest = self.newest_card()
            buttons = (newest[1].get("button_list") or []) if newest else []
            index = int(words[1]) - 1
            if not newest or not 0 <= index < len(buttons):
                out("  no such button on the newest card")
            else:
                await emu.click_button(self.user, newest[0], buttons[index]["key"])
        elif command == "/pick" and len(words) == 2:
            newest = self.newest_card()
            box = newest[1].get("checkbox") if newest else None
            try:
                picks = [int(n) - 1 for n in words[1].split(",")]
                options = box["option_list"] if box else []
                ids = [options[i]["id"] for i in picks]
            except (ValueError, IndexError, KeyError, TypeError):
                out("  /pick needs option numbers of the newest vote card")
                return True
            assert newest is not None and box is not None
            await emu.submit_card(self.user, newest[0], {box["question_key"]: ids})
        elif command == "/day" and len(words) <= 2:
            clock = self.app[CLOCK]
            if len(words) == 2 and not isinstance(clock, ShiftedClock):
                out("  this demo's clock cannot move")
                return True
            if len(words) == 2 and isinstance(clock, ShiftedClock):
                try:
                    days = int(words[1])
                except ValueError:
                    days = 0
                if not 1 <= days <= MAX_DAYS_AHEAD:
                    out(f"  /day +N moves the date 1 to {MAX_DAYS_AHEAD} days ahead")
                    return True
                clock.offset += timedelta(days=days)
            today = local_date(clock)
            ahead = clock.offset.days if isinstance(clock, ShiftedClock) else 0
            out(f"  demo date {today.isoformat()} ({today.strftime('%a')})"
                + (f", {ahead} day(s) ahead of the real one" if ahead else ""))
        elif command == "/follow":
            await emu.send_event(self.user, "subscribe")
        elif command == "/unfollow":
            await emu.send_event(self.user, "unsubscribe")
        elif command.startswith("/"):
            out("  unknown demo command; /help lists them")
        elif line.strip():
            await emu.send_text(self.user, line)
        await self.settle()
        self.show_new()
        return True

    async def handle(self, line: str) -> bool:
        try:
            async with self.lock:
                return await self._handle(line)
        except CardNotInteractive as exc:
            out(f"  cannot click: {exc}")
            return True


async def run_demo(base: Settings, *, as_user: str | None = None,
                   script: str | None = None, log_path: str | None = None) -> int:
    # One clock for the bot and the emulator (callback timestamps, tokens), moved by /day.
    clock = ShiftedClock(base.schedule.tz)
    emulator = WeComEmulator(clock=clock)
    await emulator.start()
    port = free_port()  # known before the app starts: the pages' OAuth redirect names it
    settings = demo_settings(base, emulator, port)
    app = create_app(settings, clock=clock, run_sender=False)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    port = runner.addresses[0][1]
    emulator.callback_url = f"http://127.0.0.1:{port}{settings.server.callback_path}"
    try:
        roster = resources.files("app.demo").joinpath("roster.csv").read_bytes()
        rows = parse_roster(roster)
        async with app[DATABASE].transaction() as session:
            await import_roster(session, rows, now=datetime.now().astimezone(), actor="demo")
        async with app[DATABASE].transaction() as session:
            # WeCom-client members see cards; the WeChat-plugin members keep plain text.
            await session.execute(sa.update(Member).where(Member.userid.in_(
                [u for u, client in DEMO_CLIENTS.items() if client == "wecom"]))
                .values(rendering="cards"))
        async with app[DATABASE].session() as session:
            latest = await inbound.latest_received(session)
        if latest is not None and latest > clock.now():
            # The database was used with /day +N: go on from its date, never back in time
            # (the bot would take the stored day for a new one and reopen it).
            ahead = local_date(clock, latest) - local_date(clock)
            clock.offset = timedelta(days=ahead.days)
            out(f"  the demo database was used {ahead.days} day(s) ahead of today: the demo "
                f"date continues at {local_date(clock).isoformat()}")
        for row in rows:
            emulator.add_member(row.userid, row.name, client=DEMO_CLIENTS.get(
                row.userid, "wechat_plugin"))
        user = as_user or "zhangsan"
        if emulator.member(user) is None:
            out(f"no demo member {user!r}; members: "
                   + ", ".join(m.userid for m in emulator.members))
            return 2
        out(f"yiqingtong demo — bot at {emulator.callback_url}, WeCom emulator at "
               f"{emulator.base_url}, database {settings.database.url}")
        if settings.web.enabled:
            out(f"In a browser: member page {settings.web.public_url}/h5/ , reviewer dashboard "
                f"{settings.web.public_url}/dashboard/ (sign in by picking a member on the "
                "emulator's WeCom page; wanglaoshi reviews)")
        if log_path:
            out(f"Server log lines go to {log_path}, not into this chat.")
        log.info("demo started: bot at %s, database %s", emulator.callback_url,
                 settings.database.url)
        out(HELP.format(members=", ".join(m.userid for m in emulator.members)))
        session = DemoSession(emulator, app, user)
        out(f"\nYou are {user}. Try: 上报  (or: report, 帮助, English)")
        lines = Path(script).read_text(encoding="utf-8").splitlines() if script else None
        loop = asyncio.get_running_loop()
        watcher = asyncio.create_task(session.watch(), name="demo-watch")
        while True:
            if lines is not None:
                if not lines:
                    break
                line = lines.pop(0)
                out(f"[{session.user}]> {line}")
            else:
                try:
                    line = await loop.run_in_executor(None, input, f"[{session.user}]> ")
                except EOFError:
                    break
            if not await session.handle(line.strip()):
                break
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    finally:
        await runner.cleanup()
        await emulator.close()
    return 0
