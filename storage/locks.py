"""A PostgreSQL advisory lock held for as long as its own connection lives: whoever holds it
leads (the scheduler election). On SQLite there is one instance, which always holds it."""

from __future__ import annotations

import contextlib

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database


class HeldLock:
    def __init__(self, db: Database, key: int) -> None:
        self._db = db
        self._key = key
        self._conn: AsyncConnection | None = None

    async def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never waits."""
        if not self._db.is_postgres:
            return True
        conn = await self._db.engine.connect()
        try:
            got = bool((await conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                           {"k": self._key})).scalar_one())
            await conn.commit()
        except BaseException:  # also cancelled mid-query: drop the connection for good
            with contextlib.suppress(Exception):
                await conn.invalidate()
            raise
        if got:
            self._conn = conn
        else:
            await conn.close()
        return got

    async def still_held(self) -> bool:
        """False once the lock's connection is gone (the server may have given it away)."""
        if self._conn is None:
            return True
        try:
            await self._conn.execute(sa.text("SELECT 1"))
            await self._conn.commit()
            return True
        except Exception:
            return False

    async def release(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            # A closed connection goes back to the pool with its session alive, so the lock
            # must be released first; if that fails, drop the connection for good.
            await conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            await conn.commit()
            await conn.close()
        except Exception:
            with contextlib.suppress(Exception):
                await conn.invalidate()
