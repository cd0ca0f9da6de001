"""Schema migrations: the revisions build exactly the models, there is one head, and a
database created by `create_all` at commit 673a0a6 (before migrations) opens with every row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from storage import conversations
from storage.db import Database
from storage.models import (
    Alert,
    AuditLog,
    BasicInfo,
    CardTask,
    Conversation,
    DailyReport,
    InboundEvent,
    JobRun,
    Member,
    Outbox,
    ReviewerAssignment,
    TokenCache,
    Unit,
    metadata,
)
from storage.schema import BASELINE, alembic_config, head_revision
from tests.conftest import reset_postgres
from tests.harness import postgres_url, sqlite_url, start_bot

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path, "empty.db")
        return
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL tests need YQT_TEST_POSTGRES_URL (CI sets it)")
    await reset_postgres(url, migrate=False)
    yield url


def statements(path: Path) -> list[str]:
    lines = [line for line in path.read_text("utf-8").splitlines()
             if not line.startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip()]


async def create_673a0a6_database(url: str) -> None:
    """The tables `create_all` made at 673a0a6, filled with rows that version wrote."""
    db = Database(url)
    dialect = "postgresql" if db.is_postgres else "sqlite"
    try:
        async with db.engine.begin() as conn:
            for sql in statements(FIXTURES / f"schema_673a0a6.{dialect}.sql"):
                await conn.exec_driver_sql(sql)
            for sql in statements(FIXTURES / "data_673a0a6.sql"):
                await conn.exec_driver_sql(sql.rstrip(";"))
            if dialect == "postgresql":
                # Rows were inserted with explicit ids; move the sequences past them as the
                # application's own inserts would have.
                for table in ("daily_report", "alert", "outbox", "audit_log"):
                    await conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))")
    finally:
        await db.dispose()


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision())


def test_the_migrations_have_a_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [head_revision()], (
        f"{len(heads)} heads {heads}: re-point the newest revision's down_revision")


async def test_upgrade_head_builds_exactly_the_models(empty_url: str) -> None:
    db = Database(empty_url)
    try:
        await db.create_schema()
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), metadata))
        assert diff == [], ("the models and the migrations differ; add a revision "
                            f"(README: Schema migrations): {diff}")
        assert await current_revision(db) == head_revision()
        assert await table_names(db) == set(metadata.tables) | {"alembic_version"}
    finally:
        await db.dispose()


async def test_instances_starting_together_migrate_once(empty_url: str) -> None:
    dbs = [Database(empty_url) for _ in range(3)]
    try:
        await asyncio.gather(*(db.create_schema() for db in dbs))
        async with dbs[0].engine.connect() as conn:
            versions = (await conn.execute(
                sa.text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == [head_revision()]
    finally:
        for db in dbs:
            await db.dispose()


async def answers_written_in_place(db: Database, answers: int = 5) -> tuple[int, int]:
    """(updates, HOT updates) of the conversation table while a member gives `answers` answers,
    each saved as the form does (storage/conversations.py), in one transaction."""
    started = datetime(2026, 12, 3, 7, 30, tzinfo=UTC)
    async with db.transaction() as session:
        await conversations.save(session, "zhangsan", form_id="daily_report", form_version=1,
                                 state={"step": "location"}, now=started)
    async with db.transaction() as session:
        conv = await session.get(Conversation, "zhangsan")
        for n in range(answers):
            await conversations.save(session, "zhangsan", form_id="daily_report",
                                     form_version=1, state={"step": f"q{n}", "answers": {
                                         "remarks": "体温正常 " * n}},
                                     now=started + timedelta(seconds=5 * (n + 1)), conv=conv)
            await session.flush()
        row = (await session.execute(sa.text(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
            "WHERE relname = 'conversation'"))).one()
    return int(row[0]), int(row[1])


@pytest.mark.postgres
@pytest.mark.parametrize("empty_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("schema", ["new", "upgraded from 673a0a6"])
async def test_an_answer_rewrites_the_conversation_in_place(empty_url: str, schema: str) -> None:
    """Every answer updates the member's conversation row: a HOT update on PostgreSQL (no index
    written, no dead index entry left), on a new schema and on one upgraded by migrations."""
    if schema != "new":
        await create_673a0a6_database(empty_url)
    db = Database(empty_url)
    try:
        await db.create_schema()
        updates, hot = await answers_written_in_place(db)
        assert (updates, hot) == (5, 5)
        async with db.engine.connect() as conn:
            options = (await conn.execute(sa.text(
                "SELECT reloptions FROM pg_class WHERE relname = 'conversation'"))).scalar()
        assert options == ["fillfactor=70"]
    finally:
        await db.dispose()


@pytest.fixture
async def legacy_url(empty_url: str) -> str:
    await create_673a0a6_database(empty_url)
    return empty_url


async def test_a_673a0a6_database_is_stamped_upgraded_and_keeps_every_row(
        legacy_url: str) -> None:
    db = Database(legacy_url)
    try:
        assert await current_revision(db) is None
        assert "schema_info" in await table_names(db)
        await db.create_schema()
        assert await current_revision(db) == head_revision() != BASELINE
        assert await table_names(db) == set(metadata.tables) | {"alembic_version"}

        async with db.session() as s:
            async def count(model: type) -> int:
                return (await s.execute(sa.select(sa.func.count()).select_from(model))
                        ).scalar_one()
            counts = {model.__tablename__: await count(model) for model in (
                Unit, Member, ReviewerAssignment, BasicInfo, DailyReport, Alert, Conversation,
                CardTask, InboundEvent, Outbox, JobRun, TokenCache, AuditLog)}
            assert counts == {
                "unit": 3, "member": 6, "reviewer_assignment": 2, "basic_info": 1,
                "daily_report": 3, "alert": 1, "conversation": 1, "card_task": 1,
                "inbound_event": 1, "outbox": 3, "job_run": 1, "token_cache": 1,
                "audit_log": 1}

            zhangsan = await s.get(Member, "zhangsan")
            assert (zhangsan.language, zhangsan.rendering, zhangsan.last_lat) == (
                "zh", "text", 39.9566)
            assert zhangsan.last_location_at == datetime(2026, 11, 29, 23, 45, tzinfo=UTC)
            maria = await s.get(Member, "maria")
            assert (maria.following, maria.abroad_country) == (False, "Italy")
            assert (await s.get(Unit, "民族学与社会学学院")).parent_id == "中央民族大学"
            info = await s.get(BasicInfo, "zhangsan")
            assert (info.staff_no, info.beijing_hukou, info.answers["hukou_address"]) == (
                "20261234", False, "云南省昆明市五华区")
            report = await s.get(DailyReport, 2)
            assert (report.receipt, report.report_date, report.temperature, report.abnormal,
                    report.abnormal_reasons) == (
                "LEGACY0002", date(2026, 11, 30), 37.8, True, ["fever", "symptoms"])
            proxy = await s.get(DailyReport, 3)
            assert (proxy.filled_by, proxy.proxy_reason, proxy.country) == (
                "chen", "no_phone", "Italy")
            alert = await s.get(Alert, 1)
            assert (alert.report_id, alert.acknowledged_by) == (2, None)
            conv = await s.get(Conversation, "lisi")
            assert conv.state == {"step": "temperature", "answers": {}}
            statuses = {row.dedupe_key: (row.status, row.attempts) for row in
                        (await s.execute(sa.select(Outbox))).scalars()}
            assert statuses == {"legacy:sent": ("sent", 1), "legacy:pending": ("pending", 0),
                                "legacy:dead": ("dead", 8)}
            assert (await s.get(AuditLog, 1)).detail == {"rows": 5}
            assert (await s.get(JobRun, ("remind_morning", date(2026, 11, 29)))).enqueued == 3
    finally:
        await db.dispose()


async def test_the_bot_carries_on_with_a_673a0a6_database(
        legacy_url: str, emulator: WeComEmulator, clock: FixedClock) -> None:
    bot = await start_bot(emulator, legacy_url, clock=clock)
    try:
        # The message left pending before the upgrade is delivered after it.
        await bot.settle()
        assert "遗留的待发消息 / a message left pending" in bot.new_messages("teacher")
        # Today's report, written by 673a0a6, is found: status shows it, a second one is refused.
        status = await bot.say("zhangsan", "状态")
        assert any("LEGACY0002" in m and "张三" in m for m in status), status
        again = await bot.say("zhangsan", "上报")
        assert any("今日已上报 07:50（回执号 LEGACY0002），每天只能提交一次" in m
                   for m in again), again
        # New rows get fresh ids next to the old ones.
        async with bot.db.session() as s:
            reports = (await s.execute(sa.select(sa.func.count()).select_from(DailyReport))
                       ).scalar_one()
        assert reports == 3
    finally:
        await bot.stop()
