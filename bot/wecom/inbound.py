"""Callback XML -> our own frozen values.

The XML (the POST body, then the decrypted message) is read with the standard library's C
parser (expat) into a dict of the <xml> root's children, shaped as xmltodict would give it: an
element's stripped text (None when empty), a dict for an element with children, a list for a
repeated one. A document type declaration is refused before parsing: entities can only be
declared in one, so this defuses entity-expansion bombs and external entities, and a reference
to any other entity is an error in expat. Bytes must be UTF-8 (WeCom's only encoding); a str is
parsed as such whatever its XML declaration says, so no other encoding can hide a declaration
from the check. (xmltodict, which did this before, cost three times as much: over a tenth of
a callback's CPU.) Each message or event becomes one of the frozen `Inbound` values below;
`SelectedItems` of a template_card_event is normalised (one child is a dict, several a list).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import xml.etree.ElementTree as ElementTree

from bot.wecom.crypto import CallbackRejected

log = logging.getLogger("bot.callback")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def selected_items(raw: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """{question_key: (option_id, ...)} from a template_card_event's SelectedItems."""
    items = (raw.get("SelectedItems") or {})
    result: dict[str, tuple[str, ...]] = {}
    if not isinstance(items, dict):
        return result
    for item in _as_list(items.get("SelectedItem")):
        if not isinstance(item, dict):
            continue
        key = str(item.get("QuestionKey") or "")
        option_ids = item.get("OptionIds") or {}
        ids = _as_list(option_ids.get("OptionId")) if isinstance(option_ids, dict) else []
        result[key] = tuple(str(i) for i in ids if i is not None)
    return result


@dataclass(frozen=True)
class Inbound:
    userid: str
    create_time: int
    dedupe_key: str
    kind: str = field(default="", init=False)


@dataclass(frozen=True)
class TextIn(Inbound):
    content: str = ""
    kind: str = field(default="text", init=False)


@dataclass(frozen=True)
class LocationMessageIn(Inbound):
    lat: float = 0.0
    lng: float = 0.0
    label: str = ""
    kind: str = field(default="location", init=False)


@dataclass(frozen=True)
class LocationEventIn(Inbound):
    lat: float = 0.0
    lng: float = 0.0
    precision: float = 0.0
    kind: str = field(default="LOCATION", init=False)


@dataclass(frozen=True)
class SubscribeIn(Inbound):
    kind: str = field(default="subscribe", init=False)


@dataclass(frozen=True)
class UnsubscribeIn(Inbound):
    kind: str = field(default="unsubscribe", init=False)


@dataclass(frozen=True)
class EnterAgentIn(Inbound):
    kind: str = field(default="enter_agent", init=False)


@dataclass(frozen=True)
class MenuClickIn(Inbound):
    key: str = ""
    kind: str = field(default="click", init=False)


@dataclass(frozen=True)
class CardEventIn(Inbound):
    task_id: str = ""
    event_key: str = ""
    card_type: str = ""
    response_code: str = ""
    selected: dict[str, tuple[str, ...]] = field(default_factory=dict)
    kind: str = field(default="template_card_event", init=False)


@dataclass(frozen=True)
class OtherIn(Inbound):
    """Anything we do not handle: answered 200 and logged."""

    msg_type: str = ""
    event: str = ""
    kind: str = field(default="other", init=False)


def _element_value(element: ElementTree.Element) -> Any:
    if len(element) == 0:
        return (element.text or "").strip() or None
    children: dict[str, Any] = {}
    for child in element:
        value = _element_value(child)
        if child.tag in children:
            previous = children[child.tag]
            children[child.tag] = [*previous, value] if isinstance(previous, list) else [
                previous, value]
        else:
            children[child.tag] = value
    return children


def _xml_root(data: bytes | str, what: str) -> dict[str, Any]:
    """The children of the <xml> root as a dict; CallbackRejected(400) for anything else."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if "<!DOCTYPE" in text:
            raise ValueError("document type declarations are refused")
        root = ElementTree.fromstring(text)
    except (ElementTree.ParseError, ValueError):  # UnicodeDecodeError is a ValueError
        raise CallbackRejected(f"{what} is not acceptable XML") from None
    value = _element_value(root)
    if root.tag != "xml" or not isinstance(value, dict):
        raise CallbackRejected(f"{what} has no <xml> root")
    return value


def parse_envelope(body: bytes) -> tuple[str, str]:
    """(Encrypt, ToUserName) from the outer POST body."""
    root = _xml_root(body, "body")
    encrypted = root.get("Encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise CallbackRejected("body has no Encrypt element")
    to_user = root.get("ToUserName")
    return encrypted, to_user if isinstance(to_user, str) else ""


def _float(value: Any, limit: float = 180.0) -> float:
    """A finite coordinate within ±limit degrees (NaN and infinities are refused: PostgreSQL
    would store NaN, and every distance computed from it is NaN)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CallbackRejected("coordinate is not a number") from None
    if not math.isfinite(number) or abs(number) > limit:
        raise CallbackRejected("coordinate is out of range")
    return number


def parse_plaintext(plaintext: str) -> Inbound:
    """Decrypted XML -> an Inbound value; malformed content raises CallbackRejected(400)."""
    raw = _xml_root(plaintext, "message")
    userid = raw.get("FromUserName")
    if not isinstance(userid, str) or not userid or len(userid) > 64:
        raise CallbackRejected("message has no valid FromUserName")
    try:
        create_time = int(raw.get("CreateTime") or 0)
    except (TypeError, ValueError):
        raise CallbackRejected("CreateTime is not a number") from None
    msg_type = str(raw.get("MsgType") or "").lower()
    if msg_type != "event":
        msg_id = str(raw.get("MsgId") or "")
        key = f"msg:{msg_id}" if msg_id else f"msg:{userid}|{create_time}|{msg_type}"
        if msg_type == "text":
            content = raw.get("Content")
            return TextIn(userid, create_time, key, content=content if isinstance(content, str)
                          else "")
        if msg_type == "location":
            return LocationMessageIn(userid, create_time, key,
                                     lat=_float(raw.get("Location_X"), 90.0),
                                     lng=_float(raw.get("Location_Y")),
                                     label=str(raw.get("Label") or ""))
        return OtherIn(userid, create_time, key, msg_type=msg_type)

    event = str(raw.get("Event") or "")
    event_key = raw.get("EventKey") if isinstance(raw.get("EventKey"), str) else ""
    task_id = raw.get("TaskId") if isinstance(raw.get("TaskId"), str) else ""
    key = f"evt:{userid}|{create_time}|{event}|{event_key}|{task_id}"
    name = event.lower()
    if name == "template_card_event":
        return CardEventIn(userid, create_time, key, task_id=task_id, event_key=event_key,
                           card_type=str(raw.get("CardType") or ""),
                           response_code=str(raw.get("ResponseCode") or ""),
                           selected=selected_items(raw))
    if name == "subscribe":
        return SubscribeIn(userid, create_time, key)
    if name == "unsubscribe":
        return UnsubscribeIn(userid, create_time, key)
    if name == "enter_agent":
        return EnterAgentIn(userid, create_time, key)
    if name == "click":
        return MenuClickIn(userid, create_time, key, key=event_key)
    if name == "location":
        return LocationEventIn(userid, create_time, key, lat=_float(raw.get("Latitude"), 90.0),
                               lng=_float(raw.get("Longitude")),
                               precision=_float(raw.get("Precision") or 0, 1e7))
    log.info("unhandled event type %r", event)
    return OtherIn(userid, create_time, key, msg_type=msg_type, event=event)
