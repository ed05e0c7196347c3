"""``bridgebot db copy --from sqlite:///… --to postgresql://…``: moving up to PostgreSQL
(the copying itself is :mod:`bridgebot.store.copy`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bridgebot.settings import Settings
from bridgebot.store import files_folder, open_database
from bridgebot.store.backup import files_dir
from bridgebot.store.copy import CopyRefused, copy_database, copy_files
from bridgebot.store.db import Database, DatabaseUnusable
from bridgebot.store.postgres import redacted

EXIT_FAILED = 1


def add_db_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["copy"])
    parser.add_argument("--from", dest="source", required=True, metavar="DATABASE",
                        help="the SQLite database to copy (sqlite:///path or a path)")
    parser.add_argument("--to", dest="target", required=True, metavar="DATABASE",
                        help="an empty database to copy into (postgresql://user@host/db)")
    parser.add_argument("--files-from", type=Path, metavar="DIR",
                        help="the stored files to copy along (default: files/ beside the SQLite file)")
    parser.add_argument("--files-to", type=Path, metavar="DIR",
                        help="where the new database's workers keep files (default: the files_dir "
                        "setting, else data/files of this directory with PostgreSQL)")


async def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    """Copy every table, keeping ids, and check each table's count in the target."""
    source, target = open_database(args.source), open_database(args.target)
    if not isinstance(source, Database):
        print("bridgebot: db copy reads a SQLite database (--from sqlite:///path)", file=sys.stderr)
        return EXIT_FAILED
    # Opening a SQLite file that is not there makes an empty one (and its lock file), which
    # was then "copied": 0 rows, exit 0, the mistyped path left behind as a new database.
    if not source.path.exists():
        raise DatabaseUnusable(f"there is no database at {source.path} (--from)")
    if isinstance(target, Database) and target.path.exists() and \
            target.path.resolve() == source.path.resolve():
        print(f"bridgebot: db copy refused: --from and --to name the same database "
              f"({source.path}); copy into a new, empty database", file=sys.stderr)
        return EXIT_FAILED
    await source.open()
    try:
        await target.open()
        try:
            copied = await copy_database(source, target)
        except CopyRefused as err:
            print(f"bridgebot: db copy refused: {err}", file=sys.stderr)
            return EXIT_FAILED
        finally:
            await target.close()
    finally:
        await source.close()
    width = max(len(table) for table, _ in copied)
    for table, count in copied:
        print(f"{table:<{width}}  {count}")
    print(f"Copied {sum(c for _, c in copied)} rows from {source.path} to "
          f"{redacted(str(args.target))}; every table's count checked.")
    files_from = args.files_from or files_dir(Path(source.path))
    files_to = args.files_to or files_folder(args.target, settings.files_dir)
    assert files_to is not None
    try:
        done, there = await asyncio.to_thread(copy_files, files_from, files_to)
    except OSError as err:
        print(f"bridgebot: the rows were copied but not every stored file ({err}); copy the "
              f"rest by hand: cp -rn {files_from}/. {files_to}/", file=sys.stderr)
        return EXIT_FAILED
    print(f"Copied {done} stored file(s) from {files_from} to {files_to}"
          + (f" ({there} already there)" if there else "") + ". Set database to the new address "
          f"and files_dir to {files_to} (a folder every worker and `serve` see).")
    return 0
