"""What the Discord adapter's intake, delivery and commands share."""

from __future__ import annotations

import discord

PLATFORM = "discord"
NO_MENTIONS = discord.AllowedMentions.none()  # mirrored text can never ping anyone
FACILITATOR_PERMISSIONS = discord.Permissions(manage_threads=True)


def member_name(user: object) -> str:
    """The name a member chose to show here (server nickname, else display name), never the
    account's username: that handle finds them on every server, so it does not cross."""
    return getattr(user, "nick", None) or getattr(user, "global_name", None) or "Discord user"
