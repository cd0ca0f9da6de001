"""Policy notices: sending one to a unit through the outbox, and members saying they read it.

Members on cards get the notice with a 已读/Read button (a long notice comes as text first,
then a short card with the button); members on text get the notice and reply `已读 N`
(or just `已读` for their latest unread notice).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from bot import catalog
from bot.clock import local_time_text
from bot.conversation import render
from bot.conversation.render import text_message
from bot.settings import Settings
from bot.text import fit as fit_text
from handlers import forms
from handlers.commands import Command
from handlers.context import Turn, lang_of, new_id, rendering_of
from storage import cards as cards_repo
from storage.cards import CardPurpose
from storage.db import AsyncSession
from storage.models import Conversation, Member, Notice
from storage.notices import (
    NoticeError,
    create_notice,
    latest_unread,
    mark_read,
    notice_audience,
    recipient,
)
from storage.outbox import enqueue_many, outbox_values

READ_KEY = "read"
BATCH = 1000


def check_fits(title: str, body: str) -> None:
    """NoticeError unless the notice fits one WeCom text message in every language."""
    probe = Notice(id=999999, title=title, body=body, created_by="", unit_id=None)
    for lang in ("zh", "en"):
        size = len(_notice_text(probe, lang, with_hint=True).encode("utf-8"))
        if size > render.TEXT_LIMIT_BYTES:
            raise NoticeError(f"the notice is {size} bytes as a WeCom text message; at most "
                              f"{render.TEXT_LIMIT_BYTES} (shorten it or send two)")


def _notice_text(notice: Notice, lang: str, *, with_hint: bool) -> str:
    content = catalog.lang_only("notice.text", lang, number=notice.id, title=notice.title,
                          body=notice.body)
    if with_hint:
        content += "\n" + catalog.stacked("notice.reply_hint", lang, number=notice.id)
    return content


def notice_text(notice: Notice, lang: str, *, with_hint: bool) -> str:
    return fit_text(_notice_text(notice, lang, with_hint=with_hint))


def notice_messages(notice: Notice, lang: str, rendering: str, task_id: str | None
                    ) -> list[dict[str, Any]]:
    """What one member gets: text with the reply hint, or (cards) a card with a Read button,
    preceded by the text when the notice is too long for the card."""
    if rendering != "cards" or task_id is None:
        return [text_message(notice_text(notice, lang, with_hint=True))]
    title = catalog.lang_only("notice.card_title", lang, number=notice.id) + " " + notice.title
    short = render.display_width(notice.body) <= render.SUBTITLE_WIDTH
    messages = [] if short else [text_message(notice_text(notice, lang, with_hint=False))]
    messages.append(render.card_message(render.button_card(
        task_id=task_id, title=render.clip(title, render.TITLE_WIDTH),
        subtitle=notice.body if short else catalog.lang_only("notice.card_see_above", lang),
        lang=lang, buttons=[(f"{READ_KEY}:{notice.id}",
                             catalog.lang_only("notice.read_button", lang), 1)])))
    return messages


async def send_notice(session: AsyncSession, settings: Settings, *, unit: str | None,
                      title: str, body: str, cards: bool, by: str, now: datetime
                      ) -> tuple[Notice, int]:
    """Store the notice and queue it for every following member of the unit (and below);
    returns the notice and the number of members it goes to. NoticeError for a bad unit."""
    check_fits(title, body)
    members = await notice_audience(session, unit)
    notice = await create_notice(session, unit=unit, title=title, body=body, cards=cards,
                                 by=by, now=now, recipients=members)
    groups: dict[tuple[str, str], list[Member]] = defaultdict(list)
    for member in members:
        rendering = rendering_of(member, settings) if cards else "text"
        groups[(lang_of(member, settings), rendering)].append(member)
    rows = []
    for (lang, rendering), group in sorted(groups.items()):
        for start in range(0, len(group), BATCH):
            chunk = group[start:start + BATCH]
            task_id = None
            if rendering == "cards":
                task_id = f"notice_{notice.id}_{new_id(12)}"
                cards_repo.add(session, task_id=task_id, userid="*", purpose=CardPurpose.NOTICE,
                               ref=str(notice.id), now=now)
            for n, message in enumerate(notice_messages(notice, lang, rendering, task_id)):
                rows.extend(outbox_values(dedupe_key=f"notice:{notice.id}:{m.userid}:{n}",
                                          touser=m.userid, message=message, now=now)
                            for m in chunk)
    await enqueue_many(session, rows)
    return notice, len(members)


async def cmd_read(turn: Turn, command: Command, conv: Conversation | None) -> None:
    """已读 N (or 已读 alone: the latest unread notice)."""
    assert turn.member is not None
    number = command.argument.lstrip("#").strip()
    if number and not number.isdigit():
        await turn.say("notice.unknown", number=number[:20])
    elif number:
        await _read(turn, int(number))
    else:
        row = await latest_unread(turn.session, turn.member.userid)
        if row is None:
            await turn.say("notice.none_unread")
        else:
            await _read(turn, row.notice_id)
    if conv is not None:
        await forms.reprompt_form(turn, conv)


async def _read(turn: Turn, notice_id: int, response_code: str | None = None) -> None:
    assert turn.member is not None
    row = await recipient(turn.session, notice_id, turn.member.userid)
    if row is None:
        await turn.say("notice.unknown", number=notice_id)
        return
    if await mark_read(turn.session, row, turn.now):
        await turn.say("notice.read", number=notice_id)
    else:
        assert row.read_at is not None
        await turn.say("notice.already_read", number=notice_id,
                       time=local_time_text(turn.deps.clock, row.read_at))
    if response_code:
        await turn.send(render.button_update(
            response_code, catalog.lang_only("notice.read_done_button", turn.lang)), kind="update_card")


async def on_notice_card(turn: Turn, event_key: str, response_code: str | None) -> None:
    """The Read button of a notice card."""
    head, _, number = event_key.partition(":")
    if head != READ_KEY or not number.isdigit():
        await turn.say("card.stale")
        return
    await _read(turn, int(number), response_code)


COMMANDS = {"read": cmd_read}
