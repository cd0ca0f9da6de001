"""Forms declared as data: questions, options, conditions; nothing here talks to anyone.

Why data: the engine walks any form the same way (by question kind and `when`), so adding or
changing a question is an edit to a tuple, the schema version goes up, and no handler code
changes. Every text is a catalog key (see `bot.catalog`); every stored value is JSON-safe.

The module also declares the engine's own steps as data (the summary with 提交/修改, "same as
yesterday", "continue where you left off", the edit list and the sub-steps of a LOCATION
question), so they render and parse exactly like form questions, in both renderings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from bot import catalog
from bot.conversation import validators as v

__all__ = [
    "CHOICE_KINDS",
    "EDIT",
    "LOCATION_STEPS",
    "LOCATION_SHORTCUTS",
    "MEMBER_ENTRY",
    "PROXY_ENTRY",
    "SHORTCUT_GOES",
    "Loc",
    "LocAct",
    "REPEAT",
    "RESUME",
    "SUBMIT",
    "Advice",
    "Condition",
    "Form",
    "LocationStep",
    "Option",
    "Question",
    "QuestionKind",
    "Repeat",
    "answer_contains",
    "answer_in",
    "answer_not_in",
    "edit_question",
    "no",
    "prefilled",
    "yes",
]


class QuestionKind(StrEnum):
    SINGLE = "single"      # one option
    MULTI = "multi"        # several options (an option may be exclusive, e.g. "none")
    NUMBER = "number"      # typed number, parsed by the question's `parse`
    TEXT = "text"          # typed free text
    PHONE = "phone"        # typed mobile number (mainland or E.164)
    LOCATION = "location"  # the location ladder (GPS, picker, typed address, abroad, proxy)
    CONFIRM = "confirm"    # two-way decision buttons (submit/edit, yes/change, ...)
    DATE = "date"          # typed date


CHOICE_KINDS = frozenset({QuestionKind.SINGLE, QuestionKind.MULTI, QuestionKind.CONFIRM})

_DEFAULT_PARSERS: dict[QuestionKind, v.Parser] = {
    QuestionKind.TEXT: v.free_text(200),
    QuestionKind.PHONE: v.mobile,
    QuestionKind.DATE: v.recent_date(60),
}

_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")

Answers = Mapping[str, Any]


@dataclass(frozen=True)
class Option:
    """One choice. `id` is stable (stored, exported, used as card keys); `label` is a catalog key.

    `value` is what gets stored when it differs from the id (True/False for yes/no questions).
    """

    id: str
    label: str
    value: Any = None
    aliases: tuple[str, ...] = ()
    exclusive: bool = False  # MULTI: may not be combined with other options
    style: int = 1           # button_interaction style 1..4 (1 = primary look)

    @property
    def stored(self) -> Any:
        return self.id if self.value is None else self.value


_YES_WORDS = ("是", "是的", "对", "有", "y", "yes")
_NO_WORDS = ("否", "不是", "不", "没有", "无", "n", "no")


def yes(label: str = "opt.yes", *extra: str) -> Option:
    return Option("yes", label, value=True, aliases=(*_YES_WORDS, *extra))


def no(label: str = "opt.no", *extra: str) -> Option:
    return Option("no", label, value=False, aliases=(*_NO_WORDS, *extra), style=2)


@dataclass(frozen=True)
class Condition:
    """A predicate on earlier answers (and the context); `depends_on` lists the keys it reads,
    so that changing one of those answers also clears the dependent answers."""

    depends_on: tuple[str, ...]
    test: Callable[[Answers, Any], bool]

    def __call__(self, answers: Answers, ctx: Any) -> bool:
        return bool(self.test(answers, ctx))


def answer_in(key: str, *values: Any) -> Condition:
    return Condition((key,), lambda a, _ctx: key in a and a[key] in values)


def answer_not_in(key: str, *values: Any) -> Condition:
    return Condition((key,), lambda a, _ctx: key in a and a[key] not in values)


def answer_contains(key: str, value: Any) -> Condition:
    return Condition((key,), lambda a, _ctx: value in (a.get(key) or ()))


@dataclass(frozen=True)
class Advice:
    """A text sent right after an answer when `when` holds (e.g. a high temperature)."""

    when: Condition
    text: str
    params: Callable[[Answers, Any], Mapping[str, Any]] = lambda _a, _c: {}


@dataclass(frozen=True)
class Question:
    key: str
    kind: QuestionKind
    prompt: str                       # catalog key
    label: str = ""                   # catalog key for summaries; default "field.<key>"
    options: tuple[Option, ...] = ()
    parse: v.Parser | None = None     # typed answers; default by kind (TEXT, PHONE, DATE)
    help: str = ""                    # catalog key; default "help.q.<key>" or "help.generic"
    when: Condition | None = None
    prefill: str | None = None        # key in Context.prefill: offered for one-tap confirmation
    prefill_prompt: str | None = None  # catalog key with {value}
    unit: str | None = None           # catalog key shown after numbers in summaries
    advice: tuple[Advice, ...] = ()
    params: Callable[[Answers, Any], Mapping[str, Any]] | None = None  # prompt parameters

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", f"field.{self.key}")
        if not self.help:
            own = f"help.q.{self.key}"
            object.__setattr__(self, "help", own if own in catalog.CATALOG else "help.generic")

    @property
    def parser(self) -> v.Parser | None:
        return self.parse or _DEFAULT_PARSERS.get(self.kind)

    @property
    def is_choice(self) -> bool:
        return self.kind in CHOICE_KINDS

    def applies(self, answers: Answers, ctx: Any) -> bool:
        return self.when is None or self.when(answers, ctx)

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)

    def option_for(self, value: Any) -> Option | None:
        """The option whose stored value is `value` (for summaries and copied answers)."""
        return next((o for o in self.options if o.stored == value), None)

    def accepts(self, value: Any) -> bool:
        """Could `value` (e.g. copied from yesterday) be this question's answer today?"""
        if self.kind in (QuestionKind.SINGLE, QuestionKind.CONFIRM):
            return self.option_for(value) is not None
        if self.kind is QuestionKind.MULTI:
            return (isinstance(value, list) and bool(value)
                    and all(self.option_for(x) is not None for x in value))
        if self.kind is QuestionKind.LOCATION:
            return isinstance(value, dict) and "kind" in value
        return value is not None


@dataclass(frozen=True)
class Repeat:
    """"Same as yesterday": offered once `after` is answered, when `eligible(yesterday, ctx)`.

    Yesterday's answers are copied for every question except `fresh` ones (asked again)."""

    after: str
    fresh: frozenset[str]
    eligible: Callable[[Answers, Any], bool]


@dataclass(frozen=True)
class Form:
    id: str
    version: int
    title: str                   # catalog key
    intro: str                   # catalog key; may use {date}
    questions: tuple[Question, ...]
    note: str | None = None      # catalog key shown with the final summary
    daily: bool = False          # a conversation belongs to one reporting day
    repeat: Repeat | None = None
    _index: Mapping[str, Question] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {q.key: q for q in self.questions})
        _check_form(self)

    def question(self, key: str) -> Question:
        return self._index[key]

    def has(self, key: str) -> bool:
        return key in self._index

    def dependents(self, key: str) -> set[str]:
        """Keys whose `when` reads `key`, directly or through another dependent."""
        found: set[str] = set()
        frontier = {key}
        while frontier:
            nxt = {q.key for q in self.questions
                   if q.when is not None and set(q.when.depends_on) & frontier} - found
            found |= nxt
            frontier = nxt
        return found


def _check_form(form: Form) -> None:
    """Fail at import time on a malformed form rather than in front of a member."""
    seen: list[str] = []
    if not (form.version >= 1 and form.questions):
        raise ValueError(f"{form.id}: needs a version >= 1 and questions")
    for key in (form.title, form.intro, *(k for k in (form.note,) if k)):
        catalog.templates(key)
    for q in form.questions:
        if not _KEY_RE.fullmatch(q.key) or q.key in seen:
            raise ValueError(f"{form.id}: bad or repeated question key {q.key!r}")
        if q.when is not None and not set(q.when.depends_on) <= set(seen):
            raise ValueError(f"{form.id}.{q.key}: condition reads a later or unknown answer")
        _check_question(q)
        seen.append(q.key)
    repeat = form.repeat
    if repeat is not None and (repeat.after not in seen or not repeat.fresh <= set(seen)):
        raise ValueError(f"{form.id}: repeat names unknown questions")


def _check_question(q: Question) -> None:
    for key in (q.prompt, q.label, q.help, *(k for k in (q.prefill_prompt, q.unit) if k)):
        catalog.templates(key)
    if q.is_choice and not 1 <= len(q.options) <= 20:
        raise ValueError(f"{q.key}: a choice question needs 1..20 options")
    if not q.is_choice and q.kind is not QuestionKind.LOCATION and q.parser is None:
        raise ValueError(f"{q.key}: a typed question needs a parser")
    if (q.prefill is None) != (q.prefill_prompt is None):
        raise ValueError(f"{q.key}: prefill and prefill_prompt go together")
    words: set[str] = set()
    for option in q.options:
        zh, en = catalog.templates(option.label)
        own = {w.casefold() for w in (option.id, zh, en, *option.aliases)}
        if own & words:
            raise ValueError(f"{q.key}: option {option.id!r} shares a reply word: {own & words}")
        words |= own


def prefilled(q: Question) -> Question:
    """The question as asked when a prefilled value is offered: one "confirm" option + typing."""
    confirm = Option("prefill", "opt.confirm",
                     aliases=("ok", "对", "是", "是的", "yes", "y", "正确", "无误"))
    return replace(q, prompt=q.prefill_prompt or q.prompt, options=(confirm,))


def edit_question(questions: Sequence[Question]) -> Question:
    """The "which item do you want to change?" list, built from the answered questions."""
    return Question(EDIT, QuestionKind.SINGLE, "conv.edit", label="conv.edit",
                    help="help.edit",
                    options=tuple(Option(q.key, q.label) for q in questions))


# ---- the engine's own steps ------------------------------------------------------------------

CONFIRM_STEP = "@confirm"
EDIT = "@edit"
REPEAT_STEP = "@repeat"
RESUME_STEP = "@resume"

SUBMIT = Question(CONFIRM_STEP, QuestionKind.CONFIRM, "conv.confirm", label="conv.confirm",
                  help="help.confirm",
                  options=(Option("submit", "opt.submit", aliases=("确认提交", "ok", "确认")),
                           Option("edit", "opt.edit", aliases=("更改", "change"), style=2)))

REPEAT = Question(REPEAT_STEP, QuestionKind.CONFIRM, "conv.repeat", label="conv.repeat",
                  help="help.repeat",
                  options=(Option("same", "opt.same", aliases=("相同", "same", *_YES_WORDS)),
                           Option("again", "opt.again", aliases=("不同", "重填", *_NO_WORDS),
                                  style=2)))

RESUME = Question(RESUME_STEP, QuestionKind.CONFIRM, "conv.timed_out", label="conv.timed_out",
                  help="help.resume",
                  options=(Option("continue", "opt.continue", aliases=_YES_WORDS),
                           Option("restart", "opt.restart", aliases=("重填", "restart"),
                                  style=2)))


class Loc(StrEnum):
    """The sub-steps of a LOCATION question (a small typed sub-form of its own)."""

    ASK = "ask"                        # send your location (定位失败 / 在国外)
    CONFIRM = "confirm"                # "you are at X: correct?"
    FAILED = "failed"                  # the checklist: retry / type an address / ask a reviewer
    ADDRESS = "address"                # a typed address (unverified)
    ABROAD_AGAIN = "abroad_again"      # "still in X?"
    COUNTRY = "country"                # which country (abroad needs no location)
    PROXY_REASON = "proxy_reason"      # a reviewer says why they fill in
    PROXY_REASON_OTHER = "proxy_reason_other"
    PROXY_ASK = "proxy_ask"            # a reviewer types the member's address / abroad / unknown
    UNKNOWN_REASON = "unknown_reason"  # why the member's location is unknown


class LocAct(StrEnum):
    """What an answer at a sub-step does other than moving to another sub-step."""

    KEEP_OFFERED = "keep_offered"      # store the position offered for confirmation
    STILL_ABROAD = "still_abroad"      # store the remembered country
    ABROAD = "abroad"                  # to "still in X?" when a country is remembered, else COUNTRY
    REQUEST_PROXY = "request_proxy"    # ask the reviewer to fill in; the conversation ends
    PROXY_REASON = "proxy_reason"      # remember why the reviewer fills in, then ask where
    STORE_TYPED = "store_typed"        # a typed address, stored unverified
    STORE_COUNTRY = "store_country"    # abroad in the typed country
    STORE_UNKNOWN = "store_unknown"    # unknown, with the typed reason


@dataclass(frozen=True)
class LocationStep:
    """One sub-step of a LOCATION question: its question, where each option leads (`goes`:
    option id → sub-step or action) and what a typed answer does (`typed`). "Back" retraces the
    sub-steps actually walked (the engine keeps the trail), so no parent table is needed.
    Typed 定位失败/在国外 work in every sub-step marked `shortcuts`."""

    name: Loc
    question: Question
    goes: Mapping[str, Loc | LocAct] = field(default_factory=dict)
    typed: LocAct | None = None
    shortcuts: bool = True


_FAILED = Option("failed", "opt.loc.failed", aliases=("无法定位", "定位不了", "failed", "fail",
                                                       "location failed"))
_ABROAD = Option("abroad", "opt.loc.abroad", aliases=("国外", "境外", "在境外", "abroad",
                                                       "overseas"))
LOCATION_SHORTCUTS = (_FAILED, _ABROAD)
SHORTCUT_GOES: Mapping[str, Loc | LocAct] = {"failed": Loc.FAILED, "abroad": LocAct.ABROAD}

# Where the ladder starts: a member is asked for their position; a reviewer filling in for a
# member first says why (their own position is never used).
MEMBER_ENTRY = Loc.ASK
PROXY_ENTRY = Loc.PROXY_REASON

_LOCATION_HELP = "help.q.location"


def _loc_question(name: Loc, kind: QuestionKind, *, options: tuple[Option, ...] = (),
                  parse: v.Parser | None = None) -> Question:
    return Question(name.value, kind, f"loc.{name.value}", label="field.location",
                    help=_LOCATION_HELP, options=options, parse=parse)


LOCATION_STEPS: Mapping[Loc, LocationStep] = {step.name: step for step in (
    LocationStep(Loc.ASK, _loc_question(Loc.ASK, QuestionKind.SINGLE, options=(_FAILED, _ABROAD)),
                 goes=SHORTCUT_GOES),
    LocationStep(Loc.CONFIRM, _loc_question(Loc.CONFIRM, QuestionKind.CONFIRM, options=(
        Option("ok", "opt.confirm", aliases=_YES_WORDS + ("正确", "ok")),
        Option("retry", "opt.loc.retry", aliases=_NO_WORDS + ("重试", "retry"), style=2))),
        goes={"ok": LocAct.KEEP_OFFERED, "retry": Loc.ASK}),
    LocationStep(Loc.FAILED, _loc_question(Loc.FAILED, QuestionKind.SINGLE, options=(
        Option("retry", "opt.loc.retry", aliases=("重试", "retry")),
        Option("type", "opt.loc.type", aliases=("地址", "address", "type")),
        Option("proxy", "opt.loc.proxy", aliases=("代填", "proxy")))),
        goes={"retry": Loc.ASK, "type": Loc.ADDRESS, "proxy": LocAct.REQUEST_PROXY}),
    LocationStep(Loc.ADDRESS, _loc_question(Loc.ADDRESS, QuestionKind.TEXT, parse=v.address),
                 typed=LocAct.STORE_TYPED),
    LocationStep(Loc.ABROAD_AGAIN, _loc_question(Loc.ABROAD_AGAIN, QuestionKind.CONFIRM, options=(
        Option("still", "opt.loc.still", aliases=_YES_WORDS + ("仍在", "still")),
        Option("change", "opt.loc.change", aliases=_NO_WORDS + ("change", "回国"), style=2))),
        goes={"still": LocAct.STILL_ABROAD, "change": Loc.COUNTRY}),
    LocationStep(Loc.COUNTRY, _loc_question(Loc.COUNTRY, QuestionKind.TEXT, parse=v.country),
                 typed=LocAct.STORE_COUNTRY),
    LocationStep(Loc.PROXY_REASON, _loc_question(Loc.PROXY_REASON, QuestionKind.SINGLE, options=(
        Option("phone_fails", "opt.proxy.phone_fails",
               aliases=("定位失败", "无法定位", "location failed")),
        Option("no_phone", "opt.proxy.no_phone", aliases=("没有手机", "无手机")),
        Option("other", "opt.proxy.other", aliases=("其他", "other")))),
        goes={"phone_fails": LocAct.PROXY_REASON, "no_phone": LocAct.PROXY_REASON,
              "other": Loc.PROXY_REASON_OTHER}, shortcuts=False),
    LocationStep(Loc.PROXY_REASON_OTHER, _loc_question(
        Loc.PROXY_REASON_OTHER, QuestionKind.TEXT, parse=v.free_text(100)),
        typed=LocAct.PROXY_REASON, shortcuts=False),
    LocationStep(Loc.PROXY_ASK, _loc_question(Loc.PROXY_ASK, QuestionKind.TEXT, parse=v.address,
                                              options=(_ABROAD, Option(
                                                  "unknown", "opt.loc.unknown",
                                                  aliases=("不清楚", "不知道", "unknown")))),
                 goes={"abroad": LocAct.ABROAD, "unknown": Loc.UNKNOWN_REASON},
                 typed=LocAct.STORE_TYPED, shortcuts=False),
    LocationStep(Loc.UNKNOWN_REASON, _loc_question(
        Loc.UNKNOWN_REASON, QuestionKind.TEXT, parse=v.free_text(100)),
        typed=LocAct.STORE_UNKNOWN, shortcuts=False),
)}


def _check_ladder() -> None:
    """Every sub-step is declared, every option leads somewhere, typed steps say what typing
    does (checked at import, like the forms)."""
    if set(LOCATION_STEPS) != set(Loc):
        raise ValueError("LOCATION_STEPS must declare every Loc")
    for step in LOCATION_STEPS.values():
        ids = {o.id for o in step.question.options}
        if set(step.goes) - ids - (set(SHORTCUT_GOES) if step.shortcuts else set()):
            raise ValueError(f"{step.name}: goes names unknown options")
        if ids - set(step.goes):
            raise ValueError(f"{step.name}: an option leads nowhere")
        if (step.question.parser is not None) != (step.typed is not None):
            raise ValueError(f"{step.name}: typed answers need an action, and only then")


_check_ladder()

for _step in LOCATION_STEPS.values():
    _check_question(_step.question)
for _q in (SUBMIT, REPEAT, RESUME):
    _check_question(_q)
