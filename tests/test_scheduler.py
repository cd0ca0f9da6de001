"""Scheduled reminders and digests, with an injected clock: targets, idempotency, skip days,
the misfire grace window, and exactly one scheduler across instances."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from bot.settings import ScheduleSettings, Settings
from scheduler.jobs import JobDeps, missed_jobs, run_job
from scheduler.setup import SchedulerLeader, build_scheduler
from storage.db import Database
from storage.models import BasicInfo, DailyReport, Member, Outbox
from tests.conftest import SHANGHAI
from tests.harness import (
    Bot,
    drop_postgres_connections,
    give_basic_info,
    set_member,
    start_bot,
)

TODAY = date(2026, 11, 30)  # a Monday


def deps(bot: Bot, **schedule: object) -> JobDeps:
    settings = bot.settings
    if schedule:
        settings = settings.model_copy(update={
            "schedule": settings.schedule.model_copy(update=schedule)})
    return JobDeps(settings, bot.db, bot.clock)


async def add_report(bot: Bot, userid: str, day: date = TODAY, **fields: object) -> None:
    async with bot.db.transaction() as session:
        session.add(DailyReport(receipt=f"R{userid}{day:%d}"[:16], userid=userid,
                                report_date=day, form_version=1, answers={},
                                filled_by=userid, submitted_at=bot.clock.now(), **fields))


async def outbox_users(bot: Bot, job: str) -> list[str]:
    async with bot.db.session() as session:
        return sorted((await session.execute(
            sa.select(Outbox.touser).where(Outbox.dedupe_key.like(f"job:{job}:%")))).scalars())


async def only_following(bot: Bot, *userids: str) -> None:
    """Everyone else on the roster stops following (so a test sees only these members)."""
    async with bot.db.transaction() as session:
        await session.execute(sa.update(Member).where(Member.userid.not_in(userids))
                              .values(following=False))


async def test_the_morning_reminder_targets_following_members_who_have_not_reported(
        bot: Bot) -> None:
    await only_following(bot, "zhangsan", "lisi", "maria")
    await give_basic_info(bot, "zhangsan", "lisi", "maria")
    await add_report(bot, "lisi")
    await set_member(bot, "maria", following=False)
    result = await run_job(deps(bot), "morning_reminder")
    assert result.enqueued == 1
    assert await outbox_users(bot, "morning_reminder") == ["zhangsan"]
    await bot.settle()
    (text,) = bot.new_messages("zhangsan")
    assert "上报" in text
    assert bot.new_messages("lisi") == [] and bot.new_messages("maria") == []


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_job_right_after_the_database_dropped_its_connections_runs(
        bot: Bot, db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The pool does not ping before each transaction: the job's first statement meets a
    dropped connection, and the job runs again on a fresh one instead of waiting a day."""
    await only_following(bot, "zhangsan")
    await give_basic_info(bot, "zhangsan")  # the pool's connections are open and idle now
    assert await drop_postgres_connections(db_url) > 0
    result = await run_job(deps(bot), "morning_reminder")
    assert result.enqueued == 1
    assert any("running it again" in r.getMessage() for r in caplog.records)
    await bot.settle()
    (text,) = bot.new_messages("zhangsan")
    assert "上报" in text


async def test_firing_twice_sends_once(bot: Bot) -> None:
    await only_following(bot, "zhangsan", "lisi")
    await give_basic_info(bot, "zhangsan", "lisi")
    first = await run_job(deps(bot), "morning_reminder")
    second = await run_job(deps(bot), "morning_reminder")
    assert (first.enqueued, second.enqueued) == (2, 0)
    await bot.settle()
    await run_job(deps(bot), "morning_reminder")
    await bot.settle()
    assert len(bot.emulator.inbox("zhangsan")) == 1 and len(bot.emulator.inbox("lisi")) == 1


async def test_a_member_who_reports_after_being_queued_is_not_reminded(bot: Bot) -> None:
    await only_following(bot, "zhangsan", "lisi")
    await give_basic_info(bot, "zhangsan", "lisi")
    await run_job(deps(bot), "morning_reminder")
    await add_report(bot, "zhangsan")  # between enqueue and delivery
    stats = await bot.settle()
    assert stats.skipped == 1
    assert bot.emulator.inbox("zhangsan") == [] and len(bot.emulator.inbox("lisi")) == 1
    async with bot.db.session() as session:
        status = (await session.execute(sa.select(Outbox.status).where(
            Outbox.touser == "zhangsan"))).scalar_one()
    assert status == "cancelled"


async def test_the_second_reminder_goes_to_those_still_missing(bot: Bot, clock: FixedClock
                                                               ) -> None:
    await only_following(bot, "zhangsan", "lisi")
    await give_basic_info(bot, "zhangsan", "lisi")
    await run_job(deps(bot), "morning_reminder")
    await bot.settle()
    await add_report(bot, "zhangsan")
    await run_job(deps(bot), "second_reminder")
    assert await outbox_users(bot, "second_reminder") == ["lisi"]


async def test_skip_days_send_nothing(bot: Bot, clock: FixedClock) -> None:
    await only_following(bot, "zhangsan")
    await give_basic_info(bot, "zhangsan")
    saturday = TODAY + timedelta(days=5)
    weekend = await run_job(deps(bot, skip_weekends=True), "morning_reminder", day=saturday)
    holiday = await run_job(deps(bot, holidays=(TODAY,)), "morning_reminder")
    assert weekend.skipped_day and holiday.skipped_day
    assert await outbox_users(bot, "morning_reminder") == []
    workday = await run_job(deps(bot, skip_weekends=True), "morning_reminder")
    assert workday.enqueued == 1


async def test_on_rollout_day_the_morning_reminder_reaches_everyone_following(bot: Bot
                                                                            ) -> None:
    """Nobody has basic information yet: everyone following is reminded, told that basic
    information comes first; the reply starts it, and then today's report by itself."""
    await set_member(bot, "maria", following=False)
    result = await run_job(deps(bot), "morning_reminder")
    assert await outbox_users(bot, "morning_reminder") == ["admin", "chen", "lisi", "teacher",
                                                           "zhangsan"]
    assert result.enqueued == 5
    await bot.settle()
    (text,) = bot.new_messages("zhangsan")
    assert "还没有填写基本信息" in text and "basic information" in text
    seen = await bot.say("zhangsan", "1")
    assert any("基本信息" in m for m in seen)
    for answer in ("1", "2019011234", "13812345678", "1", "1", "提交"):
        seen = await bot.say("zhangsan", answer)
    assert any("基本信息已提交" in m for m in seen)
    assert any("请发送您当前的位置" in m for m in seen)  # today's report started by itself
    async with bot.db.session() as session:
        info = await session.get(BasicInfo, "zhangsan")
    assert info is not None and info.staff_no == "2019011234"


def test_the_misfire_grace_window() -> None:
    settings = Settings(schedule=ScheduleSettings(misfire_grace_minutes=60))
    at = datetime(2026, 11, 30, 7, 45, tzinfo=SHANGHAI)
    assert ("morning_reminder", TODAY) in missed_jobs(settings, at, set())
    assert missed_jobs(settings, at, {("morning_reminder", TODAY)}) == []  # already ran
    late = datetime(2026, 11, 30, 8, 31, tzinfo=SHANGHAI)
    assert ("morning_reminder", TODAY) not in missed_jobs(settings, late, set())
    evening = datetime(2026, 11, 30, 20, 10, tzinfo=SHANGHAI)
    due = [job for job, _ in missed_jobs(settings, evening, set())]
    assert due == ["admin_summary"]  # a morning reminder is never sent in the evening


async def test_basic_info_reminder_goes_to_members_without_it(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await set_member(bot, "lisi", following=False)
    await run_job(deps(bot), "basic_info_reminder")
    assert await outbox_users(bot, "basic_info_reminder") == ["admin", "chen", "maria",
                                                               "teacher"]


async def test_reviewer_digest_lists_non_reporters_of_their_units(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan", "lisi", "maria")
    await add_report(bot, "zhangsan", abnormal=True, abnormal_reasons=["fever"])
    await set_member(bot, "lisi", following=False)
    await run_job(deps(bot), "reviewer_digest")
    await bot.settle()
    (digest,) = bot.new_messages("teacher")
    assert "李四" in digest and "民族学与社会学学院" in digest
    assert "Maria" not in digest  # another unit's member
    (other,) = bot.new_messages("chen")
    assert "Maria" in other and "李四" not in other


async def test_admin_summary_counts_every_unit(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await add_report(bot, "zhangsan")
    await run_job(deps(bot), "admin_summary")
    await bot.settle()
    (summary,) = bot.new_messages("admin")
    assert "国际教育学院" in summary and "民族学与社会学学院" in summary


async def test_card_members_get_a_card_with_same_as_yesterday(bot: Bot) -> None:
    await give_basic_info(bot, "lisi", "zhangsan")
    await set_member(bot, "lisi", rendering="cards")
    bot.emulator.member("lisi").client = "wecom"
    await add_report(bot, "lisi", day=TODAY - timedelta(days=1))
    await run_job(deps(bot), "morning_reminder")
    await bot.settle()
    (card,) = bot.emulator.inbox("lisi")
    assert card.msgtype == "template_card"
    assert card.card.button_names == ["立即上报 Report now", "同昨日 As yesterday"]
    (text,) = bot.new_messages("zhangsan")
    assert "上报" in text  # the plugin member gets numbered text


def test_jobs_are_registered_with_fixed_ids_and_grace(bot: Bot) -> None:
    scheduler = build_scheduler(deps(bot), "test")
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"morning_reminder", "second_reminder", "reviewer_digest",
                         "admin_summary", "basic_info_reminder", "housekeeping"}
    assert jobs["morning_reminder"].misfire_grace_time == 3600
    assert jobs["morning_reminder"].coalesce is True


async def test_a_new_leader_catches_up_a_job_missed_within_the_window(
        bot: Bot, clock: FixedClock) -> None:
    await only_following(bot, "zhangsan")
    await give_basic_info(bot, "zhangsan")
    clock.set(datetime(2026, 11, 30, 7, 50, tzinfo=SHANGHAI))
    leader = SchedulerLeader(deps(bot), retry_seconds=0.05, start_scheduler=False)
    task = asyncio.create_task(leader.run())
    try:
        await asyncio.wait_for(leader.became_leader.wait(), 5)  # set after the catch-up
        assert await outbox_users(bot, "morning_reminder") == ["zhangsan"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.postgres
async def test_two_instances_elect_one_scheduler_and_the_standby_takes_over(
        emulator: WeComEmulator, clock: FixedClock) -> None:
    from tests.conftest import reset_postgres
    from tests.harness import postgres_url

    url = postgres_url()
    if url is None:
        pytest.skip("needs YQT_TEST_POSTGRES_URL")
    await reset_postgres(url)
    clock.set(datetime(2026, 11, 30, 7, 40, tzinfo=SHANGHAI))
    bot = await start_bot(emulator, url, clock=clock)
    try:
        await give_basic_info(bot, "zhangsan", "lisi")
        dbs = [Database(url), Database(url)]
        leaders = [SchedulerLeader(JobDeps(bot.settings, db, clock), retry_seconds=0.1,
                                   start_scheduler=False) for db in dbs]
        tasks = [asyncio.create_task(leader.run()) for leader in leaders]
        await asyncio.wait_for(asyncio.gather(*(leader.first_round.wait()
                                                for leader in leaders)), 10)
        assert sum(leader.is_leader for leader in leaders) == 1
        await bot.settle()
        assert len(emulator.inbox("zhangsan")) == 1 and len(emulator.inbox("lisi")) == 1
        first = next(i for i, leader in enumerate(leaders) if leader.is_leader)
        tasks[first].cancel()  # the leader dies; its connection (and lock) goes with it
        await asyncio.gather(tasks[first], return_exceptions=True)
        standby = leaders[1 - first]
        await asyncio.wait_for(standby.became_leader.wait(), 5)
        assert standby.is_leader
        tasks[1 - first].cancel()
        await asyncio.gather(tasks[1 - first], return_exceptions=True)
        await bot.settle()
        assert len(emulator.inbox("zhangsan")) == 1  # the new leader's catch-up sent nothing new
        for db in dbs:
            await db.dispose()
    finally:
        await bot.stop()


async def test_housekeeping_prunes_only_what_has_served_its_time(bot: Bot,
                                                                 clock: FixedClock) -> None:
    from storage.models import CardTask, Conversation, InboundEvent

    await give_basic_info(bot, "zhangsan")
    await set_member(bot, "zhangsan", rendering="cards")
    bot.emulator.member("zhangsan").client = "wecom"
    await bot.emulator.send_text("zhangsan", "上报")  # a live form and card, a dedupe row
    await bot.settle()
    await add_report(bot, "lisi")
    clock.advance(days=8)
    await bot.emulator.send_text("lisi", "状态")  # recent: must survive
    await bot.settle()

    async def count(model: type) -> int:
        async with bot.db.session() as session:
            return (await session.execute(sa.select(sa.func.count()).select_from(model))
                    ).scalar_one()

    assert await count(InboundEvent) == 2 and await count(CardTask) == 1
    weekend = await run_job(deps(bot, skip_weekends=True), "housekeeping",
                            day=date(2026, 12, 12))  # a Saturday: it runs anyway
    assert not weekend.skipped_day
    assert await count(InboundEvent) == 1  # the 8-day-old dedupe key is gone
    assert await count(Conversation) == 0  # the abandoned form is gone
    async with bot.db.session() as session:
        live = (await session.execute(sa.select(sa.func.count()).select_from(CardTask)
                                      .where(CardTask.live.is_(True)))).scalar_one()
        reports = (await session.execute(sa.select(sa.func.count()).select_from(DailyReport))
                   ).scalar_one()
    assert live == 0 and reports == 1  # cards retired, reports kept
    assert await count(Outbox) >= 1  # messages are kept for a month


async def test_a_text_reminder_is_answered_by_its_number(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan", "lisi")
    await add_report(bot, "lisi", day=TODAY - timedelta(days=1))
    assert "没有看懂" in " ".join(await bot.say("zhangsan", "1"))  # no reminder: no meaning
    await run_job(deps(bot), "morning_reminder")
    await bot.settle()
    (reminder,) = bot.new_messages("lisi")
    assert "1 立即上报" in reminder and "2 与昨日相同" in reminder
    (plain,) = bot.new_messages("zhangsan")
    assert "1 立即上报" in plain and "与昨日相同" not in plain  # no yesterday to repeat
    started = " ".join(await bot.say("lisi", "2"))
    assert "开始 2026-11-30 的健康上报" in started


async def test_a_card_member_without_basic_information_is_told_which_button(bot: Bot) -> None:
    """QA (fixes #6): the rollout-day reminder card said "reply" to members who tap cards."""
    from tests.harness import cards, tap, use_cards

    await only_following(bot, "lisi")
    await use_cards(bot, "lisi")
    await run_job(deps(bot), "morning_reminder")
    await bot.settle()
    (card,) = cards(bot, "lisi")
    assert "还没有填写基本信息" in card.text and "点“立即上报”" in card.text
    assert "回复" not in card.text and "reply" not in card.text.lower()
    seen = await tap(bot, "lisi", "report")
    assert any("开始填写基本信息" in m for m in seen), seen
