"""Alembic's entry point, used two ways.

- By the application (storage/schema.py): it passes an open connection in
  `config.attributes["connection"]`, already inside a transaction (and, on PostgreSQL, holding
  the advisory lock), and the migrations run on it.
- By a developer at the command line (`alembic revision --autogenerate`, `alembic upgrade head`,
  from the repository root where alembic.ini lives): the database is `-x url=...`, else
  `YQT_DATABASE__URL`, else alembic.ini's `sqlalchemy.url`.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel.sql.sqltypes import AutoString

from storage.db import make_engine
from storage.models import UtcDateTime, metadata

config = context.config


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write our column types as plain SQLAlchemy types, so revisions never import models."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime()"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_item=render_item,
        # SQLite alters a table by copying it; batch mode writes revisions that do that.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_command_line() -> None:
    url = (context.get_x_argument(as_dictionary=True).get("url")
           or os.environ.get("YQT_DATABASE__URL")
           or config.get_main_option("sqlalchemy.url"))
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run_on)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
connection = config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name)
    asyncio.run(run_from_command_line())
