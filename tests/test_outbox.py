"""The durable outbox: retries through faults, nothing twice, restarts, fan-out, two workers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
import pytest
import sqlalchemy as sa

from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from bot.settings import OutboxSettings
from bot.wecom.client import WeComClient
from handlers.context import text_message
from handlers.sender import MemberPacer, OutboxSender
from storage.db import Database
from storage.models import Outbox
from storage.outbox import enqueue, enqueue_many, outbox_values
from storage.tokens import DbTokenStore
from tests.harness import Bot, start_bot


async def rows(bot_or_db: Bot | Database) -> list[Outbox]:
    db = bot_or_db.db if isinstance(bot_or_db, Bot) else bot_or_db
    async with db.session() as session:
        return list((await session.execute(sa.select(Outbox).order_by(Outbox.id))).scalars())


async def test_transient_errors_are_retried_and_the_message_arrives_once(
        bot: Bot, clock: FixedClock) -> None:
    bot.emulator.inject_fault("message/send", -1, times=2)
    await bot.emulator.send_text("zhangsan", "状态")
    first = await bot.settle()
    assert first.retried == 1 and first.sent == 0
    (row,) = await rows(bot)
    assert row.status == "pending" and row.attempts == 1 and row.last_error.startswith("-1")
    assert row.not_before > clock.now()
    clock.advance(minutes=10)
    await bot.settle()  # second fault
    clock.advance(minutes=10)
    await bot.settle()
    (row,) = await rows(bot)
    assert row.status == "sent" and row.attempts == 3
    assert len(bot.new_messages("zhangsan")) == 1


async def test_frequency_limit_backs_off_at_least_a_minute(bot: Bot, clock: FixedClock) -> None:
    bot.emulator.inject_fault("message/send", 45009)
    await bot.emulator.send_text("zhangsan", "状态")
    await bot.settle()
    (row,) = await rows(bot)
    assert row.not_before >= clock.now() + timedelta(seconds=60)
    clock.advance(seconds=30)
    assert (await bot.settle()).api_calls == 0  # still waiting
    clock.advance(seconds=40)
    await bot.settle()
    assert (await rows(bot))[0].status == "sent"


async def test_network_errors_are_retried(bot: Bot, clock: FixedClock) -> None:
    bot.emulator.fail_network("message/send", times=1)
    await bot.emulator.send_text("zhangsan", "状态")
    await bot.settle()
    assert (await rows(bot))[0].status == "pending"
    clock.advance(minutes=5)
    await bot.settle()
    assert (await rows(bot))[0].status == "sent"
    assert len(bot.new_messages("zhangsan")) == 1


async def test_permanent_errors_mark_the_row_dead_with_the_reason(bot: Bot) -> None:
    bot.emulator.inject_fault("message/send", 44004)
    await bot.emulator.send_text("zhangsan", "状态")
    stats = await bot.settle()
    assert stats.dead == 1
    (row,) = await rows(bot)
    assert row.status == "dead" and row.last_error.startswith("44004")


async def test_retries_stop_after_max_attempts(emulator: WeComEmulator, db_url: str,
                                               clock: FixedClock) -> None:
    bot = await start_bot(emulator, db_url, clock=clock,
                          outbox=OutboxSettings(max_attempts=3, poll_interval_seconds=0.05))
    try:
        emulator.inject_fault("message/send", -1, times=10)
        await emulator.send_text("zhangsan", "状态")
        for _ in range(4):
            await bot.settle()
            clock.advance(minutes=10)
        (row,) = await rows(bot)
        assert row.status == "dead" and row.attempts == 3
        assert emulator.api_call_count("message/send") == 3
    finally:
        await bot.stop()


async def test_invalid_recipients_are_dead_and_the_rest_delivered(bot: Bot) -> None:
    async with bot.db.transaction() as session:
        for user in ("zhangsan", "ghost", "lisi"):
            await enqueue(session, dedupe_key=f"t:{user}", touser=user,
                          message=text_message("同一条消息"), now=bot.clock.now())
    stats = await bot.settle()
    assert stats.api_calls == 1 and stats.sent == 2 and stats.dead == 1
    by_user = {r.touser: r.status for r in await rows(bot)}
    assert by_user == {"zhangsan": "sent", "ghost": "dead", "lisi": "sent"}


async def test_the_same_message_to_many_goes_in_one_call_per_thousand(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    for i in range(2300):
        emulator.add_member(f"u{i}", f"User {i}")
    bot = await start_bot(emulator, db_url, clock=clock,
                          outbox=OutboxSettings(batch_size=5000, poll_interval_seconds=0.05))
    try:
        now = clock.now()
        async with bot.db.transaction() as session:
            await enqueue_many(session, [
                outbox_values(dedupe_key=f"remind:{i}", touser=f"u{i}",
                              message=text_message("请今日上报"), now=now) for i in range(2300)])
        stats = await bot.settle()
        assert stats.sent == 2300
        assert emulator.api_call_count("message/send") == 3
        assert all(len(emulator.inbox(f"u{i}")) == 1 for i in range(0, 2300, 97))
    finally:
        await bot.stop()


def test_member_pacing_stays_under_wecom_limits(clock: FixedClock) -> None:
    pacer = MemberPacer(per_minute=20, per_hour=600)
    now = clock.now()
    for i in range(20):
        assert pacer.next_allowed("a", now + timedelta(seconds=i)) <= now + timedelta(seconds=i)
        pacer.record("a", now + timedelta(seconds=i))
    later = now + timedelta(seconds=30)
    assert pacer.next_allowed("a", later) == now + timedelta(minutes=1)
    assert pacer.next_allowed("b", later) == later


async def test_a_chatty_member_is_paced_not_dropped(emulator: WeComEmulator, db_url: str,
                                                    clock: FixedClock) -> None:
    bot = await start_bot(emulator, db_url, clock=clock,
                          outbox=OutboxSettings(per_member_per_minute=5,
                                                poll_interval_seconds=0.05))
    try:
        async with bot.db.transaction() as session:
            for i in range(8):
                await enqueue(session, dedupe_key=f"m{i}", touser="zhangsan",
                              message=text_message(f"消息 {i}"), now=clock.now())
        await bot.settle()
        assert len(emulator.inbox("zhangsan")) == 5
        clock.advance(seconds=61)
        await bot.settle()
        texts = [d.text for d in emulator.inbox("zhangsan")]
        assert texts == [f"消息 {i}" for i in range(8)]  # all of them, in order
    finally:
        await bot.stop()


async def test_pending_rows_are_delivered_after_a_restart(emulator: WeComEmulator, db_url: str,
                                                          clock: FixedClock) -> None:
    first = await start_bot(emulator, db_url, clock=clock)
    await emulator.send_text("zhangsan", "状态")
    await first.stop()  # stopped before the sender ran
    assert emulator.inbox("zhangsan") == []
    second = await start_bot(emulator, db_url, clock=clock)
    try:
        await second.settle()
        assert len(second.new_messages("zhangsan")) == 1
        await second.settle()
        assert len(emulator.inbox("zhangsan")) == 1  # and not again
    finally:
        await second.stop()


async def test_a_claim_left_by_a_crashed_sender_is_resumed_after_its_lease(
        bot: Bot, clock: FixedClock) -> None:
    await bot.emulator.send_text("zhangsan", "状态")
    async with bot.db.transaction() as session:  # as if a sender claimed it and died
        await session.execute(sa.update(Outbox).values(claimed_until=clock.now()
                                                       + timedelta(minutes=2),
                                                       claimed_by="dead-worker"))
    assert (await bot.settle()).api_calls == 0
    clock.advance(minutes=3)
    await bot.settle()
    (row,) = await rows(bot)
    assert row.status == "sent"
    sent = [body for path, body in bot.emulator.calls if path == "message/send"]
    assert sent[-1].get("enable_duplicate_check") == 1  # WeCom drops it if it did arrive


async def test_the_sender_is_woken_by_the_commit_not_by_polling(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot = await start_bot(emulator, db_url, clock=clock, run_sender=True,
                          outbox=OutboxSettings(poll_interval_seconds=60))
    try:
        await asyncio.wait_for(bot.sender.idle.wait(), 10)  # nothing due: waiting for a wake-up
        await emulator.send_text("zhangsan", "状态")
        # Delivered long before the 60 s poll would have looked: the commit woke it.
        (reply,) = await emulator.wait_for_inbox("zhangsan", timeout=10)
        assert "还没有上报" in reply.text
    finally:
        await bot.stop()


async def test_the_sender_claims_again_after_a_full_batch_only(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    """Seven rows, batches of three: three claims deliver all of them at once (a full batch may
    leave more), and the third, short one is not followed by a claim that finds nothing —
    after every message a callback queues, that empty claim was a transaction of its own."""
    bot = await start_bot(emulator, db_url, clock=clock, run_sender=True,
                          outbox=OutboxSettings(poll_interval_seconds=60, batch_size=3))
    claims: list[str] = []

    def count(conn, cursor, statement: str, *args: object) -> None:  # noqa: ANN001
        if statement.startswith("SELECT outbox.id") and "outbox.not_before <=" in statement:
            claims.append(statement)

    try:
        await asyncio.wait_for(bot.sender.idle.wait(), 10)  # the start's round is done
        sa.event.listen(bot.db.engine.sync_engine, "before_cursor_execute", count)
        for i in range(7):
            emulator.add_member(f"q{i}", f"Member {i}")
        async with bot.db.transaction() as session:
            await enqueue_many(session, [
                outbox_values(dedupe_key=f"q{i}", touser=f"q{i}",
                              message=text_message(f"message {i}"), now=clock.now())
                for i in range(7)])
        bot.sender.wake()
        for i in range(7):  # long before the 60 s poll
            (delivered,) = await emulator.wait_for_inbox(f"q{i}", timeout=10)
            assert delivered.text == f"message {i}"
        # The loop cleared `idle` before the claim that took these rows: set again means done.
        await asyncio.wait_for(bot.sender.idle.wait(), 10)
        assert len(claims) == 3
    finally:
        sa.event.remove(bot.db.engine.sync_engine, "before_cursor_execute", count)
        await bot.stop()


async def test_healthz_answers_when_ready(bot: Bot) -> None:
    url = bot.url.replace(bot.settings.server.callback_path, "/healthz")
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200 and (await response.json())["status"] == "ok"


@pytest.mark.postgres
async def test_two_sender_workers_deliver_each_message_exactly_once(
        emulator: WeComEmulator, clock: FixedClock) -> None:
    from tests.conftest import reset_postgres
    from tests.harness import postgres_url

    url = postgres_url()
    if url is None:
        pytest.skip("needs YQT_TEST_POSTGRES_URL")
    await reset_postgres(url)
    for i in range(600):
        emulator.add_member(f"w{i}", f"Worker test {i}")
    setup = Database(url)
    await setup.create_schema()
    async with setup.transaction() as session:
        # Distinct messages so that each row is its own message/send call.
        await enqueue_many(session, [
            outbox_values(dedupe_key=f"x{i}", touser=f"w{i}",
                          message=text_message(f"message {i}"), now=clock.now())
            for i in range(600)])
    await setup.dispose()
    settings = OutboxSettings(batch_size=25)
    dbs = [Database(url), Database(url)]
    async with aiohttp.ClientSession() as http:
        senders = [OutboxSender(db, WeComClient(http, emulator.wecom_settings(),
                                                DbTokenStore(db), clock), settings, clock)
                   for db in dbs]
        stats = await asyncio.gather(*(s.drain(until_empty_timeout=60) for s in senders))
    for db in dbs:
        await db.dispose()
    assert sum(s.sent for s in stats) == 600
    assert all(s.sent > 0 for s in stats), "both workers should have shared the work"
    assert all(len(emulator.inbox(f"w{i}")) == 1 for i in range(600))


async def test_pacing_counts_what_other_instances_sent(emulator: WeComEmulator, db_url: str,
                                                        clock: FixedClock) -> None:
    """Two senders (two instances) on one database stay under the per-member limit together."""
    bot = await start_bot(emulator, db_url, clock=clock,
                          outbox=OutboxSettings(per_member_per_minute=4,
                                                poll_interval_seconds=0.05))
    try:
        async with bot.db.transaction() as session:
            for i in range(6):
                await enqueue(session, dedupe_key=f"a{i}", touser="zhangsan",
                              message=text_message(f"A {i}"), now=clock.now())
        await bot.settle()  # this instance sends 4
        other_db = Database(db_url)
        async with aiohttp.ClientSession() as http:
            other = OutboxSender(other_db, WeComClient(http, emulator.wecom_settings(),
                                                       DbTokenStore(other_db), clock),
                                 bot.settings.outbox, clock)
            assert (await other.drain()).sent == 0  # the other instance sees those 4
            clock.advance(seconds=61)
            assert (await other.drain()).sent == 2
        await other_db.dispose()
        assert len(emulator.inbox("zhangsan")) == 6
    finally:
        await bot.stop()


@pytest.fixture(autouse=True)
def _every_reply_through_the_outbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the outbox: no passive replies (`[bot] passive_replies`)."""
    monkeypatch.setenv("YQT_BOT__PASSIVE_REPLIES", "false")


async def test_a_round_sends_to_members_side_by_side_each_in_order(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    """Calls for different members overlap (up to SEND_CONCURRENCY); a member's own messages
    still arrive in the order queued, also when one call carries the same text to several."""
    bot = await start_bot(emulator, db_url, clock=clock)
    emulator.set_latency(0.01)  # every call takes a while: overlapping calls finish out of order
    try:
        async with bot.db.transaction() as session:
            for i in range(4):
                for userid in ("zhangsan", "lisi", "maria"):
                    await enqueue(session, dedupe_key=f"{userid}-{i}", touser=userid,
                                  message=text_message(f"{userid} 消息 {i}"), now=clock.now())
                await enqueue_many(session, [outbox_values(
                    dedupe_key=f"all-{i}-{userid}", touser=userid,
                    message=text_message(f"通知 {i}"), now=clock.now())
                    for userid in ("zhangsan", "lisi")])
        await bot.settle()
        for userid in ("zhangsan", "lisi"):
            assert [d.text for d in emulator.inbox(userid)] == [
                text for i in range(4) for text in (f"{userid} 消息 {i}", f"通知 {i}")]
        assert [d.text for d in emulator.inbox("maria")] == [
            f"maria 消息 {i}" for i in range(4)]
    finally:
        await bot.stop()
