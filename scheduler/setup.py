"""Exactly one scheduler across instances: a PostgreSQL advisory lock elects it.

APScheduler's job store cannot be shared between processes (two schedulers on one store fire
every job twice), so each instance keeps an in-memory scheduler but only the instance holding
the session-level advisory lock runs it. The lock lives as long as the leader's connection: if
the leader dies, PostgreSQL releases it and a standby takes over at its next attempt. SQLite
means a single instance, which is always the leader.

The in-memory store forgets what was missed while nobody led, so a new leader catches up the
jobs whose time today has passed within the grace window and that the `job_run` table says
have not run; jobs are idempotent anyway.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from scheduler.jobs import JOBS, JobDeps, is_skip_day, missed_jobs, run_job
from storage import job_runs
from storage.locks import HeldLock

log = logging.getLogger("scheduler")

LOCK_KEY = 74737002  # pg advisory lock id for "yiqingtong scheduler"


def build_scheduler(deps: JobDeps, instance: str) -> AsyncIOScheduler:
    """An AsyncIOScheduler with one cron job per configured time, fixed ids, coalescing."""
    schedule = deps.settings.schedule
    scheduler = AsyncIOScheduler(timezone=schedule.tz)
    for name in JOBS:
        at = schedule.job_time(name)
        scheduler.add_job(
            run_job, CronTrigger(hour=at.hour, minute=at.minute, timezone=schedule.tz),
            args=(deps, name), kwargs={"instance": instance}, id=name, name=name,
            replace_existing=True, coalesce=True, max_instances=1,
            misfire_grace_time=schedule.misfire_grace_minutes * 60)
    return scheduler


async def catch_up(deps: JobDeps, instance: str) -> list[str]:
    """Run jobs missed while no instance led, if still inside their grace window."""
    now = deps.clock.now()
    async with deps.db.session() as session:
        done = await job_runs.done(session)
    ran = []
    for job, day in missed_jobs(deps.settings, now, done):
        if is_skip_day(deps.settings, day, job):
            continue
        log.info("catching up job %s missed at its time today", job)
        await run_job(deps, job, day=day, instance=instance)
        ran.append(job)
    return ran


class SchedulerLeader:
    """Tries to become the leader every `retry_seconds`; runs the scheduler while it is."""

    def __init__(self, deps: JobDeps, *, retry_seconds: float = 5.0,
                 start_scheduler: bool = True) -> None:
        self.deps = deps
        self.retry_seconds = retry_seconds
        self.start_scheduler = start_scheduler
        self.instance = secrets.token_hex(6)
        self.is_leader = False
        # Set once this instance leads and has caught up on missed jobs; cleared on standing
        # down. `first_round` is set when the first election round is over, won or lost.
        self.became_leader = asyncio.Event()
        self.first_round = asyncio.Event()
        self._lock = HeldLock(deps.db, LOCK_KEY)
        self.scheduler: AsyncIOScheduler | None = None

    async def _try_lock(self) -> bool:
        return await self._lock.try_acquire()

    async def _still_holding(self) -> bool:
        if await self._lock.still_held():
            return True
        log.warning("lost the scheduler lock connection; standing down")
        return False

    async def _lead(self) -> None:
        self.is_leader = True
        log.info("instance %s leads the scheduler", self.instance)
        await catch_up(self.deps, self.instance)
        if self.start_scheduler:
            self.scheduler = build_scheduler(self.deps, self.instance)
            self.scheduler.start()
        self.became_leader.set()

    async def _stand_down(self) -> None:
        self.is_leader = False
        self.became_leader.clear()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        await self._lock.release()

    async def run(self) -> None:
        try:
            while True:
                try:
                    if not self.is_leader and await self._try_lock():
                        await self._lead()
                    elif self.is_leader and not await self._still_holding():
                        await self._stand_down()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("scheduler election round failed")
                    await self._stand_down()
                self.first_round.set()
                await asyncio.sleep(self.retry_seconds)
        finally:
            await self._stand_down()
