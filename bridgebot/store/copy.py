"""``bridgebot db copy``: a SQLite database moved into PostgreSQL (or another SQLite file),
every table, then the counts compared.

The source is read in one read transaction (a consistent state while the bot goes on
writing to it: WAL lets readers keep their snapshot); the target must be empty, at the
same schema version (both are opened, so both are migrated to this bridgebot's), and is
written in one transaction: a copy that fails leaves it empty. Ids are kept (posts' numbers,
the message map and the outbox refer to them); PostgreSQL's id sequences are then moved
past the copied ids. The posts' stored files are then copied (:func:`copy_files`) from
``files/`` beside the SQLite file into the files folder the target's workers use (the
``files_dir`` setting, else PostgreSQL's ``data/files``), skipping those already there.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bridgebot.store.db import Database
from bridgebot.store.sql import Conn, Db

BATCH = 500


class CopyRefused(RuntimeError):
    """The copy cannot be made (a target that is not empty, counts that differ): one line."""


@asynccontextmanager
async def _snapshot(source: Database) -> AsyncIterator[None]:
    reader = source.reader
    await reader.execute("BEGIN")
    try:
        yield
    finally:
        await reader.execute("COMMIT")


# Tables the target's triggers fill as the posts are copied (schema 9's per-topic counts):
# copied as well, they would count every post twice.
DERIVED = frozenset({"topic_counts"})


async def _tables(source: Database) -> list[str]:
    """The source's tables, each after the tables it refers to (derived ones left out)."""
    names = [r[0] for r in await source.fetch(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name != 'schema_version' ORDER BY name") if r[0] not in DERIVED]
    refers = {name: {r["table"] for r in await source.fetch(f"PRAGMA foreign_key_list({name})")}
              - {name} for name in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and refers[n] <= set(ordered)]
        if not ready:
            raise CopyRefused(f"the tables refer to each other in a circle: {sorted(refers)}")
        ordered += ready
    return ordered


async def _count(db: Db, table: str) -> int:
    rows = await db.fetch(f"SELECT COUNT(*) FROM {table}")
    return int(rows[0][0])


async def copy_database(source: Database, target: Db) -> list[tuple[str, int]]:
    """Copy every row of ``source`` into the empty ``target``; return (table, rows) copied."""
    tables = await _tables(source)
    for table in tables:
        if await _count(target, table):
            raise CopyRefused(f"the target database is not empty ({table} has rows); copy into "
                              "a new, empty database")
    copied: list[tuple[str, int]] = []
    async with _snapshot(source), target.tx() as tx:
        for table in tables:
            columns = [r[1] for r in await source.fetch(f"PRAGMA table_info({table})")]
            names = ", ".join(columns)
            insert = (f"INSERT INTO {table} ({names}) VALUES "
                      f"({', '.join('?' for _ in columns)})")
            count, offset = 0, 0
            while True:
                rows = await source.fetch(
                    f"SELECT {names} FROM {table} ORDER BY rowid LIMIT ? OFFSET ?", (BATCH, offset))
                if not rows:
                    break
                await tx.executemany(insert, [tuple(r) for r in rows])
                count += len(rows)
                offset += len(rows)
            if "id" in columns:
                await _move_sequence(tx, table)
            copied.append((table, count))
        for table, count in copied:
            found = int((await tx.fetch(f"SELECT COUNT(*) FROM {table}"))[0][0])
            if found != count:
                raise CopyRefused(f"{table}: {count} rows read but {found} in the target; "
                                  "nothing was copied")
    return copied


async def _move_sequence(tx: Conn, table: str) -> None:
    """PostgreSQL: new rows get ids after the copied ones (SQLite counts on from MAX itself)."""
    if tx.dialect.name == "postgresql":
        await tx.fetch(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                       f"COALESCE(MAX(id), 0) + 1, false) FROM {table}")


def copy_files(source: Path, target: Path) -> tuple[int, int]:
    """Copy the stored files under ``source`` into ``target`` (content-addressed: a file
    already there under its name is that content, and is left alone); return (copied,
    already there). Each file is written under a temporary name, then renamed, so a worker
    reading ``target`` meanwhile never sees half a file."""
    copied = present = 0
    if not source.is_dir():
        return 0, 0
    same = target.is_dir() and source.resolve() == target.resolve()
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if not path.is_file() or rel.parts[0] == "tmp":
            continue
        dest = target / rel
        if same or dest.is_file():
            present += 1
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = target / "tmp" / f"copy-{uuid.uuid4().hex}"
        partial.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, partial)
        os.replace(partial, dest)
        copied += 1
    return copied, present
