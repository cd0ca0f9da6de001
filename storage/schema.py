"""Bring a database to the newest schema: `alembic upgrade head`, run from the application.

Every command that opens the database calls `upgrade_to_head` (through
`Database.create_schema`). Revisions live in storage/migrations/versions; README "Schema
migrations" says how to add one.
"""

from __future__ import annotations

import asyncio
import weakref
from functools import cache

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

# The revision that describes the schema `create_all` made up to commit 673a0a6.
BASELINE = "0001"
# Serialises schema changes between instances starting together on PostgreSQL.
SCHEMA_LOCK = 74737001


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "storage:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads {heads}; merge them")
    return heads[0]


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection) -> None:
    current = current_revision(connection)
    if current == head_revision():
        return
    config = alembic_config(connection)
    if current is None and sa.inspect(connection).has_table("member"):
        # Created by create_all before migrations existed: it already has the baseline tables.
        command.stamp(config, BASELINE)
    command.upgrade(config, "head")


# Alembic keeps its running context in module globals: one migration at a time per process.
_process_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary())


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """Create the schema in an empty database, or upgrade an existing one, in one transaction."""
    lock = _process_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock, engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            # SQLite: take the write lock first, so a second process waits instead of
            # creating the same tables; SQLite's DDL is transactional (storage/db.py emits
            # the BEGIN it is told).
            await conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        async with conn.begin():
            if conn.dialect.name == "postgresql":
                # Several instances may start together: one migrates, the others wait, then
                # find the database at head.
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": SCHEMA_LOCK})
            await conn.run_sync(_upgrade)
