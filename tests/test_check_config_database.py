"""`bridgebot check-config` looks at the database too: can `run` use it, and what will it do
to it (create the tables, migrate, refuse)? Read only, and bounded in time."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from bridgebot.checks import run_checks
from bridgebot.settings import load_settings
from bridgebot.store import db as sqlite
from bridgebot.store import pg_schema
from bridgebot.store.migrations import LATEST, MIGRATIONS

from .auxil.postgres import PostgresServer
from .auxil.silent import silent_server


async def checked(database: str, tmp_path: Path) -> tuple[int, list[str]]:
    """check-config's exit code and lines for ``database``, its files folder in ``tmp_path``."""
    lines: list[str] = []
    code = await run_checks(load_settings(database=database, files_dir=str(tmp_path / "files")),
                            lines.append)
    return code, lines


def database_row(lines: list[str]) -> str:
    """The table's one database row (not the ``database: …`` line above the table)."""
    rows = [line for line in lines if line.startswith("database ")]
    assert len(rows) == 1, lines
    return rows[0]


def everything_under(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder``, with a hash of each file's bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file()
            else "folder" for p in sorted(folder.rglob("*"))}


def sqlite_at(path: Path, version: int | None) -> None:
    """A SQLite file as bridgebot's migrations leave it at ``version`` (its steps, then the
    version table; a version past LATEST has LATEST's tables); None: a database without
    tables."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # as bridgebot's files are
        if version is not None:
            for statement in [s for step in MIGRATIONS[:min(version, LATEST)] for s in step]:
                conn.execute(statement)
            conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        conn.commit()
    finally:
        conn.close()


async def postgres_at(server: PostgresServer, version: int | None) -> str:
    """A schema of its own at ``version``, as :func:`sqlite_at` (None: an empty schema)."""
    url = server.fresh()
    if version is not None:
        conn = await asyncpg.connect(url)
        try:
            for statement in [s for step in pg_schema.steps()[:min(version, LATEST)] for s in step]:
                await conn.execute(statement)
            await conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
        finally:
            await conn.close()
    return url


async def postgres_state(url: str) -> tuple[list[str], list[int]]:
    """The schema's tables (pg_tables: information_schema reads every schema's) and the
    versions recorded."""
    conn = await asyncpg.connect(url)
    try:
        tables = [r[0] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1")]
        versions = ([r[0] for r in await conn.fetch("SELECT version FROM schema_version")]
                    if "schema_version" in tables else [])
    finally:
        await conn.close()
    return tables, versions


@pytest.mark.parametrize(("version", "ok", "detail"), [
    (None, True, "empty: `bridgebot run` will create the tables"),
    (7, True, f"at version 7 < {LATEST}: `bridgebot run` will migrate it"),
    (LATEST, True, f"at version {LATEST} (this release: {LATEST})"),
    (LATEST + 1, False, f"newer than this release ({LATEST + 1} > {LATEST}): `bridgebot run` "
                        "refuses it"),
])
async def test_the_database_row_says_what_run_will_do_and_changes_nothing(
        store: str, request: pytest.FixtureRequest, tmp_path: Path, version: int | None, ok: bool,
        detail: str):
    """Each version as the store's migrations would take it (older: migrated, newer: refused),
    read without migrating, creating or writing anything."""
    if store == "sqlite":
        (tmp_path / "data").mkdir()
        database: str = str(tmp_path / "data" / "bridgebot.sqlite3")
        sqlite_at(Path(database), version)
        before: object = everything_under(tmp_path)
    else:
        database = await postgres_at(request.getfixturevalue("postgres_server"), version)
        before = await postgres_state(database)
    settings = load_settings(database=database, files_dir=str(tmp_path / "files"))
    lines: list[str] = []
    assert await run_checks(settings, lines.append) == (0 if ok else 1), lines
    row = database_row(lines)
    assert "  schema version  " in row and detail in row, row
    assert (" ok " in row) == ok and (" FIX " in row) == (not ok), row
    if store == "sqlite":
        assert everything_under(tmp_path) == before, "no byte written, no -wal, -shm or backup made"
    else:
        assert f"schema {database.rsplit('search_path=', 1)[1]}" in row, "which schema was read"
        assert await postgres_state(database) == before, "nothing created, nothing migrated"


@pytest.mark.sqlite_only("the -wal file beside a SQLite database a running bot holds open")
async def test_a_sqlite_database_a_bot_has_open_is_read_as_it_is_now(tmp_path: Path):
    path = tmp_path / "bridgebot.sqlite3"
    running = sqlite.Database(path)
    await running.open()
    try:
        async with running.tx() as tx:  # a write the -wal holds, not yet the file
            await tx.execute("UPDATE schema_version SET version = ?", (LATEST + 1,))
        assert (tmp_path / "bridgebot.sqlite3-wal").exists()
        lines: list[str] = []
        code = await run_checks(load_settings(database=str(path)), lines.append)
    finally:
        await running.close()
    assert code == 1, lines
    assert f"newer than this release ({LATEST + 1} > {LATEST})" in database_row(lines)


@pytest.mark.sqlite_only("a SQLite file's path")
async def test_a_sqlite_file_that_is_not_there_is_not_made(tmp_path: Path):
    """`run` creates a missing file (and the folders above it): check-config says whether
    it can, and makes nothing."""
    (tmp_path / "blocked").write_text("a file where a folder should be")
    before = everything_under(tmp_path)
    for database, ok, detail in [
            (tmp_path / "data" / "bridgebot.sqlite3", True, "not there yet: `bridgebot run` creates it"),
            (tmp_path / "blocked" / "bridgebot.sqlite3", False,
             f"{tmp_path / 'blocked' / 'bridgebot.sqlite3'} is not there yet, and `bridgebot run` "
             f"cannot create it: {tmp_path / 'blocked'} is not a folder")]:
        lines: list[str] = []
        code = await run_checks(load_settings(database=str(database),
                                              files_dir=str(tmp_path / "files")), lines.append)
        row = database_row(lines)
        assert code == (0 if ok else 1), lines
        assert "  file  " in row and detail in row and (" ok " in row) == ok, row
        assert not database.exists()
    assert everything_under(tmp_path) == before


@pytest.mark.sqlite_only("a SQLite file's path")
async def test_a_sqlite_path_this_user_may_not_look_at_is_a_row_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A folder without search permission for this user (the tests run as root, who may
    look everywhere: its stat is refused here the way the system refuses it)."""
    hidden = tmp_path / "private"
    stat = Path.stat

    def refused(self: Path, *args, **kwargs):
        if self == hidden or hidden in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", refused)
    lines: list[str] = []
    code = await run_checks(load_settings(database=str(hidden / "bridgebot.sqlite3"),
                                          files_dir=str(tmp_path / "files")), lines.append)
    assert code == 1, lines
    row = database_row(lines)
    assert " FIX " in row and f"{hidden / 'bridgebot.sqlite3'} cannot be looked at (Permission denied)" in row


@pytest.mark.sqlite_only("a SQLite file's and its folder's permissions")
@pytest.mark.parametrize(("locked", "reason"), [
    ("file", "this user may not write the file"),
    ("folder", "this user may not create files in {folder} (its -wal, -shm and lock files)"),
])
async def test_a_sqlite_database_this_user_may_read_but_not_write_is_a_row_to_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locked: str, reason: str):
    """`run` writes the file, and beside it its -wal, -shm and lock files: read-only, either
    would stop it at its first post. (The tests run as root, whom the system lets write
    anything: the permission bits are asked as they would be for another user.)"""
    import os
    import stat

    from bridgebot.store import look

    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "bridgebot.sqlite3"
    sqlite_at(path, LATEST)
    (path if locked == "file" else folder).chmod(0o555)

    def access(where: object, mode: int) -> bool:
        if not mode & os.W_OK:
            return True
        return bool(Path(str(where)).stat().st_mode & stat.S_IWUSR)

    monkeypatch.setattr(look.os, "access", access)
    lines: list[str] = []
    try:
        code = await run_checks(load_settings(database=str(path),
                                              files_dir=str(tmp_path / "files")), lines.append)
    finally:
        (path if locked == "file" else folder).chmod(0o755)
    assert code == 1, lines
    row = database_row(lines)
    assert " FIX " in row and (f"{path} is readable but `bridgebot run` could not write it: "
                               f"{reason.format(folder=folder)}") in row, row


@pytest.mark.sqlite_only("a file at the SQLite database's path")
@pytest.mark.parametrize(("make", "detail"), [
    (lambda path: path.write_bytes(b"these are notes, not a database\n" * 64),
     "cannot be used: file is not a database"),
    (lambda path: sqlite3.connect(path).execute("CREATE TABLE invoices (id INTEGER)").connection.close(),
     "belongs to another program (it has tables such as 'invoices' but no bridgebot schema)"),
])
async def test_a_file_that_is_not_bridgebots_database_is_a_row_to_fix(tmp_path: Path, make, detail):
    path = tmp_path / "bridgebot.sqlite3"
    make(path)
    before = everything_under(tmp_path)
    lines: list[str] = []
    assert await run_checks(load_settings(database=str(path)), lines.append) == 1, lines
    row = database_row(lines)
    assert " FIX " in row and f"the database {path} {detail}" in row, row
    assert everything_under(tmp_path) == before


async def test_a_wrong_database_password_is_one_row_without_the_password(
        postgres_server: PostgresServer, tmp_path: Path):
    url = await postgres_server.role_with_password("checker", "the-right-password")
    database = url.replace("checker@", "checker:a-wrong-password@")
    code, lines = await checked(database, tmp_path)
    assert code == 1, lines
    row = database_row(lines)
    assert "  connect  " in row and " FIX " in row, row
    assert 'password authentication failed for user "checker"' in row, row
    assert "checker:***@127.0.0.1" in row, "the address, its password blanked"
    assert "a-wrong-password" not in "\n".join(lines)


async def test_a_wrong_password_given_as_a_parameter_is_not_shown_either(
        postgres_server: PostgresServer, tmp_path: Path):
    url = await postgres_server.role_with_password("paramchecker", "the-right-password")
    database = f"{url}?password=a-wrong-password-given-so"
    code, lines = await checked(database, tmp_path)
    assert code == 1, lines
    assert "password=***" in "\n".join(lines), "the address is shown, its password blanked"
    assert "a-wrong-password-given-so" not in "\n".join(lines)


async def test_a_schema_that_does_not_exist_is_a_row_to_fix_and_is_not_made(
        postgres_server: PostgresServer, tmp_path: Path):
    database = f"{postgres_server.url}?search_path=nosuch_schema"
    code, lines = await checked(database, tmp_path)
    assert code == 1, lines
    row = database_row(lines)
    assert "  schema  " in row and " FIX " in row, row
    assert "has no schema for bridgebot's tables: none of its search_path (nosuch_schema) exists" in row
    conn = await asyncpg.connect(postgres_server.url)
    try:
        assert await conn.fetchval("SELECT to_regnamespace('nosuch_schema')") is None
    finally:
        await conn.close()


async def test_a_database_server_that_never_answers_is_a_row_to_fix_not_a_hang(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A server (a proxy, a firewall) that accepts the connection and says nothing: the
    look is bounded (DATABASE_SECONDS), like each platform's."""
    from bridgebot import checks

    monkeypatch.setattr(checks, "DATABASE_SECONDS", 0.5)
    lines: list[str] = []
    async with silent_server() as port:
        settings = load_settings(
            database=f"postgresql://bot:s3cret-pass@127.0.0.1:{port}/bridgebot",
            files_dir=str(tmp_path / "files"))
        code = await run_checks(settings, lines.append)
    assert code == 1, lines
    row = database_row(lines)
    assert "  connect  " in row and " FIX " in row, row
    assert f"no answer within 0.5 s from postgresql://bot:***@127.0.0.1:{port}/bridgebot" in row
    assert "s3cret-pass" not in "\n".join(lines)


async def _role_that_reads_and_writes(server: PostgresServer, schema: str, name: str) -> None:
    """A role that may use ``schema`` and read and write its tables, not create in it (as
    PostgreSQL 15's ``public`` is for any role but its owner)."""
    conn = await asyncpg.connect(server.url)
    try:
        await conn.execute(f"CREATE ROLE {name} LOGIN")
        await conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {name}")
        await conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} "
                           f"TO {name}")
    finally:
        await conn.close()


async def test_a_role_that_may_not_create_tables_starts_a_schema_its_owner_migrated(
        postgres_server: PostgresServer, tmp_path: Path):
    """Workers whose role may only read and write the tables (the owner created and migrated
    them) start: nothing is created at a start that has nothing to create, so the look says
    ok and ``PgDatabase.open`` agrees, and the role can write a post's outbox row."""
    from bridgebot.store.postgres import PgDatabase

    owner = postgres_server.migrated()
    schema = owner.rsplit("search_path=", 1)[1]
    opened = PgDatabase(owner)
    await opened.open()  # the lease table too, as a first start by the owner makes it
    await opened.close()
    await _role_that_reads_and_writes(postgres_server, schema, "reads_writes")
    database = owner.replace("bridgebot@", "reads_writes@")
    code, lines = await checked(database, tmp_path)
    row = database_row(lines)
    assert code == 0 and " ok " in row and f"at version {LATEST}" in row, lines
    assert lines[-1] == "The 1 check passed.", "no platform configured: the database's row alone"
    worker = PgDatabase(database)
    await worker.open()  # what the row foretells
    try:
        assert await worker.fetch("SELECT version FROM schema_version") == [(LATEST,)]
    finally:
        await worker.close()


async def test_a_role_that_may_not_create_the_tables_it_needs_is_one_line_to_fix(
        postgres_server: PostgresServer, tmp_path: Path):
    """An empty schema (or one to migrate) needs the right to create in it: the look is a
    FIX row naming the GRANT, and ``bridgebot run`` stops with one line saying the same
    (``DatabaseUnusable``), not PostgreSQL's traceback."""
    from bridgebot.store.db import DatabaseUnusable
    from bridgebot.store.postgres import PgDatabase

    empty = postgres_server.fresh()
    schema = empty.rsplit("search_path=", 1)[1]
    await _role_that_reads_and_writes(postgres_server, schema, "may_not_create")
    database = empty.replace("bridgebot@", "may_not_create@")
    code, lines = await checked(database, tmp_path)
    assert code == 1, lines
    row = database_row(lines)
    assert "  schema  " in row and " FIX " in row, row
    assert (f"the role may_not_create may not create tables in the schema {schema}" in row
            and f"GRANT CREATE ON SCHEMA {schema} TO may_not_create" in row), row
    with pytest.raises(DatabaseUnusable) as refused:
        await PgDatabase(database).open()
    assert (f"GRANT CREATE ON SCHEMA {schema}" in str(refused.value)
            and "\n" not in str(refused.value)), refused.value


@pytest.mark.sqlite_only("a loop of symbolic links at the SQLite database's path")
async def test_a_loop_of_symbolic_links_is_a_row_to_fix_not_a_traceback(tmp_path: Path):
    """Path.resolve raised RuntimeError ("Symlink loop", Python before 3.13) out of the look."""
    (tmp_path / "one").symlink_to(tmp_path / "two")
    (tmp_path / "two").symlink_to(tmp_path / "one")
    before = everything_under(tmp_path)
    code, lines = await checked(str(tmp_path / "one"), tmp_path)
    assert code == 1, lines
    row = database_row(lines)
    assert " FIX " in row and f"{tmp_path / 'one'} cannot be used: it is a loop of symbolic links" in row
    assert everything_under(tmp_path) == before
