"""Dialogs through the pure conversation engine, in both renderings.

Every call goes through `Dialog`, which checks each step the way production would see it: the
state survives json.dumps/loads (and the next call uses the reloaded copy), every text fits in
2048 UTF-8 bytes, every card satisfies WeCom's limits, and every update carries the click's
response code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.conversation import render
from tests.forms import BASIC_INFO
from tests.forms import DAILY_REPORT, abnormal_reasons, city_changed
from bot.conversation.engine import (
    CardInput,
    Context,
    ConvState,
    DailyContext,
    Input,
    LocationInput,
    Step,
    TextInput,
    advance,
    current_question,
    is_expired,
    reprompt,
    start,
    summary_lines,
)
from bot.conversation.forms import Form, QuestionKind

NOW = datetime(2022, 3, 10, 1, 30, tzinfo=UTC)  # 09:30 in Beijing
TODAY = date(2022, 3, 10)
RENDERINGS = ("text", "cards")
ROSTER = {"name": "张三", "staff_no": "2020123"}


# ---- fakes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakePlace:
    category: str
    province: str | None = None
    city: str | None = None
    district: str | None = None

    def label(self, lang: str) -> str:
        if self.category == "abroad":
            return "境外" if lang != "en" else "outside mainland China"
        return " ".join(dict.fromkeys(x for x in (self.province, self.city, self.district) if x))


def fake_geocode(lat: float, lng: float) -> FakePlace:
    """Beijing near (39.9, 116.4), Wuhan near (30.6, 114.3), abroad for negative latitudes."""
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or (lat, lng) == (0.0, 0.0):
        raise ValueError("impossible coordinates")
    if lat < 0:
        return FakePlace("abroad")
    if lat < 35:
        return FakePlace("mainland", "湖北省", "武汉市", "洪山区")
    return FakePlace("mainland", "北京市", "北京市", "海淀区")


def gps(age_seconds: float = 30, lat: float = 39.96, lng: float = 116.35,
        source: str = "event") -> LocationInput:
    return LocationInput(lat, lng, "", source, NOW - timedelta(seconds=age_seconds))


_DAILY_FIELDS = {f.name for f in fields(DailyContext)}


def make_ctx(**overrides: Any) -> Context:
    """A context; daily-report keys (yesterday, geocode, ...) go to `Context.daily` and
    `proxy_for` names the subject."""
    base: dict[str, Any] = dict(userid="zhangsan", lang="zh", rendering="text", now=NOW,
                                today=TODAY, new_id="c0nv1d", prefill=ROSTER)
    daily: dict[str, Any] = {"geocode": fake_geocode}
    for key, value in overrides.items():
        if key in _DAILY_FIELDS:
            daily[key] = value
        elif key == "proxy_for":
            base["subject"] = value or ""
        else:
            base[key] = value
    return Context(**base, daily=DailyContext(**daily))


# ---- WeCom limit checks ----------------------------------------------------------------------

TASK_ID = re.compile(r"[0-9A-Za-z_\-@]{1,128}")


def check_card(card: dict[str, Any]) -> None:
    """The limits of protocol doc §4 (display widths: a CJK character counts two columns)."""
    width = render.display_width
    assert card["card_type"] in ("button_interaction", "vote_interaction",
                                 "multiple_interaction")
    assert TASK_ID.fullmatch(card["task_id"]) and len(card["task_id"].encode()) <= 128
    assert width(card["main_title"]["title"]) <= 72
    assert width(card.get("sub_title_text", "")) <= 320
    assert width(card["source"]["desc"]) <= 40
    if card["card_type"] == "button_interaction":
        buttons = card["button_list"]
        assert 1 <= len(buttons) <= 6
        keys = [b["key"] for b in buttons]
        assert len(set(keys)) == len(keys) and all(0 < len(k.encode()) <= 1024 for k in keys)
        assert all(width(b["text"]) <= 20 and b["style"] in (1, 2, 3, 4) for b in buttons)
    if card["card_type"] == "vote_interaction":
        box = card["checkbox"]
        assert box["mode"] in (0, 1) and 0 < len(box["question_key"].encode()) <= 1024
        ids = [o["id"] for o in box["option_list"]]
        assert 1 <= len(ids) <= 20 and len(set(ids)) == len(ids)
        assert all(len(i.encode()) <= 128 for i in ids)
        assert all(width(o["text"]) <= 34 for o in box["option_list"])
        assert width(card["submit_button"]["text"]) <= 20 and card["submit_button"]["key"]
    if card["card_type"] == "multiple_interaction":
        selects = card["select_list"]
        assert 1 <= len(selects) <= 3
        assert all(1 <= len(s["option_list"]) <= 10 for s in selects)


def check_step(step: Step, response_code: str | None) -> None:
    json.dumps([o.message for o in step.outgoing])
    json.dumps(step.completed)
    json.dumps([dict(e.data) for e in step.effects])
    for out in step.outgoing:
        assert out.kind in ("send", "update_card")
        if out.kind == "update_card":
            assert out.message["response_code"] == response_code and response_code
            if "button" in out.message:
                assert out.message["button"]["replace_name"]
            else:
                card = out.message["template_card"]
                check_card(card)
                assert card["replace_text"]
                assert card.get("checkbox", {}).get("disable", True) is True
            continue
        message = out.message
        if message["msgtype"] == "text":
            content = message["text"]["content"]
            assert content and len(content.encode("utf-8")) <= 2048
            assert out.task_id is None
        else:
            assert message["msgtype"] == "template_card"
            check_card(message["template_card"])
            assert out.task_id == message["template_card"]["task_id"]
    cards = [o.task_id for o in step.outgoing if o.kind == "send" and o.task_id]
    assert len(cards) <= 1
    if step.state is not None and cards:
        assert step.state.live_task_id == cards[0]


# ---- the dialog driver -------------------------------------------------------------------------


class Dialog:
    def __init__(self, form: Form, **ctx: Any) -> None:
        self.form = form
        self.ctx = make_ctx(**ctx)
        self.state: ConvState | None = None
        self.last: Step | None = None
        self.task_ids: set[str] = set()
        self.record(start(form, self.ctx), None)

    # bookkeeping
    def record(self, step: Step, response_code: str | None) -> Step:
        check_step(step, response_code)
        for out in step.outgoing:
            if out.kind == "send" and out.task_id:
                assert out.task_id not in self.task_ids, "task ids must never repeat"
                self.task_ids.add(out.task_id)
        if step.state is not None:
            dumped = json.dumps(step.state.to_json(), ensure_ascii=False)
            reloaded = ConvState.from_json(json.loads(dumped))
            assert reloaded == step.state
            self.state = reloaded
        else:
            self.state = None
        self.last = step
        return step

    def feed(self, inp: Input, response_code: str | None = None) -> Step:
        assert self.state is not None, "the conversation has ended"
        return self.record(advance(self.form, self.state, inp, self.ctx), response_code)

    def again(self) -> Step:
        assert self.state is not None
        return self.record(reprompt(self.form, self.state, self.ctx), None)

    def tick(self, **delta: float) -> None:
        self.ctx = replace(self.ctx, now=self.ctx.now + timedelta(**delta))

    # members' actions
    def say(self, text: str) -> Step:
        return self.feed(TextInput(text))

    def choose(self, *option_ids: str) -> Step:
        """Tap in cards mode (when the question has a live card), else type the numbers."""
        assert self.state is not None
        question = current_question(self.form, self.state, self.ctx)
        kind = render.card_kind(question, self.ctx.rendering)
        if kind is not None and self.state.live_task_id:
            code = f"rc{len(self.task_ids)}"
            if kind == "button_interaction":
                (option_id,) = option_ids
                inp = CardInput(self.state.live_task_id, option_id, {}, code)
            else:
                inp = CardInput(self.state.live_task_id, render.SUBMIT_KEY,
                                {render.card_question_key(question): tuple(option_ids)}, code)
            return self.feed(inp, code)
        ids = [o.id for o in question.options]
        return self.say(" ".join(str(ids.index(i) + 1) for i in option_ids))

    def send_location(self, loc: LocationInput) -> Step:
        return self.feed(loc)

    # observations
    @property
    def step(self) -> str | None:
        """The question key, or "key#sub" at a LOCATION sub-step (a test-side shorthand)."""
        if self.state is None:
            return None
        sub = self.state.sub
        return f"{self.state.step}#{sub.value}" if sub and self.state.step != "@resume" \
            else self.state.step

    @property
    def answers(self) -> dict[str, Any]:
        assert self.state is not None
        return self.state.answers

    @property
    def texts(self) -> str:
        assert self.last is not None
        parts = [o.message["text"]["content"] for o in self.last.outgoing
                 if o.kind == "send" and o.message["msgtype"] == "text"]
        parts += [o.message["template_card"].get("sub_title_text", "") for o in self.last.outgoing
                  if o.kind == "send" and o.message["msgtype"] == "template_card"]
        return "\n".join(parts)

    @property
    def cards(self) -> list[dict[str, Any]]:
        assert self.last is not None
        return [o.message["template_card"] for o in self.last.outgoing
                if o.kind == "send" and o.message["msgtype"] == "template_card"]

    @property
    def updates(self) -> list[dict[str, Any]]:
        assert self.last is not None
        return [o.message for o in self.last.outgoing if o.kind == "update_card"]


def fill_basic(d: Dialog, *, hukou: str = "no") -> None:
    d.choose("prefill")
    d.choose("prefill")
    d.say("138 1234 5678")
    d.choose(hukou)
    if hukou == "no":
        d.say("河北省保定市竞秀区")
    d.choose("student")


def with_daily(ctx: Context, **changes: Any) -> Context:
    return replace(ctx, daily=replace(ctx.daily, **changes))


def fill_daily(d: Dialog, temperature: str = "36.5") -> None:
    """From the on_campus question (skipped abroad) to the summary, with a normal day."""
    if d.step == "on_campus":
        d.choose("yes")
    d.say(temperature)
    d.choose("none")
    d.choose("no")
    d.choose("none")
    d.say("无")


# ---- basic information ---------------------------------------------------------------------


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_basic_info_happy_path_with_prefill(rendering: str) -> None:
    d = Dialog(BASIC_INFO, rendering=rendering)
    assert d.step == "name"
    assert "张三" in d.texts and "只需填写一次" in d.texts
    fill_basic(d)
    assert d.step == "@confirm"
    assert "河北省保定市竞秀区" in d.texts and "提交后不可修改" in d.texts
    d.choose("submit")
    assert d.state is None
    assert d.last is not None and d.last.completed == {
        "name": "张三", "staff_no": "2020123", "mobile": "13812345678",
        "beijing_hukou": False, "hukou_address": "河北省保定市竞秀区",
        "member_type": "student", "form_version": BASIC_INFO.version}
    if rendering == "cards":
        assert d.updates and "提交" in d.updates[0]["button"]["replace_name"]


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_prefilled_value_can_be_corrected_by_typing(rendering: str) -> None:
    d = Dialog(BASIC_INFO, rendering=rendering)
    d.say("张三丰")
    assert d.answers["name"] == "张三丰" and d.step == "staff_no"
    d.say("确认")
    assert d.answers["staff_no"] == "2020123"


def test_without_prefill_the_plain_question_is_asked() -> None:
    d = Dialog(BASIC_INFO, prefill={})
    assert "请输入您的姓名" in d.texts
    d.say("1")
    assert d.step == "name" and "不含数字" in d.texts
    d.say("李四")
    assert d.answers == {"name": "李四"}


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_beijing_hukou_skips_the_address(rendering: str) -> None:
    d = Dialog(BASIC_INFO, rendering=rendering)
    fill_basic(d, hukou="yes")
    assert d.step == "@confirm" and "hukou_address" not in d.answers
    d.choose("submit")
    assert d.last is not None and d.last.completed is not None
    assert "hukou_address" not in d.last.completed


@pytest.mark.parametrize("rendering", RENDERINGS)
@pytest.mark.parametrize("bad", ["1381234567", "12812345678", "138123456789", "电话", "🙂", ""])
def test_invalid_phone_reprompts_and_changes_nothing(rendering: str, bad: str) -> None:
    d = Dialog(BASIC_INFO, rendering=rendering)
    d.choose("prefill")
    d.choose("prefill")
    assert d.state is not None
    before = d.state.to_json()
    d.say(bad)
    assert d.step == "mobile"
    after = d.state.to_json()
    for key in ("step", "answers", "history", "location", "edit", "subject", "day"):
        assert after[key] == before[key]
    assert after["tries"] == before["tries"] + 1
    assert ("手机号格式不对" in d.texts) or ("没有收到内容" in d.texts)
    assert "请输入您的手机号" in d.texts  # the question again


@pytest.mark.parametrize("phone", ["+86 138-1234-5678", "86 13812345678", "0086 13812345678",
                                   "１３８１２３４５６７８", "138 1234 5678"])
def test_phone_formats(phone: str) -> None:
    d = Dialog(BASIC_INFO)
    d.choose("prefill")
    d.choose("prefill")
    d.say(phone)
    assert d.answers["mobile"] == "13812345678"


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_back_undoes_the_last_answer(rendering: str) -> None:
    d = Dialog(BASIC_INFO, rendering=rendering)
    d.choose("prefill")
    d.choose("prefill")
    d.say("13812345678")
    assert d.step == "beijing_hukou"
    d.say("上一步")
    assert d.step == "mobile" and "mobile" not in d.answers
    d.say("back")
    assert d.step == "staff_no" and list(d.answers) == ["name"]
    d.say("上一步")
    d.say("上一步")
    assert d.step == "name" and "已经是第一题了" in d.texts


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_back_skips_questions_whose_condition_no_longer_holds(rendering: str) -> None:
    d = Dialog(BASIC_INFO, rendering=rendering)
    fill_basic(d, hukou="yes")
    d.say("上一步")
    assert d.step == "member_type"
    d.say("上一步")
    assert d.step == "beijing_hukou"


@pytest.mark.parametrize("rendering", RENDERINGS)
@pytest.mark.parametrize("word", ["取消", "cancel", "/取消", "CANCEL。"])
def test_cancel_mid_form(rendering: str, word: str) -> None:
    d = Dialog(BASIC_INFO, rendering=rendering)
    d.choose("prefill")
    d.say(word)
    assert d.state is None and "已取消" in d.texts
    assert d.last is not None and [e.name for e in d.last.effects] == ["cancelled"]
    assert d.last.completed is None


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_help_explains_and_keeps_the_question(rendering: str) -> None:
    d = Dialog(BASIC_INFO, rendering=rendering)
    d.choose("prefill")
    d.choose("prefill")
    assert d.state is not None
    before = d.state.to_json()
    d.say("帮助")
    assert d.step == "mobile" and d.state.answers == before["answers"]
    assert d.state.history == before["history"]
    assert "+86" in d.texts and "上一步" in d.texts and "请输入您的手机号" in d.texts


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_edit_from_the_summary_returns_to_it(rendering: str) -> None:
    d = Dialog(BASIC_INFO, rendering=rendering)
    fill_basic(d)
    d.choose("edit")
    assert d.step == "@edit"
    d.choose("mobile")
    assert d.step == "mobile" and "mobile" not in d.answers
    d.say("13900001111")
    assert d.step == "@confirm" and d.answers["mobile"] == "13900001111"
    assert d.answers["hukou_address"] == "河北省保定市竞秀区"


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_edit_clears_and_reasks_dependent_answers(rendering: str) -> None:
    d = Dialog(BASIC_INFO, rendering=rendering)
    fill_basic(d, hukou="yes")
    d.choose("edit")
    d.choose("beijing_hukou")
    d.choose("no")
    assert d.step == "hukou_address"  # now applies, so it is asked before the summary
    d.say("河北省石家庄市长安区")
    assert d.step == "@confirm"
    d.choose("edit")
    d.choose("beijing_hukou")
    d.choose("yes")
    assert d.step == "@confirm" and "hukou_address" not in d.answers


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_back_during_an_edit_restores_the_answers(rendering: str) -> None:
    d = Dialog(BASIC_INFO, rendering=rendering)
    fill_basic(d, hukou="yes")
    d.choose("edit")
    d.choose("beijing_hukou")
    d.choose("no")
    assert d.step == "hukou_address"  # still editing
    d.say("上一步")
    assert d.step == "@confirm"
    assert d.answers["beijing_hukou"] is True and "hukou_address" not in d.answers
    d.say("上一步")  # from the summary: the last answer
    assert d.step == "member_type"


def test_submit_by_typed_word_and_number() -> None:
    for word in ("提交", "1", "submit"):
        d = Dialog(BASIC_INFO)
        fill_basic(d)
        d.say(word)
        assert d.state is None and d.last is not None and d.last.completed


# ---- cards: stale, mismatched, updates ------------------------------------------------------


def test_click_on_a_previous_questions_card_changes_nothing() -> None:
    d = Dialog(BASIC_INFO, rendering="cards")
    first_card = d.state.live_task_id if d.state else None
    d.choose("prefill")
    assert d.state is not None
    before = d.state
    d.feed(CardInput(first_card or "", "prefill", {}, "rc-old"))
    # Nothing changes but the live card: the current question is asked again (QA fixes #8).
    assert d.state is not None and d.state.live_task_id != before.live_task_id
    assert replace(d.state, seq=before.seq, live_task_id=before.live_task_id) == before
    assert "已过期" in d.texts and "学工号" in d.texts
    assert d.last is not None and not d.updates


def test_click_on_a_card_of_a_finished_conversation_gets_a_clear_answer() -> None:
    old = Dialog(BASIC_INFO, rendering="cards")
    fill_basic(old)
    submit_card = old.state.live_task_id if old.state else ""
    old.choose("submit")
    d = Dialog(BASIC_INFO, rendering="cards", new_id="n3w")
    before = d.state
    d.feed(CardInput(submit_card or "", "submit", {}, "rc9"))
    assert d.state is not None and before is not None and d.last and d.last.completed is None
    assert replace(d.state, seq=before.seq, live_task_id=before.live_task_id) == before
    assert "已过期" in d.texts


def test_click_whose_key_does_not_match_the_question_reprompts() -> None:
    d = Dialog(BASIC_INFO, rendering="cards")
    d.choose("prefill")
    d.choose("prefill")
    d.say("13812345678")
    assert d.state is not None and d.step == "beijing_hukou"
    live = d.state.live_task_id
    d.feed(CardInput(live or "", "student", {}, "rc1"))
    assert d.step == "beijing_hukou" and "对不上" in d.texts
    assert d.cards and d.state.live_task_id != live  # asked again with a new card
    assert not d.updates


def test_vote_click_with_foreign_selection_reprompts() -> None:
    d = Dialog(DAILY_REPORT, rendering="cards", last_location=gps())
    d.choose("ok")
    d.choose("yes")
    d.say("36.5")
    assert d.step == "symptoms" and d.state is not None
    live = d.state.live_task_id or ""
    d.feed(CardInput(live, "submit", {"symptoms": ("headache",)}, "rc1"))
    assert d.step == "symptoms" and "对不上" in d.texts
    d.feed(CardInput(d.state.live_task_id or "", "submit", {"other_question": ("fever",)}, "rc2"))
    assert d.step == "symptoms" and "对不上" in d.texts


def test_vote_update_shows_the_choice_disabled() -> None:
    d = Dialog(DAILY_REPORT, rendering="cards", last_location=gps())
    d.choose("ok")
    d.choose("yes")
    d.say("36.5")
    d.choose("fever", "cough")
    (update,) = d.updates
    card = update["template_card"]
    assert card["checkbox"]["disable"] is True
    checked = {o["id"] for o in card["checkbox"]["option_list"] if o["is_checked"]}
    assert checked == {"fever", "cough"} and "已提交" in card["replace_text"]


def test_button_update_names_the_choice() -> None:
    d = Dialog(BASIC_INFO, rendering="cards")
    d.choose("prefill")
    d.choose("prefill")
    d.say("13812345678")
    d.choose("yes")
    assert d.updates == [{"response_code": d.updates[0]["response_code"],
                          "button": {"replace_name": "已选择：是 / Chosen: Yes"}}]


def test_typed_answers_are_accepted_in_cards_mode() -> None:
    d = Dialog(BASIC_INFO, rendering="cards")
    d.say("确认")
    d.say("ok")
    d.say("13812345678")
    d.say("是")
    d.say("教师")
    assert d.step == "@confirm" and d.answers["member_type"] == "faculty"


def test_reprompt_follows_a_rendering_switch() -> None:
    d = Dialog(BASIC_INFO, rendering="text")
    d.choose("prefill")
    d.choose("prefill")
    d.say("13812345678")
    assert not d.cards
    d.ctx = replace(d.ctx, rendering="cards")
    d.again()
    assert d.cards and d.cards[0]["card_type"] == "button_interaction"
    d.choose("no")
    assert d.step == "hukou_address"


def test_english_members_get_english_only() -> None:
    d = Dialog(BASIC_INFO, lang="en")
    text = d.texts.replace("张三", "")
    assert "roster" in text and not re.search(r"[\u4e00-\u9fff]", text)
    fill_basic(d)
    assert "Hukou address: 河北省保定市竞秀区" in d.texts


# ---- timeouts, versions, days --------------------------------------------------------------


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_an_abandoned_form_offers_to_continue(rendering: str) -> None:
    d = Dialog(BASIC_INFO, rendering=rendering)
    d.choose("prefill")
    d.choose("prefill")
    d.tick(minutes=31)
    assert d.state is not None and is_expired(d.state, d.ctx)
    d.say("13812345678")
    assert d.step == "@resume" and "还没填完" in d.texts and "mobile" not in d.answers
    d.choose("continue")
    assert d.step == "mobile" and "请输入您的手机号" in d.texts
    d.say("13812345678")
    assert d.step == "beijing_hukou"


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_continuing_after_a_pause_does_not_offer_a_stale_position(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, last_location=gps())
    assert d.step == "location#confirm"
    d.tick(minutes=31)  # the position is now older than the freshness window
    d.say("1")
    assert d.step == "@resume"
    d.choose("continue")
    assert d.step == "location#ask" and "location" not in d.answers


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_continuing_after_a_pause_keeps_a_fresh_position(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, last_location=gps())
    d.tick(minutes=31)
    d.say("1")
    d.ctx = with_daily(d.ctx, last_location=gps(age_seconds=-31 * 60 + 5))  # entered again
    d.choose("continue")
    assert d.step == "location#confirm"


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_an_abandoned_form_can_start_over(rendering: str) -> None:
    d = Dialog(BASIC_INFO, rendering=rendering)
    d.choose("prefill")
    d.tick(hours=2)
    d.again()
    assert d.step == "@resume"
    d.choose("restart")
    assert d.step == "name" and d.answers == {}


def test_cancel_works_on_an_expired_form() -> None:
    d = Dialog(BASIC_INFO)
    d.tick(hours=3)
    d.say("取消")
    assert d.state is None


def test_a_daily_form_from_yesterday_starts_afresh() -> None:
    d = Dialog(DAILY_REPORT, last_location=gps())
    d.choose("ok")
    d.ctx = with_daily(replace(d.ctx, now=NOW + timedelta(days=1),
                               today=TODAY + timedelta(days=1), new_id="next"),
                       last_location=None)
    d.say("1")
    assert d.state is not None and d.state.day == "2022-03-11"
    assert d.answers == {} and "新的一天" in d.texts and d.step == "location#ask"


def test_a_daily_form_from_yesterday_keeps_its_answers_but_the_location() -> None:
    """QA #5: past the caller's grace after midnight, yesterday's answers are not lost."""
    d = Dialog(DAILY_REPORT, last_location=gps())
    d.choose("ok")
    d.say("1")
    d.say("36.5")
    assert d.state is not None and set(d.answers) == {"location", "on_campus", "temperature"}
    moved = with_daily(replace(d.ctx, now=NOW + timedelta(days=1),
                               today=TODAY + timedelta(days=1), new_id="next"),
                       last_location=None)
    older = replace(moved, now=NOW + timedelta(days=2), today=TODAY + timedelta(days=2))
    state = d.state
    d.ctx = moved
    d.say("1")
    assert d.state is not None and d.state.day == "2022-03-11" and d.state.subject == state.subject
    assert d.answers == {"on_campus": state.answers["on_campus"], "temperature": 36.5}
    assert "保留" in d.texts and "2022-03-10" in d.texts and d.step == "location#ask"
    # Two days later nothing is kept: those answers are too old to offer.
    step = advance(DAILY_REPORT, state, TextInput("1"), older)
    assert step.state is not None and step.state.answers == {}


def test_a_state_from_an_older_form_version_restarts() -> None:
    d = Dialog(BASIC_INFO)
    d.choose("prefill")
    assert d.state is not None
    old = ConvState.from_json({**d.state.to_json(), "form_version": 0})
    step = advance(BASIC_INFO, old, TextInput("1"), d.ctx)
    assert step.state is not None and step.state.answers == {}
    assert step.state.form_version == BASIC_INFO.version


def test_state_of_another_form_is_refused() -> None:
    d = Dialog(BASIC_INFO)
    assert d.state is not None
    with pytest.raises(ValueError):
        advance(DAILY_REPORT, d.state, TextInput("1"), d.ctx)


# ---- the daily report: location --------------------------------------------------------------


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_fresh_gps_event_is_used_and_confirmed(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, last_location=gps(age_seconds=120))
    assert d.step == "location#confirm" and "北京市 海淀区" in d.texts
    d.choose("ok")
    location = d.answers["location"]
    assert location["kind"] == "gps" and location["verified"] is True
    assert (location["province"], location["city"], location["district"]) == \
        ("北京市", "北京市", "海淀区")
    assert location["category"] == "mainland" and location["source"] == "event"
    assert d.step == "on_campus"


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_stale_gps_event_is_not_used(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, last_location=gps(age_seconds=3600))
    assert d.step == "location#ask" and "请发送您当前的位置" in d.texts
    d.send_location(gps(age_seconds=3600))
    assert d.step == "location#ask" and "已经过时" in d.texts
    d.send_location(gps(age_seconds=5))
    assert d.step == "location#confirm"


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_location_message_from_the_picker(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering)
    assert d.step == "location#ask"
    d.send_location(gps(lat=30.5, lng=114.4, source="message"))
    assert d.step == "location#confirm" and "武汉市" in d.texts
    d.say("重新定位")
    assert d.step == "location#ask"
    d.send_location(gps(lat=30.5, lng=114.4, source="message"))
    d.choose("ok")
    assert d.answers["location"]["city"] == "武汉市"
    assert d.answers["location"]["source"] == "message"


def test_reprompt_at_the_location_step_uses_a_newly_arrived_event() -> None:
    d = Dialog(DAILY_REPORT)
    assert d.step == "location#ask"
    d.ctx = with_daily(d.ctx, last_location=gps(age_seconds=1))
    d.again()
    assert d.step == "location#confirm"


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_impossible_coordinates_reprompt(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, last_location=gps(lat=0.0, lng=0.0))
    assert d.step == "location#ask"  # an unusable event is not offered
    d.send_location(gps(lat=0.0, lng=0.0, source="message"))
    assert d.step == "location#ask" and "无法识别这个位置" in d.texts


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_location_failed_then_typed_address_is_unverified(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering)
    d.choose("failed")
    assert d.step == "location#failed"
    assert "定位服务（GPS）" in d.texts and "微信/企业微信使用位置信息" in d.texts  # checklist
    d.choose("type")
    assert d.step == "location#address" and "未核验" in d.texts
    d.say("北京市海淀区中关村南大街27号")
    location = d.answers["location"]
    assert location["kind"] == "typed" and location["verified"] is False
    assert location["label"] == "北京市海淀区中关村南大街27号" and location["lat"] is None
    fill_daily(d)
    assert "（未核验 unverified）" in d.texts


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_location_failed_then_ask_the_reviewer(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering)
    d.say("定位失败")
    d.choose("proxy")
    assert d.state is None and d.last is not None and d.last.completed is None
    (effect,) = d.last.effects
    assert effect.name == "request_proxy"
    assert effect.data == {"userid": "zhangsan", "form_id": "daily_report",
                           "date": "2022-03-10", "reason": "location_failed"}
    assert "审核的老师" in d.texts


def test_back_inside_the_location_ladder() -> None:
    d = Dialog(DAILY_REPORT)
    d.choose("failed")
    d.choose("type")
    d.say("上一步")
    assert d.step == "location#failed"
    d.say("上一步")
    assert d.step == "location#ask"
    d.say("上一步")
    assert d.step == "location#ask" and "第一题" in d.texts


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_abroad_asks_the_country_once_and_remembers_it(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering)
    d.choose("abroad")
    assert d.step == "location#country" and "无需定位" in d.texts
    d.say("中国")
    assert d.step == "location#country" and "发送位置" in d.texts
    d.say("日本")
    assert d.answers["location"]["kind"] == "abroad"
    assert d.answers["location"]["country"] == "日本" and d.answers["location"]["lat"] is None
    fill_daily(d)
    d.choose("submit")
    assert d.last is not None and d.last.completed is not None
    assert [(e.name, dict(e.data)) for e in d.last.effects] == [
        ("remember_country", {"userid": "zhangsan", "country": "日本"})]


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_remembered_country_is_offered(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, remembered_country="日本")
    assert d.step == "location#abroad_again" and "日本" in d.texts
    d.choose("still")
    assert d.answers["location"]["country"] == "日本"
    fill_daily(d)
    d.choose("submit")
    assert d.last is not None and d.last.effects == ()  # nothing new to remember


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_remembered_country_can_be_changed(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, remembered_country="日本")
    d.choose("change")
    assert d.step == "location#country"
    d.say("Korea")
    assert d.answers["location"]["country"] == "Korea"


def test_back_home_after_abroad_forgets_the_country() -> None:
    d = Dialog(DAILY_REPORT, remembered_country="日本")
    d.choose("change")
    d.send_location(gps(source="message"))
    d.choose("ok")
    fill_daily(d)
    d.choose("submit")
    assert d.last is not None
    assert [e.name for e in d.last.effects] == ["forget_country"]


def test_gps_abroad_goes_to_the_country_question() -> None:
    d = Dialog(DAILY_REPORT, last_location=gps(lat=-33.9, lng=151.2))
    assert d.step == "location#country"


def test_a_location_event_elsewhere_is_ignored() -> None:
    d = Dialog(DAILY_REPORT, last_location=gps())
    d.choose("ok")
    assert d.state is not None
    before = d.state
    d.send_location(gps(age_seconds=1))
    assert d.state == before and d.last is not None and d.last.outgoing == ()
    d.send_location(gps(source="message"))
    assert d.step == "on_campus" and "还不需要位置" in d.texts


def test_typed_text_at_the_location_step_explains_what_to_do() -> None:
    d = Dialog(DAILY_REPORT)
    d.say("北京")
    assert d.step == "location#ask" and "定位失败" in d.texts


# ---- the daily report: answers ------------------------------------------------------------------


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_daily_report_happy_path(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, last_location=gps())
    d.choose("ok")
    fill_daily(d)
    assert d.step == "@confirm"
    d.choose("submit")
    assert d.last is not None and d.last.completed is not None
    record = d.last.completed
    assert record["temperature"] == 36.5 and record["symptoms"] == ["none"]
    assert record["on_campus"] is True and record["contact"] is False
    assert record["quarantine"] == "none" and record["remarks"] == ""
    assert record["form_version"] == DAILY_REPORT.version
    assert "quarantine_start" not in record and "symptom_other" not in record
    assert abnormal_reasons(record, d.ctx) == []


@pytest.mark.parametrize("rendering", RENDERINGS)
@pytest.mark.parametrize(("typed", "value"), [("36.5", 36.5), ("36.5度", 36.5),
                                              ("36,5", 36.5), ("３６.５", 36.5),
                                              ("37.5", 37.5), ("36.5℃", 36.5)])
def test_temperatures_accepted(rendering: str, typed: str, value: float) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, last_location=gps())
    d.choose("ok")
    d.choose("yes")
    d.say(typed)
    assert d.answers["temperature"] == value and d.step == "symptoms"
    assert ("体温偏高" in d.texts) == (value >= 37.3)


@pytest.mark.parametrize("rendering", RENDERINGS)
@pytest.mark.parametrize("typed", ["三十七", "99", "", "🌡️", "34.9", "42.1", "36.5.1"])
def test_temperatures_rejected(rendering: str, typed: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, last_location=gps())
    d.choose("ok")
    d.choose("yes")
    d.say(typed)
    assert d.step == "temperature" and "temperature" not in d.answers
    assert "36.5" in d.texts


def test_fever_is_flagged() -> None:
    d = Dialog(DAILY_REPORT, last_location=gps())
    d.choose("ok")
    fill_daily(d, temperature="37.5")
    d.choose("submit")
    assert d.last is not None and d.last.completed is not None
    assert abnormal_reasons(d.last.completed, d.ctx) == ["fever"]


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_symptoms_none_is_exclusive_and_other_asks_a_description(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, last_location=gps())
    d.choose("ok")
    d.choose("yes")
    d.say("36.6")
    d.choose("none", "fever")
    assert d.step == "symptoms" and "不能和其他选项同时选择" in d.texts
    d.choose("cough", "other")
    assert d.answers["symptoms"] == ["cough", "other"] and d.step == "symptom_other"
    d.say("流鼻涕 🤧")
    assert d.answers["symptom_other"] == "流鼻涕 🤧" and d.step == "contact"


@pytest.mark.parametrize(("typed", "expected"), [
    ("2 3", ["fever", "cough"]), ("2,3", ["fever", "cough"]), ("23", ["fever", "cough"]),
    ("发热，咳嗽", ["fever", "cough"]), ("fever, sore throat", ["fever", "sore_throat"]),
    ("咳嗽、乏力", ["cough", "fatigue"]), ("无", ["none"]), ("没有", ["none"]),
    ("5 5", ["sore_throat"]),
])
def test_symptoms_typed(typed: str, expected: list[str]) -> None:
    d = Dialog(DAILY_REPORT, last_location=gps())
    d.choose("ok")
    d.choose("yes")
    d.say("36.6")
    d.say(typed)
    assert d.answers["symptoms"] == expected


@pytest.mark.parametrize("typed", ["👍", "🙂🙂", "7", "头疼"])
def test_choice_answers_that_are_not_options(typed: str) -> None:
    d = Dialog(DAILY_REPORT, last_location=gps())
    d.choose("ok")
    d.say(typed)
    assert d.step == "on_campus"
    expected = ("只发表情无法识别" if typed.startswith(("👍", "🙂")) else
                "没有这个序号" if typed.isdigit() else "没有看懂您的选择")
    assert expected in d.texts


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_quarantine_asks_the_start_date(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, last_location=gps())
    d.choose("ok")
    d.choose("no")
    d.say("36.5")
    d.choose("none")
    d.choose("no")
    d.choose("home")
    assert d.step == "quarantine_start"
    d.say("3月11日")
    assert d.step == "quarantine_start" and "不能晚于今天" in d.texts
    d.say("2021-12-01")
    assert d.step == "quarantine_start" and "不能早于" in d.texts
    d.say("昨天")
    assert d.answers["quarantine_start"] == "2022-03-09" and d.step == "remarks"
    d.say("在家上网课")
    d.choose("submit")
    assert d.last is not None and d.last.completed is not None
    assert abnormal_reasons(d.last.completed, d.ctx) == ["quarantine"]


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_city_change_asks_the_reason(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, last_location=gps(), previous_city="武汉市")
    d.choose("ok")
    assert d.step == "city_changed_reason" and "武汉市 → 北京市" in d.texts
    d.say("返校")
    assert d.answers["city_changed_reason"] == "返校" and d.step == "on_campus"


def test_same_city_asks_no_reason() -> None:
    d = Dialog(DAILY_REPORT, last_location=gps(), previous_city="北京市")
    d.choose("ok")
    assert d.step == "on_campus"


def test_changing_the_location_drops_a_reason_no_longer_needed() -> None:
    d = Dialog(DAILY_REPORT, last_location=gps(), previous_city="武汉市")
    d.choose("ok")
    d.say("返校")
    fill_daily(d)
    d.choose("edit")
    d.choose("location")
    assert d.step == "location#confirm"
    d.say("重新定位")
    d.send_location(gps(lat=30.5, lng=114.4, source="message"))
    d.choose("ok")
    assert d.step == "@confirm" and "city_changed_reason" not in d.answers


# ---- same as yesterday -------------------------------------------------------------------------

YESTERDAY = {
    "location": {"kind": "gps", "lat": 30.5, "lng": 114.4, "label": "湖北省 武汉市 洪山区",
                 "label_en": None, "province": "湖北省", "city": "武汉市", "district": "洪山区",
                 "category": "mainland", "country": None, "verified": True, "source": "event",
                 "reason": None},
    "city_changed_reason": "放假",
    "on_campus": False, "temperature": 36.4, "symptoms": ["none"], "contact": False,
    "quarantine": "home", "quarantine_start": "2022-03-01", "remarks": "",
    "form_version": 1,
}


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_same_as_yesterday_copies_all_but_the_location(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, last_location=gps(), yesterday=YESTERDAY)
    d.choose("ok")
    assert d.step == "@repeat" and "36.4" in d.texts and "居家隔离" in d.texts
    d.choose("same")
    assert d.step == "@confirm"
    assert d.answers["location"]["city"] == "北京市"  # today's, not yesterday's
    assert "city_changed_reason" not in d.answers
    assert "36.4℃" in d.texts
    d.choose("submit")
    assert d.last is not None and d.last.completed is not None
    record = d.last.completed
    for key in ("on_campus", "temperature", "symptoms", "contact", "quarantine",
                "quarantine_start", "remarks"):
        assert record[key] == YESTERDAY[key]


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_same_as_yesterday_declined_asks_everything(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, last_location=gps(), yesterday=YESTERDAY)
    d.choose("ok")
    d.choose("again")
    assert d.step == "on_campus"
    d.say("上一步")
    assert d.step == "@repeat"


def test_back_from_the_summary_undoes_the_copy() -> None:
    d = Dialog(DAILY_REPORT, last_location=gps(), yesterday=YESTERDAY)
    d.choose("ok")
    d.choose("same")
    d.say("上一步")
    assert d.step == "@repeat" and set(d.answers) == {"location"}


def test_same_as_yesterday_is_not_offered_after_a_fever() -> None:
    d = Dialog(DAILY_REPORT, last_location=gps(), yesterday={**YESTERDAY, "temperature": 37.6})
    d.choose("ok")
    assert d.step == "on_campus"


def test_same_as_yesterday_asks_what_yesterday_lacks() -> None:
    older = {k: v for k, v in YESTERDAY.items() if k != "contact"}
    d = Dialog(DAILY_REPORT, last_location=gps(), yesterday=older)
    d.choose("ok")
    d.choose("same")
    assert d.step == "contact"
    d.choose("no")
    assert d.step == "@confirm"


def test_returning_from_abroad_is_flagged() -> None:
    abroad = {**YESTERDAY, "location": {**YESTERDAY["location"], "kind": "abroad",
                                        "country": "日本"}}
    d = Dialog(DAILY_REPORT, last_location=gps(), yesterday=abroad)
    d.choose("ok")
    d.choose("same")
    d.choose("submit")
    assert d.last is not None and d.last.completed is not None
    assert abnormal_reasons(d.last.completed, d.ctx) == ["quarantine", "abroad_return"]


# ---- proxy reporting (a reviewer fills for a member) -------------------------------------------


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_proxy_types_the_address_and_ignores_own_gps(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, userid="teacher", proxy_for="zhangsan",
               prefill={"name": "张三"}, last_location=gps())
    assert d.step == "location#proxy_reason" and "张三" in d.texts
    d.choose("phone_fails")
    assert d.step == "location#proxy_ask"
    d.send_location(gps(source="message"))
    assert d.step == "location#proxy_ask" and "不使用您本人的位置" in d.texts
    d.say("北京市海淀区学院路")
    assert d.answers["location"]["kind"] == "typed"
    assert d.answers["location"]["verified"] is False
    assert d.answers["location"]["proxy_reason"] == "phone_fails"


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_every_proxy_question_says_whose_report_it_is(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, userid="teacher", proxy_for="zhangsan",
               prefill={"name": "张三"})
    d.choose("no_phone")
    d.say("北京市海淀区")
    assert d.step == "on_campus"
    if rendering == "cards":
        assert "代 张三 填报" in d.cards[-1]["main_title"]["title"]
    else:
        assert "代 张三 填报" in d.texts
    own = Dialog(DAILY_REPORT, rendering=rendering, last_location=gps(),
                 prefill={"name": "张三"})
    shown = " ".join([own.texts, *(c["main_title"]["title"] for c in own.cards)])
    assert "张三" not in shown  # a member's own report carries no tag


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_proxy_unknown_location_needs_a_reason(rendering: str) -> None:
    d = Dialog(DAILY_REPORT, rendering=rendering, userid="teacher", proxy_for="zhangsan")
    d.choose("no_phone")
    d.choose("unknown")
    assert d.step == "location#unknown_reason"
    d.say("上一步")
    assert d.step == "location#proxy_ask"
    d.choose("unknown")
    d.say("电话未接通")
    assert d.answers["location"] == {**d.answers["location"], "kind": "unknown",
                                     "reason": "电话未接通", "proxy_reason": "no_phone",
                                     "verified": False}


def test_proxy_other_reason_is_typed_and_back_returns_to_the_reasons() -> None:
    d = Dialog(DAILY_REPORT, userid="teacher", proxy_for="zhangsan")
    d.choose("other")
    assert d.step == "location#proxy_reason_other"
    d.say("上一步")
    assert d.step == "location#proxy_reason"
    d.choose("other")
    d.say("手机坏了，正在维修")
    assert d.step == "location#proxy_ask"
    d.say("上一步")
    assert d.step == "location#proxy_reason"
    d.choose("other")
    d.say("手机坏了，正在维修")
    d.say("北京市海淀区")
    assert d.answers["location"]["proxy_reason"] == "手机坏了，正在维修"


def test_proxy_with_a_remembered_country_records_effects_for_the_member() -> None:
    d = Dialog(DAILY_REPORT, userid="teacher", proxy_for="zhangsan", remembered_country="日本")
    d.choose("no_phone")
    d.choose("change")
    d.say("韩国")
    fill_daily(d)
    d.choose("submit")
    assert d.last is not None
    assert [dict(e.data) for e in d.last.effects] == [{"userid": "zhangsan", "country": "韩国"}]


# ---- summaries and helpers ---------------------------------------------------------------------


def test_summary_lines_in_both_languages() -> None:
    record = {**YESTERDAY, "symptoms": ["fever", "sore_throat"], "temperature": 37.5}
    zh = summary_lines(DAILY_REPORT, record, "zh")
    en = summary_lines(DAILY_REPORT, record, "en")
    assert "体温 Temperature：37.5℃" in zh
    assert "Symptoms: Fever, Sore throat" in en
    assert "Location: 湖北省 武汉市 洪山区" in en
    assert len(zh) == len(en) == len([q for q in DAILY_REPORT.questions if q.key in record])


def test_summary_clips_long_values() -> None:
    lines = summary_lines(DAILY_REPORT, {"remarks": "很" * 150}, "zh")
    assert lines[0].endswith("…") and render.display_width(lines[0]) < 100


def test_abnormal_reasons_each() -> None:
    ctx = make_ctx(previous_city="武汉市")
    base = {**YESTERDAY, "quarantine": "none", "location": {
        **YESTERDAY["location"], "city": "武汉市"}}
    assert abnormal_reasons(base, ctx) == []
    assert abnormal_reasons({**base, "temperature": 37.3}, ctx) == ["fever"]
    assert abnormal_reasons({**base, "symptoms": ["cough"]}, ctx) == ["symptoms"]
    assert abnormal_reasons({**base, "contact": True}, ctx) == ["contact"]
    assert abnormal_reasons({**base, "quarantine": "centralised"}, ctx) == ["quarantine"]
    moved = {**base, "location": {**base["location"], "city": "北京市"}}
    assert abnormal_reasons(moved, ctx) == ["city_changed"] and city_changed(moved, ctx)
    assert not city_changed(base, make_ctx(previous_city=None))


def test_every_question_kind_is_exercised_by_the_forms() -> None:
    kinds = {q.kind for form in (BASIC_INFO, DAILY_REPORT) for q in form.questions}
    assert kinds >= {QuestionKind.SINGLE, QuestionKind.MULTI, QuestionKind.NUMBER,
                     QuestionKind.TEXT, QuestionKind.PHONE, QuestionKind.LOCATION,
                     QuestionKind.DATE}


def test_task_ids_follow_the_conversation_and_sequence() -> None:
    d = Dialog(BASIC_INFO, rendering="cards", new_id="ab-c_1!")
    assert d.state is not None and d.state.conv_id == "abc1"
    assert d.state.live_task_id == "abc1_1"
    d.choose("prefill")
    assert d.state.live_task_id == "abc1_2"


def test_the_callers_state_is_never_modified() -> None:
    d = Dialog(DAILY_REPORT, rendering="cards", last_location=gps(), yesterday=YESTERDAY)
    for action in (lambda: d.choose("ok"), lambda: d.say("帮助"), lambda: d.choose("same"),
                   lambda: d.say("上一步"), lambda: d.say("36.5"), lambda: d.say("取消")):
        assert d.state is not None
        state = d.state
        snapshot = json.dumps(state.to_json())
        action()
        assert json.dumps(state.to_json()) == snapshot


def test_city_change_reason_comes_before_same_as_yesterday() -> None:
    d = Dialog(DAILY_REPORT, last_location=gps(), yesterday=YESTERDAY, previous_city="武汉市")
    d.choose("ok")
    assert d.step == "city_changed_reason"
    d.say("返校")
    assert d.step == "@repeat"
    d.choose("same")
    assert d.step == "@confirm" and d.answers["city_changed_reason"] == "返校"
