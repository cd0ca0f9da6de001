"""The privacy notice comes first: shown on first contact, accepted (and the version stored)
before basic information; a new version is shown and accepted again once; no location is
stored before acceptance."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from bot.settings import PrivacySettings
from tests.harness import Bot, basic_info, cards, give_basic_info, joined, member, start_bot, tap, use_cards


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
    assert "感谢您的确认" in accepted[0] and len(accepted) >= 2  # then basic info begins
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
