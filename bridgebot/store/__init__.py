"""The storage: the only package with SQL; it implements the core's ports on SQLite or
PostgreSQL (one set of queries, :mod:`bridgebot.store.sql`)."""

from __future__ import annotations

import os
from pathlib import Path

from bridgebot.core.ports import Storage
from bridgebot.store import db as sqlite
from bridgebot.store import postgres
from bridgebot.store.backup import files_dir
from bridgebot.store.db import Database
from bridgebot.store.facilitation import FacilitationStore
from bridgebot.store.files import FileStore
from bridgebot.store.postgres import PgDatabase, is_postgres
from bridgebot.store.privacy import PrivacyStore
from bridgebot.store.repo import Store

AnyDatabase = Database | PgDatabase

# Where posts' files are kept when the database is PostgreSQL and the ``files_dir`` setting
# is unset (with SQLite: ``files/`` beside the database file), relative to the working
# directory as the default SQLite database is. Several workers need one folder they all
# mount: the setting names it (README "PostgreSQL").
PG_FILES = Path("data/files")


def files_folder(database: Path | str, setting: Path | None = None) -> Path | None:
    """The folder of posts' stored files for this ``database`` setting: ``setting`` (the
    ``files_dir`` setting) when given, else ``files/`` beside a SQLite file, else
    :data:`PG_FILES`; made absolute now, so a worker's later working directory does not move
    it. None for an in-memory SQLite database (its files go to a temporary folder)."""
    if setting is not None:
        chosen = Path(setting)
    elif is_postgres(database):
        chosen = PG_FILES
    elif str(database).removeprefix("sqlite:///") == ":memory:":
        return None
    else:
        chosen = files_dir(Path(str(database).removeprefix("sqlite:///")))
    return Path(os.path.abspath(chosen.expanduser()))  # ".." folded, links kept


def open_database(database: Path | str) -> AnyDatabase:
    """The database a ``database`` setting names: ``postgresql://…`` is a PostgreSQL server;
    ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or a plain path is a SQLite
    file (not opened yet)."""
    if is_postgres(database):
        return PgDatabase(str(database))
    if isinstance(database, str) and database.startswith("sqlite://"):
        database = database.removeprefix("sqlite:///")  # sqlite:////abs/path is absolute
    return Database(database)


def storage_for(db: AnyDatabase, store: Store | None = None, files_root: Path | None = None) -> Storage:
    """The core's :class:`~bridgebot.core.ports.Storage` over one database.

    ``store``: the discussion store to use when the caller keeps one (the runtime does,
    for the operator commands); one is made otherwise. ``files_root``: the folder of posts'
    files (:func:`files_folder`); unset, PostgreSQL's default or beside the SQLite file.
    """
    store = store or Store(db)
    failure = postgres.is_failure if isinstance(db, PgDatabase) else sqlite.is_failure
    if files_root is None and isinstance(db, PgDatabase):
        files_root = files_folder(db.dsn)
    files = FileStore(db, files_root)
    return Storage(discussions=store, outbox=store, facilitation=FacilitationStore(db),
                   privacy=PrivacyStore(db, files), unit_of_work=db.unit_of_work,
                   is_failure=failure, files=files)


sqlite_storage = storage_for  # the name callers knew when SQLite was the only store
