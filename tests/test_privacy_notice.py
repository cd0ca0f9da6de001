"""The privacy notice comes first: shown on first contact, accepted (and the version stored)
before basic information; a new version is shown and accepted again once; no location is
stored before acceptance."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from bot.settings import PrivacySettings
from tests.harness import Bot, basic_info, member, start_bot


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
    assert "感谢您的确认" in accepted[0] and "开始填写基本信息" in accepted[-1]  # then basic info
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
