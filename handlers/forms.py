"""Driving the pure form engine from a callback: load state, build context, apply the step.

The engine decides; this module only does the I/O around it: it reads what the engine's
context needs, persists the new state at every step, stores completed records (the database
enforces once-only), and turns the engine's output into outbox rows.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from bot import catalog, geo
from bot.clock import local_time_text
from bot.text import TEXT_LIMIT_BYTES, byte_len
from bot.conversation import engine, render
from bot.conversation.render import text_message
from bot.conversation.form_files import FormFile
from bot.conversation.forms import Form
from bot.conversation.validators import match_option
from handlers.context import Turn, lang_of
from handlers.form_registry import BASIC, DAILY
from handlers.reviewers import close_proxy_request, notify_abnormal, notify_proxy_request
from storage import audit, cards, conversations, members, reports
from storage.members import REVIEWING
from storage.models import BasicInfo, Conversation, DailyReport, Member
from storage.units import reviewers_of

#: The staff-number rule of the basic-info form (validators.staff_no), for the prefill offer.
# A userid is offered as the student/staff number only when it could be one: 3-20 letters and
# digits with at least one digit. "zhangsan" is a WeCom account, not an ID; confirming it with
# one tap would store a wrong 学工号 that 代报 by ID then cannot find.
STAFF_NO_PREFILL = re.compile(r"(?=[A-Za-z]*[0-9])[A-Za-z0-9]{3,20}")

log = logging.getLogger("handlers.forms")


async def current_form(turn: Turn, name: str, day: date | None = None) -> Form:
    """The form `name` to start on `day` (default today): handlers/form_registry.py."""
    found = await turn.deps.forms.current(turn.session, name, day or turn.today, turn.now)
    return found.form


async def form_file(turn: Turn, form: Form) -> FormFile:
    """The file `form` was read from (its abnormal rules and their labels)."""
    found = await turn.deps.forms.by_version(turn.session, form.id, form.version)
    if found is None:  # a form built in code (tests): the rules of the form in use today
        found = await turn.deps.forms.current(turn.session, form.id, turn.today, turn.now)
    return found


async def record_form(turn: Turn, name: str, version: int | None, day: date) -> FormFile:
    """The form a stored record answered (its own version), for summaries and alerts."""
    return await turn.deps.forms.for_record(turn.session, name, version, day, turn.now)


def is_own(turn: Turn, conv: Conversation) -> bool:
    """True when the open form is about the member themself (not a 代报/补报 for someone)."""
    return stored_state(conv).subject == turn.inbound.userid


async def pause_own_form(turn: Turn, conv: Conversation) -> str:
    """A reviewer's own form, kept aside while they fill one in for a member (代报/补报); it is
    asked again when that one is submitted or cancelled (apply_step). Returns the line that
    says so, to lead the new form's first message (one message, not one more)."""
    title = (await current_form(turn, conv.form_id)).title
    conversations.pause(conv)
    return catalog.stacked("form.paused", turn.lang, form=catalog.halves(title))


async def _back_to_paused(turn: Turn, conv: Conversation | None) -> None:
    """The form paused under the one that just ended, asked again where it was left (or,
    after a long pause, with the offer to continue or restart, like any form left idle)."""
    if conv is None:
        return
    title = (await current_form(turn, conv.form_id)).title
    await reprompt_form(turn, conv, lead=[
        catalog.stacked("form.resumed", turn.lang, form=catalog.halves(title))])


#: Set in a stored state once a command's answer has said that this form waits (the engine
#: drops unknown keys, so the next step of the form clears it).
WAITING_NOTED = "waiting_noted"


async def note_open_form(turn: Turn, conv: Conversation | None) -> None:
    """After a reviewer's command (统计, 免报, 提醒, 确认, a refused 代报/补报) with a form open:
    the form is not sent again after every command (a card each time, and the replies queue
    behind WeCom's per-member pacing); the first such command says once that it waits and how
    to go on."""
    if conv is None:
        return
    if turn.member is None or turn.member.role not in REVIEWING:
        await reprompt_form(turn, conv)  # a member's misfire: their question again
        return
    if conv.state.get(WAITING_NOTED):
        return
    title = catalog.halves((await current_form(turn, conv.form_id)).title)
    if is_own(turn, conv):
        await turn.say("form.waiting", form=title)
    else:
        subject = await subject_of(turn, conv)
        await turn.say("form.waiting_proxy", form=title,
                       member=subject.name if subject else stored_state(conv).subject)
    conv.state = {**conv.state, WAITING_NOTED: True}


async def say_finish_current_first(turn: Turn, conv: Conversation) -> None:
    """A second 代报/补报 while one for a member is open: refused, saying whose form is open
    and that 取消 discards its answers; then its current question again."""
    subject = await subject_of(turn, conv)
    await turn.say("proxy.finish_current_first",
                   form=catalog.halves((await current_form(turn, conv.form_id)).title),
                   member=subject.name if subject else stored_state(conv).subject)
    await reprompt_form(turn, conv)


async def load_conversation(turn: Turn) -> Conversation | None:
    return await conversations.get(turn.session, turn.inbound.userid,
                                   absent_at_load=turn.no_conversation_at_load)


def stored_state(conv: Conversation) -> engine.ConvState:
    """The typed state of a stored conversation (older stored versions are migrated)."""
    return engine.ConvState.from_json(conv.state, owner=conv.userid)


async def subject_of(turn: Turn, conv: Conversation) -> Member | None:
    """Whom a stored form is about: the member themself, or the member a reviewer reports for
    (None if that member is gone from the roster)."""
    subject_id = stored_state(conv).subject
    if subject_id == turn.inbound.userid:
        return turn.member
    return await members.get(turn.session, subject_id)


async def report_today(turn: Turn, userid: str) -> DailyReport | None:
    return await reports.report_of_day(turn.session, userid, turn.today)


async def report_on(turn: Turn, userid: str, day: date) -> DailyReport | None:
    return await reports.report_of_day(turn.session, userid, day)


async def grace_day_of(turn: Turn, form: Form, state: engine.ConvState,
                       subject_id: str) -> date | None:
    """The day a daily form was started on, when it is still that day's form after midnight.

    A member (or a reviewer's 代报) who reaches the summary at 23:58 and submits at 00:00:10
    files the report for the day it was started, as long as it comes within
    `bot.form_timeout_minutes` of midnight and that day has no report yet. Later, or when the
    day is already filed, the engine starts the new day's form (and says so)."""
    if not form.daily or state.late_reason is not None:
        return None
    day = date.fromisoformat(state.day)
    if day != turn.today - timedelta(days=1):
        return None
    midnight = datetime(turn.today.year, turn.today.month, turn.today.day,
                        tzinfo=turn.deps.clock.tz)
    if turn.now - midnight > timedelta(minutes=turn.settings.bot.form_timeout_minutes):
        return None
    if await report_on(turn, subject_id, day) is not None:
        return None
    return day


def late_of(state: engine.ConvState) -> tuple[date, str] | None:
    """(day, reason) when a form is a reviewer's 补报 of a past day, else None."""
    if state.late_reason is None:
        return None
    return date.fromisoformat(state.day), state.late_reason


async def build_context(turn: Turn, form: Form, subject: Member, *,
                        state: engine.ConvState | None = None,
                        late: tuple[date, str] | None = None) -> engine.Context:
    """The engine's context for `form` about `subject` (the member, or whom a reviewer fills
    for); the daily report's extension only for the daily report. The reviewers to name as
    helpers are looked up only when the next rejected answer would be a stuck one. A 补报
    (`late` = (past day, reason), or a stored state that is one) is evaluated on that day."""
    late = late or (late_of(state) if state is not None else None)
    grace = (await grace_day_of(turn, form, state, subject.userid)
             if state is not None and late is None else None)
    day = late[0] if late else (grace or turn.today)
    settings = turn.settings
    member = turn.member
    assert member is not None
    proxy = subject.userid != member.userid
    prefill = {"name": subject.name}
    if STAFF_NO_PREFILL.fullmatch(subject.userid):
        # Only a userid that looks like a staff number is offered (typing the real ID always
        # works): a longer one would not fit basic_info.staff_no.
        prefill["staff_no"] = subject.userid
    helpers: tuple[str, ...] = ()
    if state is not None and (state.tries + 1) % engine.STUCK_AFTER == 0:
        helpers = tuple(r.name for r in await reviewers_of(turn.session, subject.unit_id)
                        if r.userid != member.userid)[:3]
    daily = engine.DailyContext()
    if form.id == DAILY:
        yesterday: dict[str, Any] | None = None
        previous_city: str | None = None
        last = await reports.last_report_before(turn.session, subject.userid, day)
        if last is not None:
            previous_city = last.city or last.country
            if last.report_date == day - timedelta(days=1):
                yesterday = dict(last.answers)
        last_location = None
        if not proxy and member.last_lat is not None and member.last_location_at:
            last_location = engine.LocationInput(
                lat=member.last_lat, lng=member.last_lng or 0.0, label="", source="event",
                at=member.last_location_at)
        remembered = subject.abroad_country
        if late:
            # A 补报 looks back from that day: the country of the report before it, never
            # one remembered from a later day.
            remembered = (last.country or None) if last is not None and \
                last.location_kind == "abroad" else None
        daily = engine.DailyContext(
            yesterday=yesterday, remembered_country=remembered,
            last_location=last_location,
            location_fresh_seconds=settings.bot.location_fresh_minutes * 60,
            previous_city=previous_city, geocode=turn.deps.geocode,
            read_address=geo.read_address, fever_threshold=settings.bot.fever_threshold)
    return engine.Context(
        userid=member.userid, lang=turn.lang, rendering=turn.rendering, now=turn.now,
        today=day, new_id=turn.deps.new_id(), subject=subject.userid,
        subject_name=subject.name, prefill=prefill,
        form_timeout_seconds=settings.bot.form_timeout_minutes * 60, helpers=helpers,
        late_reason=late[1] if late else None, daily=daily)


async def start_form(turn: Turn, form: Form | str, *, subject: Member | None = None,
                     late: tuple[date, str] | None = None, lead: list[str] | None = None
                     ) -> None:
    """Start `form` (a form, or the name of one: the version in use on the reporting day) for
    the member (or, as a reviewer, for `subject`); `late` = (day, reason) makes it a 补报 of
    that past day; `lead` = texts to put before its first message."""
    subject = subject or turn.member
    assert subject is not None
    if isinstance(form, str):
        form = await current_form(turn, form, late[0] if late else None)
    ctx = await build_context(turn, form, subject, late=late)
    await apply_step(turn, form, None, engine.start(form, ctx), ctx, lead=lead)


async def _resume(turn: Turn, conv: Conversation
                  ) -> tuple[Form, engine.ConvState, engine.Context] | None:
    """The form, state and context of a stored conversation; None if its form (or the member
    it is about) is gone.

    A form in progress goes on with the version it started with (a publish since then changes
    nothing for it), unless it is a daily form left from an earlier day: that one restarts
    (the engine says so) on the version in use today."""
    found = await turn.deps.forms.by_version(turn.session, conv.form_id, conv.form_version)
    if found is None:
        if conv.form_id not in (BASIC, DAILY):
            return None
        # A version that is nowhere (a database restored without it): today's form; the
        # engine restarts it and says the form was updated.
        found = await turn.deps.forms.current(turn.session, conv.form_id, turn.today, turn.now)
    form = found.form
    state = stored_state(conv)
    subject = await subject_of(turn, conv)
    if subject is None:
        return None
    ctx = await build_context(turn, form, subject, state=state)
    if form.daily and state.day != ctx.today.isoformat() and state.late_reason is None:
        today = await current_form(turn, form.id, ctx.today)
        if today.version != form.version:
            form = today
    return form, state, ctx


async def advance_form(turn: Turn, conv: Conversation, inp: engine.Input) -> None:
    resumed = await _resume(turn, conv)
    if resumed is None:  # a form that no longer exists: drop it rather than guess
        await conversations.end(turn.session, conv)
        await turn.say("cmd.unknown")
        return
    form, state, ctx = resumed
    await apply_step(turn, form, conv, engine.advance(form, state, inp, ctx), ctx)
    if isinstance(inp, engine.TextInput) and state.live_task_id:
        await turn.point_to_cards(typed_at_card=True)  # perhaps in WeChat, seeing no card


async def reprompt_form(turn: Turn, conv: Conversation, *, lead: list[str] | None = None
                        ) -> None:
    """Ask the current question again (the engine offers to continue an abandoned form);
    `lead` = texts to put before it, in the same message when they fit."""
    resumed = await _resume(turn, conv)
    if resumed is None:
        await conversations.end(turn.session, conv)
        for text in lead or ():
            await turn.send(text_message(text))
        return
    form, state, ctx = resumed
    await apply_step(turn, form, conv, engine.reprompt(form, state, ctx), ctx, lead=lead)


async def names_an_option(turn: Turn, conv: Conversation, text: str) -> bool:
    """True when `text` is a word of an option of the question the member is looking at: an
    answer, even if it is also a command word (代填 at 定位失败 is the option, not 代报)."""
    resumed = await _resume(turn, conv)
    if resumed is None:
        return False
    form, state, ctx = resumed
    if state.form_version != form.version:
        return False  # the engine starts such a form afresh; its old steps may not exist
    question = engine.current_question(form, state, ctx)
    return match_option(question.options, text, numbered=False) is not None


def _with_lead(lead: list[str] | None, outgoing: tuple[engine.Outgoing, ...]
               ) -> list[engine.Outgoing]:
    """`lead` texts joined to the first message when it is a text and all fits one message;
    else sent as a text of their own before it."""
    out = list(outgoing)
    if not lead:
        return out
    first = next((i for i, o in enumerate(out) if o.kind == "send"), None)
    if first is not None and out[first].message.get("msgtype") == "text":
        content = "\n\n".join([*lead, str(out[first].message["text"]["content"])])
        if byte_len(content) <= TEXT_LIMIT_BYTES:
            out[first] = replace(out[first], message=text_message(content))
            return out
    at = first if first is not None else len(out)
    return [*out[:at], *(engine.Outgoing("send", m) for m in render.texts(lead)), *out[at:]]


async def apply_step(turn: Turn, form: Form, conv: Conversation | None, step: engine.Step,
                     ctx: engine.Context, *, lead: list[str] | None = None) -> None:
    """Persist the step's state, store a completed record, queue its messages and effects
    (`lead`: texts to put before the step's first message)."""
    subject_id = ctx.whom
    if step.completed is not None:
        stored = await _store_completed(turn, form, dict(step.completed), ctx, subject_id,
                                        ctx.late_reason)
        if not stored:
            # Already stored today (or basic info exists): the engine's outputs do not apply.
            if conv is not None:
                await _back_to_paused(turn, await conversations.end(turn.session, conv))
            return
    for out in _with_lead(lead, step.outgoing):
        new_card = out.task_id and out.kind == "send"
        ref = step.state.conv_id if step.state else ""
        task = (out.task_id, cards.form_purpose(form.id), ref) if new_card else None
        await turn.send(dict(out.message), kind=out.kind, task=task)
    for effect in step.effects:
        if ctx.late_reason and effect.name in ("remember_country", "forget_country"):
            continue  # where the member was on a past day is not where they are now
        await _apply_effect(turn, effect.name, dict(effect.data), subject_id)
    if step.state is None:
        restored = await conversations.end(turn.session, conv) if conv is not None else None
        await cards.retire(turn.session, userid=turn.inbound.userid,
                           purpose=cards.form_purpose(form.id))
        if restored is not None:  # the reviewer's own form, paused for this 代报/补报
            await _back_to_paused(turn, restored)
            return
        if (form.id == BASIC and step.completed is not None
                and subject_id == turn.inbound.userid
                and await report_today(turn, subject_id) is None):
            # Basic information was what stood between the member and today's report.
            await start_form(turn, DAILY)
        return
    if conv is None:  # a form starting: the member's row if any (the batch's load tells)
        conv = await load_conversation(turn)
    await conversations.save(turn.session, turn.inbound.userid, form_id=form.id,
                             form_version=form.version, state=step.state.to_json(),
                             now=turn.now, conv=conv, absent=conv is None)


async def _store_completed(turn: Turn, form: Form, answers: dict[str, Any], ctx: engine.Context,
                           subject_id: str, late_reason: str | None = None) -> bool:
    if form.id == BASIC:
        return await _store_basic_info(turn, form, answers, subject_id)
    return await _store_daily_report(turn, form, answers, ctx, subject_id, late_reason)


async def _store_basic_info(turn: Turn, form: Form, answers: dict[str, Any],
                            subject_id: str) -> bool:
    existing = await reports.basic_info(turn.session, subject_id)
    if existing is not None:
        await _say_basic_info_exists(turn, existing)
        return False
    record = BasicInfo(
        userid=subject_id, name=str(answers.get("name", "")),
        staff_no=str(answers.get("staff_no", "")), mobile=str(answers.get("mobile", "")),
        beijing_hukou=bool(answers.get("beijing_hukou") in (True, "yes")),
        hukou_address=answers.get("hukou_address") or None,
        member_type=str(answers.get("member_type", "")),
        form_version=int(answers.get("form_version", form.version)), answers=answers,
        submitted_at=turn.now)
    if not await reports.add_basic_info_once(turn.session, record):
        existing = await reports.basic_info(turn.session, subject_id)
        if existing is not None:
            await _say_basic_info_exists(turn, existing)
        return False
    await turn.say("info.saved", time=local_time_text(turn.deps.clock, turn.now))
    return True


async def _say_basic_info_exists(turn: Turn, info: BasicInfo) -> None:
    await turn.say("info.already", date=_local_day(turn, info.submitted_at))


def _local_day(turn: Turn, at: datetime) -> str:
    return at.astimezone(turn.deps.clock.tz).date().isoformat()


async def show_basic_info(turn: Turn, info: BasicInfo) -> None:
    """The stored basic info, with the reminder that it cannot be changed."""
    form = await record_form(turn, BASIC, info.form_version, turn.today)
    lines = engine.summary_lines(form.form, info.answers, turn.lang)
    lines.append(catalog.stacked("form.basic_info.note", turn.lang))
    await turn.say_lines("info.shown", lines, date=_local_day(turn, info.submitted_at))


async def _store_daily_report(turn: Turn, form: Form, answers: dict[str, Any],
                              ctx: engine.Context, subject_id: str,
                              late_reason: str | None = None) -> bool:
    day = ctx.today  # the reporting day: today, the past day of a 补报, or (just after
    # midnight) the day the form was started on: see grace_day_of
    late = day != turn.today and late_reason is not None
    existing = await report_on(turn, subject_id, day)
    if existing is not None:
        await say_already_reported(turn, existing)
        return False
    location = answers.get("location") or {}
    # The abnormal rules of the form's own file (what the reviewers are alerted about).
    reasons = (await form_file(turn, form)).abnormal_reasons(answers, ctx)
    temperature = answers.get("temperature")
    values = dict(
        userid=subject_id, report_date=day, late=late,
        late_reason=((late_reason or "")[:200] or None) if late else None,
        form_version=int(answers.get("form_version", form.version)), answers=answers,
        temperature=float(temperature) if isinstance(temperature, int | float) else None,
        abnormal=bool(reasons), abnormal_reasons=list(reasons),
        location_kind=str(location.get("kind") or ""), province=location.get("province"),
        city=location.get("city"), district=location.get("district"),
        country=location.get("country"), filled_by=turn.inbound.userid,
        proxy_reason=_proxy_reason(location) if subject_id != turn.inbound.userid else None,
        submitted_at=turn.now)
    for _attempt in range(3):
        report = DailyReport(receipt=turn.deps.new_id()[:8].upper(), **values)
        if await reports.add_report_once(turn.session, report):
            break
        existing = await report_on(turn, subject_id, day)
        if existing is not None:  # filed meanwhile (another instance, a reviewer)
            await say_already_reported(turn, existing)
            return False
        # Otherwise the random receipt collided with an older one: draw another.
    else:
        raise RuntimeError("could not store the daily report")
    if subject_id != turn.inbound.userid:
        audit.record(turn.session, at=turn.now, actor=turn.inbound.userid,
                     action=audit.AuditAction.LATE_REPORT if late
                     else audit.AuditAction.PROXY_REPORT, target=subject_id,
                     detail={"report": report.id, "receipt": report.receipt,
                             "location": report.location_kind, "reason": report.proxy_reason,
                             **({"day": day.isoformat(), "late_reason": report.late_reason}
                                if late else {})})
    subject = await members.get(turn.session, subject_id)
    time = local_time_text(turn.deps.clock, turn.now)
    if late:
        # The reviewer's receipt of a 补报 says so: whose, which day, when filed, and why.
        await turn.say_lines(
            "late.receipt", engine.summary_lines(form, answers, turn.lang),
            name=subject.name if subject else subject_id, date=day.isoformat(),
            filed=f"{turn.today.isoformat()} {time}", receipt=report.receipt,
            reason=report.late_reason or "")
    else:
        await turn.say_lines("report.receipt", engine.summary_lines(form, answers, turn.lang),
                             date=day.isoformat(), time=time, receipt=report.receipt)
    if day != turn.today and not late:
        await turn.say("report.filed_for_started_day", date=day.isoformat(),
                       today=turn.today.isoformat())
    if subject is not None and subject_id != turn.inbound.userid and late:
        assert turn.member is not None
        await turn.say_lines(
            "late.filed_for_you",
            engine.summary_lines(form, answers, lang_of(subject, turn.settings)),
            touser=subject, by=turn.member.name, date=day.isoformat(), time=time,
            receipt=report.receipt, reason=report.late_reason or "")
    elif subject is not None and subject_id != turn.inbound.userid:
        assert turn.member is not None
        await turn.say_lines(
            "proxy.filed_for_you",
            engine.summary_lines(form, answers, lang_of(subject, turn.settings)),
            touser=subject, by=turn.member.name, date=day.isoformat(), time=time,
            receipt=report.receipt)
        if await _stop_members_own_form(turn, subject, day):
            await turn.say("proxy.your_form_stopped", touser=subject, by=turn.member.name,
                           date=day.isoformat())
    if reasons and subject is not None:
        await notify_abnormal(turn, subject, report)
    if subject is not None:
        await close_proxy_request(turn, subject)
    return True


async def _stop_members_own_form(turn: Turn, subject: Member, day: date) -> bool:
    """The member's own daily report for `day`, still open when a reviewer filed that day for
    them: stopped, so there is no second report and no form left hanging. True if stopped."""
    conv = await conversations.get(turn.session, subject.userid)
    if conv is None or conv.form_id != DAILY:
        return False
    state = stored_state(conv)
    if state.subject != subject.userid or state.day != day.isoformat() or \
            state.late_reason is not None:
        return False
    await conversations.end(turn.session, conv)
    await cards.retire(turn.session, userid=subject.userid, purpose=cards.form_purpose(DAILY))
    return True


def _proxy_reason(location: dict[str, Any]) -> str | None:
    """Why a reviewer filled in (phone_fails, no_phone or their words), and for an unknown
    location why it is unknown."""
    parts = [str(p) for p in (location.get("proxy_reason"), location.get("reason")) if p]
    return "; ".join(parts)[:200] or None


async def say_already_reported(turn: Turn, report: DailyReport) -> None:
    time = local_time_text(turn.deps.clock, report.submitted_at)
    if report.userid != turn.inbound.userid:
        # A reviewer filling in for a member: say whose report it is and who filed it.
        subject = await members.get(turn.session, report.userid)
        filler = await members.get(turn.session, report.filled_by)
        await turn.say("proxy.already_reported", name=subject.name if subject else report.userid,
                       by=filler.name if filler else report.filled_by, time=time,
                       receipt=report.receipt)
        return
    if report.filled_by and report.filled_by != report.userid:
        # Filed by a reviewer (代报): say who, as 状态 does (QA2 #14).
        filler = await members.get(turn.session, report.filled_by)
        await turn.say("report.already_by", time=time, receipt=report.receipt,
                       by=filler.name if filler else report.filled_by)
        return
    await turn.say("report.already", time=time, receipt=report.receipt)


async def _apply_effect(turn: Turn, name: str, data: dict[str, Any], subject_id: str) -> None:
    if name in ("remember_country", "forget_country"):
        subject = await members.get(turn.session, subject_id)
        if subject is not None:
            subject.abroad_country = data.get("country") or None
            members.save(turn.session, subject)
    elif name == "request_proxy":
        subject = await members.get(turn.session, subject_id)
        if subject is not None:
            await notify_proxy_request(turn, subject, data)
    elif name == "cancelled":
        pass
    else:
        log.debug("engine effect %s has no handler", name)


async def store_record(turn: Turn, form: Form, answers: dict[str, Any], ctx: engine.Context,
                       effects: list[engine.Effect]) -> bool:
    """Store a form completed outside the chat (the member page): the same once-only checks,
    receipt, proxy audit, alerts and country memory as a submission in the chat.

    False when it was already stored (the member was told why, in the chat)."""
    subject_id = ctx.proxy_for or turn.inbound.userid
    record = {**answers, "form_version": form.version}
    stored = await _store_completed(turn, form, record, ctx, subject_id)
    if stored:
        for effect in effects:
            await _apply_effect(turn, effect.name, dict(effect.data), subject_id)
    return stored


async def apply_effect(turn: Turn, effect: engine.Effect, subject_id: str) -> None:
    """An engine effect requested outside the chat (the page's 请老师代填)."""
    await _apply_effect(turn, effect.name, dict(effect.data), subject_id)
