"""Scheduled job runs' one door: one row per (job, reporting day), so a restart catches up a
missed job and never runs it twice for the same day."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import insert_ignore
from storage.models import JobRun


async def started(session: AsyncSession, *, job: str, day: date, now: datetime,
                  instance: str) -> None:
    await session.execute(insert_ignore(session, JobRun).values(
        job=job, day=day, started_at=now, instance=instance[:64]))


async def finished(session: AsyncSession, *, job: str, day: date, now: datetime,
                   enqueued: int) -> None:
    await session.execute(sa.update(JobRun).where(JobRun.job == job, JobRun.day == day)
                          .values(finished_at=now, enqueued=JobRun.enqueued + enqueued))


async def done(session: AsyncSession) -> set[tuple[str, date]]:
    """Every (job, day) that has run."""
    return {(job, day) for job, day in (await session.execute(
        sa.select(JobRun.job, JobRun.day))).all()}
