"""The callback endpoint end to end: URL verification, round trips, bad input, duplicates,
order."""

from __future__ import annotations

import asyncio
import base64
import time

import sqlalchemy as sa

from bot.clock import FixedClock
from app.emulator.api import WeComEmulator
from bot.settings import BotSettings
from bot.wecom.crypto import WeComCrypto
from storage.models import Conversation, InboundEvent, Outbox
from tests.harness import Bot, give_basic_info, say, start_bot, step_of


async def counts(bot: Bot) -> tuple[int, int, int]:
    async with bot.db.session() as session:
        inbound = (await session.execute(sa.select(sa.func.count()).select_from(InboundEvent))
                   ).scalar_one()
        outbox = (await session.execute(sa.select(sa.func.count()).select_from(Outbox))
                  ).scalar_one()
        convs = (await session.execute(sa.select(sa.func.count()).select_from(Conversation))
                 ).scalar_one()
    return inbound, outbox, convs


def text_xml(userid: str, content: str, msg_id: int = 1234567890123456789,
             corp: str = "ww_emulated_corp") -> str:
    return (f"<xml><ToUserName><![CDATA[{corp}]]></ToUserName>"
            f"<FromUserName><![CDATA[{userid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId>"
            f"<AgentID>1000002</AgentID></xml>")


async def test_url_verification_answers_the_echostr_exactly(bot: Bot) -> None:
    body = await bot.emulator.verify_url("1288432023552776189")
    assert body == "1288432023552776189"


async def test_url_verification_with_a_forged_signature_is_refused(bot: Bot) -> None:
    crypto = WeComCrypto(bot.emulator.token, bot.emulator.encoding_aes_key, bot.emulator.corp_id)
    encrypted, _sig, timestamp, nonce = crypto.encrypt("12345")
    params = {"msg_signature": "0" * 40, "timestamp": timestamp, "nonce": nonce,
              "echostr": encrypted}
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(bot.url, params=params) as response:
        assert response.status == 403
        assert "12345" not in await response.text()


async def test_a_text_round_trip_is_stored_and_answered(bot: Bot) -> None:
    result = await bot.emulator.send_text("zhangsan", "帮助")
    assert result.status == 200 and result.reply is not None  # the help text, passively
    inbound, outbox, _ = await counts(bot)
    assert (inbound, outbox) == (1, 1)  # the FAQ goes through the outbox
    await bot.settle()
    seen = bot.new_messages("zhangsan")
    assert len(seen) == 2 and "上报" in seen[0] and "微信" in seen[1]


async def test_the_same_callback_four_times_is_processed_once(bot: Bot) -> None:
    result = await bot.emulator.send_text("zhangsan", "状态", repeat=4)
    assert [status for status, _ in result.deliveries] == [200, 200, 200, 200]
    inbound, outbox, _ = await counts(bot)
    assert (inbound, outbox) == (1, 0)  # the answer is the passive reply
    assert len({body for _, body in result.deliveries}) == 4  # each envelope freshly sealed...
    await bot.settle()
    assert len(bot.new_messages("zhangsan")) == 1


async def test_events_are_deduplicated_by_user_time_event_and_key(bot: Bot) -> None:
    await bot.emulator.send_event("zhangsan", "click", EventKey="status", repeat=3)
    await bot.emulator.send_event("zhangsan", "click", EventKey="report")
    inbound, outbox, _ = await counts(bot)
    # status, and "basic info first" with the first question joined to it, are passive
    # replies: nothing is queued
    assert inbound == 2 and outbox == 0


async def _assert_refused(bot: Bot, params: dict[str, str], body: bytes | str,
                          status: int | tuple[int, ...]) -> None:
    result = await bot.emulator.post_raw(params, body)
    expected = status if isinstance(status, tuple) else (status,)
    assert result.status in expected, result
    assert await counts(bot) == (0, 0, 0)


async def test_forged_signature_is_refused_and_leaves_no_trace(bot: Bot) -> None:
    params, body = bot.emulator.build_callback(text_xml("zhangsan", "上报"))
    params = dict(params, msg_signature="f" * 40)
    await _assert_refused(bot, params, body, 403)


async def test_undecryptable_payload_is_a_4xx_not_a_500(bot: Bot) -> None:
    # A correctly signed Encrypt that is not valid ciphertext (wechatpy leaks ValueError).
    garbage = base64.b64encode(b"not a multiple of the block size").decode()
    from bot.wecom.crypto import signature

    timestamp, nonce = str(int(bot.clock.now().timestamp())), "123"
    sig = signature(bot.emulator.token, timestamp, nonce, garbage)
    body = f"<xml><ToUserName>c</ToUserName><Encrypt><![CDATA[{garbage}]]></Encrypt></xml>"
    await _assert_refused(bot, {"msg_signature": sig, "timestamp": timestamp, "nonce": nonce},
                          body, 400)


async def test_a_wrong_aes_key_is_a_4xx_not_a_500(bot: Bot) -> None:
    # Signed with the right token but encrypted with another key (wechatpy leaks
    # UnicodeDecodeError here).
    other = WeComCrypto(bot.emulator.token, "B" * 43, bot.emulator.corp_id)
    encrypted, sig, timestamp, nonce = other.encrypt(text_xml("zhangsan", "上报"),
                                                     timestamp=str(int(bot.clock.now().timestamp())))
    body = f"<xml><ToUserName>c</ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    await _assert_refused(bot, {"msg_signature": sig, "timestamp": timestamp, "nonce": nonce},
                          body, (400, 403))


async def test_a_wrong_receiveid_is_refused(bot: Bot) -> None:
    other = WeComCrypto(bot.emulator.token, bot.emulator.encoding_aes_key, "ww_another_corp")
    encrypted, sig, timestamp, nonce = other.encrypt(text_xml("zhangsan", "上报"),
                                                     timestamp=str(int(bot.clock.now().timestamp())))
    body = f"<xml><ToUserName>c</ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    await _assert_refused(bot, {"msg_signature": sig, "timestamp": timestamp, "nonce": nonce},
                          body, 403)


async def test_malformed_envelope_xml_is_refused(bot: Bot) -> None:
    params, _body = bot.emulator.build_callback(text_xml("zhangsan", "上报"))
    await _assert_refused(bot, params, b"<xml><Encrypt>unterminated", 400)
    await _assert_refused(bot, params, b"\xff\xfe not xml at all", 400)


async def test_malformed_inner_xml_is_refused(bot: Bot) -> None:
    params, body = bot.emulator.build_callback("<xml><FromUserName>zhangsan</xml>")
    await _assert_refused(bot, params, body, 400)
    params, body = bot.emulator.build_callback("<xml><MsgType>text</MsgType></xml>")
    await _assert_refused(bot, params, body, 400)


BOMB = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>')


async def test_entity_expansion_bombs_are_refused(bot: Bot) -> None:
    params, body = bot.emulator.build_callback(text_xml("zhangsan", "上报"))
    outer = BOMB.encode() + b"<xml><Encrypt>&lol3;</Encrypt></xml>"
    await _assert_refused(bot, params, outer, 400)
    inner = BOMB + text_xml("zhangsan", "&lol3;")
    params, body = bot.emulator.build_callback(inner)
    await _assert_refused(bot, params, body, 400)
    external = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                + text_xml("zhangsan", "&e;"))
    params, body = bot.emulator.build_callback(external)
    await _assert_refused(bot, params, body, 400)


async def test_an_oversize_body_is_413(bot: Bot) -> None:
    params, body = bot.emulator.build_callback(text_xml("zhangsan", "x" * 100))
    huge = body[:-len(b"</xml>")] + b"<Pad>" + b"a" * (bot.settings.server.max_body_bytes + 1) \
        + b"</Pad></xml>"
    await _assert_refused(bot, params, huge, 413)


async def test_a_stale_timestamp_is_refused(bot: Bot) -> None:
    stale = str(int(bot.clock.now().timestamp()) - 3600)
    params, body = bot.emulator.build_callback(text_xml("zhangsan", "上报"), timestamp=stale)
    await _assert_refused(bot, params, body, 403)


async def test_unknown_events_get_200_and_change_nothing_visible(bot: Bot) -> None:
    result = await bot.emulator.send_event("zhangsan", "some_future_event")
    assert result.status == 200 and result.body == ""
    inbound, outbox, convs = await counts(bot)
    assert (inbound, outbox, convs) == (1, 0, 0)


async def test_a_stranger_is_told_they_are_not_in_the_roster(bot: Bot) -> None:
    bot.emulator.add_member("stranger", "Stranger")
    assert await bot.say("stranger", "上报") and "花名册" in bot.emulator.last_text("stranger")


async def test_fifty_concurrent_callbacks_from_one_member_apply_once_each_in_turn(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    # Every reply through the outbox, to see the pacing (passive replies are not paced).
    bot = await start_bot(emulator, db_url, clock=clock,
                          bot=BotSettings(passive_replies=False))
    try:
        results = await asyncio.gather(*(bot.emulator.send_text("zhangsan", "状态")
                                         for _ in range(50)))
        assert all(r.status == 200 and r.body == "" for r in results)
        async with bot.db.session() as session:
            rows = list((await session.execute(sa.select(Outbox).order_by(Outbox.id))
                         ).scalars())
            inbound = (await session.execute(
                sa.select(sa.func.count()).select_from(InboundEvent))).scalar_one()
        assert inbound == 50 and len(rows) == 50
        # Every reply belongs to a distinct callback: none applied twice, none lost.
        assert len({row.dedupe_key.split("#")[0] for row in rows}) == 50
        await bot.settle()
        per_minute = bot.settings.outbox.per_member_per_minute
        assert len(bot.new_messages("zhangsan")) == per_minute  # paced for WeCom's limit
        for _ in range(50 // per_minute):
            bot.clock.advance(seconds=61)
            await bot.settle()
        assert len(bot.new_messages("zhangsan")) == 50 - per_minute
    finally:
        await bot.stop()


async def test_a_failing_handler_rolls_back_and_the_member_is_asked_to_retry(bot: Bot) -> None:
    """A bug in a handler must not leave the member in silence nor half-apply the callback."""
    from handlers.context import Turn
    from handlers.keys import PROCESSOR
    from handlers.processor import InboundProcessor

    async def broken(turn: Turn) -> None:
        await turn.say("help")  # written, then rolled back with the rest
        raise RuntimeError("a bug")

    processor = bot.app[PROCESSOR]
    assert isinstance(processor, InboundProcessor)
    original = processor._dispatch
    processor._dispatch = broken  # fault injection: only the routing table is swapped
    try:
        result = await bot.emulator.send_text("zhangsan", "状态", repeat=2)
        assert [s for s, _ in result.deliveries] == [200, 200]
    finally:
        processor._dispatch = original
    inbound, outbox, _ = await counts(bot)
    assert (inbound, outbox) == (1, 0)  # recorded once; only the apology, as the reply
    assert "稍后再试" in (result.reply or "")
    await bot.settle()
    (text,) = bot.new_messages("zhangsan")
    assert "稍后再试" in text


async def test_a_lock_held_by_another_process_does_not_stop_the_server(
        bot: Bot, db_url: str) -> None:
    """SQLite: while another process (a CLI command beside the server) holds the write lock, a
    callback waits for it without blocking the event loop — /healthz still answers — and is
    applied once the lock is released."""
    import sqlite3

    import aiohttp
    import pytest

    if not db_url.startswith("sqlite:///"):
        pytest.skip("SQLite's file lock")
    other = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the other process's write transaction
    try:
        callback = asyncio.create_task(bot.emulator.send_text("zhangsan", "状态"))
        pool = bot.db.engine.pool
        for _ in range(1000):  # until the callback has the connection (a guard, not a timing)
            if pool.checkedout() or callback.done():  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.01)
        assert not callback.done(), "the callback should be waiting for the lock"
        healthz = bot.url.replace(bot.settings.server.callback_path, "/healthz")
        async with aiohttp.ClientSession() as http, http.get(healthz) as response:
            assert response.status == 200
        assert not callback.done(), "the callback should be waiting for the lock"
    finally:
        other.execute("ROLLBACK")
        other.close()
    result = await asyncio.wait_for(callback, 30)
    assert result.status == 200
    await bot.settle()
    assert any("还没有上报" in text for text in bot.new_messages("zhangsan"))


async def test_a_form_starting_reads_no_conversation_the_batch_found_absent(bot: Bot) -> None:
    """上报 with no form in progress: the batch's load already found no conversation, so
    starting the daily report stores its row without asking the database again."""
    await give_basic_info(bot, "zhangsan")
    statements: list[str] = []

    def record(conn, cursor, statement: str, *args: object) -> None:  # noqa: ANN001
        statements.append(statement)

    sa.event.listen(bot.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        out = await say(bot, "zhangsan", "上报")
    finally:
        sa.event.remove(bot.db.engine.sync_engine, "before_cursor_execute", record)
    assert any("位置" in text for text in out), out
    assert await step_of(bot, "zhangsan") is not None  # the daily report is stored, started
    assert any(s.startswith("INSERT INTO conversation") for s in statements)
    assert not [s for s in statements if s.startswith("SELECT conversation.")]
