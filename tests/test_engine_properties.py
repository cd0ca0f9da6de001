"""Property-based walks through both forms: any input in any state (issue 8).

A walk starts either form for the member (or the 2022 daily report as a published version: the
engine walks any form a file declares) or, for the daily report, for a member a reviewer
reports on behalf of, in either rendering and language, and then applies random inputs:
arbitrary Unicode, digits and full-width digits, option numbers in and out of range, every
command word, answers that fit some question, card clicks on the live card and on stale ones,
locations near, far and impossible (as events and as messages, fresh and old), clock jumps
past the form timeout and past midnight, and re-prompts. The state makes a JSON round trip
between every two steps, as it does through the database.

Invariants checked after every step (on top of `check_step`'s WeCom limits):
* the engine raises nothing;
* the subject of the form never changes, and a daily form is for the context's day;
* an input that leaves the form open is answered, with the question again when it was not
  taken (a re-ask names what is expected: the step's own question is what is shown last);
* a completed record has only questions of the form whose condition holds, for the form's
  subject and day (the once-only rules are the caller's: see test_endpoint_properties.py);
* a command word (`catalog.COMMANDS`: 继续, 重新开始, 上报, English…) typed anywhere never
  becomes an answer, nor part of one (a typed address, country, reason or remark) (QA3 #1).

Profiles: "ci" (default, fast) and "nightly" (HYPOTHESIS_PROFILE=nightly, many more walks);
see tests/conftest.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot import catalog
from bot.conversation import render
from bot.conversation.engine import (
    CardInput,
    Context,
    ConvState,
    DailyContext,
    LocationInput,
    Step,
    TextInput,
    advance,
    current_question,
    reprompt,
    start,
)
from bot.conversation.form_files import shipped
from bot.conversation.forms import RESUME_STEP, Form, Loc, QuestionKind
from tests.forms import BASIC_INFO, DAILY_REPORT
from tests.test_engine import NOW, ROSTER, TODAY, check_step, fake_geocode


def _fullwidth(n: int) -> str:
    return "".join(chr(ord(d) + 0xFEE0) for d in str(n))


COMMAND_WORDS = sorted({w for words in catalog.COMMANDS.values() for w in words})
ANSWERS = ["36.5", "37.8", "３６.５", "13812345678", "2019011234", "北京市海淀区学院路", "日本",
           "无", "none", "提交", "修改", "是", "否", "1", "2", "1 2", "2,3", "定位失败", "在国外",
           "继续", "重新开始", "昨天", "3月1日", "张三", "Zhang San", "返校", "😀", "",
           "\u200b", "a\x00b", "京", "中国"]
TEXTS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(COMMAND_WORDS + ANSWERS),
    st.integers(-3, 40).map(str),
    st.integers(0, 40).map(_fullwidth),
)
PLACES = [(39.96, 116.35), (30.6, 114.3), (-33.9, 151.2), (0.0, 0.0), (91.0, 0.0)]


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Click:
    index: int       # which option (modulo the options; beyond them: a key the card lacks)
    stale: bool      # a card that is no longer live
    several: int     # how many options a vote card submits


@dataclass(frozen=True)
class Locate:
    place: tuple[float, float]
    source: str
    age_seconds: int


@dataclass(frozen=True)
class Tick:
    seconds: int


@dataclass(frozen=True)
class Again:
    pass


ACTIONS = st.one_of(
    st.builds(Say, TEXTS),
    st.builds(Click, st.integers(0, 8), st.booleans(), st.integers(1, 3)),
    st.builds(Locate, st.sampled_from(PLACES), st.sampled_from(["event", "message"]),
              st.sampled_from([0, 300, 3600])),
    st.builds(Tick, st.sampled_from([60, 31 * 60, 10 * 3600, 86400])),
    st.just(Again()),
)


@dataclass
class Walk:
    form: Form
    ctx: Context
    state: ConvState | None
    subject: str
    stored: dict[tuple[str, str, str], int]
    seen_tasks: list[str]
    counter: int = 0

    def fresh_id(self) -> str:
        self.counter += 1
        return f"w{self.counter}"

    def record(self, step: Step, response_code: str | None, *, rejected_check: bool) -> None:
        check_step(step, response_code)
        for out in step.outgoing:
            if out.task_id and out.kind == "send":
                self.seen_tasks.append(out.task_id)
        if step.completed is not None:
            self.completed(step)
        if step.state is None:
            self.state = None
            return
        state = step.state
        assert state.subject == self.subject, "a form never changes whose it is"
        if self.form.daily:
            assert state.day == self.ctx.today.isoformat()
        if state.step not in (RESUME_STEP, "@confirm", "@edit", "@repeat"):
            q = self.form.question(state.step)
            assert (state.location is not None) == (q.kind is QuestionKind.LOCATION)
        if rejected_check:
            self.shows_the_question(step, state)
        dumped = json.loads(json.dumps(state.to_json(), ensure_ascii=False))
        reloaded = ConvState.from_json(dumped)
        assert reloaded == state
        self.state = reloaded

    def shows_the_question(self, step: Step, state: ConvState) -> None:
        """Whatever happened, the member is left looking at the current step's question."""
        assert step.outgoing, "every typed input gets an answer"
        if state.sub is Loc.ASK:
            return  # a re-prompt here may use a newly arrived position instead
        question = current_question(self.form, state, self.ctx)
        kind = render.card_kind(question, self.ctx.rendering)
        if kind is not None:
            assert state.live_task_id in [o.task_id for o in step.outgoing if o.kind == "send"]
            return
        again = reprompt(self.form, state, replace(self.ctx, new_id=self.fresh_id()))
        last = [o.message["text"]["content"] for o in step.outgoing
                if o.kind == "send" and o.message["msgtype"] == "text"][-1]
        expected = [o.message["text"]["content"] for o in again.outgoing
                    if o.kind == "send" and o.message["msgtype"] == "text"][-1]
        assert last.endswith(expected.split("\n\n")[-1].split("\n")[-1])

    def completed(self, step: Step) -> None:
        answers = dict(step.completed or {})
        assert answers.pop("form_version") == self.form.version
        for key in answers:
            assert self.form.has(key)
            assert self.form.question(key).applies(answers, self.ctx)
        day = self.ctx.today.isoformat() if self.form.daily else "-"
        key = (self.form.id, self.subject, day)
        # The caller stores at most one: basic information once, one report a day.
        self.stored[key] = self.stored.get(key, 0) + 1

    # -- inputs --------------------------------------------------------------------------

    def apply(self, action: Any) -> None:
        if self.state is None:
            self.ctx = replace(self.ctx, new_id=self.fresh_id())
            self.record(start(self.form, self.ctx), None, rejected_check=False)
            return
        ctx = replace(self.ctx, new_id=self.fresh_id())
        self.ctx = ctx
        if isinstance(action, Tick):
            now = ctx.now + timedelta(seconds=action.seconds)
            days = (now - NOW).days
            self.ctx = replace(ctx, now=now, today=TODAY + timedelta(days=max(days, 0)))
            return
        if isinstance(action, Again):
            self.record(reprompt(self.form, self.state, ctx), None, rejected_check=True)
            return
        if isinstance(action, Say):
            before = typed_values(self.state)
            step = advance(self.form, self.state, TextInput(action.text), ctx)
            if catalog.command_of(action.text) is not None:
                word = catalog.command_key(action.text)
                after = typed_values(step.state, step.completed)
                assert word not in after - before, f"{action.text!r} was taken as an answer"
            self.record(step, None, rejected_check=step.state is not None)
            return
        if isinstance(action, Locate):
            lat, lng = action.place
            inp = LocationInput(lat, lng, "", action.source,
                                ctx.now - timedelta(seconds=action.age_seconds))
            self.record(advance(self.form, self.state, inp, ctx), None, rejected_check=False)
            return
        assert isinstance(action, Click)
        self.click(action, ctx)

    def click(self, action: Click, ctx: Context) -> None:
        assert self.state is not None
        question = current_question(self.form, self.state, ctx)
        kind = render.card_kind(question, "cards")
        live = self.state.live_task_id
        task = live if live and not action.stale else (
            self.seen_tasks[0] if self.seen_tasks else "nope_1")
        ids = [o.id for o in question.options] or ["x"]
        if action.index >= len(ids) + 2:
            chosen = ["not-an-option"]
        else:
            chosen = [ids[(action.index + k) % len(ids)] for k in range(action.several)]
        code = f"rc{self.fresh_id()}"
        if kind == "vote_interaction":
            inp = CardInput(task, render.SUBMIT_KEY, {render.card_question_key(question):
                                                      tuple(chosen)}, code)
        else:
            inp = CardInput(task, chosen[0], {}, code)
        step = advance(self.form, self.state, inp, ctx)
        self.record(step, code, rejected_check=False)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def typed_values(state: ConvState | None, completed: Any = None) -> set[str]:
    """Every text an answer holds (the location's label, country, reasons...), as a command
    key, including a reviewer's reason kept until the location is stored."""
    held: list[str] = _strings(dict(completed or {}))
    if state is not None:
        held += _strings(state.answers)
        if state.location is not None and state.location.proxy_reason:
            held.append(state.location.proxy_reason)
    return {catalog.command_key(text) for text in held}


WALKERS = st.tuples(
    # daily_2022: a published form (the 2022 file), walked like the shipped ones
    st.sampled_from(["basic_info", "daily_report", "proxy", "daily_2022"]),
    st.sampled_from(["text", "cards"]),
    st.sampled_from(["zh", "en"]),
    st.booleans(),              # a remembered country
    st.booleans(),              # a fresh LOCATION event known
    st.booleans(),              # a healthy report yesterday (same-as-yesterday offered)
)

YESTERDAY = {"location": {"kind": "gps", "city": "北京市", "label": "北京市 海淀区",
                          "verified": True}, "on_campus": True, "temperature": 36.5,
             "symptoms": ["none"], "contact": False, "quarantine": "none", "remarks": ""}


# What a published form's report of yesterday holds (the 2022 form, stored as version 2).
DAILY_2022 = replace(shipped("daily_report_2022").form, version=2)
YESTERDAY_2022 = {"location": YESTERDAY["location"], "temperature": 36.5, "health_code": "green",
                  "nat_date": "2022-03-08", "nat_result": "negative", "vaccine_doses": 3,
                  "risk_travel": False, "return_plan": False, "remarks": ""}


def make_walk(kind: str, rendering: str, lang: str, country: bool, event: bool,
              yesterday: bool) -> Walk:
    form = {"basic_info": BASIC_INFO, "daily_2022": DAILY_2022}.get(kind, DAILY_REPORT)
    if kind == "daily_2022":
        yesterday_answers = YESTERDAY_2022
    else:
        yesterday_answers = YESTERDAY
    subject = "a2" if kind == "proxy" else "zhangsan"
    daily = DailyContext(
        geocode=fake_geocode, remembered_country="日本" if country else None,
        last_location=LocationInput(39.96, 116.35, "", "event", NOW) if event else None,
        yesterday=yesterday_answers if yesterday else None, previous_city="北京市")
    ctx = Context(userid="teacher" if kind == "proxy" else "zhangsan", lang=lang,
                  rendering=rendering, now=NOW, today=TODAY, new_id="w0",
                  subject=subject, subject_name="钱二丰" if kind == "proxy" else "",
                  prefill=ROSTER, helpers=("钱老师",), daily=daily)
    return Walk(form, ctx, None, subject, {}, [])


@given(WALKERS, st.lists(ACTIONS, min_size=1, max_size=40))
def test_random_walks_keep_every_invariant(walker: tuple, actions: list[Any]) -> None:
    walk = make_walk(*walker)
    walk.apply(None)  # start
    for action in actions:
        walk.apply(action)
        if walk.state is None:
            walk.apply(None)  # the member starts again (after a cancel or a submission)


@given(WALKERS, st.lists(st.builds(Say, TEXTS), min_size=3, max_size=12))
def test_every_typed_answer_is_taken_or_re_asked(walker: tuple, says: list[Say]) -> None:
    walk = make_walk(*walker)
    walk.apply(None)
    for say in says:
        assert walk.state is not None
        walk.apply(say)  # `record` checks the question is shown again when not taken
        if walk.state is None:
            walk.apply(None)


# Answers that move a form on (so typed questions are reached: name, ID, address, country,
# reasons, remarks), mixed with every command word.
PROGRESS = ["1", "2", "3", "确认", "2019011234", "13812345678", "北京市海淀区学院路37号", "36.5",
            "日本", "定位失败", "在国外", "输入地址", "无", "没有", "提交", "住院"]


@given(WALKERS, st.lists(st.one_of(st.sampled_from(PROGRESS), st.sampled_from(COMMAND_WORDS)),
                         min_size=3, max_size=30))
def test_no_command_word_is_ever_stored_as_an_answer(walker: tuple, texts: list[str]) -> None:
    walk = make_walk(*walker)
    walk.apply(None)
    for text in texts:
        walk.apply(Say(text))  # `apply` checks no command word became (part of) an answer
        if walk.state is None:
            walk.apply(None)
