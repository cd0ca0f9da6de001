"""The terminal demo shows a reply when it is sent, also one held back by per-member pacing,
without waiting for the user's next input (issue 8)."""

from __future__ import annotations

from typing import Any

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


def _run_demo(tmp_path, monkeypatch, capsys, lines: str, *, err: bool = False) -> Any:
    import logging

    from app.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("YQT_CONFIG", raising=False)
    script = tmp_path / "chat.txt"
    script.write_text(lines, encoding="utf-8")
    root = logging.getLogger()
    level, before = root.level, list(root.handlers)
    try:
        assert main(["demo", "--script", str(script)]) == 0
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)
    printed = capsys.readouterr()
    return printed if err else printed.out



def test_log_lines_go_to_a_file_not_into_the_chat(tmp_path, monkeypatch, capsys) -> None:
    """QA (fixes #9): server log lines were printed into the demo's chat. They go to
    yiqingtong-demo.log (named in the banner); the terminal shows only the chat."""
    import re

    printed = _run_demo(tmp_path, monkeypatch, capsys, "同意\n上报\n/quit\n", err=True)
    assert "bot> 感谢您的确认" in printed.out
    assert "yiqingtong-demo.log" in printed.out
    log_line = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR) ")
    assert not log_line.search(printed.out) and not log_line.search(printed.err)
    written = (tmp_path / "yiqingtong-demo.log").read_text(encoding="utf-8")
    assert "demo started" in written and log_line.search(written)


def test_day_moves_the_bot_and_wecom_to_tomorrow(tmp_path, monkeypatch, capsys) -> None:
    """QA (#15): the demo can try tomorrow: `/day +1` moves the bot's and the emulator's clock
    (callbacks keep passing the timestamp check), and 状态 then speaks of the next day."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    printed = _run_demo(tmp_path, monkeypatch, capsys,
                        "同意\n状态\n/day +1\n状态\n/day +0\n/day soon\n/day\n/quit\n")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    tomorrow = today + timedelta(days=1)
    assert f"bot> {today.isoformat()} 还没有上报" in printed
    assert f"bot> {tomorrow.isoformat()} 还没有上报" in printed
    assert f"demo date {tomorrow.isoformat()} ({tomorrow.strftime('%a')}), 1 day(s) ahead" in (
        printed)
    assert printed.count("/day +N moves the date 1 to 30 days ahead") == 2  # +0 and "soon"


def test_a_restarted_demo_goes_on_from_the_date_it_reached(tmp_path, monkeypatch,
                                                           capsys) -> None:
    """QA3 #9: after /day +N, starting the demo again on its database went back to the real
    date, and the bot took the stored day for a new one. It goes on from the date reached."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    ahead = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=2)
    first = _run_demo(tmp_path, monkeypatch, capsys, "同意\n/day +2\n状态\n/quit\n")
    assert f"bot> {ahead.isoformat()} 还没有上报" in first
    second = _run_demo(tmp_path, monkeypatch, capsys, "状态\n/quit\n")
    assert f"the demo date continues at {ahead.isoformat()}" in second
    assert f"bot> {ahead.isoformat()} 还没有上报" in second
    assert "已经是新的一天" not in second


def test_bad_demo_commands_answer_with_their_usage(tmp_path, monkeypatch, capsys) -> None:
    """QA3 #11: `/loc abc def` ended the demo with a traceback; `/loc 95 200` got no reply."""
    printed = _run_demo(tmp_path, monkeypatch, capsys,
                        "同意\n/loc abc def\n/loc 95 200\n/enter a b\n状态\n/quit\n")
    assert printed.count("usage: /loc LAT LNG [TEXT]") == 2
    assert "usage: /enter [LAT LNG]" in printed
    assert "还没有上报" in printed  # still running after the bad commands


def test_switching_members_shows_exactly_the_unread_messages(tmp_path, monkeypatch,
                                                             capsys) -> None:
    """QA3 #10: /as replayed the last three messages as if new (and hid older unread ones)."""
    printed = _run_demo(tmp_path, monkeypatch, capsys,
                        "同意\n状态\n/as lisi\n/as zhangsan\n/as zhangsan\n/quit\n")
    chat = printed.split("You are zhangsan.", 1)[1]
    assert chat.count("还没有上报") == 1  # 状态's answer, shown once, never replayed
    assert "you are lisi (0 unread message(s))" in chat
    assert chat.count("you are zhangsan (0 unread message(s))") == 2
