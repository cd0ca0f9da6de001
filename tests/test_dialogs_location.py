"""The location step of the daily report, end to end: GPS from LOCATION events, location
messages, stale events, 定位失败 (checklist, typed address, a reviewer asked to fill in), abroad
(country remembered and offered the next day), impossible coordinates, and geocoding through the
dialog."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from storage.models import Conversation
from tests.harness import (
    BEIJING,
    HONG_KONG,
    MID_OCEAN,
    SHANGHAI_COAST,
    TOKYO,
    Bot,
    answers_of,
    conversation,
    enter_app,
    give_basic_info,
    healthy_answers,
    joined,
    last_card,
    member,
    pick,
    report_on,
    reports,
    say,
    seen,
    send_location,
    settle,
    start_report_at_gps,
    step_of,
    use_cards,
)

RENDERINGS = pytest.mark.parametrize("rendering", ["text", "cards"])
DAY1 = date(2026, 11, 30)


@pytest.fixture
async def member_bot(bot: Bot) -> Bot:
    await give_basic_info(bot, "zhangsan")
    return bot


async def finish_report(bot: Bot, userid: str = "zhangsan") -> list[str]:
    """From the first question after the location to the receipt (healthy answers)."""
    await healthy_answers(bot, userid)
    return await pick(bot, userid, "submit", "1")


# ---- GPS ---------------------------------------------------------------------------------


@RENDERINGS
async def test_a_fresh_location_event_before_reporting_is_offered_for_confirmation(
        member_bot: Bot, rendering: str) -> None:
    bot = member_bot
    if rendering == "cards":
        await use_cards(bot, "zhangsan")
    assert await enter_app(bot, "zhangsan", *BEIJING) == []  # entering the app says nothing
    bot.clock.advance(minutes=5)  # type: ignore[attr-defined]
    out = joined(await say(bot, "zhangsan", "上报"))
    assert "开始 2026-11-30 的健康上报" in out
    assert "您当前的位置：北京市 海淀区" in out and "请发送您当前的位置" not in out
    assert await step_of(bot, "zhangsan") == "location#confirm"
    await pick(bot, "zhangsan", "ok", "1")
    await finish_report(bot)
    (report,) = await reports(bot, "zhangsan")
    location = report.answers["location"]
    assert location["source"] == "event" and location["verified"] is True
    assert (location["lat"], location["lng"]) == BEIJING


async def test_a_stale_location_event_is_not_used(member_bot: Bot) -> None:
    bot = member_bot
    await enter_app(bot, "zhangsan", *BEIJING)
    bot.clock.advance(minutes=bot.settings.bot.location_fresh_minutes + 1)  # type: ignore
    out = joined(await say(bot, "zhangsan", "上报"))
    assert "请发送您当前的位置" in out and "是否正确" not in out
    assert await step_of(bot, "zhangsan") == "location#ask"


@RENDERINGS
async def test_a_location_message_is_confirmed_and_stored(member_bot: Bot,
                                                          rendering: str) -> None:
    bot = member_bot
    if rendering == "cards":
        await use_cards(bot, "zhangsan")
    out = joined(await say(bot, "zhangsan", "上报"))
    assert "请发送您当前的位置" in out
    if rendering == "cards":
        names = last_card(bot, "zhangsan").card.button_names
        assert [n.split()[0] for n in names] == ["定位失败", "在国外"]
    out = joined(await send_location(bot, "zhangsan", *BEIJING, label="中央民族大学"))
    assert "您当前的位置：北京市 海淀区" in out
    out = joined(await pick(bot, "zhangsan", "retry", "2"))  # not right: send again
    assert "请发送您当前的位置" in out
    out = joined(await send_location(bot, "zhangsan", 39.91, 116.45, label="国贸"))
    assert "您当前的位置：北京市 朝阳区" in out
    await pick(bot, "zhangsan", "ok", "1")
    await finish_report(bot)
    (report,) = await reports(bot, "zhangsan")
    assert report.location_kind == "gps" and report.district == "朝阳区"
    assert report.answers["location"]["source"] == "message"
    assert report.answers["location"]["verified"] is True


async def test_a_location_message_outside_a_form_is_acknowledged_only(member_bot: Bot) -> None:
    out = joined(await send_location(member_bot, "zhangsan", *BEIJING))
    assert "已收到位置" in out
    assert await conversation(member_bot, "zhangsan") is None


async def test_impossible_coordinates_are_refused_with_a_re_prompt(member_bot: Bot) -> None:
    bot = member_bot
    await say(bot, "zhangsan", "上报")
    out = joined(await send_location(bot, "zhangsan", 0.0, 0.0))
    assert "无法识别这个位置" in out and "请发送您当前的位置" in out
    assert await step_of(bot, "zhangsan") == "location#ask"
    out = joined(await send_location(bot, "zhangsan", *BEIJING))
    assert "北京市 海淀区" in out


async def test_text_at_the_location_step_is_not_an_address(member_bot: Bot) -> None:
    bot = member_bot
    await say(bot, "zhangsan", "上报")
    out = joined(await say(bot, "zhangsan", "北京市海淀区中关村南大街27号"))
    assert "请发送位置" in out
    assert await step_of(bot, "zhangsan") == "location#ask"


# ---- 定位失败 --------------------------------------------------------------------------------


@RENDERINGS
async def test_location_failed_then_a_typed_address_is_stored_unverified(
        member_bot: Bot, rendering: str) -> None:
    bot = member_bot
    if rendering == "cards":
        await use_cards(bot, "zhangsan")
    await say(bot, "zhangsan", "上报")
    out = joined(await pick(bot, "zhangsan", "failed", "1"))
    assert "获取位置失败时，请逐项检查" in out and "定位服务（GPS）已打开" in out
    assert "请老师代填" in out or rendering == "cards"
    if rendering == "cards":
        names = last_card(bot, "zhangsan").card.button_names
        assert [n.split()[0] for n in names] == ["重新定位", "输入地址", "请老师代填"]
    out = joined(await pick(bot, "zhangsan", "type", "2"))
    assert "请输入您当前所在的地址" in out and "未核验" in out
    out = joined(await say(bot, "zhangsan", "京"))
    assert "地址太简单了" in out
    out = joined(await say(bot, "zhangsan", "上一步"))
    assert "获取位置失败时" in out  # back to the 定位失败 menu
    await pick(bot, "zhangsan", "type", "2")
    out = joined(await say(bot, "zhangsan", "河北省廊坊市三河市燕郊镇"))
    assert "您今天是否在校" in out
    out = joined(await healthy_answers(bot, "zhangsan"))
    assert "位置 Location：河北省廊坊市三河市燕郊镇（未核验 unverified）" in out
    await pick(bot, "zhangsan", "submit", "1")
    (report,) = await reports(bot, "zhangsan")
    # The typed address is unverified, but its province and city are read for the export.
    assert report.location_kind == "typed"
    assert (report.province, report.city) == ("河北省", "廊坊市")
    location = report.answers["location"]
    assert location["verified"] is False and location["label"] == "河北省廊坊市三河市燕郊镇"
    assert location["lat"] is None


@RENDERINGS
async def test_location_failed_then_asking_the_reviewer(member_bot: Bot, rendering: str) -> None:
    bot = member_bot
    if rendering == "cards":
        await use_cards(bot, "zhangsan")
    await say(bot, "zhangsan", "上报")
    await pick(bot, "zhangsan", "failed", "1")
    out = joined(await pick(bot, "zhangsan", "proxy", "3"))
    assert "将请本单位负责审核的老师为您代填今日上报" in out
    assert "已通知本单位审核老师 王老师 为您代填今日上报" in out
    assert await conversation(bot, "zhangsan") is None
    assert await reports(bot, "zhangsan") == []
    await settle(bot)
    teacher = joined(seen(bot, "teacher"))
    assert "张三（zhangsan）无法获取定位，请求您代为填报 2026-11-30 的每日上报" in teacher
    assert seen(bot, "chen") == []  # another unit's reviewer is not asked


async def test_typing_the_ask_reviewer_option_word_asks_the_reviewer(member_bot: Bot) -> None:
    """"代填" is both the 定位失败 option's own word and the reviewers' 代填 command; for a
    member at this step it is the answer."""
    bot = member_bot
    await say(bot, "zhangsan", "上报")
    await say(bot, "zhangsan", "定位失败")
    out = joined(await say(bot, "zhangsan", "代填"))
    assert "已通知本单位审核老师 王老师" in out
    assert "只有本单位的审核老师" not in out
    await settle(bot)
    assert any("请求您代为填报" in m for m in seen(bot, "teacher"))


# ---- abroad --------------------------------------------------------------------------------


@RENDERINGS
async def test_abroad_asks_the_country_and_offers_it_again_the_next_day(
        member_bot: Bot, rendering: str) -> None:
    bot = member_bot
    if rendering == "cards":
        await use_cards(bot, "zhangsan")
    await say(bot, "zhangsan", "上报")
    out = joined(await pick(bot, "zhangsan", "abroad", "2"))
    assert "请输入您所在的国家或地区" in out
    out = joined(await say(bot, "zhangsan", "中国"))
    assert "在国内请发送位置" in out
    out = joined(await say(bot, "zhangsan", "日本"))
    assert "请输入您今天的体温" in out and "在校" not in out  # abroad is not on campus
    out = joined(await healthy_answers(bot, "zhangsan", abroad=True))
    assert "位置 Location：在国外 Abroad：日本" in out
    await pick(bot, "zhangsan", "submit", "1")
    (report,) = await reports(bot, "zhangsan")
    assert report.location_kind == "abroad" and report.country == "日本"
    assert (await member(bot, "zhangsan")).abroad_country == "日本"

    bot.clock.advance(days=1)  # type: ignore[attr-defined]
    out = joined(await say(bot, "zhangsan", "上报"))
    assert "您仍在日本吗" in out
    out = joined(await pick(bot, "zhangsan", "still", "1"))
    assert "今天的情况与昨天相同吗" in out
    await pick(bot, "zhangsan", "same", "1")
    await pick(bot, "zhangsan", "submit", "1")
    day2 = await report_on(bot, "zhangsan", DAY1 + timedelta(days=1))
    assert day2 is not None and day2.country == "日本" and day2.location_kind == "abroad"
    assert day2.abnormal is False

    # Back home on day 3: the GPS fix wins, the country is forgotten, the return is flagged.
    bot.clock.advance(days=1)  # type: ignore[attr-defined]
    await say(bot, "zhangsan", "上报")
    out = joined(await pick(bot, "zhangsan", "change", "2"))
    assert "请输入您所在的国家或地区" in out and "如已回国，请直接发送位置" in out
    out = joined(await send_location(bot, "zhangsan", *BEIJING))
    assert "您当前的位置：北京市 海淀区" in out
    await pick(bot, "zhangsan", "ok", "1")
    await say(bot, "zhangsan", "回国")  # the city-change reason (日本 → 北京市)
    await pick(bot, "zhangsan", "same", "1")
    out = joined(await pick(bot, "zhangsan", "yes", "1"))  # not asked abroad, so not copied
    assert "请核对您的每日上报" in out
    await pick(bot, "zhangsan", "submit", "1")
    day3 = await report_on(bot, "zhangsan", DAY1 + timedelta(days=2))
    assert day3 is not None and day3.city == "北京市"
    assert "abroad_return" in day3.abnormal_reasons
    assert (await member(bot, "zhangsan")).abroad_country is None


async def test_a_country_with_a_flag_is_refused_and_asked_again(member_bot: Bot) -> None:
    """QA #13: "日本🇯🇵" was stored as the country and remembered for the next day."""
    bot = member_bot
    await say(bot, "zhangsan", "上报")
    await pick(bot, "zhangsan", "abroad", "2")
    out = joined(await say(bot, "zhangsan", "日本🇯🇵"))
    assert "国家或地区名称中不能有表情或符号（🇯🇵）" in out
    assert "请输入您所在的国家或地区" in out
    assert await step_of(bot, "zhangsan") == "location#country"
    assert "location" not in await answers_of(bot, "zhangsan")
    out = joined(await say(bot, "zhangsan", "日本"))
    assert "请输入您今天的体温" in out
    assert (await answers_of(bot, "zhangsan"))["location"]["country"] == "日本"


# ---- geocoding through the dialog ----------------------------------------------------------


@pytest.mark.parametrize(("where", "shown", "category", "city"), [
    (BEIJING, "北京市 海淀区", "mainland", "北京市"),
    (SHANGHAI_COAST, "上海市", "mainland", "上海市"),
    (HONG_KONG, "香港特别行政区", "hongkong", None),
])
@RENDERINGS
async def test_places_in_china_are_confirmed_and_stored_with_their_category(
        member_bot: Bot, where: tuple[float, float], shown: str, category: str,
        city: str | None, rendering: str) -> None:
    bot = member_bot
    if rendering == "cards":
        await use_cards(bot, "zhangsan")
    await say(bot, "zhangsan", "上报")
    out = joined(await send_location(bot, "zhangsan", *where))
    assert f"您当前的位置：{shown}" in out and "国家或地区" not in out
    await pick(bot, "zhangsan", "ok", "1")
    await finish_report(bot)
    (report,) = await reports(bot, "zhangsan")
    assert report.location_kind == "gps" and report.country is None
    assert report.answers["location"]["category"] == category
    if city is not None:
        assert report.city == city


@pytest.mark.parametrize("where", [TOKYO, MID_OCEAN], ids=["tokyo", "mid-ocean"])
async def test_places_abroad_ask_for_the_country(member_bot: Bot,
                                                  where: tuple[float, float]) -> None:
    bot = member_bot
    await say(bot, "zhangsan", "上报")
    out = joined(await send_location(bot, "zhangsan", *where))
    assert "请输入您所在的国家或地区" in out and "您当前的位置" not in out
    assert await step_of(bot, "zhangsan") == "location#country"


async def test_an_abroad_gps_event_goes_straight_to_the_country(member_bot: Bot) -> None:
    bot = member_bot
    await enter_app(bot, "zhangsan", *TOKYO)
    out = joined(await say(bot, "zhangsan", "上报"))
    assert "请输入您所在的国家或地区" in out


async def test_a_location_sent_while_answering_another_question_changes_nothing(
        member_bot: Bot) -> None:
    bot = member_bot
    await say(bot, "zhangsan", "上报")
    await send_location(bot, "zhangsan", *BEIJING)
    await say(bot, "zhangsan", "1")
    assert await step_of(bot, "zhangsan") == "on_campus"
    out = joined(await send_location(bot, "zhangsan", *HONG_KONG))
    assert "现在还不需要位置" in out and "您今天是否在校" in out
    assert await enter_app(bot, "zhangsan", *HONG_KONG) == []
    answers = (await conversation(bot, "zhangsan"))
    assert isinstance(answers, Conversation)
    assert answers.state["answers"]["location"]["district"] == "海淀区"
    assert await step_of(bot, "zhangsan") == "on_campus"


async def test_editing_the_location_from_the_summary_asks_the_city_change_reason(
        member_bot: Bot) -> None:
    bot = member_bot
    await say(bot, "zhangsan", "上报")
    await send_location(bot, "zhangsan", *BEIJING)
    await say(bot, "zhangsan", "1")
    await finish_report(bot)
    bot.clock.advance(days=1)  # type: ignore[attr-defined]
    await say(bot, "zhangsan", "上报")
    await send_location(bot, "zhangsan", *BEIJING)
    await say(bot, "zhangsan", "1")
    out = joined(await say(bot, "zhangsan", "1"))  # same as yesterday
    assert "请核对您的每日上报" in out and "城市变动原因" not in out
    await say(bot, "zhangsan", "修改")
    out = joined(await say(bot, "zhangsan", "位置"))
    assert "请发送您当前的位置" in out
    out = joined(await send_location(bot, "zhangsan", 31.23, 121.47))
    assert "您当前的位置：上海市" in out
    out = joined(await say(bot, "zhangsan", "1"))
    assert "您所在的城市与上次上报不同（北京市 → 上海市）" in out
    out = joined(await say(bot, "zhangsan", "出差"))
    assert "请核对您的每日上报" in out and "城市变动原因 City change reason：出差" in out
    assert "体温 Temperature：36.5℃" in out
    await say(bot, "zhangsan", "1")
    report = await report_on(bot, "zhangsan", DAY1 + timedelta(days=1))
    assert report is not None and report.city == "上海市"
    assert report.abnormal_reasons == ["city_changed"]


async def test_a_typed_current_address_must_say_more_than_two_letters(member_bot: Bot) -> None:
    """QA3 #2: "ab" was stored as the location; the prompt asks for province, city and
    district, and the check is the hukou address's."""
    bot = member_bot
    await say(bot, "zhangsan", "上报")
    await pick(bot, "zhangsan", "failed", "1")
    await pick(bot, "zhangsan", "type", "2")
    for typed in ("ab", "1", "海淀"):
        out = joined(await say(bot, "zhangsan", typed))
        assert "地址太简单了，请写明省、市、区县，如：北京市海淀区学院路37号" in out
        assert "请输入您当前所在的地址" in out
        assert "location" not in await answers_of(bot, "zhangsan")
    out = joined(await say(bot, "zhangsan", "Haidian District, Beijing"))
    assert "您今天是否在校" in out
    assert (await answers_of(bot, "zhangsan"))["location"]["label"] == \
        "Haidian District, Beijing"


async def test_at_the_location_confirmation_only_its_own_options_are_named(
        member_bot: Bot) -> None:
    """QA3 #13: "or choose 定位失败 or 在国外" at a card with 确认 / 重新定位 only."""
    bot = member_bot
    out = joined(await start_report_at_gps(bot, "zhangsan"))
    assert "您当前的位置" in out
    out = joined(await say(bot, "zhangsan", "与昨日相同"))
    assert "没有看懂您的选择" in out and "在国外" not in out and "您当前的位置" in out
