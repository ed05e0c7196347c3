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


# Libraries whose records can carry what people wrote or who they are: Bot API parameters and
# answers (telegram, httpx), gateway events and HTTP bodies (discord), SQL arguments
# (aiosqlite), client addresses (aiohttp). Their records are kept, with every argument that
# could hold such data replaced, unless --log-content.
LIBRARY_LOGGERS = frozenset({"telegram", "httpx", "httpcore", "discord", "aiohttp", "aiosqlite"})
HIDDEN_CONTENT = "<hidden>"
# An argument shown as it is: a number, or one short word-like token (an endpoint name, a
# method, a URL, an id, a status): no spaces, quotes or brackets, so no sentence or payload.
_SAFE_TOKEN = re.compile(r"[\w.:/@#=?&%+~,-]{0,120}")
_log_content = False


def _safe(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict | list | tuple | set | frozenset | bytes | bytearray):
        return HIDDEN_CONTENT
    return value if _SAFE_TOKEN.fullmatch(str(value)) else HIDDEN_CONTENT


def keep_content_out(record: logging.LogRecord) -> bool:
    """Strip what people wrote, and who they are, out of library log records.

    Filtered rather than silenced: the record still says what the library did (which
    endpoint, which status), with each argument that is not a plain token hidden. A library
    message without arguments is kept only while short and free of quotes and brackets.
    Discord's reconnect becomes one warning line with the reason instead of a traceback."""
    if record.name == "asyncpg.pool" and str(record.msg).startswith("Failed to restore the pool"):
        # asyncpg's pool refilling itself after its server went away: a traceback at each
        # attempt, beside bridgebot's own line saying the database is unavailable.
        reason = record.exc_info[1] if record.exc_info else None
        record.msg, record.args = "PostgreSQL: cannot reconnect the pool (%s); trying again", (
            _reason(reason),)
        record.exc_info = record.exc_text = None
        return True
    root = record.name.split(".", 1)[0]
    if root not in LIBRARY_LOGGERS:
        return True
    if record.name == "discord.client" and str(record.msg).startswith("Attempting a reconnect"):
        reason = record.exc_info[1] if record.exc_info else None
        record.msg = "discord: connection lost (%s); reconnecting in %.0fs"
        record.args = (_reason(reason), *(record.args if isinstance(record.args, tuple) else ()))
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
    if _log_content:
        return True
    if record.args:
        if isinstance(record.args, dict):
            record.args = {k: _safe(v) for k, v in record.args.items()}
        else:
            record.args = tuple(_safe(a) for a in record.args)
    elif not isinstance(record.msg, str) or len(record.msg) > 160 or re.search(r"[{}\[\]'\"<>]", record.msg):
        record.msg = f"({len(str(record.msg))} characters of library output hidden: --log-content shows them)"
    return True


def _reason(err: BaseException | None) -> str:
    if err is None:
        return "unknown reason"
    code = getattr(err, "code", None)
    text = f"{type(err).__name__}" + (f" {code}" if code is not None else "")
    detail = str(err).splitlines()[0] if str(err) else ""
    return f"{text}: {detail[:120]}" if detail and _SAFE_TOKEN.fullmatch(detail.replace(" ", "")) else text


def _not_noise(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not any(noise in message for noise in _NOISE)


def setup_logging(level: int, fmt: str = "text", *, log_content: bool = False) -> None:
    """Send every logger's records to stderr in ``fmt`` ("text" or "json"); message texts and
    people's names stay out of library records unless ``log_content``."""
    global _log_content
    _log_content = log_content
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_not_noise)
    handler.addFilter(keep_content_out)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
