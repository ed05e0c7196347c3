"""``bridgebot backup FILE`` and ``bridgebot restore FILE``.

Kept apart from ``cli.py`` so the command table there stays a table; the work itself is in
:mod:`bridgebot.store.backup` (the store is the only place that touches the database file).
With PostgreSQL both work on the stored files only (the files_dir folder) and say so: the
database is ``pg_dump``'s and ``pg_restore``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bridgebot.settings import Settings
from bridgebot.store import files_folder, open_database
from bridgebot.store.backup import BackupError, backup, backup_files, restore, restore_files
from bridgebot.store.db import DatabaseUnusable
from bridgebot.store.files import FileStore
from bridgebot.store.migrations import LATEST

EXIT_FAILED = 1


def add_backup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path,
                        help="the archive to write (.tar.gz): the database and the stored files")


def add_restore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path,
                        help="a backup made by `bridgebot backup`, or an automatic pre-upgrade "
                        "backup (backups/*.sqlite3 beside the database)")


def _folder(settings: Settings) -> Path:
    folder = files_folder(settings.database, settings.files_dir)
    assert folder is not None, "a database setting is a file or a server, never :memory:"
    return folder


async def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """A consistent copy while the bot runs: SQLite's online backup API, then the files.
    With PostgreSQL: the files alone, and a line saying the database is pg_dump's."""
    folder = _folder(settings)
    if not isinstance(settings.database, Path):
        try:
            count = await asyncio.to_thread(backup_files, folder, args.file)
        except (BackupError, OSError) as err:
            print(f"bridgebot: backup failed: {err}", file=sys.stderr)
            return EXIT_FAILED
        print(f"Backed up {count} stored file(s) from {folder} to {args.file.resolve()}. The "
              "PostgreSQL database is not in it: back it up with pg_dump (before this, so that "
              "every file its posts name is here).")
        return 0
    database = settings.database
    try:
        done = await asyncio.to_thread(backup, database, args.file, folder)
    except (BackupError, OSError) as err:
        print(f"bridgebot: backup failed: {err}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Backed up {settings.database} (schema version {done.schema_version}: {done.topics} "
          f"topic(s), {done.posts} post(s), {done.files} stored file(s)) to {done.path}")
    return 0


async def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Replace the database with a backup; refused while any bridgebot has it open.
    With PostgreSQL: the backup's files into the files folder, and a line saying the
    database is pg_restore's."""
    folder = _folder(settings)
    if not isinstance(settings.database, Path):
        try:
            # Only the files the database's posts name: one erased since the backup
            # (/forgetme, retention) stays erased. So pg_restore first, then this.
            db = open_database(settings.database)
            await db.open()
            try:
                wanted = await FileStore(db, folder).named()
            finally:
                await db.close()
            count, left_out = await asyncio.to_thread(restore_files, args.file, folder, wanted)
        except (BackupError, OSError, DatabaseUnusable) as err:
            print(f"bridgebot: restore refused: {err}", file=sys.stderr)
            return EXIT_FAILED
        print(f"Restored {count} stored file(s) from {args.file} into {folder} (beside those "
              "there). The PostgreSQL database was not changed: restore it with pg_restore, "
              "before this.")
        if left_out:
            print(f"Left out {left_out} file(s) that no post in the database names (erased or "
                  "removed since the backup).")
        return 0
    database = settings.database
    try:
        done = await asyncio.to_thread(restore, args.file, database, LATEST, folder)
    except (BackupError, OSError) as err:
        print(f"bridgebot: restore refused: {err}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Restored {args.file} into {settings.database} (schema version {done.schema_version}: "
          f"{done.topics} topic(s), {done.posts} post(s), {done.files} stored file(s)).")
    if done.previous is not None:
        print(f"What was there before is kept in {done.previous} (restore it to undo).")
    if done.schema_version < LATEST:
        print(f"The next start upgrades it from schema version {done.schema_version} to {LATEST}.")
    return 0
