"""Operators can see: /metrics, JSON logs with a callback id, `check` warnings, and the
per-member inbound limit."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.cli import build_parser
from app.emulator.api import WeComEmulator
from bot import logs
from bot.clock import FixedClock
from bot.settings import (
    DatabaseSettings,
    LogSettings,
    ScheduleSettings,
    ServerSettings,
    Settings,
)
from handlers.context import text_message
from handlers.ratelimit import InboundLimiter, Verdict
from storage import outbox as outbox_repo
from tests.harness import Bot, start_bot


async def scrape(bot: Bot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    url = bot.url.replace(bot.settings.server.callback_path, "/metrics")
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_count_callbacks_sends_and_the_outbox(bot: Bot) -> None:
    await bot.say("zhangsan", "状态")
    await bot.emulator.send_text("zhangsan", "状态", repeat=2)  # one re-send: a duplicate
    async with bot.db.transaction() as session:  # two messages through the outbox
        await outbox_repo.enqueue(session, dedupe_key="a", touser="zhangsan",
                                  message=text_message("回执 1"), now=bot.clock.now())
    await bot.settle()
    bot.emulator.inject_fault("message/send", 44004)
    async with bot.db.transaction() as session:
        await outbox_repo.enqueue(session, dedupe_key="b", touser="lisi",
                                  message=text_message("回执 2"), now=bot.clock.now())
    await bot.settle()
    bad = await bot.emulator.post_raw({"msg_signature": "0" * 40, "timestamp": "1",
                                       "nonce": "1"}, "<xml/>")
    assert bad.status >= 400
    m = await scrape(bot)
    assert m[("yqt_callbacks_total", (("kind", "text"), ("result", "ok")))] == 2
    assert m[("yqt_callbacks_total", (("kind", "text"), ("result", "duplicate")))] == 1
    assert m[("yqt_callbacks_total", (("kind", "unknown"), ("result", "rejected")))] == 1
    assert m[("yqt_callback_seconds_count", ())] == 4
    # Group commit: the three callbacks that reached the processor (the rejected one did not),
    # each in exactly one batch, and each batch timed.
    assert m[("yqt_callback_batch_size_sum", ())] == 3
    batches = m[("yqt_callback_batch_size_count", ())]
    assert 1 <= batches <= 3
    assert m[("yqt_callback_batch_seconds_count", ())] == batches
    assert m[("yqt_callback_batch_size_bucket", (("le", "64.0"),))] == batches
    assert m[("yqt_wecom_sends_total", (("api", "message/send"), ("errcode", "0")))] >= 1
    assert m[("yqt_wecom_sends_total", (("api", "message/send"), ("errcode", "44004")))] == 1
    assert m[("yqt_outbox_rows", (("status", "dead"),))] == 1
    assert m[("yqt_outbox_rows", (("status", "sent"),))] >= 1
    assert m[("yqt_reports_today", ())] == 0
    assert m[("yqt_scheduler_leader", ())] == 0
    assert ("yqt_reminders_today", (("status", "pending"),)) in m


async def test_json_logs_carry_one_callback_id_across_a_callback(
        bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(logs.CallbackIdFilter())
    caplog.handler.setFormatter(logs.JsonFormatter())
    bot.emulator.inject_fault("message/send", 44004)
    await bot.emulator.send_text("zhangsan", "状态", repeat=2)
    lines = [json.loads(line) for line in caplog.text.splitlines()]
    ids = {line.get("callback_id") for line in lines if line["logger"].startswith("handlers")}
    duplicate = [line for line in lines if "duplicate" in line["msg"]]
    assert duplicate and duplicate[0]["callback_id"]
    assert None not in ids and len(ids) >= 1
    async with bot.db.transaction() as session:  # a message the sender fails to deliver
        await outbox_repo.enqueue(session, dedupe_key="a", touser="zhangsan",
                                  message=text_message("回执"), now=bot.clock.now())
    await bot.settle()  # the sender's lines are outside any callback
    sender = [json.loads(line) for line in caplog.text.splitlines()
              if '"handlers.sender"' in line]
    assert sender and all("callback_id" not in line for line in sender)


def test_log_settings_are_validated() -> None:
    assert LogSettings(format="json").format == "json"
    with pytest.raises(ValueError):
        LogSettings(format="xml")  # type: ignore[arg-type]


# ---- the per-member inbound limit ------------------------------------------------------------

def test_the_limiter_answers_once_then_ignores_for_the_minute(clock: FixedClock) -> None:
    limiter = InboundLimiter(per_minute=3)
    now = clock.now()
    assert [limiter.check("a", now) for _ in range(3)] == [Verdict.OK] * 3
    assert limiter.check("a", now) is Verdict.FIRST_OVER
    assert limiter.check("a", now + timedelta(seconds=30)) is Verdict.OVER
    assert limiter.check("b", now) is Verdict.OK  # others are not affected
    assert limiter.check("a", now + timedelta(seconds=61)) is Verdict.OK


async def test_a_flooding_member_is_answered_once_and_others_are_served(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot = await start_bot(emulator, db_url, clock=clock,
                          server=ServerSettings(port=0, member_callbacks_per_minute=5))
    try:
        for i in range(12):
            result = await emulator.send_text("zhangsan", f"状态{i}")
            assert result.status == 200
        await bot.settle()
        texts = bot.new_messages("zhangsan")
        assert sum("太快" in t for t in texts) == 1
        assert len(texts) == 5 + 1  # five answers, one warning, then silence
        assert len(await bot.say("lisi", "状态")) == 1
        clock.advance(seconds=61)
        assert len(await bot.say("zhangsan", "状态")) == 1
        m = await scrape(bot)
        assert m[("yqt_callbacks_total", (("kind", "text"), ("result", "limited")))] == 7
    finally:
        await bot.stop()


# ---- check --------------------------------------------------------------------------------

async def test_check_warns_about_congested_times_and_explains_the_plugin_setting(
        emulator: WeComEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(wecom=emulator.wecom_settings(),
                        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'c.db'}"),
                        schedule=ScheduleSettings(morning_reminder="07:30",
                                                  admin_summary="20:00"))
    args = build_parser().parse_args(["check"])
    assert await args.run(args, settings) == 0  # warnings are not problems
    out = capsys.readouterr().out
    assert "schedule.morning_reminder = 07:30 falls on :00 or :30" in out
    assert "schedule.admin_summary = 20:00" in out and "20:05" in out
    assert "schedule.second_reminder" not in out
    assert "在微工作台中始终进入主页" in out and "20 bytes" in out


def test_the_shipped_schedule_avoids_congested_minutes() -> None:
    from app.cli import schedule_warnings

    assert schedule_warnings(Settings()) == []
