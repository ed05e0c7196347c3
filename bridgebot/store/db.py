"""The SQLite connection: pragmas at connect, one writer, explicit transactions.

Modelled on mautrix-python's ``util/async_db/aiosqlite.py``: the connection runs in
autocommit mode so that every write transaction is opened explicitly with
``BEGIN IMMEDIATE`` (taking the write lock up front, so two writers never deadlock
half-way), and an asyncio lock makes this process a single writer. Reads go through
a second connection; WAL lets them run beside a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from bridgebot.store.backup import DatabaseLock, backup_before_migration
from bridgebot.store.migrations import LATEST, current_version, upgrade
from bridgebot.store.sql import Conn, Dialect, Queries, Row, Transactions, Work

__all__ = ["SQLITE", "Database", "DatabaseUnusable", "Queries", "SqliteConn", "Work", "is_failure",
           "stored_version"]

log = logging.getLogger(__name__)

INCREMENTAL = 2  # PRAGMA auto_vacuum's value for incremental vacuum

PRAGMAS = (
    # Before WAL: on a new file this is what makes freed pages returnable (see
    # Database.reclaim_space); on an existing one it waits for the VACUUM in open().
    "PRAGMA auto_vacuum=INCREMENTAL",
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    # FULL: a post acknowledged to a platform is on disk, even across a power cut.
    "PRAGMA synchronous=FULL",
    # Erased text is overwritten with zeros, not left in free pages (/forgetme, retention).
    "PRAGMA secure_delete=ON",
)


class SqliteDialect:
    """SQLite's spellings; its writers are already serialised by ``BEGIN IMMEDIATE`` and
    this process's write lock, so numbering from ``MAX(...) + 1`` needs no row locks."""

    name = "sqlite"
    label = "SQLite"
    greatest = "MAX"
    find = "instr"

    def to_integer(self, expression: str) -> str:
        return f"CAST({expression} AS INTEGER)"

    async def lock_topics(self, conn: Conn, topic_ids: Iterable[int]) -> None:
        return None  # the write transaction already excludes every other writer

    async def announce(self, conn: Conn) -> None:
        return None  # one process: the core wakes its own relay

    async def lock_topics_reading(self, conn: Conn, topic_ids: Iterable[int], sql: str,
                                  args: Sequence[object]) -> list[Row]:
        return await conn.fetch(sql, args)  # the write transaction already excludes the others

    def rows(self, *types: str) -> str:
        columns = ", ".join(f"json_extract(value, '$[{n}]') AS c{n + 1}" for n in range(len(types)))
        return f"(SELECT {columns} FROM json_each(?)) AS v"

    def pack(self, rows: Sequence[Sequence[object]], width: int) -> list[object]:
        return [json.dumps([list(row) for row in rows], ensure_ascii=False)]

    async def together(self, conn: Conn, statements: Sequence[tuple[str, Sequence[object]]], *,
                       announce: bool = False) -> None:
        for sql, args in statements:
            await conn.execute(sql, args)

    async def new_ids(self, conn: Conn, table: str, count: int) -> list[int]:
        row = await conn.fetchrow(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        first = int(row[0] if row is not None else 0) + 1
        return list(range(first, first + count))


SQLITE = SqliteDialect()


class SqliteConn:
    """An aiosqlite connection behind the store's neutral :class:`~bridgebot.store.sql.Conn`."""

    dialect = SQLITE

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        cur = await self.conn.execute(sql, args)
        try:
            return cur.rowcount
        finally:
            await cur.close()

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        await self.conn.executemany(sql, list(rows))

    async def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        return list(await self.conn.execute_fetchall(sql, args))

    async def fetchrow(self, sql: str, args: Sequence[object] = ()) -> Row | None:
        return next(iter(await self.fetch(sql, args)), None)


class DatabaseUnusable(RuntimeError):
    """The database file cannot be used (corrupt, truncated, read-only, another program's):
    one line for the operator, never a traceback."""


def _refuse_other_kinds(path: Path) -> None:
    """A folder, a FIFO or a device at the database's path is refused before its lock file
    is made beside it: SQLite's answer was "disk I/O error", which names no cause."""
    if path.is_dir():
        raise DatabaseUnusable(f"the database {path} is a folder: set `database` to the database "
                               "file in it")
    if path.exists() and not path.is_file():
        raise DatabaseUnusable(f"the database {path} is not a regular file (a FIFO, a socket or "
                               "a device): set `database` to a file")


def _check_ours(path: Path) -> None:
    """Refuse another program's database before anything is written into it (opened
    read-only, so a foreign or damaged file is left exactly as it was)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        _refuse_foreign(path, conn)
    finally:
        conn.close()


def _refuse_foreign(path: Path, conn: sqlite3.Connection) -> bool:
    """Raise :class:`DatabaseUnusable` when the file holds another program's tables; whether
    it holds bridgebot's version table."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "schema_version" not in tables:
        raise DatabaseUnusable(
            f"the database {path} belongs to another program (it has tables such as "
            f"{sorted(tables)[0]!r} but no bridgebot schema); point `database` at another file")
    return "schema_version" in tables


def stored_version(path: Path) -> int | None:
    """The schema version of the existing SQLite file ``path`` (None: no bridgebot tables
    yet), read without changing the disk, for a look before starting (``check-config``).
    Raises :class:`DatabaseUnusable` as :meth:`Database.open` would (not a database,
    damaged, unreadable, another program's).

    Read only (``mode=ro``), and as ``immutable`` while no process has the file open (no
    ``-wal`` beside it): a read-only connection to a WAL database otherwise makes the
    ``-wal`` and ``-shm`` files and, unable to remove them, leaves them behind. A bot that
    starts during the look makes the ``-wal``: the version is then read again the usual way."""
    wal = Path(f"{path}-wal")
    try:
        immutable = not wal.exists()
        found = _read_version(path, immutable=immutable)
        if immutable and wal.exists():  # a bot started meanwhile
            found = _read_version(path, immutable=False)
        return found
    except sqlite3.DatabaseError as err:  # not a database, damaged, unreadable
        raise DatabaseUnusable(f"the database {path} cannot be used: {err}") from None


def _read_version(path: Path, *, immutable: bool) -> int | None:
    flags = "mode=ro&immutable=1" if immutable else "mode=ro"
    try:
        where = path.resolve().as_uri()
    except RuntimeError:  # Python before 3.13 says so of a loop of symbolic links
        raise DatabaseUnusable(f"the database {path} cannot be used: it is a loop of symbolic "
                               "links; point `database` at the file itself") from None
    conn = sqlite3.connect(f"{where}?{flags}", uri=True)
    try:
        if not _refuse_foreign(path, conn):
            return None
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else 0
    finally:
        conn.close()


class Database(Transactions):
    """Owns the writer and reader connections of one SQLite file."""

    @property
    def dialect(self) -> Dialect:
        return SQLITE

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._file_lock: DatabaseLock | None = None
        # The automatic backup made before this open migrated the schema, if it did.
        self.migration_backup: Path | None = None

    async def open(self) -> None:
        """Connect, set pragmas and bring the schema to the latest version.

        A database file is held with a shared lock while open (``bridgebot restore`` waits
        for none); an older schema is first copied into ``backups/`` beside it."""
        in_memory = str(self.path) == ":memory:"
        if not in_memory:
            _refuse_other_kinds(self.path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file_lock = DatabaseLock(self.path)
            self._file_lock.acquire(exclusive=False)
        try:
            if not in_memory:
                await asyncio.to_thread(_check_ours, self.path)
            self._writer = await self._connect()
            found = await current_version(self._writer)
            if not in_memory and 0 < found < LATEST:
                self.migration_backup = await asyncio.to_thread(
                    backup_before_migration, self.path, found, LATEST)
                log.info("schema version %d is older than %d: backed up to %s before upgrading",
                         found, LATEST, self.migration_backup)
            await upgrade(self._writer)
            await self._incremental_vacuum()
            self._reader = await self._connect()
        except sqlite3.DatabaseError as err:  # corrupt, truncated, read-only, not a database
            await self.close()
            raise DatabaseUnusable(f"the database {self.path} cannot be used: {err}") from None
        except BaseException:
            await self.close()
            raise

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            for pragma in PRAGMAS:
                await conn.execute(pragma)
        except BaseException:
            await conn.close()  # its thread would otherwise keep the process alive for ever
            raise
        return conn

    async def _incremental_vacuum(self) -> None:
        """Give a database made before incremental vacuum that mode, once.

        SQLite only changes ``auto_vacuum`` on a file that has tables by rewriting it
        (``VACUUM``), which needs about the file's size in free disk and a moment per
        100 MB. The file's header records the mode, so this runs once; if it cannot (a full
        disk), bridgebot runs on: freed pages are still reused, the file just does not
        shrink, and the next start tries again.
        """
        assert self._writer is not None
        async with self._writer.execute("PRAGMA auto_vacuum") as cur:
            row = await cur.fetchone()
        if row is None or row[0] == INCREMENTAL or str(self.path) == ":memory:":
            return
        size = self.path.stat().st_size if self.path.exists() else 0
        log.info("switching the database to incremental vacuum (once; %.1f MB to rewrite)",
                 size / 1e6)
        try:
            await self._writer.execute("PRAGMA auto_vacuum=INCREMENTAL")
            await self._writer.execute("VACUUM")
            await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as err:
            log.warning("could not switch the database to incremental vacuum (%s); freed space "
                        "is reused but the file will not shrink until it can", err)

    async def reclaim_space(self) -> int:
        """Return free pages to the file system and empty the WAL; return the bytes freed.

        With ``auto_vacuum=INCREMENTAL`` deleted rows leave free pages that
        ``incremental_vacuum`` cuts off the file's end (run through ``executescript``: a
        plain ``execute`` steps it once, freeing one page). Then a truncating checkpoint
        keeps the WAL from staying as large as the biggest deletion.
        """
        if self._writer is None:
            raise RuntimeError("database is not open")
        async with self._write_lock:
            conn = self._writer
            async with conn.execute("PRAGMA page_size") as cur:
                page = (await cur.fetchone() or (4096,))[0]
            async with conn.execute("PRAGMA freelist_count") as cur:
                before = (await cur.fetchone() or (0,))[0]
            await conn.executescript("PRAGMA incremental_vacuum;")
            async with conn.execute("PRAGMA freelist_count") as cur:
                after = (await cur.fetchone() or (0,))[0]
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(before - after) * int(page)

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("database is not open")
        return self._reader

    async def checkpoint(self) -> None:
        """Write the WAL into the database file and truncate it, so text just erased
        survives in neither (the reader may hold an old snapshot: it is renewed first)."""
        if self._writer is None:
            return
        async with self._write_lock:
            if self._reader is not None:
                await self._reader.execute_fetchall("SELECT 1")  # end any stale read snapshot
            rows = await self._writer.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
            busy = next(iter(rows))[0] if rows else 0
            if busy:
                log.warning("the WAL could not be emptied after an erasure (a reader was busy); "
                            "it will be at the next checkpoint")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: everything in the block commits together or not at all."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        async with self._write_lock:
            conn = self._writer
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                # Also when COMMIT itself failed (disk full, I/O error): a transaction left
                # open would refuse every later BEGIN.
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        await conn.execute("ROLLBACK")
                raise

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[Conn]:
        """One write transaction, through the store's neutral :class:`~bridgebot.store.sql.Conn`."""
        async with self.transaction() as conn:
            yield SqliteConn(conn)

    async def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        """A read on the reader connection, run to completion in one call: a statement left
        half-stepped would pin the reader to an old WAL snapshot while other tasks read."""
        return list(await self.reader.execute_fetchall(sql, args))

    async def held(self, targets: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Every target: SQLite has one process delivering (see :meth:`open`'s lock)."""
        return set(targets)

    async def write_one(self, sql: str, args: Sequence[object] = ()) -> int:
        async with self.tx() as tx:  # the write lock and BEGIN IMMEDIATE, as every write
            return await tx.execute(sql, args)

    async def write_together(self, statements: Sequence[tuple[str, Sequence[object]]]) -> None:
        async with self.tx() as tx:
            for sql, args in statements:
                await tx.execute(sql, args)

    def is_duplicate(self, err: BaseException, table: str) -> bool:
        """Whether ``err`` is a UNIQUE key of ``table`` refusing a row it already holds."""
        return isinstance(err, sqlite3.IntegrityError) and table in str(err)

    def is_failure(self, err: BaseException) -> bool:
        return is_failure(err)


def is_failure(err: BaseException) -> bool:
    """Whether ``err`` comes from SQLite itself (locked past the busy timeout, disk full,
    I/O error, corrupt): worth holding the work and trying again, unlike a constraint
    broken by the data or a misuse (a bug), which trying again cannot fix."""
    return isinstance(err, sqlite3.Error) and not isinstance(
        err, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError))
