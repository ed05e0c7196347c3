"""One database layer, two dialects: what the store's queries run on.

Modelled on mautrix-python's ``util/async_db``: the queries (``repo.py``,
``facilitation.py``, ``privacy.py``, ``group_commit.py``) are written once, in SQL both
SQLite and PostgreSQL accept, with ``?`` placeholders, against the small :class:`Conn`
interface below. What really differs lives in :class:`Dialect`: a handful of spellings
(``GREATEST`` against SQLite's two-argument ``MAX``, ``strpos`` against ``instr``), how
a batch of post ids is taken (SQLite: ``MAX(id) + 1``, safe in its single writer;
PostgreSQL: the table's sequence) and how writers to one topic are serialised (SQLite's
``BEGIN IMMEDIATE`` already does; PostgreSQL locks the topics' rows, so post numbers,
question positions and pseudonyms taken as ``MAX(...) + 1`` stay gap-free and unique
under any number of concurrent workers). The connections, transactions and schema of
each database live in ``db.py`` (SQLite) and ``postgres.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from bridgebot.core.ports import UnitOfWork


class Row(Protocol):
    """A result row: ``sqlite3.Row`` and ``asyncpg.Record`` both read by position and name."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Any]: ...


class Dialect(Protocol):
    """The few things the two databases spell or do differently."""

    name: str
    label: str  # for people: "SQLite", "PostgreSQL"
    greatest: str  # the larger of two values: MAX(a, b) / GREATEST(a, b)
    find: str  # position of a substring, 0 when absent: instr(s, x) / strpos(s, x)

    def to_integer(self, expression: str) -> str:
        """SQL turning a text column holding digits into a 64-bit integer (NULL or 0 else)."""
        ...

    async def lock_topics(self, conn: Conn, topic_ids: Iterable[int]) -> None:
        """Keep other writers off these topics' numbering until this transaction ends."""
        ...

    async def lock_topics_reading(self, conn: Conn, topic_ids: Iterable[int], sql: str,
                                  args: Sequence[object]) -> list[Row]:
        """:meth:`lock_topics`, and this read in the same round trip where the database
        allows (what it reads is as of before the lock was granted)."""
        ...

    async def new_ids(self, conn: Conn, table: str, count: int) -> list[int]:
        """``count`` fresh ids for rows of ``table`` this transaction is about to insert."""
        ...

    async def announce(self, conn: Conn) -> None:
        """Tell other processes, once this transaction commits, that deliveries were queued."""
        ...

    def rows(self, *types: str) -> str:
        """A table ``v`` with columns ``c1, c2, ...`` (of these SQL types) read from the
        arguments :meth:`pack` makes of a list of rows. One statement text serves any
        number of rows, so it is prepared once, where a ``VALUES`` list as long as the batch
        is a new statement for every batch size (PostgreSQL: ``unnest`` of one array per
        column; SQLite: ``json_each`` of one JSON array of rows)."""
        ...

    def pack(self, rows: Sequence[Sequence[object]], width: int) -> list[object]:
        """The arguments :meth:`rows` with ``width`` columns reads ``rows`` from."""
        ...

    async def together(self, conn: Conn, statements: Sequence[tuple[str, Sequence[object]]], *,
                       announce: bool = False) -> None:
        """Run these writes, none of which reads what another of them writes, in as few
        round trips as the database allows (PostgreSQL: one statement, each write a
        ``WITH`` part; SQLite, in this process: one after the other); ``announce`` as
        :meth:`announce` does."""
        ...


class Conn(Protocol):
    """A connection inside a transaction (writes) or the reads' connection."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        """Run one statement; return how many rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...
    async def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]: ...
    async def fetchrow(self, sql: str, args: Sequence[object] = ()) -> Row | None: ...


class Db(Protocol):
    """What the store's query classes need of a database, SQLite or PostgreSQL."""

    @property
    def dialect(self) -> Dialect: ...

    def tx(self) -> AbstractAsyncContextManager[Conn]:
        """One write transaction: everything in the block commits together or not at all."""
        ...

    def within(self, work: UnitOfWork | None) -> AbstractAsyncContextManager[Conn]:
        """Join the caller's unit of work, or open a transaction of our own."""
        ...

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]: ...
    async def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]: ...
    async def checkpoint(self) -> None: ...
    async def reclaim_space(self) -> int: ...

    async def held(self, targets: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Of these delivery targets (platform, chat id), the ones this process delivers to
        now: with several workers, each target is leased to one of them at a time."""
        ...

    def is_duplicate(self, err: BaseException, table: str) -> bool: ...

    async def write_one(self, sql: str, args: Sequence[object] = ()) -> int:
        """One statement committed on its own; how many rows it changed. PostgreSQL runs it
        in one round trip (a statement outside ``BEGIN`` is its own transaction), where
        :meth:`tx` costs two more (``BEGIN``, ``COMMIT``)."""
        ...

    async def write_together(self, statements: Sequence[tuple[str, Sequence[object]]]) -> None:
        """Writes none of which reads what another writes, committed together: one
        statement on PostgreSQL (all but the last a ``WITH`` part), one round trip; one
        write transaction on SQLite."""
        ...

    def is_failure(self, err: BaseException) -> bool:
        """Whether ``err`` is the database failing (locked, full, gone), worth holding the
        work and trying again, rather than the data or a bug."""
        ...


class Work:
    """A unit of work: a connection inside an open write transaction."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn


class Transactions:
    """What both databases build on their :meth:`tx`: the core's unit of work, and joining
    one (``within=``)."""

    @property
    def dialect(self) -> Dialect:
        raise NotImplementedError

    def tx(self) -> AbstractAsyncContextManager[Conn]:
        raise NotImplementedError

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """The core's :class:`~bridgebot.core.ports.UnitOfWork`: one write transaction."""
        async with self.tx() as conn:
            yield Work(conn)

    @asynccontextmanager
    async def within(self, work: UnitOfWork | None) -> AsyncIterator[Conn]:
        """Join the caller's unit of work, or open a transaction of our own."""
        if work is None:
            async with self.tx() as own:
                yield own
        elif isinstance(work, Work) and work.conn.dialect is self.dialect:
            yield work.conn
        else:
            raise TypeError(f"not a unit of work of this {self.dialect.label} store: {work!r}")


def marks(values: Sequence[object]) -> str:
    """``?, ?, ?``: one placeholder per value, for ``IN (...)``."""
    return ",".join("?" for _ in values)


class Queries:
    """Base of the store's query classes: reads that run to completion in one call."""

    def __init__(self, db: Db) -> None:
        self.db = db

    async def _all(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        return await self.db.fetch(sql, args)

    async def _one(self, sql: str, args: Sequence[object] = ()) -> Row | None:
        return next(iter(await self.db.fetch(sql, args)), None)
