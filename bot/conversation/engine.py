"""The conversation engine: (form, state, input, context) → (new state, messages, record, effects).

Why pure: every inbound callback is applied in one database transaction by the caller, who
persists the returned state and queues the returned messages in the same commit. The engine
therefore does no I/O, reads no clock (``ctx.now``/``ctx.today``), draws no random numbers
(``ctx.new_id``) and geocodes only through ``ctx.geocode``. State is a plain dataclass that
round-trips through JSON (`ConvState.to_json` / `from_json`), so a restart loses nothing.

Behaviour is driven by question kind and `when`, never by form: the same walk serves the basic
information and the daily report.

* Order: the next step is the first applicable, unanswered question in declaration order; after
  the last one comes the summary with 提交/修改 (``@confirm``).
* Commands in any state: 取消/cancel (state None + Effect("cancelled")), 上一步/back (undo the
  last answer and ask it again; questions whose `when` no longer holds are skipped), 帮助/help
  (the question's help, then the question again; answers and step unchanged).
* 修改/edit shows the list of answered questions; the chosen one (and any answers that depend on
  it) is asked again, then the member returns to the summary. "back" while editing abandons the
  edit and restores the previous answers.
* Cards: a click is taken only from the live card (`state.live_task_id`); any other card gets a
  "no longer active" text and changes nothing. A taken click also produces an ``update_card``
  showing the choice with the buttons disabled. Typed answers are accepted in both renderings.
* Timeouts: a member who types after ``ctx.form_timeout_seconds`` of silence (or for whom the
  caller calls `reprompt`) is first asked whether to continue where they left off (``@resume``,
  继续/重新开始); a click on the still-live card simply answers it. A daily form from an earlier
  reporting day, or a state made by an older form version, starts afresh with a notice.
  Because a restart names a new conversation, ``ctx.new_id`` must be fresh on every call.
* Same as yesterday (`Form.repeat`): see `bot.conversation.daily_report` for the decision.
* LOCATION questions run a small ladder of sub-steps (``location#ask`` etc., declared in
  `forms.LOCATION_STEPS`): a fresh LOCATION event is used automatically and shown for
  confirmation; a picked location message is accepted; 定位失败 shows the troubleshooting
  checklist and offers retry / typed address (unverified) / a proxy request
  (Effect("request_proxy"), the conversation ends); 在国外 needs no location, only the country,
  and a remembered country is offered as "still in X?". Impossible coordinates (geocode raises
  ValueError) and stale events are refused with a re-prompt. When a reviewer fills for a member
  (``ctx.proxy_for``), the reviewer's own position is never used: they type an address, pick
  abroad, or say "unknown" with a reason.
* On submit the record is returned in `Step.completed` (answers + "form_version"); the caller
  stores it and sends the receipt. Country memory changes come back as effects
  ("remember_country" / "forget_country") with the completed record only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from bot import catalog
from bot.catalog import Bi, command_of
from bot.conversation import render
from bot.conversation.forms import (
    CONFIRM_STEP,
    EDIT,
    LOCATION_SHORTCUTS,
    LOCATION_STEPS,
    REPEAT,
    REPEAT_STEP,
    RESUME,
    RESUME_STEP,
    SUBMIT,
    Form,
    Option,
    Question,
    QuestionKind,
    edit_question,
    prefilled,
)
from bot.conversation.validators import InvalidAnswer, check_choices, match_option, parse_choices

__all__ = [
    "CardInput",
    "ConvState",
    "Context",
    "Effect",
    "Input",
    "LocationInput",
    "Outgoing",
    "Place",
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
class Context:
    userid: str
    lang: str                 # "zh" | "en"
    rendering: str            # "text" | "cards"
    now: datetime             # aware, UTC
    today: date               # the local reporting day
    new_id: str               # fresh [0-9A-Za-z] token; names the conversation when starting
    prefill: Mapping[str, Any] = field(default_factory=dict)
    yesterday: Mapping[str, Any] | None = None
    remembered_country: str | None = None
    last_location: LocationInput | None = None
    location_fresh_seconds: int = 600
    previous_city: str | None = None
    geocode: Callable[[float, float], Place] | None = None
    fever_threshold: float = 37.3
    proxy_for: str | None = None
    form_timeout_seconds: int = 1800


# ---- state and results -------------------------------------------------------------------------


@dataclass
class ConvState:
    form_id: str
    form_version: int
    conv_id: str
    step: str
    answers: dict[str, Any]
    history: list[str]
    seq: int
    live_task_id: str | None
    lang: str
    rendering: str
    started_at: str
    updated_at: str
    meta: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (a deep copy)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConvState:
        names = {f.name for f in fields(cls)}
        missing = names - set(data)
        if missing:
            raise ValueError(f"conversation state lacks {sorted(missing)}")
        raw = {name: data[name] for name in names}
        return cls(**{**raw, "answers": dict(raw["answers"]), "history": list(raw["history"]),
                      "meta": dict(raw["meta"])})

    def copy(self) -> ConvState:
        return ConvState.from_json(self.to_json())


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
    """Begin `form`: the intro and the first question."""
    return _fresh(form, ctx, notice=None)


def advance(form: Form, state: ConvState, inp: Input, ctx: Context) -> Step:
    """Apply one input to the conversation `state` (which is not modified)."""
    _check_state(form, state)
    if isinstance(inp, TextInput) and command_of(inp.text) == "cancel":
        return _cancelled(form, ctx)
    if (notice := _restart_notice(form, state, ctx)) is not None:
        return _fresh(form, ctx, notice=notice)
    if isinstance(inp, CardInput) and inp.task_id != (state.live_task_id or None):
        return Step(state, (_text_out(catalog.stacked("card.stale", ctx.lang)),))
    if isinstance(inp, LocationInput) and inp.source == "event" and not _at_location(state):
        return Step(state, ())  # entering the app while answering something else: nothing to do
    turn = _Turn(form, state.copy(), ctx)
    if isinstance(inp, TextInput) and state.step != RESUME_STEP and is_expired(state, ctx):
        turn.offer_resume()
    else:
        turn.handle(inp)
    return turn.result()


def reprompt(form: Form, state: ConvState, ctx: Context) -> Step:
    """Ask the current question again (after an interruption, a rendering switch, a return)."""
    _check_state(form, state)
    if (notice := _restart_notice(form, state, ctx)) is not None:
        return _fresh(form, ctx, notice=notice)
    turn = _Turn(form, state.copy(), ctx)
    if state.step != RESUME_STEP and is_expired(state, ctx):
        turn.offer_resume()
    else:
        turn.ask_again()
    return turn.result()


def current_question(form: Form, state: ConvState, ctx: Context) -> Question:
    """The question the member is looking at, as rendered (options in reply-number order)."""
    _check_state(form, state)
    return _Turn(form, state.copy(), ctx).view().question


def is_expired(state: ConvState, ctx: Context) -> bool:
    """True when the member has been silent longer than the form timeout."""
    idle = ctx.now - datetime.fromisoformat(state.updated_at)
    return idle > timedelta(seconds=ctx.form_timeout_seconds)


def summary_lines(form: Form, answers: Mapping[str, Any], lang: str) -> list[str]:
    """"体温 Temperature：36.5℃" lines for the answered questions, in form order."""
    separator = ": " if lang == "en" else "："
    return [f"{catalog.side_by_side(q.label, lang)}{separator}"
            f"{render.clip(_display(q, answers[q.key], lang), _SUMMARY_VALUE_WIDTH)}"
            for q in form.questions if q.key in answers]


# ---- helpers -----------------------------------------------------------------------------------

_SUMMARY_VALUE_WIDTH = 60
_PREFILL = "prefill"
_SUB = "#"
_LOCATION_KEYS = ("kind", "lat", "lng", "label", "label_en", "province", "city", "district",
                  "category", "country", "verified", "source", "reason", "proxy_reason")
# Why a reviewer fills in, as the option ids of the proxy_reason step (or the typed "other").
_PROXY_REASONS = ("phone_fails", "no_phone")


def _check_state(form: Form, state: ConvState) -> None:
    if state.form_id != form.id:
        raise ValueError(f"state of form {state.form_id!r} given with form {form.id!r}")


def _restart_notice(form: Form, state: ConvState, ctx: Context) -> str | None:
    if state.form_version != form.version:
        return "conv.form_updated"
    if form.daily and state.meta.get("day") != ctx.today.isoformat():
        return "conv.new_day"
    return None


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


def _fresh(form: Form, ctx: Context, notice: str | None) -> Step:
    now = ctx.now.isoformat()
    meta: dict[str, Any] = {"day": ctx.today.isoformat()}
    if ctx.proxy_for:
        meta["proxy_for"] = ctx.proxy_for
    state = ConvState(form_id=form.id, form_version=form.version, conv_id=_clean_id(ctx.new_id),
                      step="", answers={}, history=[], seq=0, live_task_id=None, lang=ctx.lang,
                      rendering=ctx.rendering, started_at=now, updated_at=now, meta=meta)
    turn = _Turn(form, state, ctx)
    if notice:
        turn.note(notice)
    turn.begin()
    return turn.result()


def _split(step: str) -> tuple[str, str | None]:
    key, _, sub = step.partition(_SUB)
    return key, (sub or None)


def _at_location(state: ConvState) -> bool:
    return _split(state.step)[1] is not None


def _is_fresh(location: LocationInput, ctx: Context) -> bool:
    age = (ctx.now - location.at).total_seconds()
    return -60 <= age <= ctx.location_fresh_seconds


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


class _Turn:
    """One engine call: a private copy of the state plus what to send back."""

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

    # -- plumbing --------------------------------------------------------------------------

    @property
    def answers(self) -> dict[str, Any]:
        return self.state.answers

    @property
    def meta(self) -> dict[str, Any]:
        return self.state.meta

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
        state.updated_at = self.ctx.now.isoformat()
        state.lang, state.rendering = self.ctx.lang, self.ctx.rendering
        return Step(state, outgoing, None, tuple(self.effects))

    def title(self) -> str:
        return catalog.side_by_side(self.form.title, self.ctx.lang)

    # -- asking ----------------------------------------------------------------------------

    def view(self) -> _View:
        step, ctx, lang = self.state.step, self.ctx, self.ctx.lang
        if step == CONFIRM_STEP:
            lines = [catalog.stacked("conv.summary", lang, form=catalog.halves(self.form.title)),
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
            return _View(REPEAT, {}, "\n".join([catalog.stacked("conv.repeat_summary", lang),
                                                *lines]))
        if step == RESUME_STEP:
            return _View(RESUME, {"form": catalog.halves(self.form.title)})
        key, sub = _split(step)
        if sub is not None:
            return self.location_view(sub)
        q = self.form.question(key)
        if q.prefill and ctx.prefill.get(q.prefill):
            return _View(prefilled(q), {"value": ctx.prefill[q.prefill]})
        return _View(q, dict(q.params(self.answers, ctx)) if q.params else {})

    def location_view(self, sub: str) -> _View:
        lang = self.ctx.lang
        pending = self.meta.get("pending") or {}
        params = {
            "place": Bi(pending.get("label") or "", pending.get("label_en")
                        or pending.get("label") or ""),
            "country": self.ctx.remembered_country or "",
            "member": self.ctx.prefill.get("name") or self.ctx.proxy_for or "",
        }
        body = catalog.stacked("loc.checklist", lang) if sub == "failed" else None
        return _View(LOCATION_STEPS[sub].question, params, body)

    def ask(self) -> None:
        """Send the current step (with any pending notices) and make its card the live one."""
        view, state = self.view(), self.state
        task_id = None
        if render.card_kind(view.question, self.ctx.rendering) is not None:
            state.seq += 1
            task_id = render.make_task_id(state.conv_id, state.seq)
        title, lead = self.title(), self.lead
        if self.ctx.proxy_for:
            # Every question says whose report it is: the prompts address "you".
            member = self.ctx.prefill.get("name") or self.ctx.proxy_for
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
        key, sub = _split(self.state.step)
        if sub == "ask":  # a LOCATION event may have arrived since: use it
            self.state.step = self.enter_location(key)
        self.ask()

    def goto(self, step: str) -> None:
        self.prune()
        key, sub = _split(step)
        if sub is None and self.form.has(key) and \
                self.form.question(key).kind is QuestionKind.LOCATION:
            step = self.enter_location(key)
        if step == CONFIRM_STEP:
            self.meta.pop("edit", None)
        self.state.step = step
        self.ask()

    def begin(self) -> None:
        self.note(self.form.intro, date=self.ctx.today.isoformat())
        if self.ctx.proxy_for:
            self.note("conv.proxy_intro",
                      member=self.ctx.prefill.get("name") or self.ctx.proxy_for)
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
        repeat, yesterday = self.form.repeat, self.ctx.yesterday
        if (repeat is not None and yesterday and "repeat" not in self.meta
                and repeat.after in self.answers and upcoming not in repeat.fresh
                and repeat.eligible(yesterday, self.ctx) and self.copyable()):
            return REPEAT_STEP
        return upcoming

    def copyable(self) -> dict[str, Any]:
        """Yesterday's answers that today's form can take (not fresh, not answered, valid)."""
        repeat, yesterday = self.form.repeat, self.ctx.yesterday or {}
        if repeat is None:
            return {}
        return {q.key: yesterday[q.key] for q in self.form.questions
                if q.key not in repeat.fresh and q.key in yesterday
                and q.key not in self.answers and q.accepts(yesterday[q.key])}

    def store(self, key: str, value: Any) -> None:
        q = self.form.question(key)
        if q.kind is QuestionKind.LOCATION and self.ctx.proxy_for and isinstance(value, dict):
            value = {**value, "proxy_reason": self.meta.pop("proxy_reason", None)}
        self.answers[key] = value
        self.state.history.append(key)
        self.meta.pop("pending", None)
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
        key, sub = _split(self.state.step)
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
            return _Answer(value=q.parser(raw, self.ctx))
        if sub is not None and failure is not None and failure.key == "err.choice":
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
        self.note(err.key, **err.params)
        self.ask()

    # -- applying an answer --------------------------------------------------------------------

    def apply(self, answer: _Answer) -> None:
        step = self.state.step
        special = {CONFIRM_STEP: self.on_confirm, EDIT: self.on_edit,
                   REPEAT_STEP: self.on_repeat, RESUME_STEP: self.on_resume}.get(step)
        if special is not None:
            special(answer.options[0] if answer.options else None)
            return
        key, sub = _split(step)
        if sub is not None:
            self.on_location(key, sub, answer)
            return
        q = self.form.question(key)
        if answer.options and answer.options[0].id == _PREFILL and q.prefill:
            value = self.ctx.prefill[q.prefill]
        elif answer.options and q.kind is QuestionKind.MULTI:
            value = [o.stored for o in answer.options]
        elif answer.options:
            value = answer.options[0].stored
        else:
            value = answer.value
        self.store(key, value)

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
        keys = {option.id} | self.form.dependents(option.id)
        saved = {k: self.answers.pop(k) for k in list(self.answers) if k in keys}
        self.meta["edit"] = {"answers": saved, "history": list(self.state.history)}
        self.state.history = [h for h in self.state.history if h not in keys]
        self.goto(self.first_unanswered())

    def on_repeat(self, option: Option | None) -> None:
        if option is not None and option.id == "same":
            copied = self.copyable()
            self.answers.update(copied)
            self.meta["copied"] = list(copied)
        self.meta["repeat"] = option.id if option else "again"
        self.state.history.append(REPEAT_STEP)
        self.goto(self.next_step())

    def on_resume(self, option: Option | None) -> None:
        if option is not None and option.id == "restart":
            self.state.answers, self.state.history = {}, []
            self.state.meta = {k: v for k, v in self.meta.items()
                               if k in ("day", "proxy_for", "subject", "late_reason")}
            self.begin()
            return
        step = self.meta.pop("resume_step", None) or self.first_unanswered()
        key, sub = _split(step)
        if sub == "confirm":
            # The position offered before the pause may be stale by now: look again.
            step = self.enter_location(key)
        self.state.step = step
        self.ask()

    def offer_resume(self) -> None:
        self.meta["resume_step"] = self.state.step
        self.state.step = RESUME_STEP
        self.ask()

    def abandon_edit(self) -> None:
        edit = self.meta.pop("edit")
        self.answers.update(edit["answers"])
        self.state.history = list(edit["history"])
        self.goto(CONFIRM_STEP)

    def back(self) -> None:
        if "edit" in self.meta:
            self.abandon_edit()
            return
        step = self.state.step
        key, sub = _split(step)
        if sub is not None:
            parent = LOCATION_STEPS[sub].parent
            if parent == "ask" and self.ctx.proxy_for:
                parent = "proxy_ask"
            if parent is not None:
                self.state.step = f"{key}{_SUB}{parent}"
                self.ask()
                return
        if step == EDIT:
            self.goto(CONFIRM_STEP)
            return
        if step == RESUME_STEP:
            self.ask()
            return
        history = self.state.history
        while history:
            last = history.pop()
            if last == REPEAT_STEP:
                for copied in self.meta.pop("copied", []):
                    self.answers.pop(copied, None)
                self.meta.pop("repeat", None)
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
        self.note(view.question.help)
        self.note("hint.commands")
        self.ask()

    # -- the location ladder ---------------------------------------------------------------

    def substep(self, key: str, name: str) -> str:
        return f"{key}{_SUB}{name}"

    def abroad_entry(self, key: str) -> str:
        return self.substep(key, "abroad_again" if self.ctx.remembered_country else "country")

    def enter_location(self, key: str) -> str:
        """The first sub-step of a LOCATION question, using a fresh LOCATION event if known."""
        self.meta.pop("pending", None)
        ctx = self.ctx
        if ctx.proxy_for:
            return self.substep(key, "proxy_reason")
        last = ctx.last_location
        if last is not None and _is_fresh(last, ctx):
            try:
                value = self.locate(last)
            except InvalidAnswer:
                value = None
            if value is not None:
                if value["category"] == "abroad":
                    return self.abroad_entry(key)
                self.meta["pending"] = value
                return self.substep(key, "confirm")
        if ctx.remembered_country:
            return self.substep(key, "abroad_again")
        return self.substep(key, "ask")

    def locate(self, inp: LocationInput) -> dict[str, Any]:
        values: dict[str, Any] = {"lat": inp.lat, "lng": inp.lng, "source": inp.source,
                                  "verified": True}
        if self.ctx.geocode is None:
            label = inp.label or f"{inp.lat:.5f}, {inp.lng:.5f}"
            return _location("gps", **values, label=label)
        try:
            place = self.ctx.geocode(inp.lat, inp.lng)
        except ValueError as exc:
            raise InvalidAnswer("err.location_impossible") from exc
        return _location("gps", **values, label=place.label("zh"), label_en=place.label("en"),
                         province=place.province, city=place.city, district=place.district,
                         category=place.category)

    def on_location(self, key: str, sub: str, answer: _Answer) -> None:
        ctx = self.ctx
        if answer.location is not None:
            inp = answer.location
            if ctx.proxy_for:
                raise InvalidAnswer("err.proxy_typed_only")
            if inp.source == "event" and not _is_fresh(inp, ctx):
                raise InvalidAnswer("err.location_stale")
            value = self.locate(inp)
            if value["category"] == "abroad":
                self.goto(self.abroad_entry(key))
                return
            self.meta["pending"] = value
            self.goto(self.substep(key, "confirm"))
            return
        if answer.options:
            self.location_action(key, answer.options[0].id)
            return
        text = answer.value
        if sub == "proxy_reason_other":
            self.meta["proxy_reason"] = text
            self.goto(self.proxy_entry(key))
        elif sub == "country":
            self.store(key, _location("abroad", country=text, category="abroad"))
        elif sub == "unknown_reason":
            self.store(key, _location("unknown", reason=text))
        else:  # a typed address (member after 定位失败, or a reviewer filling in)
            self.store(key, _location("typed", label=text))

    def proxy_entry(self, key: str) -> str:
        """Where a reviewer gives the member's location, once they said why they fill in."""
        return self.substep(key, "abroad_again" if self.ctx.remembered_country else "proxy_ask")

    def location_action(self, key: str, action: str) -> None:
        targets = {"failed": "failed", "retry": "ask", "type": "address", "change": "country",
                   "unknown": "unknown_reason", "other": "proxy_reason_other"}
        if action in _PROXY_REASONS:
            self.meta["proxy_reason"] = action
            self.goto(self.proxy_entry(key))
        elif action in targets:
            self.goto(self.substep(key, targets[action]))
        elif action == "abroad":
            self.goto(self.abroad_entry(key))
        elif action == "proxy":
            self.request_proxy()
        elif action == "still":
            self.store(key, _location("abroad", country=self.ctx.remembered_country,
                                      category="abroad"))
        elif action == "ok" and self.meta.get("pending"):
            self.store(key, dict(self.meta["pending"]))
        else:
            self.goto(self.substep(key, "ask"))

    def request_proxy(self) -> None:
        ctx = self.ctx
        self.effects.append(Effect("request_proxy", {
            "userid": ctx.userid, "form_id": self.form.id, "date": ctx.today.isoformat(),
            "reason": "location_failed"}))
        self.note("loc.proxy_requested")
        self.finished = True

    def country_effects(self) -> list[Effect]:
        ctx, target = self.ctx, self.ctx.proxy_for or self.ctx.userid
        effects = []
        for q in self.form.questions:
            value = self.answers.get(q.key)
            if q.kind is not QuestionKind.LOCATION or not isinstance(value, dict):
                continue
            if value["kind"] == "abroad" and value["country"] != ctx.remembered_country:
                effects.append(Effect("remember_country",
                                      {"userid": target, "country": value["country"]}))
            elif value["kind"] in ("gps", "typed") and ctx.remembered_country:
                effects.append(Effect("forget_country", {"userid": target}))
        return effects
