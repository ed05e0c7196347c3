"""The Telegram adapter: python-telegram-bot's ``Application`` at the edge of the core.

Intake: updates are fetched with ``getUpdates`` (or received on a webhook) and
placed one at a time, in order (a person's plain text post read from the JSON, anything
else parsed by python-telegram-bot: see ``wire``); the posts of one ``getUpdates`` answer are queued
one behind the other and share commits, and the offset that confirms them to
Telegram is saved with the last post of each commit, never before what the updates
carried was committed. python-telegram-bot's own ``Updater``
confirms updates as soon as they are queued, before handlers finish, so we drive
``getUpdates`` ourselves (the library still does the HTTP). A crash between commit
and offset save makes Telegram send the update again; the message map's UNIQUE key
records it once.

Delivery: topics become forum topics in forum supergroups (``createForumTopic``) or a
bot message in plain groups; questions and mirrored posts are HTML bot messages that
reply to the mapped parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

from aiohttp import web
from telegram import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeDefault,
    InputFile,
    Message,
    ReplyParameters,
    Update,
)
from telegram import error as tg
from telegram.constants import ChatAction, ChatMemberStatus, ParseMode
from telegram.ext import Application, ApplicationBuilder

from bridgebot.adapters.telegram import media, render
from bridgebot.adapters.telegram.errors import classify, retry_seconds
from bridgebot.adapters.telegram.richtext import spans_from_entities
from bridgebot.adapters.telegram.settings import TelegramSettings
from bridgebot.adapters.telegram.wire import Raw, is_topic_opening, plain_post, shown_name
from bridgebot.core import errors
from bridgebot.core.attachments import human_size, lines_for, split_fitting
from bridgebot.core.commandkit import (
    ANSWER_ONLY_PRIVATELY,
    ANSWERED_PRIVATELY,
    answer_privately,
    answer_topic,
)
from bridgebot.core.commands import (
    COMMANDS,
    CommandContext,
    for_another_bot,
    lock_notice,
    parse_command,
    run_command,
)
from bridgebot.core.models import (
    Action,
    Attachment,
    Author,
    ChannelRef,
    Delivery,
    DeliveryResult,
    IncomingMessage,
    Post,
)
from bridgebot.core.ratelimit import ANSWER_PATIENCE, PlatformLimits, RateBudget, Window
from bridgebot.core.relay import describe
from bridgebot.core.richtext.spans import Span, shift
from bridgebot.core.service import Discussions
from bridgebot.core.text import clip_units, split_text
from bridgebot.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, Translator, translator
from bridgebot.store.leader import AlwaysLeader, Leadership

log = logging.getLogger(__name__)
Finish = Callable[[], Awaitable[None]]  # waits for an update's post to commit, then answers

NO_PIN_NOTICE = N_("For facilitators: I could not pin this topic here. To have each new topic "
                   "pinned, make me an admin with the right to pin messages (or pin it yourself).")

PLATFORM = "telegram"
ALLOWED_UPDATES = ["message", "edited_message"]
# PTB gives up on an answer after 5 s; a sendMessage that then arrives anyway would be
# sent again. Telegram answers well within this unless something is badly wrong.
SEND_TIMEOUT = 30.0
WEBHOOK_PATIENCE = 10.0  # seconds an update waits for the database before Telegram is told to resend
# An album's items arrive as separate updates close together: after a batch that ends in
# one, up to this many short polls of this many seconds collect the rest.
ALBUM_POLLS = 3
ALBUM_WAIT = 1
CURSOR = "telegram.offset"
# What a mirror too old to delete (Telegram: 48 hours) reads after /hide.
HIDDEN_TEXT = N_("[hidden by a facilitator]")  # getUpdates offset: saved with the post the update carried
ADMIN_STATUSES = {ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR}
MEMBER_STATUSES = ADMIN_STATUSES | {ChatMemberStatus.MEMBER, ChatMemberStatus.RESTRICTED}


def message_link(where: ChannelRef, message_id: str) -> str | None:
    """``https://t.me/c/<id>/<message>``: opens a message of a supergroup for its members.

    Basic groups have no message links, so they get none.
    """
    if where.platform != PLATFORM or not where.chat_id.startswith("-100"):
        return None
    return f"https://t.me/c/{where.chat_id[4:]}/{message_id}"


def display_name(user: object) -> str:
    """:func:`~bridgebot.adapters.telegram.wire.shown_name` of a parsed ``User`` (or a
    chat's title fields): first and last name only."""
    return shown_name(getattr(user, "first_name", None), getattr(user, "last_name", None))


def message_author(message: Message) -> Author | None:
    """Who wrote a message, as the bridge names them; None for bots (our own messages too).

    A message sent on behalf of a chat carries it in ``sender_chat`` and a placeholder user
    (GroupAnonymousBot, Channel_Bot: bots) in ``from``. An anonymous administrator writes as
    the group itself: named by their custom title (``author_signature``) or the group's
    title, never as the person; a person writing as a channel is the channel, by its title.
    Their id is the chat's (negative, so it never meets a person's).
    """
    sender = message.sender_chat
    if sender is not None:
        if sender.id == message.chat.id:
            name = message.author_signature or sender.title or "Group administrator"
        else:
            name = sender.title or "Telegram channel"
        return Author(PLATFORM, str(sender.id), name)
    user = message.from_user
    if user is None or user.is_bot:
        return None
    return Author(PLATFORM, str(user.id), display_name(user))


def is_anonymous_admin(message: Message) -> bool:
    """Written by an administrator as the group itself: only administrators can."""
    return message.sender_chat is not None and message.sender_chat.id == message.chat.id


def replied_to(message: Message) -> Message | None:
    """The message ``message`` replies to, if it answers one: not the topic's creation,
    which every post of a forum topic nominally replies to (:func:`wire.is_topic_opening`)."""
    reply = message.reply_to_message
    return None if reply is None or is_topic_opening(reply) else reply


def is_service(message: Message) -> bool:
    """A service message (topic created/renamed/closed/reopened, a pin, members joining or
    leaving, a new title or photo): what the app shows as a grey line, never a person's post.
    People's messages carry text, a caption or content (``effective_attachment``)."""
    return message.text is None and message.caption is None and not message.effective_attachment


def message_text(message: Message) -> str:
    """The text of a message, with a placeholder for media so nothing silently vanishes."""
    caption = message.caption or ""
    if message.text is not None:
        return message.text
    kinds = (
        ("photo", "[photo]"), ("video", "[video]"), ("animation", "[animation]"),
        ("voice", "[voice message]"), ("video_note", "[video message]"), ("audio", "[audio]"),
        ("location", "[location]"), ("poll", "[poll]"), ("contact", "[contact]"),
    )
    label = "[attachment]"
    if message.document is not None:
        label = f"[document: {message.document.file_name or 'file'}]"
    elif message.sticker is not None:
        label = f"[sticker {message.sticker.emoji or ''}]".replace(" ]", "]")
    else:
        for attr, name in kinds:
            if getattr(message, attr, None):
                label = name
                break
    return f"{label} {caption}".strip()


def albums(updates: Sequence[Raw]) -> list[list[Raw]]:
    """Updates in order, the photos and videos of one album (``media_group_id``) together:
    they become one post. Telegram sends an album's items one after the other, in one
    batch of updates."""
    groups: list[list[Raw]] = []
    for update in updates:
        message = update.message
        group_id = message.get("media_group_id") if message is not None else None
        previous = groups[-1][-1].message if groups else None
        if (group_id is not None and message is not None and previous is not None
                and previous.get("media_group_id") == group_id
                and previous["chat"]["id"] == message["chat"]["id"]):
            groups[-1].append(update)
        else:
            groups.append([update])
    return groups


def _result(ids: tuple[str, ...], thread_id: str | None = None) -> DeliveryResult:
    """A delivery's result; the pieces after the first were counted in the budget as they
    went (the relay's turn counted the first)."""
    return DeliveryResult(ids, thread_id, paced=max(0, len(ids) - 1))


def message_spans(message: Message, text: str) -> tuple[Span, ...]:
    """The formatting of ``text`` (:func:`message_text`): the text's entities, or the
    caption's, moved past the placeholder that precedes a caption."""
    if message.text is not None:
        return spans_from_entities(message.text, message.entities)
    caption = message.caption
    if not caption or not text.endswith(caption):
        return ()
    return shift(spans_from_entities(caption, message.caption_entities), len(text) - len(caption))


class TelegramAdapter:
    """Telegram through python-telegram-bot; the relay keeps sends inside ``limits``."""

    platform = PLATFORM
    # Telegram's published limits (core.telegram.org/bots/faq, "My bot is hitting limits"):
    # about 1 message per second in a chat, 20 per minute in a group (its forum topics
    # share both: a topic is not a chat of its own), 30 per second in all. While several
    # topics of a group wait, its minute is paced as 5 per 15 s, so a busy forum does not
    # spend it in the first 20 seconds and then wait 40 (docs/rate-limits.md).
    limits = PlatformLimits(
        per_target=(Window(1, 1.0), Window(20, 60.0)),
        per_platform=(Window(30, 1.0),),
        max_length=render.LIMIT,
        paced=(Window(5, 15.0),),
    )

    def __init__(self, settings: TelegramSettings, *, poll_timeout: float = 25.0,
                 limits: PlatformLimits | None = None, send_timeout: float = SEND_TIMEOUT) -> None:
        self.settings = settings
        if limits is not None:
            self.limits = limits
        # Every message goes through a send budget; the runtime replaces this one with the
        # process's, shared with the relay.
        self.budget = RateBudget({PLATFORM: self.limits})
        self.poll_timeout = poll_timeout
        self.send_timeout = send_timeout
        self.core: Discussions | None = None
        self.app: Application | None = None
        self.username: str | None = None
        self._intake: asyncio.Task[None] | None = None
        # Set by the runtime: with several workers on one PostgreSQL only the one leading
        # "telegram-polling" calls getUpdates (two pollers on one token conflict).
        self.leader: Leadership = AlwaysLeader("telegram-polling")
        self._webhook_runner: web.AppRunner | None = None
        self._forum: dict[str, bool] = {}
        self._told_no_pin: set[str] = set()  # chats told the bot may not pin there
        self._offset_saved: int | None = None  # the getUpdates offset the database holds
        # How long a message waits for a refused database write inside one update: without
        # limit when polling (the offset waits too); bounded for a webhook, which answers
        # Telegram with an error instead so that it sends the update again.
        self._patience = WEBHOOK_PATIENCE if settings.mode == "webhook" else None
        self.parked = 0  # updates passed over after a failure that was not the database's
        self._late: set[asyncio.Task[None]] = set()  # answers sent when ready (_answer_later)

    # -- lifecycle ---------------------------------------------------------------

    def _build(self) -> Application:
        root = self.settings.base_url.rstrip("/")
        return (
            ApplicationBuilder()
            .token(self.settings.token.get_secret_value())
            .base_url(f"{root}/bot")
            .base_file_url(f"{root}/file/bot")
            .updater(None)
            .get_updates_read_timeout(self.poll_timeout + 10)
            .read_timeout(self.send_timeout)
            .write_timeout(self.send_timeout)
            .build()
        )

    async def start(self, core: Discussions) -> None:
        self.core = core
        self.app = self._build()
        try:
            await self.app.initialize()  # getMe: fails fast on a wrong token
        except tg.InvalidToken:
            raise errors.PermanentError(
                "Telegram refused the bot token (telegram.token): check it with @BotFather"
            ) from None
        self.username = self.app.bot.username
        await self._register_commands()
        bridged = [c.chat_id for c in core.channels(PLATFORM)]
        log.info("telegram connected as @%s; bridging chats %s", self.username,
                 ", ".join(bridged) or "none")
        if self.settings.mode == "webhook":
            await self._start_webhook()
        else:
            with contextlib.suppress(tg.TelegramError):
                await self.app.bot.delete_webhook(drop_pending_updates=False)
            self._intake = asyncio.create_task(self._poll_when_leading(), name="telegram-poll")

    async def stop_intake(self) -> None:
        """Stop the getUpdates loop (or the webhook's listener) and keep the bot open for
        sending: the relay delivers what is due before :meth:`stop`. An update not yet
        committed keeps its offset unconfirmed, so Telegram sends it again next start."""
        if self._intake is not None:
            self._intake.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._intake
            self._intake = None
        if self._webhook_runner is not None:
            await self._webhook_runner.cleanup()
            self._webhook_runner = None

    async def stop(self) -> None:
        await self.stop_intake()
        for task in list(self._late):  # late answers wait for the relay, which has stopped
            task.cancel()
        if self.app is not None:
            with contextlib.suppress(Exception):
                await self.app.shutdown()

    def health_problem(self) -> str | None:
        """Why this adapter is not up (for ``/healthz``), or None: logged in, and updates
        arrive (a webhook is served, or the getUpdates loop runs)."""
        if self.app is None or self.username is None:
            return "telegram: not connected (the bot has not logged in)"
        if self._webhook_runner is not None:
            return None
        if self._intake is None or self._intake.done():
            return "telegram: not receiving updates (the getUpdates loop has stopped)"
        return None

    async def _register_commands(self) -> None:
        """The menu, from the command table: participants see participant commands; chat
        admins see all of them.

        Command names stay the same in every language; the English menu is the default (no
        ``language_code``), each other shipped language gets its own with translated
        descriptions, which Telegram shows to people whose app is set to it.
        """
        assert self.app is not None
        try:
            for lang in LANGUAGES:
                t = translator(lang)
                code = None if lang == DEFAULT_LANGUAGE else lang
                everything = [BotCommand(c.name, t(c.description)) for c in COMMANDS]
                everyone = [BotCommand(c.name, t(c.description)) for c in COMMANDS
                            if not c.facilitator]
                await self.app.bot.set_my_commands(everyone, scope=BotCommandScopeDefault(),
                                                   language_code=code)
                await self.app.bot.set_my_commands(
                    everything, scope=BotCommandScopeAllChatAdministrators(), language_code=code
                )
        except tg.TelegramError as err:
            log.warning("could not register the Telegram command menu: %s", err)

    # -- intake ------------------------------------------------------------------

    async def _poll_when_leading(self) -> None:
        """Poll while this worker leads the polling role; wait to lead again if it is lost."""
        while True:
            await self.leader.wait()
            await self._poll()
            if not await self.leader.leads():
                log.warning("this worker no longer leads telegram polling; waiting")
                continue
            return  # the loop ended on its own (a refused token)

    async def _poll(self) -> None:
        """Long-poll getUpdates; confirm an update only after it was handled. Returns when
        the token is refused, or when this worker stops leading the polling role (the offset
        is read again from the database when it leads again: another worker moved it)."""
        assert self.app is not None and self.core is not None
        cursor = await self.core.intake_cursor(CURSOR)
        offset = self._offset_saved = int(cursor) if cursor else None
        delay = 1.0
        while True:
            if not await self.leader.leads():
                return
            try:
                updates = await self._get_updates(offset, int(self.poll_timeout))
                delay = 1.0
            except tg.RetryAfter as err:
                await asyncio.sleep(retry_seconds(err))
                continue
            except tg.InvalidToken:
                log.error("Telegram refused the bot token; stopping Telegram intake")
                return
            except tg.TelegramError as err:
                log.warning("getUpdates failed (%s); retrying in %.0fs", err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60)
                continue
            updates = await self._rest_of_album(list(updates))
            if updates:
                await self._take(albums(updates))
                offset = updates[-1].update_id + 1  # confirmed by the next getUpdates

    async def _get_updates(self, offset: int | None, timeout: int) -> list[Raw]:
        """``getUpdates`` through python-telegram-bot's HTTP and error handling, its answer
        left as JSON: each update is parsed only as far as it needs (see ``wire``)."""
        assert self.app is not None
        bot = self.app.bot
        result = await bot._post(  # what Bot.get_updates does, without Update.de_list
            "getUpdates",
            {"timeout": timeout, "offset": offset, "allowed_updates": ALLOWED_UPDATES},
            read_timeout=self.poll_timeout + 10 + timeout,
        )
        if not isinstance(result, list):
            raise tg.TelegramError(f"getUpdates answered {type(result).__name__}, not a list")
        return [Raw(data, bot) for data in result if isinstance(data, dict)]

    async def _rest_of_album(self, updates: list[Raw]) -> list[Raw]:
        """An album's items are separate updates sent one after the other: when a batch ends
        inside one, ask (briefly) for the items still on their way, so that the album is one
        post. A failure here leaves them to the next getUpdates."""
        assert self.app is not None
        for _ in range(ALBUM_POLLS):
            last = updates[-1].message if updates else None
            if last is None or last.get("media_group_id") is None:
                break
            try:
                more = await self._get_updates(updates[-1].update_id + 1, ALBUM_WAIT)
            except tg.TelegramError:
                break
            if not more:
                break
            updates += more
        return updates

    async def _take(self, groups: Sequence[Sequence[Raw]]) -> None:
        """Handle one ``getUpdates`` answer (each album one group) and save the offset after
        it, never acknowledging what was not committed.

        Posts are queued one after the other, in order, without waiting for each commit, so
        that they share commits; each carries its update's offset, saved in the same
        transaction, so the offset saved is that of the last post committed. A command or
        an edit runs only once everything before it is committed (a /lock comes after the
        posts above it; an edit finds its post) and its offset is saved right after it. If
        no post carried the answer's last offset, it is saved on its own at the end.

        While the database refuses writes the posts are held and tried again, in order
        (the offset stays where it is, so Telegram keeps the updates); an update that fails
        for any other reason is logged with its id and reason (never its text), counted,
        and passed over, so one bad update never stops the ones behind it.
        """
        assert self.core is not None
        waiting: list[tuple[Raw, Finish]] = []

        async def settle() -> None:
            while waiting:
                update, finish = waiting.pop(0)
                await self._finish(update, finish)

        gathered: contextlib.ExitStack | None = None  # the posts up to the next command
        try:
            for group in groups:
                update = group[-1]
                if self._in_order(update):
                    if gathered is not None:
                        gathered.close()
                        gathered = None
                    await settle()
                    await self._handle(update, album=group)
                    await self._save_offset(update.update_id + 1)
                    continue
                if gathered is None:
                    gathered = contextlib.ExitStack()
                    gathered.enter_context(self.core.together())
                offset = (CURSOR, str(update.update_id + 1))
                finish = await self._queue(update, group, offset)
                if finish is not None:
                    waiting.append((update, finish))
        finally:
            if gathered is not None:
                gathered.close()
        await settle()
        last = groups[-1][-1].update_id + 1
        if self._offset_saved != last:  # no post carried it: save it on its own
            await self._save_offset(last)

    def _in_order(self, update: Raw) -> bool:
        """Whether an update must wait for everything before it to be committed: an edit
        (of a post that may still be queued) or a command (a /lock after the posts)."""
        if update.data.get("edited_message") is not None:
            return True
        text = update.message.get("text") if update.message is not None else None
        return (isinstance(text, str) and bool(text)
                and parse_command(text, self.username) is not None)

    async def _save_offset(self, offset: int) -> None:
        assert self.core is not None
        core = self.core
        await core.held(lambda: core.save_intake_cursor(CURSOR, str(offset)), "the Telegram offset")
        self._offset_saved = offset

    async def _queue(self, update: Raw, album: Sequence[Raw],
                     offset: tuple[str, str]) -> Finish | None:
        """Place one update and queue its post (see :meth:`_take`); what finishes it."""
        assert self.core is not None
        try:
            return await self.core.held(lambda: self._on_update(update, album, offset),
                                        f"telegram update {update.update_id}")
        except Exception as err:
            if self._storage_failure(err):
                raise
            self._park(update, err)
            return None

    async def _finish(self, update: Raw, finish: Finish) -> None:
        """Wait for an update's post to be committed and answer what it needs."""
        try:
            await finish()
        except Exception as err:
            if self._storage_failure(err):
                raise
            self._park(update, err)

    def _park(self, update: Raw, err: BaseException) -> None:
        self.parked += 1
        log.error("telegram update %d could not be handled and was passed over: %s",
                  update.update_id, describe(err))

    async def _start_webhook(self) -> None:
        assert self.app is not None
        hook = self.settings.webhook
        if hook is None:
            raise errors.PermanentError(
                "telegram.mode is webhook but [telegram.webhook] is not set "
                "(listen, port, public_url, secret_token)"
            )
        server = web.Application()
        server.router.add_post("/{tail:.*}", self._on_webhook)
        self._webhook_runner = web.AppRunner(server)
        await self._webhook_runner.setup()
        await web.TCPSite(self._webhook_runner, hook.listen, hook.port).start()
        await self.app.bot.set_webhook(
            hook.public_url, secret_token=hook.secret_token.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False,
        )
        log.info("telegram webhook listening on %s:%d", hook.listen, hook.port)

    async def _on_webhook(self, request: web.Request) -> web.Response:
        """Answer 200 only after the update was handled: Telegram resends otherwise."""
        assert self.app is not None and self.settings.webhook is not None
        expected = self.settings.webhook.secret_token.get_secret_value()
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != expected:
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
            update = Update.de_json(data, self.app.bot)
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="not an update")
        try:
            await self._handle(Raw(data, self.app.bot, update), self._patience)
        except Exception as err:
            if not self._storage_failure(err):
                raise
            # Not committed: an error answer makes Telegram send the update again later.
            log.warning("telegram update %d not taken (database unavailable); Telegram "
                        "will send it again", update.update_id)
            return web.Response(status=503, text="database unavailable, send again later")
        return web.Response(text="ok")

    def _storage_failure(self, err: BaseException) -> bool:
        return self.core is not None and self.core.storage.is_failure(err)

    async def _handle(self, update: Raw, patience: float | None = None,
                      album: Sequence[Raw] = ()) -> None:
        """Hand one update to :meth:`_on_update`, held while the database refuses writes.

        A storage failure past ``patience`` is raised (the update was not committed and must
        not be acknowledged); any other failure is logged with the update's id and reason
        (never its text), counted in ``parked``, and the update passed over, so one bad
        update never stops the ones behind it.

        Not through ``Application.process_update``: it marks every update's chat and user
        for persistence (PTB 22), and with no persistence configured nothing ever clears
        those sets, so every chat and person that ever wrote to the bot would stay in
        memory. bridgebot keeps its state in its own database and has a single handler,
        so the ``Application`` only builds and initializes the bot.
        """
        assert self.core is not None
        try:
            finish = await self.core.held(lambda: self._on_update(update, album),
                                          f"telegram update {update.update_id}", patience)
            if finish is not None:
                await finish()
        except Exception as err:
            if self._storage_failure(err):
                raise
            self._park(update, err)

    async def _on_update(self, raw: Raw, album: Sequence[Raw] = (),
                         offset: tuple[str, str] | None = None) -> Finish | None:
        """Take one update: a command or an edit is done when this returns; a post is queued
        (with ``offset``, saved in its commit), and what is returned waits for its commit
        and answers the author. A person's plain text post is read from the JSON
        (``wire.plain_post``); everything else from python-telegram-bot's ``Update``."""
        assert self.core is not None
        plain = plain_post(raw, cursor=offset, album_complete=bool(album))
        if plain is not None:
            def parsed() -> Message:
                message = raw.update.message
                assert message is not None
                return message

            return await self._accept(plain, parsed, offset)
        update = raw.update
        message = update.message or update.edited_message
        if message is None or is_service(message):
            return None
        author = message_author(message)
        if author is None:
            return None
        where = self._where(message)
        # "ru", "pt-br", or None (also for chats: a placeholder user has no language).
        locale = message.from_user.language_code if message.sender_chat is None and \
            message.from_user is not None else None
        text = message_text(message)
        items = [m for u in album if (m := u.update.message) is not None] or [message]
        incoming: list[media.Incoming] = []
        for item in items:
            found, stand_in = media.files_of(item)
            incoming += found
            if stand_in is not None:  # an animated sticker: its emoji
                text = stand_in
        if incoming:  # the caption is the post's text (an album's one caption)
            text = next((m.caption for m in items if m.caption), "") or ""
            message = items[0] if update.message is not None else message
        captioned = next((m for m in items if m.caption), None) if incoming else None
        if captioned is not None:  # the post's text is that caption: its formatting
            spans = spans_from_entities(text, captioned.caption_entities)
        else:
            spans = () if incoming else message_spans(message, text)
        if update.edited_message is not None:
            edited = parse_command(text, self.username) if message.text else None
            if edited is not None:  # an edited /prompt or /newtopic rewords what it made
                await self.core.edited_command(where, str(message.message_id), *edited)
            elif not text.startswith("/"):
                outcome = await self.core.edit_message(
                    where, str(message.message_id), text, message.edit_date or datetime.now(UTC),
                    spans, locale=locale)
                if outcome.answer:
                    await self._answer(message, outcome.answer)
            return None
        if message.text and for_another_bot(message.text, self.username):
            return None
        command = parse_command(text, self.username) if message.text else None
        if command is not None:
            await self._command(message, where, author, *command, locale=locale)
            return None
        reply_to = replied_to(message)
        attachments: tuple[Attachment, ...] = ()
        if incoming and self.core.is_bridged(where):
            attachments = tuple([await media.fetch(self.app.bot if self.app else None,  # type: ignore[arg-type]
                                                   self.core.files, f, self.send_timeout)
                                 for f in incoming])
        answered = message
        return await self._accept(IncomingMessage(
            where=where, message_id=str(message.message_id), author=author, text=text,
            sent_at=message.date, reply_to_message_id=str(reply_to.message_id) if reply_to else None,
            cursor=offset, locale=locale, spans=spans,
            chat_title=message.chat.title if message.chat.type != "private" else None,
            attachments=attachments,
            threadless=message.chat.type in ("group", "supergroup") and not message.chat.is_forum,
            # An album's items after the first join its post, however they arrive: in one
            # batch (polling), or one webhook request each (see Discussions._join_album).
            album=items[0].media_group_id if incoming else None,
            album_complete=bool(album),  # polling asked for the rest (_rest_of_album)
        ), lambda: answered, offset)

    async def _accept(self, incoming: IncomingMessage, answered: Callable[[], Message],
                      offset: tuple[str, str] | None) -> Finish:
        """Queue a message's post; what waits for its commit and answers in reply to
        ``answered()`` (the person's message, parsed only if an answer is sent)."""
        assert self.core is not None
        later = await self.core.accept(incoming, patience=self._patience)
        core, attachments = self.core, incoming.attachments
        locale, where = incoming.locale, incoming.where

        async def finish() -> None:
            outcome = await later()
            if outcome.post is not None and not outcome.duplicate and offset is not None:
                # committed together with the post (and any saved after it is larger)
                self._offset_saved = max(self._offset_saved or 0, int(offset[1]))
            if outcome.answer:
                await self._answer(answered(), outcome.answer)
            if outcome.post is not None and not outcome.duplicate:
                too_big = media.too_big(attachments)
                if too_big:  # told once, in their language, why the others see only a line
                    t = core.translator_for(locale, where)
                    await self._answer(answered(), "\n".join(t(
                        "{name} ({size}) is larger than the {limit} Telegram lets a bot fetch, so "
                        "the other chats see only its name, type and size.", name=a.name,
                        size=human_size(a.size), limit=human_size(media.DOWNLOAD_MAX))
                        for a in too_big))

        return finish

    def _where(self, message: Message) -> ChannelRef:
        thread = str(message.message_thread_id) if message.is_topic_message else None
        return ChannelRef(PLATFORM, str(message.chat.id), thread)

    async def _command(self, message: Message, where: ChannelRef, author: Author, name: str,
                       args: str, *, locale: str | None = None) -> None:
        """What Telegram alone knows goes into the context (admin rights, private chats and
        the person's groups); the command table does the rest, as on every platform."""
        assert self.core is not None
        command = COMMANDS.find(name)
        private = message.chat.type == "private"
        ctx = CommandContext(author, where, message_id=str(message.message_id), link=message_link,
                             locale=locale, private=private, text=message.text or "",
                             spans=message_spans(message, message.text or ""),
                             answer_later=lambda answer: self._answer_later(message, answer),
                             send_file=lambda *file: self._send_privately(author, *file))
        if private and command is not None and command.scope == "private":
            ctx = await self._private(ctx)
        elif (command is not None and command.needs_rights and not private
              and (command.scope == "anywhere" or self.core.is_bridged(where))):
            # Elsewhere the command is refused before rights matter: no getChatMember for it.
            ctx = replace(ctx, platform_admin=await self._is_chat_admin(message))
        reply = replied_to(message)
        if reply is not None:
            ctx = replace(ctx, reply_to=str(reply.message_id))
        if answer_privately(self.core, ctx, command):
            await self._command_privately(message, replace(ctx, answer_later=None), name, args)
            return
        answer = await run_command(self.core, ctx, name, args)
        if answer:
            await self._answer(message, answer)

    def _answer_later(self, message: Message, answer: Awaitable[str]) -> None:
        """Send an answer that takes a while (/forgetme confirm waits for the copies' edits)
        in the background: updates are taken one at a time, and the next must not wait."""
        async def send() -> None:
            try:
                await self._answer(message, await answer)
            except Exception:
                log.exception("a late answer in chat %s could not be sent", message.chat.id)

        task = asyncio.create_task(send(), name="telegram-late-answer")
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def _command_privately(self, message: Message, ctx: CommandContext, name: str,
                                 args: str) -> None:
        """Run a discreet command typed in a group and answer in the private chat with the
        person; the group only reads a sentence that is the same whatever the answer was.

        A bot may not write first to someone who never started it: a chat action (nothing
        the person sees as a message) asks Telegram whether it may, before anything is
        changed, so that a person who cannot be told is not changed either.
        """
        assert self.app is not None and self.core is not None
        t = self.core.translator_for(ctx.locale, ctx.where)
        private = ChannelRef(PLATFORM, ctx.actor.user_id)
        try:
            if ctx.actor.user_id.startswith("-"):  # written as a group or channel: no one to ask
                raise tg.Forbidden("a chat has no private chat with the bot")
            await self.app.bot.send_chat_action(int(ctx.actor.user_id), ChatAction.TYPING)
        except tg.TelegramError as err:  # Forbidden: never started, or blocked the bot
            log.info("could not write privately to a telegram user: %s", err)
            await self._answer(message, t(ANSWER_ONLY_PRIVATELY, name=name,
                                          bot=f"@{self.username}" if self.username else "t.me"))
            return
        answer = await run_command(self.core, ctx, name, args)

        def sender(piece: str) -> Callable[[], Awaitable[None]]:
            async def send() -> None:
                assert self.app is not None
                try:
                    await self.app.bot.send_message(int(ctx.actor.user_id), piece)
                except tg.TelegramError as err:
                    raise classify(err, "a private chat") from err
            return send

        for piece in split_text(answer, render.LIMIT, render.length) or [answer]:
            await self.budget.send(private, sender(piece))
        await self._answer(message, t(ANSWERED_PRIVATELY))

    async def _send_privately(self, person: Author, name: str, data: bytes, caption: str) -> bool:
        """A document in the person's private chat with the bot (``/export``); False when
        Telegram refuses because they never started the bot (or blocked it)."""
        assert self.app is not None
        await self.budget.acquire(ChannelRef(PLATFORM, person.user_id))
        try:
            await self.app.bot.send_document(int(person.user_id), InputFile(data, filename=name),
                                             caption=caption, read_timeout=self.send_timeout,
                                             write_timeout=self.send_timeout)
        except tg.Forbidden:
            log.info("telegram: user %s has not started the bot; no private file sent",
                     person.user_id)
            return False
        except tg.TelegramError as err:
            raise classify(err, f"private chat {person.user_id}") from err
        return True

    async def _private(self, ctx: CommandContext) -> CommandContext:
        """In a private chat, /status, /catchup and /alias are about the bridged groups this
        person is a member of (and those they wrote in), with links into those groups."""
        assert self.core is not None
        chats = await self._member_chats(int(ctx.actor.user_id))
        bridges = tuple(sorted({self.core.bridge_of(chat).name for chat in chats}))
        member_of = {chat.chat_id for chat in chats}

        def link(place: ChannelRef, message_id: str) -> str | None:
            return message_link(place, message_id) if place.chat_id in member_of else None

        return replace(ctx, bridges=bridges, link=link)

    async def _member_chats(self, user_id: int) -> list[ChannelRef]:
        """The bridged Telegram chats a person is in (asked of Telegram, one chat at a time)."""
        assert self.app is not None and self.core is not None
        found = []
        for chat in self.core.channels(PLATFORM):
            try:
                member = await self.app.bot.get_chat_member(int(chat.chat_id), user_id)
            except tg.TelegramError as err:
                log.info("could not check membership in chat %s: %s", chat.chat_id, err)
                continue
            if member.status in MEMBER_STATUSES:
                found.append(chat)
        return found

    async def _is_chat_admin(self, message: Message) -> bool:
        assert self.app is not None
        if message.sender_chat is not None:  # the group itself (its admins alone), or a channel
            return is_anonymous_admin(message)
        assert message.from_user is not None
        try:
            member = await self.app.bot.get_chat_member(message.chat.id, message.from_user.id)
        except tg.TelegramError as err:
            log.warning("could not check admin rights in chat %s: %s", message.chat.id, err)
            return False
        return member.status in ADMIN_STATUSES

    async def _answer(self, message: Message, text: str) -> None:
        """Answer a person in place, inside the chat's send budget, in several messages when
        it is long (the limit counts UTF-16 units).

        A 429 is waited out (Telegram's ``retry_after``) and the answer sent again, in the
        background when the wait is long, so the chat's next updates are not held up; the
        pieces keep their order; a failure is logged, never raised (see :meth:`RateBudget.send`).
        An answer about a topic is remembered where it was sent: a reply to it is a post.
        """
        topic_id = answer_topic(text)

        def sender(piece: str) -> Callable[[], Awaitable[None]]:
            async def send() -> None:
                try:
                    sent = await message.reply_text(piece, do_quote=True)
                except tg.TelegramError as err:
                    raise classify(err, f"chat {message.chat.id}") from err
                if topic_id is not None and self.core is not None:
                    await self.core.note_answer(self._where(message), topic_id,
                                                [str(sent.message_id)])
            return send

        for piece in split_text(text, render.LIMIT, render.length) or [text]:
            await self.budget.send(ChannelRef(PLATFORM, str(message.chat.id)), sender(piece))

    # -- delivery ----------------------------------------------------------------

    async def _is_forum(self, chat_id: str) -> bool:
        assert self.app is not None
        if chat_id not in self._forum:
            try:
                chat = await self.app.bot.get_chat(int(chat_id))
            except tg.TelegramError as err:
                raise classify(err, f"chat {chat_id}") from err
            self._forum[chat_id] = bool(chat.is_forum)
        return self._forum[chat_id]

    def _chat_translator(self, target: ChannelRef) -> Translator:
        """What the bot posts into a chat is for everyone there: the chat's language."""
        return translator(self.core.chat_language(target) if self.core else None)

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        assert self.app is not None
        target = delivery.target
        t = self._chat_translator(target)
        if delivery.action is Action.OPEN_TOPIC:
            thread_id = None
            if await self._is_forum(target.chat_id):
                await self.budget.acquire(target)  # its service message counts as a send
                try:
                    topic = await self.app.bot.create_forum_topic(
                        int(target.chat_id), delivery.topic.title[:128]
                    )
                except tg.TelegramError as err:
                    raise classify(err, f"chat {target.chat_id}") from err
                thread_id = str(topic.message_thread_id)
            ids = await self._send(target.chat_id, thread_id, None,
                                   render.topic_message(delivery.topic, t))
            await self._pin(target, thread_id, ids[0])
            return _result(ids, thread_id)
        if delivery.action is Action.PROMPT and delivery.prompt is not None:
            pieces = render.prompt_message(delivery.prompt, t)
        elif delivery.action is Action.POST and delivery.post is not None:
            quoted = delivery.parent if not delivery.reply_is_parent else None
            if delivery.post.attachments:
                ids, continued = await self._send_with_files(delivery, quoted)
                return DeliveryResult(ids, paced=continued)
            pieces = render.post_message(delivery.post, quoted)
        elif delivery.action is Action.NOTICE and delivery.notice:
            # Telegram counts the limit after parsing, so escaping does not lengthen it.
            pieces = [p for chunk in split_text(delivery.notice, render.LIMIT, render.length)
                      for p in render.notice(chunk)]
        else:
            return DeliveryResult()
        ids = await self._send(target.chat_id, target.thread_id, delivery.reply_to, pieces)
        return _result(ids)

    def _uploads(self, post: Post) -> tuple[list[tuple[Attachment, Path]], list[Attachment]]:
        """The files of a post that go as uploads (each one message, a media group's items
        too), and those that cannot (over 50 MB, 10 MB for a photo shown as one is sent as
        a document, more than ten, or no longer stored): they become lines naming them."""
        fit, left = split_fitting(post.attachments, media.LIMITS)
        files = self.core.files if self.core is not None else None
        paths = [(a, p) for a in fit if files is not None and (p := files.path(a)) is not None]
        return paths, left + [a for a in fit if all(a is not b for b, _ in paths)]

    async def _send_with_files(self, delivery: Delivery,
                               quoted: Post | None) -> tuple[tuple[str, ...], int]:
        """A post with files: one upload or media group carrying as much of the post as fits
        a caption (Telegram's 1024), the rest following as continuation messages, as a long
        text post's pieces follow its first; files that cannot go become lines naming them.
        Returns the messages and how many continuations were paced here."""
        assert self.app is not None and delivery.post is not None
        target, post = delivery.target, delivery.post
        paths, left = self._uploads(post)
        lines = lines_for([a for a in post.attachments if a in left])
        shown = replace(post, text="\n\n".join(x for x in (post.text, lines) if x))
        if not paths:
            pieces = render.post_message(shown, quoted)
            ids = await self._send(target.chat_id, target.thread_id, delivery.reply_to, pieces)
            return ids, len(ids) - 1
        pieces = render.post_message(shown, quoted, first_limit=media.CAPTION_LIMIT)
        reply_to = delivery.reply_to
        sent: list[Message] = []
        for caption, html in ((pieces[0][0], True), (pieces[0][1], False)):
            try:
                sent = await media.send_files(
                    self.app.bot, int(target.chat_id), paths, caption, html=html,
                    message_thread_id=int(target.thread_id) if target.thread_id else None,
                    reply_parameters=ReplyParameters(int(reply_to),
                                                     allow_sending_without_reply=True)
                    if reply_to else None,
                    read_timeout=self.send_timeout, write_timeout=self.send_timeout)
                break
            except tg.BadRequest as err:
                if not html or "can't parse entities" not in err.message.lower():
                    log.warning("telegram chat %s refused files: %s", target.chat_id, err.message)
                    raise classify(err, f"chat {target.chat_id}") from err
                log.warning("telegram chat %s could not parse our caption (%s); sending it as "
                            "plain text", target.chat_id, err.message)
            except tg.TelegramError as err:
                log.warning("telegram chat %s refused files: %s", target.chat_id, err.message)
                raise classify(err, f"chat {target.chat_id}") from err
        ids = tuple(str(m.message_id) for m in sent)
        more = await self._send(target.chat_id, target.thread_id, ids[-1], pieces[1:],
                                reserved=False)
        return ids + more, len(more)

    async def _pin(self, target: ChannelRef, thread_id: str | None, message_id: str) -> None:
        """Pin a new topic's message where the bot may (an admin with "Pin messages"). Where
        it may not, the chat is told once (while running), politely, how to allow it; the
        topic itself is delivered either way."""
        assert self.app is not None
        await self.budget.acquire(target)  # Telegram posts a "pinned" service message
        try:
            await self.app.bot.pin_chat_message(int(target.chat_id), int(message_id),
                                                disable_notification=True)
            return
        except tg.BadRequest as err:
            log.info("telegram chat %s: the topic message was not pinned: %s", target.chat_id,
                     err.message)
            refused = "rights" in err.message.lower()
        except tg.TelegramError as err:
            log.warning("telegram chat %s: pinning failed: %s", target.chat_id, err)
            return
        if not refused or target.chat_id in self._told_no_pin:
            return
        self._told_no_pin.add(target.chat_id)
        notice = self._chat_translator(target)(NO_PIN_NOTICE)
        try:
            await self.budget.acquire(target)
            await self._send(target.chat_id, thread_id, message_id, render.notice(notice))
        except errors.DeliveryError as err:
            log.warning("could not tell chat %s that pinning is not allowed: %s",
                        target.chat_id, err)

    def combinable(self, deliveries: Sequence[Delivery]) -> int:
        """How many queued posts fit one message (blocks joined by a blank line)."""
        length = count = 0
        for delivery in deliveries:
            assert delivery.post is not None
            _, plain = render.post_block(delivery.post, delivery.parent)
            length += render.length(plain) + (2 if count else 0)
            if length > render.LIMIT:
                break
            count += 1
        return count

    async def deliver_combined(self, deliveries: Sequence[Delivery]) -> DeliveryResult:
        """Queued posts as one message, each block with its author line, in order.

        Blocks quote their parent instead of replying natively: one message can only
        answer one other.
        """
        html, plain = self._combined_text([(d.post, d.parent) for d in deliveries
                                           if d.post is not None])
        target = deliveries[0].target
        sent = await self._send_one(target.chat_id, target.thread_id, None, html, plain)
        return DeliveryResult((str(sent.message_id),))

    async def _send(self, chat_id: str, thread_id: str | None, reply_to: str | None,
                    pieces: Sequence[tuple[str, str]], *, reserved: bool = True) -> tuple[str, ...]:
        """Send pieces in order; the first replies to ``reply_to``, the rest follow it.

        The relay's turn reserved one message (``reserved``; not when a file message took
        it and these continue it); each further piece waits for the chat's budget and is
        counted here (see :func:`_result`), and a 429 on a
        later piece is waited out and that piece sent again. Raising there would make the
        relay send the whole delivery again, repeating the pieces already shown.
        """
        target = ChannelRef(PLATFORM, chat_id, thread_id)
        ids: list[str] = []
        for html, plain in pieces:
            answer_to = reply_to if not ids else ids[-1]
            if not ids and reserved:  # the relay's turn (or the caller) reserved the first
                sent = await self._send_one(chat_id, thread_id, answer_to, html, plain)
            else:
                sent = await self._send_later_piece(target, answer_to, html, plain)
            ids.append(str(sent.message_id))
        return tuple(ids)

    async def _send_later_piece(self, target: ChannelRef, reply_to: str | None, html: str,
                                plain: str) -> Message:
        give_up = self.budget.clock() + ANSWER_PATIENCE
        while True:
            await self.budget.acquire(target)
            try:
                return await self._send_one(target.chat_id, target.thread_id, reply_to, html,
                                            plain)
            except errors.RateLimited as err:
                if self.budget.clock() + err.retry_after > give_up:
                    raise
                self.budget.hold(target, err.retry_after)
                log.info("telegram chat %s rate-limited a later piece; sending it again in %.1fs",
                         target.chat_id, err.retry_after)

    async def _send_one(self, chat_id: str, thread_id: str | None, reply_to: str | None,
                        html: str, plain: str) -> Message:
        assert self.app is not None
        kwargs: dict[str, object] = {
            "message_thread_id": int(thread_id) if thread_id else None,
            "reply_parameters": ReplyParameters(int(reply_to), allow_sending_without_reply=True)
            if reply_to else None,
            "disable_web_page_preview": True,
            "read_timeout": self.send_timeout,
            "write_timeout": self.send_timeout,
        }
        try:
            return await self.app.bot.send_message(int(chat_id), html, parse_mode=ParseMode.HTML,
                                                   **kwargs)
        except tg.BadRequest as err:
            if "can't parse entities" not in err.message.lower():
                log.warning("telegram chat %s refused a message: %s", chat_id, err.message)
                raise classify(err, f"chat {chat_id}") from err
            log.warning("telegram chat %s could not parse our HTML (%s); sending plain text",
                        chat_id, err.message)
        except tg.TelegramError as err:
            log.warning("telegram chat %s: %s", chat_id, err.message)
            raise classify(err, f"chat {chat_id}") from err
        try:
            return await self.app.bot.send_message(int(chat_id), plain, **kwargs)
        except tg.TelegramError as err:
            raise classify(err, f"chat {chat_id}") from err

    async def edit(self, delivery: Delivery) -> DeliveryResult | None:
        """A post's copies take its new text, formatting and reply quote (combined copies are
        re-rendered whole); a post grown past its messages continues in new ones, one shrunk
        has the extra ones deleted, and the result lists the messages that show it now. A
        reworded question or a new introduction (the topic's opening post) edits the bot's
        own messages that show them."""
        assert self.app is not None
        ids = await self._edit_own(delivery)
        if delivery.post is not None and delivery.post.is_opening and delivery.target.thread_id:
            await self._rename_forum_topic(delivery.target, delivery.topic.title[:128])
        if delivery.post is None or delivery.post.is_opening:
            return None
        for copy in delivery.combined:  # re-rendered whole: the others' posts stay as they are
            html, plain = self._combined_text([(post, parent) for post, parent in copy.parts])
            if render.length(plain) > render.LIMIT:  # longer names than before: cut the end
                plain = clip_units(plain, render.LIMIT - 1, render.length) + "…"
                html = render.notice(plain)[0][0]
            await self._edit_message(delivery.target, copy.message_ids[0], html)
        return DeliveryResult(ids) if ids is not None else None

    async def rewrite(self, delivery: Delivery) -> None:
        """The bot's own messages of a topic here, shown again with the texts as they are now
        (a forgotten person's name replaced): the topic, its questions, lock notices and
        digests. Bots may edit their own messages at any age."""
        t = self._chat_translator(delivery.target)
        topic = delivery.topic
        if delivery.target.thread_id and any(s.kind == "topic" for s in delivery.rewrites):
            await self._rename_forum_topic(delivery.target, topic.title[:128])
        for shown in delivery.rewrites:
            if shown.kind == "topic":
                pieces = render.topic_message(topic, t)
            elif shown.kind == "prompt" and shown.prompt is not None:
                pieces = render.prompt_message(shown.prompt, t)
            elif shown.kind in ("lock", "unlock"):
                locked = shown.kind == "lock"
                pieces = render.notice(lock_notice(t, topic.title, locked,
                                                   topic.lock_reason if locked else None))
            elif shown.kind == "notice" and shown.text:
                pieces = [p for chunk in split_text(shown.text, render.LIMIT, render.length)
                          for p in render.notice(chunk)]
            else:
                continue
            pieces = pieces[: len(shown.message_ids)]
            pieces += [(render.CONTINUED, render.CONTINUED)] * (len(shown.message_ids) - len(pieces))
            for message_id, (html, _) in zip(shown.message_ids, pieces, strict=False):
                await self._edit_message(delivery.target, message_id, html)

    @staticmethod
    def _combined_text(parts: Sequence[tuple[Post, Post | None]]) -> tuple[str, str]:
        """A combined message's (html, plain): one block per post, joined by a blank line."""
        blocks = [render.post_block(post, parent) for post, parent in parts]
        return "\n\n".join(h for h, _ in blocks), "\n\n".join(p for _, p in blocks)

    async def _edit_message(self, target: ChannelRef, message_id: str, html: str,
                            *, files_gone: bool = False) -> None:
        """Edit one of the bot's messages; a file's message has a caption instead of a text,
        and when its post no longer has the file (erased) the message goes (the caption is
        replaced where Telegram no longer lets the bot delete it)."""
        assert self.app is not None
        try:
            await self.app.bot.edit_message_text(
                html, chat_id=int(target.chat_id), message_id=int(message_id),
                parse_mode=ParseMode.HTML, disable_web_page_preview=True,
            )
        except tg.BadRequest as err:
            if "not modified" in err.message or "to edit not found" in err.message:
                return
            if "no text in the message" in err.message:  # a file's caption
                if files_gone:
                    with contextlib.suppress(tg.BadRequest):
                        await self.app.bot.delete_message(int(target.chat_id), int(message_id))
                        return
                await self._edit_caption(target, message_id, html)
                return
            raise classify(err, f"chat {target.chat_id}") from err
        except tg.TelegramError as err:
            raise classify(err, f"chat {target.chat_id}") from err

    async def _edit_own(self, delivery: Delivery) -> tuple[str, ...] | None:
        """The post's own messages (every piece of a long one), or the question's, or the
        topic message's. A post grown past its messages continues in new ones (each answering
        the one before), one shrunk has the extra ones deleted: the post's messages now
        (None: the same as before)."""
        if not delivery.message_ids:
            return None
        t = self._chat_translator(delivery.target)
        target = delivery.target
        post = delivery.post
        if post is not None and not post.is_opening and post.attachments:
            shown = await self._edit_files_post(delivery, post)
            if shown is not None:
                return shown
        if post is not None and not post.is_opening and not post.attachments:
            quoted = delivery.parent if not delivery.reply_is_parent else None
            pieces = render.post_message(post, quoted)
            ids = list(delivery.message_ids)
            for message_id, (html, plain) in zip(ids, pieces, strict=False):
                await self._edit_one(target.chat_id, message_id, html, plain)
            if len(pieces) > len(ids):
                ids += await self._send(target.chat_id, target.thread_id, ids[-1], pieces[len(ids):])
            elif len(pieces) < len(ids):
                for message_id in ids[len(pieces):]:
                    await self._delete_extra(target.chat_id, message_id)
                ids = ids[: len(pieces)]
            return tuple(ids)
        # A question, the topic's message, or a post with files sent the older way (its
        # text first, the files after it): as many messages as before, the end cut if it grew.
        if post is None:
            assert delivery.prompt is not None
            pieces = render.prompt_message(delivery.prompt, t)
        elif post.is_opening:
            pieces = render.topic_message(delivery.topic, t)
        else:
            quoted = delivery.parent if not delivery.reply_is_parent else None
            pieces = render.post_message(post, quoted)
        kept = delivery.message_ids
        if len(pieces) > len(kept):  # the edit grew: keep the message count, cut the end
            merged_plain = "\n\n".join(p for _, p in pieces[len(kept) - 1:])
            cut = clip_units(merged_plain, render.LIMIT - 1, render.length) + "…"
            pieces = [*pieces[: len(kept) - 1], (render.notice(cut)[0][0], cut)]
        if len(pieces) < len(kept) and post is not None and post.attachments:
            kept = kept[: len(pieces)]  # the files' messages follow the text: they stay
        elif len(pieces) < len(kept):  # the edit shrank (an erasure): the rest keep no words
            pieces = [*pieces, *[(render.CONTINUED, render.CONTINUED)] * (len(kept) - len(pieces))]
        gone = post is not None and not post.attachments
        for message_id, (html, _) in zip(kept, pieces, strict=False):
            await self._edit_message(target, message_id, html, files_gone=gone)
        return None

    async def _edit_files_post(self, delivery: Delivery, post: Post) -> tuple[str, ...] | None:
        """A post with files, edited as it was sent (:meth:`_send_with_files`): the file
        message's caption takes what fits, the continuation messages after the files the
        rest; a post grown past them continues in new ones, one shrunk has the extra ones
        deleted. The post's messages now, or None for a copy sent the older way (its text
        first, the files after it), which keeps its messages."""
        target = delivery.target
        paths, left = self._uploads(post)
        ids = list(delivery.message_ids)
        files = len(paths)  # one message each, a media group's items too
        if not files or files > len(ids):
            return None
        lines = lines_for([a for a in post.attachments if a in left])
        shown = replace(post, text="\n\n".join(x for x in (post.text, lines) if x))
        quoted = delivery.parent if not delivery.reply_is_parent else None
        pieces = render.post_message(shown, quoted, first_limit=media.CAPTION_LIMIT)
        if not await self._edit_file_caption(target, ids[0], *pieces[0]):
            return None
        continued, rest = ids[files:], pieces[1:]
        for message_id, (html, plain) in zip(continued, rest, strict=False):
            await self._edit_one(target.chat_id, message_id, html, plain)
        if len(rest) > len(continued):
            continued += await self._send(target.chat_id, target.thread_id,
                                          (ids[:files] + continued)[-1], rest[len(continued):],
                                          reserved=False)
        for message_id in continued[len(rest):]:
            await self._delete_extra(target.chat_id, message_id)
        return tuple(ids[:files] + continued[: len(rest)])

    async def _edit_file_caption(self, target: ChannelRef, message_id: str, html: str,
                                 plain: str) -> bool:
        """A file message's caption (plain when Telegram cannot parse the HTML); False when
        the message has no caption to edit (a text message)."""
        assert self.app is not None
        for caption, mode in ((html, ParseMode.HTML), (plain, None)):
            try:
                await self.app.bot.edit_message_caption(
                    chat_id=int(target.chat_id), message_id=int(message_id), caption=caption,
                    parse_mode=mode)
                return True
            except tg.BadRequest as err:
                lowered = err.message.lower()
                if "not modified" in lowered or "to edit not found" in lowered:
                    return True
                if "no caption" in lowered:
                    return False
                if mode is None or "can't parse entities" not in lowered:
                    raise classify(err, f"chat {target.chat_id}") from err
            except tg.TelegramError as err:
                raise classify(err, f"chat {target.chat_id}") from err
        return True

    async def _edit_one(self, chat_id: str, message_id: str, html: str, plain: str) -> None:
        assert self.app is not None
        try:
            await self.app.bot.edit_message_text(
                html, chat_id=int(chat_id), message_id=int(message_id),
                parse_mode=ParseMode.HTML, disable_web_page_preview=True,
            )
            return
        except tg.BadRequest as err:
            if "not modified" in err.message or "to edit not found" in err.message:
                return
            if "no text in the message" in err.message:  # a file's caption, its file erased
                with contextlib.suppress(tg.BadRequest):
                    await self.app.bot.delete_message(int(chat_id), int(message_id))
                    return
                await self._edit_caption(ChannelRef(PLATFORM, chat_id), message_id, html)
                return
            if "can't parse entities" not in err.message.lower():
                raise classify(err, f"chat {chat_id}") from err
            log.warning("telegram chat %s could not parse our HTML (%s); editing as plain text",
                        chat_id, err.message)
        except tg.TelegramError as err:
            raise classify(err, f"chat {chat_id}") from err
        try:
            await self.app.bot.edit_message_text(plain, chat_id=int(chat_id),
                                                 message_id=int(message_id),
                                                 disable_web_page_preview=True)
        except tg.BadRequest as err:
            if "not modified" not in err.message and "to edit not found" not in err.message:
                raise classify(err, f"chat {chat_id}") from err
        except tg.TelegramError as err:
            raise classify(err, f"chat {chat_id}") from err

    async def _delete_extra(self, chat_id: str, message_id: str) -> None:
        """A continuation an edit no longer needs: deleted, or, where the bot may not delete
        (an old message), emptied to "…"."""
        assert self.app is not None
        try:
            await self.app.bot.delete_message(int(chat_id), int(message_id))
            return
        except tg.BadRequest as err:
            if "not found" in err.message.lower():
                return
            log.info("telegram chat %s: could not delete a continuation (%s); emptying it",
                     chat_id, err.message)
        except tg.TelegramError as err:
            raise classify(err, f"chat {chat_id}") from err
        await self._edit_one(chat_id, message_id, render.CONTINUED, render.CONTINUED)

    async def _edit_caption(self, target: ChannelRef, message_id: str, html: str) -> None:
        """A file's caption; one that an edit made longer than Telegram's 1024 for captions
        is cut there, as plain text with "…", rather than refused."""
        assert self.app is not None
        try:
            await self.app.bot.edit_message_caption(
                chat_id=int(target.chat_id), message_id=int(message_id), caption=html,
                parse_mode=ParseMode.HTML)
        except tg.BadRequest as err:
            if "not modified" in err.message or "to edit not found" in err.message:
                return
            if "too long" in err.message.lower():
                plain = unescape(re.sub(r"<[^>]+>", "", html))
                cut = clip_units(plain, media.CAPTION_LIMIT - 1, render.length) + "…"
                with contextlib.suppress(tg.BadRequest):
                    await self.app.bot.edit_message_caption(
                        chat_id=int(target.chat_id), message_id=int(message_id), caption=cut)
                return
            raise classify(err, f"chat {target.chat_id}") from err
        except tg.TelegramError as err:
            raise classify(err, f"chat {target.chat_id}") from err

    async def hide(self, delivery: Delivery) -> None:
        """Delete the post's messages here: our mirrors, and the author's original when a
        facilitator hid it.

        Telegram refuses two deletions alike ("message can't be deleted"): another's
        message without the admin right "Delete messages", and any message sent 48 hours
        ago or more (deleteMessage: "A message can only be deleted if it was sent less than
        48 hours ago", for bots of any rank). A mirror is the bot's own, which it may always
        delete while it is young: refused, it is too old, and its text is replaced instead
        (bots edit their own messages at any age), so its words still leave the chat. An
        original that cannot be deleted is said in the chat with the right reason (in reply
        to it) and fails the delivery, so facilitators see it in /status."""
        assert self.app is not None
        chat_id = delivery.target.chat_id
        t = self._chat_translator(delivery.target)
        refused: list[tuple[str, str]] = []
        for message_id in delivery.message_ids:
            try:
                await self.app.bot.delete_message(int(chat_id), int(message_id))
            except tg.BadRequest as err:
                if "not found" in err.message.lower():
                    continue  # already gone: deleted by its author or a moderator
                if message_id not in delivery.original_ids and "can't be deleted" in err.message:
                    log.info("telegram message %s in %s is too old to delete; replacing its text",
                             message_id, chat_id)
                    await self._edit_message(delivery.target, message_id,
                                             render.notice(t(HIDDEN_TEXT))[0][0])
                    continue
                log.warning("telegram refused to delete message %s in %s: %s", message_id, chat_id,
                            err.message)
                refused.append((message_id, err.message))
            except tg.TelegramError as err:
                raise classify(err, f"chat {chat_id}") from err
        if not refused:
            return
        number = delivery.post.number if delivery.post else "?"
        too_old = await self._may_delete_others(chat_id)
        if too_old:
            notice = t(
                "A facilitator hid this post #{number} from the discussion, but Telegram lets no "
                "bot delete a message sent more than 48 hours ago. Its author or an admin can "
                "delete it in the app.", number=number)
            why = ("older than 48 hours: Telegram lets bots delete messages only within 48 "
                   "hours of sending; its author or an admin can delete it in the app")
        else:
            notice = t(
                "A facilitator hid this post #{number} from the discussion, but I am not allowed "
                "to delete messages in this chat. An admin can delete it, or make me an admin "
                "with the right to delete messages.", number=number)
            why = f"{refused[0][1]}; the bot needs to be an admin allowed to delete messages"
        try:
            await self.budget.acquire(delivery.target)
            await self._send(chat_id, delivery.target.thread_id, refused[0][0], render.notice(notice))
        except errors.DeliveryError as err:
            log.warning("could not tell chat %s about the hidden post: %s", chat_id, err)
        ids = ", ".join(m for m, _ in refused)
        raise errors.PermanentError(
            f"Telegram chat {chat_id}: could not delete message {ids} of hidden post #{number} ({why})"
        )

    async def _may_delete_others(self, chat_id: str) -> bool:
        """Whether the bot may delete others' messages in this chat (an admin of a basic
        group, or with "Delete messages" in a supergroup): then a refusal means the 48 hours
        are over."""
        assert self.app is not None
        try:
            me = await self.app.bot.get_chat_member(int(chat_id), self.app.bot.id)
        except tg.TelegramError as err:
            log.info("could not check the bot's rights in chat %s: %s", chat_id, err)
            return False
        if me.status == ChatMemberStatus.OWNER:
            return True
        return me.status == ChatMemberStatus.ADMINISTRATOR and bool(
            getattr(me, "can_delete_messages", False))

    async def set_locked(self, delivery: Delivery, locked: bool) -> DeliveryResult:
        """Say so in the topic, then close the forum topic (or reopen it, then say so)."""
        assert self.app is not None
        target = delivery.target
        topic = delivery.topic
        text = lock_notice(self._chat_translator(target), topic.title, locked, topic.lock_reason)
        if not locked and target.thread_id:
            await self._forum_topic(target, reopen=True)
        ids = await self._send(target.chat_id, target.thread_id, delivery.reply_to,
                               render.notice(text))
        if locked and target.thread_id:
            await self._forum_topic(target, reopen=False)
        return _result(ids)

    async def _rename_forum_topic(self, target: ChannelRef, name: str) -> None:
        """The forum topic takes the topic's title as it is now (Telegram says so with a
        service message, so it counts as a send)."""
        assert self.app is not None and target.thread_id is not None
        await self.budget.acquire(target)
        try:
            await self.app.bot.edit_forum_topic(int(target.chat_id), int(target.thread_id),
                                                name=name)
        except tg.BadRequest as err:
            if "TOPIC_NOT_MODIFIED" not in err.message:
                raise classify(err, f"chat {target.chat_id}") from err
        except tg.TelegramError as err:
            raise classify(err, f"chat {target.chat_id}") from err

    async def _forum_topic(self, target: ChannelRef, *, reopen: bool) -> None:
        assert self.app is not None and target.thread_id is not None
        call = self.app.bot.reopen_forum_topic if reopen else self.app.bot.close_forum_topic
        await self.budget.acquire(target)  # Telegram posts a service message for it
        try:
            await call(int(target.chat_id), int(target.thread_id))
        except tg.BadRequest as err:
            if "TOPIC_NOT_MODIFIED" in err.message:
                return
            log.warning("telegram could not %s forum topic %s in %s: %s",
                        "reopen" if reopen else "close", target.thread_id, target.chat_id,
                        err.message)
        except tg.TelegramError as err:
            raise classify(err, f"chat {target.chat_id}") from err
