"""The PostgreSQL database, through asyncpg: a pool, transactions, migrations.

Chosen by the ``database`` setting (``postgresql://user@host/db``). The store's queries are
the same as on SQLite (:mod:`bridgebot.store.sql`); what this module adds is PostgreSQL's
side of it: ``?`` placeholders numbered ``$1, $2, ...``, the pool of connections (reads
take any; each write transaction holds one), the :class:`PgDialect` (post ids from the
table's sequence, row locks on the topics written to) and the schema
(SQLite's migrations translated, :mod:`bridgebot.store.pg_schema`), migrated under an
advisory lock so that several
workers starting at once migrate it once.

A database may hold several deployments, one schema each: everything a deployment names
that is the whole database's (its advisory locks, its NOTIFY channel) is derived from the
schema its tables live in, read once at open (:mod:`bridgebot.store.pg_scope`).

Any number of processes may share the database: every number that must be gap-free and
unique (a post's number in its topic, a question's position, a pseudonym) is taken as
``MAX(...) + 1`` only after ``SELECT ... FOR UPDATE`` on the topic's row, so writers to
one topic take turns until their commit, and writers to different topics do not wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import asyncpg

from bridgebot.store import pg_schema, pg_scope
from bridgebot.store.migrations import LATEST, refuse_newer
from bridgebot.store.sql import Conn, Dialect, Row, Transactions

log = logging.getLogger(__name__)

# How long a worker's claim on a delivery target lasts without being renewed (each
# delivery renews it): a worker that died leaves its targets to the others after this.
LEASE_SECONDS = 30.0

# How far back a worker taking a chat over looks for the messages sent there (the longest
# rate window of any platform, a minute, with room to spare).
RECENT_SENDS = 70.0

# How often a worker whose LISTEN connection was lost tries to open it again.
LISTEN_RETRY = 5.0

# How long a connection attempt waits for the server (asyncpg's own default, named here so
# that a server that accepts and never answers is said to have given no answer in so long).
CONNECT_SECONDS = 60.0


async def connect(*args: Any, **options: Any) -> asyncpg.Connection:
    """``asyncpg.connect``, carried to its end even when the caller is cancelled.

    A connection attempt cancelled while it asks the server whether it speaks TLS (the
    default ``sslmode=prefer``) leaves asyncpg's future of that answer failing with
    "unexpected connection_lost() call" and nobody to read it: asyncio logs "Future
    exception was never retrieved" at ERROR, as every worker stopped (SIGTERM) while it
    connected did in the fault test (asyncpg 0.32; MagicStack/asyncpg#1211 is the same
    family). So the attempt runs on, and a connection it opens for a caller that gave up
    is closed. Used for the pool's connections, the LISTEN connection and leader locks.
    """
    attempt = asyncio.ensure_future(asyncpg.connect(*args, **options))
    try:
        return await asyncio.shield(attempt)
    except asyncio.CancelledError:
        attempt.add_done_callback(_discard)
        raise


def _discard(attempt: asyncio.Future[asyncpg.Connection]) -> None:
    """A connection attempt nobody waits for any more: its failure read, its connection
    closed."""
    if attempt.cancelled() or attempt.exception() is not None:
        return
    attempt.result().terminate()


def is_postgres(database: object) -> bool:
    """Whether a ``database`` setting names a PostgreSQL server rather than a SQLite file."""
    return isinstance(database, str) and database.startswith(("postgresql://", "postgres://"))


def redacted(dsn: str) -> str:
    """The address without its password, for messages and logs.

    Everything between the user's ``:`` and the address's last ``@`` is hidden, not what
    ``urlsplit`` calls the password: a password with an ``@``, ``/``, ``?`` or ``#`` written
    as it is (not percent-encoded) ends the parsed password early, and the rest of it was
    shown as the host or the path."""
    scheme, sep, rest = dsn.partition("://")
    userinfo, at, after = rest.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    shown = f"{scheme}://{user}:***@{after}" if sep and at and colon else dsn
    # A password given as a parameter (``?password=…``, ``sslpassword=…``), as asyncpg
    # and libpq read it, is blanked too.
    return _QUERY_PASSWORD.sub(r"\1***", shown)


_QUERY_PASSWORD = re.compile(r"([?&](?:ssl)?password=)[^&#]*", re.IGNORECASE)


# How to write a password that PostgreSQL's address would otherwise cut short.
_ENCODE = ("a password with @, :, /, ?, # or % in it is written percent-encoded (%40 for @, "
           "%3A for :, %2F for /, %3F for ?, %23 for #, %25 for %)")


def address_problem(dsn: str) -> str | None:
    """Why asyncpg cannot read the address ``dsn`` (one line, no part of the password), or
    None. Read as asyncpg reads it (the user and password end at the first ``@``, the
    hosts at the first ``/``, ``?`` or ``#``): a port that is not a number, or out of range,
    was a ``ValueError`` or ``OverflowError`` traceback out of ``asyncpg.connect`` whose
    text could hold a piece of the password. The port is not quoted for that reason."""
    netloc = urlsplit(dsn).netloc
    _, at, hosts = netloc.partition("@")
    if not at:
        hosts = netloc
    if "@" in hosts:
        return f"the database address {redacted(dsn)} has an @ after the password's; {_ENCODE}"
    for host in hosts.split(","):
        port = host.rpartition("]")[2] if host.startswith("[") else host
        _, colon, number = port.rpartition(":")
        if colon and not (number.isascii() and number.isdigit() and 0 < int(number) < 65536):
            return (f"the database address {redacted(dsn)} has a port that is not a whole number "
                    f"from 1 to 65535; {_ENCODE}")
    return None


@functools.lru_cache(maxsize=2048)
def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (none inside quoted text)."""
    out: list[str] = []
    n = 0
    quote = ""
    for char in sql:
        if char in "'\"" and quote in ("", char):
            quote = "" if quote else char
        if char == "?" and not quote:
            n += 1
            out.append(f"${n}")
        else:
            out.append(char)
    return "".join(out)


_COUNT = re.compile(r"(\d+)$")


def _changed(status: str) -> int:
    """Rows a command changed, from its status (``UPDATE 3``, ``INSERT 0 1``)."""
    found = _COUNT.search(status)
    return int(found.group(1)) if found else 0


class PgDialect:
    """PostgreSQL's spellings, ids and locks (see the module's docstring), and the channel
    of one deployment (:func:`~bridgebot.store.pg_scope.channel`): each database has its
    own dialect, which is how a unit of work is known for the database's own."""

    name = "postgresql"
    label = "PostgreSQL"
    greatest = "GREATEST"
    find = "strpos"

    def __init__(self) -> None:
        # Where a committed transaction that queued deliveries says so (LISTEN/NOTIFY):
        # every worker's relay wakes at once instead of finding the work at its next check.
        # Written into statements as it is: pg_scope.channel makes it of [a-z0-9_] alone.
        self.channel = pg_scope.CHANNEL

    def to_integer(self, expression: str) -> str:
        # A thread id that is not a number (another platform's) counts as none.
        return (f"CASE WHEN {expression} ~ '^[0-9]{{1,18}}$' "
                f"THEN CAST({expression} AS BIGINT) END")

    async def lock_topics(self, conn: Conn, topic_ids: Iterable[int]) -> None:
        ids = sorted(set(topic_ids))  # always in one order: two writers never lock crosswise
        if ids:
            await conn.fetch("SELECT id FROM topics WHERE id = ANY(?::BIGINT[]) ORDER BY id "
                             "FOR UPDATE", (ids,))

    async def announce(self, conn: Conn) -> None:
        # Delivered when (and only if) the transaction commits; repeats in one are merged.
        await conn.fetch(f"SELECT pg_notify('{self.channel}', '')")

    async def lock_topics_reading(self, conn: Conn, topic_ids: Iterable[int], sql: str,
                                  args: Sequence[object]) -> list[Row]:
        ids = sorted(set(topic_ids))
        if not ids:
            return await conn.fetch(sql, args)
        # The locks are a CTE the read's one-time filter needs, so they are taken (in id
        # order) before any row is read; the read keeps the statement's snapshot.
        return await conn.fetch(
            "WITH locked AS (SELECT id FROM topics WHERE id = ANY(?::BIGINT[]) ORDER BY id "
            f"FOR UPDATE) SELECT * FROM ({sql}) AS q WHERE (SELECT COUNT(*) FROM locked) >= 0",
            [ids, *args])

    def rows(self, *types: str) -> str:
        arrays = ", ".join(f"?::{kind}[]" for kind in types)
        columns = ", ".join(f"c{n + 1}" for n in range(len(types)))
        return f"unnest({arrays}) AS v ({columns})"

    def pack(self, rows: Sequence[Sequence[object]], width: int) -> list[object]:
        return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width

    async def together(self, conn: Conn, statements: Sequence[tuple[str, Sequence[object]]], *,
                       announce: bool = False) -> None:
        # Parts of one WITH run on one snapshot and see none of each other's rows, which is
        # why the caller promises they do not need to; ``?`` are numbered in text order, as
        # the arguments are concatenated.
        if not statements:
            if announce:
                await self.announce(conn)
            return
        parts = ", ".join(f"w{n} AS ({sql})" for n, (sql, _) in enumerate(statements))
        final = f"SELECT pg_notify('{self.channel}', '')" if announce else "SELECT 1"
        await conn.fetch(f"WITH {parts} {final}", [a for _, args in statements for a in args])

    async def new_ids(self, conn: Conn, table: str, count: int) -> list[int]:
        rows = await conn.fetch(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, ?)",
            (count,))
        return [int(r[0]) for r in rows]


class PgConn:
    """An asyncpg connection (or the pool) behind the store's :class:`~bridgebot.store.sql.Conn`."""

    def __init__(self, conn: asyncpg.Connection | asyncpg.Pool, dialect: PgDialect) -> None:
        self.conn = conn
        self.dialect = dialect

    async def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        return _changed(await self.conn.execute(numbered(sql), *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        batch = list(rows)
        if batch:
            await self.conn.executemany(numbered(sql), batch)

    async def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        return cast(list[Row], await self.conn.fetch(numbered(sql), *args))

    async def fetchrow(self, sql: str, args: Sequence[object] = ()) -> Row | None:
        return cast(Row | None, await self.conn.fetchrow(numbered(sql), *args))


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What the pool does to a connection given back, beyond asyncpg's own rollback of an
    open transaction: nothing. asyncpg's default is one more round trip per release
    (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``), which doubled the
    cost of every read taken from the pool; the store leaves no session state behind on
    pool connections (no ``SET``, cursors or ``LISTEN``: the listener and the leaders'
    advisory locks have connections of their own, the migration lock is released in a
    ``finally``). Prepared statements are kept either way, per connection."""


class PgDatabase(Transactions):
    """A pool of connections to one PostgreSQL database, migrated on open."""

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    def __init__(self, dsn: str, *, max_connections: int = 10,
                 lease_seconds: float = LEASE_SECONDS) -> None:
        self.dsn = dsn
        self.max_connections = max_connections
        self.lease_seconds = lease_seconds
        # This process among the workers sharing the database (leases name it).
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._pool: asyncpg.Pool | None = None
        # The schema this deployment's tables live in (its identity on the server), read at
        # open; until then the names of ``public``.
        self.schema = pg_scope.LEGACY_SCHEMA
        self._dialect = PgDialect()
        self._listener: asyncpg.Connection | None = None
        self._listen_again_at = 0.0
        self._presence: asyncio.Task[None] | None = None
        self._on_outbox: list[Callable[[], None]] = []
        # The targets this worker held at its last look, and who wants to hear of the ones
        # it takes over (the runtime: its rate budget learns their recent sends).
        self._mine: set[tuple[str, str]] = set()
        self._on_taken: list[Callable[[dict[tuple[str, str], list[float]]], None]] = []
        self.migration_backup = None  # PostgreSQL's backups are the operator's (pg_dump)

    def __str__(self) -> str:
        return redacted(self.dsn)

    async def open(self) -> None:
        """Connect and bring the schema to the latest version (refusing a newer one)."""
        from bridgebot.store.db import DatabaseUnusable

        if (problem := address_problem(self.dsn)) is not None:
            raise DatabaseUnusable(problem)
        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, connect=connect,
                                                   max_size=self.max_connections,
                                                   reset=_keep_session, timeout=CONNECT_SECONDS)
        except TimeoutError:  # an OSError whose text is empty: "cannot be used: " and nothing
            raise DatabaseUnusable(
                f"the database {redacted(self.dsn)} cannot be used: no answer within "
                f"{CONNECT_SECONDS:g} s (check the host and port in the address, and the "
                "network)") from None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            raise DatabaseUnusable(
                f"the database {redacted(self.dsn)} cannot be used: {err}") from None
        try:
            await self._identify()
            await self._upgrade()
            await self._listen()
        except asyncpg.InsufficientPrivilegeError as err:
            await self.close()
            raise DatabaseUnusable(
                f"the database {redacted(self.dsn)} cannot be used: {err} (bridgebot's role "
                f"creates and migrates its tables in the schema {self.schema}: GRANT CREATE ON "
                f"SCHEMA {self.schema} TO the role, or start it once as the tables' owner; "
                "then a role that may read and write the tables is enough)") from None
        except BaseException:
            await self.close()
            raise

    async def _identify(self) -> None:
        """Read which schema this deployment's tables live in (:func:`deployment_schema`),
        and name its channel after it."""
        self.schema = await deployment_schema(self.pool, self.dsn)
        self._dialect.channel = pg_scope.channel(self.schema)

    async def _present(self) -> None:
        """Say this worker delivers: its presence row (platform '', its name as the chat),
        which the others count to know their fair share of the chats (:meth:`held`). Only a
        process whose relay asked for chats is present, not an operator command."""
        await self.pool.execute(
            "INSERT INTO delivery_leases (platform, chat_id, owner, until, backend) "
            "VALUES ('', $1, $1, extract(epoch FROM clock_timestamp()) + $2, $3) "
            "ON CONFLICT (platform, chat_id) DO UPDATE SET until = excluded.until, "
            "backend = excluded.backend", self.worker, self.lease_seconds,
            # the LISTEN connection as it is (reconnecting it is held()'s business)
            None if self._listener is None or self._listener.is_closed()
            else int(self._listener.get_server_pid()))

    async def _keep_present(self) -> None:
        """Renew the presence row three times per lease while open; a failure (the server
        away) is tried again at the next turn, and then the row lapses as a lease does."""
        while True:
            await asyncio.sleep(max(0.05, self.lease_seconds / 3))
            try:
                await self._present()
            except Exception as err:
                log.debug("worker presence not renewed: %s", err)

    async def _listen(self) -> None:
        """The connection that LISTENs for new deliveries; it lives as long as this process
        (its server process id stamps this worker's leases: see :meth:`held`)."""
        listener = await connect(self.dsn)
        try:
            await listener.add_listener(self._dialect.channel, self._notified)
        except BaseException:
            await listener.close()
            raise
        self._listener = listener

    async def _listening(self) -> int | None:
        """The server process id of this worker's LISTEN connection, connecting it again if
        it was lost (a server restart, a network cut), or None while it cannot be."""
        if self._listener is not None and not self._listener.is_closed():
            return int(self._listener.get_server_pid())
        loop = asyncio.get_running_loop()
        if loop.time() < self._listen_again_at:
            return None
        self._listen_again_at = loop.time() + LISTEN_RETRY
        try:
            await asyncio.wait_for(self._listen(), LISTEN_RETRY)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            log.warning("cannot LISTEN for new deliveries (%s); trying again in %.0f s",
                        type(err).__name__, LISTEN_RETRY)
            return None
        log.info("listening for new deliveries again")
        self._notified()  # whatever was committed while this worker was not listening
        assert self._listener is not None
        return int(self._listener.get_server_pid())

    def on_outbox(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever any worker commits new deliveries."""
        self._on_outbox.append(callback)

    def _notified(self, *_: object) -> None:
        for callback in self._on_outbox:
            callback()

    async def held(self, targets: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Claim (or renew) these targets for this worker where they are free, already ours,
        their lease ran out, or their holder is dead; return the ones this worker holds now.
        One statement, so two workers asking at once never both get a target; times are
        the server's.

        A lease names its holder's LISTEN connection (``backend``, the server's process id
        for it), which lives exactly as long as the worker: when a worker is killed, its
        host's kernel closes that connection and the server ends the process at once, so
        the others take its chats over at their next look (a new delivery's NOTIFY, or
        within seconds) instead of after the lease's 30 s. A vanished host, whose
        connection the server only notices later, still loses its chats when the lease
        runs out. While this worker's own LISTEN connection is down its leases name none
        (``NULL``: only their time counts), so that workers cut off together do not take
        each other's chats in turn.

        A worker takes a free chat only while it holds less than its fair share of the
        chats with work (their number over the live workers, each present by a row of its
        own that :meth:`_keep_present` renews), choosing among the free ones in an order of
        its own so that workers asking at once mostly want different chats: otherwise the
        first worker to look after a burst took every chat and the others stood idle. A
        chat it holds stays its own while it renews it (its order and its rate budget);
        shares even out as chats fall quiet and their leases lapse."""
        if self._presence is None:  # a relay asks: this process delivers from now on
            await self._present()
            self._presence = asyncio.create_task(self._keep_present(), name="worker-presence")
        wanted = sorted(set(targets))
        if not wanted:
            return set()
        backend = await self._listening()
        if set(wanted) <= self._mine:  # the relay's look before each delivery
            renewed = await self._renew(wanted, backend)
            if renewed == set(wanted):
                return renewed
        rows = await self.pool.fetch(
            # The server's processes are listed once (a hash lookup per lease row), not
            # once per row: the statement runs before every delivery.
            "WITH alive AS MATERIALIZED (SELECT pid FROM pg_stat_activity), "
            "live AS (SELECT platform, chat_id, owner FROM delivery_leases "
            "WHERE until >= extract(epoch FROM clock_timestamp()) AND (backend IS NULL OR "
            "backend IN (SELECT pid FROM alive))), "
            "wanted AS (SELECT p, c FROM unnest($1::TEXT[], $2::TEXT[]) AS w (p, c)), "
            # This worker's fair share of the chats with work: all of them over the live
            # workers (their presence rows, platform ''), less what it holds already.
            "room AS (SELECT CEIL((SELECT COUNT(*) FROM (SELECT platform, chat_id FROM live "
            "WHERE platform <> '' UNION SELECT p, c FROM wanted) AS every)::NUMERIC "
            "/ (1 + (SELECT COUNT(*) FROM live WHERE platform = '' AND owner <> $3)))::BIGINT "
            "- (SELECT COUNT(*) FROM live WHERE platform <> '' AND owner = $3) AS n), "
            "claim AS (SELECT p, c FROM wanted WHERE EXISTS (SELECT 1 FROM live "
            "WHERE platform = p AND chat_id = c AND owner = $3) "
            "UNION ALL (SELECT p, c FROM wanted WHERE NOT EXISTS (SELECT 1 FROM live "
            "WHERE platform = p AND chat_id = c) "
            "ORDER BY md5($3 || p || c) LIMIT GREATEST(0, (SELECT n FROM room)))) "
            "INSERT INTO delivery_leases (platform, chat_id, owner, until, backend) "
            "SELECT p, c, $3, extract(epoch FROM clock_timestamp()) + $4, $5 FROM claim "
            "ON CONFLICT (platform, chat_id) DO UPDATE SET owner = excluded.owner, "
            "until = excluded.until, backend = excluded.backend "
            "WHERE delivery_leases.owner = excluded.owner "
            "OR delivery_leases.until < extract(epoch FROM clock_timestamp()) "
            "OR (delivery_leases.backend IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
            "pg_stat_activity a WHERE a.pid = delivery_leases.backend)) "
            "RETURNING platform, chat_id",
            [p for p, _ in wanted], [c for _, c in wanted], self.worker, self.lease_seconds,
            backend)
        held = {(r[0], r[1]) for r in rows}
        taken = held - self._mine
        self._mine = (self._mine - set(wanted)) | held
        if taken and self._on_taken:
            sent = await self.recent_sends(taken)
            for callback in self._on_taken:
                callback(sent)
        return held

    async def _renew(self, wanted: list[tuple[str, str]], backend: int | None
                     ) -> set[tuple[str, str]]:
        """Renew the leases of ``wanted`` that are still this worker's and have not run out;
        return those.

        The relay asks before every delivery, almost always about a chat it holds: this
        touches those rows alone, where the full claim in :meth:`held` lists the server's
        processes and counts every lease for the fair share (most of the server's work per
        delivery, growing with the connections it allows). Taken over or run out, a lease
        is not renewed here (the row lock orders this against a worker taking it over), and
        :meth:`held` decides as before."""
        rows = await self.pool.fetch(
            "UPDATE delivery_leases SET until = extract(epoch FROM clock_timestamp()) + $4, "
            "backend = $5 FROM unnest($1::TEXT[], $2::TEXT[]) AS w (p, c) "
            "WHERE platform = w.p AND chat_id = w.c AND owner = $3 "
            "AND until >= extract(epoch FROM clock_timestamp()) RETURNING platform, chat_id",
            [p for p, _ in wanted], [c for _, c in wanted], self.worker, self.lease_seconds,
            backend)
        return {(r[0], r[1]) for r in rows}

    def on_taken(self, callback: Callable[[dict[tuple[str, str], list[float]]], None]) -> None:
        """Call ``callback`` with :meth:`recent_sends` of the targets this worker takes (over)."""
        self._on_taken.append(callback)

    async def recent_sends(self, targets: Iterable[tuple[str, str]]
                           ) -> dict[tuple[str, str], list[float]]:
        """How many seconds ago each message recorded as sent to these targets within the
        last :data:`RECENT_SENDS` seconds went out, whichever worker sent it (one per
        message of a delivery: a combined message once). A worker that takes a chat over
        counts them in its rate budget, so that the chat's windows hold across the hand-off
        (a clean stop or a dead worker) instead of starting empty in the new holder."""
        wanted = sorted(set(targets))
        if not wanted:
            return {}
        rows = await self.pool.fetch(
            "SELECT o.platform, o.chat_id, extract(epoch FROM clock_timestamp() - "
            "CAST(o.done_at AS TIMESTAMPTZ)) FROM outbox o "
            "JOIN unnest($1::TEXT[], $2::TEXT[]) AS t (p, c) ON o.platform = t.p "
            "AND o.chat_id = t.c JOIN message_map m ON m.delivery_id = o.id "
            "WHERE o.state = 'done' AND o.done_at IS NOT NULL "
            "AND CAST(o.done_at AS TIMESTAMPTZ) > clock_timestamp() - make_interval(secs => $3)",
            [p for p, _ in wanted], [c for _, c in wanted], RECENT_SENDS)
        sent: dict[tuple[str, str], list[float]] = {}
        for platform, chat_id, age in rows:
            sent.setdefault((platform, chat_id), []).append(max(0.0, float(age)))
        return sent

    async def leased(self) -> list[tuple[str, str]]:
        """The delivery targets this worker holds now (its role among the workers)."""
        rows = await self.pool.fetch(
            "SELECT platform, chat_id FROM delivery_leases WHERE owner = $1 AND platform <> '' "
            "AND until >= extract(epoch FROM clock_timestamp()) ORDER BY platform, chat_id",
            self.worker)
        return [(r[0], r[1]) for r in rows]

    async def hand_on(self) -> None:
        """Give this worker's targets back at once (a clean stop, once its relay has
        stopped), and wake the others; its presence goes with them, so that they share
        its chats among themselves alone."""
        if self._presence is not None:
            presence, self._presence = self._presence, None
            presence.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await presence
        self._mine = set()
        async with self.pool.acquire() as conn, conn.transaction():
            released = await conn.execute("DELETE FROM delivery_leases WHERE owner = $1", self.worker)
            if _changed(released):
                await conn.execute(f"SELECT pg_notify('{self._dialect.channel}', '')")

    async def _upgrade(self) -> None:
        """Each step in its own transaction, as on SQLite; an advisory lock held meanwhile
        (this deployment's: :func:`~bridgebot.store.pg_scope.migration_key`) makes workers
        that start together wait for the first one's migration. Only this schema's
        ``schema_version`` counts (:func:`_version`)."""
        lock = pg_scope.migration_key(self.schema)
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", lock)
            try:
                found = await _version(conn)
                if found is None:
                    await self._refuse_foreign(conn)  # before writing anything into it
                    await conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                    found = 0
                refuse_newer(found)
                for version, statements in enumerate(pg_schema.steps()[found:], start=found + 1):
                    async with conn.transaction():
                        for statement in statements:
                            await conn.execute(statement)
                        await conn.execute("DELETE FROM schema_version")
                        await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
                    log.info("database schema upgraded to version %d", version)
                await _make_leases(conn)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", lock)

    async def _refuse_foreign(self, conn: asyncpg.Connection) -> None:
        await refuse_foreign(conn, self.dsn)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database is not open")
        return self._pool

    async def close(self) -> None:
        if self._presence is not None:
            presence, self._presence = self._presence, None
            presence.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await presence
        if self._listener is not None:
            listener, self._listener = self._listener, None
            with contextlib.suppress(Exception):
                await listener.close(timeout=5)
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await self.hand_on()
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except TimeoutError:
                pool.terminate()

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[Conn]:
        """One write transaction on a connection of its own."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield PgConn(conn, self._dialect)

    async def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        return await PgConn(self.pool, self._dialect).fetch(sql, args)

    async def checkpoint(self) -> None:
        """Nothing to do: PostgreSQL has no WAL file of ours to empty (its own WAL and dead
        row versions are the server's to recycle; see README on erasure)."""

    async def reclaim_space(self) -> int:
        """Nothing to do: autovacuum returns deleted rows' space to the tables."""
        return 0

    async def write_one(self, sql: str, args: Sequence[object] = ()) -> int:
        return await PgConn(self.pool, self._dialect).execute(sql, args)

    async def write_together(self, statements: Sequence[tuple[str, Sequence[object]]]) -> None:
        *parts, (last, _) = statements
        sql = (f"WITH {', '.join(f'w{n} AS ({part})' for n, (part, _) in enumerate(parts))} {last}"
               if parts else last)
        await PgConn(self.pool, self._dialect).execute(sql, [a for _, args in statements for a in args])

    def is_duplicate(self, err: BaseException, table: str) -> bool:
        return isinstance(err, asyncpg.UniqueViolationError) and (
            getattr(err, "table_name", None) == table or table in str(err))

    def is_failure(self, err: BaseException) -> bool:
        return is_failure(err)


async def deployment_schema(conn: asyncpg.Connection | asyncpg.Pool, dsn: str) -> str:
    """The schema this deployment's tables live in (its identity on the server).

    ``current_schema()`` is the first schema of the ``search_path`` that exists (where
    the tables are made); none at all is refused in one line rather than left to fail
    at the first ``CREATE TABLE`` with asyncpg's "no schema has been selected"."""
    from bridgebot.store.db import DatabaseUnusable

    schema = await conn.fetchval("SELECT current_schema()")
    if schema is None:
        path = await conn.fetchval("SHOW search_path")
        raise DatabaseUnusable(
            f"the database {redacted(dsn)} has no schema for bridgebot's tables: none "
            f"of its search_path ({path}) exists; create it first (CREATE SCHEMA name) or "
            "name another in the address (?search_path=name)")
    return str(schema)


async def _leases_made(conn: asyncpg.Connection) -> bool:
    """Whether this schema's lease table is there as this release uses it."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = "
        "to_regclass(format('%I.delivery_leases', current_schema())) "
        "AND attname = 'backend' AND NOT attisdropped)"))


async def _make_leases(conn: asyncpg.Connection) -> None:
    """The lease table (which worker delivers to which chat: coordination, not data; not in
    the schema's versions, not copied, not logged: lost in a crash, then retaken), made or
    given its ``backend`` column (the holder's LISTEN connection, see ``held``) only when
    missing: a ``CREATE … IF NOT EXISTS`` or ``ADD COLUMN IF NOT EXISTS`` needs the right
    to create in the schema, or to own the table, even when there is nothing to do, and
    workers whose role may only read and write the tables (the owner migrated them) must
    start all the same."""
    if await _leases_made(conn):
        return
    await conn.execute(
        "CREATE UNLOGGED TABLE IF NOT EXISTS delivery_leases (platform TEXT NOT NULL, "
        "chat_id TEXT NOT NULL, owner TEXT NOT NULL, until DOUBLE PRECISION NOT NULL, "
        "PRIMARY KEY (platform, chat_id))")
    await conn.execute("ALTER TABLE delivery_leases ADD COLUMN IF NOT EXISTS backend INTEGER")


async def _version(conn: asyncpg.Connection) -> int | None:
    """The deployment's schema version, or None when its schema has no version table.

    Only this schema's ``schema_version`` counts: with ``search_path=mine,theirs``
    another deployment's, found further along the path, was taken for this one's."""
    if await conn.fetchval("SELECT to_regclass(format('%I.schema_version', "
                           "current_schema()))") is None:
        return None
    return int(await conn.fetchval("SELECT version FROM schema_version") or 0)


async def refuse_foreign(conn: asyncpg.Connection, dsn: str) -> None:
    """A database holding another program's tables is not written into."""
    from bridgebot.store.db import DatabaseUnusable

    other = await conn.fetchval(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = "
        "current_schema() ORDER BY table_name LIMIT 1")
    if other is not None:
        raise DatabaseUnusable(
            f"the database {redacted(dsn)} belongs to another program (it has tables "
            f"such as {other!r} but no bridgebot schema); point `database` at another one")


@dataclass(frozen=True)
class Stored:
    """What a look before starting found (:func:`stored_version`)."""

    schema: str  # where the deployment's tables live
    version: int | None  # None: no bridgebot tables yet
    role: str  # who the address logs in as
    # Whether that role may create tables in the schema, and whether :meth:`PgDatabase.open`
    # will have to (to create or migrate the tables, or make the lease table): a role that
    # may only read and write the tables starts a deployment its tables' owner migrated.
    may_create: bool
    must_create: bool


async def stored_version(conn: asyncpg.Connection, dsn: str) -> Stored:
    """The deployment's schema and its version, for a look before starting
    (``check-config``): what :meth:`PgDatabase.open` reads, refusing what it refuses
    (:class:`~bridgebot.store.db.DatabaseUnusable`: no schema, another program's tables),
    in one read-only transaction: nothing is created or migrated, and no advisory lock or
    LISTEN is taken."""
    async with conn.transaction(readonly=True):
        schema = await deployment_schema(conn, dsn)
        found = await _version(conn)
        if found is None:
            await refuse_foreign(conn, dsn)
        role, may_create = await conn.fetchrow(
            "SELECT current_user, has_schema_privilege(current_schema(), 'CREATE')")
        must_create = found != LATEST or not await _leases_made(conn)
    return Stored(schema, found, str(role), bool(may_create), must_create)


def password(dsn: str) -> str | None:
    """The password written in a PostgreSQL address, if any (to blank it out of output):
    what :func:`redacted` hides."""
    userinfo, at, _ = dsn.partition("://")[2].rpartition("@")
    found = userinfo.partition(":")[2]
    if at and found:
        return found
    given = _QUERY_PASSWORD.search(dsn)
    return (given.group(0).partition("=")[2] or None) if given else None


_TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,  # the server went away, refused, reset
    asyncpg.InterfaceError,  # the connection is closed or broken
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: disk full, too many connections
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutting down, cancelled
    asyncpg.exceptions.TransactionRollbackError,  # class 40: serialization failure, deadlock
    asyncpg.exceptions.CannotConnectNowError,
)


def is_failure(err: BaseException) -> bool:
    """Whether ``err`` is PostgreSQL (or the way to it) failing, worth holding the work and
    trying again, rather than the data breaking a constraint or a bug."""
    return isinstance(err, _TRANSIENT)
