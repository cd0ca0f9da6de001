"""Issue 12's outbox reproductions: WeCom's duplicate check (modelled by the emulator) used only
where a re-send could double a message, errors classified with backoff up to hours, dead rows
listed and re-sent, and a dead process's claims taken over within seconds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from app.cli import main
from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from bot.settings import OutboxSettings
from bot.wecom.client import MemoryTokenStore, WeComClient
from handlers.context import text_message
from handlers.sender import backoff_seconds
from storage import outbox as repo
from storage.models import AuditLog, Outbox
from tests.harness import Bot, start_bot

SETTINGS_TOML = Path(__file__).parent.parent / "settings.toml"


async def rows(bot: Bot) -> list[Outbox]:
    async with bot.db.session() as session:
        return list((await session.execute(sa.select(Outbox).order_by(Outbox.id))).scalars())


def sends(emulator: WeComEmulator) -> list[dict]:
    return [body for path, body in emulator.calls if path == "message/send"]


async def enqueue_text(bot: Bot, key: str, userid: str, text: str) -> None:
    async with bot.db.transaction() as session:
        await repo.enqueue(session, dedupe_key=key, touser=userid, message=text_message(text),
                           now=bot.clock.now())


# ---- the emulator models WeCom's duplicate check ---------------------------------------------

async def test_the_emulator_drops_an_identical_message_inside_the_interval(
        emulator: WeComEmulator, clock: FixedClock) -> None:
    emulator.add_member("a", "A")
    emulator.add_member("b", "B")
    async with aiohttp.ClientSession() as http:
        client = WeComClient(http, emulator.wecom_settings(), MemoryTokenStore(), clock)
        same = {**text_message("同一条"), "enable_duplicate_check": 1,
                "duplicate_check_interval": 600}
        await client.send_message(["a"], same)
        result = await client.send_message(["a", "b"], same)  # errcode 0 all the same
        assert result.invalid_users == ()
        assert [d.text for d in emulator.inbox("a")] == ["同一条"]
        assert [d.text for d in emulator.inbox("b")] == ["同一条"]
        assert emulator.duplicates_dropped == [("a", "text")]
        await client.send_message(["a"], text_message("同一条"))  # no check asked: delivered
        clock.advance(seconds=601)
        await client.send_message(["a"], same)  # outside the interval: delivered
        await client.send_message(["a"], {**same, "text": {"content": "另一条"}})
    assert [d.text for d in emulator.inbox("a")] == ["同一条", "同一条", "同一条", "另一条"]


# ---- 2. repeated prompts must not vanish -----------------------------------------------------

async def test_a_first_attempt_never_asks_for_the_duplicate_check(bot: Bot) -> None:
    await bot.emulator.send_text("zhangsan", "状态")
    await bot.settle()
    assert sends(bot.emulator) and all("enable_duplicate_check" not in b
                                       for b in sends(bot.emulator))


async def test_the_same_answer_asked_twice_arrives_twice(bot: Bot) -> None:
    first = await bot.say("zhangsan", "状态")
    second = await bot.say("zhangsan", "状态")
    assert first and second == first  # identical texts, both delivered
    assert bot.emulator.duplicates_dropped == []


async def test_an_intentional_repeat_whose_send_is_retried_still_arrives(
        bot: Bot, clock: FixedClock) -> None:
    await enqueue_text(bot, "ask:1", "zhangsan", "没有看懂您的选择")
    await bot.settle()
    clock.advance(minutes=1)
    await enqueue_text(bot, "ask:2", "zhangsan", "没有看懂您的选择")
    bot.emulator.inject_fault("message/send", -1)
    assert (await bot.settle()).retried == 1
    clock.advance(minutes=10)
    await bot.settle()
    assert [d.text for d in bot.emulator.inbox("zhangsan")] == ["没有看懂您的选择"] * 2
    retried = sends(bot.emulator)[-1]
    assert retried["enable_duplicate_check"] == 1
    assert retried["duplicate_check_interval"] <= 11 * 60  # the row's own life, not 30 min


# ---- 7. a send in flight when the process died is not delivered twice ------------------------

async def test_a_message_delivered_before_a_crash_is_not_delivered_again(
        bot: Bot, clock: FixedClock) -> None:
    await enqueue_text(bot, "receipt:1", "zhangsan", "已收到您的上报 回执 ABC123")
    async with bot.db.transaction() as session:  # a sender claimed it ...
        claimed = await repo.claim(session, now=clock.now(), worker="dead-worker",
                                   lease=timedelta(seconds=10), limit=10)
    assert len(claimed) == 1
    async with aiohttp.ClientSession() as http:  # ... sent it, and was killed before recording
        dead = WeComClient(http, bot.emulator.wecom_settings(), MemoryTokenStore(), clock)
        await dead.send_message(["zhangsan"], claimed[0].row.payload)
    assert (await bot.settle()).api_calls == 0  # the lease still holds
    clock.advance(seconds=11)  # seconds, not minutes
    await bot.settle()
    (row,) = await rows(bot)
    assert row.status == "sent"
    assert [d.text for d in bot.emulator.inbox("zhangsan")] == ["已收到您的上报 回执 ABC123"]
    assert bot.emulator.duplicates_dropped == [("zhangsan", "text")]


async def test_the_sender_claims_with_a_lease_of_seconds(bot: Bot, clock: FixedClock) -> None:
    await enqueue_text(bot, "k", "zhangsan", "hello")
    async with bot.db.transaction() as session:
        (claimed,) = await repo.claim(session, now=clock.now(), worker="w",
                                      lease=timedelta(seconds=bot.settings.outbox.lease_seconds),
                                      limit=1)
    assert claimed.recovered is False
    assert bot.settings.outbox.lease_seconds <= 15
    async with bot.db.transaction() as session:
        (again,) = await repo.claim(session, now=clock.now() + timedelta(seconds=16),
                                    worker="v", lease=timedelta(seconds=10), limit=1)
    assert again.recovered is True


# ---- 3. the outbox does not give up in minutes -----------------------------------------------

@pytest.mark.parametrize("mode", ["429", "502"])
async def test_http_429_and_5xx_are_retried(bot: Bot, clock: FixedClock, mode: str) -> None:
    bot.emulator.fail_network("message/send", times=2, mode=mode)  # type: ignore[arg-type]
    await enqueue_text(bot, "k", "zhangsan", "回执")
    for _ in range(3):
        await bot.settle()
        clock.advance(minutes=5)
    (row,) = await rows(bot)
    assert row.status == "sent" and row.attempts == 3
    assert [d.text for d in bot.emulator.inbox("zhangsan")] == ["回执"]


async def test_system_busy_for_hours_is_outlasted(bot: Bot, clock: FixedClock) -> None:
    bot.emulator.inject_fault("message/send", -1, times=14)
    await enqueue_text(bot, "k", "zhangsan", "回执")
    waited = timedelta()
    for _ in range(14):
        await bot.settle()
        (row,) = await rows(bot)
        assert row.status == "pending", row.last_error
        step = row.not_before - clock.now()
        waited += step
        clock.advance(seconds=step.total_seconds() + 1)
    assert waited > timedelta(hours=2)  # backoff grows to hours, not minutes
    await bot.settle()
    (row,) = await rows(bot)
    assert row.status == "sent"


def test_backoff_grows_to_the_cap_and_honours_retry_after() -> None:
    assert backoff_seconds(1) <= 2
    assert 1800 <= backoff_seconds(30, cap=3600) <= 3600
    assert backoff_seconds(1, 60) >= 60


async def test_an_errcode_wecom_calls_permanent_is_dead_at_once(bot: Bot) -> None:
    bot.emulator.inject_fault("message/send", 44004)
    await enqueue_text(bot, "k", "zhangsan", "回执")
    assert (await bot.settle()).dead == 1


# ---- dead rows are visible and can be re-sent ------------------------------------------------

async def test_dead_rows_are_listed_and_retried_from_the_command_line(
        emulator: WeComEmulator, tmp_path: Path, clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    bot = await start_bot(emulator, url, clock=clock)
    try:
        emulator.inject_fault("message/send", 44004)
        await enqueue_text(bot, "receipt:zhangsan", "zhangsan", "回执 XYZ")
        await bot.settle()
        (row,) = await rows(bot)
        assert row.status == "dead"
        monkeypatch.setenv("YQT_DATABASE__URL", url)
        import asyncio

        loop_free = asyncio.get_running_loop()  # main() runs its own loop: use a thread
        code = await loop_free.run_in_executor(None, main, [
            "--config", str(SETTINGS_TOML), "outbox", "list", "--dead"])
        listed = capsys.readouterr().out
        assert code == 0 and f"#{row.id} dead" in listed and "44004" in listed
        assert "dead 1" in listed and "zhangsan" not in listed and "XYZ" not in listed
        code = await loop_free.run_in_executor(None, main, [
            "--config", str(SETTINGS_TOML), "outbox", "retry", str(row.id), "--by", "ops"])
        assert code == 0 and "1 dead rows queued again" in capsys.readouterr().out
        await bot.settle()
        (row,) = await rows(bot)
        assert row.status == "sent"
        assert [d.text for d in emulator.inbox("zhangsan")] == ["回执 XYZ"]
        async with bot.db.session() as session:
            audit = (await session.execute(sa.select(AuditLog).where(
                AuditLog.action == "outbox.retry"))).scalars().one()
        assert audit.actor == "ops" and audit.detail == {"rows": 1}
        code = await loop_free.run_in_executor(None, main, [
            "--config", str(SETTINGS_TOML), "outbox", "retry"])
        assert code == 2  # neither ids nor --all
    finally:
        await bot.stop()


async def test_housekeeping_keeps_dead_rows_and_strips_old_payloads(
        bot: Bot, clock: FixedClock) -> None:
    from scheduler.jobs import JobDeps, housekeeping

    await enqueue_text(bot, "a", "zhangsan", "回执 1")
    await bot.settle()
    bot.emulator.inject_fault("message/send", 44004)
    await enqueue_text(bot, "b", "lisi", "回执 2")
    await bot.settle()
    clock.advance(days=8)
    await housekeeping(JobDeps(bot.settings, bot.db, clock, wake=lambda: None), "housekeeping",
                       clock.now().date())
    by_key = {r.dedupe_key: r for r in await rows(bot)}
    assert by_key["a"].status == "sent" and by_key["a"].payload == {}
    assert by_key["b"].status == "dead" and by_key["b"].payload != {}  # kept to re-send
    clock.advance(days=30)
    await housekeeping(JobDeps(bot.settings, bot.db, clock, wake=lambda: None), "housekeeping",
                       clock.now().date())
    assert [r.dedupe_key for r in await rows(bot)] == ["b"]


def test_settings_default_to_hours_of_retries() -> None:
    settings = OutboxSettings()
    total = sum(min(settings.max_backoff_seconds, 2.0 ** n) / 2
                for n in range(1, settings.max_attempts))
    assert total > 4 * 3600


@pytest.fixture(autouse=True)
def _every_reply_through_the_outbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the outbox: no passive replies (`[bot] passive_replies`)."""
    monkeypatch.setenv("YQT_BOT__PASSIVE_REPLIES", "false")
