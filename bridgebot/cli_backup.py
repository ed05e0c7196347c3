"""``bridgebot backup FILE`` and ``bridgebot restore FILE``.

Kept apart from ``cli.py`` so the command table there stays a table; the work itself is in
:mod:`bridgebot.store.backup` (the store is the only place that touches the database file).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bridgebot.settings import Settings
from bridgebot.store.backup import BackupError, backup, restore
from bridgebot.store.migrations import LATEST

EXIT_FAILED = 1


def add_backup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path,
                        help="the archive to write (.tar.gz): the database and the stored files")


def add_restore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path,
                        help="a backup made by `bridgebot backup`, or an automatic pre-upgrade "
                        "backup (backups/*.sqlite3 beside the database)")


def _sqlite_only(settings: Settings, command: str) -> Path | None:
    """The SQLite file to work on, or None (said why) when the database is PostgreSQL."""
    if isinstance(settings.database, Path):
        return settings.database
    print(f"bridgebot: {command} works on a SQLite database; PostgreSQL's are backed up and "
          "restored with its own tools (pg_dump, pg_restore)", file=sys.stderr)
    return None


async def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """A consistent copy while the bot runs: SQLite's online backup API, then the files."""
    if (database := _sqlite_only(settings, "backup")) is None:
        return EXIT_FAILED
    try:
        done = await asyncio.to_thread(backup, database, args.file)
    except (BackupError, OSError) as err:
        print(f"bridgebot: backup failed: {err}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Backed up {settings.database} (schema version {done.schema_version}: {done.topics} "
          f"topic(s), {done.posts} post(s), {done.files} stored file(s)) to {done.path}")
    return 0


async def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Replace the database with a backup; refused while any bridgebot has it open."""
    if (database := _sqlite_only(settings, "restore")) is None:
        return EXIT_FAILED
    try:
        done = await asyncio.to_thread(restore, args.file, database, LATEST)
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
