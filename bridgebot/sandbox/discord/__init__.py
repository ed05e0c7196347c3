"""A fake Discord (REST v10 and gateway) for tests and the demo: real wire format on 127.0.0.1.

* :mod:`.server` - :class:`FakeDiscord`, the HTTP side, assembled from the parts below.
* :mod:`.routes` - the REST routes, one module per area; :mod:`.gateway` - the websocket.
* :mod:`.driver` - what tests do: play the people, inject faults, inspect the outcome.
* :mod:`.core` - records, state and the fan-out of world events to gateway sessions.
* :mod:`.state` - the in-memory world and its wire shapes (no HTTP).
"""

from bridgebot.sandbox.discord.core import RateLimitConfig, RateLimitRule, RecordedCall, Stats
from bridgebot.sandbox.discord.driver import InteractionCallback, InteractionHandle
from bridgebot.sandbox.discord.server import FakeDiscord
from bridgebot.sandbox.discord.state import ChannelType, DiscordAPIError, Intents, Permissions

__all__ = [
    "ChannelType",
    "DiscordAPIError",
    "FakeDiscord",
    "Intents",
    "InteractionCallback",
    "InteractionHandle",
    "Permissions",
    "RateLimitConfig",
    "RateLimitRule",
    "RecordedCall",
    "Stats",
]
