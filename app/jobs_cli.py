"""`yiqingtong jobs list` and `yiqingtong jobs run NAME`."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import Any

from app.console import err, out
from bot.settings import Settings


def register(sub: Any) -> None:
    jobs = sub.add_parser("jobs", help="scheduled jobs")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = jobs_sub.add_parser("list", help="each job's next run")
    listing.set_defaults(run=cmd_list)
    run = jobs_sub.add_parser("run", help="run one job now and deliver its messages")
    run.add_argument("name", help="remind, summary, or a job name from `jobs list`")
    run.set_defaults(run=cmd_run)


def next_run(settings: Settings, job: str, now: datetime) -> datetime:
    from scheduler.jobs import is_skip_day, scheduled_time

    day = now.astimezone(settings.schedule.tz).date()
    for offset in range(0, 400):
        candidate = day + timedelta(days=offset)
        at = scheduled_time(settings, job, candidate)
        if at > now and not is_skip_day(settings, candidate, job):
            return at
    raise ValueError(f"job {job} never runs: every day is a skip day")


async def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.clock import SystemClock
    from scheduler.jobs import JOBS

    now = SystemClock(settings.schedule.tz).now()
    state = "enabled" if settings.schedule.enabled else "disabled ([schedule] enabled = false)"
    out(f"scheduler {state}; time zone {settings.schedule.timezone}")
    for job in JOBS:
        at = next_run(settings, job, now).strftime("%Y-%m-%d %H:%M %Z")
        out(f"{job:22} next run {at}")
    return 0


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    import aiohttp

    from bot.clock import SystemClock
    from bot.wecom.client import WeComClient
    from handlers.sender import OutboxSender
    from scheduler.jobs import ALIASES, JOBS, JobDeps, run_job
    from storage.db import Database
    from storage.outbox import pending_count
    from storage.tokens import DbTokenStore

    name = ALIASES.get(args.name, args.name)
    if name not in JOBS:
        err(f"unknown job {args.name!r}; known: remind, summary, {', '.join(JOBS)}")
        return 2
    settings.require_wecom()
    clock = SystemClock(settings.schedule.tz)
    db = Database(settings.database.url)
    try:
        await db.create_schema()
        result = await run_job(JobDeps(settings, db, clock), name, instance="cli")
        if result.skipped_day:
            out(f"{result.day} is a skip day; nothing to do")
            return 0
        out(f"{name}: {result.enqueued} messages queued for {result.day}")
        async with aiohttp.ClientSession() as http:
            client = WeComClient(http, settings.wecom, DbTokenStore(db), clock)
            sender = OutboxSender(db, client, settings.outbox, clock)
            total = max(result.enqueued, 1)
            while True:
                stats = await sender.drain(until_empty_timeout=5)
                async with db.session() as session:
                    left = await pending_count(session)
                done = sender.totals.sent + sender.totals.dead + sender.totals.skipped
                out(f"  delivered {sender.totals.sent}, skipped {sender.totals.skipped}, "
                       f"dead {sender.totals.dead}, {sender.totals.api_calls} API calls "
                       f"({min(100, 100 * done // total)}%)")
                if left == 0 or not (stats.api_calls or stats.skipped or stats.dead):
                    break
        if left:
            out(f"{left} messages are waiting (paced or retrying); `serve` delivers them")
        return 0
    finally:
        await db.dispose()
