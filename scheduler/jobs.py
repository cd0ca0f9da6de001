"""The scheduled jobs: each computes its targets with one query and enqueues outbox rows keyed
by (job, day, member), so firing twice sends nothing twice; reminders carry `skip_if_reported`,
so a member who reports after being queued is not reminded.

Jobs never talk to WeCom; the outbox sender delivers, paced and batched (one `message/send`
per 1000 members of the same message).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot import catalog
from bot.clock import Clock, local_date
from bot.conversation import render
from bot.conversation.render import text_message
from bot.settings import Settings
from bot.text import paginate
from handlers.context import lang_of, new_id, rendering_of
from handlers.stats import summary_pages
from storage import cards, conversations, inbound, job_runs, members, reports
from storage import outbox as outbox_repo
from storage.privacy import apply_retention
from storage.cards import CardPurpose
from storage.db import Database, DatabaseError, is_transient
from storage.members import MemberRole
from storage.models import Member
from storage.outbox import enqueue_many, outbox_values, reminder_key
from storage.summary import unit_summaries
from storage.trends import sparkline, unit_trend
from storage.units import reviewed_units, unit_tree

log = logging.getLogger("scheduler.jobs")

BATCH = 1000  # members per message/send


@dataclass(frozen=True)
class JobDeps:
    settings: Settings
    db: Database
    clock: Clock
    wake: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class JobResult:
    job: str
    day: date
    enqueued: int
    skipped_day: bool = False


JobFn = Callable[[JobDeps, str, date], Awaitable[int]]


# Jobs that run every day, skip days included: they message nobody.
EVERY_DAY = {"housekeeping"}


def is_skip_day(settings: Settings, day: date, job: str | None = None) -> bool:
    if job in EVERY_DAY:
        return False
    schedule = settings.schedule
    return (schedule.skip_weekends and day.weekday() >= 5) or day in schedule.holidays


async def run_job(deps: JobDeps, name: str, *, day: date | None = None,
                  instance: str = "") -> JobResult:
    """Run one job for one reporting day (default: today in the configured zone).

    A transient database error (a connection the server dropped, a deadlock) runs the job
    again, up to three times in all: jobs are idempotent (their outbox keys), and a job missed
    at its time would otherwise wait for tomorrow."""
    now = deps.clock.now()
    day = day or local_date(deps.clock, now)
    for attempt in range(3):
        try:
            return await _run_job_once(deps, name, day, now, instance)
        except DatabaseError as exc:
            if attempt == 2 or not is_transient(exc):
                raise
            log.warning("job %s: database error (%s); running it again", name,
                        type(exc).__name__)
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


async def _run_job_once(deps: JobDeps, name: str, day: date, now: datetime,
                        instance: str) -> JobResult:
    fn = JOBS[name]
    if is_skip_day(deps.settings, day, name):
        log.info("job %s: %s is a skip day", name, day)
        return JobResult(name, day, 0, skipped_day=True)
    async with deps.db.transaction() as session:
        await job_runs.started(session, job=name, day=day, now=now, instance=instance)
    enqueued = await fn(deps, name, day)
    async with deps.db.transaction() as session:
        await job_runs.finished(session, job=name, day=day, now=deps.clock.now(),
                                enqueued=enqueued)
    deps.wake()
    log.info("job %s for %s enqueued %d messages", name, day, enqueued)
    return JobResult(name, day, enqueued)


# ------------------------------------------------------------------ reminders


def _reminder_message(variant: tuple[str, str, bool, bool], job: str, day: date,
                      task_id: str | None) -> dict[str, Any]:
    lang, rendering, has_yesterday, has_info = variant
    key = "remind.again" if job == "second_reminder" else "remind.daily"
    if not has_info:
        # Never filled basic information (rollout day): the reply starts it, then the report.
        key, has_yesterday = "remind.daily_no_info", False
    if rendering == "cards" and task_id is not None:
        buttons = [("report", catalog.side_by_side("remind.button_report", lang), 1)]
        if has_yesterday:
            buttons.append(("same", catalog.side_by_side("remind.button_same", lang), 2))
        # Cards are tapped, not replied to: the card wording says which button.
        card_key = {"remind.daily": "remind.daily.card",
                    "remind.daily_no_info": "remind.daily_no_info.card"}.get(key, key)
        return render.card_message(render.button_card(
            task_id=task_id, title=catalog.slashed("remind.card_title", lang),
            subtitle=catalog.stacked(card_key, lang, date=day.isoformat()), lang=lang,
            buttons=buttons))
    hint = "remind.text_same" if has_yesterday else "remind.text_report"
    return text_message(catalog.stacked(key, lang, date=day.isoformat()) + "\n"
                        + catalog.stacked(hint, lang))


async def remind_unreported(deps: JobDeps, job: str, day: date) -> int:
    """Every following member with no report for `day`, with or without basic information."""
    now = deps.clock.now()
    async with deps.db.transaction() as session:
        to_remind = await members.to_remind(session, day)
        yesterday = await reports.reporters_on(session, day - timedelta(1))
        groups: dict[tuple[str, str, bool, bool], list[Member]] = defaultdict(list)
        for member, has_info in to_remind:
            variant = (lang_of(member, deps.settings), rendering_of(member, deps.settings),
                       has_info and member.userid in yesterday, has_info)
            groups[variant].append(member)
        rows = []
        for variant, group in sorted(groups.items()):
            for start in range(0, len(group), BATCH):
                chunk = group[start:start + BATCH]
                task_id = None
                if variant[1] == "cards":
                    # One card per chunk: a task_id may be used by one send only, and the
                    # outbox sends one chunk per call. Anyone who received it may click it.
                    task_id = f"remind_{day:%Y%m%d}_{job}_{new_id(12)}"
                    cards.add(session, task_id=task_id, userid="*", purpose=CardPurpose.REMIND,
                              ref=f"{job}:{day}", now=now)
                message = _reminder_message(variant, job, day, task_id)
                rows.extend(outbox_values(dedupe_key=reminder_key(job, day, m.userid),
                                          touser=m.userid, message=message, now=now,
                                          skip_if_reported=day) for m in chunk)
        return await enqueue_many(session, rows)


async def remind_basic_info(deps: JobDeps, job: str, day: date) -> int:
    """Members who follow the app but never completed basic information."""
    now = deps.clock.now()
    async with deps.db.transaction() as session:
        rows = [outbox_values(dedupe_key=f"job:{job}:{day}:{m.userid}", touser=m.userid,
                              message=text_message(catalog.stacked(
                                  "remind.basic_info", lang_of(m, deps.settings))), now=now)
                for m in await members.without_basic_info(session)]
        return await enqueue_many(session, rows)


# ------------------------------------------------------------------ digests


async def reviewer_digest(deps: JobDeps, job: str, day: date) -> int:
    """Each reviewer: their units' counts, non-reporters, unfollowed, basic info missing."""
    now = deps.clock.now()
    async with deps.db.transaction() as session:
        reviewers = await members.active_with_role(session, MemberRole.REVIEWER)
        # The whole university once; each reviewer gets the units they may see.
        tree = await unit_tree(session)
        tz = deps.clock.tz
        by_unit = {s.unit_id: s for s in await unit_summaries(session, day, None, tz=tz)}
        before = {s.unit_id: s
                  for s in await unit_summaries(session, day - timedelta(1), None, tz=tz)}
        rows = []
        for reviewer in reviewers:
            units = await reviewed_units(session, reviewer, tree)
            summaries = [by_unit[u] for u in sorted(units or ()) if u in by_unit]
            if not summaries:
                continue
            lang = lang_of(reviewer, deps.settings)
            pages = summary_pages(summaries, lang, day.isoformat(), previous=before)
            rows.extend(outbox_values(dedupe_key=f"job:{job}:{day}:{reviewer.userid}:{i}",
                                      touser=reviewer.userid, message=text_message(page),
                                      now=now) for i, page in enumerate(pages))
        return await enqueue_many(session, rows)


async def admin_summary(deps: JobDeps, job: str, day: date) -> int:
    """The day's totals per unit to every admin."""
    now = deps.clock.now()
    async with deps.db.transaction() as session:
        admins = await members.active_with_role(session, MemberRole.ADMIN)
        if not admins:
            return 0
        summaries = await unit_summaries(session, day, None, tz=deps.clock.tz)
        trend = await unit_trend(session, day, TREND_DAYS, None, tz=deps.clock.tz)
        rows = []
        for admin in admins:
            lang = lang_of(admin, deps.settings)
            total = sum(s.total for s in summaries)
            reported = sum(s.reported for s in summaries)
            lines = [catalog.stacked("admin.summary_header", lang, date=day.isoformat(),
                                  total=total, reported=reported, missing=total - reported,
                                  abnormal=sum(len(s.abnormal) for s in summaries))]
            lines += [catalog.stacked("admin.summary_unit", lang, unit=s.unit_name, total=s.total,
                                   reported=s.reported, abnormal=len(s.abnormal))
                      for s in summaries]
            lines += trend_lines(trend, lang)
            rows.extend(outbox_values(dedupe_key=f"job:{job}:{day}:{admin.userid}:{i}",
                                      touser=admin.userid, message=text_message(page), now=now)
                        for i, page in enumerate(paginate(lines)))
        return await enqueue_many(session, rows)


TREND_DAYS = 7


def trend_lines(trend: dict[str, list[Any]], lang: str) -> list[str]:
    """The admin summary's last lines: a 7-day sparkline per unit and today's share."""
    if not trend:
        return []
    lines = [catalog.stacked("admin.trend_header", lang)]
    for points in trend.values():
        rate = points[-1].rate
        lines.append(catalog.stacked("admin.trend_unit", lang, unit=points[-1].unit_name,
                                  spark=sparkline([p.rate for p in points]),
                                  rate="-" if rate is None else f"{round(rate * 100)}%"))
    return lines


# ------------------------------------------------------------------ housekeeping

# WeCom re-sends a callback within seconds; a week of dedupe keys is ample.
KEEP_INBOUND = timedelta(days=7)
# Delivered, dead and cancelled messages stay a month for support questions ("was I reminded?").
KEEP_OUTBOX = timedelta(days=30)
# What a delivered message said (summaries, receipts, names) is kept a week after delivery.
KEEP_OUTBOX_PAYLOAD = timedelta(days=7)
# A card's response_code is valid 72 h; after that a click can only be refused.
CARD_LIFETIME = timedelta(hours=72)
# Forms left unfinished this long are dropped (a daily form restarts the next day anyway).
KEEP_ABANDONED_FORMS = timedelta(days=7)


async def housekeeping(deps: JobDeps, job: str, day: date) -> int:
    """Prune what only matters for a while and apply the `[privacy]` retention rules (precise
    locations reduced, old reports deleted if configured); basic info and audit rows are kept.
    Logs how many rows each step touched, never what they held."""
    now = deps.clock.now()
    async with deps.db.transaction() as session:
        counts = {
            "dedupe keys": await inbound.prune(session, now - KEEP_INBOUND),
            "outbox rows": await outbox_repo.prune(session, created_before=now - KEEP_OUTBOX),
            "outbox payloads": await outbox_repo.strip_delivered_payloads(
                session, sent_before=now - KEEP_OUTBOX_PAYLOAD),
            "cards retired": await cards.retire_older_than(session, now - CARD_LIFETIME),
            "abandoned forms": await conversations.drop_abandoned(
                session, now - KEEP_ABANDONED_FORMS),
        }
        privacy = deps.settings.privacy
        counts.update(await apply_retention(
            session, now=now, today=day, raw_location_days=privacy.raw_location_days,
            report_days=privacy.report_days))
    log.info("housekeeping: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


JOBS: dict[str, JobFn] = {
    "morning_reminder": remind_unreported,
    "second_reminder": remind_unreported,
    "reviewer_digest": reviewer_digest,
    "admin_summary": admin_summary,
    "basic_info_reminder": remind_basic_info,
    "housekeeping": housekeeping,
}

# `yiqingtong jobs run remind|summary` names from the operations contract.
ALIASES = {"remind": "morning_reminder", "summary": "reviewer_digest"}


def scheduled_time(settings: Settings, job: str, day: date) -> datetime:
    """When `job` is due on `day`, as an aware datetime in the configured zone."""
    return datetime.combine(day, settings.schedule.job_time(job), tzinfo=settings.schedule.tz)


def missed_jobs(settings: Settings, now: datetime, done: set[tuple[str, date]]
                ) -> list[tuple[str, date]]:
    """Jobs whose time today has passed, inside the grace window, and that have not run.

    A job missed by more than the grace window is dropped: a morning reminder is never sent in
    the evening.
    """
    grace = timedelta(minutes=settings.schedule.misfire_grace_minutes)
    today = now.astimezone(settings.schedule.tz).date()
    due = []
    for job in JOBS:
        at = scheduled_time(settings, job, today)
        if at <= now <= at + grace and (job, today) not in done:
            due.append((job, today))
    return due
