"""Operator commands: export, check, admin correct, roster sync, roster reviewer add.

Why a separate module: these are the commands an administrator runs by hand, each a thin shell
around one storage function (storage/export.py, storage/sync.py, storage/corrections.py), so the
logic is tested without a terminal and the command line only parses, prints and picks the exit
code: 0 done, 1 WeCom or the environment failed (or `check` found a problem), 2 the input was
wrong and nothing was changed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import IO, Any

from app.console import err as _err
from app.console import out as _out
from bot.clock import Clock, SystemClock, local_date
from bot.settings import ConfigError, Settings

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
    from bot.wecom.errors import WeComError

    if isinstance(error, WeComError):
        if error.http_status is not None and error.http_status != 200:
            return f"HTTP {error.http_status} from {error.api}"
        if error.errcode == -1:
            return f"{error.errmsg} calling {error.api}"
        return f"errcode {error.errcode} from {error.api}: {error.errmsg}"
    return f"{type(error).__name__}: {error}"


class ProgressBar:
    """`progress(done, total)` for long runs: a redrawn bar on a terminal, else one line per
    10% (log files stay short)."""

    def __init__(self, stream: IO[str], label: str, width: int = 30) -> None:
        self._stream = stream
        self._label = label
        self._width = width
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        if total < PROGRESS_THRESHOLD:
            return
        if self._tty:
            filled = self._width * done // total
            bar = "#" * filled + "-" * (self._width - filled)
            self._stream.write(f"\r{self._label} [{bar}] {done}/{total}")
            if done >= total:
                self._stream.write("\n")
        else:
            decile = 10 * done // total
            if decile <= self._last:
                return
            self._last = decile
            self._stream.write(f"{self._label}: {decile * 10}% ({done}/{total})\n")
        self._stream.flush()


# ---- export ----------------------------------------------------------------------------------


async def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import Database
    from storage.export import CsvExport, ExportError, XlsxExport, check_range, iter_export_days
    from storage.models import AuditLog

    clock = _clock(args, settings)
    today = local_date(clock)
    if args.to_date is not None and args.from_date is None:
        _err("--to needs --from (or use --date for one day)")
        return 2
    start = args.from_date or args.date or today
    end = args.to_date or (args.from_date and today) or args.date or today
    fmt = args.format or ("xlsx" if args.output and args.output.lower().endswith(".xlsx")
                          else "csv")
    if args.sheet_per_unit and fmt != "xlsx":
        _err("--sheet-per-unit needs --format xlsx")
        return 2
    if fmt == "xlsx" and args.output is None and sys.stdout.isatty():
        _err("an xlsx export needs --output PATH (or redirect standard output to a file)")
        return 2
    try:
        check_range(start, end, today)
    except ExportError as exc:
        _err(f"export: {exc}; nothing was exported")
        return 2

    output = Path(args.output) if args.output else None
    tmp: Path | None = None
    rows = 0
    db = Database(settings.database.url)
    try:
        await db.create_schema()
        async with db.session() as session:
            days = iter_export_days(session, start, end, args.unit,
                                    include_below=not args.no_subunits,
                                    tz=settings.schedule.tz)
            try:
                first = await anext(days)
            except ExportError as exc:
                _err(f"export: {exc}; nothing was exported")
                return 2
            if output is not None or fmt == "xlsx":
                directory = output.parent if output is not None else None
                fd, name = tempfile.mkstemp(prefix=".yqt-export-", suffix=f".{fmt}",
                                            dir=directory)
                os.close(fd)
                tmp = Path(name)
            if fmt == "csv":
                with (tmp.open("w", encoding="utf-8-sig", newline="") if tmp is not None
                      else _nullcontext(sys.stdout)) as stream:
                    writer = CsvExport(stream)
                    writer.write(first)
                    async for day_rows in days:
                        writer.write(day_rows)
                    rows = writer.rows
            else:
                assert tmp is not None
                title = start.isoformat() if start == end else \
                    f"{start.isoformat()}..{end.isoformat()}"
                xlsx = XlsxExport(tmp, sheet_per_unit=args.sheet_per_unit, title=title)
                xlsx.write(first)
                async for day_rows in days:
                    xlsx.write(day_rows)
                xlsx.close()
                rows = xlsx.rows
        if tmp is not None:
            if output is not None:
                os.replace(tmp, output)
            else:
                with tmp.open("rb") as source:
                    shutil.copyfileobj(source, sys.stdout.buffer)
                sys.stdout.flush()
            tmp = None
        async with db.transaction() as session:
            session.add(AuditLog(
                at=clock.now(), actor="cli", action="export", target=(args.unit or "*")[:128],
                detail={"from": start.isoformat(), "to": end.isoformat(), "unit": args.unit,
                        "subunits": not args.no_subunits, "format": fmt,
                        "sheet_per_unit": bool(args.sheet_per_unit), "rows": rows,
                        "output": str(output) if output else "-"}))
    except ExportError as exc:
        _err(f"export: {exc}; nothing was exported")
        return 2
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        await db.dispose()
    if output is not None:
        _err(f"exported {rows} rows ({start.isoformat()} to {end.isoformat()}) to {output}")
    return 0


class _nullcontext:
    """`with` for a stream we must not close (stdout)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def __enter__(self) -> IO[str]:
        return self._stream

    def __exit__(self, *exc: object) -> None:
        self._stream.flush()


# ---- check -----------------------------------------------------------------------------------


def callback_url(settings: Settings, public_url: str | None) -> str:
    if public_url:
        return public_url.rstrip("/") + settings.server.callback_path
    host = settings.server.host
    return f"http://{host}:{settings.server.port}{settings.server.callback_path}"


async def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    import aiohttp

    from bot.wecom.client import MemoryTokenStore, WeComClient
    from bot.wecom.errors import InvalidRecipientError, WeComError

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
               "set the missing values in settings.toml or the environment and run check again")

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
    _out("everything is fine" if not problems else
         f"{problems} problem{'s' if problems != 1 else ''} found")
    return 0 if not problems else 1


async def _check_database(settings: Settings, report: Any) -> None:
    import sqlalchemy as sa

    from storage.db import Database

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
    from storage.corrections import CorrectionError, correct_basic_info, parse_value
    from storage.db import Database

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
    except CorrectionError as exc:
        _err(f"admin correct: {exc}; nothing was changed")
        return 2
    db = Database(settings.database.url)
    try:
        await db.create_schema()
        async with db.transaction() as session:
            result = await correct_basic_info(session, args.userid, args.field, args.value,
                                              now=clock.now(), today=today, by=by,
                                              reason=args.reason)
    except CorrectionError as exc:
        _err(f"admin correct: {exc}; nothing was changed")
        return 2
    finally:
        await db.dispose()
    if not result.changed:
        _out(f"{args.userid}: {args.field} is already {result.new!r}; nothing was changed")
        return 0
    _out(f"{args.userid}: {args.field} changed from {result.old!r} to {result.new!r} "
         f"(by {by}, audited)")
    for field, old in result.also_cleared.items():
        _out(f"{args.userid}: {field} cleared (was {old!r}): a Beijing hukou has no household "
             "address")
    if args.field == "beijing_hukou" and result.new is False:
        _out(f"{args.userid}: now set hukou_address with `yiqingtong admin correct "
             f"{args.userid} hukou_address ADDRESS`")
    return 0


# ---- roster sync and reviewers ---------------------------------------------------------------


async def cmd_roster_sync(args: argparse.Namespace, settings: Settings) -> int:
    import aiohttp

    from bot.wecom.client import WeComClient
    from bot.wecom.errors import WeComError
    from storage.db import Database
    from storage.sync import SyncError, sync_directory
    from storage.tokens import DbTokenStore

    wecom = settings.wecom
    missing = [k for k, present in (("wecom.corp_id", bool(wecom.corp_id)),
                                    ("wecom.secret", bool(wecom.secret.get_secret_value())))
               if not present]
    if missing:
        raise ConfigError(f"config error: roster sync needs {' and '.join(missing)} "
                          "(settings.toml or YQT_WECOM__...)")
    clock = _clock(args, settings)
    db = Database(settings.database.url)
    try:
        await db.create_schema()
        async with aiohttp.ClientSession() as http:
            client = WeComClient(http, wecom, DbTokenStore(db), clock)
            result = await sync_directory(db, client, now=clock.now(),
                                          progress=ProgressBar(sys.stderr, "roster sync"),
                                          source=wecom.corp_id)
    except WeComError as exc:
        _err(f"roster sync failed: {_describe_wecom(exc)}; nothing was changed")
        fix = fix_for(exc)
        if fix:
            _err(f"fix: {fix}")
        return 1
    except SyncError as exc:
        _err(f"roster sync: {exc}")
        return 1
    finally:
        await db.dispose()
    _out(f"synced {result.members_seen} members from {result.departments} departments: "
         f"{result.members_added} added, {result.members_updated} updated, "
         f"{result.members_deactivated} marked inactive; units {result.units_added} added, "
         f"{result.units_updated} updated")
    return 0


async def cmd_reviewer_add(args: argparse.Namespace, settings: Settings) -> int:
    from storage.corrections import CorrectionError, add_reviewer
    from storage.db import Database

    clock = _clock(args, settings)
    db = Database(settings.database.url)
    try:
        await db.create_schema()
        async with db.transaction() as session:
            result = await add_reviewer(session, args.userid, args.unit, now=clock.now())
    except CorrectionError as exc:
        _err(f"reviewer add: {exc}; nothing was changed")
        return 2
    finally:
        await db.dispose()
    who = f"{result.member.userid} ({result.member.name})"
    if not result.added and not result.promoted:
        _out(f"{who} already reviews {result.unit.id}; nothing was changed")
        return 0
    role = " and is now a reviewer" if result.promoted else ""
    _out(f"{who} reviews {result.unit.id} and every unit below it{role}")
    return 0


# ---- registration ----------------------------------------------------------------------------


def register(sub: Any, roster_sub: Any) -> None:
    """Add the operator commands to the top-level and `roster` subparsers."""
    export = sub.add_parser(
        "export", help="export daily reports (one row per member per day) as CSV or xlsx",
        description="One row per roster member per day: status reported, missing or "
                    "unfollowed, then the answers. CSV goes to standard output unless "
                    "--output is given.")
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
    export.add_argument("--output", help="write to this file instead of standard output")
    export.add_argument("--sheet-per-unit", action="store_true",
                        help="xlsx: one sheet per unit")
    export.set_defaults(run=cmd_export)

    check = sub.add_parser("check", help="check the configuration against WeCom and print "
                                         "the values for the admin console")
    check.add_argument("--public-url", help="the public base URL WeCom calls, e.g. "
                                            "https://yqt.example.edu.cn")
    check.set_defaults(run=cmd_check)

    admin = sub.add_parser("admin", help="administrator corrections")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    correct = admin_sub.add_parser(
        "correct", help="correct one field of a member's basic information (audited)",
        description="Fields: name, staff_no, mobile, beijing_hukou (yes/no), hukou_address, "
                    "member_type (student/faculty/staff).")
    correct.add_argument("userid")
    correct.add_argument("field")
    correct.add_argument("value")
    correct.add_argument("--by", help="who makes the correction (recorded in the audit log)")
    correct.add_argument("--reason", help="why (recorded in the audit log)")
    correct.set_defaults(run=cmd_admin_correct)

    sync = roster_sub.add_parser("sync", help="pull departments and members from WeCom's "
                                              "contacts API")
    sync.set_defaults(run=cmd_roster_sync)

    reviewer = roster_sub.add_parser("reviewer", help="reviewer assignments")
    reviewer_sub = reviewer.add_subparsers(dest="reviewer_command", required=True)
    add = reviewer_sub.add_parser("add", help="make USERID a reviewer of UNIT (and the units "
                                              "below it)")
    add.add_argument("userid")
    add.add_argument("unit", help="unit id (or its name, when unique)")
    add.set_defaults(run=cmd_reviewer_add)
