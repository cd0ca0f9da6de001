"""What a handler works with: long-lived `Deps` and the per-callback `Turn`.

Handlers never talk to WeCom: every reply is an outbox row written in the callback's own
transaction (`Turn.send`), so the reply exists if and only if the state change does. The one
exception is the passive reply: the first message to the member who called back, when it is
text, rides on the callback's own HTTP answer (`Turn.reply`), stored with the dedupe row.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot import catalog
from bot.clock import Clock, local_date
from bot.conversation.render import text_message
from bot.text import TEXT_LIMIT_BYTES, byte_len
from bot.settings import Settings
from bot.wecom.inbound import Inbound
from handlers.form_registry import FormRegistry
from storage import cards, members
from storage.db import AsyncSession, Database
from storage.models import Member
from storage.outbox import enqueue_rows, outbox_values

_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
assert len(_ID_ALPHABET) == 32  # new_id picks a character with five bits


def new_id(length: int = 10) -> str:
    """A short random id of lowercase letters and digits (safe in task ids and receipts).

    One read of the OS's CSPRNG for the whole id: the alphabet has 32 characters, so the low
    five bits of each byte pick one without bias. (`secrets.choice` per character read it once
    per character: 34 µs instead of 2 µs, and every form step makes an id.)"""
    return "".join([_ID_ALPHABET[byte & 31] for byte in secrets.token_bytes(length)])


@dataclass(frozen=True)
class Deps:
    settings: Settings
    db: Database
    clock: Clock
    geocode: Callable[[float, float], Any]
    new_id: Callable[[], str] = field(default=new_id)
    #: Which form (published versions, read again every few seconds): handlers/form_registry
    forms: FormRegistry = field(default_factory=FormRegistry)


@dataclass
class Turn:
    """One inbound callback being applied inside one transaction."""

    deps: Deps
    session: AsyncSession
    inbound: Inbound
    now: datetime
    member: Member | None
    #: May the first message to this member be a passive reply (settings and callback type)?
    passive: bool = False
    #: The batch's load found no conversation for this member (saves a query).
    no_conversation_at_load: bool = False
    #: The passive reply's text, if the first message to the member was one.
    reply: str | None = None
    _sequence: int = 0
    #: What the caller was sent by this turn: any card, any other message.
    _caller_cards: bool = False
    _caller_texts: bool = False
    #: The passive reply is the latest message to the member (a text may still join it).
    _reply_last: bool = False
    #: Keep outbox rows until `flush` writes them in one statement (the callback path).
    buffer_outbox: bool = False
    _rows: list[dict[str, Any]] = field(default_factory=list)
    _queued: set[str] = field(default_factory=set)

    @classmethod
    async def open(cls, deps: Deps, session: AsyncSession, inbound: Inbound, now: datetime
                   ) -> Turn:
        member = await members.for_callback(session, inbound.userid,
                                            lock=deps.db.is_postgres)
        return cls(deps=deps, session=session, inbound=inbound, now=now, member=member)

    @property
    def settings(self) -> Settings:
        return self.deps.settings

    @property
    def today(self) -> date:
        return local_date(self.deps.clock, self.now)

    @property
    def lang(self) -> str:
        return lang_of(self.member, self.settings)

    @property
    def rendering(self) -> str:
        return rendering_of(self.member, self.settings)

    def _next_key(self) -> str:
        self._sequence += 1
        return f"{self.inbound.dedupe_key}#{self._sequence}"

    async def send(self, message: dict[str, Any], *, touser: str | None = None,
                   kind: str = "send", task: tuple[str, str, str] | None = None) -> None:
        """Queue one WeCom call; `task` = (task_id, purpose, ref) records an interactive card."""
        recipient = touser or self.inbound.userid
        key = self._next_key()
        if kind == "send" and recipient == self.inbound.userid:
            first = not (self._caller_cards or self._caller_texts)
            if message.get("msgtype") == "template_card":
                self._caller_cards = True
            else:
                self._caller_texts = True
            if first and self.passive and task is None and message.get("msgtype") == "text":
                self.reply = str((message.get("text") or {}).get("content") or "")
                self._reply_last = True
                return
            if self._reply_last and task is None and _plain_text(message) and \
                    self._join_reply(message["text"]["content"]):
                return  # right after the passive reply: into it
            self._reply_last = False
        if kind == "send" and task is None and self._join_text(recipient, message):
            return
        row = outbox_values(dedupe_key=key, touser=recipient, message=message, kind=kind,
                            now=self.now)
        if kind == "send":
            self._queued.add(recipient)
        if self.buffer_outbox:
            self._rows.append(row)  # written by `flush`, with the rest of the callback
        else:
            await enqueue_rows(self.session, [row])
        if task is not None:
            task_id, purpose, ref = task
            cards.add(self.session, task_id=task_id, userid=recipient, purpose=purpose,
                      ref=ref, now=self.now)

    def _join_text(self, recipient: str, message: dict[str, Any]) -> bool:
        """Join a plain text to the message queued last for the same member (messages to
        others or card updates may come between), when that is a text and both fit one
        message: a command's answer and what follows it (a receipt and the form resumed, an
        answer and the note that a form waits) come as one message. Each message counts
        against WeCom's per-member limit, and a reviewer clicking through forms reaches it:
        replies then wait for the pace."""
        if not (self.buffer_outbox and self._rows) or not _plain_text(message):
            return False
        at = next((i for i in range(len(self._rows) - 1, -1, -1)
                   if self._rows[i]["touser"] == recipient and self._rows[i]["kind"] == "send"),
                  None)
        if at is None:
            return False
        last = self._rows[at]
        if last["skip_if_reported"] is not None or not _plain_text(last["payload"]):
            return False
        joined = f"{last['payload']['text']['content']}\n\n{message['text']['content']}"
        if byte_len(joined) > TEXT_LIMIT_BYTES:
            return False
        self._rows[at] = outbox_values(dedupe_key=last["dedupe_key"], touser=recipient,
                                       message=text_message(joined), now=self.now)
        return True

    async def say(self, key: str, *, touser: Member | None = None, **params: Any) -> None:
        """Queue a catalog text for this member (or another member, in their language)."""
        lang = lang_of(touser, self.settings) if touser is not None else self.lang
        await self.send(text_message(catalog.stacked(key, lang, **params)),
                        touser=touser.userid if touser is not None else None)

    async def say_lines(self, key: str, lines: list[str], *, touser: Member | None = None,
                        **params: Any) -> None:
        """A catalog text followed by answer lines (receipts, summaries), shown once."""
        lang = lang_of(touser, self.settings) if touser is not None else self.lang
        content = "\n".join([catalog.stacked(key, lang, **params), *lines])
        await self.send(text_message(content), touser=touser.userid if touser else None)

    async def point_to_cards(self, *, typed_at_card: bool = False) -> None:
        """Cards show in the WeCom client only: in the WeChat plugin a member who asked for
        cards sees none of them. When this turn sent the caller a card and nothing else (a
        command answered with a card), or the caller typed while a card asked
        (`typed_at_card`: perhaps they cannot see it), say where the answer went and how to
        get text back: in the passive reply when there is room, else after the card."""
        if not self._caller_cards or (self._caller_texts and not typed_at_card):
            return
        text = catalog.stacked("rendering.card_sent", self.lang)
        if self.passive and self.reply is None:
            self.reply = text
        elif not self._join_reply(text):
            await self.send(text_message(text))
        self._caller_texts = True

    def _join_reply(self, text: str) -> bool:
        """Add `text` to the passive reply when there is one and both fit one message."""
        if self.reply is None:
            return False
        joined = f"{self.reply}\n\n{text}"
        if byte_len(joined) > TEXT_LIMIT_BYTES:
            return False
        self.reply = joined
        return True

    @property
    def queued_for(self) -> set[str]:
        """Recipients given outbox messages by this turn so far."""
        return set(self._queued)

    def take_rows(self) -> list[dict[str, Any]]:
        """The outbox rows buffered so far (the caller writes them), in order."""
        rows, self._rows = self._rows, []
        return rows

    async def flush(self) -> None:
        """Write what the turn produced: state (ORM) and outbox rows, in order."""
        await self.session.flush()
        rows, self._rows = self._rows, []
        await enqueue_rows(self.session, rows)


def _plain_text(message: dict[str, Any]) -> bool:
    return set(message) == {"msgtype", "text"} and message["msgtype"] == "text" and \
        set(message["text"]) == {"content"}


def lang_of(member: Member | None, settings: Settings) -> str:
    return (member.language if member and member.language else settings.bot.default_language)


def rendering_of(member: Member | None, settings: Settings) -> str:
    return (member.rendering if member and member.rendering else settings.bot.default_rendering)
