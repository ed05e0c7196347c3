"""Slash commands and the message menu: what people do in Discord beyond writing posts.

Every interaction is deferred at once (Discord's 3-second window) and answered
ephemerally in the person's language; facilitator commands carry
``default_member_permissions`` so Discord hides them from others, and the bot still
checks on every call. :class:`SlashCommands` is a part of :class:`DiscordAdapter`,
kept in its own module so that intake and delivery read on their own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import discord
from discord import app_commands

from bridgebot.adapters.discord.common import FACILITATOR_PERMISSIONS, NO_MENTIONS, PLATFORM, member_name
from bridgebot.adapters.discord.settings import DiscordSettings
from bridgebot.core import errors
from bridgebot.core.commands import help_for, lock_answer
from bridgebot.core.digest import digest_command
from bridgebot.core.models import Author, ChannelRef
from bridgebot.core.moderation import set_post_hidden
from bridgebot.core.privacy import alias_command, forgetme_command
from bridgebot.core.reading import catchup_command, overview
from bridgebot.core.service import Discussions
from bridgebot.i18n import DEFAULT_LANGUAGE, N_, Translator, catalog_messages, normalize_locale, translator


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

    def add_commands(self, tree: app_commands.CommandTree) -> None:
        facilitator = app_commands.default_permissions(manage_threads=True)

        # Descriptions are message ids: CommandTranslator gives Discord their translations.
        @tree.command(name="newtopic", description=N_("Open a topic on every linked chat"))
        @app_commands.describe(title=N_("The topic's title"), intro=N_("The introduction"))
        @app_commands.guild_only()
        @facilitator
        async def newtopic(interaction: discord.Interaction, title: str, intro: str = "") -> None:
            async def work(ctx: _Ctx) -> str:
                topic = await ctx.core.open_topic(ctx.actor, ctx.where, title, intro,
                                                  platform_admin=ctx.admin)
                return ctx.t("Topic #{id} “{title}” is open on every linked chat.", id=topic.id,
                             title=topic.title)
            await self._run(interaction, work)

        @tree.command(name="prompt", description=N_("Add a guiding question to this topic"))
        @app_commands.describe(question=N_("The question"))
        @app_commands.guild_only()
        @facilitator
        async def prompt(interaction: discord.Interaction, question: str) -> None:
            async def work(ctx: _Ctx) -> str:
                topic, added = await ctx.core.add_prompt(ctx.actor, ctx.where, question,
                                                         platform_admin=ctx.admin)
                return ctx.t("Question {position} added to “{title}”.", position=added.position,
                             title=topic.title)
            await self._run(interaction, work)

        @tree.command(name="lock", description=N_("Lock this topic on every linked chat"))
        @app_commands.describe(reason=N_("Why (shown in the lock notice)"))
        @app_commands.guild_only()
        @facilitator
        async def lock(interaction: discord.Interaction, reason: str | None = None) -> None:
            await self._run(interaction, lambda ctx: self._set_locked(ctx, True, reason))

        @tree.command(name="unlock", description=N_("Reopen this topic"))
        @app_commands.guild_only()
        @facilitator
        async def unlock(interaction: discord.Interaction) -> None:
            await self._run(interaction, lambda ctx: self._set_locked(ctx, False, None))

        @tree.command(name="status", description=N_("How many posts, how many new for you"))
        @app_commands.guild_only()
        async def status(interaction: discord.Interaction) -> None:
            async def work(ctx: _Ctx) -> str:
                if not ctx.core.is_bridged(ctx.where):  # elsewhere: all of this person's topics
                    return await overview(ctx.core, ctx.actor, lang=ctx.t.locale)
                return await ctx.core.status(ctx.actor, ctx.where, platform_admin=ctx.admin,
                                             lang=ctx.t.locale)
            await self._run(interaction, work)

        @tree.command(name="catchup", description=N_("The posts that are new for you, with links"))
        @app_commands.guild_only()
        async def catchup(interaction: discord.Interaction) -> None:
            await self._run(interaction, lambda ctx: catchup_command(
                ctx.core, ctx.actor, ctx.where, self._message_link, lang=ctx.t.locale))

        @tree.command(name="hide", description=N_("Hide post number N from every linked chat"))
        @app_commands.describe(number=N_("The post's number (#N)"))
        @app_commands.guild_only()
        @facilitator
        async def hide(interaction: discord.Interaction, number: int) -> None:
            await self._run(interaction, lambda ctx: set_post_hidden(
                ctx.core, ctx.actor, ctx.where, True, number=number, platform_admin=ctx.admin,
                lang=ctx.t.locale))

        @tree.command(name="unhide", description=N_("Show hidden post number N again"))
        @app_commands.describe(number=N_("The post's number (#N)"))
        @app_commands.guild_only()
        @facilitator
        async def unhide(interaction: discord.Interaction, number: int) -> None:
            await self._run(interaction, lambda ctx: set_post_hidden(
                ctx.core, ctx.actor, ctx.where, False, number=number, platform_admin=ctx.admin,
                lang=ctx.t.locale))

        @tree.command(name="digest", description=N_("Post a digest of this topic to every linked chat"))
        @app_commands.guild_only()
        @facilitator
        async def digest(interaction: discord.Interaction) -> None:
            await self._run(interaction, lambda ctx: digest_command(
                ctx.core, ctx.actor, ctx.where, platform_admin=ctx.admin, lang=ctx.t.locale))

        async def hide_post(interaction: discord.Interaction, message: discord.Message) -> None:
            await self._run(interaction, lambda ctx: set_post_hidden(
                ctx.core, ctx.actor, ctx.where, True, reply_to=str(message.id),
                platform_admin=ctx.admin, lang=ctx.t.locale))

        # A menu label, not a typed command: its name is translated too.
        menu = app_commands.ContextMenu(name=N_("Hide post"), callback=hide_post)
        menu.guild_only = True
        menu.default_permissions = FACILITATOR_PERMISSIONS
        tree.add_command(menu)

        @tree.command(name="reply", description=N_("Reply to post number N of this topic"))
        @app_commands.describe(number=N_("The post's number (#N)"), text=N_("Your reply"))
        @app_commands.guild_only()
        async def reply(interaction: discord.Interaction, number: int, text: str) -> None:
            async def work(ctx: _Ctx) -> str:
                outcome = await ctx.core.reply_to_number(ctx.actor, ctx.where, number, text,
                                                         locale=ctx.t.locale)
                if outcome.answer:
                    return outcome.answer
                if outcome.post:
                    return ctx.t("Posted as #{number}.", number=outcome.post.number)
                return ctx.t("Nothing was posted: the message was empty.")
            await self._run(interaction, work)

        @tree.command(name="alias", description=N_("Choose the name the other linked chats see"))
        @app_commands.describe(name=N_("Your alias (“off” removes it; empty: see what they see)"))
        @app_commands.guild_only()
        async def alias(interaction: discord.Interaction, name: str = "") -> None:
            await self._run(interaction, lambda ctx: alias_command(
                ctx.core, ctx.actor, ctx.where, name, lang=ctx.t.locale))

        @tree.command(name="forgetme", description=N_("Erase your posts and your name (asks to confirm)"))
        @app_commands.describe(confirm=N_("True, after reading the first answer, to erase"))
        @app_commands.guild_only()
        async def forgetme(interaction: discord.Interaction, confirm: bool = False) -> None:
            await self._run(interaction, lambda ctx: forgetme_command(
                ctx.core, ctx.actor, "confirm" if confirm else "", lang=ctx.t.locale,
                confirm="/forgetme confirm:True"))

        @tree.command(name="help", description=N_("How to take part"))
        async def help_(interaction: discord.Interaction) -> None:
            assert self.core is not None
            t = self.core.translator_for(interaction.locale.value, self._where(interaction.channel))
            await interaction.response.send_message(help_for(self.core, t), ephemeral=True)

    def _message_link(self, place: ChannelRef, message_id: str) -> str | None:
        """A jump link to a message in a channel or thread of ours (embeds suppressed)."""
        if place.platform != PLATFORM or self.client is None:
            return None
        guild = getattr(self.client.get_channel(int(place.chat_id)), "guild", None)
        if guild is None:
            return None
        return f"<https://discord.com/channels/{guild.id}/{place.thread_id or place.chat_id}/{message_id}>"

    async def _set_locked(self, ctx: _Ctx, locked: bool, reason: str | None) -> str:
        topic, changed = await ctx.core.set_locked(ctx.actor, ctx.where, locked, reason,
                                                   platform_admin=ctx.admin)
        return lock_answer(ctx.t, topic.title, topic.is_locked, changed)

    def _is_facilitator_member(self, interaction: discord.Interaction) -> bool:
        if interaction.permissions.manage_threads:
            return True
        roles = getattr(interaction.user, "roles", [])
        wanted = {r.lower() for r in self.settings.facilitator_roles}
        return any(r.name.lower() in wanted or str(r.id) in wanted for r in roles)

    async def _run(self, interaction: discord.Interaction,
                   work: Callable[[_Ctx], Awaitable[str]]) -> None:
        """Defer at once (Discord's 3-second window), then answer ephemerally."""
        assert self.core is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        user = interaction.user
        where = self._where(interaction.channel)
        # The answer is for this person alone: their client's locale ("es-ES", "fr"), else the
        # chat's language (Discord has no Arabic locale: Arabic comes from the bridge setting).
        t = self.core.translator_for(interaction.locale.value, where)
        ctx = _Ctx(self.core, Author(PLATFORM, str(user.id), member_name(user)), where,
                   self._is_facilitator_member(interaction), t)
        try:
            answer = await work(ctx)
        except errors.RuleError as err:
            answer = err.render(t)
        except Exception:
            log.exception("discord command /%s failed", interaction.command and
                          interaction.command.name)
            answer = t("Sorry, something went wrong on our side; nothing was changed. Please try again.")
        await interaction.followup.send(answer[:2000], ephemeral=True,
                                        allowed_mentions=NO_MENTIONS)


class _Ctx:
    """Who ran a slash command, where, and whether Discord says they may facilitate."""

    def __init__(self, core: Discussions, actor: Author, where: ChannelRef, admin: bool,
                 t: Translator | None = None) -> None:
        self.core = core
        self.actor = actor
        self.where = where
        self.admin = admin
        self.t = t or translator()  # the answer's language: this person's
