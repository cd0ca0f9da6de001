"""What the emulated corp holds: members, departments, delivered messages and card states.

Tests and the demo assert on what a member *sees*, not on what the bot sent, because WeCom
silently hides some messages (no cards or markdown in the WeChat plugin) and changes others
(truncation, card updates, recalls). These records keep both the raw body and the rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from app.emulator.cards import render_card, render_message

ClientKind = Literal["wecom", "wechat_plugin"]

#: Message types the WeChat plugin (微工作台) does not show.
HIDDEN_IN_PLUGIN = frozenset({"template_card", "markdown"})


@dataclass
class Department:
    id: int
    name: str
    parentid: int
    order: int = 0

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "parentid": self.parentid,
                "order": self.order}


@dataclass
class Member:
    userid: str
    name: str
    department: list[int]
    client: ClientKind = "wecom"
    licensed: bool = True
    position: str = ""

    def to_api(self) -> dict[str, Any]:
        # New self-built apps no longer receive mobile/email/avatar/gender (protocol doc §3.5).
        return {"userid": self.userid, "name": self.name, "department": list(self.department),
                "main_department": self.department[0] if self.department else 1,
                "position": self.position, "status": 1}


@dataclass
class CardView:
    """One member's copy of a template card, as it currently looks."""

    task_id: str
    userid: str
    template_card: dict[str, Any]
    msgid: str
    replace_name: str | None = None
    updates: int = 0
    selection: dict[str, list[str]] = field(default_factory=dict)
    clicks: list[str] = field(default_factory=list)

    @property
    def card_type(self) -> str:
        return str(self.template_card.get("card_type", ""))

    @property
    def disabled(self) -> bool:
        """True once the buttons were greyed out (replace_name, replace_text or disable)."""
        card = self.template_card
        if self.replace_name or card.get("replace_text"):
            return True
        boxes = [card.get("checkbox"), card.get("button_selection"),
                 *(card.get("select_list") or [])]
        return any(isinstance(box, dict) and box.get("disable") for box in boxes)

    @property
    def button_names(self) -> list[str]:
        if self.replace_name:
            return [self.replace_name]
        return [str(b.get("text", "")) for b in self.template_card.get("button_list") or []]

    @property
    def text(self) -> str:
        return render_card(self.template_card, replace_name=self.replace_name,
                           selection=self.selection)


@dataclass
class Delivered:
    """One message as it reached one member's inbox."""

    userid: str
    msgtype: str
    body: dict[str, Any]
    msgid: str | None
    sent_at: float
    visible: bool
    task_id: str | None = None
    response_code: str | None = None
    truncated: bool = False
    recalled: bool = False
    passive: bool = False  # a passive reply to a callback rather than message/send
    card: CardView | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        """How it renders for this member ("" when the member's client hides it)."""
        return render_for_member(self)


def render_for_member(delivered: Delivered) -> str:
    """What a member sees for a delivered message: cards rendered with their current state
    (title, description, numbered buttons/options), "" if the client does not show it."""
    if not delivered.visible or delivered.recalled:
        return ""
    if delivered.msgtype == "template_card":
        if delivered.card is not None:
            return delivered.card.text
        return render_card(delivered.body)
    return render_message(delivered.msgtype, delivered.body)


@dataclass(frozen=True)
class CallbackResult:
    """The bot's answer to one callback POST/GET (status 0 = no HTTP answer at all)."""

    status: int
    body: str
    reply: str | None = None  # the decrypted passive reply, if the body carried one
    error: str | None = None
    deliveries: tuple[tuple[int, str], ...] = ()  # (status, body) of every repeat

    @property
    def ok(self) -> bool:
        return self.status == 200
