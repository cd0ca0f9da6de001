"""The `yiqingtong` command line (also `python -m app`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from app.console import err as _err
from app.console import out as _out
from bot.settings import ConfigError, Settings, load_settings

log = logging.getLogger("app.cli")

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    settings.require_wecom()
    from aiohttp import web

    from app.factory import create_app

    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, settings.server.host, settings.server.port)
    await site.start()
    _out(f"yiqingtong serving http://{settings.server.host}:{settings.server.port}"
         f"{settings.server.callback_path}")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
    return 0


async def cmd_roster_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.clock import SystemClock
    from storage.db import Database
    from storage.roster import RosterError, import_roster, read_roster_file

    try:
        rows = read_roster_file(Path(args.file))
    except RosterError as exc:
        for problem in exc.problems[:50]:
            _err(f"{args.file}: {problem}")
        if len(exc.problems) > 50:
            _err(f"... and {len(exc.problems) - 50} more problems")
        _err("nothing was imported")
        return 2
    db = Database(settings.database.url)
    try:
        await db.create_schema()
        async with db.transaction() as session:
            result = await import_roster(session, rows,
                                         now=SystemClock(settings.schedule.tz).now(),
                                         source=str(args.file))
    except RosterError as exc:
        for problem in exc.problems:
            _err(f"{args.file}: {problem}")
        _err("nothing was imported")
        return 2
    finally:
        await db.dispose()
    _out(f"imported {len(rows)} rows: {result.members_added} members added, "
         f"{result.members_updated} updated, {result.units_added} units added, "
         f"{result.reviewer_assignments} reviewer assignments added")
    return 0


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from app.demo import run_demo

    if not args.verbose:  # the terminal is the chat: keep the server's log lines out of it
        logging.getLogger().setLevel(logging.WARNING)

    return await run_demo(settings, as_user=args.as_user, script=args.script)


def app_menu(lang: str) -> dict[str, Any]:
    """The app menu: click keys are the English command words, so a click is a command."""
    from bot import catalog

    def click(key: str) -> dict[str, str]:
        return {"type": "click", "name": catalog.side_by_side(f"menu.{key}", lang), "key": key}

    return {"button": [
        click("report"), click("status"),
        {"name": catalog.side_by_side("menu.more", lang),
         "sub_button": [click("info"), click("help"), click("text"), click("cards")]},
    ]}


async def cmd_menu(args: argparse.Namespace, settings: Settings) -> int:
    import aiohttp

    from bot.clock import SystemClock
    from bot.wecom.client import MemoryTokenStore, WeComClient
    from bot.wecom.errors import WeComError

    settings.require_wecom()
    async with aiohttp.ClientSession() as http:
        client = WeComClient(http, settings.wecom, MemoryTokenStore(),
                             SystemClock(settings.schedule.tz))
        try:
            await client.create_menu(app_menu(settings.bot.default_language))
        except WeComError as exc:
            _err(f"menu not created: WeCom errcode {exc.errcode} ({exc.errmsg})")
            return 1
    _out("app menu created: 上报 | 状态 | 更多 (基础信息, 帮助, 文字提问, 卡片提问)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yiqingtong", description=__doc__)
    parser.add_argument("--config", help="settings file (default: $YQT_CONFIG or settings.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the callback server and the outbox sender")
    serve.set_defaults(run=cmd_serve)

    demo = sub.add_parser("demo", help="chat with the bot in the terminal (SQLite + emulator)")
    demo.add_argument("--as", dest="as_user", default=None, help="start as this userid")
    demo.add_argument("--script", default=None,
                      help="read lines from this file instead of the terminal")
    demo.set_defaults(run=cmd_demo)

    menu = sub.add_parser("menu", help="create the app menu in WeCom (上报, 状态, 更多)")
    menu.set_defaults(run=cmd_menu)

    roster = sub.add_parser("roster", help="roster management")
    roster_sub = roster.add_subparsers(dest="roster_command", required=True)
    rimport = roster_sub.add_parser("import", help="import a CSV roster (UTF-8 or GBK)")
    rimport.add_argument("file")
    rimport.set_defaults(run=cmd_roster_import)

    from app import jobs_cli, ops, trust_ops

    ops.register(sub, roster_sub)
    trust_ops.register(sub)
    jobs_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
        return asyncio.run(args.run(args, settings))
    except ConfigError as exc:
        _err(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130
