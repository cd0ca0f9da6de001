"""The WeCom access token in the database, so every instance shares one token.

gettoken is rate-limited and each call may invalidate nothing but still costs quota; with several
instances behind one PostgreSQL (or one SQLite file) the first to refresh stores the token and the
others read it. `invalidate` deletes only the token the caller saw refused, so it never throws
away a fresh token another instance just stored.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import select

from storage.db import Database
from storage.models import TokenCache

_table = TokenCache.__table__  # type: ignore[attr-defined]


class DbTokenStore:
    """`TokenStore` on the token_cache table (upsert by key)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, key: str) -> tuple[str, datetime] | None:
        async with self._db.session() as session:
            row = (await session.exec(select(TokenCache).where(TokenCache.key == key))).first()
        return None if row is None else (row.access_token, row.expires_at)

    async def put(self, key: str, token: str, expires_at: datetime) -> None:
        insert = pg_insert if self._db.is_postgres else sqlite_insert
        stmt = insert(_table).values(key=key, access_token=token, expires_at=expires_at)
        stmt = stmt.on_conflict_do_update(
            index_elements=[_table.c.key],
            set_={"access_token": stmt.excluded.access_token,
                  "expires_at": stmt.excluded.expires_at},
        )
        async with self._db.transaction() as session:
            await session.exec(stmt)

    async def invalidate(self, key: str, token: str) -> None:
        async with self._db.transaction() as session:
            await session.exec(sa.delete(TokenCache).where(
                TokenCache.key == key, TokenCache.access_token == token))
