"""``bridgebot db copy --from sqlite:///… --to postgresql://…``: moving up to PostgreSQL
(the copying itself is :mod:`bridgebot.store.copy`)."""

from __future__ import annotations

import argparse
import sys

from bridgebot.settings import Settings
from bridgebot.store import open_database
from bridgebot.store.copy import CopyRefused, copy_database
from bridgebot.store.db import Database
from bridgebot.store.postgres import redacted

EXIT_FAILED = 1


def add_db_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["copy"])
    parser.add_argument("--from", dest="source", required=True, metavar="DATABASE",
                        help="the SQLite database to copy (sqlite:///path or a path)")
    parser.add_argument("--to", dest="target", required=True, metavar="DATABASE",
                        help="an empty database to copy into (postgresql://user@host/db)")


async def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    """Copy every table, keeping ids, and check each table's count in the target."""
    source, target = open_database(args.source), open_database(args.target)
    if not isinstance(source, Database):
        print("bridgebot: db copy reads a SQLite database (--from sqlite:///path)", file=sys.stderr)
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
          f"{redacted(str(args.target))}; every table's count checked. Move the files/ folder "
          "beside the database along, then set database to the new address.")
    return 0
