"""``check-config`` for Telegram: what the bot may do in every bridged chat.

It asks the Bot API through python-telegram-bot, as the adapter does: getMe, then
getChat and getChatMember(bot) for each chat, and says what to change when a right is
missing.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import Bot, User
from telegram import error as tg
from telegram.constants import ChatMemberStatus, ChatType

from bridgebot.adapters.platform import Finding
from bridgebot.adapters.telegram.settings import TelegramSettings


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
    can_delete = status == ChatMemberStatus.OWNER or (
        admin and bool(getattr(member, "can_delete_messages", False)))
    found.append(Finding("telegram", where, "can delete messages", can_delete,
                         "/hide can delete a hidden post's original" if can_delete else
                         "make the bot an administrator with Delete Messages, so /hide can remove "
                         "the author's original (without it, /hide says so in the chat)"))
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


