"""Helpers for the member-side dialog tests (tests/test_dialogs*.py).

Every helper drives the real stack: the emulator encrypts a callback, POSTs it to the running
server, the outbox sender delivers the replies to the emulator, and we read what the member saw.
Delivery is paced per member (20 a minute, as WeCom demands); when a long dialog hits the pace,
`settle` moves the shared clock on by a minute, as a real member would simply wait.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

from app.emulator.member import selected_items_xml, xml_fields
from app.emulator.records import Delivered
from storage.models import BasicInfo, CardTask, Conversation, DailyReport, Member, Outbox
from tests.harness import CLIENT, PLUGIN, Bot

BEIJING = (39.99, 116.31)         # 北京市 海淀区 (GCJ-02, as WeCom sends it)
BEIJING_EAST = (39.91, 116.45)    # 北京市 朝阳区
SHANGHAI_COAST = (31.23, 121.95)  # off the coast of 上海市 浦东新区
HONG_KONG = (22.28, 114.16)
TOKYO = (35.68, 139.69)
MID_OCEAN = (0.0, -140.0)


async def settle(bot: Bot) -> None:
    """Deliver everything queued; wait (on the clock) for the per-member pace if needed."""
    for _ in range(20):
        stats = await bot.settle()
        if not stats.deferred:
            return
        bot.clock.advance(seconds=61)  # type: ignore[attr-defined]
    raise AssertionError("the outbox never drained")


def seen(bot: Bot, userid: str) -> list[str]:
    """What the member saw since the last look."""
    return bot.new_messages(userid)


async def say(bot: Bot, userid: str, text: str) -> list[str]:
    """The member types `text`; returns the texts they saw in reply."""
    result = await bot.emulator.send_text(userid, text)
    assert result.status == 200, result
    await settle(bot)
    return seen(bot, userid)


def joined(messages: Sequence[str]) -> str:
    return "\n".join(messages)


# ---- cards ----------------------------------------------------------------------------------


async def use_cards(bot: Bot, userid: str) -> None:
    """The member uses the WeCom client (sees cards) and asked for card questions."""
    await set_member(bot, userid, rendering="cards")
    member = bot.emulator.member(userid)
    assert member is not None
    member.client = CLIENT


def uses_plugin(bot: Bot, userid: str) -> bool:
    member = bot.emulator.member(userid)
    return member is None or member.client == PLUGIN


def cards(bot: Bot, userid: str) -> list[Delivered]:
    return [d for d in bot.emulator.inbox(userid) if d.msgtype == "template_card"]


def last_card(bot: Bot, userid: str) -> Delivered:
    found = cards(bot, userid)
    assert found, f"{userid} received no card"
    return found[-1]


async def tap(bot: Bot, userid: str, option: str | Sequence[str], *,
              task_id: str | None = None) -> list[str]:
    """Click `option` on the member's newest card (or card `task_id`): a button, or the
    options of a vote card and its submit button. Returns what the member saw afterwards."""
    delivered = last_card(bot, userid) if task_id is None else next(
        d for d in cards(bot, userid) if d.task_id == task_id)
    assert delivered.task_id is not None
    view = bot.emulator.card(delivered.task_id, userid)
    if view.card_type == "button_interaction":
        assert isinstance(option, str)
        result = await bot.emulator.click_button(userid, delivered.task_id, option)
    else:
        box = view.template_card["checkbox"]
        ids = [option] if isinstance(option, str) else list(option)
        result = await bot.emulator.submit_card(userid, delivered.task_id,
                                                {box["question_key"]: ids})
    assert result.status == 200, result
    await settle(bot)
    return seen(bot, userid)


async def forged_click(bot: Bot, userid: str, task_id: str, key: str, *,
                       card_type: str = "button_interaction",
                       selected: dict[str, list[str]] | None = None) -> list[str]:
    """A template_card_event built by hand, for clicks the emulated client would not allow
    (a greyed-out card, or another member's card): encrypted and signed exactly like WeCom."""
    emu = bot.emulator
    fields: list[tuple[str, Any]] = [
        ("ToUserName", emu.corp_id), ("FromUserName", userid),
        ("CreateTime", int(bot.clock.now().timestamp())), ("MsgType", "event"),
        ("Event", "template_card_event"), ("EventKey", key), ("TaskId", task_id),
        ("CardType", card_type), ("ResponseCode", secrets.token_urlsafe(32)),
        ("AgentID", emu.agent_id)]
    if selected:
        fields.append(("SelectedItems", selected_items_xml(selected)))
    params, body = emu.build_callback(xml_fields(fields))
    result = await emu.post_raw(params, body, userid=userid)
    assert result.status == 200, result
    await settle(bot)
    return seen(bot, userid)


async def pick(bot: Bot, userid: str, option: str | Sequence[str], typed: str) -> list[str]:
    """Answer a choice question: tap `option` on the card in card mode, or type `typed` (the
    option number, as a member of the WeChat plugin does)."""
    if uses_plugin(bot, userid):
        return await say(bot, userid, typed)
    return await tap(bot, userid, option)


async def enter_app(bot: Bot, userid: str, lat: float, lng: float) -> list[str]:
    results = await bot.emulator.enter_app(userid, lat, lng)
    assert all(r.status == 200 for r in results), results
    await settle(bot)
    return seen(bot, userid)


async def send_location(bot: Bot, userid: str, lat: float, lng: float, label: str = ""
                        ) -> list[str]:
    result = await bot.emulator.send_location(userid, lat, lng, label)
    assert result.status == 200, result
    await settle(bot)
    return seen(bot, userid)


async def send_event(bot: Bot, userid: str, event: str) -> list[str]:
    result = await bot.emulator.send_event(userid, event)
    assert result.status == 200, result
    await settle(bot)
    return seen(bot, userid)


# ---- the database ---------------------------------------------------------------------------


async def set_member(bot: Bot, userid: str, **fields: Any) -> None:
    async with bot.db.transaction() as session:
        await session.execute(sa.update(Member).where(Member.userid == userid).values(**fields))


async def member(bot: Bot, userid: str) -> Member:
    async with bot.db.session() as session:
        found = await session.get(Member, userid)
        assert found is not None
        return found


async def basic_info(bot: Bot, userid: str) -> BasicInfo | None:
    async with bot.db.session() as session:
        return await session.get(BasicInfo, userid)


async def conversation(bot: Bot, userid: str) -> Conversation | None:
    async with bot.db.session() as session:
        return await session.get(Conversation, userid)


async def step_of(bot: Bot, userid: str) -> str | None:
    conv = await conversation(bot, userid)
    return None if conv is None else conv.state["step"]


async def answers_of(bot: Bot, userid: str) -> dict[str, Any]:
    conv = await conversation(bot, userid)
    assert conv is not None
    return dict(conv.state["answers"])


async def reports(bot: Bot, userid: str) -> list[DailyReport]:
    async with bot.db.session() as session:
        return list((await session.execute(
            sa.select(DailyReport).where(DailyReport.userid == userid)
            .order_by(DailyReport.report_date))).scalars())


async def report_on(bot: Bot, userid: str, day: date) -> DailyReport | None:
    return next((r for r in await reports(bot, userid) if r.report_date == day), None)


async def card_task(bot: Bot, task_id: str) -> CardTask | None:
    async with bot.db.session() as session:
        return await session.get(CardTask, task_id)


async def outbox_rows(bot: Bot, userid: str) -> list[Outbox]:
    async with bot.db.session() as session:
        return list((await session.execute(
            sa.select(Outbox).where(Outbox.touser == userid).order_by(Outbox.id))).scalars())


async def give_basic_info(bot: Bot, userid: str) -> None:
    """Basic info stored directly, for tests about the daily report."""
    async with bot.db.transaction() as session:
        session.add(BasicInfo(userid=userid, name=userid, staff_no=userid,
                              mobile="13800000000", beijing_hukou=True, member_type="student",
                              form_version=1, answers={}, submitted_at=bot.clock.now()))


# ---- whole flows ----------------------------------------------------------------------------


async def complete_basic_info(bot: Bot, userid: str, *, mobile: str = "13800000002") -> None:
    """Fill in basic info through the dialog (Beijing hukou, student)."""
    seen(bot, userid)
    await say(bot, userid, "信息")
    await pick(bot, userid, "prefill", "1")   # name from the roster
    await pick(bot, userid, "prefill", "1")   # ID from the roster
    await say(bot, userid, mobile)
    await pick(bot, userid, "yes", "1")       # Beijing hukou
    await pick(bot, userid, "student", "1")
    out = await pick(bot, userid, "submit", "1")
    assert "基础信息已提交" in joined(out) or "Basic information submitted" in joined(out), out
    assert await basic_info(bot, userid) is not None


async def start_report_at_gps(bot: Bot, userid: str, at: tuple[float, float] = BEIJING
                              ) -> list[str]:
    """上报, then share a fresh position by entering the app; returns the confirmation seen."""
    await say(bot, userid, "上报")
    return await enter_app(bot, userid, *at)


async def healthy_answers(bot: Bot, userid: str) -> list[str]:
    """on campus, 36.5, no symptoms, no contact, no quarantine, no remarks → the summary."""
    await pick(bot, userid, "yes", "1")
    await say(bot, userid, "36.5")
    await pick(bot, userid, ["none"], "1")
    await pick(bot, userid, "no", "2")
    await pick(bot, userid, "none", "1")
    return await say(bot, userid, "无")


async def report_healthy_day(bot: Bot, userid: str, at: tuple[float, float] = BEIJING
                             ) -> list[str]:
    """A whole healthy report from GPS; returns what the member saw on submitting."""
    confirm = await start_report_at_gps(bot, userid, at)
    assert confirm, "no location confirmation"
    await pick(bot, userid, "ok", "1")
    await healthy_answers(bot, userid)
    return await pick(bot, userid, "submit", "1")
