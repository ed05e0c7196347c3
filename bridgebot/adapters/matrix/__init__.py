"""Matrix through mautrix-python as an application service: rooms, threads, ghosts.

``PLATFORM`` is the package's one record for :mod:`bridgebot.adapters.registry`.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bridgebot.adapters.matrix.settings import MatrixSettings
from bridgebot.adapters.platform import Finding, Platform, PlatformCommand
from bridgebot.core.attachments import MB, FileLimits

if TYPE_CHECKING:
    from bridgebot.adapters.matrix.adapter import MatrixAdapter


def _build(settings: MatrixSettings) -> MatrixAdapter:
    from bridgebot.adapters.matrix.adapter import MatrixAdapter

    return MatrixAdapter(settings)


async def _check(settings: MatrixSettings, rooms: Sequence[str]) -> list[Finding]:
    from bridgebot.adapters.matrix.checks import check_matrix

    return await check_matrix(settings, rooms)


def _registration_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path,
                        help="write the file here (readable by its owner only) instead of stdout")


def _registration(settings: MatrixSettings | None, args: argparse.Namespace) -> int:
    """``bridgebot matrix-registration``: the YAML a homeserver admin installs."""
    from bridgebot.adapters.matrix.registration import registration_yaml

    if settings is None:
        print("bridgebot: [matrix] is not configured. Set at least matrix.homeserver, "
              "matrix.server_name, matrix.as_token and matrix.hs_token (two new random tokens, "
              f"for example {secrets.token_urlsafe(32)} and {secrets.token_urlsafe(32)}), "
              "then run this again.", file=sys.stderr)
        return 2
    text = registration_yaml(settings)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    print(f"wrote {args.output}: add it to the homeserver's app_service_config_files and "
          "restart the homeserver", file=sys.stderr)
    return 0


PLATFORM = Platform(
    name="matrix",
    display_name="Matrix",
    chats="matrix_rooms",
    chat_id=str,
    settings=MatrixSettings,
    build=_build,
    check=_check,
    # matrix.to links and matrix: URIs to a person (or a room, which may be private).
    profile_links=(r"(?:https?://)?matrix\.to/#/[@!#]", r"matrix:(?:u|roomid|r)/"),
    reserved_names=("Matrix user",),
    # Synapse's default upload limit; the adapter reads the homeserver's own at start.
    file_limits=FileLimits(per_file=50 * MB, count=10),
    # A mirror is sent by the author's ghost, and clients show the name the ghost had when it
    # sent it: forgetting someone empties the copies but cannot take the name off them.
    edits_keep_names=True,
    commands=(PlatformCommand(
        "matrix-registration", "write the appservice registration file a Matrix homeserver installs",
        _registration, _registration_arguments),),
)
