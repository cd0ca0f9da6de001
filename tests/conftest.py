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
from storage.db import Database
from tests.harness import Bot, new_emulator, postgres_url, sqlite_url, start_bot

# Property-based tests: a fast default for every run and CI, a long one for a nightly run
# (HYPOTHESIS_PROFILE=nightly). No deadline: the machine running CI is shared and slow.
settings.register_profile("ci", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("nightly", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SHANGHAI = ZoneInfo("Asia/Shanghai")
_skipped_postgres: list[str] = []


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI), SHANGHAI)


@pytest.fixture
async def emulator(clock: FixedClock) -> AsyncIterator[WeComEmulator]:
    emu = await new_emulator(clock)
    yield emu
    await emu.close()


async def reset_postgres(url: str, *, migrate: bool = True) -> None:
    """Empty the test database: no tables at all, or (`migrate`) the newest schema, no rows."""
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            await conn.execute(sa.text("CREATE SCHEMA public"))
        if migrate:
            await db.create_schema()
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
        _skipped_postgres.append(request.node.nodeid)
        pytest.skip("PostgreSQL tests need YQT_TEST_POSTGRES_URL (CI sets it)")
    await reset_postgres(url)
    yield url


@pytest.fixture
async def bot(emulator: WeComEmulator, db_url: str, clock: FixedClock) -> AsyncIterator[Bot]:
    b = await start_bot(emulator, db_url, clock=clock)
    yield b
    await b.stop()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    if _skipped_postgres:
        terminalreporter.write_line(
            f"PostgreSQL tests skipped ({len(_skipped_postgres)}): set YQT_TEST_POSTGRES_URL "
            "to run them; .ci/run does.")
