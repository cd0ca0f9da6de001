"""Parsers for typed answers: what members really type, and the hint they get when it fails."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

import pytest

from hypothesis import given
from hypothesis import strategies as st

from bot import catalog
from bot.conversation import validators as v
from tests.forms import DAILY_REPORT
from bot.conversation.forms import Option


@dataclass(frozen=True)
class Env:
    today: date = date(2022, 3, 10)


ENV = Env()


def rejects(parser: v.Parser, raw: str) -> str:
    with pytest.raises(v.InvalidAnswer) as info:
        parser(raw, ENV)
    assert info.value.key in catalog.CATALOG
    catalog.stacked(info.value.key, "zh", **info.value.params)  # the hint renders
    return info.value.key


# ---- temperature ---------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "value"), [
    ("36.5", 36.5), ("36.5度", 36.5), ("36,5", 36.5), ("３６.５", 36.5), ("36.5℃", 36.5),
    ("36.5°C", 36.5), (" 36.5 ", 36.5), ("37", 37.0), ("36.55", 36.6), ("35.0", 35.0),
    ("42", 42.0), ("36。5", 36.5), ("36.5 摄氏度", 36.5), ("３６，５", 36.5), ("36.5c", 36.5),
])
def test_temperature_accepts(raw: str, value: float) -> None:
    assert v.temperature(raw, ENV) == value


@pytest.mark.parametrize(("raw", "key"), [
    ("三十七", "err.temperature_format"), ("99", "err.temperature_fahrenheit"),
    ("", "err.empty"), ("   ", "err.empty"), ("🙂", "err.temperature_format"),
    ("34.9", "err.temperature_range"), ("42.1", "err.temperature_range"),
    ("365", "err.temperature_range"), ("36.5.1", "err.temperature_format"),
    ("abc", "err.temperature_format"), ("-36", "err.temperature_format"),
    ("3", "err.temperature_format"), ("36.5\x00", "err.control_chars"),
])
def test_temperature_rejects_with_a_hint(raw: str, key: str) -> None:
    assert rejects(v.temperature, raw) == key


# ---- mobile -------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    "13812345678", "+8613812345678", "+86 138 1234 5678", "86 138-1234-5678",
    "0086 13812345678", "１３８１２３４５６７８", "(+86) 138 1234 5678", "199 0000 1111",
])
def test_mobile_accepts(raw: str) -> None:
    assert len(v.mobile(raw, ENV)) == 11


@pytest.mark.parametrize(("raw", "key"), [
    ("1381234567", "err.mobile"), ("12812345678", "err.mobile"), ("23812345678", "err.mobile"),
    ("138123456789", "err.mobile"), ("", "err.empty"),
    ("电话", "err.mobile"), ("8613812345678 9", "err.mobile"),
    # international: + (or 00), a country code not starting with 0, 8-15 digits in all
    ("+34 612", "err.mobile"), ("+1234567", "err.mobile"), ("+1234567890123456", "err.mobile"),
    ("+0 612 345 678", "err.mobile"), ("+34 612 abc 678", "err.mobile"), ("+", "err.mobile"),
    ("34612345678", "err.mobile"),  # no +: read as a (wrong) mainland number
])
def test_mobile_rejects(raw: str, key: str) -> None:
    assert rejects(v.mobile, raw) == key


@pytest.mark.parametrize(("raw", "stored"), [
    ("+34 612 345 678", "+34612345678"), ("+34-612-345-678", "+34612345678"),
    ("0034 612 345 678", "+34612345678"), ("+85291234567", "+85291234567"),
    ("+1 (415) 555-0100", "+14155550100"), ("＋７ ９１２ ３４５ ６７ ８９", "+79123456789"),
    ("+12345678", "+12345678"), ("+123456789012345", "+123456789012345"),
    ("+86 138 1234 5678", "13812345678"),  # +86 stays a mainland number
])
def test_mobile_accepts_international_e164(raw: str, stored: str) -> None:
    """QA #4: an international student's "+34 612 345 678" was refused."""
    assert v.mobile(raw, ENV) == stored


def test_mobile_error_names_both_forms() -> None:
    zh, en = catalog.templates("err.mobile")
    assert "11" in zh and "+" in zh and "8–15" in zh
    assert "mainland" in en and "international" in en and "+34 612 345 678" in en


# ---- dates --------------------------------------------------------------------------------

RECENT = v.recent_date(60)


@pytest.mark.parametrize(("raw", "value"), [
    ("今天", "2022-03-10"), ("today", "2022-03-10"), ("Yesterday", "2022-03-09"),
    ("昨天", "2022-03-09"), ("前天", "2022-03-08"), ("2022-03-05", "2022-03-05"),
    ("2022/3/5", "2022-03-05"), ("2022年3月5日", "2022-03-05"), ("3-5", "2022-03-05"),
    ("3/5", "2022-03-05"), ("3月5日", "2022-03-05"), ("3月5号", "2022-03-05"),
    ("０３－０５", "2022-03-05"), ("1-9", "2022-01-09"),
])
def test_dates_accepted(raw: str, value: str) -> None:
    assert RECENT(raw, ENV) == value


def test_a_december_date_typed_in_january_is_last_year() -> None:
    assert RECENT("12-30", Env(date(2022, 1, 2))) == "2021-12-30"


@pytest.mark.parametrize(("raw", "today", "day"), [
    ("12-30", date(2022, 1, 2), date(2021, 12, 30)),  # last December
    ("1-5", date(2026, 12, 20), date(2027, 1, 5)),    # a 免报 to next January
    ("6-25", date(2026, 12, 20), date(2026, 6, 25)),  # within half a year: this year
    ("7-1", date(2026, 1, 2), date(2026, 7, 1)),
])
def test_a_month_day_is_the_one_nearest_today(raw: str, today: date, day: date) -> None:
    from bot.conversation.validators import read_date

    assert read_date(raw, today) == day


@pytest.mark.parametrize(("raw", "key"), [
    ("明天", "err.date_format"), ("3-11", "err.date_future"), ("2022-03-11", "err.date_future"),
    ("1-8", "err.date_too_old"), ("2021-12-01", "err.date_too_old"),
    ("2-30", "err.date_format"), ("13-1", "err.date_format"), ("", "err.empty"),
    ("上周", "err.date_format"),
])
def test_dates_rejected(raw: str, key: str) -> None:
    assert rejects(RECENT, raw) == key


# ---- text hygiene ---------------------------------------------------------------------------


def test_clean_text_folds_full_width_and_keeps_chinese_punctuation() -> None:
    assert v.clean_text("ＡＢＣ１２３　北京，海淀", max_len=50) == "ABC123 北京，海淀"


def test_clean_text_collapses_line_breaks() -> None:
    assert v.clean_text("  第一行\n第二行\t结束  ", max_len=50) == "第一行 第二行 结束"


def test_clean_text_strips_format_characters_but_keeps_emoji() -> None:
    assert v.clean_text("好\u200b的\u202e 👍🏽", max_len=50) == "好的 👍🏽"
    assert v.clean_text("👨\u200d👩\u200d👧", max_len=50) == "👨👩👧"


@pytest.mark.parametrize("raw", ["ok\x00", "\x1b[31mred", "a\x07b", "x\x7f"])
def test_clean_text_refuses_control_characters(raw: str) -> None:
    with pytest.raises(v.InvalidAnswer) as info:
        v.clean_text(raw, max_len=50)
    assert info.value.key == "err.control_chars"


def test_clean_text_caps_the_length() -> None:
    assert v.clean_text("字" * 200, max_len=200) == "字" * 200
    with pytest.raises(v.InvalidAnswer) as info:
        v.clean_text("字" * 201, max_len=200)
    assert info.value.key == "err.too_long" and info.value.params == {"max": 200}


@pytest.mark.parametrize("raw", ["无", "没有", "none", "None", "skip", "跳过", "", "  ", "无。"])
def test_optional_text_skip_words_mean_empty(raw: str) -> None:
    assert v.optional_text(150)(raw, ENV) == ""


def test_optional_text_keeps_real_remarks() -> None:
    assert v.optional_text(150)("无症状，已返校 😊", ENV) == "无症状，已返校 😊"


def test_free_text_allows_emoji_only() -> None:
    assert v.free_text(50)("🤧", ENV) == "🤧"


@pytest.mark.parametrize(("parser", "raw", "ok"), [
    (v.person_name, "张三", True), (v.person_name, "Anna Müller", True),
    (v.person_name, "张三1", False), (v.person_name, "🙂", False), (v.person_name, "", False),
    (v.staff_no, "2020123", True), (v.staff_no, "ab-12 34", False), (v.staff_no, "12", False),
    (v.staff_no, "学号123", False), (v.address, "北京市海淀区", True), (v.address, "京", False),
    (v.address, "12 3", False), (v.country, "日本", True), (v.country, "United Kingdom", True),
    (v.country, "China", False), (v.country, "中国", False), (v.country, "123", False),
])
def test_named_text_parsers(parser: v.Parser, raw: str, ok: bool) -> None:
    if ok:
        assert parser(raw, ENV)
    else:
        rejects(parser, raw)


# ---- emoji and symbols in names, addresses and countries (QA #13) ----------------------------


@pytest.mark.parametrize("name", [
    "张三", "阿依古丽·买买提", "阿依古丽•买买提", "阿依古丽∙买买提", "田中・太郎", "O'Brien",
    "O’Brien", "O`Brien", "Anna-Lena Müller", "José García López", "Мария Иванова",
    "محمد علي", "김민준", "สมชาย", "Nguyễn Thị Minh", "Zoë", "欧阳 娜娜", "佐々木 太郎",
    "Nguye\u0302\u0303n", "ㄱㄴ", "\uf900", "张\U00031350",  # new CJK (Unicode 15) is a letter
])
def test_names_of_every_script_stay_as_typed(name: str) -> None:
    assert v.person_name(name, ENV) == name


@pytest.mark.parametrize(("raw", "symbol"), [
    ("张三😀", "😀"), ("😀张三", "😀"), ("张三👍🏽", "👍🏽"), ("张三❤️", "❤️"), ("张★三", "★"),
    ("张三™", "™"), ("Li ☎", "☎"), ("张三 🇨🇳", "🇨🇳"), ("李👨\u200d👩\u200d👧", "👨👩👧"),
    ("张三\U0001FAE8", "\U0001FAE8"),  # an emoji newer than this Python's Unicode tables
    ("ℹ️ Li", "ℹ️"), ("Ⓩhang", "Ⓩ"), ("$张三", "$"), ("=张三", "="), ("张三+", "+"),
    ("张三©", "©"), ("张^三", "^"),
])
def test_emoji_and_symbols_in_a_name_are_refused_naming_the_first(raw: str, symbol: str) -> None:
    with pytest.raises(v.InvalidAnswer) as info:
        v.person_name(raw, ENV)
    assert (info.value.key, info.value.params) == ("err.name_symbols", {"symbol": symbol})
    zh = catalog.stacked("err.name_symbols", "zh", symbol=symbol)
    assert f"姓名中不能有表情或符号（{symbol}）" in zh and "A name can't contain emoji" in zh


@pytest.mark.parametrize(("raw", "folded"), [
    ("𝐙𝐡𝐚𝐧𝐠 𝐒𝐚𝐧", "Zhang San"), ("Ｚｈａｎｇ　Ｓａｎ", "Zhang San"), ("ｶﾀｵｶ", "カタオカ"),
    ("𝓜𝓪𝓻𝓲𝓪", "Maria"),
])
def test_look_alike_letters_in_a_name_fold_to_the_plain_ones(raw: str, folded: str) -> None:
    assert v.person_name(raw, ENV) == folded


@pytest.mark.parametrize("raw", ["北京市海淀区中关村南大街27号", "河北省保定市，竞秀区 3#楼",
                                 "1～3号楼 北京市朝阳区", "〒100-0001 東京都千代田区千代田1-1",
                                 "ул. Абая, д. 5, кв. №12, Алматы", "Calle Mayor 1, Madrid"])
def test_addresses_keep_their_punctuation_and_address_signs(raw: str) -> None:
    assert v.address(raw, ENV) == raw


@pytest.mark.parametrize(("raw", "symbol"), [
    ("北京市🏠海淀区", "🏠"), ("北京市海淀区 ☀️", "☀️"), ("海淀区$100号", "$"),
    ("北京市海淀区👍", "👍"), ("🇯🇵 東京都港区", "🇯🇵"),
])
def test_emoji_in_an_address_are_refused(raw: str, symbol: str) -> None:
    with pytest.raises(v.InvalidAnswer) as info:
        v.address(raw, ENV)
    assert (info.value.key, info.value.params) == ("err.address_symbols", {"symbol": symbol})
    assert "地址中不能有表情或符号" in catalog.stacked("err.address_symbols", "zh", symbol=symbol)


@pytest.mark.parametrize(("raw", "key"), [
    ("Côte d'Ivoire", None), ("Bosnia-Herzegovina", None), ("日本🇯🇵", "err.country_symbols"),
    ("🇯🇵", "err.country_symbols"), ("🗾", "err.country_symbols"), ("Japan ✈️", "err.country_symbols"),
])
def test_countries_refuse_flags_and_emoji(raw: str, key: str | None) -> None:
    if key is None:
        assert v.country(raw, ENV) == raw
    else:
        assert rejects(v.country, raw) == key


# ---- student/staff IDs ------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "stored"), [
    ("20210001", "20210001"), ("２０２１０００１", "20210001"), (" 20210001 ", "20210001"),
    ("L2020001", "L2020001"), ("ＡＢ１２３", "AB123"),
])
def test_staff_no_accepts_letters_and_digits_full_width_too(raw: str, stored: str) -> None:
    assert v.staff_no(raw, ENV) == stored


@pytest.mark.parametrize("raw", ["2021 0001", "2021-0001", "２０２１－０００１", "2021　0001",
                                 "2021—0001", "2021_0001", "20 21 00 01", "2021 - 0001"])
def test_staff_no_with_spaces_or_dashes_is_refused_with_the_expected_form(raw: str) -> None:
    with pytest.raises(v.InvalidAnswer) as info:
        v.staff_no(raw, ENV)
    assert (info.value.key, info.value.params) == ("err.staff_no_separators",
                                                   {"staff_no": "20210001"})
    both = catalog.stacked("err.staff_no_separators", "zh", staff_no="20210001")
    assert "学工号只含字母和数字，不加空格或短横线，例如 20210001" in both
    assert "without spaces or dashes, e.g. 20210001" in both


@pytest.mark.parametrize("raw", ["12", "1 2", "学号123", "2021/0001", "2021.0001", "😀123"])
def test_other_bad_staff_numbers_get_the_general_hint(raw: str) -> None:
    assert rejects(v.staff_no, raw) == "err.staff_no"


# ---- properties --------------------------------------------------------------------------------

#: Letters that NFKC leaves alone, from several scripts: CJK, Latin-1, Cyrillic, Arabic, Hangul,
#: Thai.
SCRIPT_LETTERS = st.sampled_from([
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5),
    st.characters(min_codepoint=0xC0, max_codepoint=0xFF, exclude_characters="×÷"),
    st.characters(min_codepoint=0x410, max_codepoint=0x44F),
    st.characters(min_codepoint=0x621, max_codepoint=0x63A),
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.characters(min_codepoint=0xE01, max_codepoint=0xE2E),
]).flatmap(lambda letters: st.text(letters, min_size=1, max_size=6))
NAMES = st.lists(SCRIPT_LETTERS, min_size=1, max_size=4).flatmap(
    lambda words: st.lists(st.sampled_from([" ", "·", "•", "-", "'"]), min_size=len(words) - 1,
                           max_size=len(words) - 1).map(
        lambda seps: "".join(w + s for w, s in zip(words, [*seps, ""], strict=True))))
EMOJI = st.one_of(
    st.sampled_from(["😀", "👍🏽", "❤️", "🇨🇳", "🫨", "⭐", "☎", "🏠", "1️⃣", "™", "Ⓐ"]),
    # any symbol but the few a name or an address may contain
    st.characters(categories=["So", "Sm", "Sc"], exclude_characters="~～+＋№〒°`´∙⋅"),
)


@given(NAMES)
def test_property_names_of_letters_and_separators_are_accepted_as_typed(name: str) -> None:
    assert v.person_name(name, ENV) == name


@given(NAMES, EMOJI, st.integers(min_value=0, max_value=40))
def test_property_an_emoji_anywhere_is_refused(name: str, emoji: str, at: int) -> None:
    at = min(at, len(name))
    typed = name[:at] + emoji + name[at:]
    for parser, key in ((v.person_name, "err.name_symbols"), (v.country, "err.country_symbols"),
                        (v.address, "err.address_symbols")):
        with pytest.raises(v.InvalidAnswer) as info:
            parser(typed, ENV)
        assert info.value.key == key
        assert info.value.params["symbol"][0] in emoji


@given(st.text(max_size=50))
def test_property_an_accepted_name_or_address_holds_no_symbol(raw: str) -> None:
    for parser in (v.person_name, v.address, v.country):
        try:
            value = parser(raw, ENV)
        except v.InvalidAnswer:
            continue
        assert not any(unicodedata.category(ch) in ("So", "Sc", "Me", "Cs") for ch in value)
        assert "\ufe0f" not in value and value == value.strip()


IDS = st.text("0123456789ABCDEFabcdef", min_size=3, max_size=20)


@given(IDS)
def test_property_ids_are_accepted_as_is_and_full_width(staff: str) -> None:
    full = "".join(chr(ord(c) + 0xFEE0) for c in staff)
    assert v.staff_no(staff, ENV) == v.staff_no(full, ENV) == staff


@given(IDS, st.data())
def test_property_ids_with_separators_are_refused_naming_the_joined_form(
        staff: str, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(1, len(staff) - 1), min_size=1)))
    parts = [staff[i:j] for i, j in zip([0, *cuts], [*cuts, len(staff)], strict=True)]
    separators = data.draw(st.lists(st.sampled_from([" ", "-", "－", "\u3000", "—", " - "]),
                                    min_size=len(parts) - 1, max_size=len(parts) - 1))
    typed = "".join(p + s for p, s in zip(parts, [*separators, ""], strict=True))
    with pytest.raises(v.InvalidAnswer) as info:
        v.staff_no(typed, ENV)
    assert (info.value.key, info.value.params) == ("err.staff_no_separators",
                                                   {"staff_no": staff})


# ---- choices --------------------------------------------------------------------------------

SYMPTOMS = DAILY_REPORT.question("symptoms").options
ON_CAMPUS = DAILY_REPORT.question("on_campus").options


def ids(options: tuple[Option, ...]) -> list[str]:
    return [o.id for o in options]


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", ["yes"]), ("2", ["no"]), ("是", ["yes"]), ("否", ["no"]), ("Yes", ["yes"]),
    ("y", ["yes"]), ("N", ["no"]), ("在校", ["yes"]), ("不在校", ["no"]), ("off campus", ["no"]),
    ("１", ["yes"]), ("1.", ["yes"]), ("yes ", ["yes"]),
])
def test_single_choice(raw: str, expected: list[str]) -> None:
    assert ids(v.parse_choices(ON_CAMPUS, raw, multi=False)) == expected


@pytest.mark.parametrize(("raw", "key"), [
    ("👍", "err.choice_emoji"), ("🙂🙂", "err.choice_emoji"), ("3", "err.choice_range"),
    ("也许", "err.choice"), ("1 2", "err.choice_single"), ("", "err.empty"),
    ("。。", "err.choice"),
])
def test_single_choice_rejects(raw: str, key: str) -> None:
    with pytest.raises(v.InvalidAnswer) as info:
        v.parse_choices(ON_CAMPUS, raw, multi=False)
    assert info.value.key == key


@pytest.mark.parametrize(("raw", "expected"), [
    ("2 3", ["fever", "cough"]), ("3,2", ["fever", "cough"]), ("2、3、5", ["fever", "cough",
                                                                        "sore_throat"]),
    ("23", ["fever", "cough"]), ("发热 咳嗽", ["fever", "cough"]),
    ("fever and cough", ["fever", "cough"]), ("Sore Throat", ["sore_throat"]),
    ("fever sore throat", ["fever", "sore_throat"]), ("发烧", ["fever"]), ("1", ["none"]),
    ("none", ["none"]), ("６", ["other"]), ("2；6", ["fever", "other"]),
])
def test_multi_choice(raw: str, expected: list[str]) -> None:
    assert ids(v.parse_choices(SYMPTOMS, raw, multi=True)) == expected


@pytest.mark.parametrize(("raw", "key"), [
    ("1 2", "err.exclusive"), ("无，发热", "err.exclusive"), ("2 9", "err.choice_range"),
    ("头疼", "err.choice"), ("🤒", "err.choice_emoji"),
])
def test_multi_choice_rejects(raw: str, key: str) -> None:
    with pytest.raises(v.InvalidAnswer) as info:
        v.parse_choices(SYMPTOMS, raw, multi=True)
    assert info.value.key == key
    catalog.stacked(key, "en", **info.value.params)


def test_match_option_without_numbers() -> None:
    assert v.match_option(SYMPTOMS, "2", numbered=False) is None
    assert v.match_option(SYMPTOMS, "cough", numbered=False) is SYMPTOMS[2]
