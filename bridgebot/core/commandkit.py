"""How a chat command is declared once and run the same way from every platform.

A command is a :class:`Command` record in a :class:`CommandTable`: its name, a translated
description, who may run it, where, its parameters with their kinds, and the function that
runs it. Platforms generate what they show from the table (Telegram's menu, Discord's slash
commands) and hand what people typed to :meth:`CommandTable.run_text` (text platforms) or
:meth:`CommandTable.invoke` (structured options): the gate, the facilitator check, the
argument checks and the answer are the same code for all of them.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from bridgebot.core import errors
from bridgebot.core.models import Author, ChannelRef, TopicStatus
from bridgebot.core.names import AuthorMode, mode_of
from bridgebot.core.reading import LinkMaker
from bridgebot.core.richtext.spans import Span, slice_spans
from bridgebot.core.service import Discussions, TopicChoice
from bridgebot.i18n import N_, Translator

log = logging.getLogger(__name__)

# What a parameter holds and how a text platform reads it from the rest of the message:
#   number: a post number, ``5`` or ``#5`` (any script's decimal digits); Discord: integer
#   line:   words up to the end of the first line; Discord: string
#   text:   everything left, lines included; Discord: string
#   flag:   the parameter's own name as a word (``/forgetme confirm``); Discord: boolean
Kind = Literal["number", "line", "text", "flag"]
# Where a command works: only in a bridged chat; also in a private chat with the bot (about
# the person's own discussions); anywhere at all.
Scope = Literal["bridged", "private", "anywhere"]
Value = int | str | bool | None

# Numbers past SQLite's INTEGER (and PostgreSQL's BIGINT) name no post: answered, not looked up.
NUMBER_MAX = 2**63 - 1
SORRY = N_("Sorry, something went wrong on our side; nothing was changed. Please try again.")
UNKNOWN = N_("I don't know /{name}. /help lists what I understand.")
# A discreet command run in a group of a pseudonym bridge (see Command.discreet):
ANSWERED_PRIVATELY = N_("I have answered you in a private message.")
ANSWER_ONLY_PRIVATELY = N_(
    "So that nobody here learns who takes part, I answer /{name} only in a private chat: open "
    "a chat with me ({bot}), press Start and send /{name} there. Nothing was changed.")
PRIVATE_ONLY_HINT = N_("Use this command in a bridged group chat. Here, "
                       "/status and /catchup show what is new for you.")


class Answer(str):
    """A command's answer that is about one topic ("Topic #1 … is open", "Question 2
    added", a /status): platforms remember where they sent it (:meth:`Discussions.note_answer`),
    so that a reply to it is a reply to the topic, as a reply to the topic's message is."""

    topic_id: int

    def __new__(cls, text: str, topic_id: int) -> Answer:
        answer = super().__new__(cls, text)
        answer.topic_id = topic_id
        return answer


def answer_topic(answer: str) -> int | None:
    """The topic an answer is about, when it is an :class:`Answer`."""
    return answer.topic_id if isinstance(answer, Answer) else None


@dataclass(frozen=True)
class Param:
    """One parameter of a command; ``description`` is an ``N_`` message id."""

    name: str
    kind: Kind
    description: str
    required: bool = False
    # May be left out when the command answers a message (``/hide`` in reply to a post);
    # where commands cannot answer a message (Discord's slash commands) it is required.
    or_reply: bool = False

    @property
    def default(self) -> Value:
        return {"number": None, "flag": False}.get(self.kind, "")


@dataclass(frozen=True)
class CommandContext:
    """Who typed a command, where, and what the platform says about them: the one context
    every platform builds (the console, Telegram and Discord alike)."""

    actor: Author
    where: ChannelRef
    platform_admin: bool = False
    message_id: str | None = None
    reply_to: str | None = None
    # For /status and /catchup outside a bridged chat (a private chat with the bot): the
    # bridges whose chats the person is in, and how to link to a message on this platform.
    bridges: tuple[str, ...] = ()
    link: LinkMaker | None = None
    # The person's app language: the answer is written in it when bridgebot speaks it, else
    # in the chat's language.
    locale: str | None = None
    private: bool = False  # a one-to-one chat with the bot
    # Sends a file to this person alone (file name, content, caption), True if it reached
    # them: Telegram's private chat, Discord's ephemeral answer. None: the platform cannot.
    send_file: Callable[[str, bytes, str], Awaitable[bool]] | None = None
    named_options: bool = False  # arguments are named options (Discord): ``confirm:True``
    # Where intake must not wait for a slow answer (Telegram takes updates one at a time):
    # a command whose answer comes later (/forgetme confirm, after the copies were edited)
    # hands it here to be sent when ready, and answers nothing at once.
    answer_later: Callable[[Awaitable[str]], None] | None = None
    # The whole message as typed and its formatting (core/richtext), where the platform
    # gives it: the text a command posts (/reply N text) keeps its bold words and links.
    text: str = ""
    spans: tuple[Span, ...] = ()

    def formatting_of(self, part: str) -> tuple[Span, ...]:
        """The spans over ``part``, a piece of :attr:`text` (a command's last argument)."""
        at = self.text.rfind(part) if part and self.spans else -1
        return slice_spans(self.spans, at, at + len(part)) if at >= 0 else ()

    def spell(self, command: str, flag: Param) -> str:
        """How a person sets a flag on this platform: ``/forgetme confirm`` or
        ``/forgetme confirm:True``."""
        return f"/{command} {flag.name}" + (":True" if self.named_options else "")


@dataclass(frozen=True)
class Call:
    """One run of a command, given to its function: the core, the context and the
    translator of the answer (the person's language, else the chat's)."""

    core: Discussions
    ctx: CommandContext
    t: Translator
    command: Command

    @property
    def lang(self) -> str:
        return self.t.locale


Runner = Callable[..., Awaitable[str]]  # (call: Call, **arguments) -> the answer


@dataclass(frozen=True)
class Command:
    """One chat command, as every platform offers it."""

    name: str
    description: str  # an N_ message id: menus and slash commands show its translation
    run: Runner
    params: tuple[Param, ...] = ()
    facilitator: bool = False  # only facilitators may run it (menus hide it from others)
    scope: Scope = "bridged"
    usage: str | None = None  # N_ id answered when the arguments do not fit
    aliases: tuple[str, ...] = ()
    admin_view: bool = False  # platform admins see more: ask the platform who they are
    instant: bool = False  # needs no storage: a platform may answer without deferring
    # Its answer can tell who takes part ("… is the name of someone else in this discussion"):
    # on a bridge that shows pseudonyms it is given to the person alone (see answer_privately).
    discreet: bool = False
    # The topics it acts on when several could be meant (open ones; locked ones for /unlock):
    # it then takes a topic number (``/lock 2``, Discord's ``topic`` option). None: no number.
    about: TopicStatus | None = None
    refusal: str | None = None  # N_ id answered to non-facilitators instead of the usual one

    @property
    def needs_rights(self) -> bool:
        """Whether the platform should find out if the person is one of its admins."""
        return self.facilitator or self.admin_view

    def usage_error(self, ctx: CommandContext) -> errors.InvalidInput:
        flag = next((p for p in self.params if p.kind == "flag"), None)
        spelled = {"command": ctx.spell(self.name, flag)} if flag else {}
        return errors.InvalidInput(self.usage or UNKNOWN, name=self.name, **spelled)

    def parse(self, args: str, ctx: CommandContext) -> dict[str, Value]:
        """Read the arguments of a text command (``/reply 3 I agree``) by the parameters'
        kinds; what does not fit is answered with the command's usage."""
        rest = args.strip()
        values: dict[str, Value] = {}
        for param in self.params:
            if param.kind == "line":
                line, _, rest = rest.partition("\n")
                values[param.name] = line.strip()
            elif param.kind == "text":
                values[param.name], rest = rest, ""
            else:
                word, rest = _next_word(rest)
                values[param.name] = self._word(param, word, ctx)
            rest = rest.strip()
        if rest and self.params:
            raise self.usage_error(ctx)
        return values

    def _word(self, param: Param, word: str, ctx: CommandContext) -> Value:
        if param.kind == "flag":
            if word and word.casefold() != param.name:
                raise self.usage_error(ctx)
            return bool(word)
        digits = word.removeprefix("#")
        if not word:
            return None
        if not digits.isdecimal():  # "³" is a digit but not a number; "٣" is 3
            raise self.usage_error(ctx)
        return int(digits)

    def check(self, values: Mapping[str, Value], ctx: CommandContext) -> dict[str, Value]:
        """The same checks for typed and structured arguments: required ones present,
        numbers that can name a post. Missing optional ones get their defaults."""
        checked: dict[str, Value] = {}
        for param in self.params:
            value = values.get(param.name, param.default)
            if value is None:
                value = param.default
            if param.required and (value is None or (isinstance(value, str) and not value.strip())):
                raise self.usage_error(ctx)
            if param.kind == "number" and isinstance(value, int):
                if value < 0:
                    raise self.usage_error(ctx)
                if value > NUMBER_MAX:
                    raise errors.UnknownPost(value)
            checked[param.name] = value
        return checked


def _next_word(text: str) -> tuple[str, str]:
    parts = text.split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


@dataclass
class CommandTable:
    """Every chat command, in menu order; add one with the :meth:`command` decorator."""

    commands: dict[str, Command] = field(default_factory=dict)

    def command(self, name: str, description: str, *params: Param, facilitator: bool = False,
                scope: Scope = "bridged", usage: str | None = None,
                aliases: tuple[str, ...] = (), admin_view: bool = False,
                instant: bool = False, discreet: bool = False,
                about: TopicStatus | None = None,
                refusal: str | None = None) -> Callable[[Runner], Runner]:
        """Declare the decorated ``async def f(call, **arguments) -> str`` as ``/name``."""
        def register(run: Runner) -> Runner:
            declared = list(inspect.signature(run).parameters)[1:]
            if declared != [p.name for p in params]:
                raise TypeError(f"/{name}: {run.__qualname__} takes {declared}, "
                                f"the table says {[p.name for p in params]}")
            self.commands[name] = Command(name, description, run, params, facilitator, scope,
                                          usage, aliases, admin_view, instant, discreet, about,
                                          refusal)
            return run
        return register

    def __iter__(self) -> Iterator[Command]:
        return iter(self.commands.values())

    def find(self, name: str) -> Command | None:
        """The command called ``name`` (or one of its aliases), if there is one."""
        name = name.lower()
        if name in self.commands:
            return self.commands[name]
        return next((c for c in self.commands.values() if name in c.aliases), None)

    def names(self) -> set[str]:
        """Every name a text platform accepts: the commands and their aliases."""
        return {n for c in self for n in (c.name, *c.aliases)}

    async def run_text(self, core: Discussions, ctx: CommandContext, name: str, args: str) -> str:
        """``/name args`` typed on a text platform (the console, Telegram)."""
        command = self.find(name)
        t = core.translator_for(ctx.locale, ctx.where)
        try:
            _gate(core, ctx, command.scope if command else "bridged")
            if command is None:
                raise errors.InvalidInput(UNKNOWN, name=name)
        except errors.RuleError as err:
            return err.render(t)
        number, args = await _topic_number(core, ctx, command, args)
        return await self._run(core, ctx, command, lambda: command.parse(args, ctx), t, number)

    async def invoke(self, core: Discussions, ctx: CommandContext, command: Command,
                     values: Mapping[str, Value]) -> str:
        """A command whose arguments the platform already split into named options (Discord);
        ``topic`` is the topic number option of commands :attr:`Command.about` topics."""
        t = core.translator_for(ctx.locale, ctx.where)
        try:
            _gate(core, ctx, command.scope)
        except errors.RuleError as err:
            return err.render(t)
        options = dict(values)
        number = options.pop("topic", None)
        chosen = number if isinstance(number, int) and not isinstance(number, bool) else None
        return await self._run(core, ctx, command, lambda: options, t, chosen)

    async def _run(self, core: Discussions, ctx: CommandContext, command: Command,
                   arguments: Callable[[], dict[str, Value]], t: Translator,
                   topic_number: int | None = None) -> str:
        """Check rights, then arguments, then run: refusals are polite answers in the
        person's language, and nothing a person types raises."""
        choice = TopicChoice(command.name, topic_number, command.about or TopicStatus.OPEN,
                             numbered=command.about is not None, named_options=ctx.named_options)
        try:
            if command.facilitator and not await core.is_facilitator(ctx.actor, ctx.platform_admin):
                raise errors.NotFacilitator(command.name, command.refusal)
            values = command.check(arguments(), ctx)
            with core.choosing(choice):
                return await command.run(Call(core, ctx, t, command), **values)
        except errors.RuleError as err:
            return err.render(t)
        except Exception as err:
            if core.storage.is_failure(err):
                raise  # not done, not answered: intake holds the message and tries again
            # The command's name only: what people type is never logged.
            log.exception("command /%s failed", command.name)
            return t(SORRY)


def answer_privately(core: Discussions, ctx: CommandContext, command: Command | None) -> bool:
    """Whether this answer must reach the person alone: a discreet command typed in a
    group of a bridge that shows pseudonyms, where the group must not learn who takes part.
    Platforms whose answers are private anyway (Discord's ephemeral ones) need not ask."""
    if command is None or not command.discreet or ctx.private or not core.is_bridged(ctx.where):
        return False
    return mode_of(core.bridges, core.bridge_of(ctx.where).name) is AuthorMode.PSEUDONYM


async def _topic_number(core: Discussions, ctx: CommandContext, command: Command,
                        args: str) -> tuple[int | None, str]:
    """``/lock 2 reason``: a leading number names a topic only where several could be meant
    and it is one of them; anywhere else it stays part of the text (``/prompt 3 ways …``)."""
    if command.about is None or not core.is_bridged(ctx.where):
        return None, args
    word, rest = _next_word(args)
    digits = word.removeprefix("#")
    if not digits.isdecimal() or len(digits) > 18:
        return None, args
    choices = await core.topic_choices(ctx.where, ctx.reply_to, command.about)
    if int(digits) not in {t.id for t in choices}:
        return None, args
    return int(digits), rest


def _gate(core: Discussions, ctx: CommandContext, scope: Scope) -> None:
    """Outside a bridged chat only some commands make sense; say so the same way everywhere."""
    if scope == "anywhere" or core.is_bridged(ctx.where):
        return
    if ctx.private and scope == "private":
        return
    if ctx.private:
        raise errors.InvalidInput(PRIVATE_ONLY_HINT)
    raise errors.NotBridged(ctx.where.chat)
