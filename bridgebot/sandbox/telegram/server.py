"""A fake Telegram Bot API server that speaks the real wire format, for tests and the demo.

The real python-telegram-bot (PTB) ``Bot``/``Application`` talks to it unmodified, pointed at it
the way one points a bot at a self-hosted Bot API server::

    async with FakeTelegram() as tg:
        token = tg.add_bot(username="bridgebot_test_bot", first_name="Bridge Bot")
        bot = Bot(token, base_url=f"{tg.url}/bot", base_file_url=f"{tg.url}/file/bot")

Tests then play the humans with plain synchronous *driver* methods (``add_user``,
``add_chat``, ``user_sends`` ...), each of which queues the ``Update`` Telegram would send, and
look at the outcome with *inspection* methods (``calls``, ``chat_messages``, ``topics`` ...).
Faults are injected with ``fail_next``, ``remove_bot`` and ``delete_chat``; Telegram's flood
limits can be switched on with ``enforce_rate_limits``.

Everything runs on the caller's event loop; nothing binds anything but loopback.
The text handling (HTML parsing, entity offsets) lives in
:mod:`bridgebot.sandbox.telegram.state`.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import aiohttp
from aiohttp import web

from bridgebot.sandbox.telegram.core import Handler, RecordedCall, _Result, _Upload
from bridgebot.sandbox.telegram.driver import TelegramDriver
from bridgebot.sandbox.telegram.routes.chats import ChatRoutes
from bridgebot.sandbox.telegram.routes.commands import CommandRoutes
from bridgebot.sandbox.telegram.routes.forum import ForumRoutes
from bridgebot.sandbox.telegram.routes.media import MediaRoutes
from bridgebot.sandbox.telegram.routes.messages import MessageRoutes
from bridgebot.sandbox.telegram.routes.pins import PinRoutes
from bridgebot.sandbox.telegram.routes.updates import UpdateRoutes
from bridgebot.sandbox.telegram.state import (
    ApiError,
    JSONDict,
    bad_request,
)

#: Parameters whose values are plain strings on the wire and must never be JSON-decoded
#: (PTB sends ``str`` values raw and everything else JSON-encoded, so ``text="123"`` arrives
#: as ``123`` and only the parameter's type tells them apart - as in the real server).
_STRING_PARAMS = frozenset(
    {
        "text", "caption", "parse_mode", "caption_parse_mode", "name", "icon_custom_emoji_id",
        "url", "secret_token", "ip_address", "language_code", "description",
        "short_description", "action", "callback_query_id", "title", "custom_title", "emoji",
        "file_id", "data", "quote", "inline_message_id", "business_connection_id",
        "message_effect_id", "query_id",
    }
)  # fmt: skip


_FILE_PARAMS = frozenset(
    {"photo", "document", "voice", "sticker", "audio", "video", "animation", "thumbnail"}
)


def _json_response(status: int, body: JSONDict) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/json",
    )


def _decode_param(name: str, value: Any) -> Any:
    """Decodes one parameter: JSON-encoded unless the parameter is a string by type."""
    if not isinstance(value, str) or name in _STRING_PARAMS or name in _FILE_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class FakeTelegram(
    TelegramDriver, UpdateRoutes, ChatRoutes, MessageRoutes, MediaRoutes, ForumRoutes, CommandRoutes,
    PinRoutes,
):
    """An in-process Telegram: Bot API over HTTP for the bot, driver methods for the test.

    Args:
        enforce_rate_limits: answer 429 like Telegram when flood limits are exceeded.
        clock: monotonic seconds, used for rate limits and ``RecordedCall.at``; inject a fake
            one to test flood control without sleeping.
        wall_clock: Unix time for message ``date`` / ``edit_date`` fields.
        rate_limits: the limits to enforce (Telegram's published ones by default).
        strict_html: also refuse a bare ``&`` or ``>`` in HTML (Telegram itself keeps them).
        webhook_retry_delay: seconds between attempts to deliver to a failing webhook.
    """

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serves the Bot API on ``host:port`` (loopback, a free port by default)."""
        if self._runner is not None:
            raise RuntimeError("FakeTelegram is already running")
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self._closing = False
        bound_host, bound_port = runner.addresses[0][:2]
        self._url = f"http://{bound_host}:{bound_port}"
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        """Releases long polls, stops webhook delivery and closes the server."""
        self._closing = True
        for bot in self._bots.values():
            bot.notify()
            await self._cancel_webhook_task(bot)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._url = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Base address, e.g. ``http://127.0.0.1:43121``; use ``f"{url}/bot"`` as base_url."""
        if self._url is None:
            raise RuntimeError("FakeTelegram is not running; call start() first")
        return self._url

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        return _json_response(404, {"ok": False, "error_code": 404, "description": "Not Found"})

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] not in self._bots:
            return _json_response(
                401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return _json_response(
                404, {"ok": False, "error_code": 404, "description": "Not Found"}
            )
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        params, uploads, parse_error = await self._read_params(request)
        canonical, handler = self._handlers.get(method.lower(), (method, None))
        bot = self._bots.get(token)
        status = 200
        try:
            if bot is None:
                raise ApiError(401, "Unauthorized")
            if handler is None:
                raise ApiError(404, "Not Found")
            if parse_error is not None:
                raise parse_error
            self._take_injected(canonical)
            outcome = await handler(bot, params, uploads)
            await self._take_slowness(canonical)
            if isinstance(outcome, _Result):
                body: JSONDict = {"ok": True, "result": outcome.value}
                if outcome.description:
                    body["description"] = outcome.description
            else:
                body = {"ok": True, "result": outcome}
        except ApiError as error:
            status = error.error_code
            body = error.envelope()
        self._record(canonical, params, status, body, token)
        return _json_response(status, body)

    async def _read_params(
        self, request: web.Request
    ) -> tuple[JSONDict, dict[str, _Upload], ApiError | None]:
        """Decodes query string, JSON, urlencoded or multipart bodies like the Bot API does."""
        raw: dict[str, Any] = dict(request.query)
        uploads: dict[str, _Upload] = {}
        if request.can_read_body:
            ctype = request.content_type
            try:
                if ctype == "application/json":
                    payload = await request.json()
                    if not isinstance(payload, dict):
                        return {}, {}, bad_request("can't parse JSON object")
                    raw.update(payload)
                elif ctype in {"application/x-www-form-urlencoded", "multipart/form-data"}:
                    form = await request.post()
                    for key, value in form.items():
                        if isinstance(value, web.FileField):
                            uploads[key] = _Upload(
                                file_name=value.filename,
                                mime_type=value.content_type,
                                data=value.file.read(),
                            )
                        else:
                            raw[key] = value
            except (ValueError, UnicodeDecodeError):
                return {}, {}, bad_request("can't parse request body")
        params = {key: _decode_param(key, value) for key, value in raw.items()}
        for key, upload in uploads.items():
            params.setdefault(
                key,
                {
                    "file_name": upload.file_name,
                    "mime_type": upload.mime_type,
                    "size": len(upload.data),
                },
            )
        return params, uploads, None

    def _record(
        self, method: str, params: JSONDict, status: int, body: JSONDict, token: str
    ) -> None:
        self.stats.requests += 1
        if status != 200:
            self.stats.errors += 1
        if status == 429:
            self.stats.too_many_requests += 1
        self.calls.append(
            RecordedCall(method, params, status, copy.deepcopy(body), self.clock(), token)
        )

    async def _take_slowness(self, method: str) -> None:
        """A slow answer queued with ``answer_slowly``: the call already took effect."""
        queue = self._slow.get(method.lower())
        if queue:
            seconds = queue.pop(0)
            await asyncio.sleep(seconds)

    def _take_injected(self, method: str) -> None:
        for key in (method.lower(), "*"):
            queue = self._injected.get(key)
            if queue:
                injected = queue[0]
                injected.times -= 1
                if injected.times <= 0:
                    queue.pop(0)
                self.stats.injected_failures += 1
                raise injected.error

    def _method_table(self) -> dict[str, Handler]:
        """Every Bot API method the fake answers, gathered from the route modules."""
        return {
            **self._updates_methods(),
            **self._messages_methods(),
            **self._media_methods(),
            **self._forum_methods(),
            **self._commands_methods(),
            **self._chats_methods(),
            **self._pins_methods(),
        }
