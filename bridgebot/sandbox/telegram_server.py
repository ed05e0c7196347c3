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
:mod:`bridgebot.sandbox.telegram_state`.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import itertools
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bridgebot.sandbox.telegram_state import (
    ADMIN_RIGHTS,
    DEFAULT_BOT_ADMIN_RIGHTS,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    RESTRICTED_PERMISSIONS,
    TOPIC_ICON_COLORS,
    ApiError,
    BotAccount,
    ChatState,
    EntityParseError,
    JSONDict,
    Member,
    RateLimiter,
    RateLimits,
    StoredFile,
    Topic,
    WebhookConfig,
    WebhookDelivery,
    bad_request,
    finish_text,
    forbidden,
    parse_html,
    spans_from_entities,
    too_many_requests,
    utf16_len,
)

__all__ = [
    "ApiError",
    "DriverError",
    "FakeTelegram",
    "RateLimits",
    "RecordedCall",
    "TelegramStats",
    "WebhookDelivery",
]

UserRef = JSONDict | int

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
_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)  # fmt: skip
_COMMAND_SCOPES = frozenset(
    {
        "default", "all_private_chats", "all_group_chats", "all_chat_administrators",
        "chat", "chat_administrators", "chat_member",
    }
)  # fmt: skip
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_MEDIA_RIGHTS = {
    "text": ("can_send_messages", "text messages"),
    "photo": ("can_send_photos", "photos"),
    "document": ("can_send_documents", "documents"),
    "voice": ("can_send_voice_notes", "voice notes"),
    "sticker": ("can_send_other_messages", "stickers"),
}
_FILE_ID_PREFIX = {
    "photo": "AgACAgIAAxkBAAI",
    "document": "BQACAgIAAxkBAAI",
    "voice": "AwACAgIAAxkBAAI",
    "sticker": "CAACAgIAAxkBAAI",
}


@dataclass(frozen=True)
class RecordedCall:
    """One Bot API request as the fake saw it.

    ``params`` are decoded (JSON values parsed, uploads described as
    ``{"file_name", "mime_type", "size"}``); a ``text`` sent with ``parse_mode=HTML`` is kept
    raw here, while the stored message holds the parsed text and entities.
    """

    method: str
    params: dict[str, Any]
    status: int
    response: dict[str, Any]
    at: float
    token: str = ""

    @property
    def ok(self) -> bool:
        """Whether Telegram would have answered ``"ok": true``."""
        return bool(self.response.get("ok"))


@dataclass
class TelegramStats:
    """Counters a test can assert on without walking ``calls``."""

    requests: int = 0  #: Bot API requests answered
    errors: int = 0  #: answers with ``"ok": false``
    too_many_requests: int = 0  #: 429 answers, from flood control or ``fail_next``
    injected_failures: int = 0  #: failures produced by ``fail_next``
    messages_sent: int = 0  #: messages the bot posted successfully
    user_messages: int = 0  #: messages posted by simulated users
    updates_queued: int = 0  #: updates created for bots
    webhook_deliveries: int = 0  #: POSTs to webhooks, successful or not
    webhook_failures: int = 0  #: webhook POSTs without a 2xx answer


class DriverError(RuntimeError):
    """A test asked a simulated human to do something Telegram would not let them do."""


@dataclass
class _Upload:
    """A file part of a multipart request."""

    file_name: str
    mime_type: str | None
    data: bytes


@dataclass
class _Injected:
    """A failure queued with :meth:`FakeTelegram.fail_next`."""

    error: ApiError
    times: int


@dataclass
class _Result:
    """A method result with the optional ``description`` Telegram adds (setWebhook does)."""

    value: Any
    description: str | None = None


Handler = Callable[[BotAccount, JSONDict, dict[str, _Upload]], Awaitable[Any]]


class FakeTelegram:
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

    def __init__(
        self,
        *,
        enforce_rate_limits: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rate_limits: RateLimits | None = None,
        strict_html: bool = False,
        webhook_retry_delay: float = 0.5,
    ) -> None:
        self.enforce_rate_limits = enforce_rate_limits
        self.clock = clock
        self.wall_clock = wall_clock
        self.strict_html = strict_html
        self.webhook_retry_delay = webhook_retry_delay
        self.rate_limiter = RateLimiter(clock, rate_limits)
        self.stats = TelegramStats()
        self.calls: list[RecordedCall] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.callback_answers: list[JSONDict] = []

        self._bots: dict[str, BotAccount] = {}
        self._default_token: str | None = None
        self._users: dict[int, JSONDict] = {}
        self._chats: dict[int, ChatState] = {}
        self._blocked: set[int] = set()
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._callbacks: dict[str, bool] = {}
        self._injected: dict[str, list[_Injected]] = {}
        self._ids = itertools.count(1)
        self._user_ids = itertools.count(100000001)
        self._bot_ids = itertools.count(7000000001)
        self._group_ids = itertools.count(4000000001)
        self._supergroup_ids = itertools.count(1000000000001)

        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._url: str | None = None
        self._closing = False
        self._handlers: dict[str, tuple[str, Handler]] = {}
        for canonical, handler in self._method_table().items():
            self._handlers[canonical.lower()] = (canonical, handler)

    # ------------------------------------------------------------------------------------
    # Lifecycle
    # ------------------------------------------------------------------------------------

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

    # ------------------------------------------------------------------------------------
    # Bots
    # ------------------------------------------------------------------------------------

    def add_bot(
        self,
        username: str = "bridgebot_test_bot",
        first_name: str = "Bridge Bot",
        *,
        can_read_all_group_messages: bool = False,
    ) -> str:
        """Registers a bot and returns its token (``<bot id>:<secret>``, as BotFather's).

        ``can_read_all_group_messages=False`` is Telegram's default privacy mode: in groups
        where the bot is not an administrator it only sees commands, replies to it and service
        messages.
        """
        bot_id = next(self._bot_ids)
        token = f"{bot_id}:AA{secrets.token_urlsafe(24)[:33]}"
        user = {"id": bot_id, "is_bot": True, "first_name": first_name, "username": username}
        self._bots[token] = BotAccount(
            token=token, user=user, can_read_all_group_messages=can_read_all_group_messages
        )
        self._users[bot_id] = user
        if self._default_token is None:
            self._default_token = token
        return token

    def bot_user(self, token: str | None = None) -> JSONDict:
        """The bot's ``User`` object (the first bot added unless ``token`` says otherwise)."""
        return dict(self._bot(token).user)

    def _bot(self, token: str | None = None) -> BotAccount:
        key = token or self._default_token
        if key is None or key not in self._bots:
            raise DriverError("no bot registered; call add_bot() first")
        return self._bots[key]

    # ------------------------------------------------------------------------------------
    # Driver: people and chats
    # ------------------------------------------------------------------------------------

    def add_user(
        self,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> JSONDict:
        """Creates a human Telegram user and returns its ``User`` object."""
        user: JSONDict = {"id": next(self._user_ids), "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user["id"]] = user
        return dict(user)

    def add_chat(
        self,
        title: str,
        kind: str = "supergroup",
        is_forum: bool = False,
        *,
        bot_status: str = "administrator",
        bot_rights: dict[str, bool] | None = None,
        owner: UserRef | None = None,
        username: str | None = None,
        bot_token: str | None = None,
    ) -> JSONDict:
        """Creates a group or supergroup (``is_forum`` for topics) and adds the bot to it.

        The bot joins as ``bot_status`` (administrator with the client's default rights unless
        ``bot_rights`` overrides some) and receives the ``my_chat_member`` update Telegram
        sends. Every group has a creator: ``owner``, or a generated user.
        """
        if kind not in {"group", "supergroup"}:
            raise ValueError("kind must be 'group' or 'supergroup'; use private_chat() for DMs")
        if is_forum and kind != "supergroup":
            raise ValueError("only supergroups can be forums")
        chat_id = -next(self._supergroup_ids) if kind == "supergroup" else -next(self._group_ids)
        owner_user = self._user(owner) if owner is not None else self.add_user("Chat", "Owner")
        chat = ChatState(
            id=chat_id, type=kind, title=title, username=username, is_forum=is_forum
        )
        chat.owner_id = owner_user["id"]
        chat.members[owner_user["id"]] = Member("creator")
        # Message 1 is the "group created" service message (not modelled); in forums thread
        # id 1 means the General topic, so real topics never get it.
        chat.next_message_id = 2
        self._chats[chat_id] = chat
        bot = self._bot(bot_token)
        self._change_member(chat, bot.id, bot_status, bot_rights or {}, actor=owner_user)
        return chat.to_json()

    def private_chat(self, user: UserRef, bot_token: str | None = None) -> JSONDict:
        """The private chat between ``user`` and the bot (the user has pressed Start)."""
        person = self._user(user)
        chat = self._chats.get(person["id"])
        if chat is None:
            chat = ChatState(id=person["id"], type="private", private_user=person)
            chat.members[person["id"]] = Member("member")
            chat.members[self._bot(bot_token).id] = Member("member")
            self._chats[chat.id] = chat
        return chat.to_json()

    def set_member(
        self, chat_id: int, user_id: int, status: str = "member", **rights: bool
    ) -> JSONDict:
        """Sets a user's (or the bot's) status in a chat, with admin rights or restrictions.

        ``status`` is ``creator``, ``administrator``, ``member``, ``restricted``, ``left`` or
        ``kicked``. For administrators, ``rights`` are merged into the current rights (e.g.
        ``can_manage_topics=False``); for restricted members they are permissions such as
        ``can_send_messages=False``. Queues ``my_chat_member`` for the bot, or
        ``chat_member`` (delivered only if the bot asked for it in ``allowed_updates``).
        """
        chat = self._chat_for_driver(chat_id)
        if user_id not in self._users:
            raise DriverError(f"unknown user {user_id}")
        actor = self._users[chat.owner_id] if chat.owner_id else self._users[user_id]
        self._change_member(chat, user_id, status, rights, actor=actor)
        return self._member_json(chat, user_id)

    def remove_bot(self, chat_id: int, bot_token: str | None = None) -> None:
        """Kicks the bot out of a chat: later calls there answer 403 ``bot was kicked``."""
        chat = self._chat_for_driver(chat_id)
        actor = self._users[chat.owner_id] if chat.owner_id else self._bot(bot_token).user
        self._change_member(chat, self._bot(bot_token).id, "kicked", {}, actor=actor)

    def delete_chat(self, chat_id: int) -> None:
        """Deletes a chat: every later call naming it answers ``400 chat not found``."""
        self._chat_for_driver(chat_id).deleted = True

    def user_blocks_bot(self, user: UserRef, bot_token: str | None = None) -> None:
        """The user blocks the bot: sends to them answer 403 ``bot was blocked by the user``."""
        person = self._user(user)
        self._blocked.add(person["id"])
        chat = self._chats.get(person["id"])
        bot = self._bot(bot_token)
        if chat is not None:
            old = self._member_json(chat, bot.id)
            chat.members[bot.id] = Member("kicked")
            self._queue_member_update(bot, chat, person, old, self._member_json(chat, bot.id))

    def upgrade_to_supergroup(self, chat_id: int) -> JSONDict:
        """Migrates a basic group: calls to the old id answer ``migrate_to_chat_id``."""
        old = self._chat_for_driver(chat_id)
        if old.type != "group":
            raise DriverError("only basic groups can be upgraded")
        new = ChatState(id=-next(self._supergroup_ids), type="supergroup", title=old.title)
        new.members = copy.deepcopy(old.members)
        new.owner_id = old.owner_id
        self._chats[new.id] = new
        old.migrated_to = new.id
        actor = self._users[old.owner_id] if old.owner_id else None
        self._post(old, actor, {"migrate_to_chat_id": new.id})
        self._post(new, actor, {"migrate_from_chat_id": old.id})
        return new.to_json()

    # ------------------------------------------------------------------------------------
    # Driver: what users do
    # ------------------------------------------------------------------------------------

    def user_sends(
        self,
        chat_id: int,
        user: UserRef,
        text: str,
        reply_to: int | None = None,
        thread_id: int | None = None,
        *,
        parse_mode: str | None = None,
    ) -> JSONDict:
        """A user writes in a chat; the bot gets the ``message`` update Telegram would send.

        Entities are detected like Telegram does (``bot_command`` for ``/start``, ``mention``
        for ``@name``, ``url`` ...). ``parse_mode="HTML"`` lets the test give the user
        formatting. ``reply_to`` embeds the full ``reply_to_message``; in forum topics the
        message carries ``message_thread_id``, ``is_topic_message`` and, when it is not an
        explicit reply, ``reply_to_message`` = the topic's creation service message.
        """
        body, entities = self._user_text(text, parse_mode, MAX_TEXT_LENGTH, "message is too long")
        content: JSONDict = {"text": body}
        if entities:
            content["entities"] = entities
        return self._user_post(chat_id, user, content, reply_to, thread_id, "text")

    def user_edits(self, chat_id: int, message_id: int, new_text: str) -> JSONDict:
        """The author edits a text message; the bot gets an ``edited_message`` update."""
        chat = self._chat_for_driver(chat_id)
        message = chat.messages.get(message_id)
        if message is None or message.get("from", {}).get("is_bot"):
            raise DriverError(f"no user message {message_id} in chat {chat_id}")
        field_name = "text" if "text" in message else "caption"
        body, entities = self._user_text(new_text, None, MAX_TEXT_LENGTH, "message is too long")
        message[field_name] = body
        entity_key = "entities" if field_name == "text" else "caption_entities"
        message.pop(entity_key, None)
        if entities:
            message[entity_key] = entities
        message["edit_date"] = int(self.wall_clock())
        self._deliver(chat, message, "edited_message")
        return copy.deepcopy(message)

    def user_deletes(self, chat_id: int, message_id: int) -> None:
        """A user deletes a message (bots get no update for this, as on Telegram)."""
        chat = self._chat_for_driver(chat_id)
        if chat.messages.pop(message_id, None) is None:
            raise DriverError(f"no message {message_id} in chat {chat_id}")
        chat.deleted_ids.add(message_id)

    def user_sends_photo(
        self,
        chat_id: int,
        user: UserRef,
        caption: str | None = None,
        *,
        data: bytes | None = None,
        width: int = 1280,
        height: int = 960,
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> JSONDict:
        """A user posts a photo: ``photo`` is the list of ``PhotoSize`` Telegram generates."""
        stored = self._store_file("photo", data or b"\xff\xd8\xff\xe0fake-jpeg", "image/jpeg")
        content = {"photo": self._photo_sizes(stored, width, height)}
        self._add_caption(content, caption)
        return self._user_post(chat_id, user, content, reply_to, thread_id, "photo")

    def user_sends_document(
        self,
        chat_id: int,
        user: UserRef,
        file_name: str = "notes.pdf",
        *,
        mime_type: str = "application/pdf",
        data: bytes | None = None,
        caption: str | None = None,
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> JSONDict:
        """A user posts a file as a ``document``."""
        stored = self._store_file("document", data or b"%PDF-1.4 fake", mime_type, file_name)
        content = {"document": self._media_json("document", stored)}
        self._add_caption(content, caption)
        return self._user_post(chat_id, user, content, reply_to, thread_id, "document")

    def user_sends_voice(
        self,
        chat_id: int,
        user: UserRef,
        duration: int = 3,
        *,
        data: bytes | None = None,
        caption: str | None = None,
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> JSONDict:
        """A user records a ``voice`` note (OGG/Opus, as Telegram clients send them)."""
        stored = self._store_file("voice", data or b"OggS fake-opus", "audio/ogg")
        content = {"voice": self._media_json("voice", stored, duration=duration)}
        self._add_caption(content, caption)
        return self._user_post(chat_id, user, content, reply_to, thread_id, "voice")

    def user_sends_sticker(
        self,
        chat_id: int,
        user: UserRef,
        emoji: str = "👍",
        *,
        set_name: str = "HotCherry",
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> JSONDict:
        """A user sends a regular (static WEBP) sticker."""
        stored = self._store_file("sticker", b"RIFF fake-webp", "image/webp")
        sticker = self._media_json("sticker", stored, emoji=emoji, set_name=set_name)
        return self._user_post(chat_id, user, {"sticker": sticker}, reply_to, thread_id, "sticker")

    def user_creates_topic(
        self, chat_id: int, user: UserRef, name: str, icon_color: int = TOPIC_ICON_COLORS[0]
    ) -> JSONDict:
        """A member opens a forum topic; returns its ``ForumTopic`` object."""
        chat = self._chat_for_driver(chat_id)
        person = self._user(user)
        if not chat.is_forum:
            raise DriverError("the chat is not a forum")
        topic = self._create_topic(chat, person, name, icon_color, None)
        return topic.to_json()

    def user_clicks_button(
        self, chat_id: int, user: UserRef, message_id: int, data: str
    ) -> JSONDict:
        """A user presses an inline button; the bot gets a ``callback_query`` update."""
        chat = self._chat_for_driver(chat_id)
        person = self._user(user)
        message = chat.messages.get(message_id)
        if message is None:
            raise DriverError(f"no message {message_id} in chat {chat_id}")
        buttons = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        datas = {button.get("callback_data") for row in buttons for button in row}
        if data not in datas:
            raise DriverError(f"message {message_id} has no button with callback_data {data!r}")
        query_id = str(next(self._ids) * 7919 + 1400000000000000000)
        self._callbacks[query_id] = False
        query = {
            "id": query_id,
            "from": self._from(person),
            "message": copy.deepcopy(message),
            "chat_instance": str(abs(chat.id) * 31),
            "data": data,
        }
        for bot in self._bots.values():
            if self._bot_present(bot, chat) and message.get("from", {}).get("id") == bot.id:
                self._enqueue(bot, "callback_query", query)
        return copy.deepcopy(query)

    # ------------------------------------------------------------------------------------
    # Fault injection and rate limits
    # ------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error_code: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        *,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        """Makes the next ``times`` calls of ``method`` (``"*"`` = any) fail as told.

        Defaults: ``429 Too Many Requests: retry after N`` when ``retry_after`` is given,
        otherwise ``500 Internal Server Error``. The failure happens before any state change.
        """
        if error_code is None:
            error_code = 429 if retry_after is not None else 500
        if description is None:
            description = {
                400: "Bad Request",
                403: "Forbidden",
                409: "Conflict",
                429: f"Too Many Requests: retry after {retry_after}",
                500: "Internal Server Error",
                502: "Bad Gateway",
            }.get(error_code, "Internal Server Error")
        parameters: JSONDict = {}
        if retry_after is not None:
            parameters["retry_after"] = retry_after
        if migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = migrate_to_chat_id
        error = ApiError(error_code, description, parameters or None)
        self._injected.setdefault(method.lower(), []).append(_Injected(error, times))

    def set_rate_limits(self, enabled: bool, limits: RateLimits | None = None) -> None:
        """Switches flood control on or off (and optionally changes the limits)."""
        self.enforce_rate_limits = enabled
        if limits is not None:
            self.rate_limiter.limits = limits
        self.rate_limiter.reset()

    # ------------------------------------------------------------------------------------
    # Inspection
    # ------------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[RecordedCall]:
        """Recorded calls of one method (case-insensitive, like the API's method names)."""
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    def chat_messages(
        self, chat_id: int, thread_id: int | None = None, *, include_service: bool = True
    ) -> list[JSONDict]:
        """What a person sees in the chat, oldest first: deletions gone, edits applied.

        ``thread_id`` narrows to one forum topic (including its creation service message).
        """
        chat = self._chats[chat_id]
        result = []
        for message in chat.messages.values():
            if thread_id is not None and message.get("message_thread_id") != thread_id:
                continue
            if not include_service and _is_service(message):
                continue
            result.append(copy.deepcopy(message))
        return result

    def topics(self, chat_id: int) -> list[JSONDict]:
        """Forum topics of a chat: ``ForumTopic`` fields plus ``is_closed``."""
        return [
            {**topic.to_json(), "is_closed": topic.is_closed}
            for topic in self._chats[chat_id].topics.values()
        ]

    def commands(
        self,
        scope_type: str | None = None,
        language_code: str | None = None,
        *,
        chat_id: int | None = None,
        user_id: int | None = None,
        bot_token: str | None = None,
    ) -> list[JSONDict]:
        """The command list stored by ``setMyCommands`` for a scope and language."""
        scope: JSONDict = {"type": scope_type or "default"}
        if chat_id is not None:
            scope["chat_id"] = chat_id
        if user_id is not None:
            scope["user_id"] = user_id
        key = (_scope_key(scope), language_code or "")
        return copy.deepcopy(self._bot(bot_token).commands.get(key, []))

    def pending_updates(self, bot_token: str | None = None) -> list[JSONDict]:
        """Updates queued for the bot and not yet confirmed (getUpdates) or delivered."""
        return copy.deepcopy(self._bot(bot_token).updates)

    def webhook_info(self, bot_token: str | None = None) -> JSONDict:
        """What ``getWebhookInfo`` would answer."""
        return self._webhook_info(self._bot(bot_token))

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,
        interval: float = 0.01,
    ) -> Any:
        """Polls ``predicate`` until it returns something truthy, and returns that.

        Tests use it to wait until the bot under test has reacted, e.g.
        ``await tg.wait_for(lambda: tg.calls_to("sendMessage"))``. Raises ``TimeoutError``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            if loop.time() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(interval)

    # ------------------------------------------------------------------------------------
    # HTTP
    # ------------------------------------------------------------------------------------

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
        return {
            "getMe": self._m_get_me,
            "getUpdates": self._m_get_updates,
            "setWebhook": self._m_set_webhook,
            "deleteWebhook": self._m_delete_webhook,
            "getWebhookInfo": self._m_get_webhook_info,
            "sendMessage": self._m_send_message,
            "sendPhoto": self._media_sender("photo"),
            "sendDocument": self._media_sender("document"),
            "sendVoice": self._media_sender("voice"),
            "sendSticker": self._media_sender("sticker"),
            "editMessageText": self._m_edit_message_text,
            "editMessageCaption": self._m_edit_message_caption,
            "deleteMessage": self._m_delete_message,
            "createForumTopic": self._m_create_forum_topic,
            "editForumTopic": self._m_edit_forum_topic,
            "closeForumTopic": self._m_close_forum_topic,
            "reopenForumTopic": self._m_reopen_forum_topic,
            "deleteForumTopic": self._m_delete_forum_topic,
            "setMyCommands": self._m_set_my_commands,
            "getMyCommands": self._m_get_my_commands,
            "deleteMyCommands": self._m_delete_my_commands,
            "getChat": self._m_get_chat,
            "getChatMember": self._m_get_chat_member,
            "getChatAdministrators": self._m_get_chat_administrators,
            "getChatMemberCount": self._m_get_chat_member_count,
            "sendChatAction": self._m_send_chat_action,
            "answerCallbackQuery": self._m_answer_callback_query,
            "leaveChat": self._m_leave_chat,
            "getFile": self._m_get_file,
        }

    # ------------------------------------------------------------------------------------
    # Updates: queue, long polling, webhook
    # ------------------------------------------------------------------------------------

    def _enqueue(self, bot: BotAccount, update_type: str, payload: JSONDict) -> None:
        if not bot.wants(update_type):
            return
        update = {"update_id": bot.next_update_id, update_type: copy.deepcopy(payload)}
        bot.next_update_id += 1
        bot.updates.append(update)
        self.stats.updates_queued += 1
        bot.notify()

    async def _m_get_updates(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> list[JSONDict]:
        if bot.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _opt_int(params, "offset")
        limit = min(max(_opt_int(params, "limit") or 100, 1), 100)
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            bot.allowed_updates = [str(kind) for kind in allowed] or None
        if offset is not None:
            if offset < 0:
                bot.updates = bot.updates[offset:] if -offset < len(bot.updates) else bot.updates
            else:
                bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
        # A newer getUpdates ends an older one still waiting, as on Telegram.
        bot.poll_generation += 1
        generation = bot.poll_generation
        bot.notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while True:
            if generation != bot.poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
            if bot.updates or self._closing:
                return copy.deepcopy(bot.updates[:limit])
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            event = bot.wakeup
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    async def _m_set_webhook(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> _Result:
        url = str(params.get("url") or "")
        if not url:
            return await self._m_delete_webhook(bot, params, uploads)
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: Webhook URL must start with http:// or https://")
        secret = params.get("secret_token")
        if secret is not None:
            secret = str(secret)
            if not 1 <= len(secret) <= 256 or not all(
                ch.isascii() and (ch.isalnum() or ch in "_-") for ch in secret
            ):
                raise bad_request("secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if params.get("drop_pending_updates") is True:
            bot.updates.clear()
        unchanged = (
            bot.webhook is not None
            and bot.webhook.url == url
            and bot.webhook.secret_token == secret
        )
        bot.webhook = WebhookConfig(
            url=url,
            secret_token=secret,
            max_connections=int(params.get("max_connections") or 40),
            ip_address=params.get("ip_address"),
            allowed_updates=[str(k) for k in allowed] if isinstance(allowed, list) else None,
        )
        bot.poll_generation += 1
        bot.notify()
        await self._cancel_webhook_task(bot)
        bot.webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop(bot))
        return _Result(True, "Webhook is already set" if unchanged else "Webhook was set")

    async def _m_delete_webhook(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> _Result:
        if params.get("drop_pending_updates") is True:
            bot.updates.clear()
        was_set = bot.webhook is not None
        bot.webhook = None
        await self._cancel_webhook_task(bot)
        return _Result(True, "Webhook was deleted" if was_set else "Webhook is already deleted")

    async def _m_get_webhook_info(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        return self._webhook_info(bot)

    def _webhook_info(self, bot: BotAccount) -> JSONDict:
        hook = bot.webhook
        info: JSONDict = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            if hook.ip_address:
                info["ip_address"] = hook.ip_address
            if hook.allowed_updates is not None:
                info["allowed_updates"] = list(hook.allowed_updates)
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    async def _cancel_webhook_task(self, bot: BotAccount) -> None:
        task = bot.webhook_task
        bot.webhook_task = None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _webhook_loop(self, bot: BotAccount) -> None:
        """Delivers queued updates one by one, retrying the head until it gets a 2xx."""
        while not self._closing and bot.webhook is not None:
            hook = bot.webhook
            if not bot.updates:
                await bot.wakeup.wait()
                continue
            update = bot.updates[0]
            headers = {"Content-Type": "application/json"}
            if hook.secret_token:
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
            status, error = 0, None
            assert self._session is not None
            try:
                async with self._session.post(
                    hook.url,
                    data=json.dumps(update, ensure_ascii=False).encode(),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as response:
                    status = response.status
                    await response.read()
                    if not 200 <= status < 300:
                        error = f"Wrong response from the webhook: {status} {response.reason}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = f"Connection failed: {exc.__class__.__name__}"
            self.webhook_deliveries.append(
                WebhookDelivery(
                    update_id=update["update_id"],
                    url=hook.url,
                    status=status,
                    secret_token=hook.secret_token,
                    at=self.clock(),
                    error=error,
                )
            )
            self.stats.webhook_deliveries += 1
            if error is None:
                if bot.updates and bot.updates[0] is update:
                    bot.updates.pop(0)
            else:
                self.stats.webhook_failures += 1
                hook.last_error_date = int(self.wall_clock())
                hook.last_error_message = error
                await asyncio.sleep(self.webhook_retry_delay)

    # ------------------------------------------------------------------------------------
    # Methods: bot, chats, members
    # ------------------------------------------------------------------------------------

    async def _m_get_me(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        return {
            **bot.user,
            "can_join_groups": True,
            "can_read_all_group_messages": bot.can_read_all_group_messages,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_get_chat(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        chat = self._api_chat(bot, params)
        info = chat.to_json()
        info.update(
            {
                "accent_color_id": abs(chat.id) % 7,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        if chat.type != "private":
            info["permissions"] = {name: True for name in RESTRICTED_PERMISSIONS}
            if chat.username:
                info["active_usernames"] = [chat.username]
        return info

    async def _m_get_chat_member(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        chat = self._api_chat(bot, params)
        user_id = _req_int(params, "user_id")
        if user_id not in self._users:
            raise bad_request("user not found")
        return self._member_json(chat, user_id)

    async def _m_get_chat_administrators(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> list[JSONDict]:
        chat = self._api_chat(bot, params)
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        return [
            self._member_json(chat, user_id)
            for user_id, member in chat.members.items()
            if member.status in {"creator", "administrator"}
        ]

    async def _m_get_chat_member_count(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> int:
        chat = self._api_chat(bot, params)
        return sum(1 for member in chat.members.values() if member.is_present)

    async def _m_send_chat_action(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        chat = self._api_chat(bot, params)
        if str(params.get("action") or "") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        thread_id = _opt_int(params, "message_thread_id")
        if thread_id:
            self._resolve_thread(chat, thread_id)
        return True

    async def _m_leave_chat(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        chat = self._api_chat(bot, params)
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        self._change_member(chat, bot.id, "left", {}, actor=bot.user)
        return True

    async def _m_answer_callback_query(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if self._callbacks.get(query_id, True):
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self._callbacks[query_id] = True
        self.callback_answers.append(dict(params))
        return True

    async def _m_get_file(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    # ------------------------------------------------------------------------------------
    # Methods: commands
    # ------------------------------------------------------------------------------------

    def _command_key(self, bot: BotAccount, params: JSONDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in _COMMAND_SCOPES:
            raise bad_request("invalid scope specified")
        scope = dict(scope)
        if "chat_id" in scope:
            chat = self._api_chat(bot, {"chat_id": scope["chat_id"]})
            scope["chat_id"] = chat.id
        elif scope["type"] in {"chat", "chat_administrators", "chat_member"}:
            raise bad_request("chat_id is empty")
        language = str(params.get("language_code") or "")
        if language and (len(language) != 2 or not language.isalpha()):
            raise bad_request("invalid language code specified")
        return _scope_key(scope), language

    async def _m_set_my_commands(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("commands is empty")  # real text for a missing/invalid list
        if len(commands) > 100:
            raise bad_request("too many commands")
        clean: list[JSONDict] = []
        for item in commands:
            if not isinstance(item, dict):
                raise bad_request("BOT_COMMAND_INVALID")
            command = str(item.get("command") or "")
            description = str(item.get("description") or "")
            if not 1 <= len(command) <= 32 or not all(
                ch.isascii() and (ch.islower() or ch.isdigit() or ch == "_") for ch in command
            ):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": command, "description": description})
        key = self._command_key(bot, params)
        if clean:
            bot.commands[key] = clean
        else:
            bot.commands.pop(key, None)
        return True

    async def _m_get_my_commands(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> list[JSONDict]:
        return copy.deepcopy(bot.commands.get(self._command_key(bot, params), []))

    async def _m_delete_my_commands(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        bot.commands.pop(self._command_key(bot, params), None)
        return True

    # ------------------------------------------------------------------------------------
    # Methods: sending, editing, deleting
    # ------------------------------------------------------------------------------------

    async def _m_send_message(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        chat = self._api_chat(bot, params)
        self._require_right(bot, chat, "text")
        text, entities = self._bot_text(
            params, "text", "entities", MAX_TEXT_LENGTH, "message is too long", required=True
        )
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        preview = params.get("link_preview_options")
        if isinstance(preview, dict) and preview:
            content["link_preview_options"] = preview
        elif params.get("disable_web_page_preview") is True:
            content["link_preview_options"] = {"is_disabled": True}
        return self._bot_post(bot, chat, params, content)

    def _media_sender(self, kind: str) -> Handler:
        async def send(
            bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
        ) -> JSONDict:
            chat = self._api_chat(bot, params)
            self._require_right(bot, chat, kind)
            stored = self._input_file(kind, params, uploads)
            if kind == "photo":
                content: JSONDict = {"photo": self._photo_sizes(stored, 1280, 960)}
            else:
                extra: JSONDict = {}
                if kind == "voice":
                    extra["duration"] = _opt_int(params, "duration") or 1
                if kind == "sticker":
                    extra["emoji"] = str(params.get("emoji") or "🙂")
                content = {kind: self._media_json(kind, stored, **extra)}
            if kind != "sticker":
                caption, entities = self._bot_text(
                    params,
                    "caption",
                    "caption_entities",
                    MAX_CAPTION_LENGTH,
                    "message caption is too long",
                    required=False,
                )
                if caption:
                    content["caption"] = caption
                if entities:
                    content["caption_entities"] = entities
            return self._bot_post(bot, chat, params, content)

        return send

    def _bot_post(
        self, bot: BotAccount, chat: ChatState, params: JSONDict, content: JSONDict
    ) -> JSONDict:
        """Places a bot message (thread, reply, topic checks), rate-limits and stores it."""
        thread_id = _opt_int(params, "message_thread_id")
        reply_id, allow_without, quote = _reply_params(params)
        reply: JSONDict | None = None
        if reply_id is not None:
            reply = chat.messages.get(reply_id)
            if reply is None and not allow_without:
                raise bad_request("message to be replied not found")
        if quote is not None and reply is not None:
            source = reply.get("text") or reply.get("caption") or ""
            if quote not in source:
                raise bad_request("QUOTE_TEXT_INVALID")
        placement = self._placement(chat, thread_id, reply)
        topic = chat.topics.get(placement[0] or 0) if placement[1] else None
        if topic is not None and topic.is_closed:
            member = chat.members.get(bot.id)
            if member is None or not member.right("can_manage_topics"):
                raise bad_request("TOPIC_CLOSED")
        if self.enforce_rate_limits:
            retry_after = self.rate_limiter.acquire(chat.id, chat.is_group)
            if retry_after is not None:
                raise too_many_requests(retry_after)
        if isinstance(params.get("reply_markup"), dict):
            markup = params["reply_markup"]
            if "inline_keyboard" in markup:
                content["reply_markup"] = markup
        if params.get("protect_content") is True:
            content["has_protected_content"] = True
        message = self._store_message(chat, bot.user, content, placement, reply, quote)
        self.stats.messages_sent += 1
        return copy.deepcopy(message)

    async def _m_edit_message_text(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        return self._edit(bot, params, "text")

    async def _m_edit_message_caption(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        return self._edit(bot, params, "caption")

    def _edit(self, bot: BotAccount, params: JSONDict, field_name: str) -> JSONDict:
        if params.get("inline_message_id") and "chat_id" not in params:
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._api_chat(bot, params)
        message_id = _opt_int(params, "message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request("message to edit not found")
        if message.get("from", {}).get("id") != bot.id or _is_service(message):
            raise bad_request("message can't be edited")
        if field_name == "text":
            if "text" not in message:
                raise bad_request("there is no text in the message to edit")
            text, entities = self._bot_text(
                params, "text", "entities", MAX_TEXT_LENGTH, "message is too long", True
            )
            entity_key = "entities"
        else:
            if "text" in message or "sticker" in message:
                raise bad_request("there is no caption in the message to edit")
            text, entities = self._bot_text(
                params,
                "caption",
                "caption_entities",
                MAX_CAPTION_LENGTH,
                "message caption is too long",
                False,
            )
            entity_key = "caption_entities"
        markup = params.get("reply_markup")
        new_markup = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        if (
            message.get(field_name, "") == text
            and message.get(entity_key, []) == entities
            and message.get("reply_markup") == new_markup
        ):
            raise bad_request(_NOT_MODIFIED)
        if text:
            message[field_name] = text
        else:
            message.pop(field_name, None)
        message.pop(entity_key, None)
        if entities:
            message[entity_key] = entities
        message.pop("reply_markup", None)
        if new_markup is not None:
            message["reply_markup"] = new_markup
        preview = params.get("link_preview_options")
        if field_name == "text" and isinstance(preview, dict) and preview:
            message["link_preview_options"] = preview
        message["edit_date"] = int(self.wall_clock())
        return copy.deepcopy(message)

    async def _m_delete_message(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        chat = self._api_chat(bot, params)
        message_id = _req_int(params, "message_id")
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request("message to delete not found")
        own = message.get("from", {}).get("id") == bot.id
        if "forum_topic_created" in message:
            raise bad_request("message can't be deleted")
        if not own and chat.type != "private":
            member = chat.members.get(bot.id)
            if member is None or not member.right("can_delete_messages"):
                raise bad_request("message can't be deleted")
        del chat.messages[message_id]
        chat.deleted_ids.add(message_id)
        return True

    # ------------------------------------------------------------------------------------
    # Methods: forum topics
    # ------------------------------------------------------------------------------------

    def _forum(self, bot: BotAccount, params: JSONDict) -> ChatState:
        chat = self._api_chat(bot, params)
        if not chat.is_forum:
            raise bad_request("the chat is not a forum")
        return chat

    def _topic(self, chat: ChatState, params: JSONDict) -> Topic:
        thread_id = _opt_int(params, "message_thread_id")
        if thread_id is None:
            raise bad_request("message thread identifier is not specified")
        topic = chat.topics.get(thread_id)
        if topic is None:
            raise bad_request("TOPIC_ID_INVALID")
        return topic

    def _require_topic_rights(
        self, bot: BotAccount, chat: ChatState, topic: Topic | None, action: str
    ) -> None:
        member = chat.members.get(bot.id)
        if member is not None and member.right("can_manage_topics"):
            return
        if topic is not None:
            creation = chat.messages.get(topic.message_thread_id, {})
            if creation.get("from", {}).get("id") == bot.id:
                return
        raise bad_request(f"not enough rights to {action}")

    async def _m_create_forum_topic(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        chat = self._forum(bot, params)
        self._require_topic_rights(bot, chat, None, "create a topic")
        name = str(params.get("name") or "")
        if not name:
            raise bad_request("TOPIC_TITLE_EMPTY")
        if len(name) > 128:
            raise bad_request("TOPIC_TITLE_TOO_LONG")
        icon_color = _opt_int(params, "icon_color") or TOPIC_ICON_COLORS[0]
        if icon_color not in TOPIC_ICON_COLORS:
            raise bad_request("TOPIC_COLOR_INVALID")
        emoji_id = params.get("icon_custom_emoji_id")
        topic = self._create_topic(chat, bot.user, name, icon_color, emoji_id and str(emoji_id))
        return topic.to_json()

    async def _m_edit_forum_topic(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        chat = self._forum(bot, params)
        topic = self._topic(chat, params)
        self._require_topic_rights(bot, chat, topic, "edit the topic")
        changes: JSONDict = {}
        name = params.get("name")
        if name is not None and str(name) != topic.name:
            if not 1 <= len(str(name)) <= 128:
                raise bad_request("TOPIC_TITLE_EMPTY")
            changes["name"] = str(name)
        emoji_id = params.get("icon_custom_emoji_id")
        if emoji_id is not None and (str(emoji_id) or None) != topic.icon_custom_emoji_id:
            changes["icon_custom_emoji_id"] = str(emoji_id)
        if not changes:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.name = changes.get("name", topic.name)
        if "icon_custom_emoji_id" in changes:
            topic.icon_custom_emoji_id = changes["icon_custom_emoji_id"] or None
        self._store_service(chat, bot.user, topic, {"forum_topic_edited": changes})
        return True

    async def _m_close_forum_topic(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        return self._set_topic_closed(bot, params, True)

    async def _m_reopen_forum_topic(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        return self._set_topic_closed(bot, params, False)

    def _set_topic_closed(self, bot: BotAccount, params: JSONDict, closed: bool) -> bool:
        chat = self._forum(bot, params)
        topic = self._topic(chat, params)
        self._require_topic_rights(bot, chat, topic, "close the topic" if closed else "reopen")
        if topic.is_closed == closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.is_closed = closed
        event = "forum_topic_closed" if closed else "forum_topic_reopened"
        self._store_service(chat, bot.user, topic, {event: {}})
        return True

    async def _m_delete_forum_topic(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        chat = self._forum(bot, params)
        topic = self._topic(chat, params)
        member = chat.members.get(bot.id)
        if member is None or not member.right("can_delete_messages"):
            raise bad_request("not enough rights to delete the topic")
        for message_id in [
            mid
            for mid, msg in chat.messages.items()
            if msg.get("message_thread_id") == topic.message_thread_id
        ]:
            del chat.messages[message_id]
            chat.deleted_ids.add(message_id)
        del chat.topics[topic.message_thread_id]
        return True

    # ------------------------------------------------------------------------------------
    # Shared machinery
    # ------------------------------------------------------------------------------------

    def _user(self, user: UserRef) -> JSONDict:
        user_id = user["id"] if isinstance(user, dict) else int(user)
        if user_id not in self._users:
            raise DriverError(f"unknown user {user_id}; create it with add_user()")
        return self._users[user_id]

    def _chat_for_driver(self, chat_id: int) -> ChatState:
        chat = self._chats.get(chat_id)
        if chat is None or chat.deleted:
            raise DriverError(f"no chat {chat_id}")
        return chat

    def _find_chat(self, raw: Any) -> ChatState:
        """Resolves a ``chat_id`` parameter (an id or ``@username``) or answers chat not found."""
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        chat: ChatState | None = None
        if isinstance(raw, str) and raw.startswith("@"):
            name = raw[1:].lower()
            chat = next(
                (c for c in self._chats.values() if (c.username or "").lower() == name), None
            )
        else:
            try:
                chat = self._chats.get(int(raw))
            except (TypeError, ValueError):
                chat = None
        if chat is None or chat.deleted:
            raise bad_request("chat not found")
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        return chat

    def _api_chat(self, bot: BotAccount, params: JSONDict) -> ChatState:
        """The chat a call names, once the bot is allowed to act in it (403 otherwise)."""
        raw = params.get("chat_id")
        try:
            chat = self._find_chat(raw)
        except ApiError:
            # A known user who never started the bot: Telegram says it may not write first.
            try:
                user_id = int(raw) if raw not in (None, "") else None
            except (TypeError, ValueError):
                user_id = None
            if user_id in self._users and user_id not in self._chats and user_id > 0:
                raise forbidden("bot can't initiate conversation with a user") from None
            raise
        if not self._bot_present(bot, chat):
            if chat.type == "private":
                raise forbidden("bot was blocked by the user")
            member = chat.members.get(bot.id)
            if member is not None and member.status == "kicked":
                raise forbidden(f"bot was kicked from the {chat.kind_label}")
            raise forbidden(f"bot is not a member of the {chat.kind_label}")
        return chat

    def _bot_present(self, bot: BotAccount, chat: ChatState) -> bool:
        if chat.type == "private":
            return chat.id not in self._blocked
        member = chat.members.get(bot.id)
        return member is not None and member.is_present

    def _require_right(self, bot: BotAccount, chat: ChatState, kind: str) -> None:
        member = chat.members.get(bot.id)
        right, label = _MEDIA_RIGHTS[kind]
        if member is not None and member.status == "restricted" and not member.right(right):
            raise bad_request(f"not enough rights to send {label} to the chat")

    def _bot_text(
        self,
        params: JSONDict,
        text_key: str,
        entities_key: str,
        limit: int,
        too_long: str,
        required: bool,
    ) -> tuple[str, list[JSONDict]]:
        """Parses a text parameter the way the Bot API does (parse_mode or entities)."""
        raw = params.get(text_key)
        raw = "" if raw is None else str(raw)
        parse_mode = str(params.get("parse_mode") or "")
        if parse_mode:
            if parse_mode.lower() != "html":
                if parse_mode.lower() in {"markdown", "markdownv2"}:
                    raise bad_request(
                        f"can't parse entities: the fake Telegram server only implements "
                        f"parse_mode HTML, not {parse_mode}"
                    )
                raise bad_request("unsupported parse_mode")
            try:
                text, spans = parse_html(raw, strict=self.strict_html)
            except EntityParseError as exc:
                raise bad_request(f"can't parse entities: {exc}") from None
        else:
            text = raw
            given = params.get(entities_key)
            spans = spans_from_entities(text, given) if isinstance(given, list) else []
        text, entities = finish_text(text, spans)
        if required and not text:
            raise bad_request("message text is empty")
        if utf16_len(text) > limit:
            raise bad_request(too_long)
        return text, self._with_mention_users(entities)

    def _with_mention_users(self, entities: list[JSONDict]) -> list[JSONDict]:
        for entity in entities:
            if entity["type"] == "text_mention" and "user_id" in entity:
                user_id = entity.pop("user_id")
                entity["user"] = self._from(self._users.get(user_id, {"id": user_id}))
        return entities

    def _user_text(
        self, text: str, parse_mode: str | None, limit: int, too_long: str
    ) -> tuple[str, list[JSONDict]]:
        params = {"text": text, "parse_mode": parse_mode} if parse_mode else {"text": text}
        try:
            return self._bot_text(params, "text", "entities", limit, too_long, True)
        except ApiError as exc:
            raise DriverError(exc.description) from None

    def _user_post(
        self,
        chat_id: int,
        user: UserRef,
        content: JSONDict,
        reply_to: int | None,
        thread_id: int | None,
        kind: str,
    ) -> JSONDict:
        chat = self._chat_for_driver(chat_id)
        person = self._user(user)
        member = chat.members.get(person["id"])
        if member is None or not member.is_present:
            if chat.type != "private" and chat.owner_id is not None:
                # Joining silently keeps tests short; Telegram would show a join message.
                member = chat.members.setdefault(person["id"], Member("member"))
            if member is None or not member.is_present:
                raise DriverError(f"user {person['id']} is not a member of chat {chat_id}")
        right, label = _MEDIA_RIGHTS[kind]
        if member.status == "restricted" and not member.right(right):
            raise DriverError(f"user may not send {label} in chat {chat_id}")
        reply = None
        if reply_to is not None:
            reply = chat.messages.get(reply_to)
            if reply is None:
                raise DriverError(f"no message {reply_to} to reply to in chat {chat_id}")
        try:
            placement = self._placement(chat, thread_id, reply)
        except ApiError as exc:
            raise DriverError(exc.description) from None
        topic = chat.topics.get(placement[0] or 0) if placement[1] else None
        if topic is not None and topic.is_closed and not member.right("can_manage_topics"):
            raise DriverError("the topic is closed")
        message = self._store_message(chat, person, content, placement, reply, None)
        self.stats.user_messages += 1
        self._deliver(chat, message, "message")
        return copy.deepcopy(message)

    def _resolve_thread(self, chat: ChatState, thread_id: int) -> tuple[int, bool]:
        """Validates an explicit ``message_thread_id``: ``(thread id, is a forum topic)``."""
        if chat.is_forum:
            if thread_id in chat.topics:
                return thread_id, True
            if thread_id == 1:  # the General topic
                return 0, False
            raise bad_request("message thread not found")
        if chat.type == "supergroup" and thread_id in chat.messages:
            return thread_id, False
        raise bad_request("message thread not found")

    def _placement(
        self, chat: ChatState, thread_id: int | None, reply: JSONDict | None
    ) -> tuple[int | None, bool, JSONDict | None]:
        """Where a new message lands: ``(message_thread_id, in a topic, implicit reply)``.

        Mirrors Telegram: in supergroups a reply joins the thread of the message it answers
        (a topic in forums, otherwise the reply chain's root); a message sent to a forum topic
        without an explicit reply is a reply to the topic's creation service message.
        """
        if thread_id:
            resolved, in_topic = self._resolve_thread(chat, thread_id)
            if not resolved:
                return None, False, None
            if in_topic and reply is None:
                return resolved, True, chat.messages.get(resolved)
            return resolved, in_topic, None
        if reply is not None and chat.type == "supergroup":
            root = reply.get("message_thread_id") or reply["message_id"]
            return root, bool(reply.get("is_topic_message")), None
        return None, False, None

    def _store_message(
        self,
        chat: ChatState,
        sender: JSONDict | None,
        content: JSONDict,
        placement: tuple[int | None, bool, JSONDict | None],
        reply: JSONDict | None,
        quote: str | None,
    ) -> JSONDict:
        thread_id, in_topic, implicit_reply = placement
        message_id = chat.next_message_id
        chat.next_message_id += 1
        message: JSONDict = {"message_id": message_id}
        if thread_id:
            message["message_thread_id"] = thread_id
        if sender is not None:
            message["from"] = self._from(sender)
        message["chat"] = chat.to_json()
        message["date"] = int(self.wall_clock())
        if in_topic:
            message["is_topic_message"] = True
        replied = reply or implicit_reply
        if replied is not None:
            message["reply_to_message"] = {
                k: copy.deepcopy(v) for k, v in replied.items() if k != "reply_to_message"
            }
            if quote:
                source = replied.get("text") or replied.get("caption") or ""
                position = utf16_len(source[: source.index(quote)])
                message["quote"] = {"text": quote, "position": position, "is_manual": True}
        message.update(copy.deepcopy(content))
        chat.messages[message_id] = message
        return message

    def _post(self, chat: ChatState, sender: JSONDict | None, content: JSONDict) -> JSONDict:
        message = self._store_message(chat, sender, content, (None, False, None), None, None)
        self._deliver(chat, message, "message")
        return message

    def _store_service(
        self, chat: ChatState, sender: JSONDict, topic: Topic, content: JSONDict
    ) -> JSONDict:
        placement = (topic.message_thread_id, True, None)
        message = self._store_message(chat, sender, content, placement, None, None)
        self._deliver(chat, message, "message")
        return message

    def _create_topic(
        self,
        chat: ChatState,
        creator: JSONDict,
        name: str,
        icon_color: int,
        icon_custom_emoji_id: str | None,
    ) -> Topic:
        thread_id = chat.next_message_id
        topic = Topic(thread_id, name, icon_color, icon_custom_emoji_id)
        created: JSONDict = {"name": name, "icon_color": icon_color}
        if icon_custom_emoji_id:
            created["icon_custom_emoji_id"] = icon_custom_emoji_id
        chat.topics[thread_id] = topic
        self._store_service(chat, creator, topic, {"forum_topic_created": created})
        return topic

    def _deliver(self, chat: ChatState, message: JSONDict, update_type: str) -> None:
        """Queues ``message`` for every bot that would see it (privacy mode included)."""
        for bot in self._bots.values():
            if message.get("from", {}).get("id") == bot.id:
                continue  # bots never receive their own messages
            if chat.type == "private":
                if chat.id in self._blocked:
                    continue
            elif not self._bot_present(bot, chat) or not self._bot_sees(bot, chat, message):
                continue
            self._enqueue(bot, update_type, message)

    def _bot_sees(self, bot: BotAccount, chat: ChatState, message: JSONDict) -> bool:
        member = chat.members.get(bot.id)
        if bot.can_read_all_group_messages or (
            member is not None and member.status in {"creator", "administrator"}
        ):
            return True
        if _is_service(message):
            return True
        reply = message.get("reply_to_message") or {}
        if reply.get("from", {}).get("id") == bot.id:
            return True
        username = str(bot.user.get("username", "")).lower()
        for entity in message.get("entities", []):
            if entity["type"] != "bot_command":
                continue
            command = _entity_text(message["text"], entity)
            target = command.partition("@")[2].lower()
            if not target or target == username:
                return True
        return False

    def _change_member(
        self,
        chat: ChatState,
        user_id: int,
        status: str,
        rights: dict[str, bool],
        *,
        actor: JSONDict,
    ) -> None:
        valid = {"creator", "administrator", "member", "restricted", "left", "kicked"}
        if status not in valid:
            raise ValueError(f"status must be one of {sorted(valid)}")
        old_json = self._member_json(chat, user_id)
        current = chat.members.get(user_id)
        if status == "administrator":
            base = dict(current.rights) if current and current.status == status else {}
            merged = {**DEFAULT_BOT_ADMIN_RIGHTS, **base, **rights}
        elif status == "restricted":
            base = dict(current.rights) if current and current.status == status else {}
            merged = {**base, **rights}
        else:
            merged = {}
        chat.members[user_id] = Member(status, merged)
        new_json = self._member_json(chat, user_id)
        for bot in self._bots.values():
            if bot.id == user_id:
                self._queue_member_update(bot, chat, actor, old_json, new_json)
            elif self._bot_present(bot, chat):
                payload = _member_update(
                    chat, self._from(actor), old_json, new_json, self.wall_clock()
                )
                self._enqueue(bot, "chat_member", payload)

    def _queue_member_update(
        self,
        bot: BotAccount,
        chat: ChatState,
        actor: JSONDict,
        old_json: JSONDict,
        new_json: JSONDict,
    ) -> None:
        payload = _member_update(chat, self._from(actor), old_json, new_json, self.wall_clock())
        self._enqueue(bot, "my_chat_member", payload)

    def _member_json(self, chat: ChatState, user_id: int) -> JSONDict:
        """The ``ChatMember`` object for a user, in the shape of its status."""
        user = self._from(self._users[user_id])
        member = chat.members.get(user_id) or Member("left")
        body: JSONDict = {"user": user, "status": member.status}
        if member.status == "creator":
            body["is_anonymous"] = False
        elif member.status == "administrator":
            body["can_be_edited"] = False
            body["is_anonymous"] = False
            for right in ADMIN_RIGHTS:
                if right == "can_manage_topics" and chat.type != "supergroup":
                    continue
                body[right] = bool(member.rights.get(right, False))
        elif member.status == "restricted":
            body["is_member"] = bool(member.rights.get("is_member", True))
            for permission in RESTRICTED_PERMISSIONS:
                body[permission] = bool(member.rights.get(permission, True))
            body["until_date"] = member.until_date
        elif member.status == "kicked":
            body["until_date"] = member.until_date
        return body

    def _from(self, user: JSONDict) -> JSONDict:
        keys = ("id", "is_bot", "first_name", "last_name", "username", "language_code")
        return {key: user[key] for key in keys if user.get(key) is not None}

    def _store_file(
        self, kind: str, data: bytes, mime_type: str | None, file_name: str | None = None
    ) -> StoredFile:
        number = next(self._ids)
        extension = {
            "photo": ".jpg",
            "voice": ".oga",
            "sticker": ".webp",
        }.get(kind, "." + file_name.rsplit(".", 1)[-1] if file_name and "." in file_name else "")
        folder = {"photo": "photos", "document": "documents", "voice": "voice"}.get(kind, kind + "s")
        stored = StoredFile(
            file_id=_FILE_ID_PREFIX.get(kind, "BQACAgIAAxkBAAI") + secrets.token_urlsafe(40),
            file_unique_id=("AQAD" if kind == "photo" else "AgAD") + secrets.token_urlsafe(9),
            file_path=f"{folder}/file_{number}{extension}",
            data=data,
            mime_type=mime_type,
            file_name=file_name,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _input_file(self, kind: str, params: JSONDict, uploads: dict[str, _Upload]) -> StoredFile:
        """The file a send* call refers to: an upload, ``attach://``, a file_id or a URL."""
        value = params.get(kind)
        upload = uploads.get(kind)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value[len("attach://") :])
        if upload is not None:
            return self._store_file(kind, upload.data, upload.mime_type, upload.file_name)
        if isinstance(value, str) and value in self._files:
            return self._files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            # No internet here: pretend the download worked and keep the URL as content.
            name = value.rsplit("/", 1)[-1] or None
            return self._store_file(kind, value.encode(), None, name)
        if value in (None, ""):
            raise bad_request(f"there is no {kind} in the request")
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _media_json(self, kind: str, stored: StoredFile, **extra: Any) -> JSONDict:
        body: JSONDict = {}
        if kind == "document" and stored.file_name:
            body["file_name"] = stored.file_name
        if kind == "sticker":
            body.update(
                {"width": 512, "height": 512, "type": "regular", "is_animated": False,
                 "is_video": False}
            )  # fmt: skip
        body.update(extra)
        if stored.mime_type and kind in {"document", "voice"}:
            body["mime_type"] = stored.mime_type
        body.update(
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data),
            }
        )
        return body

    def _photo_sizes(self, stored: StoredFile, width: int, height: int) -> list[JSONDict]:
        sizes = []
        for side in (90, 320, 800):
            if side < max(width, height):
                scale = side / max(width, height)
                small = self._store_file("photo", stored.data, stored.mime_type)
                sizes.append(
                    {
                        "file_id": small.file_id,
                        "file_unique_id": small.file_unique_id,
                        "file_size": max(1, int(len(stored.data) * scale * scale)),
                        "width": max(1, round(width * scale)),
                        "height": max(1, round(height * scale)),
                    }
                )
        sizes.append(
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data),
                "width": width,
                "height": height,
            }
        )
        return sizes

    def _add_caption(self, content: JSONDict, caption: str | None) -> None:
        if caption:
            text, entities = self._user_text(
                caption, None, MAX_CAPTION_LENGTH, "message caption is too long"
            )
            content["caption"] = text
            if entities:
                content["caption_entities"] = entities


# ----------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------


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


def _opt_int(params: JSONDict, name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise bad_request(f"invalid {name} specified")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def _req_int(params: JSONDict, name: str) -> int:
    value = _opt_int(params, name)
    if value is None:
        raise bad_request(f"{name} is empty")
    return value


def _reply_params(params: JSONDict) -> tuple[int | None, bool, str | None]:
    """``(message id, allow_sending_without_reply, quote)`` from new or legacy parameters."""
    reply = params.get("reply_parameters")
    if isinstance(reply, dict):
        message_id = _opt_int(reply, "message_id")
        if reply.get("chat_id") not in (None, params.get("chat_id")):
            raise bad_request("replies to messages in other chats are not supported by the fake")
        quote = reply.get("quote")
        return message_id, reply.get("allow_sending_without_reply") is True, quote and str(quote)
    return (
        _opt_int(params, "reply_to_message_id"),
        params.get("allow_sending_without_reply") is True,
        None,
    )


def _scope_key(scope: JSONDict) -> str:
    return json.dumps(scope, sort_keys=True)


def _is_service(message: JSONDict) -> bool:
    content_keys = {"text", "photo", "document", "voice", "sticker", "caption"}
    return not content_keys.intersection(message)


def _entity_text(text: str, entity: JSONDict) -> str:
    encoded = text.encode("utf-16-le")
    start = entity["offset"] * 2
    return encoded[start : start + entity["length"] * 2].decode("utf-16-le")


def _member_update(
    chat: ChatState, actor: JSONDict, old: JSONDict, new: JSONDict, now: float
) -> JSONDict:
    return {
        "chat": chat.to_json(),
        "from": actor,
        "date": int(now),
        "old_chat_member": old,
        "new_chat_member": new,
    }
