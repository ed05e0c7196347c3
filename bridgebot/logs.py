"""Logging for people (text) and for log collectors (``--log-format json``), secrets removed.

Tokens are ``SecretStr`` in the settings, but libraries log URLs: python-telegram-bot's
requests carry the bot token in the path and Discord webhook URLs carry the webhook's
token. Every line therefore goes through :func:`redact` before it is written, whatever
logger produced it, with the configured secrets and token-shaped strings replaced.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import SecretStr

FORMATS = ("text", "json")
HIDDEN = "***"
# Bot API tokens (123456:AA...), Discord bot tokens (three dot-separated base64 parts),
# and the token part of webhook URLs.
_PATTERNS = (
    (re.compile(r"(?<![0-9])\d{5,}:[A-Za-z0-9_-]{30,}"), HIDDEN),
    (re.compile(r"\b[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{25,}"), HIDDEN),
    (re.compile(r"(/webhooks/\d+/)[A-Za-z0-9_.-]{20,}"), rf"\g<1>{HIDDEN}"),
)
_secrets: set[str] = set()
# discord.py warns at every start that voice needs extra packages; a text bridge has no voice.
_NOISE = ("voice will NOT be supported",)


def hide_secrets(values: Iterable[SecretStr | str | None]) -> None:
    """Remember exact secret values (tokens, webhook secrets) to blank out of every line."""
    for value in values:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw and len(raw) >= 6:  # a very short "secret" would blank ordinary words
            _secrets.add(raw)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message``, as before, with secrets removed."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message[, exception]."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def _not_noise(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not any(noise in message for noise in _NOISE)


def setup_logging(level: int, fmt: str = "text") -> None:
    """Send every logger's records to stderr in ``fmt`` ("text" or "json")."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_not_noise)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
