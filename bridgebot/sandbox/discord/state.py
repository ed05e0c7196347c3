"""In-memory Discord world behind :mod:`bridgebot.sandbox.discord`.

Everything here is synchronous and speaks the Discord v10 wire shapes (snowflake
strings, integer ``type`` fields, permission bit strings) so that the REST and
gateway layers can hand the dicts to discord.py unchanged.  Every mutation
describes itself as a :class:`Dispatch`; the gateway layer decides which
connected bot may see it (intents, channel visibility, message content).

The rules implemented here follow the public Discord documentation and observed
behaviour of the real service; where the real service is not documented the
choice is noted next to the code.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import mimetypes
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000
MAX_CONTENT_LENGTH = 2000
# A member with Nitro (user ``premium_type`` 2) may write messages of up to 4000 characters;
# bots and webhooks never can.
NITRO_CONTENT_LENGTH = 4000

JSON = dict[str, Any]


class Intents:
    """Gateway intent bits (https://discord.com/developers/docs/events/gateway#gateway-intents)."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_EXPRESSIONS = 1 << 3
    GUILD_INTEGRATIONS = 1 << 4
    GUILD_WEBHOOKS = 1 << 5
    GUILD_INVITES = 1 << 6
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15
    GUILD_SCHEDULED_EVENTS = 1 << 16
    AUTO_MODERATION_CONFIGURATION = 1 << 20
    AUTO_MODERATION_EXECUTION = 1 << 21
    GUILD_MESSAGE_POLLS = 1 << 24
    DIRECT_MESSAGE_POLLS = 1 << 25
    ALL = (1 << 26) - 1 & ~((1 << 17) | (1 << 18) | (1 << 19) | (1 << 22) | (1 << 23))
    PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT


class Permissions:
    """Permission bits (https://discord.com/developers/docs/topics/permissions)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 51) - 1

    # What a fresh guild's @everyone role grants (a trimmed version of Discord's default).
    EVERYONE_DEFAULT = (
        CREATE_INSTANT_INVITE
        | ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | MENTION_EVERYONE
        | USE_EXTERNAL_EMOJIS
        | CHANGE_NICKNAME
        | USE_APPLICATION_COMMANDS
        | CREATE_PUBLIC_THREADS
        | CREATE_PRIVATE_THREADS
        | SEND_MESSAGES_IN_THREADS
    )
    # What a bridge bot is typically invited with (its managed role).
    BOT_DEFAULT = (
        VIEW_CHANNEL
        | SEND_MESSAGES
        | SEND_MESSAGES_IN_THREADS
        | CREATE_PUBLIC_THREADS
        | MANAGE_THREADS
        | MANAGE_WEBHOOKS
        | MANAGE_MESSAGES
        | READ_MESSAGE_HISTORY
        | EMBED_LINKS
        | ATTACH_FILES
        | ADD_REACTIONS
    )


class ChannelType:
    GUILD_TEXT = 0
    GUILD_CATEGORY = 4
    GUILD_ANNOUNCEMENT = 5
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12
    GUILD_FORUM = 15
    THREAD_TYPES = (10, 11, 12)


class MessageType:
    DEFAULT = 0
    THREAD_CREATED = 18
    REPLY = 19
    CHAT_INPUT_COMMAND = 20
    THREAD_STARTER_MESSAGE = 21


class MessageFlags:
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7
    SUPPRESS_NOTIFICATIONS = 1 << 12


class DiscordAPIError(Exception):
    """A Discord JSON error: raised by the world, rendered verbatim by the REST layer."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def unknown_channel() -> DiscordAPIError:
    return DiscordAPIError(404, 10003, "Unknown Channel")


def unknown_message() -> DiscordAPIError:
    return DiscordAPIError(404, 10008, "Unknown Message")


def unknown_webhook() -> DiscordAPIError:
    return DiscordAPIError(404, 10015, "Unknown Webhook")


def missing_access() -> DiscordAPIError:
    return DiscordAPIError(403, 50001, "Missing Access")


def missing_permissions() -> DiscordAPIError:
    return DiscordAPIError(403, 50013, "Missing Permissions")


def thread_archived() -> DiscordAPIError:
    return DiscordAPIError(400, 50083, "Thread is archived")


def thread_locked() -> DiscordAPIError:
    return DiscordAPIError(403, 160005, "Thread is locked")


def form_error(path: Iterable[str], code: str, message: str) -> DiscordAPIError:
    """The nested ``Invalid Form Body`` shape Discord uses for validation errors."""
    errors: JSON = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(list(path)):
        errors = {key: errors}
    return DiscordAPIError(400, 50035, "Invalid Form Body", errors)


def iso_timestamp(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="microseconds")


class SnowflakeGenerator:
    """Real-format snowflakes: ms since the Discord epoch << 22, worker, process, counter.

    Strictly increasing even when several are minted in the same millisecond, so
    ordering by id equals ordering by creation, as clients (and ``before``/``after``
    pagination) assume.
    """

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self._wall_clock = wall_clock
        self._last = 0

    def next(self) -> str:
        ms = int(self._wall_clock() * 1000) - DISCORD_EPOCH_MS
        candidate = (ms << 22) | (1 << 17) | (1 << 12)
        if candidate <= self._last:
            candidate = self._last + 1
        self._last = candidate
        return str(candidate)

    def next_on_shard(self, shard: int, count: int) -> str:
        """The next snowflake whose guild would be on gateway shard ``shard`` of ``count``
        (``(id >> 22) % count``, Discord's formula): a few milliseconds later if need be."""
        candidate = int(self.next())
        while (candidate >> 22) % count != shard:
            candidate += 1 << 22
        self._last = candidate
        return str(candidate)


@dataclass
class Dispatch:
    """One gateway event, plus what a bot must satisfy to receive it."""

    event: str
    data: JSON
    intent: int | None = Intents.GUILDS
    guild_id: str | None = None
    channel_id: str | None = None  # bot needs VIEW_CHANNEL here (threads: their parent)
    is_message: bool = False  # MESSAGE_CONTENT rules apply to ``data``
    application_id: str | None = None  # only this application receives it
    # Per-recipient payload (e.g. GUILD_CREATE, THREAD_CREATE's ``member``); None skips.
    render: Callable[[BotAccount, int], JSON | None] | None = None


@dataclass
class BotAccount:
    token: str
    user: JSON
    application: JSON
    privileged_intents: int
    roles: dict[str, str] = field(default_factory=dict)  # guild_id -> managed role id

    @property
    def id(self) -> str:
        return str(self.user["id"])

    @property
    def application_id(self) -> str:
        return str(self.application["id"])


@dataclass
class GuildRecord:
    data: JSON
    roles: dict[str, JSON] = field(default_factory=dict)
    members: dict[str, JSON] = field(default_factory=dict)
    channel_ids: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.data["id"])


@dataclass
class InteractionRecord:
    id: str
    token: str
    application_id: str
    guild_id: str | None
    channel_id: str
    user: JSON
    payload: JSON
    created_at: float
    callback: JSON | None = None
    callback_at: float | None = None
    original_message_id: str | None = None
    followup_ids: list[str] = field(default_factory=list)


class DiscordWorld:
    """Guilds, channels, threads, messages, webhooks and commands of a fake Discord."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.snowflakes = SnowflakeGenerator()
        self.users: dict[str, JSON] = {}
        self.bots: dict[str, BotAccount] = {}  # by token
        self.guilds: dict[str, GuildRecord] = {}
        self.channels: dict[str, JSON] = {}
        self.messages: dict[str, dict[str, JSON]] = {}
        self.message_channel: dict[str, str] = {}
        self.thread_members: dict[str, set[str]] = {}
        self.webhook_records: dict[str, JSON] = {}
        self.command_records: dict[tuple[str, str | None], list[JSON]] = {}
        self.interactions: dict[str, InteractionRecord] = {}
        self.webhook_avatar_urls: dict[str, str] = {}  # message id -> avatar_url given
        self.attachments: dict[str, tuple[str, bytes]] = {}  # path -> (content type, bytes)
        self._nonces: dict[tuple[str, str, str], tuple[float, str]] = {}
        self.nonce_window = 300.0  # "a few minutes", per the docs on enforce_nonce
        self.base_url = "http://127.0.0.1"
        self.on_dispatch: Callable[[Dispatch], None] = lambda dispatch: None
        self.on_change: Callable[[], None] = lambda: None

    # ------------------------------------------------------------------ helpers

    def now(self) -> float:
        return time.time()

    def _emit(self, dispatch: Dispatch) -> None:
        dispatch.data = copy.deepcopy(dispatch.data)
        self.on_dispatch(dispatch)
        self.on_change()

    def bot_by_token(self, token: str) -> BotAccount | None:
        return self.bots.get(token)

    def bot_by_application(self, application_id: str) -> BotAccount | None:
        return next((b for b in self.bots.values() if b.application_id == application_id), None)

    def default_bot(self) -> BotAccount:
        if not self.bots:
            raise RuntimeError("no bot registered: call add_bot() first")
        return next(iter(self.bots.values()))

    def guild(self, guild_id: str | int) -> GuildRecord:
        record = self.guilds.get(str(guild_id))
        if record is None:
            raise DiscordAPIError(404, 10004, "Unknown Guild")
        return record

    def channel(self, channel_id: str | int) -> JSON:
        channel = self.channels.get(str(channel_id))
        if channel is None:
            raise unknown_channel()
        return channel

    def refuse_if_archived(self, channel_id: str) -> None:
        """Discord refuses to edit or delete a message in an archived thread (400, code
        50083 "Thread is archived"), whoever asks and whether or not it is locked: the
        thread must be unarchived first (PATCH the channel with ``archived: false``).
        Only a new message into an archived, unlocked thread unarchives it by itself."""
        channel = self.channel(channel_id)
        if self.is_thread(channel) and channel["thread_metadata"]["archived"]:
            raise thread_archived()

    def is_thread(self, channel: JSON) -> bool:
        return channel["type"] in ChannelType.THREAD_TYPES

    def message(self, channel_id: str, message_id: str | int) -> JSON:
        msg = self.messages.get(channel_id, {}).get(str(message_id))
        if msg is None:
            raise unknown_message()
        return msg

    def make_user(self, username: str, *, global_name: str | None = None, bot: bool = False) -> JSON:
        user_id = self.snowflakes.next()
        user: JSON = {
            "id": user_id,
            "username": username,
            "avatar": None,
            "discriminator": f"{int(user_id) % 9000 + 1000}" if bot else "0",
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "global_name": global_name,
            "avatar_decoration_data": None,
            "banner_color": None,
            "clan": None,
            "primary_guild": None,
        }
        if bot:
            user["bot"] = True
        self.users[user_id] = user
        return user

    def _member_payload(self, user: JSON, roles: Iterable[str] = ()) -> JSON:
        return {
            "user": user,
            "nick": None,
            "avatar": None,
            "banner": None,
            "roles": list(roles),
            "joined_at": iso_timestamp(self.now()),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
        }

    def _role_payload(self, role_id: str, name: str, permissions: int, position: int, **extra: Any) -> JSON:
        role: JSON = {
            "id": role_id,
            "name": name,
            "description": None,
            "permissions": str(permissions),
            "position": position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        role.update(extra)
        return role

    # ------------------------------------------------------------- permissions

    def permissions_for(self, guild_id: str, user_id: str, channel_id: str | None = None) -> int:
        """Discord's documented permission resolution: roles, then channel overwrites.

        Threads inherit their parent's overwrites. Without VIEW_CHANNEL in a channel
        every other permission there is implicitly denied.
        """
        record = self.guild(guild_id)
        if record.data.get("owner_id") == user_id:
            return Permissions.ALL
        member = record.members.get(user_id)
        if member is None:
            return 0
        base = int(record.roles[record.id]["permissions"])
        for role_id in member["roles"]:
            role = record.roles.get(role_id)
            if role is not None:
                base |= int(role["permissions"])
        if base & Permissions.ADMINISTRATOR:
            return Permissions.ALL
        if channel_id is None:
            return base
        channel = self.channel(channel_id)
        if self.is_thread(channel):
            channel = self.channel(channel["parent_id"])
        overwrites = {o["id"]: o for o in channel.get("permission_overwrites", [])}
        everyone = overwrites.get(record.id)
        if everyone:
            base = (base & ~int(everyone["deny"])) | int(everyone["allow"])
        allow = deny = 0
        for role_id in member["roles"]:
            overwrite = overwrites.get(role_id)
            if overwrite and overwrite["type"] == 0:
                allow |= int(overwrite["allow"])
                deny |= int(overwrite["deny"])
        base = (base & ~deny) | allow
        own = overwrites.get(user_id)
        if own and own["type"] == 1:
            base = (base & ~int(own["deny"])) | int(own["allow"])
        if not base & Permissions.VIEW_CHANNEL:
            return 0
        return base

    def can_view(self, user_id: str, channel_id: str) -> bool:
        channel = self.channels.get(channel_id)
        if channel is None or channel.get("guild_id") is None:
            return False
        perms = self.permissions_for(channel["guild_id"], user_id, channel_id)
        return bool(perms & Permissions.VIEW_CHANNEL)

    # ------------------------------------------------------------------ guilds

    def add_bot(self, username: str, application_id: str | None, privileged_intents: int) -> BotAccount:
        user = self.make_user(username, bot=True)
        app_id = application_id or user["id"]
        token = ".".join(
            [
                secrets.token_urlsafe(18).replace("-", "a").replace("_", "b"),
                secrets.token_urlsafe(5).replace("-", "c").replace("_", "d"),
                secrets.token_urlsafe(28).replace("-", "e").replace("_", "f"),
            ]
        )
        application: JSON = {
            "id": app_id,
            "name": username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": secrets.token_hex(32),
            "flags": _application_flags(privileged_intents),
            "owner": self.make_user(f"{username}-owner"),
            "team": None,
            "bot": user,
            "approximate_guild_count": 0,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "tags": [],
            "integration_types_config": {"0": {}},
        }
        bot = BotAccount(token, user, application, privileged_intents)
        self.bots[token] = bot
        for record in self.guilds.values():
            self._join_guild(record, bot)
        return bot

    def _join_guild(self, record: GuildRecord, bot: BotAccount) -> None:
        role_id = self.snowflakes.next()
        role = self._role_payload(
            role_id,
            bot.user["username"],
            Permissions.BOT_DEFAULT,
            len(record.roles),
            managed=True,
            tags={"bot_id": bot.id},
        )
        record.roles[role_id] = role
        bot.roles[record.id] = role_id
        record.members[bot.id] = self._member_payload(bot.user, [role_id])
        record.data["member_count"] = len(record.members)
        bot.application["approximate_guild_count"] += 1

        def render(recipient: BotAccount, intents: int) -> JSON | None:
            if recipient is not bot:
                return None
            return self.guild_create_payload(record.id, recipient, intents)

        self._emit(Dispatch("GUILD_CREATE", {"id": record.id}, guild_id=record.id, render=render))

    def add_guild(self, name: str, owner_username: str = "guild-owner",
                  shard: tuple[int, int] | None = None) -> JSON:
        guild_id = (self.snowflakes.next() if shard is None
                    else self.snowflakes.next_on_shard(*shard))
        owner = self.make_user(owner_username)
        data: JSON = {
            "id": guild_id,
            "name": name,
            "icon": None,
            "description": None,
            "home_header": None,
            "splash": None,
            "discovery_splash": None,
            "features": [],
            "banner": None,
            "owner_id": owner["id"],
            "application_id": None,
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 0,
            "mfa_level": 0,
            "explicit_content_filter": 0,
            "max_presences": None,
            "max_members": 500000,
            "max_stage_video_channel_users": 50,
            "max_video_channel_users": 25,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "rules_channel_id": None,
            "safety_alerts_channel_id": None,
            "public_updates_channel_id": None,
            "hub_type": None,
            "premium_progress_bar_enabled": False,
            "latest_onboarding_question_id": None,
            "nsfw": False,
            "nsfw_level": 0,
            "emojis": [],
            "stickers": [],
            "incidents_data": None,
            "member_count": 0,
            "joined_at": iso_timestamp(self.now()),
        }
        record = GuildRecord(data)
        # The @everyone role shares the guild's id, as on real Discord.
        record.roles[guild_id] = self._role_payload(guild_id, "@everyone", Permissions.EVERYONE_DEFAULT, 0)
        record.members[owner["id"]] = self._member_payload(owner)
        record.data["member_count"] = len(record.members)
        self.guilds[guild_id] = record
        for bot in self.bots.values():
            self._join_guild(record, bot)
        return self.guild_payload(guild_id)

    def set_premium_tier(self, guild_id: str, tier: int) -> None:
        """Boost the guild to ``tier`` (0-3) and emit GUILD_UPDATE with the guild object."""
        self.guild(guild_id).data["premium_tier"] = tier
        self._emit(Dispatch("GUILD_UPDATE", self.guild_payload(guild_id), guild_id=guild_id))

    def guild_payload(self, guild_id: str, *, with_counts: bool = False) -> JSON:
        record = self.guild(guild_id)
        data = copy.deepcopy(record.data)
        data.pop("member_count", None)
        data.pop("joined_at", None)
        data["roles"] = copy.deepcopy(sorted(record.roles.values(), key=lambda r: r["position"]))
        if with_counts:
            data["approximate_member_count"] = len(record.members)
            data["approximate_presence_count"] = 0
        return data

    def guild_create_payload(self, guild_id: str, bot: BotAccount, intents: int) -> JSON:
        """GUILD_CREATE as sent to ``bot``: channels and threads it can see, itself as member."""
        record = self.guild(guild_id)
        data = self.guild_payload(guild_id)
        data.update(
            joined_at=record.data["joined_at"],
            large=len(record.members) >= 250,
            unavailable=False,
            member_count=len(record.members),
            voice_states=[],
            presences=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
            embedded_activities=[],
            activity_instances=[],
            application_command_counts={},
            lazy=True,
        )
        members = [record.members[bot.id]]
        if intents & Intents.GUILD_PRESENCES and len(record.members) < 250:
            members = list(record.members.values())
        data["members"] = copy.deepcopy(members)
        channels, threads = [], []
        for channel_id in record.channel_ids:
            channel = self.channels[channel_id]
            if not self.can_view(bot.id, channel_id):
                continue
            if self.is_thread(channel):
                if not channel["thread_metadata"]["archived"]:
                    threads.append(self.thread_payload(channel_id, for_user=bot.id))
            else:
                payload = copy.deepcopy(channel)
                payload.pop("guild_id", None)
                channels.append(payload)
        data["channels"] = channels
        data["threads"] = threads
        return data

    def add_role(self, guild_id: str, name: str, permissions: int) -> JSON:
        record = self.guild(guild_id)
        role = self._role_payload(self.snowflakes.next(), name, permissions, len(record.roles))
        record.roles[role["id"]] = role
        self._emit(Dispatch("GUILD_ROLE_CREATE", {"guild_id": record.id, "role": role}, guild_id=record.id))
        return copy.deepcopy(role)

    def set_role_permissions(self, guild_id: str, role_id: str, permissions: int) -> JSON:
        record = self.guild(guild_id)
        role = record.roles[role_id]
        role["permissions"] = str(permissions)
        self._emit(Dispatch("GUILD_ROLE_UPDATE", {"guild_id": record.id, "role": role}, guild_id=record.id))
        return copy.deepcopy(role)

    def add_member(
        self,
        guild_id: str,
        username: str,
        global_name: str | None = None,
        roles: Iterable[str] = (),
        locale: str = "en-US",
    ) -> JSON:
        record = self.guild(guild_id)
        user = self.make_user(username, global_name=global_name)
        user["locale"] = locale  # kept for interactions; stripped from wire payloads
        record.members[user["id"]] = self._member_payload(self._public_user(user), roles)
        record.data["member_count"] = len(record.members)
        member = copy.deepcopy(record.members[user["id"]])
        member["guild_id"] = record.id
        self._emit(Dispatch("GUILD_MEMBER_ADD", member, intent=Intents.GUILD_MEMBERS, guild_id=record.id))
        return self._public_user(user)

    def set_member_roles(self, guild_id: str, user_id: str, roles: Iterable[str]) -> None:
        record = self.guild(guild_id)
        member = record.members[user_id]
        member["roles"] = list(roles)
        payload = copy.deepcopy(member)
        payload["guild_id"] = record.id
        self._emit(Dispatch("GUILD_MEMBER_UPDATE", payload, intent=Intents.GUILD_MEMBERS, guild_id=record.id))

    def _public_user(self, user: JSON) -> JSON:
        public = {k: v for k, v in user.items() if k != "locale"}
        return copy.deepcopy(public)

    def member(self, guild_id: str, user_id: str) -> JSON:
        record = self.guild(guild_id)
        member = record.members.get(user_id)
        if member is None:
            raise DiscordAPIError(404, 10007, "Unknown Member")
        return member

    # ---------------------------------------------------------------- channels

    def _next_position(self, record: GuildRecord) -> int:
        return sum(1 for cid in record.channel_ids if not self.is_thread(self.channels[cid]))

    def add_text_channel(
        self, guild_id: str, name: str, *, topic: str | None = None, parent_id: str | None = None
    ) -> JSON:
        record = self.guild(guild_id)
        channel: JSON = {
            "id": self.snowflakes.next(),
            "type": ChannelType.GUILD_TEXT,
            "guild_id": record.id,
            "name": name,
            "position": self._next_position(record),
            "permission_overwrites": [],
            "parent_id": parent_id,
            "topic": topic,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "default_thread_rate_limit_per_user": 0,
            "default_auto_archive_duration": 4320,
            "flags": 0,
            "icon_emoji": None,
            "theme_color": None,
        }
        return self._add_channel(record, channel)

    def add_forum_channel(
        self,
        guild_id: str,
        name: str,
        *,
        tags: Iterable[str] = (),
        require_tag: bool = False,
        topic: str | None = None,
    ) -> JSON:
        record = self.guild(guild_id)
        channel: JSON = {
            "id": self.snowflakes.next(),
            "type": ChannelType.GUILD_FORUM,
            "guild_id": record.id,
            "name": name,
            "position": self._next_position(record),
            "permission_overwrites": [],
            "parent_id": None,
            "topic": topic,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "default_thread_rate_limit_per_user": 0,
            "default_auto_archive_duration": 4320,
            "flags": 1 << 4 if require_tag else 0,
            "available_tags": [
                {
                    "id": self.snowflakes.next(),
                    "name": tag,
                    "moderated": False,
                    "emoji_id": None,
                    "emoji_name": None,
                }
                for tag in tags
            ],
            "default_reaction_emoji": None,
            "default_sort_order": None,
            "default_forum_layout": 0,
            "template": "",
            "icon_emoji": None,
            "theme_color": None,
        }
        return self._add_channel(record, channel)

    def _add_channel(self, record: GuildRecord, channel: JSON) -> JSON:
        self.channels[channel["id"]] = channel
        self.messages[channel["id"]] = {}
        record.channel_ids.append(channel["id"])
        self._emit(Dispatch("CHANNEL_CREATE", channel, guild_id=record.id, channel_id=channel["id"]))
        return copy.deepcopy(channel)

    def set_overwrite(
        self, channel_id: str, target_id: str, *, allow: int = 0, deny: int = 0, kind: int = 0
    ) -> JSON:
        """Set a role (kind 0) or member (kind 1) overwrite on a channel."""
        channel = self.channel(channel_id)
        overwrites = [o for o in channel["permission_overwrites"] if o["id"] != target_id]
        overwrites.append({"id": target_id, "type": kind, "allow": str(allow), "deny": str(deny)})
        channel["permission_overwrites"] = overwrites
        self._emit(Dispatch("CHANNEL_UPDATE", channel, guild_id=channel["guild_id"]))
        return copy.deepcopy(channel)

    def update_channel(self, channel_id: str, changes: JSON) -> JSON:
        channel = self.channel(channel_id)
        for key in ("name", "topic", "nsfw", "rate_limit_per_user", "position"):
            if key in changes:
                channel[key] = changes[key]
        self._emit(Dispatch("CHANNEL_UPDATE", channel, guild_id=channel["guild_id"], channel_id=channel_id))
        return copy.deepcopy(channel)

    def delete_channel(self, channel_id: str) -> JSON:
        """Remove a channel (or thread) with its messages, threads and webhooks."""
        channel = self.channel(channel_id)
        record = self.guild(channel["guild_id"])
        for child_id in [cid for cid, c in self.channels.items() if c.get("parent_id") == channel_id]:
            if self.is_thread(self.channels[child_id]):
                self.delete_channel(child_id)
        # Visibility is decided before the channel disappears, so snapshot payloads first.
        if self.is_thread(channel):
            payload = {
                "id": channel_id,
                "guild_id": record.id,
                "parent_id": channel["parent_id"],
                "type": channel["type"],
            }
            dispatch = Dispatch("THREAD_DELETE", payload, guild_id=record.id, channel_id=channel["parent_id"])
        else:
            dispatch = Dispatch("CHANNEL_DELETE", copy.deepcopy(channel), guild_id=record.id)
        del self.channels[channel_id]
        record.channel_ids.remove(channel_id)
        for message_id in self.messages.pop(channel_id, {}):
            self.message_channel.pop(message_id, None)
        for webhook_id in [w for w, hook in self.webhook_records.items() if hook["channel_id"] == channel_id]:
            del self.webhook_records[webhook_id]
        self._emit(dispatch)
        return channel

    # ----------------------------------------------------------------- threads

    def thread_payload(self, thread_id: str, *, for_user: str | None = None) -> JSON:
        thread = copy.deepcopy(self.channel(thread_id))
        if for_user is not None and for_user in self.thread_members.get(thread_id, set()):
            thread["member"] = {
                "id": thread_id,
                "user_id": for_user,
                "join_timestamp": thread["thread_metadata"]["create_timestamp"],
                "flags": 1,
            }
        return thread

    def create_thread(
        self,
        parent_id: str,
        owner_id: str,
        name: str,
        *,
        thread_type: int = ChannelType.PUBLIC_THREAD,
        auto_archive_duration: int | None = None,
        thread_id: str | None = None,
        applied_tags: Iterable[str] = (),
        rate_limit_per_user: int | None = None,
    ) -> JSON:
        """Create a thread channel; emits THREAD_CREATE. Validation is the caller's job."""
        parent = self.channel(parent_id)
        if not name or len(name) > 100:
            raise form_error(["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        now = iso_timestamp(self.now())
        thread: JSON = {
            "id": thread_id or self.snowflakes.next(),
            "type": thread_type,
            "guild_id": parent["guild_id"],
            "parent_id": parent_id,
            "owner_id": owner_id,
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": rate_limit_per_user or 0,
            "flags": 0,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "archive_timestamp": now,
                "auto_archive_duration": auto_archive_duration
                or parent.get("default_auto_archive_duration", 4320),
                "locked": False,
                "create_timestamp": now,
            },
            "bitrate": 64000,
            "user_limit": 0,
            "rtc_region": None,
        }
        if thread_type == ChannelType.PRIVATE_THREAD:
            thread["thread_metadata"]["invitable"] = True
        if parent["type"] == ChannelType.GUILD_FORUM:
            thread["applied_tags"] = [str(t) for t in applied_tags]
        record = self.guild(parent["guild_id"])
        self.channels[thread["id"]] = thread
        self.messages[thread["id"]] = {}
        self.thread_members[thread["id"]] = {owner_id}
        record.channel_ids.append(thread["id"])
        self._emit_thread("THREAD_CREATE", thread["id"], newly_created=True)
        return copy.deepcopy(thread)

    def _emit_thread(self, event: str, thread_id: str, *, newly_created: bool = False) -> None:
        thread = self.channels[thread_id]
        payload = copy.deepcopy(thread)
        if newly_created:
            payload["newly_created"] = True

        def render(recipient: BotAccount, intents: int) -> JSON | None:
            if thread_id not in self.channels:
                return payload
            with_member = self.thread_payload(thread_id, for_user=recipient.id)
            if "member" in with_member:
                return dict(payload, member=with_member["member"])
            return payload

        self._emit(
            Dispatch(
                event,
                payload,
                guild_id=thread["guild_id"],
                channel_id=thread["parent_id"],
                render=render,
            )
        )

    def update_thread(self, thread_id: str, changes: JSON) -> JSON:
        thread = self.channel(thread_id)
        meta = thread["thread_metadata"]
        touched = False
        for key in ("archived", "locked", "auto_archive_duration", "invitable"):
            if key in changes and changes[key] is not None and meta.get(key) != changes[key]:
                meta[key] = changes[key]
                touched = True
                if key == "archived":
                    meta["archive_timestamp"] = iso_timestamp(self.now())
        for key in ("name", "rate_limit_per_user", "flags"):
            if key in changes and changes[key] is not None and thread.get(key) != changes[key]:
                thread[key] = changes[key]
                touched = True
        if "applied_tags" in changes and changes["applied_tags"] is not None:
            thread["applied_tags"] = [str(t) for t in changes["applied_tags"]]
            touched = True
        if touched:
            self._emit_thread("THREAD_UPDATE", thread_id)
        return copy.deepcopy(thread)

    def threads_of(self, parent_id: str) -> list[JSON]:
        return [
            copy.deepcopy(c)
            for c in self.channels.values()
            if self.is_thread(c) and c["parent_id"] == parent_id
        ]

    def check_can_post(self, channel_id: str, user_id: str, *, unarchive: bool = True) -> JSON:
        """Permission and thread-state checks for posting into a channel as a member.

        A message into an archived, unlocked thread unarchives it (real Discord
        behaviour); an archived and locked thread, or a locked one for a member
        without MANAGE_THREADS, refuses the message.
        """
        channel = self.channel(channel_id)
        guild_id = channel["guild_id"]
        perms = self.permissions_for(guild_id, user_id, channel_id)
        if not perms & Permissions.VIEW_CHANNEL:
            raise missing_access()
        if channel["type"] == ChannelType.GUILD_FORUM:
            raise DiscordAPIError(400, 40058, "Cannot send messages in a forum channel")
        if self.is_thread(channel):
            if not perms & Permissions.SEND_MESSAGES_IN_THREADS:
                raise missing_permissions()
            meta = channel["thread_metadata"]
            manager = bool(perms & Permissions.MANAGE_THREADS)
            if meta["locked"] and not manager:
                if meta["archived"]:
                    raise thread_archived()
                raise thread_locked()
            if meta["archived"] and unarchive:
                self.update_thread(channel_id, {"archived": False})
        elif not perms & Permissions.SEND_MESSAGES:
            raise missing_permissions()
        return channel

    # ---------------------------------------------------------------- messages

    def render_message(self, msg: JSON) -> JSON:
        """REST shape: the stored message with ``referenced_message`` resolved now."""
        out = copy.deepcopy(msg)
        ref = msg.get("message_reference")
        if ref is not None and msg["type"] in (MessageType.REPLY, MessageType.CHAT_INPUT_COMMAND):
            source = self.messages.get(ref.get("channel_id", msg["channel_id"]), {})
            target = source.get(ref["message_id"])
            if target is not None:
                inner = copy.deepcopy(target)
                inner.pop("referenced_message", None)
                out["referenced_message"] = inner
            else:
                out["referenced_message"] = None
        thread = self.channels.get(msg["id"])
        if thread is not None and thread.get("parent_id") == msg["channel_id"]:
            out["thread"] = copy.deepcopy(thread)
        return out

    def gateway_message(self, msg: JSON) -> JSON:
        """Gateway shape: adds ``guild_id`` and the author's partial ``member``."""
        out = self.render_message(msg)
        channel = self.channels.get(msg["channel_id"])
        guild_id = channel.get("guild_id") if channel else None
        if guild_id is None:
            return out
        out["guild_id"] = guild_id
        record = self.guilds[guild_id]
        if "webhook_id" not in msg:
            member = record.members.get(msg["author"]["id"])
            if member is not None:
                out["member"] = {k: copy.deepcopy(v) for k, v in member.items() if k != "user"}
        for mention in out["mentions"]:
            member = record.members.get(mention["id"])
            if member is not None:
                mention["member"] = {k: copy.deepcopy(v) for k, v in member.items() if k != "user"}
        return out

    def _parse_mentions(
        self,
        guild_id: str,
        content: str,
        allowed: JSON | None,
        author_perms: int,
        replied_author: JSON | None,
    ) -> tuple[list[JSON], list[str], bool]:
        """Mentions that actually ping, i.e. parsed from content and permitted.

        The ``mentions`` array of the resulting message only lists users that
        ``allowed_mentions`` let through, which is what bridges rely on to avoid
        mass pings.
        """
        record = self.guilds[guild_id]
        parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse", []))
        users_allowed = set(map(str, (allowed or {}).get("users", [])))
        roles_allowed = set(map(str, (allowed or {}).get("roles", [])))
        mentions: list[JSON] = []
        seen: set[str] = set()
        for user_id in re.findall(r"<@!?(\d+)>", content):
            if user_id in seen or user_id not in self.users:
                continue
            if "users" in parse or user_id in users_allowed:
                seen.add(user_id)
                mentions.append(self._public_user(self.users[user_id]))
        replied = True if allowed is None else bool(allowed.get("replied_user", False))
        if replied_author is not None and replied and replied_author["id"] not in seen:
            if replied_author["id"] in self.users:
                mentions.append(self._public_user(self.users[replied_author["id"]]))
        role_mentions = [
            role_id
            for role_id in dict.fromkeys(re.findall(r"<@&(\d+)>", content))
            if role_id in record.roles and ("roles" in parse or role_id in roles_allowed)
        ]
        everyone = (
            ("@everyone" in content or "@here" in content)
            and "everyone" in parse
            and bool(author_perms & Permissions.MENTION_EVERYONE)
        )
        return mentions, role_mentions, everyone

    def validate_message_body(self, content: str | None, embeds: list[JSON] | None,
                              limit: int = MAX_CONTENT_LENGTH) -> None:
        if content is not None and len(content) > limit:
            raise form_error(["content"], "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        if embeds is not None and len(embeds) > 10:
            raise form_error(["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")

    def content_limit(self, author: JSON | None, webhook_id: str | None = None) -> int:
        """How long a message by ``author`` may be: 4000 for a member with Nitro, else 2000."""
        user = self.users.get(str((author or {}).get("id")), {})
        if webhook_id is None and not user.get("bot") and user.get("premium_type") == 2:
            return NITRO_CONTENT_LENGTH
        return MAX_CONTENT_LENGTH

    def create_message(
        self,
        channel_id: str,
        author: JSON,
        *,
        content: str | None = None,
        embeds: list[JSON] | None = None,
        allowed_mentions: JSON | None = None,
        message_reference: JSON | None = None,
        nonce: str | int | None = None,
        enforce_nonce: bool = False,
        tts: bool = False,
        flags: int = 0,
        webhook_id: str | None = None,
        application_id: str | None = None,
        message_type: int | None = None,
        interaction_metadata: JSON | None = None,
        attachments: list[JSON] | None = None,
        sticker_items: list[JSON] | None = None,
        message_id: str | None = None,
        author_perms: int | None = None,
        allow_empty: bool = False,
        system_reference: JSON | None = None,
        emit: bool = True,
    ) -> JSON:
        """Store a message and emit MESSAGE_CREATE; returns the REST-shaped message."""
        channel = self.channel(channel_id)
        guild_id = channel["guild_id"]
        content = content or ""
        embeds = [dict(e, type=e.get("type", "rich")) for e in (embeds or [])]
        self.validate_message_body(content, embeds, self.content_limit(author, webhook_id))
        if not content and not embeds and not attachments and not sticker_items \
                and not allow_empty:
            raise DiscordAPIError(400, 50006, "Cannot send an empty message")
        if nonce is not None and enforce_nonce:
            key = (channel_id, author["id"], str(nonce))
            seen = self._nonces.get(key)
            if seen is not None and self.clock() - seen[0] < self.nonce_window:
                existing = self.messages.get(channel_id, {}).get(seen[1])
                if existing is not None:
                    return self.render_message(existing)
        replied_author = None
        reference = copy.deepcopy(system_reference)
        if message_reference:
            ref_id = str(message_reference.get("message_id"))
            ref_channel = str(message_reference.get("channel_id") or channel_id)
            target = self.messages.get(ref_channel, {}).get(ref_id)
            if target is None:
                if message_reference.get("fail_if_not_exists", True):
                    raise form_error(
                        ["message_reference"],
                        "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                        "Unknown message",
                    )
            else:
                reference = {
                    "type": 0,
                    "channel_id": ref_channel,
                    "message_id": ref_id,
                    "guild_id": guild_id,
                }
                if "webhook_id" not in target:
                    replied_author = target["author"]
        if author_perms is None:
            author_perms = (
                Permissions.ALL if webhook_id else self.permissions_for(guild_id, author["id"], channel_id)
            )
        mentions, role_mentions, everyone = self._parse_mentions(
            guild_id, content, allowed_mentions, author_perms, replied_author
        )
        if message_type is None:
            message_type = MessageType.REPLY if reference else MessageType.DEFAULT
        elif message_type == MessageType.CHAT_INPUT_COMMAND:
            reference = None
        msg_id = message_id or self.snowflakes.next()
        msg: JSON = {
            "type": message_type,
            "content": content,
            "mentions": mentions,
            "mention_roles": role_mentions,
            "attachments": attachments or [],
            "embeds": embeds,
            "timestamp": iso_timestamp(self.now()),
            "edited_timestamp": None,
            "flags": flags,
            "components": [],
            "id": msg_id,
            "channel_id": channel_id,
            **({"sticker_items": sticker_items} if sticker_items else {}),
            "author": copy.deepcopy(author),
            "pinned": False,
            "mention_everyone": everyone,
            "tts": tts,
        }
        if nonce is not None:
            msg["nonce"] = nonce
        if reference is not None:
            msg["message_reference"] = reference
        if webhook_id is not None:
            msg["webhook_id"] = webhook_id
        if application_id is not None:
            msg["application_id"] = application_id
        if interaction_metadata is not None:
            msg["interaction_metadata"] = interaction_metadata
        if self.is_thread(channel):
            msg["position"] = channel["total_message_sent"]
            if msg_id != channel_id:  # the forum starter message is not counted
                channel["message_count"] += 1
                channel["total_message_sent"] += 1
        self.messages[channel_id][msg_id] = msg
        self.message_channel[msg_id] = channel_id
        if not flags & MessageFlags.EPHEMERAL:
            channel["last_message_id"] = msg_id
        if nonce is not None and enforce_nonce:
            self._nonces[(channel_id, author["id"], str(nonce))] = (self.clock(), msg_id)
        if emit and not flags & MessageFlags.EPHEMERAL:
            self._emit_message("MESSAGE_CREATE", msg)
        return self.render_message(msg)

    def _emit_message(self, event: str, msg: JSON) -> None:
        channel = self.channels[msg["channel_id"]]
        visibility = channel["parent_id"] if self.is_thread(channel) else channel["id"]
        self._emit(
            Dispatch(
                event,
                self.gateway_message(msg),
                intent=Intents.GUILD_MESSAGES,
                guild_id=channel["guild_id"],
                channel_id=visibility,
                is_message=True,
            )
        )

    def edit_message(
        self,
        channel_id: str,
        message_id: str,
        changes: JSON,
        *,
        editor_perms: int = Permissions.ALL,
    ) -> JSON:
        msg = self.message(channel_id, message_id)
        content = changes.get("content")
        embeds = changes.get("embeds")
        self.validate_message_body(content, embeds,
                                   self.content_limit(msg.get("author"), msg.get("webhook_id")))
        if "content" in changes:
            msg["content"] = content or ""
            channel = self.channels[channel_id]
            mentions, role_mentions, everyone = self._parse_mentions(
                channel["guild_id"],
                msg["content"],
                changes.get("allowed_mentions"),
                editor_perms,
                None,
            )
            msg.update(mentions=mentions, mention_roles=role_mentions, mention_everyone=everyone)
        if embeds is not None:
            msg["embeds"] = [dict(e, type=e.get("type", "rich")) for e in embeds]
        if "flags" in changes and changes["flags"] is not None:
            keep = msg["flags"] & (MessageFlags.EPHEMERAL)
            msg["flags"] = (int(changes["flags"]) & ~MessageFlags.LOADING) | keep
        elif msg["flags"] & MessageFlags.LOADING:
            msg["flags"] &= ~MessageFlags.LOADING
        if "attachments" in changes and changes["attachments"] is not None:
            keep_ids = {str(a.get("id")) for a in changes["attachments"]}
            msg["attachments"] = [a for a in msg["attachments"] if a["id"] in keep_ids]
        if not msg["content"] and not msg["embeds"] and not msg["attachments"]:
            raise DiscordAPIError(400, 50006, "Cannot send an empty message")
        msg["edited_timestamp"] = iso_timestamp(self.now())
        if not msg["flags"] & MessageFlags.EPHEMERAL:
            self._emit_message("MESSAGE_UPDATE", msg)
        return self.render_message(msg)

    def delete_message(self, channel_id: str, message_id: str) -> None:
        msg = self.message(channel_id, message_id)
        channel = self.channels[channel_id]
        del self.messages[channel_id][message_id]
        self.message_channel.pop(message_id, None)
        if self.is_thread(channel) and message_id != channel_id:
            channel["message_count"] = max(0, channel["message_count"] - 1)
        if msg["flags"] & MessageFlags.EPHEMERAL:
            return
        visibility = channel["parent_id"] if self.is_thread(channel) else channel_id
        self._emit(
            Dispatch(
                "MESSAGE_DELETE",
                {"id": message_id, "channel_id": channel_id, "guild_id": channel["guild_id"]},
                intent=Intents.GUILD_MESSAGES,
                guild_id=channel["guild_id"],
                channel_id=visibility,
            )
        )

    def list_messages(
        self,
        channel_id: str,
        *,
        before: str | None = None,
        after: str | None = None,
        around: str | None = None,
        limit: int = 50,
    ) -> list[JSON]:
        """Channel history, newest first, with Discord's before/after/around semantics."""
        ordered = sorted(
            (
                m
                for m in self.messages.get(channel_id, {}).values()
                if not m["flags"] & MessageFlags.EPHEMERAL
            ),
            key=lambda m: int(m["id"]),
        )
        if around is not None:
            pivot = int(around)
            older = [m for m in ordered if int(m["id"]) < pivot]
            newer = [m for m in ordered if int(m["id"]) >= pivot]
            half = limit // 2
            picked = older[-half:] if half else []
            picked += newer[: limit - len(picked)]
            result = picked
        elif after is not None:
            result = [m for m in ordered if int(m["id"]) > int(after)][:limit]
        else:
            if before is not None:
                ordered = [m for m in ordered if int(m["id"]) < int(before)]
            result = ordered[-limit:] if limit else []
        return [self.render_message(m) for m in reversed(result)]

    def add_sticker(self, name: str, data: bytes, format_type: int = 1) -> JSON:
        """A sticker's item object (``id``, ``name``, ``format_type``: 1 PNG, 2 APNG,
        3 Lottie, 4 GIF) and its image on the CDN path Discord serves it at,
        ``/stickers/{id}.png`` (``.json`` for Lottie, ``.gif`` for GIF)."""
        sticker_id = self.snowflakes.next()
        extension, content_type = {3: ("json", "application/json"),
                                   4: ("gif", "image/gif")}.get(format_type, ("png", "image/png"))
        self.attachments[f"/stickers/{sticker_id}.{extension}"] = (content_type, data)
        return {"id": sticker_id, "name": name, "format_type": format_type}

    def add_attachment(self, channel_id: str, filename: str, data: bytes, content_type: str) -> JSON:
        if content_type in ("", "application/octet-stream"):  # Discord infers it, as here
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        attachment_id = self.snowflakes.next()
        path = f"/attachments/{channel_id}/{attachment_id}/{filename}"
        self.attachments[path] = (content_type, data)
        url = f"{self.base_url}{path}"
        return {
            "id": attachment_id,
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }

    # ---------------------------------------------------------------- webhooks

    def create_webhook(self, channel_id: str, creator: BotAccount, name: str) -> JSON:
        channel = self.channel(channel_id)
        if self.is_thread(channel):
            raise DiscordAPIError(400, 50024, "Cannot execute action on this channel type")
        validate_webhook_name(name, "name")
        if sum(1 for w in self.webhook_records.values() if w["channel_id"] == channel_id) >= 15:
            raise DiscordAPIError(400, 30007, "Maximum number of webhooks reached (15)")
        webhook_id = self.snowflakes.next()
        token = secrets.token_urlsafe(51)[:68]
        webhook: JSON = {
            "application_id": creator.application_id,
            "avatar": None,
            "channel_id": channel_id,
            "guild_id": channel["guild_id"],
            "id": webhook_id,
            "name": name,
            "type": 1,
            "user": copy.deepcopy(creator.user),
            "token": token,
            "url": f"{self.base_url}/api/webhooks/{webhook_id}/{token}",
        }
        self.webhook_records[webhook_id] = webhook
        self._emit_webhooks_update(channel)
        return copy.deepcopy(webhook)

    def _emit_webhooks_update(self, channel: JSON) -> None:
        self._emit(
            Dispatch(
                "WEBHOOKS_UPDATE",
                {"guild_id": channel["guild_id"], "channel_id": channel["id"]},
                intent=Intents.GUILD_WEBHOOKS,
                guild_id=channel["guild_id"],
                channel_id=channel["id"],
            )
        )

    def webhook(self, webhook_id: str, token: str | None = None) -> JSON:
        webhook = self.webhook_records.get(webhook_id)
        if webhook is None:
            raise unknown_webhook()
        if token is not None and not secrets.compare_digest(webhook["token"], token):
            raise DiscordAPIError(401, 50027, "Invalid Webhook Token")
        return webhook

    def delete_webhook(self, webhook_id: str) -> None:
        webhook = self.webhook(webhook_id)
        del self.webhook_records[webhook_id]
        channel = self.channels.get(webhook["channel_id"])
        if channel is not None:
            self._emit_webhooks_update(channel)

    def execute_webhook(
        self,
        webhook: JSON,
        body: JSON,
        *,
        thread_id: str | None = None,
        attachments: list[JSON] | None = None,
    ) -> JSON:
        """Post as a webhook: custom username/avatar, ``webhook_id`` on the message."""
        channel = self.channel(webhook["channel_id"])
        username = body.get("username") or webhook["name"]
        validate_webhook_name(username, "username")
        content = body.get("content")
        embeds = body.get("embeds")
        self.validate_message_body(content, embeds)
        target_id = webhook["channel_id"]
        if thread_id is not None:
            thread = self.channels.get(str(thread_id))
            if thread is None or thread.get("parent_id") != webhook["channel_id"]:
                raise unknown_channel()
            target_id = str(thread_id)
        elif channel["type"] == ChannelType.GUILD_FORUM:
            if not body.get("thread_name"):
                raise DiscordAPIError(
                    400,
                    220001,
                    "Webhooks posted to forum channels must have a thread_name or thread_id",
                )
        if target_id != webhook["channel_id"]:
            meta = self.channels[target_id]["thread_metadata"]
            if meta["locked"]:
                raise thread_archived() if meta["archived"] else thread_locked()
            if meta["archived"]:
                self.update_thread(target_id, {"archived": False})
        avatar_url = body.get("avatar_url")
        author: JSON = {
            "id": webhook["id"],
            "username": username,
            "avatar": hashlib.md5(avatar_url.encode()).hexdigest() if avatar_url else None,
            "discriminator": "0000",
            "public_flags": 0,
            "flags": 0,
            "bot": True,
            "global_name": None,
            "clan": None,
            "primary_guild": None,
        }
        message_id = None
        if target_id == webhook["channel_id"] and body.get("thread_name"):
            message_id = self.snowflakes.next()
            thread = self.create_thread(
                target_id,
                webhook["id"],
                str(body["thread_name"]),
                thread_id=message_id,
                applied_tags=body.get("applied_tags") or (),
            )
            target_id = thread["id"]
        msg = self.create_message(
            target_id,
            author,
            content=content,
            embeds=embeds,
            allowed_mentions=body.get("allowed_mentions"),
            tts=bool(body.get("tts")),
            flags=int(body.get("flags") or 0),
            webhook_id=webhook["id"],
            application_id=webhook.get("application_id"),
            attachments=attachments,
            message_id=message_id,
        )
        if avatar_url:
            self.webhook_avatar_urls[msg["id"]] = avatar_url
        return msg

    def webhook_message(self, webhook: JSON, message_id: str, thread_id: str | None) -> JSON:
        channel_id = str(thread_id) if thread_id else webhook["channel_id"]
        msg = self.messages.get(channel_id, {}).get(message_id)
        if msg is None or msg.get("webhook_id") != webhook["id"]:
            raise unknown_message()
        return msg

    # ---------------------------------------------------------------- commands

    def put_commands(self, application_id: str, guild_id: str | None, payload: list[JSON]) -> list[JSON]:
        """Bulk overwrite; ids are kept for commands whose (name, type) survive, as on Discord."""
        if len(payload) > 100:
            raise form_error(["_"], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        existing = {
            (c["name"], c["type"]): c for c in self.command_records.get((application_id, guild_id), [])
        }
        result = []
        for index, raw in enumerate(payload):
            result.append(self._normalise_command(application_id, guild_id, raw, index, existing))
        self.command_records[(application_id, guild_id)] = result
        self.on_change()
        return copy.deepcopy(result)

    def upsert_command(self, application_id: str, guild_id: str | None, raw: JSON) -> JSON:
        commands = self.command_records.setdefault((application_id, guild_id), [])
        existing = {(c["name"], c["type"]): c for c in commands}
        command = self._normalise_command(application_id, guild_id, raw, None, existing)
        commands[:] = [c for c in commands if (c["name"], c["type"]) != (command["name"], command["type"])]
        commands.append(command)
        self.on_change()
        return copy.deepcopy(command)

    def _normalise_command(
        self,
        application_id: str,
        guild_id: str | None,
        raw: JSON,
        index: int | None,
        existing: dict[tuple[str, int], JSON],
    ) -> JSON:
        prefix = [] if index is None else [str(index)]
        name = str(raw.get("name", ""))
        command_type = int(raw.get("type", 1))
        if command_type == 1:
            if not re.fullmatch(r"[-_\w]{1,32}", name) or name != name.lower():
                raise form_error(
                    [*prefix, "name"],
                    "APPLICATION_COMMAND_INVALID_NAME",
                    f"Command name is invalid: {name!r}",
                )
            description = str(raw.get("description", ""))
            if not 1 <= len(description) <= 100:
                raise form_error(
                    [*prefix, "description"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
        previous = existing.get((name, command_type))
        perms = raw.get("default_member_permissions")
        return {
            "id": previous["id"] if previous else self.snowflakes.next(),
            "application_id": application_id,
            "version": self.snowflakes.next(),
            "default_member_permissions": None if perms is None else str(perms),
            "type": command_type,
            "name": name,
            "name_localizations": raw.get("name_localizations"),
            "description": raw.get("description", "") if command_type == 1 else "",
            "description_localizations": raw.get("description_localizations"),
            "dm_permission": raw.get("dm_permission", True) if guild_id is None else False,
            "contexts": raw.get("contexts"),
            "integration_types": raw.get("integration_types") or [0],
            "options": copy.deepcopy(raw.get("options") or []),
            "nsfw": bool(raw.get("nsfw", False)),
            **({"guild_id": guild_id} if guild_id is not None else {}),
        }

    def commands_for(self, application_id: str, guild_id: str | None) -> list[JSON]:
        return copy.deepcopy(self.command_records.get((application_id, guild_id), []))

    def find_command(self, guild_id: str | None, name: str, command_type: int = 1) -> JSON:
        """A registered command by name: slash (1), user (2) or message (3) command."""
        for bot in self.bots.values():
            for scope in (guild_id, None):
                for command in self.command_records.get((bot.application_id, scope), []):
                    if command["name"] == name and command["type"] == command_type:
                        return command
        raise KeyError(f"no command {name!r} of type {command_type} registered for guild {guild_id}")


# Characters Discord's name check looks through: "disc\u200bord" is still "discord".
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff"), None)


def validate_webhook_name(name: str, field_name: str) -> None:
    """Discord's refusals of webhook names and usernames, as its API answers them (400,
    50035), not only as documented (discord-api-docs #1229, #4293): "discord" and "clyde"
    anywhere (USERNAME_INVALID_CONTAINS), "everyone" and "here" anywhere too ("groundsphere"
    is refused with 'Username cannot be "here"', USERNAME_INVALID), in any case and with
    zero-width characters ignored; and 1 to 80 characters."""
    folded = name.translate(_INVISIBLE).casefold()
    for word in ("discord", "clyde"):
        if word in folded:
            raise form_error(
                [field_name],
                "USERNAME_INVALID_CONTAINS",
                f'Username cannot contain "{word}"',
            )
    for word in ("everyone", "here"):
        if word in folded:
            raise form_error([field_name], "USERNAME_INVALID", f'Username cannot be "{word}"')
    if not 1 <= len(name) <= 80:
        raise form_error([field_name], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.")


def _application_flags(privileged_intents: int) -> int:
    """The *_LIMITED application flags, which is how the portal toggles show up on the wire."""
    flags = 0
    if privileged_intents & Intents.GUILD_PRESENCES:
        flags |= 1 << 13
    if privileged_intents & Intents.GUILD_MEMBERS:
        flags |= 1 << 15
    if privileged_intents & Intents.MESSAGE_CONTENT:
        flags |= 1 << 19
    return flags


def strip_content(message: JSON) -> JSON:
    """What a bot without the MESSAGE_CONTENT intent receives for someone else's message."""
    out = dict(message)
    out.update(content="", embeds=[], attachments=[], components=[])
    out.pop("poll", None)
    ref = out.get("referenced_message")
    if isinstance(ref, dict):
        out["referenced_message"] = dict(ref, content="", embeds=[], attachments=[], components=[])
    return out


_counter = itertools.count(1)


def new_token(prefix: str) -> str:
    """An opaque interaction token, shaped like Discord's (long, URL-safe)."""
    return f"{prefix}{next(_counter)}." + secrets.token_urlsafe(96)
