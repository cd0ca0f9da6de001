"""Forms declared in TOML files (the one source of each form): the shipped files declare the
forms the bot has always asked (questions, options, conditions, parsers and abnormal rules, the
latter checked against a reference written out here), `form check` finds each kind of problem
with its line number, and the 2022 form walks end to end through the engine in both renderings
(every card checked against WeCom's limits by the dialog driver)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.cli import build_parser
from bot.conversation import form_files
from bot.conversation.form_files import check_text, load_text, shipped, shipped_text
from bot.settings import DatabaseSettings, Settings
from tests.test_engine import RENDERINGS, TODAY, Dialog, gps

DAILY = shipped("daily_report")
BASIC = shipped("basic_info")
Y2022 = shipped("daily_report_2022")


def test_the_shipped_files_declare_the_forms_the_bot_has_always_asked() -> None:
    assert [q.key for q in BASIC.form.questions] == [
        "name", "staff_no", "mobile", "beijing_hukou", "hukou_address", "member_type"]
    assert [q.key for q in DAILY.form.questions] == [
        "location", "city_changed_reason", "on_campus", "temperature", "symptoms",
        "symptom_other", "contact", "quarantine", "quarantine_start", "remarks"]
    assert (DAILY.form.id, DAILY.form.version, DAILY.form.daily) == ("daily_report", 1, True)
    assert (BASIC.form.id, BASIC.form.version, BASIC.form.daily) == ("basic_info", 1, False)
    assert DAILY.form.repeat is not None
    assert (DAILY.form.repeat.after, DAILY.form.repeat.fresh) == (
        "location", frozenset({"location", "city_changed_reason"}))
    assert [r.reason for r in DAILY.abnormal] == ["fever", "symptoms", "contact", "quarantine",
                                                  "city_changed", "abroad_return"]
    assert [o.id for o in BASIC.form.question("member_type").options] == [
        "student", "faculty", "staff"]


def _was_abroad(answers: Any) -> bool:
    return answers is not None and (answers.get("location") or {}).get("kind") == "abroad"


def reference_reasons(answers: dict[str, Any], ctx: Any) -> list[str]:
    """The daily report's abnormal rules as they were written in Python before the files."""
    t = answers.get("temperature")
    found = {
        "fever": isinstance(t, int | float) and t >= ctx.fever_threshold,
        "symptoms": any(s != "none" for s in answers.get("symptoms") or ()),
        "contact": answers.get("contact") is True,
        "quarantine": answers.get("quarantine") not in (None, "none"),
        "city_changed": form_files.city_changed(answers, ctx),
        "abroad_return": _was_abroad(getattr(ctx, "yesterday", None))
        and not _was_abroad(answers),
    }
    return [r for r in ("fever", "symptoms", "contact", "quarantine", "city_changed",
                        "abroad_return") if found[r]]


def reference_repeat(yesterday: dict[str, Any], ctx: Any) -> bool:
    t = yesterday.get("temperature")
    return (isinstance(t, int | float) and t < ctx.fever_threshold
            and not any(s != "none" for s in yesterday.get("symptoms") or ()))


SYMPTOMS = ["none", "fever", "cough", "fatigue", "sore_throat", "other"]
answers_st = st.fixed_dictionaries({}, optional={
    "location": st.sampled_from([
        {"kind": "gps", "city": "北京市"}, {"kind": "gps", "city": "上海市"},
        {"kind": "abroad", "country": "Japan"}, {"kind": "typed", "city": None}]),
    "temperature": st.one_of(st.floats(35.0, 42.0).map(lambda x: round(x, 1)), st.just(37.3)),
    "symptoms": st.lists(st.sampled_from(SYMPTOMS), min_size=1, max_size=3, unique=True),
    "contact": st.booleans(),
    "quarantine": st.sampled_from(["none", "home", "centralised"]),
    "beijing_hukou": st.booleans(),
})
ctx_st = st.builds(lambda prev, y, thr: SimpleNamespace(previous_city=prev, yesterday=y,
                                                        fever_threshold=thr),
                   st.sampled_from([None, "北京市", "Japan"]),
                   st.one_of(st.none(), answers_st), st.sampled_from([37.3, 37.5]))


@settings(max_examples=300, deadline=None)
@given(answers_st, ctx_st)
def test_conditions_and_abnormal_rules_behave_as_always(answers: dict[str, Any],
                                                        ctx: Any) -> None:
    applies = {q.key: q.applies(answers, ctx) for q in DAILY.form.questions}
    abroad = _was_abroad(answers)
    assert applies["on_campus"] == (not abroad)
    assert applies["symptom_other"] == ("other" in (answers.get("symptoms") or ()))
    assert applies["quarantine_start"] == (answers.get("quarantine") not in (None, "none"))
    assert applies["city_changed_reason"] == form_files.city_changed(answers, ctx)
    assert BASIC.form.question("hukou_address").applies(answers, ctx) == (
        answers.get("beijing_hukou") is False)
    assert DAILY.abnormal_reasons(answers, ctx) == reference_reasons(answers, ctx)
    if ctx.yesterday is not None:
        assert DAILY.form.repeat.eligible(ctx.yesterday, ctx) == \
            reference_repeat(ctx.yesterday, ctx)


@pytest.mark.parametrize(("key", "typed", "expected"), [
    ("temperature", "36.5度", 36.5),
    ("temperature", "99", ("refused", "err.temperature_fahrenheit")),
    ("quarantine_start", "3-5", "2022-03-05"),
    ("quarantine_start", "2021-01-01", ("refused", "err.date_too_old")),
    ("remarks", "无", ""), ("symptom_other", "头痛" * 40, ("refused", "err.too_long")),
])
def test_parsers_answer_as_always(key: str, typed: str, expected: Any) -> None:
    env = SimpleNamespace(today=TODAY)
    try:
        got = DAILY.form.question(key).parser(typed, env)
    except ValueError as exc:
        got = ("refused", getattr(exc, "key", str(exc)))
    assert got == expected


# ---- form check ------------------------------------------------------------------------------

GOOD = shipped_text("daily_report_2022")


def problems_of(text: str) -> list[tuple[int, str]]:
    return [(p.line, p.message) for p in check_text(text)]


def line_of(text: str, needle: str, nth: int = 0) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return lines[nth]


def test_the_shipped_files_pass_the_check() -> None:
    for name in form_files.SHIPPED:
        assert check_text(shipped_text(name)) == [], name


def test_an_unknown_key_is_named_with_its_line() -> None:
    text = GOOD.replace('key = "vaccine_doses"', 'key = "vaccine_doses"\nmaximum = 4')
    ((line, message),) = problems_of(text)
    assert line == line_of(text, "maximum = 4") and "unknown key 'maximum'" in message


def test_a_question_without_a_label_is_refused() -> None:
    """Its label names it in summaries, the export and the privacy notice's list."""
    text = GOOD.replace('label = { zh = "疫苗剂次", en = "Vaccine doses" }\n', "")
    ((line, message),) = problems_of(text)
    assert line == line_of(text, 'key = "vaccine_doses"') - 1  # the [[question]] header
    assert "vaccine_doses: a label is required" in message and "privacy notice" in message


def test_a_condition_on_a_later_question_is_refused() -> None:
    text = GOOD.replace('when = { answer = "risk_travel", in = [true] }',
                        'when = { answer = "return_plan", in = [true] }')
    ((line, message),) = problems_of(text)
    assert line == line_of(text, 'when = { answer = "return_plan"')
    assert "'return_plan', which is not an earlier question" in message


def test_a_removed_option_still_referenced_is_refused() -> None:
    # The flight option is removed, but return_number still asks when the transport is flight.
    start = GOOD.index('[[question.option]]\nid = "flight"')
    end = GOOD.index('[[question.option]]\nid = "car"')
    text = GOOD[:start] + GOOD[end:]
    problems = problems_of(text)
    assert (line_of(text, 'in = ["train", "flight"]'),
            "return_transport has no option 'flight' (removed or misspelt)") in problems


def test_texts_over_wecoms_limits_are_refused_in_either_language() -> None:
    long_en = "Please tell us, in as much detail as you can manage, " * 8
    text = GOOD.replace('en = "Which city was the risk area in?"', f'en = "{long_en}"')
    problems = problems_of(text)
    assert any(line == line_of(text, long_en[:30]) and "risk_city: the en prompt is too long"
               in message for line, message in problems), problems
    button = GOOD.replace('label = { zh = "红码", en = "Red" }',
                          'label = { zh = "红码", en = "Red, which means you must stay put" }')
    assert any("option 'red' is too long for a button in en" in m
               for _l, m in problems_of(button))


@pytest.mark.parametrize(("change", "expected"), [
    (('kind = "number"\nmin = 0', 'kind = "numeric"\nmin = 0'), "kind must be one of"),
    (('prompt = "q.remarks"', 'prompt = "q.no_such_key"'), "is not a catalog key"),
    (('[form]\nid = "daily_report"', '[form]\nid = "Daily Report"'), "[form] needs an id"),
    (('key = "risk_city"', 'key = "risk_travel"'), "declared twice"),
    (('when = { fever = "temperature" }\n\n[[abnormal]]\nreason = "red_code"',
      'when = { fever = "temperatur" }\n\n[[abnormal]]\nreason = "red_code"'),
     "'temperatur', which is not an earlier question"),
])
def test_other_mistakes_are_named(change: tuple[str, str], expected: str) -> None:
    assert change[0] in GOOD, change[0]
    problems = problems_of(GOOD.replace(change[0], change[1], 1))
    assert any(expected in m for _l, m in problems), problems


def test_not_toml_at_all() -> None:
    ((line, message),) = problems_of('[form]\nid = "x"\ntitle = \n')
    assert line == 3 and message.startswith("not TOML")
    with pytest.raises(form_files.FormFileError):
        load_text("[form]\n")


async def test_cli_form_check_and_show(tmp_path, capsys) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(GOOD.replace('key = "vaccine_doses"', 'key = "vaccine_doses"\nmaximum = 4'),
                   encoding="utf-8")

    settings = Settings(database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'forms.db'}"))

    async def run(*argv: str) -> int:
        args = build_parser().parse_args(list(argv))
        return await args.run(args, settings)

    assert await run("form", "check", str(good)) == 0
    assert "14 questions, 5 abnormal rules: OK" in capsys.readouterr().out
    assert await run("form", "check", str(bad)) == 2
    err = capsys.readouterr().err
    assert f"{bad}:{line_of(bad.read_text(), 'maximum')}: unknown key 'maximum'" in err
    assert await run("form", "show", "basic_info") == 0
    assert capsys.readouterr().out == shipped_text("basic_info")
    assert await run("form", "show", "nothing") == 2
    capsys.readouterr()
    missing, latin1 = tmp_path / "missing.toml", tmp_path / "latin1.toml"
    latin1.write_bytes(GOOD.replace("vaccine_doses", "vaccine_doses_\u00e9").encode("latin-1",
                                                                            "replace"))
    for command in ("check", "publish"):
        assert await run("form", command, str(missing)) == 2
        assert f"form {command}: cannot read {missing}: No such file or directory" in (
            capsys.readouterr().err)
        assert await run("form", command, str(latin1)) == 2
        assert f"form {command}: {latin1} is not UTF-8 text (byte " in capsys.readouterr().err


# ---- the 2022 form through the engine --------------------------------------------------------


def walk_2022(rendering: str, *, code: str, test: str, travel: str) -> Dialog:
    d = Dialog(Y2022.form, rendering=rendering, last_location=gps())
    d.choose("ok")
    d.say("36.6")
    d.choose(code)
    d.say("昨天")
    d.choose(test)
    d.say("3")
    d.choose(travel)
    if travel == "yes":
        d.say("上海市")
    d.choose("yes")
    d.say("3-20")
    d.choose("train")
    d.say("G102")
    d.say("无")
    assert d.step == "@confirm", d.step
    d.choose("submit")
    assert d.last is not None and d.last.completed is not None
    return d


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_the_2022_form_end_to_end_in_both_renderings(rendering: str) -> None:
    d = walk_2022(rendering, code="green", test="negative", travel="no")
    done = d.last.completed
    assert (done["health_code"], done["nat_date"], done["nat_result"], done["vaccine_doses"],
            done["risk_travel"], done["return_plan"], done["return_date"],
            done["return_transport"], done["return_number"]) == (
        "green", "2022-03-09", "negative", 3, False, True, "2022-03-20", "train", "G102")
    assert "risk_city" not in done
    ctx = SimpleNamespace(fever_threshold=37.3, previous_city="北京市", yesterday=None)
    assert Y2022.abnormal_reasons(done, ctx) == []


@pytest.mark.parametrize(("code", "test", "travel", "reasons"), [
    ("red", "negative", "no", ["red_code"]),
    ("green", "positive", "no", ["positive_test"]),
    ("yellow", "pending", "yes", ["risk_travel"]),
    ("red", "positive", "yes", ["red_code", "positive_test", "risk_travel"]),
])
def test_red_code_positive_test_and_risk_travel_are_abnormal(code: str, test: str,
                                                             travel: str,
                                                             reasons: list[str]) -> None:
    d = walk_2022("text", code=code, test=test, travel=travel)
    ctx = SimpleNamespace(fever_threshold=37.3, previous_city="北京市", yesterday=None)
    assert Y2022.abnormal_reasons(d.last.completed, ctx) == reasons


def test_the_2022_form_refuses_bad_answers_and_says_why() -> None:
    d = Dialog(Y2022.form, rendering="text", last_location=gps())
    d.choose("ok")
    d.say("36.6")
    d.choose("green")
    d.say("2022-01-01")  # more than 14 days ago
    assert d.step == "nat_date" and "2022-02-24" in d.texts
    d.say("昨天")
    d.choose("negative")
    d.say("7")
    assert d.step == "vaccine_doses" and "0 到 4" in d.texts
    d.say("2")
    d.choose("no")
    d.choose("yes")
    d.say("2022-03-01")  # a return date in the past
    assert d.step == "return_date"
    d.say("明天")
    assert d.answers["return_date"] == "2022-03-11"
