"""Roles only one worker may hold at a time (Telegram polling, the scheduler), as a small
port the runtime and the adapters use; the core knows nothing of it.

On PostgreSQL a role is a session advisory lock (``pg_try_advisory_lock``) taken on a
connection of its own: the worker holding it leads; when that worker dies its connection
closes and the server releases the lock, so another worker, trying every
:data:`RETRY_SECONDS`, takes the role over within seconds. On SQLite there is one
process, always the leader.

A role's lock key is its deployment's (:func:`bridgebot.store.pg_scope.role_key`: the role
and the schema its tables live in, read on the lock's connection), since advisory locks are
the whole database's and several deployments may share one, a schema each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

import asyncpg

from bridgebot.store.pg_scope import role_key
from bridgebot.store.postgres import connect

log = logging.getLogger(__name__)

# How often a worker that does not lead tries to take the role (takeover within ~this).
RETRY_SECONDS = 2.0

# A process that dies closes its connection and the lock goes at once; a host that vanishes
# (power, network) sends nothing, so the server probes the lock connection's TCP link
# instead: idle 4 s, then every 2 s, gone after 2 unanswered probes, about 8 s in all
# (ignored on a Unix socket, where the peer cannot vanish without the host).
KEEPALIVE = {"tcp_keepalives_idle": "4", "tcp_keepalives_interval": "2",
             "tcp_keepalives_count": "2"}

# What asking the lock's connection raises once that connection is lost. Among them
# asyncpg's InternalClientError ("cannot switch to state 11; another operation (2) is in
# progress"): the server that ends a session (a restart, pg_terminate_backend) sends its
# FATAL message, then releases the session's locks, and only then closes the socket; a
# query asked after asyncpg read that message and before it saw the socket close gets
# this, not a connection error. Let through, it ended the Telegram poller's or the
# scheduler's loop for good (the role still shown as held) instead of waiting to lead again.
LOST = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
        asyncpg.exceptions.InternalClientError, TimeoutError)


class Leadership(Protocol):
    """One role: :meth:`wait` until this worker leads it; :meth:`leads` while it does."""

    role: str
    held: bool  # as last seen (for /healthz); :meth:`leads` asks the database

    async def wait(self) -> None: ...

    async def take(self) -> bool: ...

    async def leads(self) -> bool: ...

    async def release(self) -> None: ...


class AlwaysLeader:
    """The only process (SQLite): it always leads."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.held = True

    async def wait(self) -> None:
        return None

    async def take(self) -> bool:
        return True

    async def leads(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class PgLeader:
    """A role held as a session advisory lock on a dedicated connection (see module)."""

    def __init__(self, dsn: str, role: str, *, retry: float = RETRY_SECONDS) -> None:
        self.dsn = dsn
        self.role = role
        self.retry = retry
        self.key: int | None = None  # known once connected (the schema is the server's to say)
        self.held = False
        self._conn: asyncpg.Connection | None = None
        self._asking = asyncio.Lock()  # one query at a time on the lock's connection

    async def _try(self) -> bool:
        """Take the lock if it is free (connecting first if needed)."""
        async with self._asking:
            if self._conn is None or self._conn.is_closed():
                self.held = False
                self._conn = await connect(self.dsn, timeout=10, server_settings=KEEPALIVE)
                self.key = await self._key(self._conn)
            self.held = bool(await self._conn.fetchval("SELECT pg_try_advisory_lock($1)",
                                                       self.key))
            return self.held

    async def _key(self, conn: asyncpg.Connection) -> int:
        """This role's key in the deployment ``conn`` is in (its schema, ``current_schema()``)."""
        schema = await conn.fetchval("SELECT current_schema()")
        if schema is None:  # no schema the address names exists (the database says why at open)
            raise asyncpg.exceptions.InvalidSchemaNameError(
                "no schema of the search_path exists")
        return role_key(self.role, str(schema))

    async def leads(self) -> bool:
        """Whether this worker still leads: its lock connection is alive (a lost connection
        means the server has released the lock and another worker may hold it now)."""
        if not self.held or self._conn is None or self._conn.is_closed():
            self.held = False
            return False
        try:
            async with self._asking:
                await self._conn.fetchval("SELECT 1", timeout=5)
        except LOST:
            self._drop()
        return self.held

    async def take(self) -> bool:
        """One try to lead the role now, without waiting: whether this worker leads it (for
        roles tried side by side, as Discord's gateway shards are)."""
        try:
            if await self._try():
                log.info("this worker now leads %s", self.role)
                return True
        except LOST as err:
            log.warning("cannot ask the database who leads %s (%s); trying again",
                        self.role, type(err).__name__)
            self._drop()
        return False

    def _drop(self) -> None:
        """Give up the lock's connection as lost: closed here too (a lock it may still hold
        goes with it), so the next try connects afresh."""
        self.held = False
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.terminate()
            self._conn = None

    async def wait(self) -> None:
        """Return once this worker leads the role, trying every ``retry`` seconds."""
        told = False
        while True:
            if await self.take():
                return
            if not told:
                log.info("another worker leads %s; waiting to take over", self.role)
                told = True
            await asyncio.sleep(self.retry)

    async def release(self) -> None:
        """Give the role up (closing the connection releases the lock at once)."""
        self.held = False
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)
