"""Operator commands for delivery and privacy: `outbox list|retry`, `privacy export|erase`.

Thin shells around storage functions (storage/outbox.py, storage/privacy.py): they parse, print
and pick the exit code — 0 done, 2 the input was wrong and nothing was changed.
"""

from __future__ import annotations

import argparse
from typing import Any

from app.console import err as _err
from app.console import out as _out
from bot.settings import Settings


def _now(args: argparse.Namespace, settings: Settings) -> Any:
    from bot.clock import SystemClock

    clock = getattr(args, "clock", None) or SystemClock(settings.schedule.tz)
    return clock.now()


async def cmd_outbox_list(args: argparse.Namespace, settings: Settings) -> int:
    from storage import outbox as repo
    from storage.db import Database

    db = Database(settings.database.url)
    try:
        await db.create_schema()
        async with db.session() as session:
            counts = await repo.counts_by_status(session)
            status = repo.OutboxStatus.DEAD if args.dead else (
                repo.OutboxStatus(args.status) if args.status else None)
            rows = await repo.list_rows(session, status=status, limit=args.limit)
    finally:
        await db.dispose()
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
    from storage import outbox as repo
    from storage.db import Database
    from storage.models import AuditLog

    if not args.ids and not args.all:
        _err("outbox retry: give row ids (see `yiqingtong outbox list --dead`) or --all")
        return 2
    now = _now(args, settings)
    db = Database(settings.database.url)
    try:
        await db.create_schema()
        async with db.transaction() as session:
            n = await repo.retry_dead(session, now=now, ids=None if args.all else args.ids)
            session.add(AuditLog(at=now, actor=args.by or "cli", action="outbox.retry",
                                 target="all" if args.all else ",".join(map(str, args.ids))[:128],
                                 detail={"rows": n}))
    finally:
        await db.dispose()
    _out(f"{n} dead rows queued again; a running `yiqingtong serve` sends them within its poll "
         "interval")
    return 0 if n or args.all else 2


async def cmd_privacy_export(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from storage.db import Database
    from storage.privacy import PrivacyError, export_member

    now = _now(args, settings)
    db = Database(settings.database.url)
    try:
        await db.create_schema()
        async with db.transaction() as session:
            data = await export_member(session, args.userid, actor=args.by or "cli", now=now)
    except PrivacyError as exc:
        _err(f"privacy export: {exc}")
        return 2
    finally:
        await db.dispose()
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str)
    if args.output:
        import os

        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text + "\n")
        _out(f"wrote everything stored about {args.userid} to {args.output}")
    else:
        _out(text)
    return 0


async def cmd_privacy_erase(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import Database
    from storage.privacy import PrivacyError, erase_member

    if not args.yes:
        _err(f"privacy erase removes {args.userid}'s personal data for good; "
             "repeat with --yes to confirm")
        return 2
    now = _now(args, settings)
    db = Database(settings.database.url)
    try:
        await db.create_schema()
        async with db.transaction() as session:
            result = await erase_member(session, args.userid, actor=args.by or "cli", now=now)
    except PrivacyError as exc:
        _err(f"privacy erase: {exc}")
        return 2
    finally:
        await db.dispose()
    _out(f"erased {args.userid}: " + ", ".join(f"{k} {v}" for k, v in result.items()))
    return 0


def mask_id(value: str) -> str:
    """A userid or staff number shortened for logs and listings: `zh***an`."""
    if len(value) <= 4:
        return value[:1] + "***"
    return value[:2] + "***" + value[-2:]


def register(sub: Any) -> None:
    outbox = sub.add_parser("outbox", help="look at and re-send outgoing messages")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    lst = outbox_sub.add_parser("list", help="counts by status and the latest rows")
    which = lst.add_mutually_exclusive_group()
    which.add_argument("--dead", action="store_true", help="only rows that were given up")
    which.add_argument("--status", choices=("pending", "sent", "dead", "cancelled"))
    lst.add_argument("--limit", type=int, default=50)
    lst.set_defaults(run=cmd_outbox_list)
    retry = outbox_sub.add_parser("retry", help="send dead rows again (audited)")
    retry.add_argument("ids", nargs="*", type=int, help="row ids from `outbox list --dead`")
    retry.add_argument("--all", action="store_true", help="every dead row")
    retry.add_argument("--by", help="who asks (recorded in the audit log)")
    retry.set_defaults(run=cmd_outbox_retry)

    privacy = sub.add_parser("privacy", help="a member's rights: export or erase their data")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True)
    exp = privacy_sub.add_parser("export", help="everything stored about USERID, as JSON "
                                                "(audited)")
    exp.add_argument("userid")
    exp.add_argument("--output", help="write to this file (created 0600) instead of stdout")
    exp.add_argument("--by", help="who asks (recorded in the audit log)")
    exp.set_defaults(run=cmd_privacy_export)
    erase = privacy_sub.add_parser(
        "erase", help="remove USERID's personal fields (leavers); counts are kept (audited)")
    erase.add_argument("userid")
    erase.add_argument("--yes", action="store_true", help="confirm")
    erase.add_argument("--by", help="who asks (recorded in the audit log)")
    erase.set_defaults(run=cmd_privacy_erase)
