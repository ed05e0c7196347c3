"""``check-config`` for Discord: the token, the Message Content intent, then each channel.

It asks the REST API through discord.py's HTTP client (the adapter's library) and
resolves the bot's permissions in every bridged channel the way Discord documents it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import discord
import discord.http

from bridgebot.adapters.discord.endpoint import use_api_base
from bridgebot.adapters.discord.settings import DiscordSettings
from bridgebot.adapters.platform import Finding

# What the Discord adapter needs in a bridged channel, and why (shown when it is missing).
DISCORD_NEEDS: tuple[tuple[str, str, str], ...] = (
    ("view_channel", "View Channels", "to see the channel at all"),
    ("send_messages", "Send Messages", "to open topics"),
    ("send_messages_in_threads", "Send Messages in Threads", "to post questions and mirrors"),
    ("create_public_threads", "Create Public Threads", "to open a topic's thread"),
    ("manage_threads", "Manage Threads", "to lock topics"),
    ("manage_webhooks", "Manage Webhooks", "to show mirrored posts under each author's name"),
    ("manage_messages", "Manage Messages", "to delete a hidden post's original (/hide)"),
    ("read_message_history", "Read Message History", "to answer replies"),
)
DISCORD_CHANNEL_KINDS = {0: "text", 5: "announcement", 15: "forum"}
MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)  # GATEWAY_MESSAGE_CONTENT(_LIMITED)


async def check_discord(settings: DiscordSettings, channels: Sequence[int]) -> list[Finding]:
    """users/@me, the application's intents, then each channel and the bot's permissions there."""
    previous = discord.http.Route.BASE
    use_api_base(settings.api_base_url)
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        try:
            me = await http.static_login(settings.token.get_secret_value())
        except discord.LoginFailure:
            return [Finding("discord", "bot", "token", False,
                            "Discord refused the token: reset and copy it in the developer portal "
                            "(Bot → Reset Token)")]
        except (discord.HTTPException, aiohttp.ClientError, OSError) as err:
            return [Finding("discord", "bot", "token", False,
                            f"could not reach {settings.api_base_url}: {err}")]
        name = me.get("global_name") or me["username"]
        found = [Finding("discord", f"bot {name}", "token", True, f"logged in as {me['username']}")]
        found.append(await _message_content_intent(http, name))
        found += await _gateway_shards(http, name, settings.shard_count)
        for channel_id in channels:
            found += await _discord_channel(http, str(me["id"]), channel_id, settings.guilds)
        return found
    finally:
        await http.close()
        discord.http.Route.BASE = previous


async def _message_content_intent(http: discord.http.HTTPClient, name: str) -> Finding:
    try:
        app = await http.application_info()
    except discord.HTTPException as err:
        return Finding("discord", f"bot {name}", "Message Content intent", False, str(err))
    enabled = bool(int(app.get("flags") or 0) & MESSAGE_CONTENT_FLAGS)
    return Finding("discord", f"bot {name}", "Message Content intent", enabled,
                   "enabled" if enabled else "turn on Message Content Intent in the developer "
                   "portal (Bot → Privileged Gateway Intents): without it posts arrive empty")


async def _gateway_shards(http: discord.http.HTTPClient, name: str,
                          shard_count: int) -> list[Finding]:
    """Discord's advice on gateway shards (``GET /gateway/bot``) against ``shard_count``:
    a row when the bot is sharded or should be (Discord refuses a session of more than
    2,500 servers), none for the usual single shard."""
    try:
        advised, _url, _limits = await http.get_bot_gateway()
    except (discord.HTTPException, discord.GatewayNotFound) as err:
        return [Finding("discord", f"bot {name}", "gateway shards", False, str(err))]
    if advised > shard_count:
        return [Finding("discord", f"bot {name}", "gateway shards", False,
                        f"Discord advises {advised} shards for the bot's servers: set "
                        f"discord.shard_count = {advised} (the same on every worker)")]
    if shard_count == 1:
        return []
    return [Finding("discord", f"bot {name}", "gateway shards", True,
                    f"{shard_count} shards (Discord advises {advised})")]


async def _discord_channel(http: discord.http.HTTPClient, bot_id: str, channel_id: int,
                           guilds: Sequence[int]) -> list[Finding]:
    where = f"channel {channel_id}"
    try:
        # Any: a guild channel's payload, read defensively (DM channel types have no guild).
        channel: Mapping[str, Any] = await http.get_channel(channel_id)
    except discord.HTTPException as err:
        hint = ("invite the bot to the server and let it View Channel there"
                if err.status in (403, 404) else "")
        return [Finding("discord", where, "bot sees the channel", False,
                        f"{err.status} {err.text or err}" + (f": {hint}" if hint else ""))]
    where = f"#{channel.get('name', channel_id)} ({channel_id})"
    kind = DISCORD_CHANNEL_KINDS.get(int(channel["type"]))
    if kind is None:
        return [Finding("discord", where, "kind of channel", False,
                        "bridge a text or forum channel (not a voice channel, category or thread)")]
    guild_id = channel["guild_id"]
    found = [Finding("discord", where, "bot sees the channel", True, f"{kind} channel")]
    try:
        guild = await http.get_guild(guild_id, with_counts=False)
        roles = await http.get_roles(guild_id)
        member = await http.get_member(guild_id, bot_id)
    except discord.HTTPException as err:
        return [*found, Finding("discord", where, "permissions", False, f"{err.status} {err.text}")]
    perms = channel_permissions(bot_id, guild, roles, member.get("roles", []),
                                channel.get("permission_overwrites", []))
    missing = [(label, why) for attr, label, why in DISCORD_NEEDS if not getattr(perms, attr)]
    if missing:
        detail = "grant the bot's role " + "; ".join(f"{label} ({why})" for label, why in missing)
        found.append(Finding("discord", where, "permissions", False, detail))
    else:
        found.append(Finding("discord", where, "permissions", True, "all it needs"))
    if guilds and int(guild_id) not in guilds:
        found.append(Finding("discord", where, "slash commands", False,
                             f"add {guild_id} to discord.guilds: commands are only registered there"))
    return found


def channel_permissions(user_id: str, guild: Mapping[str, Any], roles: Sequence[Mapping[str, Any]],
                        member_roles: Sequence[str | int],
                        overwrites: Sequence[Mapping[str, Any]]) -> discord.Permissions:
    """Discord's documented resolution: @everyone and roles, then channel overwrites."""
    if str(guild.get("owner_id")) == str(user_id):
        return discord.Permissions.all()
    guild_id = str(guild["id"])
    by_id = {str(r["id"]): int(r["permissions"]) for r in roles}
    base = by_id.get(guild_id, 0)
    for role_id in member_roles:
        base |= by_id.get(str(role_id), 0)
    perms = discord.Permissions(base)
    if perms.administrator:
        return discord.Permissions.all()
    by_target = {str(o["id"]): o for o in overwrites}
    if guild_id in by_target:
        everyone = by_target[guild_id]
        perms.handle_overwrite(allow=int(everyone["allow"]), deny=int(everyone["deny"]))
    allow = deny = 0
    for role_id in member_roles:
        overwrite = by_target.get(str(role_id))
        if overwrite is not None and int(overwrite["type"]) == 0:
            allow |= int(overwrite["allow"])
            deny |= int(overwrite["deny"])
    perms.handle_overwrite(allow=allow, deny=deny)
    own = by_target.get(str(user_id))
    if own is not None and int(own["type"]) == 1:
        perms.handle_overwrite(allow=int(own["allow"]), deny=int(own["deny"]))
    return perms if perms.view_channel else discord.Permissions.none()


