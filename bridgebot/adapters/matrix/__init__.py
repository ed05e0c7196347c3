"""Matrix through mautrix-python as an application service: rooms, threads, ghosts.

``PLATFORM`` is the package's one record for :mod:`bridgebot.adapters.registry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bridgebot.adapters.matrix.settings import MatrixSettings
from bridgebot.adapters.platform import Finding, Platform

if TYPE_CHECKING:
    from bridgebot.adapters.matrix.adapter import MatrixAdapter


def _build(settings: MatrixSettings) -> MatrixAdapter:
    from bridgebot.adapters.matrix.adapter import MatrixAdapter

    return MatrixAdapter(settings)


async def _check(settings: MatrixSettings, rooms: Sequence[str]) -> list[Finding]:
    from bridgebot.adapters.matrix.checks import check_matrix

    return await check_matrix(settings, rooms)


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
)
