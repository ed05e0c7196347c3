"""``bridgebot demo --matrix``: the same discussion carried into a room of a real Synapse.

Matrix needs no fake: when Synapse is installed (the ``matrix-synapse`` package, which
``.[test]`` and the ``synapse`` extra bring), the demo starts a throw-away homeserver on
127.0.0.1 in the demo's folder, registers one reader, creates the room "Allies" with the
bot invited, and adds the room to the bridge. At the end it prints the room as that
reader's client shows it: the bot's topic thread and each author's ghost
("Jessica (Telegram)"), read back from the homeserver, not from what bridgebot sent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bridgebot.core.models import ChannelRef
from bridgebot.demo.transcript import Seen

ROOM_NAME = "Allies"
NOT_INSTALLED = ("bridgebot demo --matrix needs Synapse, which is not installed: "
                 "pip install -e '.[test]' (or '.[synapse]') brings matrix-synapse")


class MatrixRoom:
    """A local Synapse, one reader and the room the demo bridges."""

    def __init__(self, folder: Path) -> None:
        from bridgebot.adapters.matrix.synapse import LocalSynapse

        self.synapse = LocalSynapse(folder / "synapse")
        self.room = ""
        self._client: Any = None

    @property
    def url(self) -> str:
        return self.synapse.url

    @property
    def ref(self) -> ChannelRef:
        return ChannelRef("matrix", self.room)

    async def start(self) -> None:
        """Start Synapse (a few seconds), then a reader creates the room and invites the bot."""
        from mautrix.client import Client
        from mautrix.types import RoomCreatePreset

        await asyncio.to_thread(self.synapse.start)
        reader = await asyncio.to_thread(self.synapse.register, "reader")
        self._client = Client(mxid=reader.user_id, base_url=self.synapse.url,
                              token=reader.access_token)
        await self._client.set_displayname("A reader")
        self.room = str(await self._client.create_room(
            name=ROOM_NAME, preset=RoomCreatePreset.PRIVATE,
            invitees=[self.synapse.appservice.bot_user_id]))

    def adapter(self) -> Any:
        from bridgebot.adapters.matrix.adapter import MatrixAdapter

        return MatrixAdapter(self.synapse.appservice)

    async def seen(self) -> list[Seen]:
        """The room's messages, oldest first, as the reader's client shows them."""
        from mautrix.types import EventType, PaginationDirection, RoomID

        room = RoomID(self.room)
        members = await self._client.get_joined_members(room)
        names = {str(user): (m.displayname or str(user)) for user, m in members.items()}
        page = await self._client.get_messages(room, PaginationDirection.BACKWARD, limit=500)
        events = [e.serialize() for e in reversed(page.events) if e.type == EventType.ROOM_MESSAGE]
        by_id = {e["event_id"]: e for e in events}
        shown = []
        for event in events:
            content = event.get("content") or {}
            if "m.new_content" in content:
                continue  # an edit: the reader sees it in place of the original
            relates = content.get("m.relates_to") or {}
            parent = None if relates.get("is_falling_back") else by_id.get(
                (relates.get("m.in_reply_to") or {}).get("event_id", ""))
            answers = None
            if parent is not None:
                answers = (names.get(parent["sender"], parent["sender"]),
                           (parent.get("content") or {}).get("body", ""))
            where = f"{ROOM_NAME} thread" if relates.get("rel_type") == "m.thread" else ROOM_NAME
            shown.append(Seen("Matrix", where, names.get(event["sender"], event["sender"]),
                              content.get("body", ""), answers))
        return shown

    async def close(self) -> None:
        if self._client is not None:
            await self._client.api.session.close()
        await asyncio.to_thread(self.synapse.stop)


def wants_matrix(asked: bool | None) -> bool:
    """``--matrix`` / ``--no-matrix`` as asked; unsaid, Matrix joins the demo when Synapse
    is installed (``.[synapse]`` or ``.[test]``), so the plain demo never needs it."""
    return synapse_missing() is None if asked is None else asked


def synapse_missing() -> str | None:
    """Why ``--matrix`` cannot run here, or None."""
    try:
        from bridgebot.adapters.matrix.synapse import synapse_installed
    except ImportError as missing:  # mautrix itself missing
        return f"bridgebot demo --matrix needs the Matrix libraries ({missing})"
    return None if synapse_installed() else NOT_INSTALLED
