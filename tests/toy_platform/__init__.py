"""A toy platform package, as a new platform would be written: settings, adapter, check, record.

Registered by one line (``registry.PLATFORMS + (PLATFORM,)``), it must then appear in
settings, CLI choices, check-config, ``/healthz``, exports and privacy without any other
change: tests/test_platform_registry.py checks that.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import Field, SecretStr

from bridgebot.adapters.platform import Finding, Platform, PlatformCommand, SettingsSection
from bridgebot.core.models import (
    Action,
    Author,
    ChannelRef,
    Delivery,
    DeliveryResult,
    IncomingMessage,
    ReceiveOutcome,
)
from bridgebot.core.service import Discussions

NAME = "toy"


class ToySettings(SettingsSection):
    token: SecretStr
    server: str = "https://toy.example"
    facilitators: list[str] = Field(default_factory=list)


class ToyAdapter:
    """Rooms in memory: what was delivered, and people writing in a room."""

    platform = NAME

    def __init__(self, settings: ToySettings) -> None:
        self.settings = settings
        self.core: Discussions | None = None
        self.posts: list[Delivery] = []
        self.threads: dict[str, str] = {}
        self._ids = itertools.count(1)

    async def start(self, core: Discussions) -> None:
        self.core = core

    async def stop(self) -> None:
        self.core = None

    def health_problem(self) -> str | None:
        return None if self.core is not None else "toy: not connected (stopped)"

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        message_id = f"toy-{next(self._ids)}"
        if delivery.action is Action.OPEN_TOPIC:
            thread = f"thread-{delivery.topic.id}"
            self.threads[delivery.target.chat_id] = thread
            return DeliveryResult((message_id,), thread)
        if delivery.action is Action.POST:
            self.posts.append(delivery)
        return DeliveryResult((message_id,))

    async def say(self, room: str, author: Author, text: str) -> ReceiveOutcome:
        assert self.core is not None, "adapter not started"
        return await self.core.receive(IncomingMessage(
            where=ChannelRef(NAME, room, self.threads.get(room)), message_id=f"in-{next(self._ids)}",
            author=author, text=text, sent_at=datetime.now(UTC)))


async def check(settings: ToySettings, rooms: Sequence[str]) -> list[Finding]:
    """The toy server "answers" that the bot may post in every room but "closed"."""
    return [Finding(NAME, f"room {room}", "bot can post", room != "closed",
                    "member" if room != "closed" else "invite the bot to the room")
            for room in rooms]


def whoami(settings: ToySettings | None, args: argparse.Namespace) -> int:
    """``bridgebot toy-whoami [--room R]``: the toy server the settings name."""
    if settings is None:
        print("toy is not configured")
        return 2
    print(f"toy server {settings.server}, room {args.room}")
    return 0


PLATFORM = Platform(
    name=NAME,
    display_name="Toy",
    chats="toy_rooms",
    chat_id=str,
    settings=ToySettings,
    build=ToyAdapter,
    check=check,
    profile_links=(r"https?://toy\.example/u/",),
    reserved_names=("Toy user",),
    commands=(PlatformCommand("toy-whoami", "say which toy server the settings name", whoami,
                              lambda p: p.add_argument("--room", default="hall")),),
)
