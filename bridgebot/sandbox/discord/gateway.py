"""The gateway: the websocket (hello, identify, resume, heartbeats, dispatches) and GET /gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import secrets
import zlib
from typing import Any

from aiohttp import WSMsgType, web

from bridgebot.sandbox.discord.core import (
    DiscordCore,
    RouteSpec,
    _Connection,
    _Ctx,
    _Session,
    on_shard,
)
from bridgebot.sandbox.discord.state import (
    JSON,
    Intents,
)


class GatewayRoutes(DiscordCore):
    """The websocket side of the fake Discord and the REST routes that point to it.
    """

    def _gateway_routes(self) -> list[RouteSpec]:
        """This module's REST routes: method, path template, handler, needs a bot token,
        rate-limit rule."""
        return [
            ("GET", "/gateway", self._get_gateway, False, "default"),
            ("GET", "/gateway/bot", self._get_gateway_bot, True, "default"),
        ]

    async def _handle_gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        self.stats.gateway_connections += 1
        compress = request.query.get("compress")
        compressor = zlib.compressobj() if compress == "zlib-stream" and self.gateway_compression else None
        conn = _Connection(ws, request.transport, compressor)
        self._connections.add(conn)
        conn.writer = asyncio.create_task(self._writer(conn))
        try:
            version = request.query.get("v", "10")
            if version not in ("9", "10"):
                await self._close_connection(conn, 4012)
                return ws
            if request.query.get("encoding", "json") != "json":
                await self._close_connection(conn, 4002)
                return ws
            hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gateway"]}
            conn.queue.put_nowait(json.dumps({"op": 10, "d": hello, "s": None, "t": None}))
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await self._close_connection(conn, 4002)
                    break
                if not await self._handle_op(conn, payload):
                    break
        finally:
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                if ws.close_code in (1000, 1001):
                    # A client's clean close ends its session, as on Discord.
                    session.resumable = False
            self._connections.discard(conn)
            if conn.writer is not None:
                conn.writer.cancel()
            self._notify()
        return ws

    async def _writer(self, conn: _Connection) -> None:
        while True:
            item = await conn.queue.get()
            if isinstance(item, tuple):
                await conn.ws.close(code=item[1])
                return
            try:
                if conn.compressor is not None:
                    data = conn.compressor.compress(item.encode()) + conn.compressor.flush(zlib.Z_SYNC_FLUSH)
                    await conn.ws.send_bytes(data)
                else:
                    await conn.ws.send_str(item)
            except (ConnectionError, RuntimeError):
                return

    async def _close_connection(self, conn: _Connection, code: int) -> None:
        if conn.writer is not None:
            conn.writer.cancel()
        with contextlib.suppress(Exception):
            await conn.ws.close(code=code)

    async def _handle_op(self, conn: _Connection, payload: JSON) -> bool:
        op = payload.get("op")
        data = payload.get("d")
        if op == 1:
            self.stats.heartbeats += 1
            conn.queue.put_nowait(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
            return True
        if op == 2:
            return await self._identify(conn, data or {})
        if op == 6:
            return await self._resume(conn, data or {})
        if conn.session is None:
            await self._close_connection(conn, 4003)  # Not authenticated
            return False
        if op == 3:
            self.presence_updates.append(data)
            return True
        if op == 4:
            return True
        if op == 8:
            self._request_members(conn.session, data or {})
            return True
        await self._close_connection(conn, 4001)  # Unknown opcode
        return False

    async def _identify(self, conn: _Connection, data: JSON) -> bool:
        self.stats.identifies += 1
        if conn.session is not None:
            await self._close_connection(conn, 4005)  # Already authenticated
            return False
        bot = self.world.bot_by_token(str(data.get("token", "")).removeprefix("Bot "))
        if bot is None:
            await self._close_connection(conn, 4004)  # Authentication failed
            return False
        intents = data.get("intents")
        if not isinstance(intents, int) or intents & ~Intents.ALL:
            await self._close_connection(conn, 4013)  # Invalid intent(s)
            return False
        if intents & Intents.PRIVILEGED & ~bot.privileged_intents:
            await self._close_connection(conn, 4014)  # Disallowed intent(s)
            return False
        shard = data.get("shard")
        if shard is not None and not valid_shard(shard):
            await self._close_connection(conn, 4010)  # Invalid shard
            return False
        guild_ids = [g.id for g in self.world.guilds.values()
                     if bot.id in g.members and on_shard(shard, g.id)]
        if len(guild_ids) > self.max_guilds_per_shard:
            await self._close_connection(conn, 4011)  # Sharding required
            return False
        session = _Session(secrets.token_hex(16), bot, intents, shard)
        self._sessions[session.id] = session
        session.conn = conn
        conn.session = session
        user = dict(copy.deepcopy(bot.user), verified=True, mfa_enabled=False, email=None, bot=True)
        ready: JSON = {
            "v": 10,
            "user_settings": {},
            "user": user,
            "guilds": [{"id": gid, "unavailable": True} for gid in guild_ids],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": bot.application_id, "flags": bot.application["flags"]},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["local"],
            "auth": {},
            "_trace": ["fake-gateway"],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        self._send_dispatch(session, "READY", ready)
        for guild_id in guild_ids:
            if intents & Intents.GUILDS:
                payload = self.world.guild_create_payload(guild_id, bot, intents)
                self._send_dispatch(session, "GUILD_CREATE", payload)
        session.ready = True
        self._notify()
        return True

    async def _resume(self, conn: _Connection, data: JSON) -> bool:
        session = self._sessions.get(str(data.get("session_id")))
        token = str(data.get("token", "")).removeprefix("Bot ")
        seq = data.get("seq") or 0
        oldest = session.log[0][0] if session and session.log else 1
        if (
            session is None
            or not session.resumable
            or session.bot.token != token
            or seq > session.seq
            or seq < oldest - 1
        ):
            self.stats.invalid_sessions += 1
            conn.queue.put_nowait(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
            return True
        self.stats.resumes += 1
        if session.conn is not None and session.conn is not conn:
            previous = session.conn
            previous.session = None
            await self._close_connection(previous, 4000)
        session.conn = conn
        conn.session = session
        for entry_seq, text in list(session.log):
            if entry_seq > seq:
                conn.queue.put_nowait(text)
                self.stats.replayed += 1
        self._send_dispatch(session, "RESUMED", {"_trace": ["fake-gateway"]})
        session.ready = True
        self._notify()
        return True

    def _request_members(self, session: _Session, data: JSON) -> None:
        guild_id = str(data.get("guild_id"))
        record = self.world.guilds.get(guild_id)
        if record is None or session.bot.id not in record.members \
                or not on_shard(session.shard, guild_id):
            return
        query = str(data.get("query") or "").lower()
        limit = int(data.get("limit") or 0)
        wanted = {str(u) for u in data.get("user_ids") or []}
        members = [
            m
            for uid, m in record.members.items()
            if (not wanted or uid in wanted) and m["user"]["username"].lower().startswith(query)
        ]
        if limit:
            members = members[:limit]
        chunk: JSON = {
            "guild_id": guild_id,
            "members": copy.deepcopy(members),
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        if wanted:
            chunk["not_found"] = sorted(wanted - set(record.members))
        self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _get_gateway(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url}

    async def _get_gateway_bot(self, ctx: _Ctx) -> tuple[int, Any]:
        bot = self._bot(ctx)
        guilds = sum(1 for g in self.world.guilds.values() if bot.id in g.members)
        return 200, {
            "url": self.gateway_url,
            "shards": max(1, math.ceil(guilds / 1000)),  # Discord's advice: 1 per 1,000 guilds
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000 - self.stats.identifies,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }


def valid_shard(shard: Any) -> bool:
    """IDENTIFY's ``shard``: ``[shard_id, num_shards]`` with 0 <= shard_id < num_shards
    (anything else is closed with 4010 Invalid shard, as on Discord)."""
    return (isinstance(shard, list) and len(shard) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
            and shard[1] >= 1 and 0 <= shard[0] < shard[1])
