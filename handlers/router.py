"""Route one inbound callback to what it means for the member, by type and then by command."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot import catalog
from bot.clock import local_time_text
from bot.conversation import engine
from bot.wecom.inbound import (
    CardEventIn,
    EnterAgentIn,
    LocationEventIn,
    LocationMessageIn,
    MenuClickIn,
    OtherIn,
    SubscribeIn,
    TextIn,
    UnsubscribeIn,
)
from handlers import forms, notices, privacy_notice, unit_day
from handlers.commands import Command, parse_command
from handlers.context import Turn
from handlers.form_registry import BASIC, DAILY
from handlers.reviewers import ACK_KEY, PROXY_KEY, acknowledge
from handlers.stats import send_unit_summary
from storage import cards, conversations, members, reports
from storage import outbox as outbox_repo
from storage.cards import CardPurpose
from storage.members import REVIEWING
from storage.models import Conversation
from storage.outbox import reminder_key

log = logging.getLogger("handlers.router")

MAX_TEXT_CHARS = 500
PROXY_QUERY = unit_day.PROXY_QUERY  # what 代报, 补报 and 免报 take


async def dispatch(turn: Turn) -> None:
    inbound = turn.inbound
    if turn.member is None:
        if isinstance(inbound, TextIn | SubscribeIn | MenuClickIn | CardEventIn):
            await turn.say("roster.not_found", userid=inbound.userid)
        log.info("callback from a userid not in the roster (%s)", inbound.kind)
        return
    if await privacy_notice.gate(turn, replay_command):  # the notice comes before anything
        return
    handler = _HANDLERS.get(type(inbound))
    if handler is None:
        log.info("unhandled callback %s (%s)", inbound.kind,
                 getattr(inbound, "event", "") or getattr(inbound, "msg_type", ""))
        return
    await handler(turn)


# ---------------------------------------------------------------- text and menu


async def on_text(turn: Turn) -> None:
    assert isinstance(turn.inbound, TextIn)
    text = turn.inbound.content
    conv = await forms.load_conversation(turn)
    if len(text) > MAX_TEXT_CHARS:
        await turn.say("input.too_long", limit=MAX_TEXT_CHARS)
        if conv is not None:
            await forms.reprompt_form(turn, conv)
        return
    command = parse_command(text)
    if command is not None and conv is not None and (
            command.name in _ENGINE_OWNED or await forms.names_an_option(turn, conv, text)):
        command = None  # the engine's own words, or an option's own word (代填 at 定位失败)
    if command is not None:
        await run_command(turn, command, conv)
        await turn.point_to_cards()  # a command answered with cards alone
        return
    if conv is not None:
        await forms.advance_form(turn, conv, engine.TextInput(text))
        return
    if text.strip() in REMINDER_REPLIES and await reminded_today(turn):
        await cmd_report(turn, Command("report"), None)  # the reminder's numbered options
        return
    await turn.say("cmd.unknown")


async def replay_command(turn: Turn, said: str) -> None:
    """Answer a command (typed text or menu key) the privacy notice was shown instead of,
    once the member has accepted it."""
    command = parse_command(said)
    if command is not None:
        await run_command(turn, command, await forms.load_conversation(turn))


# A text reminder offers "1 report now / 2 same as yesterday"; both open today's report, whose
# same-as-yesterday step follows the location.
REMINDER_REPLIES = ("1", "2", "１", "２")


async def reminded_today(turn: Turn) -> bool:
    keys = [reminder_key(job, turn.today, turn.inbound.userid)
            for job in ("morning_reminder", "second_reminder")]
    return await outbox_repo.any_key_exists(turn.session, keys)


async def on_menu_click(turn: Turn) -> None:
    assert isinstance(turn.inbound, MenuClickIn)
    command = parse_command(turn.inbound.key)
    conv = await forms.load_conversation(turn)
    if command is None:
        log.info("unknown menu key")
        await turn.say("cmd.unknown")
        return
    await run_command(turn, command, conv)


# Inside a form these words belong to the engine (it knows cancel/back/help per step, and
# continue/restart at the resume prompt or anywhere in the form).
_ENGINE_OWNED = {"cancel", "back", "help", "continue", "restart"}


async def run_command(turn: Turn, command: Command, conv: Conversation | None) -> None:
    action = _COMMANDS[command.name]
    await action(turn, command, conv)


async def cmd_report(turn: Turn, command: Command, conv: Conversation | None) -> None:
    assert turn.member is not None
    if conv is not None and conv.form_id == DAILY and \
            forms.stored_state(conv).subject == turn.member.userid:
        existing = await forms.report_today(turn, turn.member.userid)
        if existing is not None:
            # The member's own form, left over (e.g. from yesterday) for a day filed since.
            await conversations.end(turn.session, conv)
            await forms.say_already_reported(turn, existing)
            return
    if conv is not None:
        await forms.reprompt_form(turn, conv)
        return
    await start_daily_report(turn)


async def start_daily_report(turn: Turn) -> None:
    assert turn.member is not None
    if await reports.basic_info(turn.session, turn.member.userid) is None:
        await turn.say("info.required")
        await forms.start_form(turn, BASIC)
        return
    existing = await forms.report_today(turn, turn.member.userid)
    if existing is not None:
        await forms.say_already_reported(turn, existing)
        return
    await forms.start_form(turn, DAILY)


async def cmd_info(turn: Turn, command: Command, conv: Conversation | None) -> None:
    assert turn.member is not None
    info = await reports.basic_info(turn.session, turn.member.userid)
    if info is not None:
        await forms.show_basic_info(turn, info)
    if conv is not None:
        await forms.reprompt_form(turn, conv)
    elif info is None:
        await forms.start_form(turn, BASIC)


async def cmd_status(turn: Turn, command: Command, conv: Conversation | None) -> None:
    assert turn.member is not None
    report = await forms.report_today(turn, turn.member.userid)
    if report is None and conv is not None and forms.is_own(turn, conv):
        # A form of theirs is open: say so; its current question follows (QA2 #14).
        title = (await forms.current_form(turn, conv.form_id)).title
        await turn.say("status.not_yet_open", date=turn.today.isoformat(),
                       form=catalog.halves(title))
    elif report is None:
        await turn.say("status.not_yet", date=turn.today.isoformat())
    else:
        filler = await members.get(turn.session, report.filled_by)
        by = filler.name if filler else report.filled_by
        await turn.say("status.reported", date=turn.today.isoformat(),
                       time=local_time_text(turn.deps.clock, report.submitted_at),
                       receipt=report.receipt, by=by)
    if conv is not None:
        await forms.reprompt_form(turn, conv)


async def cmd_help(turn: Turn, command: Command, conv: Conversation | None) -> None:
    await turn.say("help")
    if turn.member is not None and turn.member.role in REVIEWING:
        await turn.say("help.reviewer")  # their own commands, with the arguments they take
    await turn.say("help.faq")


async def cmd_cancel(turn: Turn, command: Command, conv: Conversation | None) -> None:
    """cancel/back outside a form."""
    await turn.say("cmd.nothing_to_cancel")


async def cmd_nothing_to_continue(turn: Turn, command: Command,
                                  conv: Conversation | None) -> None:
    """继续/重新开始 outside a form (inside one, the engine answers them)."""
    await turn.say("cmd.nothing_to_continue")


async def _set_member(turn: Turn, conv: Conversation | None, key: str, **changes: str) -> None:
    assert turn.member is not None
    for name, value in changes.items():
        setattr(turn.member, name, value)
    turn.member.updated_at = turn.now
    members.save(turn.session, turn.member)
    await turn.say(key)
    if conv is not None:
        # Re-send the current question in the new rendering/language.
        await forms.reprompt_form(turn, conv)


async def cmd_text(turn: Turn, command: Command, conv: Conversation | None) -> None:
    await _set_member(turn, conv, "rendering.text", rendering="text")


async def cmd_cards(turn: Turn, command: Command, conv: Conversation | None) -> None:
    await _set_member(turn, conv, "rendering.cards", rendering="cards")


async def cmd_lang_en(turn: Turn, command: Command, conv: Conversation | None) -> None:
    await _set_member(turn, conv, "lang.en", language="en")


async def cmd_lang_zh(turn: Turn, command: Command, conv: Conversation | None) -> None:
    await _set_member(turn, conv, "lang.zh", language="zh")


async def cmd_stats(turn: Turn, command: Command, conv: Conversation | None) -> None:
    await send_unit_summary(turn)
    await forms.note_open_form(turn, conv)


async def cmd_proxy(turn: Turn, command: Command, conv: Conversation | None) -> None:
    """代报 <学工号 | userid | 姓名>: a reviewer fills today's report for a member of their units.

    The member is found by the student/staff ID they entered, their WeCom userid or their name;
    several members of one name are listed to choose from. Anyone not found among the
    reviewer's units gets one answer, whether or not they are on the roster (no probing).
    The reviewer's own form, if one is open, is paused and comes back when this one ends."""
    if conv is not None and not forms.is_own(turn, conv):  # already filling in for someone
        await forms.say_finish_current_first(turn, conv)
        return
    if not await _proxy(turn, command, conv):
        await forms.note_open_form(turn, conv)


async def _proxy(turn: Turn, command: Command, conv: Conversation | None) -> bool:
    """True when the 代报 form started (or the reviewer's own report was asked for)."""
    reviewer = turn.member
    assert reviewer is not None
    if reviewer.role not in REVIEWING:
        await turn.say("proxy.not_reviewer")
        return False
    target = command.argument
    if not target:
        await turn.say("proxy.usage")
        return False
    if not PROXY_QUERY.fullmatch(target):
        await turn.say("proxy.bad_userid")
        return False
    subject = await unit_day.find_subject(turn, reviewer, target,
                                          choose="proxy.choose")
    if subject is None:
        return False
    if subject.userid == reviewer.userid:
        await cmd_report(turn, Command("report"), conv)
        return True
    existing = await forms.report_today(turn, subject.userid)
    if existing is not None:
        await forms.say_already_reported(turn, existing)  # says by whom and when
        return False
    # The form's own intro names the member and the day ("开始为 … 填写 … 的健康上报"); a
    # paused own form is said in the same message.
    lead = [await forms.pause_own_form(turn, conv)] if conv is not None else None
    await forms.start_form(turn, DAILY, subject=subject, lead=lead)
    return True


async def cmd_ack(turn: Turn, command: Command, conv: Conversation | None) -> None:
    number = command.argument.lstrip("#")
    if not number.isdigit():
        await turn.say("alert.unknown", number=command.argument or "-")
        return
    await acknowledge(turn, int(number))
    await forms.note_open_form(turn, conv)


_COMMANDS: dict[str, Callable[[Turn, Command, Conversation | None], Awaitable[None]]] = {
    "report": cmd_report, "info": cmd_info, "status": cmd_status, "help": cmd_help,
    "cancel": cmd_cancel, "back": cmd_cancel, "text": cmd_text, "cards": cmd_cards,
    "en": cmd_lang_en, "zh": cmd_lang_zh, "stats": cmd_stats, "proxy": cmd_proxy,
    "ack": cmd_ack, "continue": cmd_nothing_to_continue, "restart": cmd_nothing_to_continue,
    **unit_day.COMMANDS,  # 补报, 免报, 提醒
    **notices.COMMANDS,  # 已读
}


# ---------------------------------------------------------------- location


async def on_location_event(turn: Turn) -> None:
    """LOCATION comes each time a member enters the app: remember it; answer a waiting
    location question with it; otherwise say nothing (it would be noise)."""
    inbound = turn.inbound
    assert isinstance(inbound, LocationEventIn) and turn.member is not None
    turn.member.last_lat, turn.member.last_lng = inbound.lat, inbound.lng
    turn.member.last_location_at = turn.now
    members.save(turn.session, turn.member)
    conv = await forms.load_conversation(turn)
    if conv is not None:
        # The engine uses it if a location question is waiting and ignores it otherwise.
        await forms.advance_form(turn, conv, engine.LocationInput(
            lat=inbound.lat, lng=inbound.lng, label="", source="event", at=turn.now))


async def on_location_message(turn: Turn) -> None:
    inbound = turn.inbound
    assert isinstance(inbound, LocationMessageIn)
    conv = await forms.load_conversation(turn)
    if conv is None:
        await turn.say("loc.no_form")
        return
    await forms.advance_form(turn, conv, engine.LocationInput(
        lat=inbound.lat, lng=inbound.lng, label=inbound.label, source="message", at=turn.now))


# ---------------------------------------------------------------- cards


async def on_card(turn: Turn) -> None:
    inbound = turn.inbound
    assert isinstance(inbound, CardEventIn)
    task = await cards.get(turn.session, inbound.task_id) if inbound.task_id else None
    if task is None or task.userid not in ("*", inbound.userid) and (
            task.userid.lower() != inbound.userid.lower()):
        await turn.say("card.not_yours")
        return
    await _learn_rendering(turn)
    if task.purpose == CardPurpose.REMIND:
        if inbound.event_key not in ("report", "same"):
            await turn.say("card.stale")
            return
        await cmd_report(turn, Command("report"), await forms.load_conversation(turn))
        return
    if task.purpose == CardPurpose.NOTICE:
        await notices.on_notice_card(turn, inbound.event_key, inbound.response_code or None)
        return
    if task.purpose == CardPurpose.PROXY_REQUEST:
        # 代报 from a member's request: the same as typing "代报 <userid>", with all its checks
        # (already reported, another 代报 open, not one's member); a stale click is harmless.
        key = inbound.event_key
        if key != f"{PROXY_KEY}:{task.ref}":
            await turn.say("card.stale")
            return
        await cmd_proxy(turn, Command("proxy", task.ref), await forms.load_conversation(turn))
        return
    if task.purpose == CardPurpose.ALERT_ACK:
        key = inbound.event_key
        if not key.startswith(f"{ACK_KEY}:") or not key.split(":", 1)[1].isdigit():
            await turn.say("card.stale")
            return
        await acknowledge(turn, int(key.split(":", 1)[1]),
                          response_code=inbound.response_code or None)
        return
    conv = await forms.load_conversation(turn)
    if conv is None:
        await turn.say("card.stale")
        return
    if not task.live or cards.form_purpose(conv.form_id) != task.purpose:
        # A card of a finished or other form: say so and ask the current question again.
        await turn.say("card.stale_reask")
        await forms.reprompt_form(turn, conv)
        return
    await forms.advance_form(turn, conv, engine.CardInput(
        task_id=inbound.task_id, event_key=inbound.event_key, selected=inbound.selected,
        response_code=inbound.response_code or None))


async def _learn_rendering(turn: Turn) -> None:
    """A card click proves the member sees cards (the WeChat plugin shows none): members who
    have not chosen a rendering get cards from now on."""
    member = turn.member
    if member is not None and member.rendering is None:
        member.rendering = "cards"
        members.save(turn.session, member)


# ---------------------------------------------------------------- follow / unfollow


async def on_subscribe(turn: Turn) -> None:
    member = turn.member
    assert member is not None
    returning = not member.following
    member.following, member.updated_at = True, turn.now
    members.save(turn.session, member)
    await turn.say("greet.refollow" if returning else "greet.subscribe", name=member.name)
    conv = await forms.load_conversation(turn)
    if conv is not None:
        await forms.reprompt_form(turn, conv)
    elif await reports.basic_info(turn.session, member.userid) is None:
        await forms.start_form(turn, BASIC)
    elif await forms.report_today(turn, member.userid) is None:
        await turn.say("report.offer")


async def on_unsubscribe(turn: Turn) -> None:
    """Mark not following; keep everything, including a form in progress."""
    member = turn.member
    assert member is not None
    member.following, member.updated_at = False, turn.now
    members.save(turn.session, member)


async def on_enter_agent(turn: Turn) -> None:
    """Entering the app says nothing by itself; the LOCATION event that follows may."""


async def on_other(turn: Turn) -> None:
    inbound = turn.inbound
    assert isinstance(inbound, OtherIn)
    if inbound.msg_type in ("image", "voice", "video", "link", "file"):
        await turn.say("msg.unsupported")
    else:
        log.info("unhandled event %r", inbound.event or inbound.msg_type)


_HANDLERS: dict[type, Callable[[Turn], Awaitable[None]]] = {
    TextIn: on_text, MenuClickIn: on_menu_click, LocationEventIn: on_location_event,
    LocationMessageIn: on_location_message, CardEventIn: on_card, SubscribeIn: on_subscribe,
    UnsubscribeIn: on_unsubscribe, EnterAgentIn: on_enter_agent, OtherIn: on_other,
}
