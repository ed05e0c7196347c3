"""What the Discord adapter's intake, delivery and commands share."""

from __future__ import annotations

import asyncio

import aiohttp
import discord

from bridgebot.core import errors

PLATFORM = "discord"
NO_MENTIONS = discord.AllowedMentions.none()  # mirrored text can never ping anyone
FACILITATOR_PERMISSIONS = discord.Permissions(manage_threads=True)


def member_name(user: object) -> str:
    """The name a member chose to show here (server nickname, else display name), never the
    account's username: that handle finds them on every server, so it does not cross."""
    return getattr(user, "nick", None) or getattr(user, "global_name", None) or "Discord user"


def classify(err: Exception, where: str) -> errors.DeliveryError:
    """Rate-limited, transient or permanent, with the channel and Discord's reason."""
    if isinstance(err, discord.RateLimited):
        return errors.RateLimited(err.retry_after, f"Discord {where}: rate limited")
    if isinstance(err, discord.DiscordServerError):
        return errors.TransientError(f"Discord {where}: {err.status} {err.text}")
    if isinstance(err, discord.HTTPException):
        if err.status == 429:  # discord.py tried five times already; wait what Discord asks
            return errors.RateLimited(_retry_after(err), f"Discord {where}: rate limited")
        return errors.PermanentError(f"Discord {where}: {err.status} {err.text or err}")
    if isinstance(err, (aiohttp.ClientError, OSError, asyncio.TimeoutError)):
        return errors.TransientError(f"Discord {where}: {type(err).__name__}: {err}")
    return errors.PermanentError(f"Discord {where}: {err}")


def _retry_after(err: discord.HTTPException) -> float:
    """The wait a 429 asked for: its ``Retry-After`` header, else 5 s."""
    headers = getattr(getattr(err, "response", None), "headers", None) or {}
    try:
        return max(0.0, float(headers.get("Retry-After", 5.0)))
    except (TypeError, ValueError):
        return 5.0
