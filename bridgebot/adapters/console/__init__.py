"""The console: rooms in a terminal (``bridgebot shell``) and the tests' third chat.

``PLATFORM`` is the package's one record for :mod:`bridgebot.adapters.registry`. It
needs no settings and no check; ``bridgebot shell`` starts it, not ``bridgebot run``.
"""

from __future__ import annotations

from bridgebot.adapters.platform import Platform

PLATFORM = Platform(name="console", display_name="console", chats="console_rooms", chat_id=str)
