"""Users, guilds, channels lists, members and roles as REST routes.
"""

from __future__ import annotations

import copy
from typing import Any

from bridgebot.sandbox.discord.core import DiscordCore, RouteSpec, _Ctx, _truthy
from bridgebot.sandbox.discord.state import (
    DiscordAPIError,
    Intents,
    missing_access,
)


class GuildRoutes(DiscordCore):
    """REST routes for users, guilds, members and roles.
    """

    def _guilds_routes(self) -> list[RouteSpec]:
        """This module's REST routes: method, path template, handler, needs a bot token,
        rate-limit rule."""
        return [
            ("GET", "/users/@me", self._get_me, True, "default"),
            ("GET", "/users/@me/guilds", self._get_my_guilds, True, "default"),
            ("GET", "/users/{user_id}", self._get_user, True, "default"),
            ("GET", "/guilds/{guild_id}", self._get_guild, True, "default"),
            ("GET", "/guilds/{guild_id}/channels", self._get_guild_channels, True, "default"),
            ("GET", "/guilds/{guild_id}/members", self._get_members, True, "default"),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member, True, "default"),
            ("GET", "/guilds/{guild_id}/roles", self._get_roles, True, "default"),
        ]

    async def _get_me(self, ctx: _Ctx) -> tuple[int, Any]:
        user = copy.deepcopy(self._bot(ctx).user)
        user.update(verified=True, mfa_enabled=False, email=None, locale="en-US", premium_type=0, bio="")
        return 200, user

    async def _get_my_guilds(self, ctx: _Ctx) -> tuple[int, Any]:
        bot = self._bot(ctx)
        out = []
        for record in self.world.guilds.values():
            if bot.id in record.members:
                out.append(
                    {
                        "id": record.id,
                        "name": record.data["name"],
                        "icon": None,
                        "banner": None,
                        "owner": False,
                        "permissions": str(self.world.permissions_for(record.id, bot.id)),
                        "features": [],
                    }
                )
        return 200, out

    async def _get_user(self, ctx: _Ctx) -> tuple[int, Any]:
        user = self.world.users.get(ctx.params["user_id"])
        if user is None:
            raise DiscordAPIError(404, 10013, "Unknown User")
        return 200, self.world._public_user(user)

    async def _get_guild(self, ctx: _Ctx) -> tuple[int, Any]:
        guild_id = self._bot_guild(ctx)
        with_counts = _truthy(ctx.query.get("with_counts"))
        return 200, self.world.guild_payload(guild_id, with_counts=with_counts)

    async def _get_guild_channels(self, ctx: _Ctx) -> tuple[int, Any]:
        guild_id = self._bot_guild(ctx)
        return 200, [
            copy.deepcopy(self.world.channels[cid])
            for cid in self.world.guild(guild_id).channel_ids
            if not self.world.is_thread(self.world.channels[cid])
        ]

    async def _get_members(self, ctx: _Ctx) -> tuple[int, Any]:
        guild_id = self._bot_guild(ctx)
        if not self._bot(ctx).privileged_intents & Intents.GUILD_MEMBERS:
            raise missing_access()
        limit = int(ctx.query.get("limit", 1))
        after = int(ctx.query.get("after", 0))
        members = sorted(self.world.guild(guild_id).members.values(), key=lambda m: int(m["user"]["id"]))
        return 200, copy.deepcopy([m for m in members if int(m["user"]["id"]) > after][:limit])

    async def _get_member(self, ctx: _Ctx) -> tuple[int, Any]:
        guild_id = self._bot_guild(ctx)
        return 200, copy.deepcopy(self.world.member(guild_id, ctx.params["user_id"]))

    async def _get_roles(self, ctx: _Ctx) -> tuple[int, Any]:
        guild_id = self._bot_guild(ctx)
        roles = self.world.guild(guild_id).roles.values()
        return 200, copy.deepcopy(sorted(roles, key=lambda r: r["position"]))
