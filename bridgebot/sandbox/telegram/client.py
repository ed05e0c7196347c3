"""The real Telegram adapter, pointed at :class:`~bridgebot.sandbox.telegram.FakeTelegram`.

The tests and ``bridgebot demo`` build it here, so what the demo shows is what the
tests check. The Telegram platform record's ``sandbox`` names this builder.
"""

from __future__ import annotations

from typing import Any

from bridgebot.adapters.telegram.adapter import TelegramAdapter
from bridgebot.adapters.telegram.settings import TelegramSettings
from bridgebot.core.ratelimit import PlatformLimits
from bridgebot.sandbox.telegram.server import FakeTelegram


def telegram_adapter(tg: FakeTelegram, token: str, limits: PlatformLimits | None = None,
                     **settings: Any) -> TelegramAdapter:
    """A Telegram adapter using the fake Bot API; a 1 s long poll keeps shutdown quick.

    ``limits`` replaces Telegram's rate budget (tests that are not about rate limits
    turn it off so they need not wait a second per message).
    """
    return TelegramAdapter(TelegramSettings(token=token, base_url=tg.url, **settings),
                           poll_timeout=1, limits=limits)
