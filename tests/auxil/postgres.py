"""A real PostgreSQL server for the tests: Debian's ``postgresql`` package, started in a
temporary data directory on a free loopback port for the session, stopped after it.

``initdb`` and the server refuse to run as root; as root (CI) the data directory is given
to the ``postgres`` user the package creates, and the programs run as that user. Every
test gets a schema of its own (``?search_path=tN`` in the address), which is much faster
than a database per test and just as separate for bridgebot, whose statements name no
schema.

Most tests want a database at the latest version, not an empty one: :meth:`PostgresServer.
migrated` hands out schemas that a thread of the session migrated ahead of time, in one
round trip each (the migration steps as one script), so a test on PostgreSQL neither waits
for nor pays bridgebot's step-by-step migration. The steps are bridgebot's own
(:func:`bridgebot.store.pg_schema.steps`), so the schema is the one ``open()`` would make;
the migration itself is tested from an empty schema (:meth:`PostgresServer.fresh`).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import os
import pwd
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bridgebot.store import pg_schema
from bridgebot.store.migrations import LATEST

USER = "bridgebot"

# The stores every test whose world has a database runs on (tests/conftest.py's
# pytest_generate_tests), unless it is marked ``sqlite_only("why")`` or names its own.
STORES = ("sqlite", "postgresql")

# How many migrated schemas the preparing thread keeps ready ahead of the tests.
READY_AHEAD = 2


def bin_dir() -> Path | None:
    """The newest installed server's programs (``/usr/lib/postgresql/<version>/bin``)."""
    def version(pg_ctl: str) -> int:
        name = Path(pg_ctl).parent.parent.name
        return int(name) if name.isdigit() else 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=version)
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def missing_reason() -> str | None:
    """Why no server can be started here, or None when one can."""
    if bin_dir() is None:
        return ("PostgreSQL is not installed (Debian: apt-get install postgresql; README's test "
                "command does it)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """One running server; :meth:`fresh` hands out an empty schema's address."""

    port: int = 0
    data: Path = field(default_factory=Path)
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _ready: queue.Queue[str | BaseException] = field(
        default_factory=lambda: queue.Queue(maxsize=READY_AHEAD))
    _stopping: threading.Event = field(default_factory=threading.Event)
    _preparer: threading.Thread | None = None

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        bindir = bin_dir()
        assert bindir is not None
        user = "postgres" if os.geteuid() == 0 else None
        return subprocess.run([str(bindir / args[0]), *args[1:]], user=user, capture_output=True,
                              text=True, timeout=60, check=False)

    def start(self, *, durable: bool = False) -> None:
        """``durable``: the server's own defaults (fsync, synchronous commit), for benchmarks;
        tests turn them off, as they need no crash safety from the server."""
        self.data = Path(tempfile.mkdtemp(prefix="bridgebot-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        self.port = _free_port()
        done = self._run("initdb", "-D", str(self.data / "db"), "-U", USER, "--auth=trust",
                         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()[-2000:]}")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.data} "
                   "-c max_connections=300")
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        done = self._run("pg_ctl", "-D", str(self.data / "db"), "-o", options, "-w", "-t", "30",
                         "-l", str(self.data / "server.log"), "start")
        if done.returncode != 0:
            log = (self.data / "server.log")
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr.strip()} {tail}")

    def stop(self) -> None:
        self._stopping.set()
        if self._preparer is not None:
            while self._preparer.is_alive():  # it may be waiting to hand over a schema
                with contextlib.suppress(queue.Empty):
                    self._ready.get(timeout=0.1)
            self._preparer = None
        if self.port:
            self._run("pg_ctl", "-D", str(self.data / "db"), "-m", "immediate", "-w", "stop")
            self.port = 0
        shutil.rmtree(self.data, ignore_errors=True)

    @property
    def url(self) -> str:
        """The server's ``postgres`` database (no schema of a test's own)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def fresh(self) -> str:
        """The address of a new, empty schema (created here) on the server."""
        name = f"t{next(self._counter)}"
        done = self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", "postgres",
                         "-q", "-c", f"CREATE SCHEMA {name}")
        if done.returncode != 0:
            raise RuntimeError(f"CREATE SCHEMA failed: {done.stderr.strip()}")
        return f"{self.url}?search_path={name}"

    async def role_with_password(self, name: str, password: str) -> str:
        """The address (without the password) of the ``postgres`` database for a new role
        ``name`` that must give ``password``: the server trusts every other role, so a rule
        asking this one alone for its password goes first in ``pg_hba.conf``; returned once
        the server applies it (a reload is asynchronous)."""
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
            hba = self.data / "db" / "pg_hba.conf"
            rules = hba.read_text()
            with hba.open("w") as f:  # rewritten in place: its owner stays the server's user
                f.write(f"host all {name} 127.0.0.1/32 scram-sha-256\n{rules}")
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()
        url = f"postgresql://{name}@127.0.0.1:{self.port}/postgres"
        for _ in range(100):
            try:
                await (await asyncpg.connect(url, password=f"not-{password}")).close()
            except asyncpg.InvalidPasswordError:
                return url
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the server did not start asking {name} for a password")

    def migrated(self) -> str:
        """The address of a new schema already at the latest version, as bridgebot's
        migration leaves it (prepared ahead by a thread; the first call starts it)."""
        if self._preparer is None:
            self._preparer = threading.Thread(target=lambda: asyncio.run(self._prepare()),
                                              name="postgres-schemas", daemon=True)
            self._preparer.start()
        got = self._ready.get(timeout=60)
        if isinstance(got, BaseException):
            raise RuntimeError(f"preparing a migrated schema failed: {got}") from got
        return f"{self.url}?search_path={got}"

    async def _prepare(self) -> None:
        """Keep :data:`READY_AHEAD` migrated schemas ready until the server stops."""
        steps = ";\n".join(statement for step in pg_schema.steps() for statement in step)
        try:
            conn = await asyncpg.connect(self.url)
        except BaseException as err:  # handed to the test that waits, not lost in a thread
            self._ready.put(err)
            return
        try:
            while not self._stopping.is_set():
                name = f"m{next(self._counter)}"
                try:
                    async with conn.transaction():
                        await conn.execute(
                            f"CREATE SCHEMA {name}; SET LOCAL search_path TO {name}; {steps}; "
                            "CREATE TABLE schema_version (version INTEGER NOT NULL); "
                            f"INSERT INTO schema_version (version) VALUES ({LATEST})")
                except Exception as err:  # the waiting test reports it
                    self._ready.put(err)
                    return
                while not self._stopping.is_set():
                    try:
                        self._ready.put(name, timeout=0.2)
                        break
                    except queue.Full:
                        continue
        finally:
            await conn.close()
