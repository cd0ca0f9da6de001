"""Passive replies (the first reply in the callback's own answer) and the group commit."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
import xmltodict

from bot.clock import FixedClock
from app.emulator.api import WeComEmulator
from handlers.keys import PROCESSOR
from bot.settings import BotSettings
from bot.wecom.crypto import WeComCrypto
from bot.wecom.inbound import TextIn
from handlers.context import Turn
from handlers.processor import Dispatch, InboundProcessor
from storage.models import InboundEvent, Outbox
from tests.harness import Bot, give_basic_info, outbox_rows, start_bot, use_cards


def reply_content(bot: Bot, body: str) -> str:
    """Open an encrypted passive reply as WeCom does: check the signature, decrypt, parse."""
    envelope = xmltodict.parse(body)["xml"]
    crypto = WeComCrypto(bot.emulator.token, bot.emulator.encoding_aes_key,
                         bot.emulator.corp_id)
    plaintext = crypto.decrypt(envelope["MsgSignature"], envelope["TimeStamp"],
                               envelope["Nonce"], envelope["Encrypt"])
    reply = xmltodict.parse(plaintext)["xml"]
    assert reply["MsgType"] == "text" and reply["ToUserName"] == "zhangsan"
    assert reply["FromUserName"] == bot.emulator.corp_id
    return str(reply["Content"])


async def stored_replies(bot: Bot) -> list[str | None]:
    async with bot.db.session() as session:
        return list((await session.execute(sa.select(InboundEvent.reply))).scalars())


async def test_the_first_reply_rides_on_the_answer_and_shows_in_the_chat(bot: Bot) -> None:
    result = await bot.emulator.send_text("zhangsan", "状态")
    assert result.status == 200
    content = reply_content(bot, result.body)
    assert "还没有上报" in content
    assert await outbox_rows(bot, "zhangsan") == []
    assert bot.emulator.api_call_count("message/send") == 0
    (delivered,) = bot.emulator.inbox("zhangsan")
    assert delivered.passive and delivered.text == content  # shown like an API message


async def test_a_re_sent_callback_gets_the_identical_reply(bot: Bot) -> None:
    result = await bot.emulator.send_text("zhangsan", "状态", repeat=3)
    contents = [reply_content(bot, body) for status, body in result.deliveries
                if status == 200]
    assert len(contents) == 3 and len(set(contents)) == 1
    assert await stored_replies(bot) == [contents[0]]  # stored with the one dedupe row
    assert await outbox_rows(bot, "zhangsan") == []


async def test_a_re_send_after_the_state_moved_on_still_gets_the_first_reply(bot: Bot) -> None:
    """The stored reply, not a recomputed one: by the re-send the member has reported."""
    first = await bot.emulator.send_text("zhangsan", "状态")
    params, body = bot.emulator.build_callback(bot.emulator.callback_log[-1][1])
    await bot.emulator.send_text("zhangsan", "上报")  # the state changes meanwhile
    again = await bot.emulator.post_raw(params, body)
    assert reply_content(bot, again.body) == reply_content(bot, first.body)


async def test_with_passive_replies_off_every_reply_goes_through_the_outbox(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot = await start_bot(emulator, db_url, clock=clock,
                          bot=BotSettings(passive_replies=False))
    try:
        result = await bot.emulator.send_text("zhangsan", "状态", repeat=2)
        assert result.status == 200 and result.body == "" and result.reply is None
        (row,) = await outbox_rows(bot, "zhangsan")
        assert "还没有上报" in row.payload["text"]["content"]
        assert await stored_replies(bot) == [None]
        await bot.settle()
        assert ["还没有上报" in t for t in bot.new_messages("zhangsan")] == [True]
    finally:
        await bot.stop()


async def test_the_second_message_of_a_callback_goes_through_the_outbox(bot: Bot) -> None:
    result = await bot.emulator.send_text("zhangsan", "帮助")  # the help text and the FAQ
    assert "上报" in reply_content(bot, result.body)
    (row,) = await outbox_rows(bot, "zhangsan")
    assert "微信" in row.payload["text"]["content"]
    await bot.settle()
    seen = bot.new_messages("zhangsan")
    assert len(seen) == 2 and "上报" in seen[0] and "微信" in seen[1]  # in order


async def test_a_card_is_never_a_passive_reply(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await use_cards(bot, "zhangsan")
    result = await bot.emulator.send_text("zhangsan", "上报")
    assert "健康上报" in reply_content(bot, result.body)  # the opening text, passively
    rows = await outbox_rows(bot, "zhangsan")
    assert [row.payload["msgtype"] for row in rows][:1] == ["template_card"]
    await bot.settle()
    inbox = bot.emulator.inbox("zhangsan")
    assert inbox[0].passive and inbox[1].msgtype == "template_card"


async def test_no_passive_reply_overtakes_a_message_still_in_the_outbox(bot: Bot) -> None:
    await bot.emulator.send_text("zhangsan", "帮助")  # the FAQ waits in the outbox
    result = await bot.emulator.send_text("zhangsan", "状态")
    assert result.body == "" and result.reply is None
    await bot.settle()
    seen = bot.new_messages("zhangsan")
    assert len(seen) == 3 and "微信" in seen[1] and "还没有上报" in seen[2]


async def test_card_events_are_not_answered_with_a_text(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await use_cards(bot, "zhangsan")
    await bot.emulator.send_text("zhangsan", "上报")
    await bot.settle()
    card = [d for d in bot.emulator.inbox("zhangsan") if d.task_id][-1]
    assert card.task_id is not None
    key = card.body["button_list"][0]["key"]
    result = await bot.emulator.click_button("zhangsan", card.task_id, key)
    assert result.status == 200 and result.body == ""
    assert await outbox_rows(bot, "zhangsan")  # its answers go through the outbox


async def test_passive_replies_are_not_paced_nor_counted_against_message_send(
        bot: Bot) -> None:
    """Our reading of WeCom's docs: 30/min and 1000/h are message/send limits (README)."""
    for _ in range(40):
        result = await bot.emulator.send_text("zhangsan", "状态")
        assert result.reply is not None
    assert len(bot.new_messages("zhangsan")) == 40
    assert bot.emulator.dropped == []


async def test_message_send_beyond_thirty_a_minute_is_dropped_silently(
        emulator: WeComEmulator) -> None:
    emulator.add_member("zhangsan", "张三")
    for _ in range(31):
        emulator._api_message_send({}, {"touser": "zhangsan", "msgtype": "text",
                                        "agentid": emulator.agent_id,
                                        "text": {"content": "hi"}})
    assert len(emulator.inbox("zhangsan")) == 30
    assert emulator.dropped == [("zhangsan", "text")]


# ------------------------------------------------------------------ group commit


def text_in(userid: str, n: int) -> TextIn:
    return TextIn(userid, 1_796_000_000 + n, f"msg:{userid}-{n}", content="状态")


async def test_callbacks_arriving_together_share_one_transaction(bot: Bot) -> None:
    processor = bot.app[PROCESSOR]
    assert isinstance(processor, InboundProcessor)
    outcomes = await asyncio.gather(*(processor.process(text_in(u, 1))
                                      for u in ("zhangsan", "lisi", "maria")))
    assert list(processor.batches) == [3]
    assert all(o.applied and o.reply and "还没有上报" in o.reply for o in outcomes)


async def test_one_failing_callback_does_not_fail_the_others_in_its_batch(bot: Bot) -> None:
    processor = bot.app[PROCESSOR]
    assert isinstance(processor, InboundProcessor)
    original = processor._dispatch

    async def lisi_breaks(turn: Turn) -> None:
        if turn.inbound.userid == "lisi":
            await turn.say("help")  # written, then rolled back with its savepoint
            await turn.say("help.faq")
            raise RuntimeError("a bug")
        await original(turn)

    processor._dispatch = lisi_breaks  # fault injection: only the routing table is swapped
    try:
        outcomes = await asyncio.gather(*(processor.process(text_in(u, 2)) for u in (
            "zhangsan", "lisi", "maria", "zhangsan")))
    finally:
        processor._dispatch = original
    assert list(processor.batches) == [4]
    zhangsan, lisi, maria, zhangsan_again = outcomes
    assert zhangsan.applied and "还没有上报" in (zhangsan.reply or "")
    assert maria.applied and "还没有上报" in (maria.reply or "")
    assert lisi.applied and "稍后再试" in (lisi.reply or "")  # the apology, nothing else
    assert zhangsan_again.applied is False and zhangsan_again.reply == zhangsan.reply
    async with bot.db.session() as session:
        keys = set((await session.execute(sa.select(InboundEvent.dedupe_key))).scalars())
        rows = (await session.execute(sa.select(sa.func.count()).select_from(Outbox))
                ).scalar_one()
    assert keys == {"msg:zhangsan-2", "msg:lisi-2", "msg:maria-2"}
    assert rows == 0  # lisi's help texts were rolled back with the failed savepoint


@pytest.mark.postgres
async def test_a_callback_two_instances_apply_at_once_is_recorded_once_and_answered_alike(
        emulator: WeComEmulator, clock: FixedClock) -> None:
    """WeCom re-sends to whichever instance the proxy picks: when both apply the same callback
    at once, the second batch's dedupe insert fails, the batch is applied again with a
    savepoint per callback, and the callback is answered with the first instance's reply.
    (No member row to lock: a stranger's callbacks are not ordered by a lock.)"""
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
    # Both instances have looked for seen dedupe keys before either writes its own: the race
    # made certain (fault injection: only the routing table is wrapped).
    arrived: list[str] = []
    both = asyncio.Event()
    for bot in (first, second):
        processor = bot.app[PROCESSOR]
        assert isinstance(processor, InboundProcessor)

        def wrap(original: Dispatch, name: str) -> Dispatch:
            async def meet_then_dispatch(turn: Turn) -> None:
                if name not in arrived:
                    arrived.append(name)
                    if len(arrived) == 2:
                        both.set()
                    await asyncio.wait_for(both.wait(), 10)
                await original(turn)
            return meet_then_dispatch

        processor._dispatch = wrap(processor._dispatch, bot.url)
    try:
        requests = []
        for i in range(20):
            xml = (f"<xml><ToUserName><![CDATA[{emulator.corp_id}]]></ToUserName>"
                   f"<FromUserName><![CDATA[stranger]]></FromUserName>"
                   f"<CreateTime>{int(clock.now().timestamp())}</CreateTime>"
                   f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[状态]]></Content>"
                   f"<MsgId>{8_000_000_000 + i}</MsgId><AgentID>{emulator.agent_id}</AgentID>"
                   f"</xml>")
            params, body = emulator.build_callback(xml)
            requests += [(first.url, params, body), (second.url, params, body)]
        crypto = WeComCrypto(emulator.token, emulator.encoding_aes_key, emulator.corp_id)

        async with aiohttp.ClientSession() as http:
            async def post(target: str, params: dict[str, str], body: bytes
                           ) -> tuple[int, str | None]:
                async with http.post(target, params=params, data=body) as response:
                    text = await response.text()
                if not text:
                    return response.status, None
                envelope = xmltodict.parse(text)["xml"]
                plain = crypto.decrypt(envelope["MsgSignature"], envelope["TimeStamp"],
                                       envelope["Nonce"], envelope["Encrypt"])
                return response.status, str(xmltodict.parse(plain)["xml"]["Content"])

            answers = await asyncio.gather(*(post(*r) for r in requests))
        assert [status for status, _ in answers] == [200] * 40
        for i in range(20):
            assert answers[2 * i][1] == answers[2 * i + 1][1]
        async with first.db.session() as session:
            keys = list((await session.execute(sa.select(InboundEvent.dedupe_key))).scalars())
        assert len(keys) == len(set(keys)) == 20
    finally:
        await first.stop()
        await second.stop()
