"""A fake Discord (REST v10 + gateway websocket) on 127.0.0.1, speaking the real wire format.

The unmodified discord.py ``Client`` runs against it once its route base points
here (see :func:`bridgebot.adapters.discord.endpoint.use_api_base`), so adapter
tests exercise discord.py's real parsing, rate-limit bucket handling, RESUME
logic and interaction plumbing instead of mocks.  It also backs the offline
``bridgebot demo``.

Typical use::

    async with FakeDiscord() as dc:
        token = dc.add_bot("bridgebot")
        guild = dc.add_guild("Town Hall")
        general = dc.add_text_channel(guild["id"], "general")
        alice = dc.add_member(guild["id"], "alice")
        ...  # start discord.py against dc.api_base / dc.gateway_url
        dc.user_sends(general["id"], alice, "hello")

World state and wire shapes live in :mod:`bridgebot.sandbox.discord.state`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import time
from typing import Any

from aiohttp import web

from bridgebot.sandbox.discord.core import (
    RateLimitRule,
    RecordedCall,
    RouteSpec,
    _Ctx,
    _Fault,
    _Route,
    _Window,
)
from bridgebot.sandbox.discord.driver import DiscordDriver
from bridgebot.sandbox.discord.gateway import GatewayRoutes
from bridgebot.sandbox.discord.routes.commands import CommandRoutes
from bridgebot.sandbox.discord.routes.guilds import GuildRoutes
from bridgebot.sandbox.discord.routes.messages import MessageRoutes
from bridgebot.sandbox.discord.routes.threads import ThreadRoutes
from bridgebot.sandbox.discord.routes.webhooks import WebhookRoutes
from bridgebot.sandbox.discord.state import (
    JSON,
    BotAccount,
    DiscordAPIError,
)

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


_UNAUTHORIZED = {"message": "401: Unauthorized", "code": 0}


_NOT_FOUND = {"message": "404: Not Found", "code": 0}


def _compile(template: str) -> re.Pattern[str]:
    def group(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in ("webhook_token", "interaction_token"):
            return rf"(?P<{name}>[^/]+)"
        if name == "message_id":
            return rf"(?P<{name}>\d+|@original)"
        if name == "emoji":
            return rf"(?P<{name}>[^/]+)"
        return rf"(?P<{name}>\d+)"

    return re.compile("^" + re.sub(r"\{(\w+)\}", group, template) + "/?$")


class FakeDiscord(
    DiscordDriver, GatewayRoutes, GuildRoutes, CommandRoutes, MessageRoutes, ThreadRoutes, WebhookRoutes
):
    """Fake Discord server: REST under ``api_base``, gateway at ``gateway_url``.

    Parameters are the knobs tests need: ``heartbeat_interval_ms`` (Discord uses
    41250), ``enforce_rate_limits`` with ``rate_limits`` and an injectable
    ``clock`` (monotonic seconds) for windows, nonces and the interaction
    acknowledgement deadline (3 s on Discord; ``None`` disables it), and
    ``gateway_compression`` to honour ``compress=zlib-stream`` with binary frames
    as Discord does (text frames otherwise; discord.py reads both).
    """

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on loopback only; ``port=0`` picks a free port."""
        if host not in _LOOPBACK:
            raise ValueError(f"FakeDiscord only listens on loopback, not {host!r}")
        app = web.Application(client_max_size=25 * 1024 * 1024)
        app.router.add_route("*", r"/api/v{version:\d+}/{tail:.*}", self._handle_api)
        app.router.add_route("*", "/api/{tail:.*}", self._handle_api)
        app.router.add_get("/gateway", self._handle_gateway)
        app.router.add_get("/attachments/{tail:.*}", self._handle_attachment)
        app.router.add_get("/stickers/{tail:.*}", self._handle_attachment)  # the sticker CDN
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # the bound socket is the only source of the real port
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.world.base_url = self.url

    async def stop(self) -> None:
        for conn in list(self._connections):
            await self._close_connection(conn, 1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway"

    async def _handle_attachment(self, request: web.Request) -> web.StreamResponse:
        entry = self.world.attachments.get(request.path)
        if entry is None:
            return web.Response(status=404)
        return web.Response(body=entry[1], content_type=entry[0])

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method.upper()
        query = dict(request.query)
        self.stats.requests += 1
        body: Any = None
        files: list[tuple[str, bytes, str]] = []
        status: int
        response: Any
        headers: dict[str, str] = {"Via": "1.1 google"}
        try:
            body, files = await self._read_body(request)
        except ValueError:
            status, response = 400, {"code": 50109, "message": "The request body contains invalid JSON."}
            return self._finish(request, method, path, query, None, status, response, headers)
        fault = self._take_fault(method, path)
        if fault is not None:
            status, response = fault.status, copy.deepcopy(fault.body)
            headers.update(fault.headers)
            if status == 429 and isinstance(response, dict) and "retry_after" in response:
                headers.setdefault("Retry-After", str(math.ceil(float(response["retry_after"]))))
                headers.setdefault("X-RateLimit-Scope", "global" if response.get("global") else "user")
            return self._finish(request, method, path, query, body, status, response, headers)
        route, params, allowed = self._match(method, path)
        if route is None:
            status, response = (
                (405, {"message": "405: Method Not Allowed", "code": 0}) if allowed else (404, _NOT_FOUND)
            )
            return self._finish(request, method, path, query, body, status, response, headers)
        bot = None
        if route.auth:
            auth = request.headers.get("Authorization", "")
            bot = self.world.bot_by_token(auth.removeprefix("Bot ")) if auth.startswith("Bot ") else None
            if bot is None:
                return self._finish(request, method, path, query, body, 401, _UNAUTHORIZED, headers)
        if self.enforce_rate_limits:
            limited = self._rate_limit(route, params, bot, headers, query)
            if limited is not None:
                return self._finish(request, method, path, query, body, 429, limited, headers)
        ctx = _Ctx(request, params, query, body, files, bot)
        try:
            status, response = await route.handler(ctx)
        except DiscordAPIError as error:
            status, response = error.status, error.body()
        return self._finish(request, method, path, query, body, status, response, headers)

    def _finish(
        self,
        request: web.Request,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        status: int,
        response: Any,
        headers: dict[str, str],
    ) -> web.Response:
        if status == 429:
            self.stats.too_many_requests += 1
        self.calls.append(
            RecordedCall(
                method,
                path,
                query,
                body,
                status,
                copy.deepcopy(response),
                dict(headers),
                self.clock(),
                dict(request.headers),
            )
        )
        self._notify()
        if status == 204 or response is None:
            return web.Response(status=status, headers=headers)
        # Exactly "application/json" (no charset), as Discord sends it: discord.py
        # compares the header verbatim before decoding JSON.
        headers["Content-Type"] = "application/json"
        return web.Response(status=status, body=json.dumps(response).encode(), headers=headers)

    async def _read_body(self, request: web.Request) -> tuple[Any, list[tuple[str, bytes, str]]]:
        if request.content_type.startswith("multipart/"):
            body: Any = {}
            parts: list[tuple[str, str, bytes, str]] = []  # (field, filename, data, type)
            reader = await request.multipart()
            async for part in reader:
                if not hasattr(part, "read"):
                    continue
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    data = await part.read()  # type: ignore[union-attr]
                    content_type = part.headers.get(  # type: ignore[union-attr]
                        "Content-Type", "application/octet-stream")
                    parts.append((part.name or "", part.filename or "file",  # type: ignore[union-attr]
                                  bytes(data), content_type))
            files = _named_files(body, parts)
            body = dict(body, files=[{"field": field, "filename": name, "size": len(data)}
                                     for (field, *_), (name, data, _) in zip(parts, files,
                                                                             strict=True)])
            return body, files
        raw = await request.read()
        if not raw:
            return None, []
        return json.loads(raw), []

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in ("*", method) and fault.pattern.search(path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        allowed = False
        for route in self._routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            if route.method == method:
                return route, match.groupdict(), True
            allowed = True
        return None, {}, allowed

    def _rate_limit(
        self, route: _Route, params: dict[str, str], bot: BotAccount | None, headers: dict[str, str],
        query: dict[str, str] | None = None,
    ) -> JSON | None:
        """Fixed windows per bucket; returns a 429 body, or None after consuming a slot.

        A webhook's shared per-channel window counts the channel the message lands in: a
        thread (``?thread_id=``) is a channel of its own, as everywhere in Discord's API.
        """
        config = self.rate_limits
        now = self.clock()
        major = "+".join(
            params[k] for k in ("channel_id", "guild_id", "webhook_id", "webhook_token") if k in params
        )
        rule = getattr(config, route.rule)
        checks: list[tuple[str, tuple[str, str], RateLimitRule]] = []
        if bot is not None:
            checks.append(("global", ("global", bot.token), config.global_requests))
        checks.append(("user", (route.template, major), rule))
        if route.rule == "webhook_execute" and config.webhook_channel is not None:
            hook = self.world.webhook_records.get(params.get("webhook_id", ""))
            if hook is not None:
                landing = (query or {}).get("thread_id") or hook["channel_id"]
                checks.append(("shared", ("webhook-channel", landing), config.webhook_channel))
        windows = []
        for scope, key, limit in checks:
            window = self._windows.get(key)
            if window is None or now >= window.start + limit.per:
                window = _Window(now)
                self._windows[key] = window
            # Rounded up to the millisecond: a client sleeping this long must not wake
            # a hair before the window really resets.
            reset_after = math.ceil(max(0.0, window.start + limit.per - now) * 1000) / 1000
            if window.count >= limit.limit:
                retry_after = reset_after
                headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
                headers["X-RateLimit-Scope"] = scope
                if scope == "global":
                    headers["X-RateLimit-Global"] = "true"
                else:
                    self._limit_headers(headers, route, limit, window, reset_after)
                return {
                    "message": "You are being rate limited.",
                    "retry_after": retry_after,
                    "global": scope == "global",
                }
            windows.append((scope, limit, window, reset_after))
        for _scope, _limit, window, _reset in windows:
            window.count += 1
        _scope, limit, window, reset_after = windows[1] if bot is not None else windows[0]
        self._limit_headers(headers, route, limit, window, reset_after)
        return None

    def _limit_headers(
        self,
        headers: dict[str, str],
        route: _Route,
        rule: RateLimitRule,
        window: _Window,
        reset_after: float,
    ) -> None:
        headers.update(
            {
                "X-RateLimit-Limit": str(rule.limit),
                "X-RateLimit-Remaining": str(max(0, rule.limit - window.count)),
                "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                "X-RateLimit-Bucket": hashlib.sha1(route.template.encode()).hexdigest()[:32],
            }
        )

    def _build_routes(self) -> list[_Route]:
        """Every REST route the fake answers, gathered from the route modules."""
        table: list[RouteSpec] = [
            *self._gateway_routes(),
            *self._guilds_routes(),
            *self._commands_routes(),
            *self._messages_routes(),
            *self._threads_routes(),
            *self._webhooks_routes(),
        ]
        return [
            _Route(method, f"{method} {template}", _compile(template), handler, auth, rule)
            for method, template, handler, auth, rule in table
        ]


_FILE_FIELD = re.compile(r"files\[(\d+)\]")


def _named_files(payload: Any, parts: list[tuple[str, str, bytes, str]]
                 ) -> list[tuple[str, bytes, str]]:
    """The uploaded files in order, each named as Discord names it: a ``files[n]`` part
    takes the ``filename`` of ``payload_json``'s ``attachments`` entry whose ``id`` is
    ``n`` when there is one (Discord's "Uploading Files"), else the part's own filename."""
    entries = payload.get("attachments") if isinstance(payload, dict) else None
    by_id = {str(a.get("id")): a for a in entries or () if isinstance(a, dict)}
    files = []
    for field, filename, data, content_type in parts:
        match = _FILE_FIELD.fullmatch(field)
        entry = by_id.get(match.group(1)) if match else None
        named = entry.get("filename") if entry else None
        files.append((named if isinstance(named, str) and named else filename, data,
                      content_type))
    return files
