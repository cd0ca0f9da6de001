"""Chaos: WeCom answers errors for a while (-1, HTTP 429, HTTP 502, 45009) while members
report, then recovers. Afterwards every report answered 200 is stored once, every member has
exactly one receipt, every alert arrived, and nothing is dead.

(The kill -9 of one of two real server processes on PostgreSQL is in test_chaos_kill.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from storage.models import DailyReport, Outbox
from tests.harness import (
    BEIJING,
    drop_postgres_connections,
    give_basic_info,
    pick,
    say,
    start_report_at_gps,
)
from tests.harness import Bot, start_bot

MEMBERS = 16
ROSTER = "userid,name,unit,role,mobile,parent_unit,reviews\n" \
         "admin,管理员,大学,admin,,,\n" \
         "teacher,王老师,学院,reviewer,13800000001,大学,\n" + "".join(
             f"m{i:02d},成员{i:02d},学院,member,,大学,\n" for i in range(MEMBERS))


@pytest.fixture
async def chaos_bot(emulator: WeComEmulator, db_url: str, clock: FixedClock
                    ) -> AsyncIterator[Bot]:
    b = await start_bot(emulator, db_url, clock=clock, roster=ROSTER)
    yield b
    await b.stop()


async def report(bot: Bot, userid: str, temperature: str) -> None:
    await start_report_at_gps(bot, userid, BEIJING)
    await pick(bot, userid, "ok", "1")
    await pick(bot, userid, "yes", "1")
    await say(bot, userid, temperature)
    await pick(bot, userid, ["none"], "1")
    await pick(bot, userid, "no", "2")
    await pick(bot, userid, "none", "1")
    await say(bot, userid, "无")
    await pick(bot, userid, "submit", "1")


async def test_wecom_errors_for_a_while_lose_and_double_nothing(chaos_bot: Bot,
                                                                clock: FixedClock) -> None:
    bot, emu = chaos_bot, chaos_bot.emulator
    members = [f"m{i:02d}" for i in range(MEMBERS)]
    for userid in members:
        await give_basic_info(bot, userid)
    # WeCom misbehaves: a rate-limiting proxy, a bad gateway, system busy, frequency limit.
    emu.fail_network("message/send", times=12, mode="429")
    emu.fail_network("message/send", times=12, mode="502")
    emu.inject_fault("message/send", -1, times=12)
    emu.inject_fault("message/send", 45009, times=12)
    fevers = set(members[::4])
    for userid in members:
        await report(bot, userid, "38.6" if userid in fevers else "36.5")
    # ... and recovers; time passes until every retry has gone out.
    for _ in range(40):
        async with bot.db.session() as session:
            pending = (await session.execute(sa.select(sa.func.count()).select_from(Outbox)
                                             .where(Outbox.status == "pending"))).scalar_one()
        if not pending:
            break
        clock.advance(minutes=20)
        await bot.settle()
    async with bot.db.session() as session:
        statuses = dict((await session.execute(
            sa.select(Outbox.status, sa.func.count()).group_by(Outbox.status))).all())
        reports = list((await session.execute(sa.select(DailyReport))).scalars())
    assert statuses.get("dead", 0) == 0 and statuses.get("pending", 0) == 0, statuses
    assert sorted(r.userid for r in reports) == members  # each stored once
    receipts = {r.userid: r.receipt for r in reports}
    for userid in members:
        texts = [d.text for d in emu.inbox(userid)]
        assert sum(receipts[userid] in t for t in texts) == 1, (userid, texts)
    alerts = " ".join(d.text for d in emu.inbox("teacher"))
    for userid in fevers:
        assert f"成员{userid[1:]}" in alerts, userid
    assert emu.api_call_count("message/send") > 48  # the faults really were hit


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_postgres_dropping_every_connection_loses_nothing(
        chaos_bot: Bot, db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The pool does not ping before each transaction: a dropped connection fails its first
    statement, and the callback is applied again on a fresh one: answered, stored once."""
    bot = chaos_bot
    for userid in ("m00", "m01", "m02"):
        await give_basic_info(bot, userid)
    await report(bot, "m00", "36.5")  # the pool's connections are open and idle now
    assert await drop_postgres_connections(db_url) > 0
    await report(bot, "m01", "36.6")  # a report right after: every step answered
    assert await drop_postgres_connections(db_url) > 0
    await report(bot, "m02", "38.2")  # and again, with a fever (an alert to the reviewer)
    await bot.settle()
    async with bot.db.session() as session:
        stored = (await session.execute(
            sa.select(DailyReport.userid, sa.func.count()).group_by(DailyReport.userid)
        )).all()
        pending = (await session.execute(
            sa.select(sa.func.count()).select_from(Outbox).where(Outbox.sent_at.is_(None))
        )).scalar()
    assert sorted(stored) == [("m00", 1), ("m01", 1), ("m02", 1)]
    assert pending == 0
    alerts = " ".join(d.text for d in bot.emulator.inbox("teacher"))
    assert "成员02" in alerts and "38.2" in alerts
    # The drops were felt where members wait (not only by the sender), and overcome there.
    assert any("applying one by one" in r.getMessage() for r in caplog.records)
