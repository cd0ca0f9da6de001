"""The privacy notice: shown on first contact and accepted before any personal data is taken.

`gate(turn, replay)` runs before the router's handlers. A member who has not accepted the
current notice version gets the notice instead of an answer, until they reply 同意/agree (or
press 同意 on the card members on cards get under it); then the acceptance and the version are
stored and the command the notice was first shown instead of (统计, 上报, …) is answered —
through `replay` — or, when there was none and their basic information is missing, it starts.
At the notice, 中文/English and 文字/卡片 switch at once (the notice comes again in the new
language), 帮助 explains the step and 取消 says what declining means. A new notice version
is shown (and accepted) again once. Location events from a member who has not accepted are
dropped, not stored. The member page /h5/ shows the same notice (`notice_text`) and takes the
same acceptance (handlers/web/member.py).

What the notice says is collected is not written in the catalog: it is the short labels of the
questions of the forms in use today (basic information and the daily report, the versions
`handlers/form_registry.py` picks), so a published form that asks something new is listed.
The version members must have accepted is `privacy.notice_version` plus one for each published
form version in use that asks a question (a key) no earlier version of its form asked
(`FormRegistry.widening`); a reworded question changes nothing. A member who accepted an
older version gets the new notice once, before their next form: a form already in progress
(not a daily form left from an earlier day, which would restart on today's version) finishes
first.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot import catalog
from bot.conversation import render
from bot.conversation.forms import Form
from bot.settings import Settings
from bot.wecom.inbound import (
    CardEventIn,
    EnterAgentIn,
    LocationEventIn,
    LocationMessageIn,
    MenuClickIn,
    SubscribeIn,
    TextIn,
    UnsubscribeIn,
)
from handlers import forms
from handlers.commands import parse_command
from handlers.context import Deps, Turn, rendering_of
from handlers.form_registry import BASIC, DAILY
from storage import cards, members, reports
from storage.cards import CardPurpose
from storage.db import AsyncSession
from storage.models import Member

log = logging.getLogger("handlers.privacy")

ACCEPT_WORDS = frozenset({"同意", "我同意", "接受", "agree", "i agree", "accept", "yes, i agree"})
AGREE_KEY = "privacy:agree"
DECLINE_KEY = "privacy:decline"
#: Commands answered at the notice itself (the rest are kept and answered after acceptance).
_AT_NOTICE = {"en", "zh", "text", "cards", "help", "cancel", "back"}
#: Longest command text kept for after the acceptance (a text is at most 500 characters).
PENDING_MAX = 512

Replay = Callable[[Turn, str], Awaitable[None]]


def accepts(text: str) -> bool:
    return unicodedata.normalize("NFKC", text).strip().strip("。.!！").lower() in ACCEPT_WORDS


#: The forms whose questions the notice lists, in this order.
NOTICE_FORMS = (BASIC, DAILY)


@dataclass(frozen=True)
class Notice:
    """The notice in force: the version members must have accepted, and the forms in use."""

    version: int
    forms: tuple[Form, ...]


async def version_in_force(deps: Deps, session: AsyncSession, today: date, now: datetime
                           ) -> int:
    """The version members must have accepted: the configured one, plus one for each form
    version in use by `today` that asks something no earlier version asked."""
    return deps.settings.privacy.notice_version + \
        await deps.forms.widening(session, today, now)


async def in_force(deps: Deps, session: AsyncSession, today: date, now: datetime) -> Notice:
    """The notice in force on `today`, with the forms it lists."""
    version = await version_in_force(deps, session, today, now)
    forms = [(await deps.forms.current(session, name, today, now)).form
             for name in NOTICE_FORMS]
    return Notice(version, tuple(forms))


def has_accepted(member: Member, version: int) -> bool:
    """True when the member accepted notice `version` (or a later one)."""
    return member.privacy_version is not None and member.privacy_version >= version


def collected(forms: Sequence[Form]) -> catalog.Bi:
    """What the forms collect, in both languages: each form's title and its questions' short
    labels, e.g. 基本信息（姓名、学工号、…）；每日上报（位置、体温、…）."""
    zh: list[str] = []
    en: list[str] = []
    for form in forms:
        labels: list[catalog.Bi] = []
        for question in form.questions:
            label = catalog.halves(question.label) if question.label in catalog.CATALOG \
                else catalog.Bi(question.key, question.key)
            if label not in labels:
                labels.append(label)
        title = catalog.halves(form.title)
        zh.append(f"{title.zh}（{'、'.join(b.zh for b in labels)}）")
        en.append(f"{title.en} ({', '.join(b.en for b in labels)})")
    return catalog.Bi("；".join(zh), "; ".join(en))


def _halves(notice: Notice, settings: Settings, *, web: bool) -> catalog.Bi:
    body = catalog.halves("privacy.notice", version=notice.version,
                          collected=collected(notice.forms),
                          days=settings.privacy.raw_location_days)
    hint = catalog.halves("privacy.notice.web" if web else "privacy.notice.reply")
    return catalog.Bi(f"{body.zh}\n{hint.zh}", f"{body.en}\n{hint.en}")


def notice_text(notice: Notice, settings: Settings, lang: str, *, web: bool = False) -> str:
    """The notice as the chat (reply 同意) and the member page (press 同意) show it."""
    both = _halves(notice, settings, web=web)
    return catalog.stack(lang, both.zh, both.en)


def notice_messages(notice: Notice, settings: Settings, lang: str) -> list[dict[str, Any]]:
    """The chat's notice: one text message, or (forms with many questions) the Chinese and
    the English in two, so that no part of it is cut at WeCom's limit."""
    both = _halves(notice, settings, web=False)
    return render.texts([both.en] if lang == "en" else [both.zh, both.en])


def accept(session: AsyncSession, member: Member, version: int, now: datetime) -> None:
    members.accept_privacy(session, member, version, now)
    log.info("privacy notice version %d accepted", version)


async def _version(turn: Turn) -> int:
    return await version_in_force(turn.deps, turn.session, turn.today, turn.now)


async def _form_may_finish(turn: Turn) -> bool:
    """True when the member has a form in progress that goes on as it started: one begun
    under the notice they accepted earlier finishes before the new notice is shown."""
    conv = await forms.load_conversation(turn)
    if conv is None:
        return False
    state = forms.stored_state(conv)
    # A daily form left from an earlier day restarts on today's version: a new form.
    return not (conv.form_id == DAILY and state.late_reason is None
                and state.day != turn.today.isoformat())


async def gate(turn: Turn, replay: Replay) -> bool:
    """True when the callback was handled here (the notice, or its acceptance)."""
    member = turn.member
    if member is None or has_accepted(member, await _version(turn)):
        return False
    inbound = turn.inbound
    if isinstance(inbound, UnsubscribeIn):
        return False  # leaving needs no consent
    if member.privacy_version is not None and await _form_may_finish(turn):
        return False  # accepted an older notice: the form in progress finishes first
    if isinstance(inbound, LocationEventIn | LocationMessageIn):
        log.info("location dropped: privacy notice not accepted yet")
        return True
    if isinstance(inbound, CardEventIn):
        await _on_card(turn, inbound, replay)
        return True
    if isinstance(inbound, TextIn) and accepts(inbound.content):
        await _accepted(turn, replay)
        return True
    said = inbound.content if isinstance(inbound, TextIn) else (
        inbound.key if isinstance(inbound, MenuClickIn) else "")
    command = parse_command(said) if said else None
    if command is not None and command.name in _AT_NOTICE:
        await _at_notice(turn, command.name)
        return True
    if isinstance(inbound, TextIn | MenuClickIn | SubscribeIn | EnterAgentIn):
        if command is not None and len(said) <= PENDING_MAX:
            members.set_privacy_pending(turn.session, member, said, turn.now)
        await show_notice(turn)
    return True


async def show_notice(turn: Turn) -> None:
    """The notice; members on cards also get a card with 同意 / 不同意 buttons under it."""
    member = turn.member
    assert member is not None
    notice = await in_force(turn.deps, turn.session, turn.today, turn.now)
    for message in notice_messages(notice, turn.settings, turn.lang):
        await turn.send(message)
    if rendering_of(member, turn.settings) != "cards":
        return
    version = notice.version
    task_id = f"privacy_{turn.deps.new_id()}"
    card = render.button_card(
        task_id=task_id,
        title=catalog.lang_only("privacy.card_title", turn.lang, version=version),
        subtitle=catalog.lang_only("privacy.card_subtitle", turn.lang), lang=turn.lang,
        buttons=[(AGREE_KEY, catalog.slashed("privacy.agree_button", turn.lang), 1),
                 (DECLINE_KEY, catalog.slashed("privacy.decline_button", turn.lang), 2)])
    await turn.send(render.card_message(card),
                    task=(task_id, CardPurpose.PRIVACY, str(version)))


async def _accepted(turn: Turn, replay: Replay, response_code: str | None = None) -> None:
    member = turn.member
    assert member is not None
    pending = member.privacy_pending
    accept(turn.session, member, await _version(turn), turn.now)
    if response_code:
        await turn.send(render.button_update(
            response_code, catalog.slashed("privacy.agreed_button", turn.lang)),
            kind="update_card")
    await turn.say("privacy.accepted")
    if pending:
        await replay(turn, pending)  # the command the notice was shown instead of
    elif (conv := await forms.load_conversation(turn)) is not None:
        await forms.reprompt_form(turn, conv)  # a form the new notice was shown in: go on
    elif await reports.basic_info(turn.session, member.userid) is None:
        await forms.start_form(turn, BASIC)


async def _declined(turn: Turn) -> None:
    assert turn.member is not None
    members.set_privacy_pending(turn.session, turn.member, None, turn.now)
    await turn.say("privacy.declined")


async def _at_notice(turn: Turn, name: str) -> None:
    member = turn.member
    assert member is not None
    if name in ("cancel", "back"):
        await _declined(turn)
        return
    if name == "help":
        await turn.say("privacy.help")
        return
    if name in ("en", "zh"):
        member.language = name
        await turn.say(f"lang.{name}")
    else:
        member.rendering = name
        await turn.say(f"rendering.{name}")
    member.updated_at = turn.now
    members.save(turn.session, member)
    await show_notice(turn)  # in the new language / rendering


async def _on_card(turn: Turn, inbound: CardEventIn, replay: Replay) -> None:
    task = await cards.get(turn.session, inbound.task_id) if inbound.task_id else None
    ours = task is not None and task.purpose == CardPurpose.PRIVACY and \
        task.userid.lower() == inbound.userid.lower()
    if not ours or task is None or task.ref != str(await _version(turn)):
        await show_notice(turn)  # any other card (or an older notice's) waits for consent
        return
    if inbound.event_key == AGREE_KEY:
        await _accepted(turn, replay, inbound.response_code or None)
    elif inbound.event_key == DECLINE_KEY:
        await _declined(turn)
    else:
        await show_notice(turn)
