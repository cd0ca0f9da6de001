"""One async engine for SQLite (single instance) and PostgreSQL (several instances)."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.schema import current_revision, head_revision, upgrade_to_head

# aiosqlite logs every statement with its parameters (answers, mobiles, coordinates) at DEBUG:
# keep it quiet whatever level the application logs at.
logging.getLogger("aiosqlite").setLevel(logging.WARNING)


def async_url(url: str) -> str:
    """Accept the plain URLs operators write and pick the async driver."""
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = async_url(url)
    # Statement parameters carry answers, mobiles and coordinates: never in an error message.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        # SQLite has one writer: a single pooled connection serialises our transactions in
        # process instead of failing with "database is locked", and WAL lets a CLI read beside.
        kwargs.setdefault("async_creator", lambda: _inline_sqlite(engine))
        if ":memory:" in url or url.endswith("://"):
            engine = create_async_engine(url, poolclass=StaticPool, **kwargs)
        else:
            _create_private(url)
            engine = create_async_engine(url, poolclass=AsyncAdaptedQueuePool, pool_size=1,
                                         max_overflow=0, pool_timeout=60, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            # No waiting inside a statement: statements run on the loop's thread
            # (InlineSqlite), and a wait for another process's lock happens in the worker.
            cursor.execute("PRAGMA busy_timeout=0")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
            # The driver's own implicit transactions break SAVEPOINT (the group commit's
            # per-callback isolation): let SQLAlchemy emit BEGIN itself (SQLAlchemy's
            # documented recipe for pysqlite/aiosqlite).
            dbapi_conn.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # "BEGIN IMMEDIATE" where a connection asks for the write lock up front.
            conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))

        return engine
    # No pool_pre_ping: it cost a round trip (and 5 % of a worker's CPU in the morning bench)
    # before every transaction. A connection the server dropped fails its first statement
    # instead; SQLAlchemy then recycles every connection older than the failure, and the
    # callers retry on a fresh one: the callback processor applies the batch again one by one,
    # a scheduled job runs again at once (scheduler/jobs.py), the sender on its next round.
    # A web page request that meets a dropped connection fails once (500) and changes
    # nothing. tests/test_chaos.py and tests/test_scheduler.py drop every pooled connection
    # and lose nothing.
    return create_async_engine(url, pool_size=10, max_overflow=10, **kwargs)


class InlineSqlite(aiosqlite.Connection):
    """aiosqlite, except that statements run on the event loop's thread; only the COMMIT of a
    transaction that wrote (the one call that waits for the disk) and connect/close go to
    aiosqlite's worker thread.

    A statement on our small tables takes tens of microseconds; handing it to the worker thread
    and back (a queue, a future, a loop wake-up and two GIL hand-overs per call, three calls
    per statement) cost more than the statement itself — about a third of a callback's CPU
    (README, Benchmarks). Nothing is lost by not overlapping the SQL with the loop: SQLite has
    one connection here, so every other database user waits for it either way.

    The loop's thread never waits for a lock: the connection's busy timeout is 0, and a
    statement that finds the database locked by another process (a CLI `roster import` or
    `form publish` beside the server) is run again in the worker thread, which waits up to
    BUSY_TIMEOUT_MS for the lock as aiosqlite would, while the loop goes on serving (/healthz,
    callbacks queue for the connection). A statement that returned SQLITE_BUSY changed nothing,
    so running it again is what SQLite's own busy handler does.
    """

    _changes_committed = 0
    # Calls handed to the worker thread and calls it has finished. Each counter has one writer
    # (the loop's thread, the worker thread), so neither needs a lock.
    _queued = 0
    _finished = 0

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        connection = self._connection
        if self._queued != self._finished or fn == connection.close:
            # The worker is still running a call — e.g. a COMMIT whose awaiting task was
            # cancelled at shutdown, after which SQLAlchemy rolls back or closes the connection.
            # Two threads must never use the sqlite3 connection at once (closing it under a
            # running COMMIT crashes the interpreter): queue behind it, in order.
            return await self._in_worker(fn, *args, **kwargs)
        if fn == connection.commit and connection.total_changes != self._changes_committed:
            # A transaction that wrote: its COMMIT waits for the disk (synchronous=FULL).
            result = await self._in_worker(_waiting(connection, fn), *args, **kwargs)
            self._changes_committed = connection.total_changes
            return result
        try:
            return fn(*args, **kwargs)  # anything else, and the COMMIT of a read-only one
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:  # not BUSY_SNAPSHOT: waiting
                raise                                           # would not help that one
        return await self._in_worker(_waiting(connection, fn), *args, **kwargs)

    async def _in_worker(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        def counted() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self._finished += 1  # on the worker thread, even if the awaiter is gone

        self._queued += 1
        return await super()._execute(counted)


BUSY_TIMEOUT_MS = 10_000


def _waiting(connection: sqlite3.Connection, fn: Any) -> Any:
    """`fn`, run in the worker thread with SQLite's busy handler waiting for the lock."""

    def call(*args: Any, **kwargs: Any) -> Any:
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            return fn(*args, **kwargs)
        finally:
            connection.execute("PRAGMA busy_timeout=0")

    return call


async def _inline_sqlite(engine: AsyncEngine) -> InlineSqlite:
    args, opts = engine.sync_engine.dialect.create_connect_args(engine.sync_engine.url)
    # The sqlite3 connection is used from the loop's thread and the worker thread (one at a
    # time: SQLAlchemy awaits every call).
    opts["check_same_thread"] = False
    database = args[0] if args else ":memory:"
    connection = InlineSqlite(lambda: sqlite3.connect(database, **opts), 64)
    connection._thread.daemon = True  # as SQLAlchemy's aiosqlite dialect does
    return await connection


def _create_private(url: str) -> None:
    """Create the SQLite file readable by its owner only (0600): it holds health data. SQLite
    gives its -wal and -shm files the database file's permissions."""
    path = sa.engine.make_url(url).database
    if not path or path.startswith("file:"):
        return
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)


#: What the database driver raises; handlers catch it without importing SQLAlchemy.
DatabaseError = DBAPIError
#: A unique key refused the row (e.g. another instance recorded the same callback first).
DuplicateError = IntegrityError


def is_transient(exc: DatabaseError) -> bool:
    """Worth retrying (a deadlock, a serialisation failure, a dropped connection)? A value the
    database refuses (too long, out of range, a duplicate key) fails the same way every time."""
    return not isinstance(exc, IntegrityError | ProgrammingError | DataError)


def is_postgres(engine_or_session: Any) -> bool:
    bind = getattr(engine_or_session, "bind", engine_or_session)
    return bind.dialect.name == "postgresql"


def insert_ignore(session_or_engine: Any, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for whichever dialect we are on."""
    dialect = getattr(session_or_engine, "bind", session_or_engine).dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    return stmt.on_conflict_do_nothing()


def in_values(column: Any, name: str, postgres: bool) -> Any:
    """`column IN (:name…)`, on PostgreSQL `column = ANY(:name)`: one SQL text whatever the
    number of values, so asyncpg prepares it once per connection instead of once per batch
    size. For statements built once and executed with `{name: [values]}`."""
    if postgres:
        return column == sa.any_(sa.bindparam(name, type_=ARRAY(sa.String)))
    return column.in_(sa.bindparam(name, expanding=True))


class Database:
    """The engine plus a session factory; one per process."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession,
                                            expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return is_postgres(self.engine)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed on success and rolled back on any error.

        On SQLite it begins IMMEDIATE, taking the write lock up front: a deferred transaction
        that has read and then writes while another process (a CLI command) holds the lock
        gets SQLITE_BUSY at once, without waiting — SQLite cannot let a reader upgrade — while
        BEGIN IMMEDIATE waits for the lock (in the worker thread, InlineSqlite)."""
        async with self._sessions() as session, session.begin():
            if not self.is_postgres:
                await session.connection(execution_options={"sqlite_begin": "BEGIN IMMEDIATE"})
            yield session

    async def create_schema(self) -> None:
        """Create the schema or upgrade it to the newest revision (storage/schema.py)."""
        await upgrade_to_head(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def autovacuum_off(self) -> bool:
        """PostgreSQL whose autovacuum is off: its tables are never analysed, so a plan that
        asyncpg cached while a table was empty (a sequential scan) is kept as the table grows
        to hundreds of thousands of rows. (Seen on a test server: the morning bench's dedupe
        lookup read 700 million rows in 15 minutes.)"""
        if not self.is_postgres:
            return False
        async with self.engine.connect() as conn:
            return (await conn.exec_driver_sql("SHOW autovacuum")).scalar() == "off"


@asynccontextmanager
async def open_database(url: str, **engine_kwargs: Any) -> AsyncIterator[Database]:
    """The database at `url` with its schema created or upgraded, disposed on leaving: how every
    command and the server open the database."""
    db = Database(url, **engine_kwargs)
    try:
        await db.create_schema()
        yield db
    finally:
        await db.dispose()


async def readiness(db: Database, *, timeout: float = 2.0) -> tuple[bool, str]:
    """(ready, reason): the database answers within `timeout` and its schema is the one this
    code expects. Never raises; the reason names the problem without connection details."""
    import asyncio

    async def probe() -> str | None:
        async with db.engine.connect() as conn:
            return await conn.run_sync(current_revision)

    try:
        revision = await asyncio.wait_for(probe(), timeout)
    except TimeoutError:
        return False, "database did not answer in time"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return False, f"database unreachable ({type(exc).__name__})"
    if revision != head_revision():
        return False, f"schema revision {revision}, expected {head_revision()}"
    return True, "ok"
