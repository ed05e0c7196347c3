"""The chat commands (``/newtopic``, ``/reply``, ...): each one defined once, here.

Every command is one decorated function below: its name, translated description, who may
run it, where, and its parameters (see :mod:`bridgebot.core.commandkit`). The Telegram
menu, Discord's slash commands and the console's parsing are all generated from
:data:`COMMANDS`, so a command answers the same sentence on every platform.
"""

from __future__ import annotations

from bridgebot.core import errors
from bridgebot.core.commandkit import Answer, Call, CommandContext, CommandTable, Param
from bridgebot.core.digest import digest_command
from bridgebot.core.handout import export_command
from bridgebot.core.models import TopicStatus
from bridgebot.core.moderation import set_post_hidden
from bridgebot.core.people import who_command
from bridgebot.core.privacy import alias_command, forgetme_command
from bridgebot.core.reading import catchup_command, overview
from bridgebot.core.service import Discussions
from bridgebot.i18n import N_, Translator

__all__ = ["COMMANDS", "CommandContext", "help_for", "lock_answer", "lock_notice",
           "parse_command", "run_command"]

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

# The facilitators' commands added since DEFAULT_HELP was written (kept apart, so that the
# translations of the text above stay valid).
MORE_FACILITATOR_HELP = N_("Also for facilitators: /editprompt N <question> and /editintro "
                           "<introduction> reword what everyone sees; /who lists who took part; "
                           "/export sends you the archive page privately.")

# Discord's slash commands take named options and cannot answer a message: its own wording.
DISCORD_HELP = N_("""How to take part:
• Write in the topic's thread, or reply there to anyone's message: your message becomes a \
post, and everyone on the other linked chats sees it with your name.
• Start your message with a short first line and a blank line to give it a subject.
• /reply with a number and a text answers post number N, wherever it was written.
• /status shows how many posts there are and how many are new for you.
• /catchup lists the posts that are new for you, with links to them.
Commands are slash commands: type / and choose one from the list Discord shows.

Facilitators: /newtopic (a title and an introduction), /prompt, /editprompt, /editintro, \
/lock, /unlock, /hide or /unhide with a number (or a post's message menu: Apps → Hide post), \
/digest, /who, /export. Outside a topic's thread, the topic option says which topic.""")


def help_for(core: Discussions, t: Translator, *, slash: bool = False) -> str:
    """/help: the configured ``help_text`` as written, else the built-in text in ``t``'s
    language, in the platform's syntax (``slash``: Discord's slash commands)."""
    if core.help_text:
        text = core.help_text
    elif slash:
        text = t(DISCORD_HELP)
    else:
        text = f"{t(DEFAULT_HELP)}\n{t(MORE_FACILITATOR_HELP)}"
    return f"{text}\n\n{t(PRIVACY_HELP)}"


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




def for_another_bot(text: str, bot_username: str | None) -> bool:
    """``/status@otherbot``: a command meant for another bot in the group, neither ours to
    run nor a post to carry."""
    if not text.startswith("/") or not bot_username:
        return False
    word = text[1:].split(None, 1)[0] if text[1:].strip() else ""
    name, at, addressee = word.partition("@")
    return bool(at and name and addressee and addressee.lower() != bot_username.lower())


async def run_command(core: Discussions, ctx: CommandContext, name: str, args: str) -> str:
    """Carry out ``/name args`` typed on a text platform and return the sentence to answer
    with. Rule violations become polite answers; nothing a person types raises."""
    return await COMMANDS.run_text(core, ctx, name, args)


# -- the table: menu order (participants' commands first) ---------------------------

COMMANDS = CommandTable()
POST_NUMBER = N_("The post's number (#N)")


@COMMANDS.command("status", N_("How many posts, how many new for you"), scope="private",
                  admin_view=True, about=TopicStatus.OPEN)
async def status(call: Call) -> str:
    core, ctx = call.core, call.ctx
    if not core.is_bridged(ctx.where):  # a private chat: all of this person's discussions
        return await overview(core, ctx.actor, ctx.bridges, lang=call.lang)
    text = await core.status(ctx.actor, ctx.where, ctx.reply_to, platform_admin=ctx.platform_admin,
                             lang=call.lang)
    return Answer(text, (await core.topic_here(ctx.where, ctx.reply_to)).id)


@COMMANDS.command("help", N_("How to take part"), scope="anywhere", aliases=("start",),
                  instant=True)
async def help_(call: Call) -> str:
    return help_for(call.core, call.t, slash=call.ctx.named_options)


@COMMANDS.command(
    "reply", N_("Reply to post number N of this topic"),
    Param("number", "number", POST_NUMBER, required=True),
    Param("text", "text", N_("Your reply"), required=True),
    usage=N_("Usage: /reply N text — for example /reply 3 I agree."),
)
async def reply(call: Call, number: int, text: str) -> str:
    ctx = call.ctx
    outcome = await call.core.reply_to_number(
        ctx.actor, ctx.where, number, text, message_id=ctx.message_id, reply_to=ctx.reply_to,
        locale=call.lang, spans=ctx.formatting_of(text),
    )
    if outcome.refused_locked and outcome.topic:  # every time, not only the first
        raise errors.TopicLocked(outcome.topic.title, outcome.topic.lock_reason)
    if outcome.answer:  # e.g. too long, with the limit
        return outcome.answer
    if outcome.post:
        return Answer(call.t("Posted as #{number}.", number=outcome.post.number),
                      outcome.post.topic_id)
    return call.t("Nothing was posted: the message was empty.")


@COMMANDS.command("catchup", N_("The posts that are new for you, with links"), scope="private",
                  about=TopicStatus.OPEN)
async def catchup(call: Call) -> str:
    ctx = call.ctx
    return await catchup_command(call.core, ctx.actor, ctx.where, ctx.link, bridges=ctx.bridges,
                                 reply_to=ctx.reply_to, lang=call.lang)


@COMMANDS.command(
    "newtopic", N_("Open a topic on every linked chat"),
    Param("title", "line", N_("The topic's title"), required=True),
    Param("intro", "text", N_("The introduction")),
    facilitator=True,
    usage=N_("Usage: /newtopic <title>, with the introduction on the following lines."),
)
async def newtopic(call: Call, title: str, intro: str) -> str:
    ctx = call.ctx
    topic = await call.core.open_topic(ctx.actor, ctx.where, title, intro,
                                       platform_admin=ctx.platform_admin, message_id=ctx.message_id)
    return Answer(call.t("Topic #{id} “{title}” is open on every linked chat.", id=topic.id,
                         title=topic.title), topic.id)


@COMMANDS.command(
    "prompt", N_("Add a guiding question to this topic"),
    Param("question", "text", N_("The question"), required=True),
    facilitator=True, usage=N_("Usage: /prompt <question>"), about=TopicStatus.OPEN,
)
async def prompt(call: Call, question: str) -> str:
    ctx = call.ctx
    topic, added = await call.core.add_prompt(ctx.actor, ctx.where, question,
                                              platform_admin=ctx.platform_admin,
                                              reply_to=ctx.reply_to, message_id=ctx.message_id)
    return Answer(call.t("Question {position} added to “{title}”.", position=added.position,
                         title=topic.title), topic.id)


@COMMANDS.command(
    "editprompt", N_("Reword guiding question N of this topic everywhere"),
    Param("number", "number", N_("The question's number"), required=True),
    Param("question", "text", N_("The new wording"), required=True),
    facilitator=True,
    usage=N_("Usage: /editprompt N <question> — for example /editprompt 2 What changed for you?"),
)
async def editprompt(call: Call, number: int, question: str) -> str:
    ctx = call.ctx
    topic, prompt, changed = await call.core.edit_prompt(
        ctx.actor, ctx.where, number, question, platform_admin=ctx.platform_admin,
        reply_to=ctx.reply_to)
    if not changed:
        return Answer(call.t("Question {position} of “{title}” already reads so.",
                             position=prompt.position, title=topic.title), topic.id)
    return Answer(call.t("Question {position} of “{title}” now reads, on every linked chat and in "
                         "the archive: {question}", position=prompt.position, title=topic.title,
                         question=prompt.question), topic.id)


@COMMANDS.command(
    "editintro", N_("Replace this topic's introduction everywhere"),
    Param("intro", "text", N_("The new introduction"), required=True),
    facilitator=True, usage=N_("Usage: /editintro <introduction>"), about=TopicStatus.OPEN,
)
async def editintro(call: Call, intro: str) -> str:
    ctx = call.ctx
    topic, changed = await call.core.edit_topic(ctx.actor, ctx.where, intro,
                                                platform_admin=ctx.platform_admin,
                                                reply_to=ctx.reply_to)
    if not changed:
        return Answer(call.t("The introduction of “{title}” already reads so.", title=topic.title),
                      topic.id)
    return Answer(call.t("The introduction of “{title}” was replaced on every linked chat and in "
                         "the archive.", title=topic.title), topic.id)


@COMMANDS.command("lock", N_("Lock this topic on every linked chat"),
                  Param("reason", "text", N_("Why (shown in the lock notice)")), facilitator=True,
                  about=TopicStatus.OPEN)
async def lock(call: Call, reason: str) -> str:
    return await _set_locked(call, True, reason or None)


@COMMANDS.command("unlock", N_("Reopen this topic"), facilitator=True, about=TopicStatus.LOCKED)
async def unlock(call: Call) -> str:
    return await _set_locked(call, False, None)


async def _set_locked(call: Call, locked: bool, reason: str | None) -> str:
    ctx = call.ctx
    topic, changed = await call.core.set_locked(ctx.actor, ctx.where, locked, reason,
                                                platform_admin=ctx.platform_admin,
                                                reply_to=ctx.reply_to)
    return lock_answer(call.t, topic.title, topic.is_locked, changed)


# /hide N, or /hide in reply to the post (Discord: its "Hide post" message menu).
@COMMANDS.command(
    "hide", N_("Hide post number N from every linked chat"),
    Param("number", "number", POST_NUMBER, or_reply=True), facilitator=True,
    usage=N_("Usage: /hide N — for example /hide 5 hides post #5."),
)
async def hide(call: Call, number: int | None) -> str:
    return await _set_hidden(call, True, number)


@COMMANDS.command(
    "unhide", N_("Show hidden post number N again"),
    Param("number", "number", POST_NUMBER, or_reply=True), facilitator=True,
    usage=N_("Usage: /unhide N — for example /unhide 5 shows post #5 again."),
)
async def unhide(call: Call, number: int | None) -> str:
    return await _set_hidden(call, False, number)


async def _set_hidden(call: Call, hidden: bool, number: int | None) -> str:
    ctx = call.ctx
    return await set_post_hidden(call.core, ctx.actor, ctx.where, hidden, number=number,
                                 reply_to=ctx.reply_to, platform_admin=ctx.platform_admin,
                                 lang=call.lang)


@COMMANDS.command("who", N_("Who has taken part in this topic, with their posts"),
                  facilitator=True, about=TopicStatus.OPEN, discreet=True)
async def who(call: Call) -> str:
    ctx = call.ctx
    return await who_command(call.core, ctx.actor, ctx.where, platform_admin=ctx.platform_admin,
                             reply_to=ctx.reply_to, lang=call.lang)


@COMMANDS.command("export", N_("Get this topic's archive (an HTML page) privately"),
                  facilitator=True, about=TopicStatus.OPEN)
async def export(call: Call) -> str:
    ctx = call.ctx
    return await export_command(call.core, ctx.actor, ctx.where, ctx.send_file,
                                platform_admin=ctx.platform_admin, reply_to=ctx.reply_to,
                                lang=call.lang)


@COMMANDS.command("digest", N_("Post a digest of this topic to every linked chat"),
                  facilitator=True, about=TopicStatus.OPEN)
async def digest(call: Call) -> str:
    ctx = call.ctx
    return await digest_command(call.core, ctx.actor, ctx.where, platform_admin=ctx.platform_admin,
                                reply_to=ctx.reply_to, lang=call.lang)


@COMMANDS.command("chatid", N_("This chat's id, to list it in a bridge (admins)"), scope="anywhere",
                  facilitator=True,
                  refusal=N_("Sorry, /{command} is for this chat's admins: it tells them the id "
                             "to put in bridgebot's settings."))
async def chatid(call: Call) -> str:
    """The id an operator puts in a ``[[bridges]]`` entry, asked in the chat itself: it
    works in chats no bridge lists yet. For the chat's admins (and configured
    facilitators) only, since it helps configure the bot, not take part."""
    where = call.ctx.where
    if where.thread_id:
        return call.t("This chat's id is {chat}; this thread's id is {thread}. A [[bridges]] "
                      "entry in bridgebot's settings lists the chat's id to bridge it.",
                      chat=where.chat_id, thread=where.thread_id)
    return call.t("This chat's id is {chat}. A [[bridges]] entry in bridgebot's settings lists "
                  "it to bridge this chat.", chat=where.chat_id)


@COMMANDS.command(
    "alias", N_("Choose the name the other linked chats see"),
    Param("name", "text", N_("Your alias (“off” removes it; empty: see what they see)")),
    scope="private", discreet=True,
)
async def alias(call: Call, name: str) -> str:
    ctx = call.ctx
    return await alias_command(call.core, ctx.actor, ctx.where, name, bridges=ctx.bridges,
                               lang=call.lang)


CONFIRM = Param("confirm", "flag", N_("True, after reading the first answer, to erase"))


@COMMANDS.command("forgetme", N_("Erase your posts and your name (asks to confirm)"), CONFIRM,
                  scope="private", usage=N_("Usage: /forgetme, then {command} to confirm."))
async def forgetme(call: Call, confirm: bool) -> str:
    return await forgetme_command(call.core, call.ctx.actor, "confirm" if confirm else "",
                                  lang=call.lang, confirm=call.ctx.spell("forgetme", CONFIRM),
                                  later=call.ctx.answer_later)
