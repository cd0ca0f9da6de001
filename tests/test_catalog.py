"""The message catalog: every entry renders in both languages with realistic parameters and fits
WeCom's limits; the words members type for commands are recognised."""

from __future__ import annotations

import re
from datetime import date
from string import Formatter
from typing import Any

import pytest

from bot import catalog, text
from bot.catalog import Bi
from bot.conversation import render
from tests.forms import BASIC_INFO
from tests.forms import DAILY_REPORT, reason_labels
from bot.conversation.engine import summary_lines
from bot.conversation.form_files import shipped
from bot.conversation.forms import LOCATION_STEPS, REPEAT, RESUME, SUBMIT, Question
from handlers.privacy_notice import collected

CJK = re.compile(r"[\u3400-\u9fff]")

# The longest realistic values (long names, the longest ids, a maximal report summary).
LONGEST_REPORT = {
    "location": {"kind": "typed", "label": "新疆维吾尔自治区伊犁哈萨克自治州" * 4,
                 "verified": False},
    "city_changed_reason": "因家中有事需要返回老家处理，" * 7,
    "on_campus": False, "temperature": 37.5,
    "symptoms": ["fever", "cough", "fatigue", "sore_throat", "other"],
    "symptom_other": "流鼻涕" * 16, "contact": True, "quarantine": "centralised",
    "quarantine_start": "2022-03-01", "remarks": "😷" * 150,
}
SAMPLES: dict[str, Any] = {
    "name": "Maximilian Alexander Müller-Lüdenscheidt",
    "userid": "u" * 64,
    "time": "23:59",
    "date": "2022-03-10",
    "day_before": "2022-03-09",
    "example_day": "12-31",
    "word": "重新开始",
    "filed": "2022-03-10 23:59",
    "receipt": "R7XK2M9QPA",
    "by": "欧阳娜娜娜娜娜娜",
    "reviewer": "欧阳娜娜娜娜娜娜、司马相如相如、Maximilian Müller",
    "reasons": reason_labels(["fever", "symptoms", "contact", "quarantine", "city_changed",
                              "abroad_return"]),
    "form": catalog.halves("form.daily_report.title"),
    "member": "Maximilian Alexander Müller-Lüdenscheidt",
    "value": "Maximilian Alexander Müller-Lüdenscheidt",
    "previous": "克孜勒苏柯尔克孜自治州",
    "current": "黔西南布依族苗族自治州",
    "helpers": "欧阳老师、司马老师、Maximilian Müller",
    "query": "阿依古丽·买买提" * 4,
    "staff_no": "S" * 20,
    "symbol": "👨👩👧🇨🇳🇨🇳🇨🇳",  # first_symbol's longest: 8 characters of 4 bytes
    "count": 20,
    "place": Bi("新疆维吾尔自治区 伊犁哈萨克自治州 察布查尔锡伯自治县",
                "新疆维吾尔自治区 伊犁哈萨克自治州 察布查尔锡伯自治县"),
    "country": "United Kingdom of Great Britain and Northern Ireland",
    "temperature": 42.0,
    "options": Bi("1 重新定位 / 2 输入地址 / 3 请老师代填",
                  "1 Send again / 2 Type address / 3 Ask reviewer"),
    "max": 200,
    "low": 35.0,
    "high": 42.0,
    "today": "2022-03-10",
    "earliest": "2022-01-09",
    "latest": "2022-05-09",
    "days": 60,
    "version": 12,
    "choice": Bi("发热、咳嗽、乏力、咽痛、其他", "Fever, Cough, Fatigue, Sore throat, Other"),
    "option": catalog.halves("opt.symptom.none"),
    "reason": "电话一直没有人接听，" * 10,
    "unit": "中国少数民族语言文学学院（中国少数民族语言文学研究所）2021级汉语言文学1班",
    "number": 123456789,
    "limit": 500,
    "total": 100000,
    "reported": 99999,
    "missing": 99999,
    "abnormal": 99999,
    "self_count": 99999,
    "proxy_count": 99999,
    "unfollowed": 99999,
    "no_info": 99999,
    "late_count": 99999,
    "exempt": 99999,
    "rate": 100,
    "spark": "▁▂▃▄▅▆█",
    "start": "2026-12-01",
    "end": "2026-12-20",
    "count": 100000,
    "recent": 99999,
    "title": "关于寒假离校返乡有关事项的通知",
    "body": "请各位同学在离校前完成健康上报。" * 12,
    # What the privacy notice lists: the shipped forms' labels with the 2022 daily report.
    "collected": collected([shipped("basic_info").form, shipped("daily_report_2022").form]),
}
# Entries followed by summary lines (see the catalog docstring).
WITH_SUMMARY = {"report.receipt", "info.shown", "proxy.filed_for_you", "alert.abnormal",
                "conv.summary", "conv.repeat_summary"}
# English templates that quote Chinese on purpose.
ENGLISH_WITH_CHINESE = {"help.q.hukou_address", "cmd.unknown", "help", "lang.zh", "web.language"}
# Entries that are the same symbol in both languages.
SYMBOLS = {"unit.celsius"}
LANGS = ("zh", "en")


def sample(key: str) -> dict[str, Any]:
    # A name without a sample (test_every_parameter_has_a_realistic_sample) renders as itself.
    return {name: SAMPLES.get(name, name) for name in catalog.params_of(key)}


def entry_problems(key: str) -> list[str]:
    """What is wrong with one catalog entry (empty when nothing is)."""
    problems = []
    zh, en = catalog.templates(key)
    names = [{f for _, f, _, _ in Formatter().parse(t) if f} for t in (zh, en)]
    if names[0] != names[1]:
        problems.append(f"parameters differ: zh {sorted(names[0])}, en {sorted(names[1])}")
    if not (zh.strip() and en.strip()):
        problems.append("an empty half")
    if not CJK.search(zh) and key not in SYMBOLS:
        problems.append("no Chinese in the Chinese text")
    if CJK.search(en) and key not in ENGLISH_WITH_CHINESE:
        problems.append("Chinese in the English text")
    for lang in LANGS:
        rendered = catalog.stacked(key, lang, **sample(key))
        if key in WITH_SUMMARY:
            rendered += "\n" + "\n".join(summary_lines(DAILY_REPORT, LONGEST_REPORT, lang))
        if not rendered.strip() or "{" in rendered.replace(str(SAMPLES["reason"]), ""):
            problems.append(f"{lang}: renders empty or with a placeholder left")
        if text.byte_len(rendered) > text.TEXT_LIMIT_BYTES:
            problems.append(f"{lang}: {text.byte_len(rendered)} bytes with the longest values, "
                            f"more than WeCom's {text.TEXT_LIMIT_BYTES}")
    return problems


def test_every_entry_has_both_languages_and_fits_a_text_message() -> None:
    """One check over the whole catalog; a failure names every bad key and what is wrong."""
    bad = {key: p for key in sorted(catalog.CATALOG) if (p := entry_problems(key))}
    assert bad == {}


def test_the_catalog_check_finds_bad_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(catalog.CATALOG, "test.bad_params", ("你好 {name}", "Hello {nmae}"))
    monkeypatch.setitem(catalog.CATALOG, "test.too_long", ("长" * 700, "long " * 100))
    monkeypatch.setitem(catalog.CATALOG, "test.mixed", ("你好", "Hello 你好"))
    assert entry_problems("test.mixed") == ["Chinese in the English text"]
    assert entry_problems("test.too_long") == [
        "zh: 2601 bytes with the longest values, more than WeCom's 2048"]
    assert entry_problems("test.bad_params") == [
        "parameters differ: zh ['name'], en ['nmae']"]


def test_every_parameter_has_a_realistic_sample() -> None:
    used = set().union(*(catalog.params_of(k) for k in catalog.CATALOG))
    assert used == set(SAMPLES)


def test_help_and_faq_fit_together_with_room_to_spare() -> None:
    for key in ("help", "help.reviewer", "help.faq"):
        assert len(catalog.stacked(key, "zh").encode()) <= 2000


def test_text_joins_chinese_then_english() -> None:
    assert catalog.stacked("opt.yes", "zh") == "是\nYes"
    assert catalog.stacked("opt.yes", "en") == "Yes"
    assert catalog.stacked("loc.confirm", "zh", place=Bi("北京", "Beijing")).startswith(
        "您当前的位置：北京\n是否正确？\n\nYour current location: Beijing")
    assert catalog.slashed("card.chosen", "zh", choice=Bi("是", "Yes")) == \
        "已选择：是 / Chosen: Yes"
    assert catalog.side_by_side("opt.yes", "zh") == "是 Yes"
    assert catalog.side_by_side("opt.yes", "en") == "Yes"
    assert catalog.lang_only("opt.yes", "zh") == "是"


def test_missing_parameter_is_an_error() -> None:
    with pytest.raises(KeyError):
        catalog.stacked("report.already", "zh", time="08:00")


@pytest.mark.parametrize(("typed", "command"), [
    ("取消", "cancel"), ("Cancel", "cancel"), ("/cancel", "cancel"), ("取消。", "cancel"),
    ("上一步", "back"), ("BACK", "back"), ("帮助", "help"), ("?", "help"), ("？", "help"),
    ("上报", "report"), ("report", "report"), ("信息", "info"), ("状态", "status"),
    ("文字", "text"), ("卡片", "cards"), ("English", "en"), ("中文", "zh"),
    ("取消吧", None), ("36.5", None), ("", None),
])
def test_commands(typed: str, command: str | None) -> None:
    assert catalog.command_of(typed) == command


def test_texts_name_the_location_failed_button_as_it_reads() -> None:
    """QA3 #13: help said "Location failed" for the button "定位失败 GPS failed"."""
    zh, en = catalog.templates("opt.loc.failed")
    for key in ("help.q.location", "err.location_expected"):
        assert f"“{zh}”" in catalog.templates(key)[0]
        assert f'"{en}"' in catalog.templates(key)[1]
    assert not any("location failed" in e.casefold() for _, e in catalog.CATALOG.values())


def test_command_words_are_unique() -> None:
    words = [w.casefold() for ws in catalog.COMMANDS.values() for w in ws]
    assert len(words) == len(set(words))


# ---- what the forms put on screen fits the card limits without clipping -----------------------

def all_questions() -> list[Question]:
    return [*BASIC_INFO.questions, *DAILY_REPORT.questions, SUBMIT, REPEAT, RESUME,
            *(s.question for s in LOCATION_STEPS.values())]


@pytest.mark.parametrize("lang", LANGS)
def test_option_labels_fit_buttons_and_vote_options(lang: str) -> None:
    for q in all_questions():
        for option in q.options:
            button, option_text = (catalog.lang_only(option.label, lang),
                                   catalog.side_by_side(option.label, lang))
            assert render.display_width(button) <= render.BUTTON_WIDTH
            assert render.display_width(option_text) <= render.OPTION_WIDTH


@pytest.mark.parametrize("lang", LANGS)
def test_prompts_fit_a_card_subtitle(lang: str) -> None:
    params = {"value": "欧阳娜娜娜娜娜娜", "country": "United Kingdom", "member": "欧阳娜娜娜娜",
              "place": SAMPLES["place"], "previous": SAMPLES["previous"],
              "current": SAMPLES["current"], "form": SAMPLES["form"],
              "example_day": SAMPLES["example_day"]}
    for q in all_questions():
        for prompt in filter(None, (q.prompt, q.prefill_prompt)):
            shown = catalog.stacked(prompt, lang, **params)
            assert render.display_width(shown) <= render.SUBTITLE_WIDTH, prompt


@pytest.mark.parametrize("lang", LANGS)
def test_field_labels_and_titles_fit(lang: str) -> None:
    for form in (BASIC_INFO, DAILY_REPORT):
        assert render.display_width(catalog.side_by_side(form.title, lang)) <= render.TITLE_WIDTH
        for q in form.questions:
            assert render.display_width(catalog.side_by_side(q.label, lang)) <= render.OPTION_WIDTH
    for key in ("card.submitted", "app.name"):
        assert render.display_width(catalog.slashed(key, lang)) <= render.SOURCE_WIDTH


def test_render_helpers_respect_limits() -> None:
    assert text.byte_len(text.fit("字" * 1000)) <= 2048
    assert text.fit("short") == "short"
    assert render.clip("一二三四五六七八九十一", 20) == "一二三四五六七八九…"
    assert render.display_width("ab一") == 4
    assert render.make_task_id("abc", 7) == "abc_7"
    with pytest.raises(ValueError):
        render.make_task_id("a b", 1)
    with pytest.raises(ValueError):
        render.button_card(task_id="t_1", title="t", subtitle="s", lang="zh",
                           buttons=[(str(i), "x", 1) for i in range(7)])
    card = render.multiple_card(
        task_id="t_2", title="title", subtitle="sub", lang="zh",
        selects=[("a", "A", [("1", "one"), ("2", "two")], "1")], disabled=True)
    assert card["select_list"][0]["disable"] is True and card["replace_text"]
    many = render.texts(["字" * 600, "字" * 600])
    assert len(many) == 2 and all(len(m["text"]["content"].encode()) <= 2048 for m in many)


def test_dates_in_samples_are_iso() -> None:  # the handlers format dates the same way
    for name in ("date", "today", "earliest"):
        assert date.fromisoformat(SAMPLES[name]).isoformat() == SAMPLES[name], name


def test_english_wording_qa14() -> None:
    """QA #14: hukou is not citizenship, one name for the hukou address, "Not quarantined",
    a space around a member's name in Chinese, no "reply" to card members."""
    english = {key: en for key, (_zh, en) in catalog.CATALOG.items()}
    assert not [key for key, en in english.items() if "citizen" in en.lower()]
    label = english["field.hukou_address"].lower()
    assert label in english["q.hukou_address"].lower()
    assert catalog.templates("opt.quarantine.none")[1] != "None"
    glued = re.compile(r"[\u4e00-\u9fff]\{member\}|\{member\}[\u4e00-\u9fff（]")
    assert not [key for key, (zh, _en) in catalog.CATALOG.items() if glued.search(zh)]
    assert "more were reminded" not in english["remind.now_done"]
    for key in ("remind.now.card", "remind.daily.card"):
        assert "reply" not in english[key].lower() and "回复" not in catalog.templates(key)[0]


def test_one_term_for_basic_information() -> None:
    """QA (fixes #7): the university's guide says 基本信息, and so do the chat, the web and
    the forms; 基础信息 is only still understood when typed (a command word)."""
    from pathlib import Path

    offenders = [key for key, (zh, _en) in catalog.CATALOG.items() if "基础信息" in zh]
    root = Path(__file__).resolve().parent.parent
    shipped = [p for p in (*root.glob("bot/forms/*.toml"), *root.glob("handlers/web/templates/*"))
               if "基础信息" in p.read_text(encoding="utf-8")]
    assert offenders == [] and shipped == []
    assert "基础信息" in catalog.COMMANDS["info"]  # still understood


def test_every_button_shows_both_languages() -> None:
    """QA2 #8: "[1] 未隔离" and "[1] 与昨日相同 [2] 重新填写" lost their English on cards, being
    too wide for a button. Every option of a question shown as buttons (the shipped forms and
    the engine's own steps) fits one in both languages."""
    from pathlib import Path

    from bot.conversation.form_files import load_text
    from bot.conversation.forms import LOCATION_STEPS, REPEAT, RESUME, SUBMIT
    from bot.conversation.render import BUTTON_WIDTH, card_kind, display_width

    questions = [REPEAT, RESUME, SUBMIT, *(step.question for step in LOCATION_STEPS.values())]
    for path in Path(catalog.__file__).parent.glob("forms/*.toml"):
        questions += load_text(path.read_text(encoding="utf-8")).form.questions
    too_wide = sorted({catalog.side_by_side(o.label, "zh") for q in questions
                       if card_kind(q, "cards") == "button_interaction" for o in q.options
                       if display_width(catalog.side_by_side(o.label, "zh")) > BUTTON_WIDTH})
    assert too_wide == []


def test_counts_agree_with_their_noun_in_english() -> None:
    """QA (#16): "1 members reminded". A count says member/members, day/days as English does;
    the Chinese half is unchanged."""
    assert catalog.lang_only("web.dashboard.reminded", "en", number=1, recent=0).startswith(
        "1 member reminded;")
    assert catalog.lang_only("web.dashboard.reminded", "en", number=2, recent=0).startswith(
        "2 members reminded;")
    assert catalog.lang_only("web.dashboard.no_alerts", "en", days=1) == (
        "No abnormal reports in 1 day.")
    assert catalog.lang_only("web.dashboard.no_alerts", "en", days=7) == (
        "No abnormal reports in 7 days.")
    assert catalog.stacked("web.dashboard.reminded", "zh", number=1, recent=0).startswith(
        "已提醒 1 人；")
    with pytest.raises(KeyError):
        catalog.lang_only("web.dashboard.reminded", "en", recent=0)
    english = [en for _zh, en in catalog.CATALOG.values()]
    assert not [t for t in english if re.search(r"\{\w+\} (members|days)\b", t)]


def test_no_key_is_written_twice() -> None:
    """A dict literal keeps the last of two equal keys without a word: the first text would
    silently never be shown."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(catalog.__file__).read_text(encoding="utf-8"))
    (literal,) = [node.value for node in ast.walk(tree)
                  if isinstance(node, ast.AnnAssign | ast.Assign)
                  and isinstance(node.value, ast.Dict)
                  and any(getattr(t, "id", None) == "CATALOG"
                          for t in ([node.target] if isinstance(node, ast.AnnAssign)
                                    else node.targets))]
    keys = [k.value for k in literal.keys if isinstance(k, ast.Constant)]
    assert len(keys) > 300 and set(keys) <= set(catalog.CATALOG)  # (forms add their own)
    assert sorted(k for k in set(keys) if keys.count(k) > 1) == []
