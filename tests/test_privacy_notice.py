"""The privacy notice comes first: shown on first contact, accepted (and the version stored)
before basic information; a new version is shown and accepted again once; no location is
stored before acceptance. What it lists follows the forms in use: a published form version
that asks something new is listed, and every member is asked to accept the notice again,
once, before their next form (a form in progress finishes first)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from bot.settings import PrivacySettings
from handlers.form_registry import CHECK_SECONDS
from tests.harness import (
    Bot,
    basic_info,
    cards,
    conversation,
    give_basic_info,
    healthy_answers,
    joined,
    member,
    notice_version_in_force,
    pick,
    report_on,
    say,
    start_bot,
    start_report_at_gps,
    tap,
    use_cards,
)
from tests.test_form_versions import DAILY, DAY, WASHED, healthy_day, publish, run, write


@pytest.fixture
async def fresh(emulator: WeComEmulator, db_url: str, clock: FixedClock) -> AsyncIterator[Bot]:
    b = await start_bot(emulator, db_url, clock=clock, accept_privacy=False)
    yield b
    await b.stop()


async def test_first_contact_shows_the_notice_and_acceptance_starts_basic_info(
        fresh: Bot, clock: FixedClock) -> None:
    bot = fresh
    out = await bot.say("zhangsan", "上报")
    assert len(out) == 1 and "隐私告知 第1版" in out[0] and "14 天" in out[0]
    assert "同意" in out[0] and "agree" in out[0]
    assert await basic_info(bot, "zhangsan") is None
    again = await bot.say("zhangsan", "状态")
    assert again == out  # nothing else until accepted
    accepted = await bot.say("zhangsan", "同意")
    # Thanks, then the interrupted command (状态) is answered, in one message.
    assert "感谢您的确认" in accepted[0] and "2026-11-30 还没有上报" in accepted[-1]
    stored = await member(bot, "zhangsan")
    assert stored.privacy_version == 1 and stored.privacy_accepted_at == clock.now()
    assert not any("隐私告知" in t for t in await bot.say("zhangsan", "帮助"))


async def test_no_location_is_stored_before_acceptance(fresh: Bot) -> None:
    bot = fresh
    results = await bot.emulator.enter_app("lisi", 39.95, 116.32)
    assert all(r.status == 200 for r in results)
    await bot.settle()
    assert (await member(bot, "lisi")).last_lat is None


async def test_a_new_notice_version_is_accepted_again_once(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot = await start_bot(emulator, db_url, clock=clock,
                          privacy=PrivacySettings(notice_version=2))
    try:  # the harness accepted version 2 for everyone: simulate members who accepted v1
        from storage.models import Member

        async with bot.db.transaction() as session:
            m = await session.get(Member, "zhangsan")
            assert m is not None
            m.privacy_version = 1
            session.add(m)
        out = await bot.say("zhangsan", "状态")
        assert "隐私告知 第2版" in out[0]
        await bot.say("zhangsan", "agree")
        assert (await member(bot, "zhangsan")).privacy_version == 2
        assert not any("隐私告知" in t for t in await bot.say("zhangsan", "状态"))
        assert not any("隐私告知" in t for t in await bot.say("lisi", "状态"))
    finally:
        await bot.stop()


async def test_the_command_the_notice_interrupted_is_answered_after_agreeing(
        fresh: Bot) -> None:
    bot = fresh
    await give_basic_info(bot, "teacher")
    out = await bot.say("teacher", "统计")
    assert "隐私告知" in joined(out) and "上报统计" not in joined(out)
    accepted = joined(await bot.say("teacher", "同意"))
    assert "感谢您的确认" in accepted and "上报统计" in accepted  # 统计 is answered now
    assert "花名册中您的姓名" not in accepted
    assert (await member(bot, "teacher")).privacy_pending is None
    # A member without basic information who asked to report is told it comes first.
    await bot.say("zhangsan", "上报")
    first = joined(await bot.say("zhangsan", "同意"))
    assert "感谢您的确认" in first and "请先填写基本信息" in first


async def test_language_help_and_cancel_are_answered_at_the_notice(fresh: Bot) -> None:
    bot = fresh
    english = joined(await bot.say("maria", "English"))
    assert "Switched to English" in english and "Privacy notice, version 1" in english
    assert "隐私告知" not in english  # the notice again, in English only, at once
    report = joined(await bot.say("maria", "report"))
    assert "Privacy notice" in report and "隐私告知" not in report
    helped = joined(await bot.say("zhangsan", "帮助"))
    assert "需要您先阅读并同意" in helped and "【隐私告知" not in helped
    cancelled = joined(await bot.say("zhangsan", "取消"))
    assert "您没有同意隐私告知" in cancelled and "不会收集" in cancelled
    assert (await member(bot, "zhangsan")).privacy_version is None


async def test_card_members_agree_with_a_button(fresh: Bot) -> None:
    bot = fresh
    await use_cards(bot, "lisi")
    out = joined(await bot.say("lisi", "上报"))
    assert "隐私告知 第1版" in out
    card = cards(bot, "lisi")[-1]
    view = bot.emulator.card(card.task_id, "lisi")
    assert [b["text"] for b in view.template_card["button_list"]] == [
        "同意 / Agree", "不同意 / Decline"]
    after = joined(await tap(bot, "lisi", "privacy:agree"))
    assert "感谢您的确认" in after and "请先填写基本信息" in after  # then 上报 goes on
    assert (await member(bot, "lisi")).privacy_version == 1


# ---- the notice follows the forms in use -------------------------------------------------------


async def test_the_notice_lists_the_questions_of_the_forms_in_use(fresh: Bot) -> None:
    out = joined(await fresh.say("zhangsan", "上报"))
    assert "基本信息（姓名、学工号、手机号、是否京籍、户籍地址、身份）" in out
    assert "每日上报（位置、城市变动原因、是否在校、体温、症状、其他症状、接触病例、隔离、" in out
    assert "Basic information (Name, Student/Staff ID, Mobile, Beijing hukou" in out
    assert "勤洗手" not in out


async def test_a_new_question_is_listed_and_accepted_again_once_before_the_next_form(
        bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await give_basic_info(bot, "zhangsan", "lisi")
    await start_report_at_gps(bot, "lisi")  # lisi's form is in progress under notice 1
    await publish(bot, WASHED, tmp_path, accept=False)
    err = capsys.readouterr().err
    assert "PRIVACY: this version collects new data (hands_washed): every member will be " \
        "asked to accept the privacy notice again" in err
    bot.clock.advance(seconds=CHECK_SECONDS + 1)  # type: ignore[attr-defined]

    # zhangsan's next form waits for the new notice, which lists the new question.
    out = joined(await say(bot, "zhangsan", "上报"))
    assert "隐私告知 第2版" in out and "、勤洗手、备注）" in out and "Hands washed, Remarks)" in out
    assert await conversation(bot, "zhangsan") is None
    out = joined(await say(bot, "zhangsan", "同意"))
    assert "感谢您的确认" in out and "位置" in out  # then 上报 goes on: the location
    assert (await member(bot, "zhangsan")).privacy_version == 2
    assert "勤洗手 Hands washed：是 Yes" in await healthy_day(bot, "zhangsan", washed=True)
    report = await report_on(bot, "zhangsan", DAY)
    assert report is not None and report.answers["hands_washed"] is True

    # lisi finishes the form she had started (version 1) without being stopped ...
    out = joined(await pick(bot, "lisi", "ok", "1"))
    assert "隐私告知" not in out and "是否在校" in out
    summary = joined(await healthy_answers(bot, "lisi"))
    assert "隐私告知" not in summary and "请核对" in summary
    out = joined(await pick(bot, "lisi", "submit", "1"))
    assert "隐私告知" not in out
    report = await report_on(bot, "lisi", DAY)
    assert report is not None and report.form_version == 1
    assert (await member(bot, "lisi")).privacy_version == 1
    # ... and is asked once, at her next message; the command is answered after 同意.
    out = joined(await say(bot, "lisi", "状态"))
    assert "隐私告知 第2版" in out and "已上报" not in out
    out = joined(await say(bot, "lisi", "同意"))
    assert "感谢您的确认" in out and "2026-11-30 已上报" in out
    again = joined(await say(bot, "lisi", "状态"))
    assert "隐私告知" not in again and "2026-11-30 已上报" in again
    assert (await member(bot, "lisi")).privacy_version == 2


async def test_a_daily_form_left_from_an_earlier_day_waits_for_the_new_notice(
        bot: Bot, tmp_path: Path) -> None:
    """It would restart on today's version (with the new question): a new form, not one that
    finishes as it started."""
    await give_basic_info(bot, "zhangsan")
    await start_report_at_gps(bot, "zhangsan")
    await pick(bot, "zhangsan", "ok", "1")
    await publish(bot, WASHED, tmp_path, accept=False)
    bot.clock.advance(days=1)  # type: ignore[attr-defined]
    out = joined(await pick(bot, "zhangsan", "yes", "1"))
    assert "隐私告知 第2版" in out and "勤洗手" in out
    out = joined(await say(bot, "zhangsan", "同意"))  # then the form, on today's version
    assert "感谢您的确认" in out and "今天的上报重新开始" in out
    conv = await conversation(bot, "zhangsan")
    assert conv is not None and conv.form_version == 2


async def test_rewording_removing_or_bringing_back_a_question_does_not_ask_again(
        bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await give_basic_info(bot, "zhangsan")
    settings, clock = bot.settings, bot.clock
    reworded = DAILY.replace('prompt = "q.temperature"', 'prompt = { zh = "请测量并输入体温（℃）。'
                             '", en = "Measure and type your temperature (°C)." }\n'
                             'label = { zh = "晨检体温", en = "Morning temperature" }')
    without = DAILY[:DAILY.index('[[question]]\nkey = "remarks"')] + \
        DAILY[DAILY.index("# What alerts the reviewers"):]
    for name, text in (("a.toml", reworded), ("b.toml", without), ("c.toml", DAILY)):
        assert await run(settings, clock, "form", "publish",  # type: ignore[arg-type]
                         write(tmp_path, name, text)) == 0
        captured = capsys.readouterr()
        assert "published daily_report" in captured.out and "PRIVACY" not in captured.err
    assert await notice_version_in_force(bot) == 1
    bot.clock.advance(seconds=CHECK_SECONDS + 1)  # type: ignore[attr-defined]
    out = joined(await say(bot, "zhangsan", "上报"))
    assert "隐私告知" not in out and "位置" in out


async def test_a_version_for_a_later_day_asks_again_from_that_day(
        bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(bot.settings, bot.clock, "form", "publish",  # type: ignore[arg-type]
                     write(tmp_path, "w.toml", WASHED), "--from", "2026-12-01") == 0
    assert "before their next form from 2026-12-01 on" in capsys.readouterr().err
    assert await notice_version_in_force(bot) == 1  # nothing new is collected today
    assert "隐私告知" not in joined(await say(bot, "zhangsan", "状态"))
    bot.clock.advance(days=1)  # type: ignore[attr-defined]
    assert await notice_version_in_force(bot) == 2
    assert "隐私告知 第2版" in joined(await say(bot, "zhangsan", "状态"))


async def test_the_member_page_shows_the_new_notice_and_accepts_the_version_it_showed(
        emulator: WeComEmulator, db_url: str, clock: FixedClock, tmp_path: Path) -> None:
    from tests.web_helpers import http_client, sign_in, start_web_bot

    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        await publish(bot, WASHED, tmp_path, accept=False)
        async with http_client() as http:
            page = await sign_in(http, base, "zhangsan", "/h5/?tab=info")
            html = await page.text()
            assert "隐私告知 第2版" in html and "勤洗手" in html and 'name="staff_no"' not in html
            found = re.search(r'name="_csrf" value="([^"]+)"', html)
            assert found is not None
            token = found.group(1)
            # An older page's 同意 (version 1) accepts nothing: the new notice is shown.
            r = await http.post(base + "/h5/privacy", data={"tab": "info", "version": "1",
                                                            "_csrf": token})
            assert "隐私告知 第2版" in await r.text()
            assert (await member(bot, "zhangsan")).privacy_version == 1
            r = await http.post(base + "/h5/privacy", data={"tab": "info", "version": "2",
                                                            "_csrf": token})
            html = await r.text()
            assert "隐私告知" not in html and 'name="staff_no"' in html
        assert (await member(bot, "zhangsan")).privacy_version == 2
        assert "隐私告知" not in joined(await bot.say("zhangsan", "状态"))  # and in the chat
    finally:
        await bot.stop()


def test_a_notice_too_long_for_one_message_comes_as_two_and_nothing_is_cut() -> None:
    from bot import text
    from bot.conversation.form_files import load_text, shipped_text
    from bot.settings import Settings
    from handlers.privacy_notice import Notice, notice_messages

    extra = "".join(f'''
[[question]]
key = "extra_{n}"
kind = "text"
prompt = {{ zh = "第{n}个附加问题？", en = "Extra question {n}?" }}
label = {{ zh = "附加事项{n}", en = "Extra item {n}" }}
''' for n in range(30))
    long = load_text(shipped_text("daily_report") + extra).form
    basic = load_text(shipped_text("basic_info")).form
    messages = notice_messages(Notice(3, (basic, long)), Settings(), "zh")
    contents = [m["text"]["content"] for m in messages]
    assert len(contents) == 2 and all(text.byte_len(c) <= text.TEXT_LIMIT_BYTES for c in contents)
    assert "附加事项29）" in contents[0] and "Extra item 29)" in contents[1]
    assert not any(c.endswith(text.ELLIPSIS) for c in contents)
    english = notice_messages(Notice(3, (basic, long)), Settings(), "en")
    assert len(english) == 1 and "附加" not in english[0]["text"]["content"]
