"""The conversation engine: (form, state, input, context) → (new state, messages, record, effects).

Why pure: every inbound callback is applied in one database transaction by the caller, who
persists the returned state and queues the returned messages in the same commit. The engine
therefore does no I/O, reads no clock (``ctx.now``/``ctx.today``), draws no random numbers
(``ctx.new_id``) and geocodes only through ``ctx.daily.geocode``. State is a typed dataclass
that round-trips through versioned JSON (`ConvState.to_json` / `from_json`, which migrates
older states), so a restart loses nothing. The form's subject (the member it is about: the
one typing, or the member a reviewer reports for) and its reporting day are fields of the
state, kept by every transition — continue, restart, back, cancel, timeout, a new day.

Behaviour is driven by question kind and `when`, never by form: the same walk serves the basic
information and the daily report.

* Order: the next step is the first applicable, unanswered question in declaration order; after
  the last one comes the summary with 提交/修改 (``@confirm``).
* Commands in any state: 取消/cancel (state None + Effect("cancelled")), 上一步/back (undo the
  last answer and ask it again; questions whose `when` no longer holds are skipped), 帮助/help
  (the question's help, then the question again; answers and step unchanged), 继续/continue
  (the current question again) and 重新开始/restart (start over, as at the resume prompt)
  unless the current question has an option of that name. No command word
  (`catalog.COMMANDS`) is ever taken as a typed answer: it is refused with a re-ask.
* 修改/edit shows the list of answered questions; the chosen one (and any answers that depend on
  it) is asked again, then the member returns to the summary. "back" while editing abandons the
  edit and restores the previous answers.
* Cards: a click is taken only from the live card (`state.live_task_id`); any other card gets a
  "no longer active" text and changes nothing. A taken click also produces an ``update_card``
  showing the choice with the buttons disabled. Typed answers are accepted in both renderings.
* Timeouts: a member who types after ``ctx.form_timeout_seconds`` of silence (or for whom the
  caller calls `reprompt`) is first asked whether to continue where they left off (``@resume``,
  继续/重新开始); a click on the still-live card simply answers it. A daily form from an earlier
  reporting day, or a state made by an older form version, starts afresh with a notice; one
  from yesterday keeps its answers except the location (the caller files a form submitted just
  after midnight for the day it was started on: it builds the context for that day).
  Because a restart names a new conversation, ``ctx.new_id`` must be fresh on every call.
* Same as yesterday (`Form.repeat`): see `bot/forms/daily_report.toml` for the decision.
* LOCATION questions run a small typed sub-form (`forms.Loc` sub-steps declared as data in
  `forms.LOCATION_STEPS`, kept in `ConvState.location`; "back" retraces the sub-steps walked):
  a fresh LOCATION event is used automatically and shown for
  confirmation; a picked location message is accepted; 定位失败 shows the troubleshooting
  checklist and offers retry / typed address (unverified) / a proxy request
  (Effect("request_proxy"), the conversation ends); 在国外 needs no location, only the country,
  and a remembered country is offered as "still in X?". Impossible coordinates (geocode raises
  ValueError) and stale events are refused with a re-prompt. When a reviewer fills for a member
  (``ctx.proxy_for``), the reviewer's own position is never used: they type an address, pick
  abroad, or say "unknown" with a reason; prompts that say "you" have a ".proxy" wording
  naming the member.
* Three rejected answers in a row at one step: the re-ask also says how to get help (the
  reviewers in ``ctx.helpers``, 定位失败), instead of repeating forever.
* On submit the record is returned in `Step.completed` (answers + "form_version"); the caller
  stores it and sends the receipt. Country memory changes come back as effects
  ("remember_country" / "forget_country") with the completed record only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from bot import catalog
from bot.catalog import Bi, command_key, command_of
from bot.conversation import render
from bot.conversation.forms import (
    CONFIRM_STEP,
    EDIT,
    LOCATION_SHORTCUTS,
    LOCATION_STEPS,
    MEMBER_ENTRY,
    PROXY_ENTRY,
    REPEAT,
    REPEAT_STEP,
    RESUME,
    RESUME_STEP,
    SHORTCUT_GOES,
    SUBMIT,
    Form,
    Loc,
    LocAct,
    Option,
    Question,
    QuestionKind,
    edit_question,
    prefilled,
)
from bot.conversation.validators import (
    InvalidAnswer,
    example_day,
    check_choices,
    match_option,
    normalize_word,
    parse_choices,
)

__all__ = [
    "CardInput",
    "ConvState",
    "Context",
    "DailyContext",
    "EditSave",
    "Effect",
    "LadderState",
    "Input",
    "LocationInput",
    "Outgoing",
    "Place",
    "STATE_VERSION",
    "STUCK_AFTER",
    "Step",
    "TextInput",
    "advance",
    "current_question",
    "is_expired",
    "reprompt",
    "start",
    "summary_lines",
]


# ---- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextInput:
    text: str


@dataclass(frozen=True)
class CardInput:
    """A template_card_event: the clicked button's key (or the submit key) and the selections."""

    task_id: str
    event_key: str
    selected: Mapping[str, tuple[str, ...]]
    response_code: str | None = None


@dataclass(frozen=True)
class LocationInput:
    """A LOCATION event (``source="event"``) or a location message from the picker."""

    lat: float
    lng: float
    label: str
    source: str  # "event" | "message"
    at: datetime


Input = TextInput | CardInput | LocationInput


class Place(Protocol):
    """What ``ctx.geocode`` returns (bot.geo.Place satisfies it); read-only attributes."""

    @property
    def category(self) -> str: ...  # mainland | hongkong | macau | taiwan | abroad

    @property
    def province(self) -> str | None: ...

    @property
    def city(self) -> str | None: ...

    @property
    def district(self) -> str | None: ...

    def label(self, lang: str) -> str: ...


@dataclass(frozen=True)
class DailyContext:
    """What only the daily report needs, about the form's subject (loaded by the caller)."""

    yesterday: Mapping[str, Any] | None = None
    remembered_country: str | None = None
    last_location: LocationInput | None = None  # the filler's own last LOCATION event
    location_fresh_seconds: int = 600
    previous_city: str | None = None
    geocode: Callable[[float, float], Place] | None = None
    read_address: Callable[[str], Place | None] | None = None  # province/city of typed text
    fever_threshold: float = 37.3


@dataclass(frozen=True)
class Context:
    """What every form needs for one engine call. `userid` types; `subject` is whom the form
    is about (a member a reviewer reports for; empty: the one typing). The caller builds the
    context of a stored conversation for the state's subject (`ConvState.subject`)."""

    userid: str
    lang: str                 # "zh" | "en"
    rendering: str            # "text" | "cards"
    now: datetime             # aware, UTC
    today: date               # the local reporting day
    new_id: str               # fresh [0-9A-Za-z] token; names the conversation when starting
    subject: str = ""
    subject_name: str = ""
    prefill: Mapping[str, Any] = field(default_factory=dict)
    form_timeout_seconds: int = 1800
    helpers: tuple[str, ...] = ()  # whom to ask when stuck (the subject's reviewers, by name)
    late_reason: str | None = None  # a reviewer's 补报 of a past day (`today` is that day)
    daily: DailyContext = field(default_factory=DailyContext)

    @property
    def whom(self) -> str:
        """The userid the form is about."""
        return self.subject or self.userid

    @property
    def proxy_for(self) -> str | None:
        """The member's userid when someone else fills in for them."""
        return self.whom if self.whom != self.userid else None

    @property
    def member_name(self) -> str:
        return self.subject_name or str(self.prefill.get("name") or "") or self.whom

    # The daily report's conditions read these (forms take the context as a duck).
    @property
    def yesterday(self) -> Mapping[str, Any] | None:
        return self.daily.yesterday

    @property
    def previous_city(self) -> str | None:
        return self.daily.previous_city

    @property
    def fever_threshold(self) -> float:
        return self.daily.fever_threshold


# ---- state and results -------------------------------------------------------------------------

STATE_VERSION = 2


@dataclass
class LadderState:
    """Where a LOCATION question is: its sub-step, the sub-steps walked to get there (for
    "back"), the position offered for confirmation and why a reviewer fills in."""

    step: Loc
    trail: list[Loc] = field(default_factory=list)
    offered: dict[str, Any] | None = None
    proxy_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step.value, "trail": [t.value for t in self.trail],
                "offered": dict(self.offered) if self.offered else None,
                "proxy_reason": self.proxy_reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LadderState:
        offered = data.get("offered")
        return cls(step=Loc(data["step"]), trail=[Loc(t) for t in data.get("trail") or ()],
                   offered=dict(offered) if offered else None,
                   proxy_reason=data.get("proxy_reason"))


@dataclass
class EditSave:
    """The answers taken out while one item is edited; "back" puts them back."""

    answers: dict[str, Any]
    history: list[str]


def _json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, tuples, scalars): what answers are.
    Twice as fast as copy.deepcopy, which copies any object graph; states are copied on
    every step."""
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_json_copy(item) for item in value)
    return value


@dataclass
class ConvState:
    """A conversation in progress; every field typed, owned by the engine, serialised with
    `STATE_VERSION` (older stored states are migrated by `from_json`)."""

    form_id: str
    form_version: int
    conv_id: str
    subject: str              # the userid the form is about (the member a reviewer fills for)
    day: str                  # the reporting day it was started on (ISO date)
    step: str                 # a question key or one of the engine's own steps ("@confirm")
    answers: dict[str, Any]
    history: list[str]
    seq: int
    live_task_id: str | None  # the one card whose clicks are taken
    lang: str
    rendering: str
    started_at: str
    updated_at: str
    location: LadderState | None = None  # set while `step` is a LOCATION question
    edit: EditSave | None = None
    repeat: str | None = None             # "same" | "again" once same-as-yesterday was answered
    copied: list[str] = field(default_factory=list)
    resume_step: str | None = None        # where to continue after @resume
    tries: int = 0                        # rejected answers in a row at the current step
    late_reason: str | None = None        # a 补报: `day` is a past day, filed for this reason

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (a deep copy)."""
        data = {name: getattr(self, name) for name in _STATE_FIELDS}
        data.update(
            v=STATE_VERSION, answers=_json_copy(self.answers), history=list(self.history),
            location=self.location.to_json() if self.location else None,
            edit={"answers": _json_copy(self.edit.answers),
                  "history": list(self.edit.history)} if self.edit else None,
            copied=list(self.copied))
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, owner: str | None = None) -> ConvState:
        """Load a stored state; `owner` (the conversation's userid) is needed for states stored
        before version 2, which did not always name their subject."""
        if data.get("v") is None:
            data = _migrate_v1(data, owner)
        elif data["v"] != STATE_VERSION:
            raise ValueError(f"conversation state version {data['v']!r} is not known")
        missing = _STATE_REQUIRED.difference(data)
        if missing:
            raise ValueError(f"conversation state lacks {sorted(missing)}")
        raw = {name: data[name] for name in _STATE_FIELDS if name in data}
        edit = raw.get("edit")
        return cls(**{
            **raw, "answers": _json_copy(dict(raw["answers"])),
            "history": list(raw["history"]),
            "location": LadderState.from_json(raw["location"]) if raw.get("location") else None,
            "edit": EditSave(_json_copy(dict(edit["answers"])), list(edit["history"]))
            if edit else None,
            "copied": list(raw.get("copied") or ())})

    def copy(self) -> ConvState:
        return ConvState.from_json(self.to_json())

    @property
    def sub(self) -> Loc | None:
        """The LOCATION sub-step, when at a LOCATION question."""
        return self.location.step if self.location else None


_STATE_FIELDS = tuple(f.name for f in fields(ConvState))
_STATE_REQUIRED = frozenset(f.name for f in fields(ConvState) if f.default is MISSING
                            and f.default_factory is MISSING)


def _split_v1(step: str) -> tuple[str, Loc | None]:
    key, _, sub = step.partition("#")
    return key, (Loc(sub) if sub else None)


def _migrate_v1(data: Mapping[str, Any], owner: str | None) -> dict[str, Any]:
    """A state stored by 673a0a6: untyped `meta` and location sub-steps as "location#ask".
    Its subject was `meta.subject`, or `meta.proxy_for` when a restart had dropped `subject`."""
    meta = dict(data.get("meta") or {})
    subject = meta.get("subject") or meta.get("proxy_for") or owner
    if not subject:
        raise ValueError("a version 1 conversation state needs its owner to be migrated")
    key, sub = _split_v1(str(data["step"]))
    resume_key, resume_sub = _split_v1(str(meta.get("resume_step") or ""))
    ladder_sub = sub or resume_sub
    location = None
    if ladder_sub is not None:
        location = {"step": ladder_sub.value, "trail": [], "offered": meta.get("pending"),
                    "proxy_reason": meta.get("proxy_reason")}
    day = meta.get("day") or str(data.get("started_at", ""))[:10]
    edit = meta.get("edit")
    return {**{k: v for k, v in data.items() if k != "meta"},
            "v": STATE_VERSION, "subject": subject, "day": day, "step": key,
            "location": location, "edit": edit, "repeat": meta.get("repeat"),
            "copied": list(meta.get("copied") or ()), "resume_step": resume_key or None,
            "tries": 0, "late_reason": meta.get("late_reason")}


@dataclass(frozen=True)
class Outgoing:
    """One WeCom call for this member: "send" (message body without touser/agentid) or
    "update_card" ({"response_code", "button"|"template_card"}). `task_id` names the card."""

    kind: str
    message: dict[str, Any]
    task_id: str | None = None


@dataclass(frozen=True)
class Effect:
    """Something only the caller can do: "cancelled", "request_proxy", "remember_country",
    "forget_country"."""

    name: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Step:
    state: ConvState | None
    outgoing: tuple[Outgoing, ...]
    completed: Mapping[str, Any] | None = None
    effects: tuple[Effect, ...] = ()


# ---- public API --------------------------------------------------------------------------------


def start(form: Form, ctx: Context) -> Step:
    """Begin `form` for `ctx.whom`: the intro and the first question."""
    return _fresh(form, ctx, notice=None)


def advance(form: Form, state: ConvState, inp: Input, ctx: Context) -> Step:
    """Apply one input to the conversation `state` (which is not modified)."""
    _check_state(form, state, ctx)
    if isinstance(inp, TextInput) and command_of(inp.text) == "cancel":
        return _cancelled(form, ctx)
    if (notice := _restart_notice(form, state, ctx)) is not None:
        return _restart(form, state, ctx, notice)
    if isinstance(inp, CardInput) and inp.task_id != (state.live_task_id or None):
        # A card of an earlier question: say so, and ask the current question again (the
        # member may not see it above the old card).
        move = _Move(form, state.copy(), ctx)
        move.note("card.stale_reask")
        move.ask_again()
        return move.result()
    if isinstance(inp, LocationInput) and inp.source == "event" and not _at_location(state):
        return Step(state, ())  # entering the app while answering something else: nothing to do
    move = _Move(form, state.copy(), ctx)
    if isinstance(inp, TextInput) and state.step != RESUME_STEP and is_expired(state, ctx):
        move.offer_resume()
    else:
        move.handle(inp)
    return move.result()


def reprompt(form: Form, state: ConvState, ctx: Context) -> Step:
    """Ask the current question again (after an interruption, a rendering switch, a return)."""
    _check_state(form, state, ctx)
    if (notice := _restart_notice(form, state, ctx)) is not None:
        return _restart(form, state, ctx, notice)
    move = _Move(form, state.copy(), ctx)
    if state.step != RESUME_STEP and is_expired(state, ctx):
        move.offer_resume()
    else:
        move.ask_again()
    return move.result()


def current_question(form: Form, state: ConvState, ctx: Context) -> Question:
    """The question the member is looking at, as rendered (options in reply-number order)."""
    _check_state(form, state, ctx)
    return _Move(form, state.copy(), ctx).view().question


def is_expired(state: ConvState, ctx: Context) -> bool:
    """True when the member has been silent longer than the form timeout."""
    idle = ctx.now - datetime.fromisoformat(state.updated_at)
    return idle > timedelta(seconds=ctx.form_timeout_seconds)


def summary_lines(form: Form, answers: Mapping[str, Any], lang: str) -> list[str]:
    """"体温 Temperature：36.5℃" lines for the answered questions, in form order."""
    separator = ": " if lang == "en" else "："
    lines = []
    for q in form.questions:
        if q.key not in answers:
            continue
        lines.append(f"{catalog.side_by_side(q.label, lang)}{separator}"
                     f"{render.clip(_display(q, answers[q.key], lang), _SUMMARY_VALUE_WIDTH)}")
        value = answers[q.key]
        if q.kind is QuestionKind.LOCATION and isinstance(value, Mapping) \
                and value.get("proxy_reason"):
            # 代报: why the reviewer filled in, as they said it (summary and receipts).
            why = render.clip(_proxy_reason_text(value["proxy_reason"], lang),
                              _SUMMARY_VALUE_WIDTH)
            lines.append(f"{catalog.side_by_side('field.proxy_reason', lang)}{separator}{why}")
    return lines


def _proxy_reason_text(reason: Any, lang: str) -> str:
    """A reviewer's reason for filling in: an option's label, or their own words."""
    options = LOCATION_STEPS[Loc.PROXY_REASON].question.options
    option = next((o for o in options if o.id == reason), None)
    if option is not None:
        return catalog.side_by_side(option.label, lang)
    if reason == "web":
        return catalog.side_by_side("value.proxy_on_web", lang)
    return str(reason)


# ---- helpers -----------------------------------------------------------------------------------

_SUMMARY_VALUE_WIDTH = 60
_PREFILL = "prefill"
_LOCATION_KEYS = ("kind", "lat", "lng", "label", "label_en", "province", "city", "district",
                  "category", "country", "verified", "source", "reason", "proxy_reason")
# After this many rejected answers in a row at one step, say how to get help.
STUCK_AFTER = 3
# Words of the summary's buttons: typed at a text question they are not an answer.
_SUBMIT_WORDS = frozenset({"提交", "确认提交", "submit", "修改", "edit"})


def _check_state(form: Form, state: ConvState, ctx: Context) -> None:
    if state.form_id != form.id:
        raise ValueError(f"state of form {state.form_id!r} given with form {form.id!r}")
    if state.subject != ctx.whom:
        raise ValueError("the context is not built for the state's subject")


def _restart_notice(form: Form, state: ConvState, ctx: Context) -> str | None:
    # A new day comes first: yesterday's form left open restarts on today's form (the caller
    # passes the version in use today), keeping the answers that still fit it.
    if form.daily and state.day != ctx.today.isoformat():
        return "conv.new_day"
    if state.form_version != form.version:
        return "conv.form_updated"
    return None


def _restart(form: Form, state: ConvState, ctx: Context, notice: str) -> Step:
    """Start `form` afresh for today. A daily form left from yesterday (the caller files it for
    yesterday only shortly after midnight, see handlers.forms.grace_day_of) keeps the answers
    that still make sense today: everything but the location, which is today's to give."""
    if notice != "conv.new_day":
        return _fresh(form, ctx, notice=notice)
    params = {"date": state.day, "today": ctx.today.isoformat()}
    kept: dict[str, Any] = {}
    if state.day == (ctx.today - timedelta(days=1)).isoformat():
        kept = {q.key: _json_copy(state.answers[q.key]) for q in form.questions
                if q.key in state.answers and q.kind is not QuestionKind.LOCATION
                and q.accepts(state.answers[q.key])}
    if not kept:
        return _fresh(form, ctx, notice=notice, params=params)
    return _fresh(form, ctx, notice="conv.new_day_kept", params=params, answers=kept)


def _text_out(content: str) -> Outgoing:
    return Outgoing("send", render.text_message(content))


def _cancelled(form: Form, ctx: Context) -> Step:
    return Step(None, (_text_out(catalog.stacked("conv.cancelled", ctx.lang)),),
                effects=(Effect("cancelled", {"form_id": form.id}),))


def _clean_id(token: str) -> str:
    cleaned = "".join(ch for ch in token if ch.isascii() and ch.isalnum())[:64]
    if not cleaned:
        raise ValueError("ctx.new_id must contain letters or digits")
    return cleaned


def _fresh(form: Form, ctx: Context, notice: str | None,
           params: Mapping[str, Any] | None = None,
           answers: Mapping[str, Any] | None = None) -> Step:
    now = ctx.now.isoformat()
    kept = dict(answers or {})
    state = ConvState(form_id=form.id, form_version=form.version, conv_id=_clean_id(ctx.new_id),
                      subject=ctx.whom, day=ctx.today.isoformat(), step="", answers=kept,
                      history=list(kept), seq=0, live_task_id=None, lang=ctx.lang,
                      rendering=ctx.rendering, started_at=now, updated_at=now,
                      late_reason=ctx.late_reason)
    move = _Move(form, state, ctx)
    if notice:
        move.note(notice, **(params or {}))
    move.begin()
    return move.result()


def _at_location(state: ConvState) -> bool:
    return state.location is not None and state.step != RESUME_STEP


def _is_fresh(location: LocationInput, ctx: Context) -> bool:
    age = (ctx.now - location.at).total_seconds()
    return -60 <= age <= ctx.daily.location_fresh_seconds


def _location(kind: str, **values: Any) -> dict[str, Any]:
    """A location answer with every key present (None when unknown)."""
    value: dict[str, Any] = dict.fromkeys(_LOCATION_KEYS)
    value.update({"verified": False, **values, "kind": kind})
    return value


def _display(q: Question, value: Any, lang: str) -> str:
    """An answer as text for summaries."""
    if q.kind in (QuestionKind.SINGLE, QuestionKind.CONFIRM):
        option = q.option_for(value)
        return catalog.side_by_side(option.label, lang) if option else str(value)
    if q.kind is QuestionKind.MULTI:
        options = [q.option_for(x) for x in value or ()]
        return ", ".join(catalog.side_by_side(o.label, lang) if o else str(x)
                         for o, x in zip(options, value or (), strict=True))
    if q.kind is QuestionKind.LOCATION:
        return _display_location(value or {}, lang)
    if q.kind is QuestionKind.NUMBER and isinstance(value, int | float):
        unit = catalog.lang_only(q.unit, lang) if q.unit else ""
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value}{unit}"  # a whole-number question (e.g. vaccine doses: 3, not 3.0)
        return f"{value:.1f}{unit}"
    return str(value) if value not in (None, "") else catalog.lang_only("value.empty", lang)


def _display_location(value: Mapping[str, Any], lang: str) -> str:
    kind = value.get("kind")
    place = (value.get("label_en") if lang == "en" else None) or value.get("label") or ""
    if kind == "abroad":
        return catalog.lang_only("value.abroad", lang, country=value.get("country") or "")
    if kind == "unknown":
        return catalog.lang_only("value.unknown", lang, reason=value.get("reason") or "")
    if not value.get("verified"):
        return catalog.lang_only("value.unverified", lang, place=place)
    return place


@dataclass(frozen=True)
class _View:
    """The current step as asked: the question to render/parse, its parameters, a body."""

    question: Question
    params: Mapping[str, Any]
    body: str | None = None


@dataclass(frozen=True)
class _Answer:
    options: tuple[Option, ...] = ()
    value: Any = None
    location: LocationInput | None = None


class _Move:
    """One engine call: a private copy of the state plus what to send back. (Not to be
    confused with the handlers' `Turn`, one callback's database transaction.)"""

    def __init__(self, form: Form, state: ConvState, ctx: Context) -> None:
        self.form = form
        self.state = state
        self.ctx = ctx
        self.lead: list[str] = []
        self.updates: list[Outgoing] = []
        self.out: list[Outgoing] = []
        self.effects: list[Effect] = []
        self.completed: dict[str, Any] | None = None
        self.finished = False
        self.position = (state.step, state.sub)

    # -- plumbing --------------------------------------------------------------------------

    @property
    def answers(self) -> dict[str, Any]:
        return self.state.answers

    @property
    def ladder(self) -> LadderState:
        assert self.state.location is not None
        return self.state.location

    def note(self, key: str, **params: Any) -> None:
        """A text to send before the next question (merged with it in text mode)."""
        self.lead.append(catalog.stacked(key, self.ctx.lang, **params))

    def result(self) -> Step:
        if self.lead:  # a notice with no question after it
            self.out.extend(Outgoing("send", m) for m in render.texts(self.lead))
            self.lead = []
        outgoing = (*self.updates, *self.out)
        if self.finished:
            return Step(None, outgoing, self.completed, tuple(self.effects))
        state = self.state
        if (state.step, state.sub) != self.position:
            state.tries = 0
        state.updated_at = self.ctx.now.isoformat()
        state.lang, state.rendering = self.ctx.lang, self.ctx.rendering
        return Step(state, outgoing, None, tuple(self.effects))

    def title(self) -> str:
        return catalog.side_by_side(self.form.title, self.ctx.lang)

    def for_member(self, key: str) -> str:
        """The catalog key to use: in a proxy form, the ".proxy" wording that names the member
        instead of saying "you", where the catalog has one; in a 补报, the ".late" wording
        that names the day being filed instead of "today"/"yesterday"."""
        late = f"{key}.late"
        if self.ctx.late_reason and late in catalog.CATALOG:
            return late
        proxied = f"{key}.proxy"
        return proxied if self.ctx.proxy_for and proxied in catalog.CATALOG else key

    def day_params(self) -> dict[str, Any]:
        """Whom and which day a question is about (the ".late" wordings name the day)."""
        day = self.ctx.today
        return {"member": self.ctx.member_name, "date": day.isoformat(),
                "day_before": (day - timedelta(days=1)).isoformat(),
                "example_day": example_day(day),  # what a date prompt shows as its example
                "reason": self.ctx.late_reason or ""}

    # -- asking ----------------------------------------------------------------------------

    def view(self) -> _View:
        step, ctx, lang = self.state.step, self.ctx, self.ctx.lang
        member = self.day_params()
        if step == CONFIRM_STEP:
            lines = [catalog.stacked(self.for_member("conv.summary"), lang,
                                  form=catalog.halves(self.form.title), **member),
                     *summary_lines(self.form, self.answers, lang)]
            body = "\n".join(lines)
            if self.form.note:
                body += "\n" + catalog.stacked(self.form.note, lang)
            return _View(SUBMIT, {}, body)
        if step == EDIT:
            return _View(edit_question([q for q in self.form.questions if q.key in self.answers]),
                         {})
        if step == REPEAT_STEP:
            lines = summary_lines(self.form, self.copyable(), lang)
            return _View(self.proxied(REPEAT), member, "\n".join(
                [catalog.stacked(self.for_member("conv.repeat_summary"), lang, **member), *lines]))
        if step == RESUME_STEP:
            return _View(RESUME, {"form": catalog.halves(self.form.title)})
        if self.state.location is not None:
            return self.location_view(self.state.location)
        q = self.form.question(step)
        if q.prefill and ctx.prefill.get(q.prefill):
            return _View(prefilled(q), {"value": ctx.prefill[q.prefill]})
        params = dict(q.params(self.answers, ctx)) if q.params else {}
        return _View(self.proxied(q), {**member, **params})

    def proxied(self, q: Question) -> Question:
        prompt = self.for_member(q.prompt)
        return q if prompt == q.prompt else replace(q, prompt=prompt)

    def location_view(self, ladder: LadderState) -> _View:
        lang = self.ctx.lang
        offered = ladder.offered or {}
        params = {
            "place": Bi(offered.get("label") or "", offered.get("label_en")
                        or offered.get("label") or ""),
            "country": self.ctx.daily.remembered_country or "",
            **self.day_params(),
        }
        body = catalog.stacked("loc.checklist", lang) if ladder.step is Loc.FAILED else None
        return _View(self.proxied(LOCATION_STEPS[ladder.step].question), params, body)

    def ask(self) -> None:
        """Send the current step (with any pending notices) and make its card the live one."""
        view, state = self.view(), self.state
        task_id = None
        if render.card_kind(view.question, self.ctx.rendering) is not None:
            state.seq += 1
            task_id = render.make_task_id(state.conv_id, state.seq)
        title, lead = self.title(), self.lead
        if self.ctx.proxy_for:
            # Every question says whose report it is.
            member = self.ctx.member_name
            if task_id is not None:
                tag = catalog.lang_only("conv.proxy_tag", self.ctx.lang, member=member)
                title = f"{title} · {tag}"
            else:
                lead = [*lead, catalog.slashed("conv.proxy_tag", self.ctx.lang, member=member)]
        messages = render.question_messages(
            view.question, lang=self.ctx.lang, rendering=self.ctx.rendering,
            params=view.params, title=title, lead=lead, body=view.body, task_id=task_id)
        self.lead = []
        state.live_task_id = task_id
        for message in messages:
            is_card = message["msgtype"] == "template_card"
            self.out.append(Outgoing("send", message, task_id if is_card else None))

    def ask_again(self) -> None:
        if self.state.sub is Loc.ASK:  # a LOCATION event may have arrived since: use it
            self.enter_location()
        self.ask()

    def goto(self, step: str) -> None:
        self.prune()
        self.state.step = step
        self.state.location = None
        if self.form.has(step) and self.form.question(step).kind is QuestionKind.LOCATION:
            self.enter_location()
        if step == CONFIRM_STEP:
            self.state.edit = None
        self.ask()

    def begin(self) -> None:
        intro = self.for_member(self.form.intro)
        if self.ctx.late_reason and f"{self.form.intro}.late" in catalog.CATALOG:
            intro = f"{self.form.intro}.late"  # a 补报: says so, with the reason
        # For someone else, it names them with their userid (namesakes) and says 代填/补报.
        self.note(intro, date=self.ctx.today.isoformat(), member=self.ctx.member_name,
                  name=self.ctx.member_name, userid=self.ctx.whom, reason=self.ctx.late_reason or "")
        self.goto(self.next_step())

    # -- the walk --------------------------------------------------------------------------

    def prune(self) -> None:
        """Drop answers to questions whose condition no longer holds."""
        for q in self.form.questions:
            if q.key in self.answers and not q.applies(self.answers, self.ctx):
                del self.answers[q.key]
                self.state.history = [h for h in self.state.history if h != q.key]

    def first_unanswered(self) -> str:
        for q in self.form.questions:
            if q.key not in self.answers and q.applies(self.answers, self.ctx):
                return q.key
        return CONFIRM_STEP

    def next_step(self) -> str:
        """The first unanswered question, unless "same as yesterday" should be offered first:
        once `repeat.after` is answered, just before the first question a copy would fill."""
        self.prune()
        upcoming = self.first_unanswered()
        repeat, yesterday = self.form.repeat, self.ctx.daily.yesterday
        if (repeat is not None and yesterday and self.state.repeat is None
                and repeat.after in self.answers and upcoming not in repeat.fresh
                and repeat.eligible(yesterday, self.ctx) and self.copyable()):
            return REPEAT_STEP
        return upcoming

    def copyable(self) -> dict[str, Any]:
        """Yesterday's answers that today's form can take (not fresh, not answered, valid)."""
        repeat, yesterday = self.form.repeat, self.ctx.daily.yesterday or {}
        if repeat is None:
            return {}
        return {q.key: yesterday[q.key] for q in self.form.questions
                if q.key not in repeat.fresh and q.key in yesterday
                and q.key not in self.answers and q.accepts(yesterday[q.key])
                and q.applies({**yesterday, **self.answers}, self.ctx)}

    def store(self, key: str, value: Any) -> None:
        q = self.form.question(key)
        if q.kind is QuestionKind.LOCATION and self.ctx.proxy_for and isinstance(value, dict) \
                and not self.ctx.late_reason:
            # Why the reviewer fills in. A 补报's reason is the report's own (late_reason),
            # stored once there, not again with the location.
            value = {**value, "proxy_reason": self.ladder.proxy_reason}
        self.answers[key] = value
        self.state.history.append(key)
        for advice in q.advice:
            if advice.when(self.answers, self.ctx):
                self.note(advice.text, **advice.params(self.answers, self.ctx))
        self.goto(self.next_step())

    # -- reading input -----------------------------------------------------------------------

    def handle(self, inp: Input) -> None:
        snapshot = self.state.copy()
        view = self.view()
        try:
            if isinstance(inp, TextInput):
                command = command_of(inp.text)
                if command == "back":
                    self.back()
                    return
                if command == "help":
                    self.help(view)
                    return
                if command in ("continue", "restart") and \
                        match_option(view.question.options, inp.text) is None:
                    # The resume prompt's words typed anywhere else: never an answer.
                    if command == "restart":
                        self.note("conv.restarted")
                        self.restart()
                    else:
                        self.note("conv.going_on")
                        self.ask_again()
                    return
                answer = self.read_text(view, inp.text)
            elif isinstance(inp, CardInput):
                answer = self.read_card(view, inp)
            else:
                if not _at_location(self.state):
                    raise InvalidAnswer("conv.location_not_now")
                answer = _Answer(location=inp)
            update = self.card_update(view, answer, inp) if isinstance(inp, CardInput) else None
            self.apply(answer)
            if update is not None:
                self.updates.append(update)
        except InvalidAnswer as err:
            self.state, self.out, self.updates, self.effects = snapshot, [], [], []
            self.finished, self.completed = False, None
            self.reject(err)

    def read_text(self, view: _View, raw: str) -> _Answer:
        q = view.question
        sub = self.state.sub if _at_location(self.state) else None
        failure: InvalidAnswer | None = None
        if q.options:
            try:
                return _Answer(options=parse_choices(q.options, raw,
                                                     multi=q.kind is QuestionKind.MULTI))
            except InvalidAnswer as err:
                failure = err
        if sub is not None and LOCATION_STEPS[sub].shortcuts:
            shortcut = match_option(LOCATION_SHORTCUTS, raw, numbered=False)
            if shortcut is not None:
                return _Answer(options=(shortcut,))
        if q.parser is not None:
            if normalize_word(raw) in _SUBMIT_WORDS:
                # 提交 typed before the summary: not an answer (nor a remark).
                raise InvalidAnswer("err.answer_first")
            if command_of(raw) is not None:
                # A command word (上报, 继续, English…) is never stored as a name, an address
                # or a remark: answers cannot be changed once submitted.
                raise InvalidAnswer("err.command_not_answer", word=command_key(raw))
            return _Answer(value=q.parser(raw, self.ctx))
        if sub is Loc.ASK and failure is not None and failure.key == "err.choice":
            # Only where 定位失败/在国外 are on the card; elsewhere the card's own options.
            raise InvalidAnswer("err.location_expected")
        raise failure or InvalidAnswer("err.choice")

    def read_card(self, view: _View, inp: CardInput) -> _Answer:
        q = view.question
        kind = render.card_kind(q, "cards")
        if kind == "button_interaction":
            option = q.option(inp.event_key)
            if option is None:
                raise InvalidAnswer("err.card_mismatch")
            return _Answer(options=(option,))
        if kind == "vote_interaction":
            ids = tuple(inp.selected.get(render.card_question_key(q)) or ())
            chosen = [q.option(i) for i in ids]
            if not chosen or any(o is None for o in chosen):
                raise InvalidAnswer("err.card_mismatch")
            return _Answer(options=check_choices(q.options, chosen,  # type: ignore[arg-type]
                                                 multi=q.kind is QuestionKind.MULTI))
        raise InvalidAnswer("err.card_mismatch")

    def card_update(self, view: _View, answer: _Answer, inp: CardInput) -> Outgoing | None:
        """The clicked card, redrawn to show the choice with its buttons disabled."""
        if not inp.response_code:
            return None
        q, lang = view.question, self.ctx.lang
        if render.card_kind(q, "cards") == "button_interaction":
            message = render.button_update(inp.response_code,
                                           render.chosen_text(answer.options, lang))
        else:
            card = render.question_card(q, lang=lang, params=view.params, title=self.title(),
                                        task_id=inp.task_id,
                                        checked=[o.id for o in answer.options], disabled=True)
            message = render.card_update(inp.response_code, card)
        return Outgoing("update_card", message, inp.task_id)

    def reject(self, err: InvalidAnswer) -> None:
        """Say why, then ask again; after STUCK_AFTER tries in a row, also say how to get help
        (so nobody is left repeating themselves)."""
        self.state.tries += 1
        self.note(err.key, **err.params)
        if self.state.tries % STUCK_AFTER == 0:
            helpers = "、".join(self.ctx.helpers)
            if self.state.location is not None and not self.ctx.proxy_for:
                self.note("conv.stuck_location", helpers=helpers)
            else:
                self.note("conv.stuck", helpers=helpers)
        self.ask()

    # -- applying an answer --------------------------------------------------------------------

    def apply(self, answer: _Answer) -> None:
        step = self.state.step
        special = {CONFIRM_STEP: self.on_confirm, EDIT: self.on_edit,
                   REPEAT_STEP: self.on_repeat, RESUME_STEP: self.on_resume}.get(step)
        if special is not None:
            special(answer.options[0] if answer.options else None)
            return
        if self.state.location is not None:
            self.on_location(step, answer)
            return
        q = self.form.question(step)
        if answer.options and answer.options[0].id == _PREFILL and q.prefill:
            value = self.ctx.prefill[q.prefill]
        elif answer.options and q.kind is QuestionKind.MULTI:
            value = [o.stored for o in answer.options]
        elif answer.options:
            value = answer.options[0].stored
        else:
            value = answer.value
        self.store(step, value)

    def on_confirm(self, option: Option | None) -> None:
        if option is not None and option.id == "edit":
            self.goto(EDIT)
            return
        self.prune()
        missing = self.first_unanswered()
        if missing != CONFIRM_STEP:  # e.g. a question whose condition now holds
            self.goto(missing)
            return
        self.completed = {**self.answers, "form_version": self.form.version}
        self.effects.extend(self.country_effects())
        self.finished = True

    def on_edit(self, option: Option | None) -> None:
        if option is None or not self.form.has(option.id):
            raise InvalidAnswer("err.choice")
        # Answers that depend on the edited one stay while their condition still holds (the
        # walk prunes the others and asks any that newly apply); "back" restores them all.
        saved = dict(self.answers)
        self.state.edit = EditSave(saved, list(self.state.history))
        del self.answers[option.id]
        self.state.history = [h for h in self.state.history if h != option.id]
        self.goto(option.id)

    def on_repeat(self, option: Option | None) -> None:
        if option is not None and option.id == "same":
            copied = self.copyable()
            self.answers.update(copied)
            self.state.copied = list(copied)
        self.state.repeat = option.id if option else "again"
        self.state.history.append(REPEAT_STEP)
        self.goto(self.next_step())

    def on_resume(self, option: Option | None) -> None:
        state = self.state
        if option is not None and option.id == "restart":
            self.restart()
            return
        step = state.resume_step or self.first_unanswered()
        state.resume_step = None
        state.step = step
        if not (self.form.has(step) and self.form.question(step).kind is QuestionKind.LOCATION):
            state.location = None
        elif state.location is None or state.location.step is Loc.CONFIRM:
            # The position offered before the pause may be stale by now: look again.
            self.enter_location()
        self.ask()

    def restart(self) -> None:
        """Start the form over: everything answered goes; what the form is (subject, day)
        stays."""
        state = self.state
        state.answers, state.history, state.copied = {}, [], []
        state.location, state.edit, state.repeat, state.resume_step = None, None, None, None
        self.begin()

    def offer_resume(self) -> None:
        self.state.resume_step = self.state.step
        self.state.step = RESUME_STEP
        self.ask()

    def abandon_edit(self) -> None:
        edit = self.state.edit
        assert edit is not None
        self.state.answers = dict(edit.answers)
        self.state.history = list(edit.history)
        self.goto(CONFIRM_STEP)

    def back(self) -> None:
        state = self.state
        if state.edit is not None:
            self.abandon_edit()
            return
        if _at_location(state) and self.ladder.trail:
            self.ladder.step = self.ladder.trail.pop()
            self.ask()
            return
        step = state.step
        if step == EDIT:
            self.goto(CONFIRM_STEP)
            return
        if step == RESUME_STEP:
            self.ask()
            return
        history = state.history
        while history:
            last = history.pop()
            if last == REPEAT_STEP:
                for copied in state.copied:
                    self.answers.pop(copied, None)
                state.copied, state.repeat = [], None
                self.goto(REPEAT_STEP)
                return
            if not self.form.has(last):
                continue
            self.answers.pop(last, None)
            if self.form.question(last).applies(self.answers, self.ctx):
                self.goto(last)
                return
        self.note("conv.at_start")
        self.ask()

    def help(self, view: _View) -> None:
        self.note(view.question.help, **{**self.day_params(), **view.params})
        self.note("hint.commands")
        self.ask()

    # -- the location ladder (a typed sub-form: forms.LOCATION_STEPS) --------------------------

    def abroad_entry(self) -> Loc:
        return Loc.ABROAD_AGAIN if self.ctx.daily.remembered_country else Loc.COUNTRY

    def enter_location(self) -> None:
        """Start the current LOCATION question, using a fresh LOCATION event if known."""
        ctx, state = self.ctx, self.state
        if ctx.proxy_for:
            if ctx.late_reason:
                # 补报 came with its reason: that is why the reviewer fills in; not asked again.
                state.location = LadderState(
                    Loc.ABROAD_AGAIN if ctx.daily.remembered_country else Loc.PROXY_ASK,
                    proxy_reason=ctx.late_reason)
            else:
                state.location = LadderState(PROXY_ENTRY)
            return
        last = ctx.daily.last_location
        if last is not None and _is_fresh(last, ctx):
            try:
                value = self.locate(last)
            except InvalidAnswer:
                value = None
            if value is not None:
                if value["category"] == "abroad":
                    state.location = LadderState(self.abroad_entry(), trail=[MEMBER_ENTRY])
                else:
                    state.location = LadderState(Loc.CONFIRM, trail=[MEMBER_ENTRY],
                                                 offered=value)
                return
        if ctx.daily.remembered_country:
            state.location = LadderState(Loc.ABROAD_AGAIN)
            return
        state.location = LadderState(MEMBER_ENTRY)

    def to_sub(self, target: Loc) -> None:
        """Move to another sub-step; coming back to one already walked shortens the trail."""
        ladder = self.ladder
        if target in ladder.trail:
            del ladder.trail[ladder.trail.index(target):]
        elif target is not ladder.step:
            ladder.trail.append(ladder.step)
        ladder.step = target
        self.ask()

    def locate(self, inp: LocationInput) -> dict[str, Any]:
        values: dict[str, Any] = {"lat": inp.lat, "lng": inp.lng, "source": inp.source,
                                  "verified": True}
        geocode = self.ctx.daily.geocode
        if geocode is None:
            label = inp.label or f"{inp.lat:.5f}, {inp.lng:.5f}"
            return _location("gps", **values, label=label)
        try:
            place = geocode(inp.lat, inp.lng)
        except ValueError as exc:
            raise InvalidAnswer("err.location_impossible") from exc
        return _location("gps", **values, label=place.label("zh"), label_en=place.label("en"),
                         province=place.province, city=place.city, district=place.district,
                         category=place.category)

    def typed_place(self, text: str) -> dict[str, Any]:
        """A typed address, unverified; its province/city/district when they can be read."""
        read = self.ctx.daily.read_address
        place = read(text) if read is not None else None
        if place is None:
            return _location("typed", label=text)
        return _location("typed", label=text, province=place.province, city=place.city,
                         district=place.district, category=place.category)

    def on_location(self, key: str, answer: _Answer) -> None:
        ctx, ladder = self.ctx, self.ladder
        step = LOCATION_STEPS[ladder.step]
        if answer.location is not None:
            inp = answer.location
            if ctx.proxy_for:
                raise InvalidAnswer("err.proxy_typed_only")
            if inp.source == "event" and not _is_fresh(inp, ctx):
                raise InvalidAnswer("err.location_stale")
            value = self.locate(inp)
            if value["category"] == "abroad":
                self.follow(key, LocAct.ABROAD, None)
                return
            ladder.offered = value
            self.to_sub(Loc.CONFIRM)
            return
        if answer.options:
            option_id = answer.options[0].id
            target = step.goes.get(option_id) or SHORTCUT_GOES[option_id]
            self.follow(key, target, option_id)
            return
        assert step.typed is not None
        self.follow(key, step.typed, answer.value)

    def follow(self, key: str, target: Loc | LocAct, value: Any) -> None:
        """Carry out where an answer at a sub-step leads (`LocationStep.goes` / `.typed`)."""
        ladder, ctx = self.ladder, self.ctx
        if isinstance(target, Loc):
            self.to_sub(target)
        elif target is LocAct.KEEP_OFFERED:
            if ladder.offered:
                self.store(key, dict(ladder.offered))
            else:
                self.to_sub(MEMBER_ENTRY)
        elif target is LocAct.STILL_ABROAD:
            self.store(key, _location("abroad", country=ctx.daily.remembered_country,
                                      category="abroad"))
        elif target is LocAct.ABROAD:
            self.to_sub(self.abroad_entry())
        elif target is LocAct.REQUEST_PROXY:
            self.request_proxy()
        elif target is LocAct.PROXY_REASON:
            ladder.proxy_reason = str(value)
            if ladder.trail and ladder.trail[-1] is Loc.PROXY_REASON:
                ladder.step = ladder.trail.pop()  # the typed reason answers the reason step
            self.to_sub(Loc.ABROAD_AGAIN if ctx.daily.remembered_country else Loc.PROXY_ASK)
        elif target is LocAct.STORE_TYPED:
            self.store(key, self.typed_place(str(value)))
        elif target is LocAct.STORE_COUNTRY:
            self.store(key, _location("abroad", country=value, category="abroad"))
        elif target is LocAct.STORE_UNKNOWN:
            self.store(key, _location("unknown", reason=value))
        else:  # pragma: no cover - forms._check_ladder keeps LOCATION_STEPS complete
            raise AssertionError(target)

    def request_proxy(self) -> None:
        ctx = self.ctx
        self.effects.append(Effect("request_proxy", {
            "userid": ctx.whom, "form_id": self.form.id, "date": ctx.today.isoformat(),
            "reason": "location_failed"}))
        self.note("loc.proxy_requested")
        self.finished = True

    def country_effects(self) -> list[Effect]:
        ctx, target = self.ctx, self.ctx.whom
        remembered = ctx.daily.remembered_country
        effects = []
        for q in self.form.questions:
            value = self.answers.get(q.key)
            if q.kind is not QuestionKind.LOCATION or not isinstance(value, dict):
                continue
            if value["kind"] == "abroad" and value["country"] != remembered:
                effects.append(Effect("remember_country",
                                      {"userid": target, "country": value["country"]}))
            elif value["kind"] in ("gps", "typed") and remembered:
                effects.append(Effect("forget_country", {"userid": target}))
        return effects
