"""Text commands (``/newtopic``, ``/prompt``, ...) shared by the console and Telegram.

Discord has structured slash commands and calls :class:`Discussions` directly; the
chat platforms that take commands as text parse them here, so the console and
Telegram behave the same and answer the same sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridgebot.core import errors
from bridgebot.core.digest import digest_command
from bridgebot.core.models import Author, ChannelRef
from bridgebot.core.moderation import parse_number, set_post_hidden
from bridgebot.core.reading import LinkMaker, catchup_command, overview
from bridgebot.core.service import Discussions

DEFAULT_HELP = """\
How to take part:
• Reply to the topic, to a guiding question or to anyone's post: your reply becomes a post, \
and everyone on the other linked chats sees it with your name.
• Start your message with a short first line and a blank line to give it a subject.
• /reply N text answers post number N, wherever it was written.
• /status shows how many posts there are and how many are new for you.
• /catchup lists the posts that are new for you, with links to them.

Facilitators: /newtopic <title> (next lines: introduction), /prompt <question>, \
/lock [reason], /unlock, /hide N or /unhide N (or in reply to the post), /digest."""

FACILITATOR_COMMANDS = ("newtopic", "prompt", "lock", "unlock", "hide", "unhide", "digest")
PARTICIPANT_COMMANDS = ("status", "help", "reply", "catchup")


@dataclass(frozen=True)
class CommandContext:
    """Who typed a command, where, and what the platform says about their rights."""

    actor: Author
    where: ChannelRef
    platform_admin: bool = False
    message_id: str | None = None
    reply_to: str | None = None
    # For /status and /catchup outside a bridged chat (a private chat with the bot): the
    # bridges whose chats the person is in, and how to link to a message on this platform.
    bridges: tuple[str, ...] = ()
    link: LinkMaker | None = None


def parse_command(text: str, bot_username: str | None = None) -> tuple[str, str] | None:
    """Split ``/name@Bot args`` into (name, args); None if not a command for us."""
    if not text.startswith("/"):
        return None
    head, _, rest = text[1:].partition("\n")
    word, _, inline = head.partition(" ")
    name, _, addressee = word.partition("@")
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return None  # a command for another bot in the same group
    args = inline.strip()
    if rest.strip():
        args = f"{args}\n{rest}" if args else rest
    return name.lower(), args.strip()


async def run_command(core: Discussions, ctx: CommandContext, name: str, args: str) -> str:
    """Carry out one command and return the sentence to answer with.

    Rule violations become polite answers; nothing a person types raises.
    """
    try:
        return await _dispatch(core, ctx, name, args)
    except errors.RuleError as err:
        return str(err)


async def _dispatch(core: Discussions, ctx: CommandContext, name: str, args: str) -> str:
    admin = ctx.platform_admin
    if name in ("help", "start"):
        return core.help_text or DEFAULT_HELP
    if name == "newtopic":
        title, _, intro = args.partition("\n")
        if not title.strip():
            raise errors.InvalidInput(
                "Usage: /newtopic <title>, with the introduction on the following lines."
            )
        topic = await core.open_topic(ctx.actor, ctx.where, title, intro, platform_admin=admin)
        return f"Topic #{topic.id} “{topic.title}” is open on every linked chat."
    if name == "prompt":
        if not args:
            raise errors.InvalidInput("Usage: /prompt <question>")
        topic, prompt = await core.add_prompt(
            ctx.actor, ctx.where, args, platform_admin=admin, reply_to=ctx.reply_to
        )
        return f"Question {prompt.position} added to “{topic.title}”."
    if name in ("lock", "unlock"):
        locked = name == "lock"
        topic, changed = await core.set_locked(
            ctx.actor, ctx.where, locked, args or None, platform_admin=admin, reply_to=ctx.reply_to
        )
        if not changed:
            return f"“{topic.title}” is already {topic.status.value}."
        return f"“{topic.title}” is now {topic.status.value}."
    if name == "status":
        if not core.is_bridged(ctx.where):
            return await overview(core, ctx.actor, ctx.bridges)
        return await core.status(ctx.actor, ctx.where, ctx.reply_to, platform_admin=admin)
    if name == "catchup":
        return await catchup_command(core, ctx.actor, ctx.where, ctx.link, bridges=ctx.bridges,
                                     reply_to=ctx.reply_to)
    if name in ("hide", "unhide"):
        return await set_post_hidden(
            core, ctx.actor, ctx.where, name == "hide", number=parse_number(args, name),
            reply_to=ctx.reply_to, platform_admin=admin,
        )
    if name == "digest":
        return await digest_command(core, ctx.actor, ctx.where, platform_admin=admin,
                                    reply_to=ctx.reply_to)
    if name == "reply":
        number_text, _, text = args.partition(" ")
        number = number_text.lstrip("#")
        if not number.isdigit() or not text.strip():
            raise errors.InvalidInput("Usage: /reply N text — for example /reply 3 I agree.")
        outcome = await core.reply_to_number(
            ctx.actor, ctx.where, int(number), text, message_id=ctx.message_id,
            reply_to=ctx.reply_to,
        )
        if outcome.refused_locked and outcome.topic:
            raise errors.TopicLocked(outcome.topic.title, outcome.topic.lock_reason)
        if outcome.post:
            return f"Posted as #{outcome.post.number}."
        return "Nothing was posted: the message was empty."
    raise errors.InvalidInput(f"I don't know /{name}. /help lists what I understand.")
