"""Shared fixtures: a controllable clock, the emulator, and the bot on SQLite or PostgreSQL.

Tests that take `db_url` run on SQLite always and on PostgreSQL when YQT_TEST_POSTGRES_URL
names a server (CI sets it; `.ci/run` runs `pytest -m postgres`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings

from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from bot.settings import PrivacySettings
from storage.db import Database
from tests.harness import (
    ROSTER,
    Bot,
    new_emulator,
    postgres_url,
    seed_roster,
    sqlite_url,
    start_bot,
)

# Property-based tests: a fast default for every run and CI, a long one for a nightly run
# (HYPOTHESIS_PROFILE=nightly). No deadline: the machine running CI is shared and slow.
settings.register_profile("ci", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("nightly", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SHANGHAI = ZoneInfo("Asia/Shanghai")
NO_POSTGRES = "PostgreSQL tests need YQT_TEST_POSTGRES_URL (CI sets it)"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI), SHANGHAI)


@pytest.fixture
async def emulator(clock: FixedClock) -> AsyncIterator[WeComEmulator]:
    emu = await new_emulator(clock)
    yield emu
    await emu.close()


#: The tables a freshly migrated database has (learnt by the first full reset in the process).
_head_tables: frozenset[str] | None = None


async def reset_postgres(url: str, *, migrate: bool = True) -> None:
    """Empty the test database: no tables at all, or (`migrate`) the newest schema, no rows.

    A database already at the newest schema, with the same tables as a fresh one, is emptied
    in place (TRUNCATE): migrating from nothing for each of the PostgreSQL tests cost about a
    quarter of the PostgreSQL suite. Anything else (a migration test's older revision, an extra
    or missing table) is dropped and migrated again."""
    global _head_tables
    from storage.schema import head_revision

    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            tables = frozenset(await conn.run_sync(
                lambda sync: sa.inspect(sync).get_table_names()))
            at_head = migrate and tables == _head_tables and (await conn.execute(
                sa.text("SELECT version_num FROM alembic_version"))).scalar() == head_revision()
            if at_head:
                names = ", ".join(f'"{t}"' for t in sorted(tables - {"alembic_version"}))
                await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                return
            await conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            await conn.execute(sa.text("CREATE SCHEMA public"))
        if migrate:
            await db.create_schema()
            async with db.engine.connect() as conn:
                _head_tables = frozenset(await conn.run_sync(
                    lambda sync: sa.inspect(sync).get_table_names()))
    finally:
        await db.dispose()


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await db.create_schema()
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file brought to head by the migrations; each test gets a copy of it."""
    path = tmp_path_factory.mktemp("schema") / "head.db"
    asyncio.run(_migrate(f"sqlite:///{path}"))
    return path


class RosterTemplates:
    """SQLite files at head holding the test roster as `start_bot` imports it at a given time,
    made once per session (by the harness's own `seed_roster`) and copied per test: the import
    is the bigger half of starting the bot, and the same rows every time."""

    def __init__(self, directory: Path, migrated: Path) -> None:
        self._directory = directory
        self._migrated = migrated
        self._made: dict[datetime, Path] = {}

    async def at(self, now: datetime) -> Path:
        if now not in self._made:
            path = self._directory / f"roster-{len(self._made)}.db"
            shutil.copyfile(self._migrated, path)
            db = Database(f"sqlite:///{path}")
            try:
                await seed_roster(db, ROSTER, now,
                                  notice_version=PrivacySettings().notice_version)
            finally:
                await db.dispose()
            self._made[now] = path
        return self._made[now]


@pytest.fixture(scope="session")
def roster_templates(tmp_path_factory: pytest.TempPathFactory,
                     migrated_sqlite: Path) -> RosterTemplates:
    return RosterTemplates(tmp_path_factory.mktemp("roster"), migrated_sqlite)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path,
                 migrated_sqlite: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
        shutil.copyfile(migrated_sqlite, url.removeprefix("sqlite:///"))
        yield url
        return
    url = postgres_url()
    if url is None:
        pytest.skip(NO_POSTGRES)
    await reset_postgres(url)
    yield url


@pytest.fixture
async def bot(emulator: WeComEmulator, db_url: str, clock: FixedClock,
              roster_templates: RosterTemplates) -> AsyncIterator[Bot]:
    """The bot with the test roster (tests/harness.py ROSTER), everyone past the privacy
    notice. On SQLite the roster comes in a copy of a template made the same way."""
    imported = db_url.startswith("sqlite:///")
    if imported:
        shutil.copyfile(await roster_templates.at(clock.now()), db_url.removeprefix("sqlite:///"))
    b = await start_bot(emulator, db_url, clock=clock, roster_imported=imported)
    yield b
    await b.stop()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """The whole suite (`pytest` without paths: the README's command, `.ci/run`) runs on one
    pytest-xdist worker per core; worksteal: a worker that runs out takes over another's
    queued tests. Named files or tests run in one process (a worker takes seconds to start),
    and so does everything with `-n0` or without pytest-xdist installed (an older venv);
    `-n 2` asks for workers anyway."""
    if (config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput")
            and config.option.numprocesses is None
            and config.args_source == pytest.Config.ArgsSource.TESTPATHS):
        config.option.numprocesses = "auto"
        if config.option.dist == "no":
            config.option.dist = "worksteal"


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown without it
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: one worker per core on SQLite. The PostgreSQL tests share the one database
    YQT_TEST_POSTGRES_URL names and empty it per test, so a run that includes them stays in
    one process."""
    if postgres_url() is not None:
        return 0
    return None  # pytest-xdist's own count: the cores


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    # From the reports, not from the fixture: under xdist the fixture runs in the workers.
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if isinstance(r.longrepr, tuple) and NO_POSTGRES in str(r.longrepr[2])]
    if skipped:
        terminalreporter.write_line(
            f"PostgreSQL tests skipped ({len(skipped)}): set YQT_TEST_POSTGRES_URL "
            "to run them; .ci/run does.")
