"""Bot API failures, sorted into what the relay can do about them."""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram import error as tg

from bridgebot.core import errors


def retry_seconds(err: tg.RetryAfter) -> float:
    """Seconds Telegram asked us to wait (an int or a timedelta, by PTB's PTB_TIMEDELTA)."""
    with warnings.catch_warnings():  # PTB warns that the int form will become a timedelta
        warnings.simplefilter("ignore")
        value = err.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify(err: tg.TelegramError, where: str) -> errors.DeliveryError:
    """Rate-limited, transient or permanent, with the chat and Telegram's reason."""
    reason = f"Telegram {where}: {err.message}"
    if isinstance(err, tg.RetryAfter):
        return errors.RateLimited(retry_seconds(err), reason)
    if isinstance(err, tg.TimedOut):  # sent, perhaps: Telegram has no idempotency key
        return errors.MaybeSent(reason)
    if isinstance(err, tg.ChatMigrated):
        return errors.PermanentError(
            f"{reason}; the group became supergroup {err.new_chat_id}: update telegram_chats"
        )
    if isinstance(err, (tg.Forbidden, tg.BadRequest, tg.InvalidToken, tg.Conflict)):
        return errors.PermanentError(reason)
    return errors.TransientError(reason)  # NetworkError: 5xx, connection reset, ...
