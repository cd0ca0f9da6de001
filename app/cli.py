"""The `yiqingtong` command line (also `python -m app`): the whole command tree in one module.

Each command is a thin shell around the functions below it (storage/, scheduler/, the WeCom
client): it parses, prints and picks the exit code — 0 done, 1 WeCom or the environment failed
(or `check` found a problem), 2 the input was wrong and nothing was changed. Every command that
needs the database opens it with `open_database`, which creates or upgrades the schema first.

This module and the terminal demo are the programs that talk to a terminal, so they print
(ruff's T20 rule is lifted for them in pyproject.toml).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from app.demo import DEMO_LOG, run_demo
from app.factory import create_app
from bot import catalog, logs
from bot.conversation import form_files
from bot.clock import Clock, SystemClock, local_date, local_time_text
from bot.settings import ConfigError, Settings, load_settings
from bot.wecom.client import MemoryTokenStore, WeComClient
from bot.wecom.errors import InvalidRecipientError, WeComError
from handlers.context import new_id
from handlers.notices import check_fits, send_notice
from handlers.sender import OutboxSender
from handlers.unit_day import LateError, file_late_copy
from scheduler.jobs import ALIASES, JOBS, JobDeps, is_skip_day, run_job, scheduled_time
from storage import audit, form_versions
from storage import members as members_repo
from storage import outbox as outbox_repo
from storage.corrections import CorrectionError, add_reviewer, correct_basic_info, parse_value
from storage.db import Database, open_database
from storage.exemptions import ExemptionError, add_exemption
from storage.export import (
    CsvExport,
    ExportError,
    ExportRow,
    XlsxExport,
    check_range,
    export_columns,
    iter_export_days,
    scope_units,
)
from storage.models import Member
from storage.notices import NoticeError, notice_status, parse_notice
from storage.privacy import PrivacyError, erase_member, export_member
from storage.roster import (
    OPTIONAL,
    REQUIRED,
    ROLES,
    RosterError,
    all_problems,
    import_roster,
    read_roster_file,
)
from storage.sync import SyncError, sync_directory
from storage.tokens import DbTokenStore
from storage.trends import MAX_TREND_DAYS, sparkline, unit_trend

log = logging.getLogger("app.cli")

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]

#: Directories smaller than this sync without a progress display.
PROGRESS_THRESHOLD = 1000

#: One line per WeCom errcode an operator can fix: what is wrong and where to fix it.
FIXES: dict[int, str] = {
    40001: "wecom.secret is wrong: copy this app's Secret (应用管理 → the app → Secret) into "
           "wecom.secret or YQT_WECOM__SECRET",
    40091: "wecom.secret is malformed: copy this app's Secret (应用管理 → the app → Secret) "
           "into wecom.secret or YQT_WECOM__SECRET",
    40013: "wecom.corp_id is wrong: copy 企业ID from 我的企业 → 企业信息 into wecom.corp_id or "
           "YQT_WECOM__CORP_ID",
    60020: "this server's IP is not trusted: add its public IP under 应用管理 → the app → "
           "企业可信IP (WeCom names the IP in the message above)",
    40056: "wecom.agent_id is wrong: copy the AgentId shown with this app's Secret (应用管理 → "
           "the app) into wecom.agent_id or YQT_WECOM__AGENT_ID",
    301002: "wecom.agent_id belongs to another app than wecom.secret: take the AgentId and the "
            "Secret from the same app (应用管理 → the app)",
    48002: "the app may not call this API: enable it under 应用管理 → the app → API permissions",
    60011: "the app may not see these contacts: widen its visible range (可见范围) under "
           "应用管理 → the app",
}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PUBLIC_URL_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s?#]*)?$")
_PROBE_USERID = "yiqingtong-check-probe"

ROSTER_COLUMNS = f"""\
CSV columns (a header row names them; any order):
  {", ".join(REQUIRED)}   required
  {", ".join(OPTIONAL)}   optional
role is one of {", ".join(ROLES)}; parent_unit builds the unit tree (college → class);
reviews lists (;-separated) the units a reviewer reviews (default: their own unit).
Encodings: UTF-8, UTF-8 with BOM or GBK. Every row is checked first: one bad row and nothing
is imported. A roster member counts as following the app until WeCom sends unsubscribe."""


# ---- shared ----------------------------------------------------------------------------------


def _out(line: str = "") -> None:
    print(line, flush=True)


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _clock(args: argparse.Namespace, settings: Settings) -> Clock:
    """The system clock; tests put a fixed one on `args.clock`."""
    return getattr(args, "clock", None) or SystemClock(settings.schedule.tz)


def iso_date(text: str) -> date:
    """argparse type for YYYY-MM-DD (exactly that shape, a real calendar day)."""
    if _DATE_RE.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD, "
                                     "e.g. 2026-11-30")


def fix_for(error: Exception) -> str | None:
    code = getattr(error, "errcode", None)
    return FIXES.get(code) if isinstance(code, int) else None


def _describe_wecom(error: Exception) -> str:
    if isinstance(error, WeComError):
        if error.http_status is not None and error.http_status != 200:
            return f"HTTP {error.http_status} from {error.api}"
        if error.errcode == -1:
            return f"{error.errmsg} calling {error.api}"
        return f"errcode {error.errcode} from {error.api}: {error.errmsg}"
    return f"{type(error).__name__}: {error}"


@contextmanager
def progress_display(label: str, console: Console | None = None
                     ) -> Iterator[Callable[[int, int], None]]:
    """`progress(done, total)` for long runs, drawn by rich on standard error. Runs under
    PROGRESS_THRESHOLD items show nothing; away from a terminal rich prints the final state
    once, so log files stay short."""
    console = console or Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console) as progress:
        task = None

        def update(done: int, total: int) -> None:
            nonlocal task
            if total < PROGRESS_THRESHOLD:
                return
            if task is None:
                task = progress.add_task(label, total=total)
            progress.update(task, completed=done, total=total)

        yield update


# ---- serve, demo, menu -----------------------------------------------------------------------


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    settings.require_wecom()
    if args.workers > 1:
        return await _serve_workers(args, settings)
    # No per-request access log line by default (a hot path at the morning peak).
    access_log = logging.getLogger("aiohttp.access") if args.access_log else None
    runner = web.AppRunner(create_app(settings), handle_signals=True, access_log=access_log)
    await runner.setup()
    site = web.TCPSite(runner, settings.server.host, settings.server.port,
                       reuse_port=args.reuse_port or None)
    await site.start()
    # What startup built (modules, the catalog and forms, SQLAlchemy's mappings, the geocoder's
    # regions) lives as long as the process: out of the collector's way. Otherwise every full
    # collection walks these ~150,000 objects again, and at the morning peak that stopped each
    # worker for 80-100 ms every ten seconds or so (yqt_gc_pause_seconds).
    gc.collect()
    gc.freeze()
    _out(f"yiqingtong serving http://{settings.server.host}:{settings.server.port}"
         f"{settings.server.callback_path}" + (f" (pid {os.getpid()})" if args.reuse_port
                                              else ""))
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
    return 0


async def _serve_workers(args: argparse.Namespace, settings: Settings) -> int:
    """N server processes on one port (SO_REUSEPORT: the kernel spreads the connections), each
    with its own event loop and connection pool; PostgreSQL only (SQLite has one writer). The
    scheduler stays one: every worker runs the election, one wins the advisory lock. A worker
    that exits is started again; SIGTERM/SIGINT stop them all."""
    if not settings.database.url.startswith(("postgres://", "postgresql")):
        _err("--workers needs PostgreSQL (database.url): SQLite has one writer")
        return 2
    command = [sys.executable, "-m", "app"] + (["--config", args.config] if args.config
                                               else []) + (["-v"] if args.verbose else [])
    command += ["serve", "--workers", "1", "--reuse-port"] + (["--access-log"]
                                                              if args.access_log else [])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def worker(n: int) -> None:
        while not stop.is_set():
            proc = await asyncio.create_subprocess_exec(*command)
            waiter = asyncio.create_task(proc.wait())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                if proc.returncode is None:
                    proc.terminate()
                    try:
                        await asyncio.wait_for(proc.wait(), 15)
                    except TimeoutError:
                        proc.kill()
                        await proc.wait()
                waiter.cancel()
                return
            stopper.cancel()
            _err(f"worker {n} exited ({proc.returncode}); starting it again")
            await asyncio.sleep(1)

    _out(f"yiqingtong: {args.workers} workers on port {settings.server.port}")
    await asyncio.gather(*(worker(n) for n in range(args.workers)))
    return 0


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    # The terminal is the chat: every log line (errors too) goes to a file beside the demo's
    # database instead, named in the banner.
    logs.configure(settings.log, verbose=args.verbose, path=DEMO_LOG)
    return await run_demo(settings, as_user=args.as_user, script=args.script, log_path=DEMO_LOG)


def app_menu(lang: str) -> dict[str, Any]:
    """The app menu: click keys are the English command words, so a click is a command."""

    def click(key: str) -> dict[str, str]:
        return {"type": "click", "name": catalog.side_by_side(f"menu.{key}", lang), "key": key}

    return {"button": [
        click("report"), click("status"),
        {"name": catalog.side_by_side("menu.more", lang),
         "sub_button": [click("info"), click("help"), click("text"), click("cards")]},
    ]}


async def cmd_menu(args: argparse.Namespace, settings: Settings) -> int:
    settings.require_wecom()
    async with aiohttp.ClientSession() as http:
        client = WeComClient(http, settings.wecom, MemoryTokenStore(),
                             SystemClock(settings.schedule.tz))
        try:
            await client.create_menu(app_menu(settings.bot.default_language))
        except WeComError as exc:
            _err(f"menu not created: WeCom errcode {exc.errcode} ({exc.errmsg})")
            return 1
    _out("app menu created: 上报 | 状态 | 更多 (基本信息, 帮助, 文字提问, 卡片提问)")
    return 0


# ---- roster ----------------------------------------------------------------------------------


def _roster_problems(file: str, problems: Sequence[str], limit: int | None = None) -> int:
    for problem in problems[:limit]:
        _err(f"{file}: {problem}")
    if limit is not None and len(problems) > limit:
        _err(f"... and {len(problems) - limit} more problems")
    _err("nothing was imported")
    return 2


async def cmd_roster_import(args: argparse.Namespace, settings: Settings) -> int:
    try:
        rows = read_roster_file(Path(args.file))
    except RosterError as exc:
        problems = exc.problems
        if exc.rows:  # the unit problems of the valid rows too, in one go
            async with open_database(settings.database.url) as db, db.session() as session:
                problems = await all_problems(session, exc)
        return _roster_problems(args.file, problems, limit=50)
    try:
        async with open_database(settings.database.url) as db, db.transaction() as session:
            result = await import_roster(session, rows, now=_clock(args, settings).now(),
                                         source=str(args.file))
    except RosterError as exc:
        return _roster_problems(args.file, exc.problems)
    _out(f"imported {len(rows)} rows: {result.members_added} members added, "
         f"{result.members_updated} updated, {result.units_added} units added, "
         f"{result.reviewer_assignments} reviewer assignments added")
    return 0


async def cmd_roster_sync(args: argparse.Namespace, settings: Settings) -> int:
    wecom = settings.wecom
    missing = [k for k, present in (("wecom.corp_id", bool(wecom.corp_id)),
                                    ("wecom.secret", bool(wecom.secret.get_secret_value())))
               if not present]
    if missing:
        raise ConfigError(f"config error: roster sync needs {' and '.join(missing)} "
                          "(settings.toml or YQT_WECOM__...)")
    clock = _clock(args, settings)
    try:
        with progress_display("roster sync") as progress:
            async with open_database(settings.database.url) as db, \
                    aiohttp.ClientSession() as http:
                client = WeComClient(http, wecom, DbTokenStore(db), clock)
                result = await sync_directory(db, client, now=clock.now(),
                                              progress=progress, source=wecom.corp_id)
    except WeComError as exc:
        _err(f"roster sync failed: {_describe_wecom(exc)}; nothing was changed")
        fix = fix_for(exc)
        if fix:
            _err(f"fix: {fix}")
        return 1
    except SyncError as exc:
        _err(f"roster sync: {exc}")
        return 1
    _out(f"synced {result.members_seen} members from {result.departments} departments: "
         f"{result.members_added} added, {result.members_updated} updated, "
         f"{result.members_deactivated} marked inactive; units {result.units_added} added, "
         f"{result.units_updated} updated")
    return 0


async def cmd_reviewer_add(args: argparse.Namespace, settings: Settings) -> int:
    clock = _clock(args, settings)
    try:
        async with open_database(settings.database.url) as db, db.transaction() as session:
            result = await add_reviewer(session, args.userid, args.unit, now=clock.now())
    except CorrectionError as exc:
        _err(f"reviewer add: {exc}; nothing was changed")
        return 2
    who = f"{result.member.userid} ({result.member.name})"
    if not result.added and not result.promoted:
        _out(f"{who} already reviews {result.unit.id}; nothing was changed")
        return 0
    role = " and is now a reviewer" if result.promoted else ""
    _out(f"{who} reviews {result.unit.id} and every unit below it{role}")
    return 0


# ---- export ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportPlan:
    """What `export` was asked for, checked before the database is opened."""

    start: date
    end: date
    fmt: str
    output: Path | None


def plan_export(args: argparse.Namespace, today: date) -> ExportPlan | str:
    """The export's range and format, or the message that explains why the options are wrong."""
    if args.to_date is not None and args.from_date is None:
        return "--to needs --from (or use --date for one day)"
    start = args.from_date or args.date or today
    end = args.to_date or (args.from_date and today) or args.date or today
    fmt = args.format or ("xlsx" if args.output and args.output.lower().endswith(".xlsx")
                          else "csv")
    if args.sheet_per_unit and fmt != "xlsx":
        return "--sheet-per-unit needs --format xlsx"
    if fmt == "xlsx" and args.output is None and sys.stdout.isatty():
        return "an xlsx export needs --output PATH (or redirect standard output to a file)"
    try:
        check_range(start, end, today)
    except ExportError as exc:
        return f"export: {exc}; nothing was exported"
    return ExportPlan(start, end, fmt, Path(args.output) if args.output else None)


class _Writer(Protocol):
    rows: int

    def write(self, rows: Sequence[ExportRow]) -> None: ...


async def _write_days(writer: _Writer, first: list[ExportRow],
                      days: AsyncIterator[list[ExportRow]]) -> int:
    writer.write(first)
    async for day_rows in days:
        writer.write(day_rows)
    return writer.rows


@contextmanager
def _staging_file(fmt: str, directory: Path | None) -> Iterator[Path]:
    """A temporary file beside the output: the export appears whole or not at all."""
    fd, name = tempfile.mkstemp(prefix=".yqt-export-", suffix=f".{fmt}", dir=directory)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


async def write_export(db: Database, plan: ExportPlan, args: argparse.Namespace,
                       settings: Settings) -> int:
    """Write the export to `plan.output` (or standard output); the number of rows."""
    async with db.session() as session:
        days = iter_export_days(session, plan.start, plan.end, args.unit,
                                include_below=not args.no_subunits, tz=settings.schedule.tz)
        first = await anext(days)  # an unknown unit fails here, before any file exists
        columns = await export_columns(session, plan.start, plan.end)  # per form version
        if plan.fmt == "csv" and plan.output is None:
            rows = await _write_days(CsvExport(sys.stdout, columns), first, days)
            sys.stdout.flush()
            return rows
        with _staging_file(plan.fmt, plan.output.parent if plan.output else None) as staging:
            if plan.fmt == "csv":
                with staging.open("w", encoding="utf-8-sig", newline="") as stream:
                    rows = await _write_days(CsvExport(stream, columns), first, days)
            else:
                title = plan.start.isoformat() if plan.start == plan.end else \
                    f"{plan.start.isoformat()}..{plan.end.isoformat()}"
                xlsx = XlsxExport(staging, sheet_per_unit=args.sheet_per_unit, title=title,
                                  columns=columns)
                rows = await _write_days(xlsx, first, days)
                xlsx.close()
            if plan.output is not None:
                os.replace(staging, plan.output)
            else:
                with staging.open("rb") as source:
                    shutil.copyfileobj(source, sys.stdout.buffer)
                sys.stdout.flush()
        return rows


async def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    clock = _clock(args, settings)
    plan = plan_export(args, local_date(clock))
    if isinstance(plan, str):
        _err(plan)
        return 2
    try:
        async with open_database(settings.database.url) as db:
            rows = await write_export(db, plan, args, settings)
            async with db.transaction() as session:
                audit.record(
                    session, at=clock.now(), actor="cli", action=audit.AuditAction.EXPORT,
                    target=args.unit or "*",
                    detail={"from": plan.start.isoformat(), "to": plan.end.isoformat(),
                            "unit": args.unit, "subunits": not args.no_subunits,
                            "format": plan.fmt, "sheet_per_unit": bool(args.sheet_per_unit),
                            "rows": rows, "output": str(plan.output) if plan.output else "-"})
    except ExportError as exc:
        _err(f"export: {exc}; nothing was exported")
        return 2
    if plan.output is not None:
        _err(f"exported {rows} rows ({plan.start.isoformat()} to {plan.end.isoformat()}) "
             f"to {plan.output}")
    return 0


# ---- check -----------------------------------------------------------------------------------


def callback_url(settings: Settings, public_url: str | None) -> str:
    if public_url:
        return public_url.rstrip("/") + settings.server.callback_path
    host = settings.server.host
    return f"http://{host}:{settings.server.port}{settings.server.callback_path}"


async def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    if args.public_url and not _PUBLIC_URL_RE.match(args.public_url):
        _err(f"--public-url {args.public_url!r} is not a URL such as https://yqt.example.edu.cn")
        return 2
    problems = 0

    def report(what: str, ok: bool, detail: str = "", fix: str | None = None) -> None:
        nonlocal problems
        problems += not ok
        status = "ok" if ok else "FAILED"
        _out(f"{what:<14} {status}{': ' + detail if detail else ''}")
        if fix:
            _out(f"{'':<14} fix: {fix}")

    wecom = settings.wecom
    try:
        settings.require_wecom()
        report("config", True, f"corp {wecom.corp_id}, agent {wecom.agent_id}")
    except ConfigError as exc:
        report("config", False, str(exc).removeprefix("config error: "),
               "set them as said above (secrets in the environment only) and run check again")

    if wecom.corp_id and wecom.secret.get_secret_value():
        async with aiohttp.ClientSession() as http:
            client = WeComClient(http, wecom, MemoryTokenStore(), _clock(args, settings))
            try:
                await client.gettoken()
            except WeComError as exc:
                report("gettoken", False, _describe_wecom(exc),
                       fix_for(exc) or f"check wecom.api_base ({wecom.api_base}) and the "
                       "network between this server and WeCom")
            else:
                report("gettoken", True, "corp id and secret accepted")
                if wecom.agent_id > 0:
                    try:
                        await client.send_message(
                            [_PROBE_USERID],
                            {"msgtype": "text", "text": {"content": "yiqingtong check"}})
                    except InvalidRecipientError:
                        report("agent id", True, f"{wecom.agent_id} belongs to this secret")
                    except WeComError as exc:
                        report("agent id", False, _describe_wecom(exc), fix_for(exc))
                    else:
                        report("agent id", True, f"{wecom.agent_id} belongs to this secret")
    await _check_database(settings, report)
    for warning in schedule_warnings(settings):
        _out(f"{'warning':<14} {warning}")

    token = wecom.token.get_secret_value()
    aes_key = wecom.encoding_aes_key.get_secret_value()
    if token and aes_key:
        _out("")
        _out("Paste into the WeCom admin console (应用管理 → the app → 接收消息 → 设置API接收):")
        _out(f"  URL             {callback_url(settings, args.public_url)}")
        _out(f"  Token           {token}")
        _out(f"  EncodingAESKey  {aes_key}")
        if not args.public_url:
            _out("  (the URL is this server's own address; WeCom must reach it from the "
                 "internet: pass --public-url https://your.host for the address behind your "
                 "proxy)")
        _out("Start `yiqingtong serve` before saving: WeCom verifies the URL at once.")
    _out("")
    _out("Members on the WeChat plugin (微工作台): if 「在微工作台中始终进入主页」 is on "
         "(我的企业 → 微信插件), WeChat shows them only the first 20 bytes of each text — about "
         "6 Chinese characters — so questions and receipts are cut off. Leave it off.")
    _out("")
    _out("everything is fine" if not problems else
         f"{problems} problem{'s' if problems != 1 else ''} found")
    return 0 if not problems else 1


def schedule_warnings(settings: Settings) -> list[str]:
    """Job times on the hour or the half hour: WeCom's docs call those minutes congested."""
    warnings = []
    schedule = settings.schedule
    for job in ("morning_reminder", "second_reminder", "reviewer_digest", "admin_summary",
                "basic_info_reminder", "housekeeping"):
        at = str(getattr(schedule, job))
        if at.endswith((":00", ":30")):
            warnings.append(f"schedule.{job} = {at} falls on :00 or :30, when WeCom is busiest "
                            "(its docs advise against them); move it a few minutes, e.g. "
                            f"{at[:-2]}{'05' if at.endswith(':00') else '35'}")
    return warnings


async def _check_database(settings: Settings, report: Any) -> None:
    """Only connect: `check` must not create tables in a database it was pointed at by mistake."""
    db = Database(settings.database.url)
    try:
        async with db.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        report("database", True, db.engine.dialect.name)
    except Exception as exc:  # noqa: BLE001 - any failure is reported, with its type
        first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
        report("database", False, f"{type(exc).__name__}: {first_line}",
               "check database.url (YQT_DATABASE__URL) and that the server is running")
    finally:
        await db.dispose()


# ---- admin correct ---------------------------------------------------------------------------


async def cmd_admin_correct(args: argparse.Namespace, settings: Settings) -> int:
    clock = _clock(args, settings)
    today = local_date(clock)
    by = "cli" if args.by is None else args.by.strip()
    if not by or len(by) > 64:
        _err("--by must be a name of 1 to 64 characters")
        return 2
    if args.reason is not None and len(args.reason) > 200:
        _err("--reason must be at most 200 characters")
        return 2
    try:
        parse_value(args.field, args.value, today)  # bad input fails before the database
        async with open_database(settings.database.url) as db, db.transaction() as session:
            result = await correct_basic_info(session, args.userid, args.field, args.value,
                                              now=clock.now(), today=today, by=by,
                                              reason=args.reason)
    except CorrectionError as exc:
        _err(f"admin correct: {exc}; nothing was changed")
        return 2
    if not result.changed:
        _out(f"{args.userid}: {result.field} is already {result.new!r}; nothing was changed")
        return 0
    _out(f"{args.userid}: {result.field} changed from {result.old!r} to {result.new!r} "
         f"(by {by}, audited)")
    for field, old in result.also_cleared.items():
        _out(f"{args.userid}: {field} cleared (was {old!r}): a Beijing hukou has no household "
             "address")
    if result.field == "beijing_hukou" and result.new is False:
        _out(f"{args.userid}: now set hukou_address with `yiqingtong admin correct "
             f"{args.userid} hukou_address ADDRESS`")
    return 0


# ---- jobs ------------------------------------------------------------------------------------


def next_run(settings: Settings, job: str, now: datetime) -> datetime:
    day = now.astimezone(settings.schedule.tz).date()
    for offset in range(0, 400):
        candidate = day + timedelta(days=offset)
        at = scheduled_time(settings, job, candidate)
        if at > now and not is_skip_day(settings, candidate, job):
            return at
    raise ValueError(f"job {job} never runs: every day is a skip day")


async def cmd_jobs_list(args: argparse.Namespace, settings: Settings) -> int:
    now = _clock(args, settings).now()
    state = "enabled" if settings.schedule.enabled else "disabled ([schedule] enabled = false)"
    _out(f"scheduler {state}; time zone {settings.schedule.timezone}")
    for job in JOBS:
        at = next_run(settings, job, now).strftime("%Y-%m-%d %H:%M %Z")
        _out(f"{job:22} next run {at}")
    return 0


async def cmd_jobs_run(args: argparse.Namespace, settings: Settings) -> int:
    name = ALIASES.get(args.name, args.name)
    if name not in JOBS:
        _err(f"unknown job {args.name!r}; known: remind, summary, {', '.join(JOBS)}")
        return 2
    settings.require_wecom()
    clock = _clock(args, settings)
    async with open_database(settings.database.url) as db:
        result = await run_job(JobDeps(settings, db, clock), name, instance="cli")
        if result.skipped_day:
            _out(f"{result.day} is a skip day; nothing to do")
            return 0
        _out(f"{name}: {result.enqueued} messages queued for {result.day}")
        async with aiohttp.ClientSession() as http:
            client = WeComClient(http, settings.wecom, DbTokenStore(db), clock)
            sender = OutboxSender(db, client, settings.outbox, clock)
            total = max(result.enqueued, 1)
            while True:
                stats = await sender.drain(until_empty_timeout=5)
                async with db.session() as session:
                    left = await outbox_repo.pending_count(session)
                done = sender.totals.sent + sender.totals.dead + sender.totals.skipped
                _out(f"  delivered {sender.totals.sent}, skipped {sender.totals.skipped}, "
                     f"dead {sender.totals.dead}, {sender.totals.api_calls} API calls "
                     f"({min(100, 100 * done // total)}%)")
                if left == 0 or not (stats.api_calls or stats.skipped or stats.dead):
                    break
    if left:
        _out(f"{left} messages are waiting (paced or retrying); `serve` delivers them")
    return 0


# ---- outbox and privacy ----------------------------------------------------------------------


def mask_id(value: str) -> str:
    """A userid or staff number shortened for logs and listings: `zh***an`."""
    if len(value) <= 4:
        return value[:1] + "***"
    return value[:2] + "***" + value[-2:]


async def cmd_outbox_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.database.url) as db, db.session() as session:
        counts = await outbox_repo.counts_by_status(session)
        status = outbox_repo.OutboxStatus.DEAD if args.dead else (
            outbox_repo.OutboxStatus(args.status) if args.status else None)
        rows = await outbox_repo.list_rows(session, status=status, limit=args.limit)
    _out("outbox: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for row in rows:
        # The recipient is masked and the content is not shown: this is for operators.
        _out(f"#{row.id} {row.status} {row.kind} to {mask_id(row.touser)} "
             f"attempts {row.attempts} created {row.created_at:%Y-%m-%d %H:%M:%S}Z"
             f"{' — ' + row.last_error if row.last_error else ''}")
    if args.dead and rows:
        _out("re-send with: yiqingtong outbox retry ID... (or --all)")
    return 0


async def cmd_outbox_retry(args: argparse.Namespace, settings: Settings) -> int:
    if not args.ids and not args.all:
        _err("outbox retry: give row ids (see `yiqingtong outbox list --dead`) or --all")
        return 2
    now = _clock(args, settings).now()
    async with open_database(settings.database.url) as db, db.transaction() as session:
        n = await outbox_repo.retry_dead(session, now=now, ids=None if args.all else args.ids)
        audit.record(session, at=now, actor=args.by or "cli",
                     action=audit.AuditAction.OUTBOX_RETRY,
                     target="all" if args.all else ",".join(map(str, args.ids)),
                     detail={"rows": n})
    _out(f"{n} dead rows queued again; a running `yiqingtong serve` sends them within its poll "
         "interval")
    return 0 if n or args.all else 2


async def cmd_privacy_export(args: argparse.Namespace, settings: Settings) -> int:
    now = _clock(args, settings).now()
    try:
        async with open_database(settings.database.url) as db, db.transaction() as session:
            data = await export_member(session, args.userid, actor=args.by or "cli", now=now)
    except PrivacyError as exc:
        _err(f"privacy export: {exc}")
        return 2
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str)
    if args.output:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text + "\n")
        _out(f"wrote everything stored about {args.userid} to {args.output}")
    else:
        _out(text)
    return 0


async def cmd_privacy_erase(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        _err(f"privacy erase removes {args.userid}'s personal data for good; "
             "repeat with --yes to confirm")
        return 2
    now = _clock(args, settings).now()
    try:
        async with open_database(settings.database.url) as db, db.transaction() as session:
            result = await erase_member(session, args.userid, actor=args.by or "cli", now=now)
    except PrivacyError as exc:
        _err(f"privacy erase: {exc}")
        return 2
    _out(f"erased {args.userid}: " + ", ".join(f"{k} {v}" for k, v in result.items()))
    return 0


# ---- a reviewer's day: exemptions, late reports, trends, notices ----------------------------


async def _member(session: Any, userid: str) -> Member | None:
    return await members_repo.find(session, userid)


# ---- roster exempt ---------------------------------------------------------------------------


async def cmd_exempt(args: argparse.Namespace, settings: Settings) -> int:
    clock = _clock(args, settings)
    try:
        async with open_database(settings.database.url) as db, db.transaction() as session:
            subject = await _member(session, args.userid)
            if subject is None:
                _err(f"roster exempt: there is no {args.userid!r} in the roster; "
                     "nothing was changed")
                return 2
            exemption = await add_exemption(
                session, actor=None, actor_name=args.by or "cli", subject=subject,
                start=args.from_date, end=args.to_date, reason=args.reason, now=clock.now())
    except ExemptionError as exc:
        _err(f"roster exempt: {exc}; nothing was changed")
        return 2
    _out(f"{subject.userid} ({subject.name}) is exempt from {exemption.start.isoformat()} to "
         f"{exemption.end.isoformat()}: {exemption.reason}")
    return 0


# ---- report late -----------------------------------------------------------------------------


async def cmd_late(args: argparse.Namespace, settings: Settings) -> int:
    clock = _clock(args, settings)
    try:
        async with open_database(settings.database.url) as db, db.transaction() as session:
            reviewer = await _member(session, args.by)
            subject = await _member(session, args.userid)
            for who, found in ((args.by, reviewer), (args.userid, subject)):
                if found is None or not found.active:
                    _err(f"report late: there is no active {who!r} in the roster; "
                         "nothing was changed")
                    return 2
            report = await file_late_copy(
                session, settings, clock, reviewer=reviewer, subject=subject, day=args.day,
                reason=args.reason, same_as=args.same_as, now=clock.now(),
                today=local_date(clock), receipt=new_id(8).upper())
    except LateError as exc:
        _err(f"report late: {exc}; nothing was changed")
        return 2
    flag = " (abnormal: " + ", ".join(report.abnormal_reasons) + ")" if report.abnormal else ""
    _out(f"filed {report.report_date.isoformat()} for {subject.userid} late, by "
         f"{reviewer.userid}, receipt {report.receipt}{flag}; the member is told")
    return 0


# ---- report trend ----------------------------------------------------------------------------


def trend_table(series: dict[str, list[Any]]) -> list[str]:
    lines = []
    for points in series.values():
        name, unit_id = points[0].unit_name, points[0].unit_id
        label = name if name == unit_id else f"{name} ({unit_id})"  # no "X (X)"
        lines.append(f"{label}  {sparkline([p.rate for p in points])}")
        lines.append(f"  {'date':10}  {'reported':>8}  {'missing':>7}  {'exempt':>6}  "
                     f"{'abnormal':>8}  {'late':>4}  {'rate':>5}")
        for p in points:
            rate = "-" if p.rate is None else f"{round(p.rate * 100)}%"
            lines.append(f"  {p.day.isoformat():10}  {p.reported:>8}  {p.missing:>7}  "
                         f"{p.exempt:>6}  {p.abnormal:>8}  {p.late:>4}  {rate:>5}")
    return lines


def draw_trend(series: dict[str, list[Any]], output: Path) -> None:
    """Two panels: the share reported per unit, and the abnormal reports per unit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Unit names are Chinese: the first CJK font found draws them (DejaVu shows boxes).
    plt.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "WenQuanYi Micro Hei",
                                       "WenQuanYi Zen Hei", "SimHei", "DejaVu Sans"]
    fig, (rates, abnormal) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for points in series.values():
        days = [p.day for p in points]
        label = points[0].unit_id
        rates.plot(days, [None if p.rate is None else p.rate * 100 for p in points],
                   marker="o", label=label)
        abnormal.plot(days, [p.abnormal for p in points], marker=".", label=label)
    rates.set_ylabel("reported %")
    rates.set_ylim(0, 105)
    rates.set_title("Daily reports per unit")
    abnormal.set_ylabel("abnormal")
    if len(series) <= 12:
        rates.legend(fontsize="small", loc="lower left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)


async def cmd_trend(args: argparse.Namespace, settings: Settings) -> int:

    if not 1 <= args.days <= MAX_TREND_DAYS:
        _err(f"report trend: --days must be between 1 and {MAX_TREND_DAYS}")
        return 2
    if args.output and not args.output.lower().endswith((".png", ".svg", ".pdf")):
        _err("report trend: --output must end in .png, .svg or .pdf")
        return 2
    clock = _clock(args, settings)
    end = local_date(clock)
    async with open_database(settings.database.url) as db, db.session() as session:
        try:
            units = await scope_units(session, args.unit)
        except ExportError as exc:
            _err(f"report trend: {exc}")
            return 2
        series = await unit_trend(session, end, args.days, units, tz=clock.tz)
    first = end - timedelta(days=args.days - 1)
    _out(f"reports per unit from {first.isoformat()} to {end.isoformat()}")
    for line in trend_table(series):
        _out(line)
    if args.output:
        if not series:
            _err("report trend: no units with members; no chart drawn")
            return 0
        draw_trend(series, Path(args.output))
        _err(f"chart written to {args.output}")
    return 0


# ---- notices ---------------------------------------------------------------------------------


async def cmd_notice_send(args: argparse.Namespace, settings: Settings) -> int:

    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        _err(f"notice send: cannot read {args.file}: {exc.strerror}")
        return 2
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gbk")
        except UnicodeDecodeError:
            _err(f"notice send: {args.file} is neither UTF-8 nor GBK text")
            return 2
    clock = _clock(args, settings)
    try:
        title, body = parse_notice(text)
        check_fits(title, body)
        async with open_database(settings.database.url) as db, db.transaction() as session:
            notice, count = await send_notice(session, settings, unit=args.unit, title=title,
                                              body=body, cards=args.cards,
                                              by=args.by or "cli", now=clock.now())
    except NoticeError as exc:
        _err(f"notice send: {exc}; nothing was sent")
        return 2
    _out(f"notice #{notice.id} queued for {count} members"
         f"{' of ' + args.unit if args.unit else ''}; the running server delivers it. "
         f"`yiqingtong notice status {notice.id}` shows who has read it")
    return 0


async def cmd_notice_status(args: argparse.Namespace, settings: Settings) -> int:
    clock = _clock(args, settings)
    async with open_database(settings.database.url) as db, db.transaction() as session:
        status = await notice_status(session, args.number)
        if status is not None:
            audit.record(session, at=clock.now(), actor=args.by or "cli",
                         action=audit.AuditAction.NOTICE_STATUS, target=str(args.number),
                         detail={"read": len(status.read), "unread": len(status.unread)})
    if status is None:
        _err(f"notice status: there is no notice #{args.number}")
        return 2
    notice = status.notice
    total = len(status.read) + len(status.unread)
    _out(f"notice #{notice.id} {notice.title!r} to {notice.unit_id or 'everyone'}, sent "
         f"{notice.created_at.astimezone(clock.tz):%Y-%m-%d %H:%M}: "
         f"{len(status.read)}/{total} read")
    for userid, name, at in status.read:
        _out(f"  read    {userid}  {name}  {at.astimezone(clock.tz):%Y-%m-%d} "
             f"{local_time_text(clock, at)}")
    for userid, name in status.unread:
        _out(f"  unread  {userid}  {name}")
    return 0


# ---- registration ----------------------------------------------------------------------------


# ---- forms as files --------------------------------------------------------------------------


async def cmd_form_check(args: argparse.Namespace, settings: Settings) -> int:
    text = _read_form_file(args.file, "check")
    if text is None:
        return 2
    problems = form_files.check_text(text)
    for problem in problems:
        _err(f"{args.file}:{problem.line}: {problem.message}")
    if problems:
        _err(f"{len(problems)} problem(s); the form cannot be published")
        return 2
    built = form_files.load_text(text)
    _out(f"{args.file}: form {built.form.id} version {built.form.version}, "
         f"{len(built.form.questions)} questions, {len(built.abnormal)} abnormal rules: OK")
    return 0


def _read_form_file(path: str, command: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        _err(f"form {command}: cannot read {path}: {exc.strerror}")
    except UnicodeDecodeError as exc:
        _err(f"form {command}: {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8")
    return None


async def cmd_form_publish(args: argparse.Namespace, settings: Settings) -> int:
    text = _read_form_file(args.file, "publish")
    if text is None:
        return 2
    clock = _clock(args, settings)
    today = local_date(clock, clock.now())
    try:
        async with open_database(settings.database.url) as db, db.transaction() as session:
            done = await form_versions.publish(
                session, text, effective_from=args.from_date or today, today=today,
                now=clock.now(), by=args.by or "cli")
            audit.record(session, at=clock.now(), actor=args.by or "cli",
                         action=audit.AuditAction.FORM_PUBLISH, target=done.name,
                         detail={"version": done.version,
                                 "effective_from": done.effective_from.isoformat(),
                                 "added": list(done.added), "removed": list(done.removed),
                                 "new_data": list(done.new_data)})
    except form_versions.PublishError as exc:
        for problem in exc.problems:
            _err(f"{args.file}:{problem.line}: {problem.message}")
        _err(f"form publish: {exc}; nothing was published")
        return 2
    _out(f"published {done.name} version {done.version} ({done.questions} questions), in use "
         f"for forms started from {done.effective_from.isoformat()} on; it was version "
         f"{done.previous}")
    if done.added:
        _out(f"  new questions: {', '.join(done.added)}")
    if done.removed:
        _out(f"  removed questions: {', '.join(done.removed)}")
    if done.new_data:
        _err(f"PRIVACY: this version collects new data ({', '.join(done.new_data)}): every "
             "member will be asked to accept the privacy notice again, before their next form "
             f"from {done.effective_from.isoformat()} on")
    _out("running instances pick it up within seconds; forms already started finish on the "
         "version they started with")
    return 0


async def cmd_form_show(args: argparse.Namespace, settings: Settings) -> int:
    if args.name not in form_versions.NAMES:
        if args.version is None and args.name in form_files.SHIPPED:
            sys.stdout.write(form_files.shipped_text(args.name))  # e.g. daily_report_2022
            return 0
        _err(f"form show: unknown form {args.name!r}; known: "
             f"{', '.join(sorted({*form_versions.NAMES, *form_files.SHIPPED}))}")
        return 2
    clock = _clock(args, settings)
    async with open_database(settings.database.url) as db, db.session() as session:
        if args.version is None:
            found = await form_versions.current(session, args.name,
                                                local_date(clock, clock.now()))
        else:
            found = await form_versions.by_version(session, args.name, args.version)
    if found is None:
        _err(f"form show: {args.name} has no version {args.version}")
        return 2
    sys.stdout.write(found.text)
    return 0


async def cmd_form_versions(args: argparse.Namespace, settings: Settings) -> int:
    clock = _clock(args, settings)
    names = [args.name] if getattr(args, "name", None) else sorted(form_versions.NAMES)
    if names[0] not in form_versions.NAMES:
        _err(f"form versions: unknown form {names[0]!r}; known: "
             f"{', '.join(sorted(form_versions.NAMES))}")
        return 2
    today = local_date(clock, clock.now())
    async with open_database(settings.database.url) as db, db.session() as session:
        for name in names:
            rows = await form_versions.versions(session, name)
            in_use = await form_versions.current(session, name, today)
            base = form_versions.shipped(name)
            mark = "*" if in_use.form.version == base.form.version and not any(
                r.version == base.form.version for r in rows) else " "
            _out(f"{name}:")
            _out(f" {mark} version {base.form.version}  shipped  "
                 f"{len(base.form.questions)} questions")
            for row in rows:
                ff = form_versions.built(row.text, row.version)
                mark = "*" if row.version == in_use.form.version else " "
                _out(f" {mark} version {row.version}  from {row.effective_from.isoformat()}  "
                     f"published {row.published_at.astimezone(clock.tz):%Y-%m-%d %H:%M} by "
                     f"{row.published_by or '-'}  {len(ff.form.questions)} questions")
    _out("(* = in use today)")
    return 0


def _register_reviewer_day(sub: Any, roster: Any) -> None:
    """补报, 免报, trends and notices (README: "A reviewer's day")."""
    exempt = _command(
        roster, "exempt", cmd_exempt,
        "exempt a member from reporting for some days (leave, graduated, hospitalised)",
        "免报: USERID need not report from --from to --to (both included, at most 200 days): "
        "not reminded, not counted missing, exported as exempt. Audited.")
    exempt.add_argument("userid", help="the member who is exempt")
    exempt.add_argument("--from", dest="from_date", type=iso_date, required=True,
                        help="first exempt day, YYYY-MM-DD")
    exempt.add_argument("--to", dest="to_date", type=iso_date, required=True,
                        help="last exempt day, YYYY-MM-DD")
    exempt.add_argument("--reason", required=True, help="why (shown in the export)")
    exempt.add_argument("--by", help="who decides (recorded in the audit log)")

    report = _group(sub, "report", "late reports (补报) and trends")
    late = _command(
        report, "late", cmd_late,
        "补报: file a past day for a member as their reviewer",
        "补报: file DAY (at most 30 days back) for USERID as REVIEWER, a reviewer of their "
        "units, with the answers of another of the member's reports. Marked late in the "
        "export and the stats, audited, and the member is told.")
    late.add_argument("userid", help="the member whose day is filed")
    late.add_argument("day", type=iso_date, help="the past day, YYYY-MM-DD")
    late.add_argument("--by", required=True, metavar="REVIEWER",
                      help="the reviewer filing it (a reviewer of the member's units)")
    late.add_argument("--reason", required=True, help="why it is filed late")
    late.add_argument("--same-as", dest="same_as", type=iso_date, metavar="DAY",
                      help="copy the answers of the member's report of this day (default: "
                           "their latest report before DAY)")

    trend = _command(
        report, "trend", cmd_trend,
        "per day and unit: reported, missing, exempt, abnormal; optionally a chart")
    trend.add_argument("--days", type=int, default=14,
                       help="how many days up to today (default 14)")
    trend.add_argument("--unit", help="only this unit and the units below it")
    trend.add_argument("--output", metavar="PATH",
                       help="draw the chart to this .png/.svg/.pdf file")

    notice = _group(sub, "notice", "policy notices with read receipts")
    send = _command(
        notice, "send", cmd_notice_send,
        "send FILE (first line: the title) to a unit and the units below it, or to everyone")
    send.add_argument("file", help="the notice, UTF-8 or GBK; the first line is the title")
    send.add_argument("--unit", help="the unit (default: everyone)")
    send.add_argument("--cards", action="store_true",
                      help="members on cards get a card with a 已读/Read button")
    send.add_argument("--by", help="who sends it (recorded in the audit log)")
    status = _command(notice, "status", cmd_notice_status, "who has read notice N")
    status.add_argument("number", type=int, metavar="N", help="the notice number")
    status.add_argument("--by", help="who asks (recorded in the audit log)")


# ---- the tree --------------------------------------------------------------------------------


def _command(sub: Any, name: str, run: Command, help: str, description: str | None = None,
             epilog: str | None = None) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=description or help[:1].upper() + help[1:] + ".",
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(run=run)
    return parser


def _group(sub: Any, name: str, help: str) -> Any:
    parser = sub.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".")
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yiqingtong",
        description="疫情通: the WeCom bot for a university's daily health report. Every command "
                    "that needs the database creates or upgrades its schema first. "
                    "`python -m app` is the same as `yiqingtong`.")
    parser.add_argument("--config", metavar="PATH",
                        help="settings file (default: $YQT_CONFIG or settings.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _command(sub, "serve", cmd_serve, "run the callback server and the outbox sender")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="N processes on one port (SO_REUSEPORT; PostgreSQL only)")
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument("--access-log", action="store_true",
                       help="log every HTTP request (off by default)")

    demo = _command(sub, "demo", cmd_demo,
                    "chat with the bot in the terminal (SQLite + emulator)")
    demo.add_argument("--as", dest="as_user", default=None, metavar="USERID",
                      help="start as this userid")
    demo.add_argument("--script", default=None, metavar="FILE",
                      help="read lines from this file instead of the terminal")

    _command(sub, "menu", cmd_menu, "create the app menu in WeCom (上报, 状态, 更多)")

    roster = _group(sub, "roster", "the roster: import a CSV, sync from WeCom, add reviewers")
    rimport = _command(roster, "import", cmd_roster_import,
                       "import a CSV roster (UTF-8 or GBK)",
                       "Upsert members, units and reviewers from a CSV file.",
                       epilog=ROSTER_COLUMNS)
    rimport.add_argument("file", help="the roster CSV (columns below)")
    _command(roster, "sync", cmd_roster_sync,
             "pull departments and members from WeCom's contacts API",
             "Pull departments and members from WeCom's contacts API. Members missing there "
             "become inactive, never deleted.")
    reviewer = _group(roster, "reviewer", "reviewer assignments")
    add = _command(reviewer, "add", cmd_reviewer_add,
                   "make USERID a reviewer of UNIT (and the units below it)")
    add.add_argument("userid", help="the member who becomes a reviewer")
    add.add_argument("unit", help="unit id (or its name, when unique)")

    export = _command(
        sub, "export", cmd_export,
        "export daily reports (one row per member per day) as CSV or xlsx",
        "One row per roster member per day: status reported, missing, exempt or unfollowed, "
        "then the answers. CSV goes to standard output unless --output is given. Audited.")
    when = export.add_mutually_exclusive_group()
    when.add_argument("--date", type=iso_date, help="the day, YYYY-MM-DD (default: today)")
    when.add_argument("--from", dest="from_date", type=iso_date,
                      help="first day of a range (up to 366 days; --to defaults to today)")
    export.add_argument("--to", dest="to_date", type=iso_date, help="last day of the range")
    export.add_argument("--unit", help="only this unit and the units below it")
    export.add_argument("--no-subunits", action="store_true",
                        help="with --unit: leave out the units below it")
    export.add_argument("--format", choices=("csv", "xlsx"),
                        help="csv (default) or xlsx (default when --output ends in .xlsx)")
    export.add_argument("--output", metavar="PATH",
                        help="write to this file instead of standard output")
    export.add_argument("--sheet-per-unit", action="store_true",
                        help="xlsx: one sheet per unit")

    check = _command(sub, "check", cmd_check, "check the configuration against WeCom and print "
                                              "the values for the admin console")
    check.add_argument("--public-url", help="the public base URL WeCom calls, e.g. "
                                            "https://yqt.example.edu.cn")

    admin = _group(sub, "admin", "administrator corrections")
    correct = _command(
        admin, "correct", cmd_admin_correct,
        "correct one field of a member's basic information (audited)",
        "Correct one field of a member's basic information; old and new values are audited.\n"
        "Fields: name, staff_no (学工号 Student/Staff ID; student_id is accepted too), mobile, "
        "beijing_hukou (yes/no), hukou_address, member_type (student/faculty/staff).")
    correct.add_argument("userid", help="the member whose basic information is corrected")
    correct.add_argument("field", help="the field to correct (see the list above)")
    correct.add_argument("value", help="the new value")
    correct.add_argument("--by", help="who makes the correction (recorded in the audit log)")
    correct.add_argument("--reason", help="why (recorded in the audit log)")

    jobs = _group(sub, "jobs", "scheduled jobs")
    _command(jobs, "list", cmd_jobs_list, "each job's next run")
    run = _command(jobs, "run", cmd_jobs_run, "run one job now and deliver its messages")
    run.add_argument("name", help="remind, summary, or a job name from `jobs list`")

    outbox = _group(sub, "outbox", "look at and re-send outgoing messages")
    listing = _command(outbox, "list", cmd_outbox_list, "counts by status and the latest rows")
    which = listing.add_mutually_exclusive_group()
    which.add_argument("--dead", action="store_true", help="only rows that were given up")
    which.add_argument("--status", choices=("pending", "sent", "dead", "cancelled"),
                       help="only rows with this status")
    listing.add_argument("--limit", type=int, default=50,
                         help="show at most this many rows (default: 50)")
    retry = _command(outbox, "retry", cmd_outbox_retry, "send dead rows again (audited)")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID",
                       help="row ids from `outbox list --dead`")
    retry.add_argument("--all", action="store_true", help="every dead row")
    retry.add_argument("--by", help="who asks (recorded in the audit log)")

    privacy = _group(sub, "privacy", "a member's rights: export or erase their data")
    pexport = _command(privacy, "export", cmd_privacy_export,
                       "everything stored about USERID, as JSON (audited)")
    pexport.add_argument("userid", help="the member whose data is exported")
    pexport.add_argument("--output", metavar="PATH",
                         help="write to this file (created 0600) instead of stdout")
    pexport.add_argument("--by", help="who asks (recorded in the audit log)")
    erase = _command(privacy, "erase", cmd_privacy_erase,
                     "remove USERID's personal fields (leavers); counts are kept (audited)")
    erase.add_argument("userid", help="the member whose personal fields are removed")
    erase.add_argument("--yes", action="store_true", help="confirm")
    erase.add_argument("--by", help="who asks (recorded in the audit log)")

    _register_reviewer_day(sub, roster)

    form = _group(sub, "form", "forms declared in TOML files: check, publish, show, versions")
    fcheck = _command(
        form, "check", cmd_form_check,
        "check a form file: unknown keys, conditions on later questions, options referenced "
        "but missing, texts over WeCom's limits (with line numbers)")
    fcheck.add_argument("file", help="the form file (TOML)")
    fpublish = _command(
        form, "publish", cmd_form_publish,
        "publish a form file as the next version of its form (after the checks of `form check`)",
        "Store FILE as the next version of the form its [form] id names (basic_info or "
        "daily_report). Forms started on or after --from use it (running instances pick it up "
        "within seconds, no restart); a form in progress finishes on its own version and every "
        "stored report keeps its version. Refused, with nothing changed, when `form check` "
        "finds problems or the text is the same as the newest version. A version that asks "
        "something no earlier version asked (a new question key) raises the privacy notice's "
        "version, and says so: every member is asked to accept it again. Audited.")
    fpublish.add_argument("file", help="the form file (TOML)")
    fpublish.add_argument("--from", dest="from_date", type=iso_date,
                          help="first day it is used, YYYY-MM-DD (default: today)")
    fpublish.add_argument("--by", help="who publishes (recorded with the version)")
    fshow = _command(form, "show", cmd_form_show,
                     "print a form as TOML: the version in use today, or --version N")
    fshow.add_argument("name", help="basic_info or daily_report (or daily_report_2022, the "
                                    "shipped file)")
    fshow.add_argument("--version", type=int, help="that version (published or shipped)")
    fversions = _command(form, "versions", cmd_form_versions,
                         "list a form's versions: shipped, published, which is in use")
    fversions.add_argument("name", nargs="?", help="basic_info or daily_report (default: both)")
    _command(form, "list", cmd_form_versions, "list every form's versions")
    return parser


def _run(coro: Any, *, fast: bool) -> int:
    """asyncio.run, on uvloop's faster event loop where it is installed (the server)."""
    loop_factory = None
    if fast:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return int(runner.run(coro))


def _new_sqlite_file(url: str) -> Path | None:
    """The SQLite file `url` names, when it does not exist yet (None otherwise)."""
    if not url.startswith("sqlite") or ":memory:" in url:
        return None
    database = sa.engine.make_url(url).database
    if not database or database.startswith("file:"):
        return None
    path = Path(database)
    return None if path.exists() else path


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        logs.configure(settings.log, verbose=args.verbose)
        new_file = _new_sqlite_file(settings.database.url)
        code = _run(args.run(args, settings), fast=args.command == "serve")
        if new_file is not None and args.command not in ("serve", "demo") and new_file.exists():
            # An operator in the wrong directory (or without YQT_DATABASE__URL) would otherwise
            # read an empty export or an empty list as the truth.
            _err(f"note: {new_file} did not exist; this command created it and ran on an empty "
                 "database. To use the bot's database, set YQT_DATABASE__URL (for the demo: "
                 "sqlite:///yiqingtong-demo.db in the demo's directory) or database.url.")
        return code
    except ConfigError as exc:
        _err(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130
