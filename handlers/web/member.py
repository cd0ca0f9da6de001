"""The member page `/h5/`: the original app's 基本信息填报 page, on top of the chat's forms.

Tabs 每日上报 / 基本信息 under the 温馨提示. Basic information is filled once, then shown
read-only (不可修改); the daily report once a day, then its receipt. Submissions go through
`handlers.forms.store_record`: the same once-only rules, receipt (also in the chat), alerts to
reviewers and country memory as the chat. A report started in the chat is prefilled here.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from aiohttp import web

from bot import catalog
from bot.clock import local_date, local_time_text
from bot.conversation import engine
from bot.conversation.forms import Form
from bot.wecom.inbound import Inbound
from handlers import privacy_notice
from handlers.context import Deps, Turn, lang_of, new_id
from handlers.form_registry import BASIC, DAILY
from handlers.forms import apply_effect, build_context, current_form, record_form, store_record
from handlers.web import formview
from handlers.web.common import (
    MEMBER,
    deps_of,
    html_lines,
    message_page,
    now_of,
    page,
    settings_of,
    signed_in,
    wake_sender,
)
from handlers.web.jssdk import config_for
from storage.models import Member
from storage import conversations, members, reports

#: The page's tabs and the forms they show (the version in use today: handlers/form_registry).
FORMS: dict[str, str] = {"info": BASIC, "daily": DAILY}


def web_inbound(userid: str, now: datetime) -> Inbound:
    """What a page submission is to the handlers: an input of this member, keyed uniquely
    (its outbox rows are named after it)."""
    return Inbound(userid=userid, create_time=int(now.timestamp()),
                   dedupe_key=f"web:{userid}:{new_id(12)}")


async def read_turn(deps: Deps, session: Any, member: Member, now: datetime) -> Turn:
    """A Turn for reading (no row lock): the context the chat's forms are evaluated in."""
    return Turn(deps=deps, session=session, inbound=web_inbound(member.userid, now), now=now,
                member=member)


async def _end_chat_form(session: Any, userid: str, form: Form) -> None:
    """The page completed the form the chat had started: the chat's half is over."""
    conv = await conversations.get(session, userid)
    if conv is not None and conv.form_id == form.id and _own_form(conv):
        await conversations.end(session, conv)


def _own_form(conv: Any) -> bool:
    """The chat's form is the member's own (not a report a reviewer is filling for someone)."""
    return bool(engine.ConvState.from_json(conv.state, owner=conv.userid).subject == conv.userid)


def _tab(request: web.Request) -> str:
    tab = request.query.get("tab", "daily")
    return tab if tab in FORMS else "daily"


async def _earlier_answers(session: Any, member: Member, form: Form, ctx: engine.Context
                           ) -> tuple[dict[str, Any], str | None]:
    """Answers to show before the first submission, and why: the chat's unfinished form, or
    yesterday's report when the form offers "same as yesterday"."""
    conv = await conversations.get(session, member.userid)
    if conv is not None and conv.form_id == form.id and _own_form(conv):
        answers = dict(conv.state.get("answers") or {})
        if answers:
            return answers, "web.started_in_chat"
    repeat = form.repeat
    if repeat is not None and ctx.yesterday and repeat.eligible(ctx.yesterday, ctx):
        copied = {k: v for k, v in ctx.yesterday.items()
                  if form.has(k) and k not in repeat.fresh and form.question(k).accepts(v)}
        if copied:
            return copied, "web.same_as_yesterday"
    return {}, None


def confirmation_digest(answers: dict[str, Any]) -> str:
    """Names the answers a member was shown to check: the page stores basic information only
    when the submission carries the digest of exactly the answers it parses to."""
    canonical = json.dumps(answers, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


async def _render(request: web.Request, tab: str, *, raw: dict[str, Any] | None = None,
                  errors: dict[str, str] | None = None, status: int = 200,
                  notice: str | None = None,
                  confirm: dict[str, Any] | None = None) -> web.Response:
    deps, member, now = deps_of(request), request[MEMBER], now_of(request)
    settings = settings_of(request)
    lang = lang_of(member, settings)
    context: dict[str, Any] = {"tab": tab, "notice": notice, "errors": errors or {},
                               "receipt": None, "fields": [], "form": None, "privacy": None,
                               "confirm": confirm}
    async with deps.db.session() as session:
        turn = await read_turn(deps, session, member, now)
        consent = await privacy_notice.in_force(deps, session, turn.today, now)
        if not privacy_notice.has_accepted(member, consent.version):
            # The same notice (and version) as the chat, accepted before any form is shown.
            context["privacy"] = html_lines(
                privacy_notice.notice_text(consent, settings, lang, web=True))
            context["privacy_version"] = consent.version
            context["jssdk"] = "null"
            context["today"] = turn.today.isoformat()
            context["info_lines"] = context["info_date"] = None
            return page(request, "h5.html", context, status=status)
        form = await current_form(turn, FORMS[tab])
        info = await reports.basic_info(session, member.userid)
        context["info_lines"] = (engine.summary_lines(
            (await record_form(turn, BASIC, info.form_version, turn.today)).form,
            info.answers, lang) if info else None)
        context["info_date"] = (local_date(deps.clock, info.submitted_at).isoformat()
                                if info else None)
        report = await reports.report_of_day(session, member.userid, turn.today)
        if report is not None:
            filler = (await members.get(session, report.filled_by)
                      if report.filled_by != member.userid else None)
            context["receipt"] = {
                "lines": engine.summary_lines(
                    (await record_form(turn, DAILY, report.form_version, turn.today)).form,
                    report.answers, lang),
                "text": catalog.stacked("web.receipt", lang, date=turn.today.isoformat(),
                                    time=local_time_text(deps.clock, report.submitted_at),
                                    receipt=report.receipt),
                "by": filler.name if filler else None,
            }
        show_form = (tab == "info" and info is None) or (
            tab == "daily" and info is not None and report is None)
        if show_form:
            ctx = await build_context(turn, form, member)
            if raw is None:
                earlier, why = await _earlier_answers(session, member, form, ctx)
                raw = formview.initial_raw(form, earlier, ctx)
                context["notice"] = context["notice"] or why
            context["fields"] = formview.fields(form, raw, ctx, lang, errors)
            context["form"] = {"title": catalog.side_by_side(form.title, lang),
                               "intro": "",  # the chat's intro explains chat commands
                               "note": catalog.stacked(form.note, lang) if form.note else "",
                               "action": f"/h5/{tab}", "id": tab,
                               "confirm": confirm["digest"] if confirm else ""}
    context["jssdk"] = json.dumps(await config_for(request)) if show_form and tab == "daily" \
        else "null"
    context["today"] = local_date(deps.clock, now).isoformat()
    return page(request, "h5.html", context, status=status)


@signed_in
async def h5_page(request: web.Request) -> web.StreamResponse:
    done = request.query.get("done")
    notice = {"proxy": "web.proxy_requested"}.get(done or "")
    return await _render(request, _tab(request), notice=notice)


async def _submit(request: web.Request, tab: str) -> web.StreamResponse:
    deps, member, now = deps_of(request), request[MEMBER], now_of(request)
    lang = lang_of(member, settings_of(request))
    post = await request.post()
    async with deps.db.transaction() as session:
        turn = await Turn.open(deps, session, web_inbound(member.userid, now), now)
        assert turn.member is not None
        if not privacy_notice.has_accepted(turn.member, await privacy_notice.version_in_force(
                deps, session, turn.today, now)):
            return message_page(request, "web.privacy_first", status=409)
        form = await current_form(turn, FORMS[tab])
        raw = formview.read_post(form, post)
        if tab == "daily" and await reports.basic_info(session, member.userid) is None:
            return message_page(request, "web.info_first", status=409)
        ctx = await build_context(turn, form, turn.member)
        outcome = formview.parse(form, raw, ctx, lang)
        confirm: dict[str, Any] | None = None
        if outcome.proxy_requested:
            await apply_effect(turn, engine.Effect("request_proxy", {
                "userid": member.userid, "form_id": form.id, "date": turn.today.isoformat(),
                "reason": "location_failed"}), member.userid)
            await _end_chat_form(session, member.userid, form)
        elif outcome.ok and tab == "info" and (
                post.get("confirm") != confirmation_digest(outcome.answers)):
            # Basic information cannot be changed once stored: as the chat does, show what
            # will be stored and store it only when the member confirms exactly that.
            confirm = {"digest": confirmation_digest(outcome.answers),
                       "lines": engine.summary_lines(form, outcome.answers, lang)}
        elif outcome.ok:
            await store_record(turn, form, outcome.answers, ctx, outcome.effects)
            await _end_chat_form(session, member.userid, form)
    if not outcome.ok:
        return await _render(request, tab, raw=raw, errors=outcome.errors, status=400)
    if confirm is not None:
        return await _render(request, tab, raw=raw, confirm=confirm)
    wake_sender(request)
    suffix = "&done=proxy" if outcome.proxy_requested else ""
    raise web.HTTPSeeOther(f"/h5/?tab={tab}{suffix}")


@signed_in
async def submit_info(request: web.Request) -> web.StreamResponse:
    return await _submit(request, "info")


@signed_in
async def submit_daily(request: web.Request) -> web.StreamResponse:
    return await _submit(request, "daily")


@signed_in
async def applicable(request: web.Request) -> web.StreamResponse:
    """Which questions apply to what is filled in so far (the page's JS hides the others)."""
    deps, member, now = deps_of(request), request[MEMBER], now_of(request)
    post = await request.post()
    name = FORMS.get(str(post.get("form", "")))
    if name is None:
        return web.json_response({"error": "unknown form"}, status=400)
    async with deps.db.session() as session:
        turn = await read_turn(deps, session, member, now)
        if not privacy_notice.has_accepted(member, await privacy_notice.version_in_force(
                deps, session, turn.today, now)):
            return web.json_response({"error": "privacy notice not accepted"}, status=409)
        form = await current_form(turn, name)
        ctx = await build_context(turn, form, member)
        keys = formview.applicable(form, formview.read_post(form, post), ctx)
    return web.json_response({"keys": keys})


@signed_in
async def switch_language(request: web.Request) -> web.StreamResponse:
    post = await request.post()
    lang = "en" if post.get("lang") == "en" else "zh"
    async with deps_of(request).db.transaction() as session:
        member = await members.get(session, request[MEMBER].userid)
        if member is not None:
            member.language = lang  # the same preference as the chat's 中文 / English
            members.save(session, member)
    tab = str(post.get("tab", "daily"))
    raise web.HTTPSeeOther(f"/h5/?tab={tab if tab in FORMS else 'daily'}")


@signed_in
async def accept_privacy(request: web.Request) -> web.StreamResponse:
    """同意 under the page's privacy notice: the same acceptance as replying 同意 in the chat.
    It accepts the version the page showed; when another is in force by now (a form version
    asking something new was published meanwhile) nothing is accepted and the page shows
    the new notice."""
    post = await request.post()
    deps, now = deps_of(request), now_of(request)
    async with deps.db.transaction() as session:
        member = await members.get(session, request[MEMBER].userid)
        version = await privacy_notice.version_in_force(
            deps, session, local_date(deps.clock, now), now)
        shown = str(post.get("version", ""))
        if member is not None and not privacy_notice.has_accepted(member, version) and \
                shown == str(version):
            privacy_notice.accept(session, member, version, now)
    tab = str(post.get("tab", "daily"))
    raise web.HTTPSeeOther(f"/h5/?tab={tab if tab in FORMS else 'daily'}")
