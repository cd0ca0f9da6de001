"""Reminding a whole university: enqueue and deliver the morning reminder to N members against
the WeCom emulator, printing the time taken and the number of message/send calls (the target:
100,000 members in at most 100 calls).

    python bench/remind_bench.py [--members 100000] [--database sqlite:///PATH|postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.emulator.api import WeComEmulator  # noqa: E402
from bot.clock import FixedClock  # noqa: E402
from bot.settings import OutboxSettings, Settings  # noqa: E402
from bot.wecom.client import WeComClient  # noqa: E402
from handlers.sender import OutboxSender  # noqa: E402
from scheduler.jobs import JobDeps, run_job  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import BasicInfo, Member, Unit  # noqa: E402
from storage.tokens import DbTokenStore  # noqa: E402


async def seed(db: Database, members: int, now: datetime) -> None:
    async with db.transaction() as session:
        session.add(Unit(id="U", name="Everyone"))
        await session.flush()
        for start in range(0, members, 5000):
            ids = range(start, min(members, start + 5000))
            await session.execute(Member.__table__.insert(), [
                {"userid": f"m{i}", "name": f"Member {i}", "unit_id": "U", "role": "member",
                 "following": True, "active": True, "created_at": now, "updated_at": now}
                for i in ids])
            await session.execute(BasicInfo.__table__.insert(), [
                {"userid": f"m{i}", "name": f"Member {i}", "staff_no": str(i),
                 "mobile": "13800000000", "beijing_hukou": True, "member_type": "student",
                 "form_version": 1, "answers": {}, "submitted_at": now} for i in ids])


async def run(args: argparse.Namespace) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    clock = FixedClock(datetime(2026, 11, 30, 7, 30, tzinfo=tz), tz)
    emu = WeComEmulator(clock=clock)
    await emu.start()
    for i in range(args.members):
        emu.add_member(f"m{i}", f"Member {i}")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/remind.db"
        db = Database(url)
        if db.is_postgres:
            from storage.models import metadata

            async with db.engine.begin() as conn:
                await conn.run_sync(metadata.drop_all)
                await conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        await db.create_schema()
        await seed(db, args.members, clock.now())
        settings = Settings(wecom=emu.wecom_settings(),
                            outbox=OutboxSettings(batch_size=5000))
        started = time.perf_counter()
        result = await run_job(JobDeps(settings, db, clock), "morning_reminder")
        enqueued_at = time.perf_counter()
        async with aiohttp.ClientSession() as http:
            sender = OutboxSender(db, WeComClient(http, settings.wecom, DbTokenStore(db),
                                                  clock), settings.outbox, clock)
            stats = await sender.drain(until_empty_timeout=600)
        done = time.perf_counter()
        await db.dispose()
    calls = emu.api_call_count("message/send")
    received = sum(1 for i in range(args.members) if emu.inbox(f"m{i}"))
    await emu.close()
    print(f"members {args.members}: enqueued {result.enqueued} in "  # noqa: T201
          f"{enqueued_at - started:.1f} s, delivered {stats.sent} in {done - enqueued_at:.1f} s "
          f"({done - started:.1f} s in all) with {calls} message/send calls; "
          f"{received} members received it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--database", default=None)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
