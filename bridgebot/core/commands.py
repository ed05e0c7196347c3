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
from bridgebot.core.privacy import alias_command, forgetme_command
from bridgebot.core.reading import LinkMaker, catchup_command, overview
from bridgebot.core.service import Discussions
from bridgebot.i18n import N_, Translator

# The English text is the message id: translated into the reader's language by help_for().
DEFAULT_HELP = N_("""\
How to take part:
• Reply to the topic, to a guiding question or to anyone's post: your reply becomes a post, \
and everyone on the other linked chats sees it with your name.
• Start your message with a short first line and a blank line to give it a subject.
• /reply N text answers post number N, wherever it was written.
• /status shows how many posts there are and how many are new for you.
• /catchup lists the posts that are new for you, with links to them.

Facilitators: /newtopic <title> (next lines: introduction), /prompt <question>, \
/lock [reason], /unlock, /hide N or /unhide N (or in reply to the post), /digest.""")

# Always shown after the help text (a configured help_text too): how to stay safe.
PRIVACY_HELP = N_("""\
Your privacy:
• /alias <name> chooses the name the other linked chats see instead of yours \
(/alias off removes it).
• /forgetme erases your posts' text and your name from the bot and from the copies it made; \
it asks you to confirm first.""")

FACILITATOR_COMMANDS = ("newtopic", "prompt", "lock", "unlock", "hide", "unhide", "digest")
PARTICIPANT_COMMANDS = ("status", "help", "reply", "catchup", "alias", "forgetme")


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
    # The person's app language (Telegram ``language_code``): the answer is written in it
    # when bridgebot speaks it, else in the chat's language.
    locale: str | None = None


def help_for(core: Discussions, t: Translator) -> str:
    """/help: the configured ``help_text`` as written, else the built-in text in ``t``'s language."""
    return f"{core.help_text or t(DEFAULT_HELP)}\n\n{t(PRIVACY_HELP)}"


def lock_notice(t: Translator, title: str, locked: bool, reason: str | None = None) -> str:
    """The notice posted into every chat of a topic when it is locked or reopened."""
    if locked and reason:
        return t("🔒 Topic locked: {reason}. Thank you for taking part; the archive stays readable.",
                 reason=reason)
    if locked:
        return t("🔒 Topic locked. Thank you for taking part; the archive stays readable.")
    return t("🔓 “{title}” is open again: replies are welcome.", title=title)


def lock_answer(t: Translator, title: str, locked: bool, changed: bool) -> str:
    """What a facilitator is told after /lock or /unlock (shared by every platform)."""
    if locked:
        if changed:
            return t("“{title}” is now locked.", title=title)
        return t("“{title}” is already locked.", title=title)
    if changed:
        return t("“{title}” is now open.", title=title)
    return t("“{title}” is already open.", title=title)


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
    t = core.translator_for(ctx.locale, ctx.where)
    try:
        return await _dispatch(core, ctx, name, args, t)
    except errors.RuleError as err:
        return err.render(t)


async def _dispatch(core: Discussions, ctx: CommandContext, name: str, args: str,
                    t: Translator) -> str:
    admin = ctx.platform_admin
    lang = t.locale
    if name in ("help", "start"):
        return help_for(core, t)
    if name == "newtopic":
        title, _, intro = args.partition("\n")
        if not title.strip():
            raise errors.InvalidInput(
                N_("Usage: /newtopic <title>, with the introduction on the following lines.")
            )
        topic = await core.open_topic(ctx.actor, ctx.where, title, intro, platform_admin=admin)
        return t("Topic #{id} “{title}” is open on every linked chat.", id=topic.id, title=topic.title)
    if name == "prompt":
        if not args:
            raise errors.InvalidInput(N_("Usage: /prompt <question>"))
        topic, prompt = await core.add_prompt(
            ctx.actor, ctx.where, args, platform_admin=admin, reply_to=ctx.reply_to
        )
        return t("Question {position} added to “{title}”.", position=prompt.position, title=topic.title)
    if name in ("lock", "unlock"):
        locked = name == "lock"
        topic, changed = await core.set_locked(
            ctx.actor, ctx.where, locked, args or None, platform_admin=admin, reply_to=ctx.reply_to
        )
        return lock_answer(t, topic.title, topic.is_locked, changed)
    if name == "status":
        if not core.is_bridged(ctx.where):
            return await overview(core, ctx.actor, ctx.bridges, lang=lang)
        return await core.status(ctx.actor, ctx.where, ctx.reply_to, platform_admin=admin, lang=lang)
    if name == "catchup":
        return await catchup_command(core, ctx.actor, ctx.where, ctx.link, bridges=ctx.bridges,
                                     reply_to=ctx.reply_to, lang=lang)
    if name in ("hide", "unhide"):
        return await set_post_hidden(
            core, ctx.actor, ctx.where, name == "hide", number=parse_number(args, name),
            reply_to=ctx.reply_to, platform_admin=admin, lang=lang,
        )
    if name == "digest":
        return await digest_command(core, ctx.actor, ctx.where, platform_admin=admin,
                                    reply_to=ctx.reply_to, lang=lang)
    if name == "alias":
        return await alias_command(core, ctx.actor, ctx.where, args, bridges=ctx.bridges, lang=lang)
    if name == "forgetme":
        return await forgetme_command(core, ctx.actor, args, lang=lang)
    if name == "reply":
        number_text, _, text = args.partition(" ")
        number = number_text.lstrip("#")
        if not number.isdigit() or not text.strip():
            raise errors.InvalidInput(N_("Usage: /reply N text — for example /reply 3 I agree."))
        outcome = await core.reply_to_number(
            ctx.actor, ctx.where, int(number), text, message_id=ctx.message_id,
            reply_to=ctx.reply_to, locale=lang,
        )
        if outcome.refused_locked and outcome.topic:
            raise errors.TopicLocked(outcome.topic.title, outcome.topic.lock_reason)
        if outcome.post:
            return t("Posted as #{number}.", number=outcome.post.number)
        return t("Nothing was posted: the message was empty.")
    raise errors.InvalidInput(N_("I don't know /{name}. /help lists what I understand."), name=name)
