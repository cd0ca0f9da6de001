"""Operator commands for a reviewer's day: `roster exempt`, `report late`, `report trend`,
`notice send` and `notice status`.

Each is a thin shell around one storage or handler function; exit codes as in `bot.ops`:
0 done, 2 the input was wrong and nothing was changed.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.clock import local_date
from app.console import err as _err
from app.console import out as _out
from app.ops import _clock, iso_date
from bot.settings import Settings


async def _member(session: Any, userid: str) -> Any:
    import sqlalchemy as sa

    from storage.models import Member

    return (await session.execute(sa.select(Member).where(
        sa.func.lower(Member.userid) == userid.lower()))).scalars().first()


# ---- roster exempt ---------------------------------------------------------------------------


async def cmd_exempt(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import Database
    from storage.exemptions import ExemptionError, add_exemption

    clock = _clock(args, settings)
    db = Database(settings.database.url)
    try:
        await db.create_schema()
        async with db.transaction() as session:
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
    finally:
        await db.dispose()
    _out(f"{subject.userid} ({subject.name}) is exempt from {exemption.start.isoformat()} to "
         f"{exemption.end.isoformat()}: {exemption.reason}")
    return 0


# ---- report late -----------------------------------------------------------------------------


async def cmd_late(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.context import new_id
    from handlers.unit_day import LateError, file_late_copy
    from storage.db import Database

    clock = _clock(args, settings)
    db = Database(settings.database.url)
    try:
        await db.create_schema()
        async with db.transaction() as session:
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
    finally:
        await db.dispose()
    flag = " (abnormal: " + ", ".join(report.abnormal_reasons) + ")" if report.abnormal else ""
    _out(f"filed {report.report_date.isoformat()} for {subject.userid} late, by "
         f"{reviewer.userid}, receipt {report.receipt}{flag}; the member is told")
    return 0


# ---- report trend ----------------------------------------------------------------------------


def trend_table(series: dict[str, list[Any]]) -> list[str]:
    from storage.trends import sparkline

    lines = []
    for points in series.values():
        lines.append(f"{points[0].unit_name} ({points[0].unit_id})  "
                     f"{sparkline([p.rate for p in points])}")
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
    from storage.db import Database
    from storage.export import ExportError, scope_units
    from storage.trends import MAX_TREND_DAYS, unit_trend

    if not 1 <= args.days <= MAX_TREND_DAYS:
        _err(f"report trend: --days must be between 1 and {MAX_TREND_DAYS}")
        return 2
    if args.output and not args.output.lower().endswith((".png", ".svg", ".pdf")):
        _err("report trend: --output must end in .png, .svg or .pdf")
        return 2
    clock = _clock(args, settings)
    end = local_date(clock)
    db = Database(settings.database.url)
    try:
        await db.create_schema()
        async with db.session() as session:
            try:
                units = await scope_units(session, args.unit)
            except ExportError as exc:
                _err(f"report trend: {exc}")
                return 2
            series = await unit_trend(session, end, args.days, units)
    finally:
        await db.dispose()
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
    from handlers.notices import check_fits, send_notice
    from storage.db import Database
    from storage.notices import NoticeError, parse_notice

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
    db = Database(settings.database.url)
    try:
        title, body = parse_notice(text)
        check_fits(title, body)
        await db.create_schema()
        async with db.transaction() as session:
            notice, count = await send_notice(session, settings, unit=args.unit, title=title,
                                              body=body, cards=args.cards,
                                              by=args.by or "cli", now=clock.now())
    except NoticeError as exc:
        _err(f"notice send: {exc}; nothing was sent")
        return 2
    finally:
        await db.dispose()
    _out(f"notice #{notice.id} queued for {count} members"
         f"{' of ' + args.unit if args.unit else ''}; the running server delivers it. "
         f"`yiqingtong notice status {notice.id}` shows who has read it")
    return 0


async def cmd_notice_status(args: argparse.Namespace, settings: Settings) -> int:
    from bot.clock import local_time_text
    from storage.db import Database
    from storage.models import AuditLog
    from storage.notices import notice_status

    clock = _clock(args, settings)
    db = Database(settings.database.url)
    try:
        await db.create_schema()
        async with db.transaction() as session:
            status = await notice_status(session, args.number)
            if status is not None:
                session.add(AuditLog(at=clock.now(), actor=args.by or "cli",
                                     action="notice.status", target=str(args.number),
                                     detail={"read": len(status.read),
                                             "unread": len(status.unread)}))
    finally:
        await db.dispose()
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


def register(sub: Any, roster_sub: Any) -> None:
    exempt = roster_sub.add_parser(
        "exempt", help="exempt a member from reporting for some days (leave, graduated, "
                       "hospitalised): not reminded, not counted missing")
    exempt.add_argument("userid")
    exempt.add_argument("--from", dest="from_date", type=iso_date, required=True,
                        help="first exempt day, YYYY-MM-DD")
    exempt.add_argument("--to", dest="to_date", type=iso_date, required=True,
                        help="last exempt day, YYYY-MM-DD")
    exempt.add_argument("--reason", required=True, help="why (shown in the export)")
    exempt.add_argument("--by", help="who decides (recorded in the audit log)")
    exempt.set_defaults(run=cmd_exempt)

    report = sub.add_parser("report", help="late reports (补报) and trends")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    late = report_sub.add_parser(
        "late", help="补报: file a past day for a member as their reviewer, with the answers "
                     "of another of their reports (marked late, audited, the member is told)")
    late.add_argument("userid")
    late.add_argument("day", type=iso_date, help="the past day, YYYY-MM-DD")
    late.add_argument("--by", required=True, help="the reviewer filing it (a reviewer of the "
                                                  "member's units)")
    late.add_argument("--reason", required=True, help="why it is filed late")
    late.add_argument("--same-as", dest="same_as", type=iso_date,
                      help="copy the answers of the member's report of this day (default: "
                           "their latest report before DAY)")
    late.set_defaults(run=cmd_late)

    trend = report_sub.add_parser(
        "trend", help="per day and unit: reported, missing, exempt, abnormal; optionally a "
                      "chart")
    trend.add_argument("--days", type=int, default=14, help="how many days up to today "
                                                            "(default 14)")
    trend.add_argument("--unit", help="only this unit and the units below it")
    trend.add_argument("--output", help="draw the chart to this .png/.svg/.pdf file")
    trend.set_defaults(run=cmd_trend)

    notice = sub.add_parser("notice", help="policy notices with read receipts")
    notice_sub = notice.add_subparsers(dest="notice_command", required=True)
    send = notice_sub.add_parser(
        "send", help="send FILE (first line: the title) to a unit and the units below it, or "
                     "to everyone")
    send.add_argument("file")
    send.add_argument("--unit", help="the unit (default: everyone)")
    send.add_argument("--cards", action="store_true",
                      help="members on cards get a card with a 已读/Read button")
    send.add_argument("--by", help="who sends it (recorded in the audit log)")
    send.set_defaults(run=cmd_notice_send)
    status = notice_sub.add_parser("status", help="who has read notice N")
    status.add_argument("number", type=int)
    status.add_argument("--by", help="who asks (recorded in the audit log)")
    status.set_defaults(run=cmd_notice_status)
