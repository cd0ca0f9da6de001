"""What happens around a form, end to end: commands in the middle of it, an abandoned form,
unfollowing and following again, a restart of the bot, concurrent submissions, the once-only
constraints of the database, and the member's language."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import date

import pytest
import sqlalchemy as sa
import xmltodict
from sqlalchemy.exc import IntegrityError

from app.emulator.api import WeComEmulator
from bot.clock import FixedClock, local_time_text
from bot.wecom.crypto import WeComCrypto
from storage.models import BasicInfo, Conversation, DailyReport, InboundEvent
from tests.harness import (
    BEIJING,
    CLIENT,
    Bot,
    answers_of,
    basic_info,
    conversation,
    enter_app,
    give_basic_info,
    healthy_answers,
    joined,
    last_card,
    member,
    pick,
    reports,
    say,
    seen,
    send_event,
    settle,
    start_bot,
    start_report_at_gps,
    step_of,
    tap,
    use_cards,
)

RENDERINGS = pytest.mark.parametrize("rendering", ["text", "cards"])
CJK = re.compile(r"[\u3400-\u9fff]")
DAY1 = date(2026, 11, 30)


async def at_temperature(bot: Bot, userid: str = "zhangsan") -> None:
    """A daily report in progress, located (GPS) and on campus: the temperature is asked."""
    await give_basic_info(bot, userid)
    await start_report_at_gps(bot, userid)
    await pick(bot, userid, "ok", "1")
    await pick(bot, userid, "yes", "1")
    assert await step_of(bot, userid) == "temperature"


# ---- commands in the middle of a form --------------------------------------------------------


async def test_commands_mid_form_answer_and_ask_the_same_question_again(bot: Bot) -> None:
    await at_temperature(bot)
    before = await answers_of(bot, "zhangsan")
    prompt = "请输入您今天的体温"

    out = joined(await say(bot, "zhangsan", "状态"))
    assert "2026-11-30 还没有上报" in out and prompt in out
    out = joined(await say(bot, "zhangsan", "帮助"))
    assert "用体温计测量后输入摄氏度数字" in out and "可随时回复：上一步、取消、帮助" in out
    assert prompt in out
    out = joined(await say(bot, "zhangsan", "信息"))
    assert "您的基本信息" in out and prompt in out
    out = joined(await say(bot, "zhangsan", "上报"))
    assert prompt in out and "开始 2026-11-30" not in out
    assert await step_of(bot, "zhangsan") == "temperature"
    assert await answers_of(bot, "zhangsan") == before

    out = joined(await say(bot, "zhangsan", "English"))
    assert "Switched to English." in out
    assert "Please enter today's body temperature" in out and not CJK.search(out)
    out = joined(await say(bot, "zhangsan", "中文"))
    assert "已切换为中文" in out and prompt in out
    assert await step_of(bot, "zhangsan") == "temperature"
    assert await answers_of(bot, "zhangsan") == before

    out = joined(await say(bot, "zhangsan", "上一步"))
    assert "您今天是否在校" in out
    assert "on_campus" not in await answers_of(bot, "zhangsan")
    out = joined(await say(bot, "zhangsan", "2"))
    assert prompt in out
    assert (await answers_of(bot, "zhangsan"))["on_campus"] is False

    out = joined(await say(bot, "zhangsan", "取消"))
    assert "已取消本次填写，没有保存任何内容" in out
    assert await conversation(bot, "zhangsan") is None
    assert await reports(bot, "zhangsan") == []
    out = joined(await say(bot, "zhangsan", "取消"))
    assert "当前没有正在填写的表单" in out


async def test_back_walks_back_through_the_form_and_stops_at_the_first_question(
        bot: Bot) -> None:
    await say(bot, "zhangsan", "信息")
    await say(bot, "zhangsan", "1")
    await say(bot, "zhangsan", "2019011234")
    out = joined(await say(bot, "zhangsan", "上一步"))
    assert "请输入您的学工号" in out
    out = joined(await say(bot, "zhangsan", "上一步"))
    assert "花名册中您的姓名" in out
    out = joined(await say(bot, "zhangsan", "上一步"))
    assert "已经是第一题了" in out and "花名册中您的姓名" in out
    assert await answers_of(bot, "zhangsan") == {}


async def test_switching_rendering_mid_form_re_asks_in_the_new_rendering(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    bot.emulator.member("zhangsan").client = CLIENT  # type: ignore[union-attr]
    await start_report_at_gps(bot, "zhangsan")
    await say(bot, "zhangsan", "1")
    assert await step_of(bot, "zhangsan") == "on_campus"

    out = joined(await say(bot, "zhangsan", "卡片"))
    assert "已切换为卡片提问" in out
    card = last_card(bot, "zhangsan")
    assert card.card is not None and "您今天是否在校" in card.card.text
    assert (await member(bot, "zhangsan")).rendering == "cards"
    await tap(bot, "zhangsan", "yes")
    assert (await answers_of(bot, "zhangsan"))["on_campus"] is True
    await say(bot, "zhangsan", "36.5")
    symptoms = last_card(bot, "zhangsan")
    assert symptoms.card is not None and symptoms.card.card_type == "vote_interaction"

    out = joined(await say(bot, "zhangsan", "文字"))
    assert "已切换为纯文字提问" in out and "1. 无 None" in out and "请回复序号" in out
    assert last_card(bot, "zhangsan").task_id == symptoms.task_id  # no new card
    # The card shown before the switch is no longer the live one.
    out = joined(await tap(bot, "zhangsan", ["none"], task_id=symptoms.task_id))
    assert "这张卡片已过期" in out and "请回复序号" in out  # asked again, as text
    assert await step_of(bot, "zhangsan") == "symptoms"
    out = joined(await say(bot, "zhangsan", "1"))
    assert "您是否接触过确诊或疑似病例" in out and "回复 1 是 / 2 否" in out


# ---- an abandoned form ---------------------------------------------------------------------


@RENDERINGS
async def test_an_abandoned_form_offers_to_continue_or_start_over(bot: Bot,
                                                                  rendering: str) -> None:
    if rendering == "cards":
        await use_cards(bot, "zhangsan")
    await at_temperature(bot)
    kept = await answers_of(bot, "zhangsan")
    timeout = bot.settings.bot.form_timeout_minutes

    bot.clock.advance(minutes=timeout + 1)  # type: ignore[attr-defined]
    out = joined(await say(bot, "zhangsan", "36.5"))
    assert "您的“每日上报”还没填完，要从上次停下的地方继续吗" in out
    assert await step_of(bot, "zhangsan") == "@resume"
    assert await answers_of(bot, "zhangsan") == kept  # 36.5 was not taken
    out = joined(await pick(bot, "zhangsan", "continue", "1"))
    assert "请输入您今天的体温" in out
    assert await answers_of(bot, "zhangsan") == kept
    out = joined(await say(bot, "zhangsan", "36.5"))
    assert "您今天是否有以下症状" in out

    bot.clock.advance(minutes=timeout + 1)  # type: ignore[attr-defined]
    out = joined(await say(bot, "zhangsan", "1"))
    assert "还没填完" in out
    out = joined(await pick(bot, "zhangsan", "restart", "2"))
    assert "开始 2026-11-30 的健康上报" in out and "请发送您当前的位置" in out
    assert await answers_of(bot, "zhangsan") == {}
    assert await step_of(bot, "zhangsan") == "location#ask"


async def test_a_command_after_the_timeout_also_offers_to_continue(bot: Bot) -> None:
    await at_temperature(bot)
    bot.clock.advance(minutes=bot.settings.bot.form_timeout_minutes + 1)  # type: ignore
    out = joined(await say(bot, "zhangsan", "上报"))
    assert "还没填完" in out
    out = joined(await say(bot, "zhangsan", "继续"))
    assert "请输入您今天的体温" in out


async def test_a_click_on_the_live_card_after_the_timeout_simply_answers_it(bot: Bot) -> None:
    await use_cards(bot, "zhangsan")
    await give_basic_info(bot, "zhangsan")
    await start_report_at_gps(bot, "zhangsan")
    await tap(bot, "zhangsan", "ok")
    bot.clock.advance(minutes=bot.settings.bot.form_timeout_minutes + 1)  # type: ignore
    out = joined(await tap(bot, "zhangsan", "yes"))
    assert "还没填完" not in out and "请输入您今天的体温" in out


# ---- unfollow / follow ---------------------------------------------------------------------


@RENDERINGS
async def test_unfollowing_mid_form_keeps_it_and_following_again_re_asks(
        bot: Bot, rendering: str) -> None:
    if rendering == "cards":
        await use_cards(bot, "zhangsan")
    await give_basic_info(bot, "zhangsan")
    await start_report_at_gps(bot, "zhangsan")
    await pick(bot, "zhangsan", "ok", "1")
    assert await step_of(bot, "zhangsan") == "on_campus"
    kept = await answers_of(bot, "zhangsan")

    assert await send_event(bot, "zhangsan", "unsubscribe") == []
    assert (await member(bot, "zhangsan")).following is False
    assert await step_of(bot, "zhangsan") == "on_campus"
    assert await answers_of(bot, "zhangsan") == kept

    bot.clock.advance(minutes=5)  # type: ignore[attr-defined]
    out = joined(await send_event(bot, "zhangsan", "subscribe"))
    assert "张三，欢迎回来！您的信息都还在" in out and "您今天是否在校" in out
    assert (await member(bot, "zhangsan")).following is True
    assert await answers_of(bot, "zhangsan") == kept
    await pick(bot, "zhangsan", "yes", "1")
    assert await step_of(bot, "zhangsan") == "temperature"


async def test_a_new_members_first_subscribe_greets_and_starts_basic_info(bot: Bot) -> None:
    out = joined(await send_event(bot, "maria", "subscribe"))
    assert "Maria，您好！欢迎使用疫情通" in out
    assert "开始填写基本信息" in out and "花名册中您的姓名：Maria" in out
    conv = await conversation(bot, "maria")
    assert conv is not None and conv.form_id == "basic_info"


async def test_following_again_without_a_form_offers_todays_report(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await send_event(bot, "zhangsan", "unsubscribe")
    bot.clock.advance(minutes=1)  # type: ignore[attr-defined]
    out = joined(await send_event(bot, "zhangsan", "subscribe"))
    assert "欢迎回来" in out and "您今天还没有上报" in out
    assert await conversation(bot, "zhangsan") is None


# ---- a restart in the middle of a form ------------------------------------------------------


def no_repeats(messages: list[str]) -> None:
    counts = Counter(messages)
    assert not [m for m, n in counts.items() if n > 1], counts.most_common(3)


@pytest.mark.parametrize("rendering", ["text", "cards"])
async def test_a_restart_in_the_middle_of_basic_info_loses_nothing(
        emulator: WeComEmulator, db_url: str, clock: FixedClock, rendering: str) -> None:
    bot = await start_bot(emulator, db_url, clock=clock)
    try:
        if rendering == "cards":
            await use_cards(bot, "zhangsan")
        await say(bot, "zhangsan", "信息")
        await pick(bot, "zhangsan", "prefill", "1")
        await say(bot, "zhangsan", "2019011234")
        # The mobile number is applied, and the bot stops before its reply is delivered.
        assert (await emulator.send_text("zhangsan", "13800000002")).status == 200
    finally:
        await bot.stop()

    bot2 = await start_bot(emulator, db_url, clock=clock)
    bot2._seen = dict(bot._seen)
    try:
        await settle(bot2)
        out = joined(seen(bot2, "zhangsan"))
        assert "您是否为北京户籍" in out
        # WeCom re-sends the callback it saw no answer to: it is recognised after the restart.
        userid, plaintext = emulator.callback_log[-1]
        assert userid == "zhangsan" and "13800000002" in plaintext
        params, body = emulator.build_callback(plaintext)
        assert (await emulator.post_raw(params, body)).status == 200
        await settle(bot2)
        assert seen(bot2, "zhangsan") == []
        assert await answers_of(bot2, "zhangsan") == {
            "name": "张三", "staff_no": "2019011234", "mobile": "13800000002"}
        await pick(bot2, "zhangsan", "no", "2")
        await say(bot2, "zhangsan", "河北省保定市竞秀区")
        await pick(bot2, "zhangsan", "faculty", "2")
        out = joined(await pick(bot2, "zhangsan", "submit", "1"))
        assert "基本信息已提交" in out
        info = await basic_info(bot2, "zhangsan")
        assert info is not None and info.mobile == "13800000002"
        assert info.hukou_address == "河北省保定市竞秀区" and info.member_type == "faculty"
        no_repeats(bot2.emulator.transcript("zhangsan"))
    finally:
        await bot2.stop()


@pytest.mark.parametrize("rendering", ["text", "cards"])
async def test_a_restart_in_the_middle_of_the_daily_report_loses_nothing(
        emulator: WeComEmulator, db_url: str, clock: FixedClock, rendering: str) -> None:
    bot = await start_bot(emulator, db_url, clock=clock)
    try:
        await give_basic_info(bot, "zhangsan")
        if rendering == "cards":
            await use_cards(bot, "zhangsan")
        await start_report_at_gps(bot, "zhangsan")
        await pick(bot, "zhangsan", "ok", "1")
        await pick(bot, "zhangsan", "no", "2")
        await say(bot, "zhangsan", "36.8")
        # Symptoms chosen; the bot stops before the next question is delivered.
        if rendering == "cards":
            card = last_card(bot, "zhangsan")
            box = card.card.template_card["checkbox"]  # type: ignore[union-attr]
            result = await emulator.submit_card("zhangsan", str(card.task_id),
                                                {box["question_key"]: ["none"]})
        else:
            result = await emulator.send_text("zhangsan", "1")
        assert result.status == 200
    finally:
        await bot.stop()

    bot2 = await start_bot(emulator, db_url, clock=clock)
    bot2._seen = dict(bot._seen)
    try:
        await settle(bot2)
        out = joined(seen(bot2, "zhangsan"))
        assert "您是否接触过确诊或疑似病例" in out
        await pick(bot2, "zhangsan", "no", "2")
        await pick(bot2, "zhangsan", "none", "1")
        out = joined(await say(bot2, "zhangsan", "无"))
        assert "体温 Temperature：36.8℃" in out and "位置 Location：北京市 海淀区" in out
        out = joined(await pick(bot2, "zhangsan", "submit", "1"))
        assert "上报成功" in out
        (report,) = await reports(bot2, "zhangsan")
        assert report.temperature == 36.8 and report.answers["on_campus"] is False
        assert report.answers["symptoms"] == ["none"] and report.district == "海淀区"
        no_repeats(bot2.emulator.transcript("zhangsan"))
    finally:
        await bot2.stop()


# ---- once only -------------------------------------------------------------------------------


async def test_ten_concurrent_submissions_store_one_report_and_one_receipt(bot: Bot) -> None:
    await at_temperature(bot)
    await say(bot, "zhangsan", "36.5")
    await say(bot, "zhangsan", "1")
    await say(bot, "zhangsan", "2")
    await say(bot, "zhangsan", "1")
    out = joined(await say(bot, "zhangsan", "无"))
    assert "请核对您的每日上报" in out
    async with bot.db.session() as session:
        events_before = (await session.execute(
            sa.select(sa.func.count()).select_from(InboundEvent))).scalar_one()

    results = await asyncio.gather(*(bot.emulator.send_text("zhangsan", word)
                                     for word in ["1", "提交"] * 5))
    assert [r.status for r in results] == [200] * 10
    await settle(bot)
    out = seen(bot, "zhangsan")

    async with bot.db.session() as session:
        rows = list((await session.execute(sa.select(DailyReport))).scalars())
        events_after = (await session.execute(
            sa.select(sa.func.count()).select_from(InboundEvent))).scalar_one()
    assert events_after - events_before == 10  # all ten were applied, none deduplicated
    assert len(rows) == 1
    receipts = [m for m in out if "上报成功" in m]
    assert len(receipts) == 1 and rows[0].receipt in receipts[0]
    assert await conversation(bot, "zhangsan") is None


async def test_the_database_allows_one_daily_report_per_member_and_day(bot: Bot) -> None:
    def report(receipt: str, day: date = DAY1) -> DailyReport:
        return DailyReport(receipt=receipt, userid="zhangsan", report_date=day, form_version=1,
                           answers={}, filled_by="zhangsan", submitted_at=bot.clock.now())

    async with bot.db.transaction() as session:
        session.add(report("R1"))
    with pytest.raises(IntegrityError):
        async with bot.db.transaction() as session:
            session.add(report("R2"))
    async with bot.db.transaction() as session:
        session.add(report("R3", date(2026, 12, 1)))  # another day is fine
    async with bot.db.session() as session:
        receipts = sorted((await session.execute(sa.select(DailyReport.receipt))).scalars())
    assert receipts == ["R1", "R3"]


async def test_the_database_allows_one_basic_info_per_member(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    with pytest.raises(IntegrityError):
        await give_basic_info(bot, "zhangsan")
    async with bot.db.session() as session:
        count = (await session.execute(
            sa.select(sa.func.count()).select_from(BasicInfo))).scalar_one()
    assert count == 1


async def test_a_second_basic_info_dialog_cannot_store_twice(bot: Bot) -> None:
    """Two forms racing: basic info stored by another path while the dialog is at its summary."""
    await say(bot, "zhangsan", "信息")
    for answer in ("1", "2019011234", "13800000002", "1", "1"):
        await say(bot, "zhangsan", answer)
    await give_basic_info(bot, "zhangsan")
    out = joined(await say(bot, "zhangsan", "1"))
    assert "您已于 2026-11-30 提交基本信息，基本信息只能填写一次，不能修改" in out
    assert "基本信息已提交" not in out
    assert await conversation(bot, "zhangsan") is None
    info = await basic_info(bot, "zhangsan")
    assert info is not None and info.mobile == "13800000000"  # the first one stays


# ---- language ------------------------------------------------------------------------------


async def test_chinese_by_default_shows_chinese_then_english(bot: Bot) -> None:
    out = joined(await say(bot, "zhangsan", "信息"))
    zh, en = out.index("开始填写基本信息"), out.index("Let's fill in your basic information")
    assert zh < en
    assert out.index("花名册中您的姓名") < out.index("Your name in the roster")
    assert "回复 1 确认\nReply 1 Confirm" in out


@RENDERINGS
async def test_english_switches_to_english_only(bot: Bot, rendering: str) -> None:
    if rendering == "cards":
        await use_cards(bot, "zhangsan")
    out = joined(await say(bot, "zhangsan", "English"))
    assert out == "Switched to English."
    assert (await member(bot, "zhangsan")).language == "en"

    out = joined(await say(bot, "zhangsan", "info"))
    assert "Let's fill in your basic information" in out
    assert "Your name in the roster: 张三" in out
    assert not CJK.search(out.replace("张三", ""))
    if rendering == "cards":
        assert last_card(bot, "zhangsan").card.button_names == ["Confirm"]  # type: ignore
    else:
        assert "Reply 1 Confirm" in out
    await pick(bot, "zhangsan", "prefill", "1")
    await say(bot, "zhangsan", "2019011234")
    out = joined(await say(bot, "zhangsan", "12"))
    assert "That mobile number isn't valid" in out and not CJK.search(out)
    await say(bot, "zhangsan", "13800000002")
    await pick(bot, "zhangsan", "yes", "1")
    out = joined(await pick(bot, "zhangsan", "student", "1"))
    assert "Beijing hukou: Yes" in out and "Member type: Student" in out
    assert not CJK.search(out.replace("张三", ""))
    out = joined(await pick(bot, "zhangsan", "submit", "1"))
    time = local_time_text(bot.clock, bot.clock.now())
    assert out.startswith(f"Basic information submitted ({time}). From now on, reply "
                          "\"report\" each day to file your health report.")
    assert "Starting your health report for 2026-11-30" in out  # the report follows by itself
    assert not CJK.search(out)

    out = joined(await say(bot, "zhangsan", "中文"))
    # Then the report's current question again, now in Chinese with English.
    assert out.startswith("已切换为中文（附英文）。\nSwitched to Chinese (with English).")
    out = joined(await say(bot, "zhangsan", "状态"))
    assert out.startswith("2026-11-30 还没有上报") and "Not reported yet" in out


async def test_an_english_daily_report(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await say(bot, "zhangsan", "english")
    out = joined(await say(bot, "zhangsan", "report"))
    assert "Starting your health report for 2026-11-30" in out and not CJK.search(out)
    out = joined(await enter_app(bot, "zhangsan", *BEIJING))
    assert "Your current location:" in out and "Reply 1 Confirm / 2 Send again" in out
    await say(bot, "zhangsan", "1")
    out = joined(await healthy_answers(bot, "zhangsan"))
    assert "Temperature: 36.5°C" in out and "Symptoms: None" in out
    out = joined(await say(bot, "zhangsan", "1"))
    (report,) = await reports(bot, "zhangsan")
    time = local_time_text(bot.clock, report.submitted_at)
    assert out.startswith(f"Report received. Date: 2026-11-30, time: {time}, receipt: "
                          f"{report.receipt}\nLocation: ")
    assert not CJK.search(out.split("Location: ")[0])


async def test_commands_mid_form_in_cards_re_send_the_question_as_a_new_live_card(
        bot: Bot) -> None:
    await use_cards(bot, "zhangsan")
    await give_basic_info(bot, "zhangsan")
    await start_report_at_gps(bot, "zhangsan")
    await tap(bot, "zhangsan", "ok")
    first = last_card(bot, "zhangsan")
    assert first.card is not None and "您今天是否在校" in first.card.text

    out = joined(await say(bot, "zhangsan", "状态"))
    assert "还没有上报" in out and "您今天是否在校" in out
    second = last_card(bot, "zhangsan")
    assert second.task_id != first.task_id
    out = joined(await say(bot, "zhangsan", "English"))
    assert "Switched to English." in out and "Are you on campus today?" in out
    third = last_card(bot, "zhangsan")
    assert third.card is not None and third.card.button_names == ["On campus", "Off campus"]

    out = joined(await tap(bot, "zhangsan", "yes", task_id=first.task_id))
    assert out.startswith("This card is out of date (an earlier question); nothing was "
                          "changed.") and "Are you on campus today?" in out
    assert await step_of(bot, "zhangsan") == "on_campus"
    fourth = last_card(bot, "zhangsan")  # asked again: the newest card is the live one
    assert fourth.task_id != third.task_id
    out = joined(await tap(bot, "zhangsan", "no", task_id=fourth.task_id))
    assert "Please enter today's body temperature" in out
    assert (await answers_of(bot, "zhangsan"))["on_campus"] is False


async def test_a_form_saved_by_an_older_form_version_starts_afresh(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await start_report_at_gps(bot, "zhangsan")
    async with bot.db.transaction() as session:
        conv = await session.get(Conversation, "zhangsan")
        assert conv is not None
        conv.form_version = 0
        conv.state = {**conv.state, "form_version": 0, "step": "a_question_since_removed"}
        session.add(conv)
    # A command word that is also an option's word: the old step is unknown, so it is the
    # command (and nothing breaks).
    # The refusal is followed by the form again, as after any command inside a form.
    out = joined(await say(bot, "zhangsan", "代填"))
    assert "只有本单位的审核老师可以代填报" in out
    assert "问卷内容已更新，请重新填写" in out and "开始 2026-11-30 的健康上报" in out
    out = joined(await say(bot, "zhangsan", "状态"))
    assert "还没有上报" in out
    assert (await conversation(bot, "zhangsan")).form_version == 1  # type: ignore[union-attr]


async def test_an_overlong_message_changes_nothing_and_the_question_comes_back(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await say(bot, "zhangsan", "上报")
    before = (await step_of(bot, "zhangsan"), await answers_of(bot, "zhangsan"))
    replies = await say(bot, "zhangsan", "长" * 600)
    # The refusal, then the question again (one message)
    assert "太长" in replies[0] and "请发送您当前的位置" in replies[-1]
    assert (await step_of(bot, "zhangsan"), await answers_of(bot, "zhangsan")) == before


async def test_a_card_click_teaches_the_bot_that_the_member_sees_cards(
        emulator, db_url, clock) -> None:
    from bot.settings import BotSettings
    from tests.harness import start_bot

    bot = await start_bot(emulator, db_url, clock=clock, clients={"lisi": "wecom"},
                          bot=BotSettings(default_rendering="cards"))
    try:
        await give_basic_info(bot, "lisi")
        assert (await member(bot, "lisi")).rendering is None
        await say(bot, "lisi", "上报")
        card = last_card(bot, "lisi")
        key = card.body.get("template_card", card.body)["button_list"][0]["key"]
        await bot.emulator.click_button("lisi", card.task_id, key)
        await bot.settle()
        assert (await member(bot, "lisi")).rendering == "cards"
    finally:
        await bot.stop()


@pytest.mark.postgres
async def test_two_instances_take_concurrent_submissions_and_store_one_report(
        emulator: WeComEmulator, clock: FixedClock) -> None:
    """Several servers behind a proxy on one PostgreSQL: the submits of one member spread over
    two instances still store one report and send one receipt (member row locks order them)."""
    import aiohttp

    from tests.conftest import reset_postgres
    from tests.harness import postgres_url

    url = postgres_url()
    if url is None:
        pytest.skip("needs YQT_TEST_POSTGRES_URL")
    await reset_postgres(url)
    first = await start_bot(emulator, url, clock=clock)
    second = await start_bot(emulator, url, clock=clock, roster="userid,name,unit,role\n"
                             "zhangsan,张三,民族学与社会学学院,member\n")
    try:
        emulator.callback_url = first.url
        await at_temperature(first)
        for answer in ("36.5", "1", "2", "1"):
            await say(first, "zhangsan", answer)
        assert "请核对您的每日上报" in joined(await say(first, "zhangsan", "无"))
        requests = []
        for i in range(10):
            xml = (f"<xml><ToUserName><![CDATA[{emulator.corp_id}]]></ToUserName>"
                   f"<FromUserName><![CDATA[zhangsan]]></FromUserName>"
                   f"<CreateTime>{int(clock.now().timestamp())}</CreateTime>"
                   f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[提交]]></Content>"
                   f"<MsgId>{7_000_000_000 + i}</MsgId><AgentID>{emulator.agent_id}</AgentID>"
                   f"</xml>")
            params, body = emulator.build_callback(xml)
            requests.append(((first if i % 2 else second).url, params, body))
        async with aiohttp.ClientSession() as http:
            async def post(target: str, params: dict[str, str], body: bytes
                           ) -> tuple[int, str]:
                async with http.post(target, params=params, data=body) as response:
                    return response.status, await response.text()

            answers = await asyncio.gather(*(post(*r) for r in requests))
        assert [status for status, _ in answers] == [200] * 10
        await first.settle()
        await second.settle()
        async with first.db.session() as session:
            rows = list((await session.execute(sa.select(DailyReport))).scalars())
        assert len(rows) == 1
        crypto = WeComCrypto(emulator.token, emulator.encoding_aes_key, emulator.corp_id)
        passive = []  # the answers' passive replies (raw posts: the emulator did not see them)
        for _, text in answers:
            if text:
                envelope = xmltodict.parse(text)["xml"]
                passive.append(crypto.decrypt(envelope["MsgSignature"], envelope["TimeStamp"],
                                              envelope["Nonce"], envelope["Encrypt"]))
        receipts = [d.text for d in emulator.inbox("zhangsan") if "上报成功" in d.text] + [
            p for p in passive if "上报成功" in p]
        assert len(receipts) == 1 and rows[0].receipt in receipts[0]
    finally:
        await second.stop()
        await first.stop()


async def test_status_inside_a_form_says_the_form_is_open(bot: Bot) -> None:
    """QA2 #14: 状态 answered "还没有上报。回复“上报”开始" while a form was open."""
    await give_basic_info(bot, "zhangsan")
    await start_report_at_gps(bot, "zhangsan")
    (out,) = await say(bot, "zhangsan", "状态")  # one message: the status, then the question
    assert "2026-11-30 还没有上报：您的“每日上报”已开始填写，还没有提交" in out
    assert "回复“上报”开始" not in out
    assert "位置" in out
