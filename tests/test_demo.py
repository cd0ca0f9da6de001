"""The terminal demo shows a reply when it is sent, also one held back by per-member pacing,
without waiting for the user's next input (issue 8)."""

from __future__ import annotations

import pytest

import app.demo as demo
from bot.conversation.render import text_message
from storage.outbox import enqueue
from tests.harness import Bot


async def test_a_paced_reply_is_shown_without_another_input(bot: Bot,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    printed: list[str] = []
    monkeypatch.setattr(demo, "out", printed.append)
    limit = bot.settings.outbox.per_member_per_minute
    async with bot.db.transaction() as session:
        for n in range(limit + 3):
            await enqueue(session, dedupe_key=f"demo-{n}", touser="zhangsan",
                          message=text_message(f"reply {n}"), now=bot.clock.now())
    session = demo.DemoSession(bot.emulator, bot.app, "zhangsan")
    await session.settle()
    session.show_new()
    assert len(bot.emulator.inbox("zhangsan")) == limit  # the rest is held by pacing
    assert not any(f"reply {limit}" in line for line in printed)

    bot.clock.advance(seconds=61)  # type: ignore[attr-defined]  # the pacing window passes
    await session.watch(every=0, rounds=1)  # what runs every second while the user types
    assert [line for line in printed if "reply" in line][-3:] == [
        f"bot> reply {n}" for n in range(limit, limit + 3)]
