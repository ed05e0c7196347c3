"""A look at the database before starting (``check-config``): read only, and bounded.

What ``bridgebot run`` would find in the ``database`` setting and do with it, asked
without changing anything: a SQLite file is not made when it is missing (only whether
``run`` could make it is said) and an existing one is opened read only
(:func:`bridgebot.store.db.stored_version`); on PostgreSQL one connection reads in one
read-only transaction (:func:`bridgebot.store.postgres.stored_version`): no table is
created, nothing migrated, no advisory lock or LISTEN taken. What the version found means
is the migrations' own answer (:func:`bridgebot.store.migrations.plan`).

Bounded by ``timeout``: a server that accepts the connection and never answers, or a
database file on a hung network mount, is an answer ("no answer within N s"), not a hang.
The SQLite look runs in a daemon thread that is abandoned if it hangs, as the files
folder's look does.
"""

from __future__ import annotations

import asyncio
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bridgebot.store import db as sqlite
from bridgebot.store import postgres
from bridgebot.store.files import in_daemon_thread, within
from bridgebot.store.migrations import plan

__all__ = ["DatabaseLook", "look_at_database"]


@dataclass(frozen=True)
class DatabaseLook:
    """One row of ``check-config``'s table for the database (no password in any field)."""

    where: str
    check: str
    ok: bool
    detail: str


async def look_at_database(database: Path | str, timeout: float) -> DatabaseLook:
    """What ``run`` will find in ``database`` (the setting), within ``timeout`` seconds."""
    if postgres.is_postgres(database):
        return await _look_at_server(str(database), timeout)
    path = Path(str(database).removeprefix("sqlite:///"))
    look = in_daemon_thread(functools.partial(_look_at_file, path), "bridgebot-database-look")
    try:
        return await within(look, timeout)
    except TimeoutError:
        return DatabaseLook(path.name, "file", False,
                            f"{path} did not answer within {timeout:g} s (a network mount that "
                            "hangs?): fix the mount or set `database` to a file elsewhere")


def _look_at_file(path: Path) -> DatabaseLook:
    """:func:`_look_in_folder`, and a folder this user may not look into (a ``stat`` refused)
    as a row rather than a traceback."""
    try:
        return _look_in_folder(path)
    except OSError as err:
        return DatabaseLook(path.name, "file", False,
                            f"{path} cannot be looked at ({err.strerror or type(err).__name__}): "
                            "make its folder readable by this user, or set `database` to another file")


def _look_in_folder(path: Path) -> DatabaseLook:
    if str(path) == ":memory:":
        return DatabaseLook("in memory", "file", True,
                            "a new, empty database at each start: nothing is kept")
    if not path.exists() and not path.is_symlink():
        reason = _cannot_make(path)
        if reason is None:
            return DatabaseLook(path.name, "file", True, "not there yet: `bridgebot run` creates it")
        return DatabaseLook(path.name, "file", False,
                            f"{path} is not there yet, and `bridgebot run` cannot create it: {reason}")
    if path.is_dir():
        return DatabaseLook(path.name, "file", False,
                            f"{path} is a folder: set `database` to the database file in it")
    try:
        found = sqlite.stored_version(path)
    except sqlite.DatabaseUnusable as err:
        return DatabaseLook(path.name, "file", False, str(err))
    ok, detail = plan(found)
    if ok and (reason := _cannot_write(path)) is not None:
        return DatabaseLook(path.name, "file", False,
                            f"{path} is readable but `bridgebot run` could not write it: {reason}")
    return DatabaseLook(path.name, "schema version", ok, detail)


def _cannot_write(path: Path) -> str | None:
    """Why ``run`` could not write the database ``path``, or None: the file itself, and its
    folder, where SQLite makes its ``-wal`` and ``-shm`` files and bridgebot its lock file
    and the copy taken before a migration."""
    if not os.access(path, os.W_OK):
        return "this user may not write the file"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"this user may not create files in {path.parent} (its -wal, -shm and lock files)"
    return None


def _cannot_make(path: Path) -> str | None:
    """Why ``run`` could not make the missing file ``path`` (it makes the folders above it
    too: :meth:`bridgebot.store.db.Database.open`), or None when it can."""
    above = path.parent
    while not above.exists() and not above.is_symlink() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        return f"{above} is not a folder"
    if not os.access(above, os.W_OK | os.X_OK):
        return f"this user may not create files in {above}"
    return None


async def _look_at_server(dsn: str, timeout: float) -> DatabaseLook:
    if (problem := postgres.address_problem(dsn)) is not None:
        return DatabaseLook("PostgreSQL", "address", False, problem)
    try:
        async with asyncio.timeout(timeout):
            conn = await postgres.connect(dsn, timeout=timeout)
            try:
                stored = await postgres.stored_version(conn, dsn)
            except sqlite.DatabaseUnusable as err:
                return DatabaseLook("PostgreSQL", "schema", False, str(err))
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as err:  # say, no right to read
                return DatabaseLook("PostgreSQL", "schema", False,
                                    f"cannot read the schema version: {err}")
            finally:
                conn.terminate()  # its one read-only transaction has ended: nothing to wait for
    except TimeoutError:
        return DatabaseLook("PostgreSQL", "connect", False,
                            f"no answer within {timeout:g} s from {postgres.redacted(dsn)}: check "
                            "the host and port in the address, and the network")
    except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        return DatabaseLook("PostgreSQL", "connect", False,
                            f"cannot connect to {postgres.redacted(dsn)}: {err}")
    where = f"schema {stored.schema}"
    ok, detail = plan(stored.version)
    if ok and stored.must_create and not stored.may_create:
        return DatabaseLook(where, "schema", False,
                            f"the role {stored.role} may not create tables in the schema "
                            f"{stored.schema}, which `bridgebot run` must do first ({detail}): "
                            f"GRANT CREATE ON SCHEMA {stored.schema} TO {stored.role}, or "
                            "start it once as the tables' owner")
    return DatabaseLook(where, "schema version", ok, detail)
