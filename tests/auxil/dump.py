"""What a test reads from a database beside the store's own queries, on either store."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from bridgebot.store import AnyDatabase
from bridgebot.store.postgres import PgDatabase


def setting_of(db: AnyDatabase) -> Path | str:
    """The ``database`` setting that opens ``db`` again (another process's view of it)."""
    return db.dsn if isinstance(db, PgDatabase) else db.path


async def rows(db: AnyDatabase, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """``sql`` (``?`` placeholders) as tuples, on either store."""
    return [tuple(r) for r in await db.fetch(sql, args)]


async def everything(db: AnyDatabase) -> str:
    """Every row of every table as text: where a test looks for words that must be gone.

    SQLite: the file's SQL dump. PostgreSQL: each table of the schema, every row cast to
    text (every column, whatever its type)."""
    if not isinstance(db, PgDatabase):
        def dump(path: Path) -> str:
            with sqlite3.connect(path) as conn:
                return "\n".join(conn.iterdump())
        return await asyncio.to_thread(dump, db.path)
    tables = [r[0] for r in await db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "ORDER BY table_name")]
    lines = []
    for table in tables:
        lines += [f"{table}: {r[0]}" for r in await db.fetch(f'SELECT t::text FROM "{table}" t')]
    return "\n".join(lines)
