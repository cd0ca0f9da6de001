"""The engine's random walks, through the real endpoint and the WeCom emulator (issue 8).

A smaller budget than tests/test_engine_properties.py: each example is a fresh member (or a
reviewer reporting on behalf of one) sending random texts, commands, card clicks, locations
and clock jumps as real encrypted callbacks. After each input: the callback is answered 200,
a typed input gets an answer, every delivered text fits WeCom's 2048 bytes. After the walk:
what is stored belongs to the walk's member and its day — basic information once, at most
one report a day, never a report for the reviewer who was filling in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app.emulator.api import WeComEmulator
from app.emulator.member import CardNotInteractive
from bot.clock import FixedClock, local_date
from storage.models import BasicInfo, DailyReport
from tests.harness import CLIENT, PLUGIN, Bot, start_bot
from tests.test_engine_properties import ANSWERS, COMMAND_WORDS, PLACES

MEMBERS = [f"m{n:02d}" for n in range(80)]
ROSTER = "userid,name,unit,role,mobile,parent_unit,reviews\n" + \
    "dean,赵院长,学院,reviewer,,,\n" + \
    "rev,钱老师,一班,reviewer,,学院,\n" + \
    "".join(f"{m},成员{m},一班,member,,学院,\n" for m in MEMBERS)
CLIENTS = {m: (CLIENT if n % 2 else PLUGIN) for n, m in enumerate(MEMBERS)}

BUDGET = max(4, settings.default.max_examples // 10)

STEPS = st.lists(st.one_of(
    # Text as a keyboard sends it (no control characters: WeCom's XML cannot carry them).
    st.tuples(st.just("say"), st.one_of(
        st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cn")), max_size=20),
        st.sampled_from(COMMAND_WORDS + [a for a in ANSWERS if a.isprintable() or not a]))),
    st.tuples(st.just("tap"), st.integers(0, 6)),
    st.tuples(st.just("where"), st.sampled_from(PLACES)),
    st.tuples(st.just("enter"), st.sampled_from(PLACES[:3])),
    st.tuples(st.just("wait"), st.sampled_from([600, 40 * 60, 24 * 3600])),
), min_size=2, max_size=12)


@pytest.fixture
async def crowd(emulator: WeComEmulator, db_url: str, clock: FixedClock
                ) -> AsyncIterator[Bot]:
    b = await start_bot(emulator, db_url, clock=clock, roster=ROSTER, clients=CLIENTS)
    yield b
    await b.stop()


def _fits(bot: Bot, userid: str) -> None:
    for delivered in bot.emulator.inbox(userid):
        assert not delivered.truncated
        if delivered.msgtype == "text":
            assert len(delivered.text.encode()) <= 2048


async def _step(bot: Bot, actor: str, kind: str, arg: Any) -> None:
    emu = bot.emulator
    bot.clock.advance(seconds=10)  # type: ignore[attr-defined]  # inside the pacing limits
    if kind == "say":
        result = await emu.send_text(actor, arg or "?")
        assert result.status == 200, result
        await bot.settle()
        assert bot.new_messages(actor), f"no answer to {arg!r}"
    elif kind == "tap":
        cards = [d for d in emu.inbox(actor) if d.msgtype == "template_card" and d.task_id]
        if not cards:
            return
        delivered = cards[-1]
        view = emu.card(delivered.task_id, actor)
        try:
            if view.card_type == "button_interaction":
                keys = [b["key"] for b in view.template_card["button_list"]]
                result = await emu.click_button(actor, delivered.task_id, keys[arg % len(keys)])
            else:
                box = view.template_card["checkbox"]
                ids = [o["id"] for o in box["option_list"]]
                result = await emu.submit_card(actor, delivered.task_id,
                                               {box["question_key"]: [ids[arg % len(ids)]]})
        except CardNotInteractive:
            return  # greyed out: WeCom's client would not send the click either
        assert result.status == 200, result
        await bot.settle()
    elif kind in ("where", "enter"):
        lat, lng = arg
        if not (-90 <= lat <= 90):
            return  # the client cannot produce it
        send = emu.send_location if kind == "where" else emu.enter_app
        result = await send(actor, lat, lng)
        assert getattr(result, "status", 200) == 200, result
        await bot.settle()
    else:
        bot.clock.advance(seconds=arg)  # type: ignore[attr-defined]
    bot.new_messages(actor)


# No shrinking: the server and its database are shared by the examples (a fresh member each),
# so a failing walk is reported as found, with its draws.
@settings(max_examples=BUDGET, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow], deadline=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(data=st.data())
async def test_walks_through_the_endpoint_keep_the_records_right(crowd: Bot,
                                                                 data: st.DataObject) -> None:
    bot = crowd
    used = data.draw(st.sampled_from(MEMBERS), label="member")
    proxy = data.draw(st.booleans(), label="reviewer fills in")
    actor = "rev" if proxy else used
    start = "代报 " + used if proxy else data.draw(st.sampled_from(["上报", "信息", "1", "帮助"]))
    async with bot.db.session() as session:
        before = {(r.userid, r.report_date) for r in
                  (await session.execute(sa.select(DailyReport))).scalars()}
    await _step(bot, actor, "say", start)
    for kind, arg in data.draw(STEPS, label="steps"):
        await _step(bot, actor, kind, arg)
    _fits(bot, actor)
    async with bot.db.session() as session:
        reports = list((await session.execute(sa.select(DailyReport))).scalars())
        infos = list((await session.execute(sa.select(BasicInfo))).scalars())
    new = [r for r in reports if (r.userid, r.report_date) not in before]
    assert all(r.userid == used for r in new), "a report belongs to the walk's member"
    assert all(r.filled_by == actor for r in new)
    assert not [r for r in reports if r.userid == "rev"], "never stored for the reviewer"
    days = [(r.userid, r.report_date) for r in reports]
    assert len(days) == len(set(days)), "one report a day"
    for r in new:
        assert r.report_date == local_date(bot.clock, r.submitted_at)  # type: ignore[arg-type]
    assert len({i.userid for i in infos}) == len(infos)
    # The clock only moves forward between examples; keep them on separate days.
    bot.clock.advance(days=1)  # type: ignore[attr-defined]
