"""A fake Telegram Bot API server for tests and the demo: real wire format on 127.0.0.1.

* :mod:`.server` - :class:`FakeTelegram`, the HTTP side, assembled from the parts below.
* :mod:`.routes` - the Bot API methods, one module per area.
* :mod:`.driver` - what tests do: play the people, inject faults, inspect the outcome.
* :mod:`.core` - the state and the rules several methods share.
* :mod:`.state` - pure building blocks: records, errors, HTML parsing, flood limits.
"""

from bridgebot.sandbox.telegram.core import RecordedCall, TelegramStats
from bridgebot.sandbox.telegram.driver import DriverError
from bridgebot.sandbox.telegram.server import FakeTelegram
from bridgebot.sandbox.telegram.state import ApiError, RateLimits, WebhookDelivery, parse_html

__all__ = [
    "ApiError",
    "DriverError",
    "FakeTelegram",
    "RateLimits",
    "RecordedCall",
    "TelegramStats",
    "WebhookDelivery",
    "parse_html",
]
