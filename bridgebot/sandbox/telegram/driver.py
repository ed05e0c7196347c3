"""What tests do to the fake Telegram: play the people, inject faults, look at the outcome.

Plain synchronous methods (``add_user``, ``add_chat``, ``user_sends`` ...) each change the
world the way the person's app would and queue the ``Update`` Telegram would send; inspection
methods (``chat_messages``, ``topics``, ``calls_to`` ...) read what the bot did.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import secrets
from collections.abc import Callable
from typing import Any

from bridgebot.sandbox.telegram.core import (
    _MEDIA_RIGHTS,
    RecordedCall,
    TelegramCore,
    UserRef,
    _Injected,
    _is_service,
    _scope_key,
)
from bridgebot.sandbox.telegram.state import (
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    TOPIC_ICON_COLORS,
    ApiError,
    BotAccount,
    ChatState,
    JSONDict,
    Member,
)

#: The placeholder users Telegram puts in ``from`` of a message sent on behalf of a chat
#: (Bot API, Message.from: "for backward compatibility ... a fake sender user in non-channel
#: chats"): an anonymous administrator of the group, and a channel ("send as" channel).
GROUP_ANONYMOUS_BOT: JSONDict = {"id": 1087968824, "is_bot": True, "first_name": "Group",
                                 "username": "GroupAnonymousBot"}
CHANNEL_BOT: JSONDict = {"id": 136817688, "is_bot": True, "first_name": "Channel",
                         "username": "Channel_Bot"}


class DriverError(RuntimeError):
    """A test asked a simulated human to do something Telegram would not let them do."""


class TelegramDriver(TelegramCore):
    """The test-facing half of :class:`~bridgebot.sandbox.telegram.FakeTelegram`.
    """

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

    def add_channel(self, title: str, owner: UserRef, *, username: str | None = None) -> JSONDict:
        """A channel ``owner`` created (the bot is not in it): people can write in groups
        "as" it, and the group's members then see its title, not the person."""
        person = self._user(owner)
        chat = ChatState(id=-next(self._supergroup_ids), type="channel", title=title,
                         username=username)
        chat.owner_id = person["id"]
        chat.members[person["id"]] = Member("creator")
        self._chats[chat.id] = chat
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

    def user_sends_as(
        self,
        chat_id: int,
        user: UserRef,
        as_chat: int,
        text: str,
        reply_to: int | None = None,
        thread_id: int | None = None,
        *,
        signature: str | None = None,
    ) -> JSONDict:
        """``user`` writes on behalf of a chat, as Telegram sends it: ``as_chat`` is the group
        itself (an anonymous administrator; ``signature`` is their custom title, if any) or a
        channel ``user`` owns ("send as" that channel). ``from`` holds Telegram's placeholder
        user (:data:`GROUP_ANONYMOUS_BOT`, :data:`CHANNEL_BOT`), ``sender_chat`` the chat."""
        chat = self._chat_for_driver(chat_id)
        person = self._user(user)
        if as_chat == chat_id:
            member = chat.members.get(person["id"])
            if member is None or member.status not in ("creator", "administrator"):
                raise DriverError("only administrators can write anonymously, as the group")
            placeholder, sender = GROUP_ANONYMOUS_BOT, chat.to_json()
        else:
            channel = self._chat_for_driver(as_chat)
            owner = channel.members.get(person["id"])
            if channel.type != "channel" or owner is None or owner.status not in (
                    "creator", "administrator"):
                raise DriverError(f"user {person['id']} cannot write as chat {as_chat}")
            placeholder, sender = CHANNEL_BOT, channel.to_json()
        body, entities = self._user_text(text, None, MAX_TEXT_LENGTH, "message is too long")
        content: JSONDict = {"sender_chat": sender, "text": body}
        if signature and as_chat == chat_id:
            content["author_signature"] = signature
        if entities:
            content["entities"] = entities
        return self._user_post(chat_id, user, content, reply_to, thread_id, "text",
                               shown_as=placeholder)

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
        media_group_id: str | None = None,
    ) -> JSONDict:
        """A user posts a photo: ``photo`` is the list of ``PhotoSize`` Telegram generates;
        ``media_group_id`` makes it one item of an album sent item by item."""
        stored = self._store_file("photo", data or b"\xff\xd8\xff\xe0fake-jpeg", "image/jpeg")
        content: JSONDict = {"photo": self._photo_sizes(stored, width, height)}
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
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

    def user_sends_media(
        self,
        chat_id: int,
        user: UserRef,
        kind: str,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        caption: str | None = None,
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> JSONDict:
        """A user posts a ``video``, ``animation``, ``audio`` or ``video_note`` (the object
        Telegram would put in the update, with its file behind ``getFile``)."""
        default = {"video": "video/mp4", "animation": "video/mp4", "audio": "audio/mpeg",
                   "video_note": "video/mp4"}[kind]
        stored = self._store_file(kind, data, mime_type or default,
                                  None if kind == "video_note" else file_name)
        content: JSONDict = {kind: self._media_json(kind, stored)}
        if kind == "animation":
            content["document"] = self._media_json("document", stored)
        if kind != "video_note":
            self._add_caption(content, caption)
        return self._user_post(chat_id, user, content, reply_to, thread_id, kind)

    def user_sends_album(
        self,
        chat_id: int,
        user: UserRef,
        photos: list[bytes],
        caption: str | None = None,
        *,
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> list[JSONDict]:
        """A user sends 2-10 photos as one album: one message per photo, all with the same
        ``media_group_id``, the caption on the first (as Telegram clients send them), queued
        together so the bot gets them in one batch of updates."""
        if not 2 <= len(photos) <= 10:
            raise DriverError("an album has 2 to 10 items")
        group_id = str(10**17 + len(self._files))
        sent = []
        for index, data in enumerate(photos):
            stored = self._store_file("photo", data, "image/jpeg")
            content: JSONDict = {"photo": self._photo_sizes(stored, 1280, 960),
                                 "media_group_id": group_id}
            if index == 0:
                self._add_caption(content, caption)
            sent.append(self._user_post(chat_id, user, content, reply_to, thread_id, "photo"))
        return sent

    def file_data(self, file_id: str) -> bytes:
        """The bytes behind a ``file_id`` (what a bot would download), for inspection."""
        stored = self._files.get(file_id)
        if stored is None:
            raise DriverError(f"no file {file_id}")
        return stored.data

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
        animated: bool = False,
        video: bool = False,
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> JSONDict:
        """A user sends a regular sticker: static WEBP, or ``animated`` (TGS, Lottie) or
        ``video`` (WEBM), as ``Sticker.is_animated`` / ``is_video`` say."""
        data, mime = (b"\x1f\x8b fake-tgs", "application/x-tgsticker") if animated else (
            (b"\x1aE\xdf\xa3 fake-webm", "video/webm") if video else
            (b"RIFF fake-webp", "image/webp"))
        stored = self._store_file("sticker", data, mime)
        sticker = self._media_json("sticker", stored, emoji=emoji, set_name=set_name)
        sticker.update(is_animated=animated, is_video=video)
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

    def user_service_message(
        self, chat_id: int, user: UserRef, content: JSONDict, *, thread_id: int | None = None
    ) -> JSONDict:
        """A person's action the app shows as a service message, delivered to bots as a
        ``message`` update: ``content`` is one of the Bot API's service fields, e.g.
        ``{"forum_topic_edited": {"name": ...}}``, ``{"new_chat_title": ...}``,
        ``{"pinned_message": {...}}``, ``{"new_chat_members": [...]}``."""
        chat = self._chat_for_driver(chat_id)
        person = self._user(user)
        try:
            placement = self._placement(chat, thread_id, None)
        except ApiError as exc:
            raise DriverError(exc.description) from None
        message = self._store_message(chat, person, content, placement, None, None)
        self._deliver(chat, message, "message")
        return copy.deepcopy(message)

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

    def answer_slowly(self, method: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` take effect at once but are answered only
        after ``seconds``: a client that gives up earlier cannot know its message was sent."""
        self._slow.setdefault(method.lower(), []).extend([seconds] * times)

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

    def age_messages(self, chat_id: int, hours: float) -> None:
        """Every message of a chat was sent ``hours`` earlier than it was (the 48-hour
        rule on deletions then applies to them)."""
        for message in self._chats[chat_id].messages.values():
            if "date" in message:
                message["date"] = int(message["date"] - hours * 3600)

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
        *,
        shown_as: JSONDict | None = None,
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
        message = self._store_message(chat, shown_as or person, content, placement, reply, None)
        self.stats.user_messages += 1
        self._deliver(chat, message, "message")
        return copy.deepcopy(message)

    def _post(self, chat: ChatState, sender: JSONDict | None, content: JSONDict) -> JSONDict:
        message = self._store_message(chat, sender, content, (None, False, None), None, None)
        self._deliver(chat, message, "message")
        return message

    def _add_caption(self, content: JSONDict, caption: str | None) -> None:
        if caption:
            text, entities = self._user_text(
                caption, None, MAX_CAPTION_LENGTH, "message caption is too long"
            )
            content["caption"] = text
            if entities:
                content["caption_entities"] = entities
