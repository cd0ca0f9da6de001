"""Render one question two ways: plain text (WeChat plugin) and a template card (WeCom client).

Why two: members in the WeCom client get tappable cards, while the WeChat plugin (微工作台)
shows neither template cards nor markdown, so every question also exists as a numbered text
("回复 1 是 / 2 否"). Both come from the same `Question`; typed answers work with either.

Limits (protocol doc §4): text ≤ 2048 UTF-8 bytes; ≤ 6 buttons; vote options 1..20; selectors
1..3 with 1..10 options; task_id only [0-9A-Za-z_-@], ≤ 128 bytes. WeCom states display lengths
in characters ("button ≈10 chars"); we count display columns, a CJK character being two columns,
so "≈10 characters" becomes 20 columns and fits ten Chinese characters or ~20 Latin letters.
Texts that could exceed a limit are clipped with "…" here, as a last guard; the catalog is
tested to fit without clipping.

Card choice: SINGLE/CONFIRM with ≤ 6 options → button_interaction; MULTI → vote_interaction
(mode 1); SINGLE with more options → vote_interaction (mode 0). Typed questions (number, text,
phone, date) are text prompts in both renderings, unless they also offer options (a prefilled
value to confirm, the location shortcuts), which then appear as buttons.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot import catalog
from bot.catalog import Bi
from bot.conversation.forms import Option, Question, QuestionKind
from bot.text import ELLIPSIS, TEXT_LIMIT_BYTES, fit, pack

__all__ = [
    "BUTTON_WIDTH",
    "MAX_BUTTONS",
    "MAX_SELECTS",
    "MAX_SELECT_OPTIONS",
    "MAX_VOTE_OPTIONS",
    "OPTION_WIDTH",
    "SOURCE_WIDTH",
    "SUBTITLE_WIDTH",
    "TASK_ID_RE",
    "TITLE_WIDTH",
    "button_card",
    "button_update",
    "card_kind",
    "card_update",
    "chosen_text",
    "clip",
    "display_width",
    "make_task_id",
    "multiple_card",
    "question_card",
    "question_messages",
    "question_text",
    "text_message",
    "texts",
    "vote_card",
]

MAX_BUTTONS = 6
MAX_VOTE_OPTIONS = 20
MAX_SELECTS = 3
MAX_SELECT_OPTIONS = 10
BUTTON_WIDTH = 20      # ≈10 characters
OPTION_WIDTH = 32      # ≈16 characters (vote ≈17, select ≈16)
TITLE_WIDTH = 72       # main_title.title ≈36 characters
SUBTITLE_WIDTH = 320   # sub_title_text ≈160 characters
SOURCE_WIDTH = 40      # source.desc ≈20 characters
REPLACE_WIDTH = 48     # replace_name / replace_text: no documented limit; keep it short
TASK_ID_RE = re.compile(r"[0-9A-Za-z_\-@]{1,128}")
SUBMIT_KEY = "submit"


# ---- measuring -------------------------------------------------------------------------------


def display_width(text: str) -> int:
    """Columns on screen: wide (CJK, full-width, emoji) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def clip(text: str, width: int) -> str:
    """`text` cut to `width` columns, ending in "…" when it was cut."""
    if display_width(text) <= width:
        return text
    out: list[str] = []
    used = display_width(ELLIPSIS)
    for ch in text:
        used += display_width(ch)
        if used > width:
            break
        out.append(ch)
    return "".join(out).rstrip() + ELLIPSIS


def make_task_id(conv_id: str, seq: int) -> str:
    task_id = f"{conv_id}_{seq}"
    if not TASK_ID_RE.fullmatch(task_id) or len(task_id.encode()) > 128:
        raise ValueError(f"invalid task id {task_id!r}")
    return task_id


# ---- text --------------------------------------------------------------------------------


def text_message(content: str) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": fit(content)}}


def texts(parts: Iterable[str | None]) -> list[dict[str, Any]]:
    """Text messages for the non-empty parts: joined by blank lines, split only when one
    message would exceed the byte limit."""
    chunks = pack((p for p in parts if p), limit=TEXT_LIMIT_BYTES, sep="\n\n")
    return [text_message(chunk) for chunk in chunks]


def option_label(option: Option, lang: str, width: int | None = None) -> str:
    """"是 Yes" / "Yes"; Chinese only when both would not fit `width` columns."""
    full = catalog.side_by_side(option.label, lang)
    if width is None or display_width(full) <= width:
        return full
    return clip(catalog.lang_only(option.label, lang), width)


def _compact(question: Question) -> bool:
    return (question.kind is not QuestionKind.MULTI and len(question.options) <= 3
            and all(display_width(catalog.side_by_side(o.label, "zh")) <= 24
                    for o in question.options))


def options_text(question: Question, lang: str) -> str:
    """The numbered options: one line ("回复 1 是 / 2 否") or one option per line."""
    options = question.options
    if _compact(question):
        halves = Bi(*(" / ".join(f"{n} {catalog.templates(o.label)[i]}"
                                 for n, o in enumerate(options, 1)) for i in (0, 1)))
        return catalog.stacked("hint.reply_options", lang, options=halves)
    lines = [f"{n}. {option_label(o, lang)}" for n, o in enumerate(options, 1)]
    hint = "hint.reply_numbers" if question.kind is QuestionKind.MULTI else "hint.reply_number"
    return "\n".join([*lines, catalog.stacked(hint, lang)])


def question_text(question: Question, lang: str, params: Mapping[str, Any]) -> str:
    prompt = catalog.stacked(question.prompt, lang, **params)
    if not question.options:
        return prompt
    return f"{prompt}\n{options_text(question, lang)}"


# ---- cards -------------------------------------------------------------------------------------


def card_kind(question: Question, rendering: str) -> str | None:
    """Which template card renders `question`, or None for a plain text prompt."""
    if rendering != "cards" or not question.options:
        return None
    if question.kind is QuestionKind.MULTI or len(question.options) > MAX_BUTTONS:
        return "vote_interaction"
    return "button_interaction"


def _card_base(card_type: str, *, task_id: str, title: str, subtitle: str, lang: str
               ) -> dict[str, Any]:
    return {
        "card_type": card_type,
        "source": {"desc": clip(catalog.slashed("app.name", lang), SOURCE_WIDTH),
                   "desc_color": 0},
        "main_title": {"title": clip(title, TITLE_WIDTH)},
        "sub_title_text": clip(subtitle, SUBTITLE_WIDTH),
        "task_id": task_id,
    }


def button_card(*, task_id: str, title: str, subtitle: str, lang: str,
                buttons: Sequence[tuple[str, str, int]]) -> dict[str, Any]:
    """buttons: (key, text, style)."""
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise ValueError("button_interaction needs 1..6 buttons")
    card = _card_base("button_interaction", task_id=task_id, title=title, subtitle=subtitle,
                      lang=lang)
    card["button_list"] = [{"text": clip(text, BUTTON_WIDTH), "style": style, "key": key}
                           for key, text, style in buttons]
    return card


def vote_card(*, task_id: str, title: str, subtitle: str, lang: str, question_key: str,
              options: Sequence[tuple[str, str]], multi: bool, checked: Iterable[str] = (),
              disabled: bool = False) -> dict[str, Any]:
    """options: (id, text). `disabled` renders the answered card (for update_template_card)."""
    if not 1 <= len(options) <= MAX_VOTE_OPTIONS:
        raise ValueError("vote_interaction needs 1..20 options")
    ticked = set(checked)
    card = _card_base("vote_interaction", task_id=task_id, title=title, subtitle=subtitle,
                      lang=lang)
    card["checkbox"] = {
        "question_key": question_key,
        "mode": 1 if multi else 0,
        "option_list": [{"id": oid, "text": clip(text, OPTION_WIDTH), "is_checked": oid in ticked}
                        for oid, text in options],
    }
    card["submit_button"] = {"text": _submit_text(lang), "key": SUBMIT_KEY}
    if disabled:
        card["checkbox"]["disable"] = True
        card["replace_text"] = clip(catalog.slashed("card.submitted", lang), REPLACE_WIDTH)
    return card


def multiple_card(*, task_id: str, title: str, subtitle: str, lang: str,
                  selects: Sequence[tuple[str, str, Sequence[tuple[str, str]], str | None]],
                  disabled: bool = False) -> dict[str, Any]:
    """selects: (question_key, title, [(id, text)], selected_id) — grouped single selects."""
    if not 1 <= len(selects) <= MAX_SELECTS:
        raise ValueError("multiple_interaction needs 1..3 selectors")
    card = _card_base("multiple_interaction", task_id=task_id, title=title, subtitle=subtitle,
                      lang=lang)
    select_list = []
    for key, select_title, options, selected in selects:
        if not 1 <= len(options) <= MAX_SELECT_OPTIONS:
            raise ValueError("a selector needs 1..10 options")
        select: dict[str, Any] = {
            "question_key": key,
            "title": clip(select_title, OPTION_WIDTH),
            "option_list": [{"id": oid, "text": clip(text, OPTION_WIDTH)}
                            for oid, text in options],
        }
        if selected is not None:
            select["selected_id"] = selected
        if disabled:
            select["disable"] = True
        select_list.append(select)
    card["select_list"] = select_list
    card["submit_button"] = {"text": _submit_text(lang), "key": SUBMIT_KEY}
    if disabled:
        card["replace_text"] = clip(catalog.slashed("card.submitted", lang), REPLACE_WIDTH)
    return card


def _submit_text(lang: str) -> str:
    full = catalog.side_by_side("opt.submit", lang)
    return full if display_width(full) <= BUTTON_WIDTH else catalog.lang_only("opt.submit", lang)


def card_question_key(question: Question) -> str:
    """The checkbox question_key for a question (its key without the engine's marks)."""
    return re.sub(r"[^0-9A-Za-z_]", "", question.key) or "q"


def question_card(question: Question, *, lang: str, params: Mapping[str, Any], title: str,
                  task_id: str, checked: Iterable[str] = (), disabled: bool = False
                  ) -> dict[str, Any]:
    kind = card_kind(question, "cards")
    subtitle = catalog.stacked(question.prompt, lang, **params)
    if kind == "button_interaction":
        return button_card(task_id=task_id, title=title, subtitle=subtitle, lang=lang,
                           buttons=[(o.id, option_label(o, lang, BUTTON_WIDTH), o.style)
                                    for o in question.options])
    if kind == "vote_interaction":
        return vote_card(task_id=task_id, title=title, subtitle=subtitle, lang=lang,
                         question_key=card_question_key(question),
                         options=[(o.id, option_label(o, lang, OPTION_WIDTH))
                                  for o in question.options],
                         multi=question.kind is QuestionKind.MULTI, checked=checked,
                         disabled=disabled)
    raise ValueError(f"{question.key} has no card rendering")


def card_message(card: Mapping[str, Any]) -> dict[str, Any]:
    return {"msgtype": "template_card", "template_card": dict(card)}


def question_messages(question: Question, *, lang: str, rendering: str,
                      params: Mapping[str, Any], title: str, lead: Sequence[str] = (),
                      body: str | None = None, task_id: str | None = None
                      ) -> list[dict[str, Any]]:
    """Everything sent to ask `question`: `lead` (notices, errors) and `body` (a summary or a
    checklist) first, then the question — one text in text mode, or texts plus a card."""
    if card_kind(question, rendering) is None:
        return texts([*lead, body, question_text(question, lang, params)])
    if task_id is None:
        raise ValueError("a card needs a task id")
    card = question_card(question, lang=lang, params=params, title=title, task_id=task_id)
    return [*texts([*lead, body]), card_message(card)]


# ---- updates after a click ----------------------------------------------------------------------


def chosen_text(options: Sequence[Option], lang: str) -> str:
    """"已选择：是 / Chosen: Yes" (Chinese only if the pair would be too long)."""
    zh = "、".join(catalog.templates(o.label)[0] for o in options)
    en = ", ".join(catalog.templates(o.label)[1] for o in options)
    full = catalog.slashed("card.chosen", lang, choice=Bi(zh, en))
    if display_width(full) <= REPLACE_WIDTH:
        return full
    return clip(catalog.lang_only("card.chosen", lang, choice=Bi(zh, en)), REPLACE_WIDTH)


def button_update(response_code: str, replace_name: str) -> dict[str, Any]:
    return {"response_code": response_code, "button": {"replace_name": replace_name}}


def card_update(response_code: str, card: Mapping[str, Any]) -> dict[str, Any]:
    return {"response_code": response_code, "template_card": dict(card)}
