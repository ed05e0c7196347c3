"""Slash commands and the message menu: what people do in Discord beyond writing posts.

The slash commands are generated from the core's command table (names, options from the
parameters, localized descriptions); Discord hands over the options already split and the
table runs the command, as for every platform. Every interaction is deferred at once
(Discord's 3-second window) unless the command needs no storage, and answered ephemerally
in the person's language; facilitator commands carry ``default_member_permissions`` so
Discord hides them from others, and the bot still checks on every call.
:class:`SlashCommands` is a part of :class:`DiscordAdapter`, kept in its own module so that
intake and delivery read on their own.
"""

from __future__ import annotations

import inspect
import io
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import cast

import discord
from discord import app_commands

from bridgebot.adapters.discord import markdown, render
from bridgebot.adapters.discord.common import (
    FACILITATOR_PERMISSIONS,
    NO_MENTIONS,
    PLATFORM,
    classify,
    member_name,
)
from bridgebot.adapters.discord.settings import DiscordSettings
from bridgebot.core.commandkit import SORRY, Command, CommandContext, Kind, Value
from bridgebot.core.commands import COMMANDS
from bridgebot.core.models import Author, ChannelRef
from bridgebot.core.ratelimit import RateBudget
from bridgebot.core.richtext.spans import Span
from bridgebot.core.service import Discussions
from bridgebot.core.text import split_text
from bridgebot.i18n import DEFAULT_LANGUAGE, N_, catalog_messages, normalize_locale

TOPIC_OPTION = N_("Which topic (its number), when several are open in this channel")

# Discord's option type for each kind of parameter (the core's numbers are post numbers).
OPTION_TYPES: dict[Kind, type] = {"number": int, "line": str, "text": str, "flag": bool}


class CommandTranslator(app_commands.Translator):
    """Slash command descriptions (and the "Hide post" menu label) from bridgebot's catalogs.

    Command and option names stay English in every language, so ``/status`` is ``/status``
    for everyone; Discord shows the translated descriptions to people whose client uses
    that locale. Discord has no Arabic locale, so Arabic never appears here.
    """

    async def translate(self, string: app_commands.locale_str, locale: discord.Locale,
                        context: app_commands.TranslationContextTypes) -> str | None:
        location = context.location
        names = (app_commands.TranslationContextLocation.command_name,
                 app_commands.TranslationContextLocation.group_name,
                 app_commands.TranslationContextLocation.parameter_name)
        if location in names and not isinstance(context.data, app_commands.ContextMenu):
            return None
        lang = normalize_locale(locale.value)
        if lang is None or lang == DEFAULT_LANGUAGE:
            return None
        return catalog_messages(lang)[0].get(string.message)


log = logging.getLogger("bridgebot.adapters.discord.adapter")


class SlashCommands:
    """The slash commands of :class:`~bridgebot.adapters.discord.adapter.DiscordAdapter`.

    A part of the adapter (it is mixed into it): it uses the adapter's core, settings
    and client, declared here for readers and type checkers.
    """

    core: Discussions | None
    settings: DiscordSettings
    client: discord.Client | None
    budget: RateBudget

    def _where(self, channel: object) -> ChannelRef:
        raise NotImplementedError  # the adapter's: a channel or thread as the core names it

    def add_commands(self, tree: app_commands.CommandTree) -> None:
        """One slash command per entry of the command table, and the "Hide post" menu."""
        for command in COMMANDS:
            tree.add_command(self._slash_command(command))

        async def hide_post(interaction: discord.Interaction, message: discord.Message) -> None:
            await self._run(interaction, COMMANDS.commands["hide"], {}, reply_to=str(message.id))

        # A menu label, not a typed command: its name is translated too.
        menu = app_commands.ContextMenu(name=N_("Hide post"), callback=hide_post)
        menu.guild_only = True
        menu.default_permissions = FACILITATOR_PERMISSIONS
        tree.add_command(menu)

    def _slash_command(self, command: Command) -> app_commands.Command:
        """``command`` as discord.py's app command: its options are the table's parameters.

        Names stay English; descriptions are message ids that :class:`CommandTranslator`
        gives Discord in every language.
        """
        async def callback(interaction: discord.Interaction, /, **values: Value) -> None:
            await self._run(interaction, command, values)

        params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    annotation=discord.Interaction)]
        for param in command.params:
            kind = OPTION_TYPES[param.kind]
            required = param.required or param.or_reply  # a slash command answers no message
            params.append(inspect.Parameter(
                param.name, inspect.Parameter.KEYWORD_ONLY,
                annotation=kind if required else kind | None,
                default=inspect.Parameter.empty if required else None,
            ))
        if command.about is not None:  # where several topics could be meant: which one
            params.append(inspect.Parameter("topic", inspect.Parameter.KEYWORD_ONLY,
                                            annotation=int | None, default=None))
        callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        callback.__name__ = callback.__qualname__ = command.name
        descriptions = {p.name: p.description for p in command.params}
        if command.about is not None:
            descriptions["topic"] = TOPIC_OPTION
        if descriptions:
            callback = app_commands.describe(**descriptions)(callback)
        if command.scope != "anywhere":
            callback = app_commands.guild_only()(callback)
        if command.facilitator:
            callback = app_commands.default_permissions(manage_threads=True)(callback)
        return app_commands.Command(name=command.name, description=command.description,
                                    callback=callback)

    def _message_link(self, place: ChannelRef, message_id: str) -> str | None:
        """A jump link to a message in a channel or thread of ours (embeds suppressed)."""
        if place.platform != PLATFORM or self.client is None:
            return None
        guild = getattr(self.client.get_channel(int(place.chat_id)), "guild", None)
        if guild is None:
            return None
        return f"<https://discord.com/channels/{guild.id}/{place.thread_id or place.chat_id}/{message_id}>"

    def _is_facilitator_member(self, interaction: discord.Interaction) -> bool:
        if interaction.permissions.manage_threads:
            return True
        roles = getattr(interaction.user, "roles", [])
        wanted = {r.lower() for r in self.settings.facilitator_roles}
        return any(r.name.lower() in wanted or str(r.id) in wanted for r in roles)

    @staticmethod
    async def _send_ephemeral_file(interaction: discord.Interaction, name: str, data: bytes,
                                   caption: str) -> bool:
        """A file only the person who asked sees (``/export``): an ephemeral follow-up."""
        await interaction.followup.send(caption, file=discord.File(io.BytesIO(data), filename=name),
                                        ephemeral=True, allowed_mentions=NO_MENTIONS)
        return True

    async def _run(self, interaction: discord.Interaction, command: Command,
                   values: Mapping[str, Value], *, reply_to: str | None = None) -> None:
        """Defer at once (Discord's 3-second window) unless the command needs no storage,
        then answer ephemerally, in the person's language.

        Every piece of the answer goes through the send budget, keyed by the interaction
        (its follow-ups are a webhook of their own, with its own limits, valid for 15
        minutes): a 429 that discord.py's own five tries did not get past is waited out
        and the piece sent again, in order, in the background; a failure is logged with
        the command's name, never lost silently.
        """
        assert self.core is not None
        if not command.instant:
            try:
                await interaction.response.defer(ephemeral=True, thinking=True)
            except Exception as err:  # not acknowledged: the answer tries the response itself
                log.warning("discord could not acknowledge /%s: %s", command.name,
                            classify(err, "interaction"))
        where = self._where(interaction.channel)
        # The answer is for this person alone: their client's locale ("es-ES", "fr"), else the
        # chat's language (Discord has no Arabic locale: Arabic comes from the bridge setting).
        locale = interaction.locale.value
        values, text, spans = _read_markdown(interaction, command, values)
        try:
            ctx = CommandContext(
                Author(PLATFORM, str(interaction.user.id), member_name(interaction.user)), where,
                platform_admin=self._is_facilitator_member(interaction), reply_to=reply_to,
                link=self._message_link, locale=locale, named_options=True,
                send_file=lambda *file: self._send_ephemeral_file(interaction, *file),
                text=text, spans=spans,
            )
            answer = await COMMANDS.invoke(self.core, ctx, command, values)
        except Exception:
            log.exception("discord command /%s failed", command.name)
            answer = self.core.translator_for(locale, where)(SORRY)
        # A long answer (/catchup's list, a long help_text) arrives whole, in several messages.
        target = ChannelRef(PLATFORM, f"interaction:{interaction.id}")
        for piece in split_text(answer, render.LIMIT) or [answer]:
            await self.budget.send(target, _answer_piece(interaction, command, piece),
                                   what=f"answer to /{command.name}")


def _read_markdown(interaction: discord.Interaction, command: Command,
                   values: Mapping[str, Value]) -> tuple[dict[str, Value], str, tuple[Span, ...]]:
    """A command's free-text options read as a Discord message's content is: ``**bold**``
    and ``[t](url)`` become spans over plain text (``/reply N text`` posts them as
    formatting, not as raw markdown), and ``<@id>`` the member's shown name, never the id.

    Returns the options with plain text, and the last text option's text and spans (the
    text a command posts, :meth:`CommandContext.formatting_of`).
    """
    guild = interaction.guild

    def names(kind: str, ident: str) -> tuple[str, str | None]:
        member = guild.get_member(int(ident)) if guild is not None and ident.isdigit() \
            and kind in ("@", "@!") else None
        if member is None:
            return markdown.no_names(kind, ident)
        return f"@{member_name(member)}", f"{PLATFORM}:{ident}"

    read = dict(values)
    text, spans = "", cast(tuple[Span, ...], ())
    for param in command.params:
        raw = read.get(param.name)
        if param.kind == "text" and isinstance(raw, str) and raw:
            text, spans = markdown.parse(raw, names)
            read[param.name] = text
    return read, text, spans


def _answer_piece(interaction: discord.Interaction, command: Command,
                  piece: str) -> Callable[[], Awaitable[None]]:
    """Send one piece: the interaction's response if nothing answered it yet, else a
    follow-up; Discord's refusals become the core's delivery errors."""
    async def send() -> None:
        try:
            if interaction.response.is_done():
                await interaction.followup.send(piece, ephemeral=True,
                                                allowed_mentions=NO_MENTIONS)
            else:
                await interaction.response.send_message(piece, ephemeral=True,
                                                        allowed_mentions=NO_MENTIONS)
        except Exception as err:
            raise classify(err, f"interaction /{command.name}") from err
    return send
