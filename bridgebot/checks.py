"""``bridgebot check-config``: is every bridged chat ready, and if not, what to change.

Most set-up mistakes only show once the bot is running (a bot that cannot post, a
forum where it cannot create topics, a Discord channel without Manage Webhooks).
This asks each platform, through the same libraries the adapters use, what the bot
may do in every bridged chat and prints a table: one row per check, ``ok`` or
``FIX`` with what to change. Exit 0 when everything is fine, 1 when something needs
fixing, 2 for a configuration error (settings the bot cannot run with).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp
import discord
import discord.http
from telegram import Bot, User
from telegram import error as tg
from telegram.constants import ChatMemberStatus, ChatType

from bridgebot.adapters.discord.endpoint import use_api_base
from bridgebot.logs import hide_secrets, redact
from bridgebot.settings import DiscordSettings, Settings, TelegramSettings

EXIT_OK, EXIT_FIX, EXIT_CONFIG = 0, 1, 2
PLATFORM_TIMEOUT = 30.0
Out = Callable[[str], None]

# What the Discord adapter needs in a bridged channel, and why (shown when it is missing).
DISCORD_NEEDS: tuple[tuple[str, str, str], ...] = (
    ("view_channel", "View Channels", "to see the channel at all"),
    ("send_messages", "Send Messages", "to open topics"),
    ("send_messages_in_threads", "Send Messages in Threads", "to post questions and mirrors"),
    ("create_public_threads", "Create Public Threads", "to open a topic's thread"),
    ("manage_threads", "Manage Threads", "to lock topics"),
    ("manage_webhooks", "Manage Webhooks", "to show mirrored posts under each author's name"),
    ("read_message_history", "Read Message History", "to answer replies"),
)
DISCORD_CHANNEL_KINDS = {0: "text", 5: "announcement", 15: "forum"}
MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)  # GATEWAY_MESSAGE_CONTENT(_LIMITED)


@dataclass(frozen=True)
class Finding:
    """One row of the table."""

    platform: str
    where: str
    check: str
    ok: bool
    detail: str = ""


# -- offline ---------------------------------------------------------------------------


def config_errors(settings: Settings) -> list[str]:
    """Settings that cannot work at all: a bridge naming a platform without a token."""
    problems = []
    for bridge in settings.bridges:
        if bridge.telegram_chats and not settings.telegram:
            problems.append(f"bridge {bridge.name} links Telegram chats but telegram.token "
                            "(BRIDGEBOT_TELEGRAM__TOKEN) is not set")
        if bridge.discord_channels and not settings.discord:
            problems.append(f"bridge {bridge.name} links Discord channels but discord.token "
                            "(BRIDGEBOT_DISCORD__TOKEN) is not set")
    return problems


def describe(settings: Settings, out: Out) -> None:
    """What the settings link, as ``check-config`` has always printed it."""
    out(f"database: {settings.database}")
    out(f"telegram: {'configured' if settings.telegram else 'not configured'}")
    out(f"discord: {'configured' if settings.discord else 'not configured'}")
    if not settings.bridges:
        out("bridges: none — add [[bridges]] entries to link chats")
    for bridge in settings.bridges:
        linked = ", ".join(str(c) for c in bridge.to_bridge().channels) or "no chats"
        out(f"bridge {bridge.name}: {linked}")


# -- Telegram ----------------------------------------------------------------------------


async def check_telegram(settings: TelegramSettings, chats: Sequence[int]) -> list[Finding]:
    """getMe, then getChat and getChatMember(bot) for every bridged chat."""
    root = settings.base_url.rstrip("/")
    bot = Bot(settings.token.get_secret_value(), base_url=f"{root}/bot",
              base_file_url=f"{root}/file/bot")
    try:
        await bot.initialize()  # getMe
    except tg.InvalidToken:
        return [Finding("telegram", "bot", "token", False,
                        "Telegram refused the token: copy it again from @BotFather (/token)")]
    except tg.TelegramError as err:
        return [Finding("telegram", "bot", "token", False,
                        f"could not reach {settings.base_url}: {err.message}")]
    try:
        me = bot.bot
        found = [Finding("telegram", f"bot @{me.username}", "token", True,
                         f"logged in as @{me.username}")]
        for chat_id in chats:
            found += await _telegram_chat(bot, me, chat_id)
        return found
    finally:
        await bot.shutdown()


async def _telegram_chat(bot: Bot, me: User, chat_id: int) -> list[Finding]:
    where = f"chat {chat_id}"
    try:
        chat = await bot.get_chat(chat_id)
        member = await bot.get_chat_member(chat_id, me.id)
    except tg.Forbidden as err:
        return [Finding("telegram", where, "bot is in the chat", False,
                        f"{err.message}: add the bot to the group again")]
    except tg.BadRequest as err:
        return [Finding("telegram", where, "bot is in the chat", False,
                        f"{err.message}: check the id (supergroups start with -100) and that "
                        "the bot was added to the group")]
    except tg.TelegramError as err:
        return [Finding("telegram", where, "bot is in the chat", False, err.message)]
    where = f"chat {chat_id} “{chat.title or chat.type}”"
    if chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return [Finding("telegram", where, "kind of chat", False,
                        f"is a {chat.type} chat: bridge a group or supergroup")]
    status = member.status
    admin = status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)
    found = [_telegram_can_post(where, member)]
    if admin:
        found.append(Finding("telegram", where, "bot is admin", True, "administrator"))
    elif chat.is_forum:
        found.append(Finding("telegram", where, "bot is admin", False,
                             "a forum needs the bot as administrator with Manage Topics: "
                             "promote it in the group's settings"))
    elif not me.can_read_all_group_messages:
        found.append(Finding("telegram", where, "bot is admin", False,
                             "privacy mode is on and the bot is not an administrator, so it only "
                             "sees commands and replies to its own messages: make it an "
                             "administrator, or turn privacy off (@BotFather /setprivacy → Disable) "
                             "and add it to the group again"))
    else:
        found.append(Finding("telegram", where, "bot is admin", True,
                             "not an administrator, but privacy mode is off: it sees every message"))
    if chat.is_forum and admin:
        can_manage = status == ChatMemberStatus.OWNER or bool(
            getattr(member, "can_manage_topics", False))
        found.append(Finding("telegram", where, "can manage topics", can_manage,
                             "forum topics can be created" if can_manage else
                             "give the bot the Manage Topics right, to open a topic per discussion"))
    return found


def _telegram_can_post(where: str, member: object) -> Finding:
    status = getattr(member, "status", None)
    if status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
        return Finding("telegram", where, "bot can post", False,
                       f"the bot is {'banned from' if status == ChatMemberStatus.BANNED else 'not in'}"
                       " the chat: add it to the group")
    if status == ChatMemberStatus.RESTRICTED and not getattr(member, "can_send_messages", True):
        return Finding("telegram", where, "bot can post", False,
                       "the bot is restricted from sending messages: lift the restriction")
    return Finding("telegram", where, "bot can post", True, str(status))


# -- Discord -----------------------------------------------------------------------------


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
        for channel_id in channels:
            found += await _discord_channel(http, me["id"], channel_id, settings.guilds)
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


async def _discord_channel(http: discord.http.HTTPClient, bot_id: str, channel_id: int,
                           guilds: Sequence[int]) -> list[Finding]:
    where = f"channel {channel_id}"
    try:
        channel = await http.get_channel(channel_id)
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


def channel_permissions(user_id: str, guild: dict, roles: Sequence[dict], member_roles: Sequence[str],
                        overwrites: Sequence[dict]) -> discord.Permissions:
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


# -- the command --------------------------------------------------------------------------


def render_table(findings: Sequence[Finding]) -> list[str]:
    """Aligned rows: platform, where, check, ok/FIX and the detail."""
    header = Finding("platform", "where", "check", True, "")
    rows = [header, *findings]
    w_where = min(40, max(len(f.where) for f in rows))
    w_check = max(len(f.check) for f in rows)
    lines = []
    for f in rows:
        result = "result" if f is header else ("ok" if f.ok else "FIX")
        where = f.where if len(f.where) <= w_where else f.where[: w_where - 1] + "…"
        line = f"{f.platform:<9} {where:<{w_where}}  {f.check:<{w_check}}  {result:<6} {f.detail}"
        lines.append(redact(line.rstrip()))
    return lines


async def run_checks(settings: Settings, out: Out = print) -> int:
    """Print what is linked, then the table; return the exit code."""
    hide_secrets([settings.telegram.token if settings.telegram else None,
                  settings.discord.token if settings.discord else None])
    describe(settings, out)
    errors = config_errors(settings)
    if errors:
        for problem in errors:
            out(f"  ! {problem}")
        return EXIT_CONFIG
    out("configuration is valid")
    findings: list[Finding] = []
    if settings.telegram is not None:
        chats = [c for b in settings.bridges for c in b.telegram_chats]
        findings += await _bounded("telegram", check_telegram(settings.telegram, chats))
    if settings.discord is not None:
        channels = [c for b in settings.bridges for c in b.discord_channels]
        findings += await _bounded("discord", check_discord(settings.discord, channels))
    if not findings:
        out("No platform is configured, so there is nothing to connect to "
            "(`bridgebot shell` and `bridgebot demo` need none).")
        return EXIT_OK
    out("")
    for line in render_table(findings):
        out(line)
    to_fix = sum(1 for f in findings if not f.ok)
    out("")
    if to_fix:
        out(f"{to_fix} of {len(findings)} checks need fixing (rows marked FIX).")
        return EXIT_FIX
    out(f"All {len(findings)} checks passed.")
    return EXIT_OK


async def _bounded(platform: str, work: Awaitable[list[Finding]]) -> list[Finding]:
    """A platform that does not answer is a row to fix, not a hang."""
    try:
        async with asyncio.timeout(PLATFORM_TIMEOUT):
            return await work
    except TimeoutError:
        return [Finding(platform, "bot", "token", False,
                        f"no answer within {PLATFORM_TIMEOUT:.0f} s: check the network and the "
                        "API address in the settings")]
