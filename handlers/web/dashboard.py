"""The reviewers' dashboard `/dashboard/`, scoped exactly like `统计` (storage/units.py).

Reviewers see the units they review and every unit below; admins see the whole university;
anyone else gets a 403 page; a member outside one's units is "not found" (404), like a userid not on
the roster. Every view of other people's data is written to the audit log
(`web.dashboard`, `web.member`, `web.export`), like `统计`.
"""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from bot import catalog
from bot.clock import local_date, local_time_text
from bot.conversation import engine
from bot.conversation.form_files import reason_labels
from bot.conversation.render import text_message
from handlers.context import Turn, lang_of
from handlers.form_registry import BASIC, DAILY
from handlers.forms import build_context, current_form, store_record
from handlers.reviewers import acknowledge
from handlers.stats import OWN_DUE_KEYS
from handlers.unit_day import remind_units_now
from handlers.web import formview
from handlers.web.chart import svg
from handlers.web.common import (
    MEMBER,
    deps_of,
    message_page,
    now_of,
    page,
    settings_of,
    signed_in,
    wake_sender,
)
from handlers.web.member import read_turn, web_inbound
from storage.export import (
    ExportError,
    check_range,
    export_columns,
    export_rows,
    write_csv,
    write_xlsx,
)
from storage.models import Member
from storage.reminders import OwnDue, own_due
from storage.summary import unit_summaries
from storage.units import ancestors, may_act_on, reviewed_units, unit_names, unit_tree
from storage import alerts, audit, members, reports
from storage.audit import AuditAction

CHART_DAYS = 14
MISSING_SHOWN = 300  # names listed; "remind now" reaches every non-reporter in scope
ALERT_DAYS = 7


def _ordered_units(tree: dict[str, str | None], scope: set[str] | None
                   ) -> list[tuple[str, int]]:
    """(unit id, depth) in tree order, restricted to the scope."""
    children: dict[str | None, list[str]] = {}
    for unit_id, parent in tree.items():
        children.setdefault(parent if parent in tree else None, []).append(unit_id)
    ordered: list[tuple[str, int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for unit_id in sorted(children.get(parent, [])):
            visible = scope is None or unit_id in scope
            if visible:
                ordered.append((unit_id, depth))
            walk(unit_id, depth + 1 if visible else depth)

    walk(None, 0)
    return ordered


_COUNTS = ("total", "reported", "missing", "unfollowed", "abnormal")


def _rolled_up(tree: dict[str, str | None], summaries: dict[str, Any]
               ) -> dict[str, dict[str, int]]:
    """Each unit's counts including every unit below it (a college sums its classes), in
    one pass up the tree from each unit that has members."""
    rolled: dict[str, dict[str, int]] = {}
    for unit_id, s in summaries.items():
        own = {"total": s.total, "reported": s.reported, "missing": len(s.missing),
               "unfollowed": len(s.unfollowed), "abnormal": len(s.abnormal)}
        for ancestor in ancestors(tree, unit_id):
            into = rolled.setdefault(ancestor, dict.fromkeys(_COUNTS, 0))
            for key in _COUNTS:
                into[key] += own[key]
    return rolled


def _both(labels: catalog.Bi, lang: str) -> str:
    """Reason labels on one line: "发热 / fever" (English only for "en"), like the catalog's
    one-line texts."""
    return labels.en if lang == "en" else f"{labels.zh} / {labels.en}"


async def _scope(session: Any, actor: Member) -> set[str] | None | bool:
    """The actor's units (None = all); False when they may not use the dashboard."""
    units = await reviewed_units(session, actor)
    return False if units is not None and not units else units


@signed_in
async def dashboard(request: web.Request) -> web.StreamResponse:
    deps, actor, now = deps_of(request), request[MEMBER], now_of(request)
    lang = lang_of(actor, settings_of(request))
    today = local_date(deps.clock, now)
    async with deps.db.transaction() as session:
        scope = await _scope(session, actor)
        if scope is False:
            return message_page(request, "web.dashboard.not_reviewer", status=403)
        assert scope is not True
        summaries = {s.unit_id: s for s in await unit_summaries(session, today, scope,
                                                                tz=deps.clock.tz)}
        tree = await unit_tree(session)
        names = await unit_names(session)
        series = await reports.daily_counts(session, today, CHART_DAYS, scope,
                                             deps.clock.tz)
        recent = await alerts.since(session, today - timedelta(days=ALERT_DAYS - 1), scope)
        daily = await deps.forms.current(session, DAILY, today, now)  # the reasons' labels
        own = await own_due(session, actor, today)  # the reviewer's own report
        acked_by = {a.acknowledged_by for a in recent if a.acknowledged_by}
        ack_names = {uid: (m.name if (m := await members.get(session, uid)) else uid)
                     for uid in acked_by}
        audit.record(session, at=now, actor=actor.userid, action=AuditAction.WEB_DASHBOARD,
                     target=today.isoformat(),
                     detail={"units": len(summaries), "alerts": len(recent)})
    rolled = _rolled_up(tree, summaries)
    rows = []
    for unit_id, depth in _ordered_units(tree, scope):
        counts = rolled.get(unit_id)
        if not counts or not counts["total"]:
            continue
        rows.append({"id": unit_id, "name": names.get(unit_id, unit_id), "depth": depth,
                     **counts, "percent": round(100 * counts["reported"] / counts["total"])})
    missing = [(uid, name, names.get(s.unit_id, s.unit_id))
               for s in summaries.values() for uid, name in s.missing]
    alert_rows = [{
        "id": a.alert_id, "name": a.name, "userid": a.userid, "day": a.day.isoformat(),
        "unit": names.get(a.unit_id or "", a.unit_id or ""),
        "reasons": _both(reason_labels(a.reasons, daily), lang),
        "acked": catalog.stacked("web.dashboard.acked", lang,
                             by=ack_names.get(a.acknowledged_by, a.acknowledged_by),
                             time=local_time_text(deps.clock, a.acknowledged_at))
        if a.acknowledged_by and a.acknowledged_at else None,
    } for a in recent]
    reminded, recent = request.query.get("reminded"), request.query.get("recent")
    no_info = request.query.get("no_info")
    return page(request, "dashboard.html", {
        "today": today.isoformat(), "units": rows, "missing": missing[:MISSING_SHOWN],
        "missing_total": len(missing), "alerts": alert_rows,
        "chart": svg(series, rate_label=catalog.slashed("web.dashboard.rate", lang),
                     abnormal_label=catalog.slashed("web.dashboard.abnormal", lang)),
        "chart_days": CHART_DAYS, "alert_days": ALERT_DAYS,
        "reminded": int(reminded) if reminded and reminded.isdigit() else None,
        "recent": int(recent) if recent and recent.isdigit() else 0,
        "no_info": int(no_info) if no_info and no_info.isdigit() else 0,
        # Not reported today themself: the chat's line, and a link to the member page.
        "own_due": None if own is None else {
            "key": OWN_DUE_KEYS[own],
            "href": "/h5/" if own is OwnDue.REPORT else "/h5/?tab=info",
            "label": "web.dashboard.own_report" if own is OwnDue.REPORT
            else "web.dashboard.own_info"},
        "export_from": (today - timedelta(days=6)).isoformat(),
    })


@signed_in
async def remind(request: web.Request) -> web.StreamResponse:
    """Remind today's non-reporters of the actor's units now: the chat's 提醒 exactly
    (unit_day.remind_units_now: once per member per hour, paced through the outbox). Posted
    `userid` fields narrow it to those members (still only within the actor's units)."""
    deps, actor, now = deps_of(request), request[MEMBER], now_of(request)
    post = await request.post()
    chosen = {str(v) for v in post.getall("userid", [])}
    async with deps.db.transaction() as session:
        turn = await Turn.open(deps, session, web_inbound(actor.userid, now), now)
        done = await remind_units_now(turn, actor, only=chosen or None, via="web")
        if done is None:
            return message_page(request, "web.dashboard.not_reviewer", status=403)
    wake_sender(request)
    raise web.HTTPSeeOther(f"/dashboard/?reminded={done.reminded}&recent={done.recent}"
                           f"&no_info={done.no_info}")


@signed_in
async def ack(request: web.Request) -> web.StreamResponse:
    deps, actor, now = deps_of(request), request[MEMBER], now_of(request)
    try:
        alert_id = int(request.match_info["alert_id"])
    except ValueError:
        return message_page(request, "web.not_found", status=404)
    async with deps.db.transaction() as session:
        subject = await alerts.subject(session, alert_id)
        if subject is None:
            return message_page(request, "web.not_found", status=404)
        if subject.userid == actor.userid or not await may_act_on(session, actor, subject):
            return message_page(request, "web.forbidden", status=403)
        turn = await Turn.open(deps, session, web_inbound(actor.userid, now), now)
        await acknowledge(turn, alert_id)
    wake_sender(request)
    raise web.HTTPSeeOther("/dashboard/#alerts")


async def _subject_or_error(request: web.Request, session: Any
                            ) -> Member | web.Response:
    """The member named in the path if the actor reviews them. Someone outside the actor's
    units gets the same 404 as a userid not on the roster (no probing, as in the chat)."""
    actor = request[MEMBER]
    units = await reviewed_units(session, actor)
    if units is not None and not units:
        return message_page(request, "web.forbidden", status=403)  # not a reviewer at all
    subject = await members.get(session, request.match_info["userid"])
    if subject is None or not await may_act_on(session, actor, subject):
        return message_page(request, "web.not_found", status=404)
    return subject


@signed_in
async def member_history(request: web.Request) -> web.StreamResponse:
    deps, actor, now = deps_of(request), request[MEMBER], now_of(request)
    lang = lang_of(actor, settings_of(request))
    async with deps.db.transaction() as session:
        subject = await _subject_or_error(request, session)
        if isinstance(subject, web.Response):
            return subject
        past = await reports.history(session, subject.userid)
        info = await reports.basic_info(session, subject.userid)
        names = await unit_names(session)
        # Each record with its own version of its form (labels, questions, abnormal labels).
        info_form = (await deps.forms.for_record(
            session, BASIC, info.form_version, local_date(deps.clock, info.submitted_at), now)
            if info else None)
        report_forms = {r.form_version: await deps.forms.for_record(
            session, DAILY, r.form_version, r.report_date, now) for r in past}
        audit.record(session, at=now, actor=actor.userid, action=AuditAction.WEB_MEMBER,
                     target=subject.userid, detail={"reports": len(past)})
    return page(request, "member.html", {
        "subject": subject, "unit": names.get(subject.unit_id or "", subject.unit_id or ""),
        "info_lines": engine.summary_lines(info_form.form, info.answers, lang)
        if info and info_form else None,
        "reports": [{
            "day": r.report_date.isoformat(), "receipt": r.receipt,
            "time": local_time_text(deps.clock, r.submitted_at),
            "abnormal": _both(reason_labels(r.abnormal_reasons, report_forms[r.form_version]),
                              lang) if r.abnormal else "",
            "proxy": r.filled_by != r.userid,
            "lines": engine.summary_lines(report_forms[r.form_version].form, r.answers, lang),
        } for r in past],
    })


def _day(value: str | None, default: date) -> date:
    return date.fromisoformat(value) if value else default


@signed_in
async def export(request: web.Request) -> web.StreamResponse:
    deps, actor, now = deps_of(request), request[MEMBER], now_of(request)
    today = local_date(deps.clock, now)
    fmt = request.query.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        return message_page(request, "web.not_found", status=400)
    try:
        start = _day(request.query.get("from"), today)
        end = _day(request.query.get("to"), today)
        check_range(start, end, today)
    except (ValueError, ExportError):
        return message_page(request, "web.not_found", status=400)
    async with deps.db.transaction() as session:
        scope = await _scope(session, actor)
        if scope is False:
            return message_page(request, "web.dashboard.not_reviewer", status=403)
        assert scope is not True
        rows = [r for r in await export_rows(session, start, end, None, tz=deps.clock.tz)
                if scope is None or r.unit in scope]
        columns = await export_columns(session, start, end)
        audit.record(session, at=now, actor=actor.userid, action=AuditAction.WEB_EXPORT,
                     target=f"{start.isoformat()}..{end.isoformat()}",
                     detail={"rows": len(rows), "format": fmt})
    name = f"yiqingtong-{start.isoformat()}-{end.isoformat()}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"',
               "Cache-Control": "no-store"}
    if fmt == "csv":
        buffer = io.StringIO()
        write_csv(rows, buffer, columns)
        return web.Response(body=buffer.getvalue().encode("utf-8-sig"), headers=headers,
                            content_type="text/csv", charset="utf-8")
    body = await asyncio.get_running_loop().run_in_executor(None, _xlsx_bytes, rows, columns)
    return web.Response(body=body, headers=headers, content_type=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))


def _xlsx_bytes(rows: list[Any], columns: tuple[str, ...]) -> bytes:
    fd, path = tempfile.mkstemp(prefix=".yqt-web-export-", suffix=".xlsx")
    os.close(fd)
    try:
        write_xlsx(rows, path, columns=columns)
        with open(path, "rb") as handle:
            return handle.read()
    finally:
        os.unlink(path)


def _proxy_receipt(report: Any, subject: Member, lang: str, deps: Any) -> str | None:
    """Today's report of the member, as the reviewer sees it (filed by whom)."""
    if report is None:
        return None
    if report.filled_by != subject.userid:
        return catalog.stacked("web.proxy.done", lang, name=subject.name,
                                 receipt=report.receipt)
    return catalog.stacked("web.receipt", lang, date=report.report_date.isoformat(),
                             time=local_time_text(deps.clock, report.submitted_at),
                             receipt=report.receipt)


async def _proxy_render(request: web.Request, subject: Member, *, raw: dict[str, Any] | None,
                        errors: dict[str, str] | None, status: int = 200,
                        done: str | None = None) -> web.Response:
    deps, actor, now = deps_of(request), request[MEMBER], now_of(request)
    lang = lang_of(actor, settings_of(request))
    async with deps.db.session() as session:
        turn = await read_turn(deps, session, actor, now)
        report = await reports.report_of_day(session, subject.userid, turn.today)
        form = await current_form(turn, DAILY)
        ctx = await build_context(turn, form, subject)
        fields = formview.fields(form, raw if raw is not None else
                                 formview.initial_raw(form, {}, ctx), ctx, lang, errors)
    return page(request, "proxy.html", {
        "subject": subject, "fields": fields, "errors": errors or {}, "done": done,
        "report": report, "report_text": _proxy_receipt(report, subject, lang, deps),
        "form": {"id": "daily", "action": request.path,
                 "title": catalog.slashed("web.proxy.title", lang, name=subject.name),
                 "intro": "", "note": catalog.stacked(form.note, lang)
                 if form.note else ""},
        "jssdk": "null",
    }, status=status)


@signed_in
async def proxy_form(request: web.Request) -> web.StreamResponse:
    """代报 on the web: the daily report for a member of the actor's units (the reviewer
    types the member's address, or abroad, or unknown with a reason — as in the chat)."""
    deps = deps_of(request)
    async with deps.db.session() as session:
        subject = await _subject_or_error(request, session)
    if isinstance(subject, web.Response):
        return subject
    if subject.userid == request[MEMBER].userid:
        raise web.HTTPSeeOther("/h5/")
    if request.method == "GET":
        return await _proxy_render(request, subject, raw=None, errors=None)
    actor, now = request[MEMBER], now_of(request)
    lang = lang_of(actor, settings_of(request))
    post = await request.post()
    async with deps.db.transaction() as session:
        turn = await Turn.open(deps, session, web_inbound(actor.userid, now), now)
        form = await current_form(turn, DAILY)
        raw = formview.read_post(form, post)
        ctx = await build_context(turn, form, subject)
        outcome = formview.parse(form, raw, ctx, lang)
        if outcome.ok:
            await store_record(turn, form, outcome.answers, ctx, outcome.effects)
    if not outcome.ok:
        return await _proxy_render(request, subject, raw=raw, errors=outcome.errors,
                                   status=400)
    wake_sender(request)
    raise web.HTTPSeeOther(request.path)
