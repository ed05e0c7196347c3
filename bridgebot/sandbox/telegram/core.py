"""The shared inside of the fake Telegram: its state and the helpers every route uses.

:class:`TelegramCore` holds the world (bots, users, chats, files, recorded calls) and the
rules that several Bot API methods share: finding a chat as a bot sees it, storing a message,
delivering it as an update to every bot that may see it. The Bot API methods themselves live
in :mod:`bridgebot.sandbox.telegram.routes`, the test-facing actions in
:mod:`bridgebot.sandbox.telegram.driver`; :class:`~bridgebot.sandbox.telegram.FakeTelegram`
puts them together.
"""

from __future__ import annotations

import copy
import itertools
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from bridgebot.sandbox.telegram.state import (
    ADMIN_RIGHTS,
    DEFAULT_BOT_ADMIN_RIGHTS,
    RESTRICTED_PERMISSIONS,
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
    WebhookDelivery,
    bad_request,
    finish_text,
    forbidden,
    parse_html,
    spans_from_entities,
    utf16_len,
)

UserRef = JSONDict | int


_MEDIA_RIGHTS = {
    "text": ("can_send_messages", "text messages"),
    "photo": ("can_send_photos", "photos"),
    "document": ("can_send_documents", "documents"),
    "voice": ("can_send_voice_notes", "voice notes"),
    "sticker": ("can_send_other_messages", "stickers"),
    "video": ("can_send_videos", "videos"),
    "audio": ("can_send_audios", "audio files"),
    "animation": ("can_send_other_messages", "animations"),
    "video_note": ("can_send_video_notes", "video notes"),
}


_FILE_ID_PREFIX = {
    "photo": "AgACAgIAAxkBAAI",
    "document": "BQACAgIAAxkBAAI",
    "voice": "AwACAgIAAxkBAAI",
    "sticker": "CAACAgIAAxkBAAI",
    "video": "BAACAgIAAxkBAAI",
    "audio": "CQACAgIAAxkBAAI",
    "animation": "CgACAgIAAxkBAAI",
    "video_note": "DQACAgIAAxkBAAI",
}

# The Bot API's file limits for bots (core.telegram.org/bots/api#getfile, #sending-files):
# getFile refuses files over 20 MB; uploads are refused over 50 MB, photos over 10 MB.
DOWNLOAD_LIMIT = 20 * 1000 * 1000
UPLOAD_LIMIT = 50 * 1000 * 1000
PHOTO_UPLOAD_LIMIT = 10 * 1000 * 1000


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


class TelegramCore:
    """State and shared rules of the fake Telegram; see :class:`FakeTelegram` for the arguments.
    """

    if TYPE_CHECKING:  # defined by the parts FakeTelegram combines; declared for the others
        def _webhook_info(self, bot: BotAccount) -> JSONDict: ...
        def _bot_post(self, bot: BotAccount, chat: ChatState, params: JSONDict,
                      content: JSONDict) -> JSONDict: ...

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

        self._bots: dict[str, BotAccount] = {}
        self._default_token: str | None = None
        self._users: dict[int, JSONDict] = {}
        self._chats: dict[int, ChatState] = {}
        self._blocked: set[int] = set()
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._injected: dict[str, list[_Injected]] = {}
        self._slow: dict[str, list[float]] = {}  # answer_slowly: seconds per coming call
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

    def _method_table(self) -> dict[str, Handler]:
        """Every Bot API method by its canonical name; the server class gathers the routes'."""
        raise NotImplementedError

    def _enqueue(self, bot: BotAccount, update_type: str, payload: JSONDict) -> None:
        if not bot.wants(update_type):
            return
        update = {"update_id": bot.next_update_id, update_type: copy.deepcopy(payload)}
        bot.next_update_id += 1
        bot.updates.append(update)
        self.stats.updates_queued += 1
        bot.notify()

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
            "video_note": ".mp4",
        }.get(kind, "." + file_name.rsplit(".", 1)[-1] if file_name and "." in file_name else "")
        folder = {"photo": "photos", "document": "documents", "voice": "voice",
                  "audio": "music", "video_note": "video_notes"}.get(kind, kind + "s")
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
        if kind in {"video", "animation"}:
            body = {"width": 640, "height": 360, "duration": 1, **body}
            if stored.file_name:
                body["file_name"] = stored.file_name
        if kind == "audio":
            body = {"duration": 1, **body}
            if stored.file_name:
                body["file_name"] = stored.file_name
        if kind == "video_note":
            body = {"length": 240, "duration": 1, **body}
        if stored.mime_type and kind in {"document", "voice", "video", "animation", "audio"}:
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
