"""template_card validation and rendering, as WeCom applies them.

The emulator must refuse what WeCom refuses, or the bot only learns about a broken card in
production. Only hard rules are enforced (byte limits, list lengths, required keys, the task_id
charset and its uniqueness); WeCom's "建议" display lengths are advice and are not checked.
Codes follow go-workwx's scrape of the global errcode table (protocol doc §4.7); where WeCom's
exact code for a rule is unknown the nearest listed code is used and the line says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

CARD_TYPES = frozenset({"text_notice", "news_notice", "button_interaction",
                        "vote_interaction", "multiple_interaction"})
#: Card types that call back (and so need a task_id and get a response_code).
INTERACTIVE_TYPES = frozenset({"button_interaction", "vote_interaction",
                               "multiple_interaction"})

TASK_ID_RE = re.compile(r"^[0-9A-Za-z_\-@]+$")
TASK_ID_MAX_BYTES = 128
KEY_MAX_BYTES = 1024
OPTION_ID_MAX_BYTES = 128


class CardRejected(Exception):
    """WeCom would answer this errcode for the card."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


def _nbytes(value: Any) -> int:
    return len(str(value).encode("utf-8"))


def _require(condition: bool, errcode: int, errmsg: str) -> None:
    if not condition:
        raise CardRejected(errcode, errmsg)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def check_task_id(task_id: Any) -> str:
    """42014 for an empty, too long or badly spelled task_id."""
    _require(isinstance(task_id, str) and bool(task_id), 42014,
             "taskid has existed or empty or exceed max len")
    _require(_nbytes(task_id) <= TASK_ID_MAX_BYTES, 42014,
             "taskid has existed or empty or exceed max len")
    _require(bool(TASK_ID_RE.match(task_id)), 42014, "invalid task_id charset")
    return task_id


def _check_options(options: Any, max_count: int) -> None:
    options = _as_list(options)
    _require(1 <= len(options) <= max_count, 42037, "Template_Card.option_list size invalid")
    seen: set[str] = set()
    for option in options:
        option_id = option.get("id") if isinstance(option, dict) else None
        _require(isinstance(option_id, str) and bool(option_id)
                 and _nbytes(option_id) <= OPTION_ID_MAX_BYTES and option_id not in seen,
                 42040, "Template_Card.option_list.id missing or invalid")
        seen.add(option_id)
        _require(bool(option.get("text")), 42041,
                 "Template_Card.option_list.text missing or invalid")


def _check_question_key(question: dict[str, Any], seen: set[str]) -> None:
    key = question.get("question_key")
    _require(isinstance(key, str) and bool(key) and _nbytes(key) <= KEY_MAX_BYTES
             and key not in seen, 42043, "Template_Card.question_key missing or invalid")
    seen.add(key)


def _check_submit(card: dict[str, Any]) -> None:
    submit = card.get("submit_button")
    key = submit.get("key") if isinstance(submit, dict) else None
    _require(isinstance(key, str) and bool(key) and _nbytes(key) <= KEY_MAX_BYTES,
             42046, "Template_Card.submit_button.key missing or invalid")


def _check_url_action(action: dict[str, Any]) -> None:
    kind = action.get("type", 0)
    if kind == 1:
        _require(bool(action.get("url")), 42028, "Template_Card missing url")
    elif kind == 2:
        _require(bool(action.get("appid")), 42030, "Template_Card missing appid")


def _check_common(card: dict[str, Any]) -> None:
    horizontal = card.get("horizontal_content_list")
    if horizontal is not None:
        items = _as_list(horizontal)
        _require(len(items) <= 6, 42035, "Template_Card.horizontal_content_list size invalid")
        for item in items:
            _require(isinstance(item, dict) and bool(item.get("keyname")), 42027,
                     "Template_Card.horizontal_content_list.keyname missing")
            kind = item.get("type", 0)
            if kind == 1:
                _require(bool(item.get("url")), 42028, "Template_Card missing url")
            elif kind == 2:
                _require(bool(item.get("media_id")), 42029, "Template_Card missing media_id")
            elif kind == 3:
                _require(bool(item.get("userid")), 42050,
                         "Template_Card.horizontal_content_list.userid missing or invalid")
    jumps = card.get("jump_list")
    if jumps is not None:
        items = _as_list(jumps)
        _require(len(items) <= 3, 42042, "Template_Card.jump_list size invalid")
        for item in items:
            _require(isinstance(item, dict) and bool(item.get("title")), 42033,
                     "Template_Card missing title")
            _check_url_action(item)
    vertical = card.get("vertical_content_list")
    if vertical is not None:
        items = _as_list(vertical)
        _require(len(items) <= 4, 42036, "Template_Card.vertical_content_list size invalid")
        for item in items:
            _require(isinstance(item, dict) and bool(item.get("title")), 42033,
                     "Template_Card missing title")
    action = card.get("card_action")
    if action is not None:
        _require(isinstance(action, dict), 42045, "Template_Card.card_action invalid")
        _check_url_action(action)
    menu = card.get("action_menu")
    if menu is not None:
        actions = _as_list(menu.get("action_list") if isinstance(menu, dict) else None)
        # No code is listed for a wrong action_list length; 42051 (action_menu key) is nearest.
        _require(1 <= len(actions) <= 3, 42051, "Template_Card.action_menu.action_list invalid")
        keys = [a.get("key") for a in actions if isinstance(a, dict)]
        _require(all(isinstance(k, str) and k and _nbytes(k) <= KEY_MAX_BYTES for k in keys)
                 and len(set(keys)) == len(actions), 42051,
                 "Template_Card.action_menu.action_list.key conflict")


def _check_buttons(card: dict[str, Any]) -> None:
    buttons = card.get("button_list")
    # WeCom's exact code for an empty or >6 button_list is not documented; 42018
    # ("按钮key值不合法", a listed button error) is the nearest.
    _require(isinstance(buttons, list) and 1 <= len(buttons) <= 6, 42018,
             "Template_Card.button_list size invalid (1..6)")
    seen: set[str] = set()
    for button in buttons:
        _require(isinstance(button, dict) and bool(button.get("text")), 42020,
                 "missing button name")
        if button.get("type", 0) == 1:
            _require(bool(button.get("url")), 42028, "Template_Card missing url")
            continue
        key = button.get("key")
        _require(isinstance(key, str) and bool(key), 42019, "missing button key")
        _require(_nbytes(key) <= KEY_MAX_BYTES and key not in seen, 42018,
                 "invalid button key")
        seen.add(key)
    selection = card.get("button_selection")
    if selection is not None:
        _require(isinstance(selection, dict), 42043, "Template_Card.button_selection invalid")
        _check_question_key(selection, set())
        _check_options(selection.get("option_list"), 10)


def validate_template_card(card: Any, *, task_id_taken: Callable[[str], bool] | None = None,
                           expected_task_id: str | None = None) -> dict[str, Any]:
    """Raise CardRejected unless WeCom would accept `card`; returns it.

    `task_id_taken(task_id)` says whether the app already used the task_id (sending);
    `expected_task_id` is the task of the card being replaced (update_template_card).
    """
    _require(isinstance(card, dict), 42031, "Template_Card invalid")
    card_type = card.get("card_type")
    _require(card_type in CARD_TYPES, 42031, "Template_Card.card_type invalid")
    task_id = card.get("task_id")
    needs_task = card_type in INTERACTIVE_TYPES or card.get("action_menu") is not None
    if expected_task_id is not None:
        if task_id is not None:
            # The replacement must stay on its task; 42014 (invalid task_id) is nearest.
            _require(task_id == expected_task_id, 42014, "task_id does not match the card")
    elif needs_task or task_id is not None:
        check_task_id(task_id)
        if task_id_taken is not None:
            _require(not task_id_taken(task_id), 42014,
                     "taskid has existed or empty or exceed max len")
    _check_common(card)
    if card_type == "text_notice":
        _require(isinstance(card.get("card_action"), dict), 42045,
                 "Template_Card.card_action missing (text_notice)")
        main_title = card.get("main_title") or {}
        _require(bool(main_title.get("title")) or bool(card.get("sub_title_text")), 42033,
                 "Template_Card missing title (main_title.title or sub_title_text)")
    elif card_type == "news_notice":
        image = card.get("card_image")
        area = card.get("image_text_area")
        _require((isinstance(image, dict) and bool(image.get("url")))
                 or (isinstance(area, dict) and bool(area.get("image_url"))), 42044,
                 "Template_Card.card_image.url missing or invalid")
    elif card_type == "button_interaction":
        _check_buttons(card)
    elif card_type == "vote_interaction":
        checkbox = card.get("checkbox")
        _require(isinstance(checkbox, dict), 42043, "Template_Card.checkbox missing")
        _check_question_key(checkbox, set())
        _check_options(checkbox.get("option_list"), 20)
        _check_submit(card)
    elif card_type == "multiple_interaction":
        selects = card.get("select_list")
        _require(isinstance(selects, list) and 1 <= len(selects) <= 3, 42047,
                 "Template_Card.select_list size invalid")
        seen: set[str] = set()
        for select in selects:
            _require(isinstance(select, dict), 42043, "Template_Card.select_list invalid")
            _check_question_key(select, seen)
            _check_options(select.get("option_list"), 10)
        _check_submit(card)
    return card


# --------------------------------------------------------------------------- rendering

_TAG_RE = re.compile(r"<[^>]+>")


def strip_html(text: str) -> str:
    """textcard descriptions allow <div class=…> and <br>; show them as plain lines."""
    text = re.sub(r"<br\s*/?>", "\n", text, flags=re.IGNORECASE)
    text = re.sub(r"</div>", "\n", text, flags=re.IGNORECASE)
    return "\n".join(line.strip() for line in _TAG_RE.sub("", text).splitlines()
                     if line.strip())


def _lines(*parts: Any) -> Iterable[str]:
    for part in parts:
        if part:
            yield str(part)


def render_card(card: dict[str, Any], *, replace_name: str | None = None,
                selection: dict[str, list[str]] | None = None) -> str:
    """How a WeCom-client member sees a template card, as plain text with numbered choices.

    `replace_name` is the grey button left after update_template_card's button.replace_name;
    `selection` is what the member last chose (shown as checked).
    """
    selection = selection or {}
    out: list[str] = []
    source = card.get("source") or {}
    if source.get("desc"):
        out.append(f"【{source['desc']}】")
    main = card.get("main_title") or {}
    out.extend(_lines(main.get("title"), main.get("desc")))
    emphasis = card.get("emphasis_content") or {}
    if emphasis.get("title") or emphasis.get("desc"):
        out.append(" ".join(_lines(emphasis.get("title"), emphasis.get("desc"))))
    quote = card.get("quote_area") or {}
    if quote.get("title") or quote.get("quote_text"):
        out.append("> " + " ".join(_lines(quote.get("title"), quote.get("quote_text"))))
    out.extend(_lines(card.get("sub_title_text")))
    for item in _as_list(card.get("horizontal_content_list")):
        value = item.get("value") or item.get("userid") or ""
        out.append(f"{item.get('keyname', '')}: {value}")
    for item in _as_list(card.get("vertical_content_list")):
        out.extend(_lines(item.get("title"), item.get("desc")))
    for item in _as_list(card.get("jump_list")):
        out.append(f"→ {item.get('title', '')}")

    greyed = replace_name or card.get("replace_text")
    card_type = card.get("card_type")
    selection_box = card.get("button_selection")
    if isinstance(selection_box, dict):
        out.append(_render_select(selection_box, selection))
    if card_type == "vote_interaction":
        box = card.get("checkbox") or {}
        chosen = set(selection.get(box.get("question_key", ""), []))
        multi = box.get("mode", 0) == 1
        out.append("(multiple choice)" if multi else "(single choice)")
        for n, option in enumerate(_as_list(box.get("option_list")), 1):
            checked = option.get("id") in chosen or (not chosen and option.get("is_checked"))
            out.append(f"{'☑' if checked else '☐'} {n}. {option.get('text', '')}")
    elif card_type == "multiple_interaction":
        for select in _as_list(card.get("select_list")):
            out.append(_render_select(select, selection))
    if greyed:
        out.append(f"[{greyed}] (greyed out)")
    elif card_type == "button_interaction":
        buttons = [f"[{n}] {b.get('text', '')}"
                   for n, b in enumerate(_as_list(card.get("button_list")), 1)]
        out.append("  ".join(buttons))
    elif card_type in ("vote_interaction", "multiple_interaction"):
        submit = card.get("submit_button") or {}
        out.append(f"[{submit.get('text') or '提交'}]")
    return "\n".join(out)


def _render_select(select: dict[str, Any], selection: dict[str, list[str]]) -> str:
    chosen = selection.get(select.get("question_key", ""), [])
    current = chosen[0] if chosen else select.get("selected_id")
    options = []
    for n, option in enumerate(_as_list(select.get("option_list")), 1):
        mark = "•" if option.get("id") == current else " "
        options.append(f"({mark}) {n}. {option.get('text', '')}")
    title = select.get("title") or select.get("question_key", "")
    return f"{title}: " + "  ".join(options)


def render_message(msgtype: str, body: dict[str, Any]) -> str:
    """How a non-card message renders (text, markdown, textcard, news, media)."""
    if msgtype in ("text", "markdown"):
        return str(body.get("content", ""))
    if msgtype == "textcard":
        return "\n".join(_lines(body.get("title"), strip_html(str(body.get("description", ""))),
                                f"[{body.get('btntxt') or '详情'}]"))
    if msgtype in ("news", "mpnews"):
        articles = _as_list(body.get("articles"))
        return "\n".join("\n".join(_lines(a.get("title"), a.get("description") or a.get("digest")))
                         for a in articles)
    return f"[{msgtype}]"
