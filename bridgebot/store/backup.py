"""Backups of the database (and the stored files), restore, and the backup before a migration.

Copying a WAL database by hand is unsafe (the last commits may sit in ``-wal``), and the
slim image has no ``sqlite3`` tool, so bridgebot makes its own: SQLite's online backup API
copies the database in one step, i.e. inside one read transaction, which in WAL mode sees one
committed state while the running bot goes on writing. A backup file is a ``.tar.gz`` holding
``manifest.json``, ``bridgebot.sqlite3`` and, when the data directory has one, ``files/``.

Which process uses a database is told by ``flock`` on ``<database>.lock``: every process that
opens the database holds a shared lock as long as it is open (the kernel drops it when the
process dies, so no stale lock survives a crash); restore needs the exclusive lock, so it
refuses while a bot, ``serve`` or any other command has the database open, and they in turn
refuse to open it while a restore runs.

With PostgreSQL the database is backed up with its own tools (``pg_dump``); ``bridgebot
backup`` then writes the stored files alone (:func:`backup_files`: ``manifest.json`` saying
so, and ``files/``), and :func:`restore_files` puts the files of any bridgebot backup back
into the files folder (adding, never removing: names are contents' hashes). Where the files
folder is the ``files_dir`` setting rather than ``files/`` beside the database, every
function here takes it as ``files``.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

# Issue 14's content-addressed files live here, beside the database. Every file under it goes
# into a backup (as ``files/<relative path>``) and comes back on restore; the database is
# snapshotted first, so every file a backed-up post refers to already exists when it is read.
FILES_DIRNAME = "files"
# Automatic backups made before a schema migration, beside the database; the newest few kept.
BACKUPS_DIRNAME = "backups"
BACKUPS_KEPT = 3

DB_MEMBER = "bridgebot.sqlite3"
MANIFEST_MEMBER = "manifest.json"
FORMAT = "bridgebot-backup/1"
SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(RuntimeError):
    """A backup or restore cannot be done; the message says why and what to do."""


class DatabaseInUse(BackupError):
    """Another process holds the database (a running bot, ``serve``, another command)."""


def files_dir(database: Path) -> Path:
    """Where stored files (issue 14) live for this database."""
    return database.parent / FILES_DIRNAME


def backups_dir(database: Path) -> Path:
    return database.parent / BACKUPS_DIRNAME


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


class DatabaseLock:
    """``flock`` on ``<database>.lock``: shared while a process has the database open,
    exclusive while a restore replaces it."""

    def __init__(self, database: Path) -> None:
        self.path = lock_path(database)
        self._fd: int | None = None

    def acquire(self, *, exclusive: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if exclusive:
                raise DatabaseInUse(
                    f"{self.path.with_suffix('')} is in use by a running bridgebot (the bot, serve or "
                    "another command); stop it first (docker compose stop bridgebot)") from None
            raise DatabaseInUse(
                f"{self.path.with_suffix('')} is being restored from a backup; "
                "start bridgebot again when the restore has finished") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


@contextmanager
def _locked(database: Path, *, exclusive: bool) -> Iterator[None]:
    lock = DatabaseLock(database)
    lock.acquire(exclusive=exclusive)
    try:
        yield
    finally:
        lock.release()


def _stamp() -> str:
    """UTC, to the microsecond, without dots: sorting the names sorts the times."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def schema_version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT version FROM schema_version").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0]) if row else 0


def snapshot(database: Path, target: Path) -> int:
    """Copy ``database`` into the new SQLite file ``target`` with the online backup API, in
    one step (one read transaction: one committed state); return its schema version."""
    src = sqlite3.connect(database)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # pages=-1: everything in one step
            # A standalone file: no -wal beside it to lose.
            dst.execute("PRAGMA journal_mode=DELETE")
            return schema_version(dst)
        finally:
            dst.close()
    finally:
        src.close()


def backup_before_migration(database: Path, found: int, latest: int) -> Path:
    """Snapshot before migrating from ``found`` to ``latest``; keep the newest few such files.

    Migrations never touch stored files (content-addressed, never rewritten), so these
    hold the database alone."""
    folder = backups_dir(database)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{database.stem}.v{found}-before-v{latest}.{_stamp()}.sqlite3"
    partial = target.with_name(target.name + ".partial")
    snapshot(database, partial)
    partial.replace(target)
    old = sorted(folder.glob(f"{database.stem}.v*-before-v*.sqlite3"),
                 key=lambda p: p.name.rsplit(".", 2)[-2])
    for stale in old[:-BACKUPS_KEPT]:
        stale.unlink(missing_ok=True)
    return target


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    schema_version: int
    topics: int
    posts: int
    files: int


def _counts(db: Path) -> tuple[int, int]:
    conn = sqlite3.connect(db)
    try:
        def count(table: str) -> int:
            try:
                return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            except sqlite3.OperationalError:
                return 0
        return count("topics"), count("posts")
    finally:
        conn.close()


def _stored(folder: Path) -> list[Path]:
    """The stored files under ``folder``, not the half-written ones in its ``tmp/``."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and p.relative_to(folder).parts[0] != "tmp")


def _manifest(tar: tarfile.TarFile, manifest: dict[str, object]) -> None:
    data = json.dumps(manifest, indent=2).encode()
    info = tarfile.TarInfo(MANIFEST_MEMBER)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


def _finish(partial: Path, target: Path) -> None:
    with open(partial, "rb") as fh:
        os.fsync(fh.fileno())
    partial.replace(target)


def backup(database: Path, target: Path, files: Path | None = None) -> BackupSummary:
    """Write a backup archive of ``database`` (and its stored files, in ``files`` or beside
    it) to ``target``."""
    folder = files if files is not None else files_dir(database)
    if not database.is_file():
        raise BackupError(f"there is no database at {database} (set `database` or BRIDGEBOT_DATABASE)")
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(database, exclusive=False), tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        db_copy = Path(tmp) / DB_MEMBER
        version = snapshot(database, db_copy)
        topics, posts = _counts(db_copy)
        stored = _stored(folder)
        manifest = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(),
                    "schema_version": version, "topics": topics, "posts": posts, "files": len(stored)}
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            _manifest(tar, manifest)
            tar.add(db_copy, arcname=DB_MEMBER)
            for path in stored:
                tar.add(path, arcname=f"{FILES_DIRNAME}/{path.relative_to(folder).as_posix()}")
        _finish(partial, target)
    return BackupSummary(target, version, topics, posts, len(stored))


def backup_files(folder: Path, target: Path) -> int:
    """Write the stored files in ``folder`` to the archive ``target`` (PostgreSQL: the
    database is ``pg_dump``'s); return how many. Files arriving meanwhile may be left out;
    take the database's dump first, then this, so every file a dumped post names is in."""
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    stored = _stored(folder)
    manifest = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(),
                "database": "postgresql (not in this file: pg_dump)", "files": len(stored)}
    partial = target.with_name(target.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        _manifest(tar, manifest)
        for path in stored:
            tar.add(path, arcname=f"{FILES_DIRNAME}/{path.relative_to(folder).as_posix()}")
    _finish(partial, target)
    return len(stored)


def restore_files(source: Path, folder: Path, wanted: Container[str]) -> tuple[int, int]:
    """Put the stored files of the bridgebot backup ``source`` (made on SQLite or
    PostgreSQL) into ``folder``, beside those already there: only those whose sha256 is in
    ``wanted`` (the ones a post in the database names). A file erased since the backup
    (``/forgetme``, retention) is named by no post any more and stays erased. Return how
    many were restored and how many left out. The database is not touched (PostgreSQL:
    ``pg_restore``, first). Safe while bots run: each file is renamed into place whole, and
    a file under its hash is that content."""
    if not source.is_file():
        raise BackupError(f"there is no backup file at {source}")
    (folder / "tmp").mkdir(parents=True, exist_ok=True)  # where FileStore.put writes too
    with tempfile.TemporaryDirectory(dir=folder / "tmp") as tmp:
        try:
            tar = tarfile.open(source, "r:*")
        except tarfile.TarError:
            raise BackupError(f"{source} is not a bridgebot backup (a .tar.gz it wrote)") from None
        with tar:
            if MANIFEST_MEMBER not in tar.getnames():
                raise BackupError(f"{source} is not a bridgebot backup (no manifest)")
            stored = [m for m in tar.getmembers()
                      if m.isfile() and m.name.startswith(FILES_DIRNAME + "/")]
            members = [m for m in stored if PurePosixPath(m.name).name in wanted]
            tar.extractall(tmp, members=members, filter="data")
        for member in members:
            dest = folder / Path(member.name).relative_to(FILES_DIRNAME)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(Path(tmp) / member.name, dest)
    return len(members), len(stored) - len(members)


def _check(db: Path, latest: int) -> int:
    try:
        conn = sqlite3.connect(db)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            version = schema_version(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        raise BackupError(f"the backup's database cannot be read: {err}") from None
    if ok != "ok":
        raise BackupError(f"the backup's database is damaged (integrity check: {ok})")
    if "schema_version" not in tables or "posts" not in tables:
        raise BackupError("the backup holds an SQLite file that is not a bridgebot database")
    if version > latest:
        raise BackupError(f"the backup has schema version {version}, but this bridgebot only knows up "
                          f"to {latest}; restore it with a newer bridgebot")
    return version


@dataclass(frozen=True)
class RestoreSummary:
    schema_version: int
    topics: int
    posts: int
    files: int
    previous: Path | None  # a snapshot of what the restore replaced


def restore(source: Path, database: Path, latest: int, files: Path | None = None) -> RestoreSummary:
    """Replace ``database`` (and add the stored files, to ``files`` or beside it) with the
    backup ``source``.

    ``source`` is an archive made by :func:`backup`, or a plain SQLite file (an automatic
    pre-migration backup). Refused while any process has the database open. What was there
    before is first snapshotted into ``backups/``, so a restore of the wrong file is undone
    by restoring that one."""
    if not source.is_file():
        raise BackupError(f"there is no backup file at {source}")
    database.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=database.parent) as tmp:
        with open(source, "rb") as fh:
            plain = fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
        members: list[tarfile.TarInfo] = []
        db_copy = Path(tmp) / DB_MEMBER
        if plain:  # checked and read from a copy: the operator's file stays as it is
            shutil.copyfile(source, db_copy)
        else:
            try:
                tar = tarfile.open(source, "r:*")
            except tarfile.TarError:
                raise BackupError(f"{source} is neither a bridgebot backup nor an SQLite file") from None
            with tar:
                names = tar.getnames()
                if MANIFEST_MEMBER in names and DB_MEMBER not in names:
                    raise BackupError(f"{source} holds stored files only (a backup made with "
                                      "PostgreSQL), no database to restore into SQLite")
                if DB_MEMBER not in names or MANIFEST_MEMBER not in names:
                    raise BackupError(f"{source} is not a bridgebot backup (no {DB_MEMBER} or manifest)")
                members = [m for m in tar.getmembers() if m.isfile()
                           and (m.name == DB_MEMBER or m.name.startswith(FILES_DIRNAME + "/"))]
                # The "data" filter refuses absolute paths, "..", links out and device files.
                tar.extractall(tmp, members=members, filter="data")
        version = _check(db_copy, latest)
        topics, posts = _counts(db_copy)
        stored = [m for m in members if m.name != DB_MEMBER]
        with _locked(database, exclusive=True):
            previous = None
            if database.is_file() and database.stat().st_size > 0:
                folder = backups_dir(database)
                folder.mkdir(parents=True, exist_ok=True)
                previous = folder / f"{database.stem}.before-restore.{_stamp()}.sqlite3"
                snapshot(database, previous)
            src = sqlite3.connect(db_copy)
            try:
                dst = sqlite3.connect(database)
                try:
                    src.backup(dst)  # through the target's pager: its -wal is rewritten too
                    dst.execute("PRAGMA journal_mode=WAL")
                    dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    dst.close()
            finally:
                src.close()
            for member in stored:
                rel = Path(member.name).relative_to(FILES_DIRNAME)
                dest = (files if files is not None else files_dir(database)) / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(Path(tmp) / member.name, dest)
    return RestoreSummary(version, topics, posts, len(stored), previous)
