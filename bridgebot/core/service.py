"""The discussion rules: who may open, prompt and lock; what a reply becomes.

``Discussions`` is what every adapter talks to. It resolves where an incoming
message belongs (a reply to any mapped message, or a message inside a topic's
thread), applies the rules, and records the result together with the deliveries
to every other linked channel. It never talks to a platform itself: the relay
does, through the adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypeVar

from bridgebot.core import errors
from bridgebot.core.attachments import human_size, split_fitting, with_archive_links
from bridgebot.core.models import (
    OPENING_NUMBER,
    Action,
    Attachment,
    Author,
    BotText,
    ChannelRef,
    CombinedCopy,
    Delivery,
    IncomingMessage,
    Post,
    Prompt,
    ReceiveOutcome,
    Topic,
    TopicStatus,
)
from bridgebot.core.names import last_author, name_mentions, name_posts
from bridgebot.core.platforms import Platforms
from bridgebot.core.ports import (
    DuplicateMessage,
    LockedBeforeCommit,
    MapHit,
    PendingDelivery,
    Storage,
    UnitOfWork,
)
from bridgebot.core.richtext.spans import Kind, Span, clean, shift, slice_spans
from bridgebot.core.text import split_subject, visible_text
from bridgebot.i18n import DEFAULT_LANGUAGE, N_, Translator, normalize_locale, resolve_locale, translator

log = logging.getLogger(__name__)
T = TypeVar("T")

TITLE_MAX = 200
TEXT_MAX = 40_000
PROMPT_MAX = 2_000
REASON_MAX = 500
HOLD_FIRST = 0.5  # seconds before a message the database refused is tried again
HOLD_CAP = 10.0
OPENING_WAIT = 10.0  # seconds a message in a thread being opened waits for its record
SETTLE_POSTS = 10.0  # seconds a stop waits for posts still queued for their commit
# Seconds an album's copies wait after its latest item, so the other chats get one message
# with every item: a platform that sends the items one by one (Telegram's webhook sends the
# next only after the previous is answered) has them all well within this.
ALBUM_SETTLE = 2.0
UNBRIDGED_NOTED_MAX = 1000  # chats in no bridge remembered (logged once each), a bounded set
POSTED_KEPT = 60.0  # seconds a topic's last accepted post is remembered for the relay
POSTED_TOPICS = 256  # topics remembered before the ones quiet for POSTED_KEPT are forgotten
TOLD_MAX = 10_000  # people told how to take part (once per chat), remembered while running
HOW_TO_TAKE_PART = N_("This message is not part of the discussion. To take part, reply to the "
                      "topic's message, a question or a post (or write in the topic's thread). "
                      "I say this only once.")
AUTHOR_DELETED = "author (deleted)"


@dataclass(frozen=True)
class Bridge:
    """A named set of linked chats: everything said in one appears in the others."""

    name: str
    channels: tuple[ChannelRef, ...]
    # What the bot writes into these chats (topics, notices, digests) is in this language;
    # ``chat_languages`` overrides it for single chats. People's own answers follow their app.
    language: str = DEFAULT_LANGUAGE
    chat_languages: Mapping[ChannelRef, str] = field(default_factory=dict, compare=False)
    # How authors appear outside their own chat: "display_name", "first_name" or
    # "pseudonym" (see core/privacy.py); and after how many days past its lock a topic's
    # post text is erased (None: kept).
    authors: str = "display_name"
    retention_days: int | None = None
    # In a chat without threads with exactly one open topic, a message that replies to
    # nothing is a post in it.
    single_topic_posts: bool = True


def _now() -> datetime:
    return datetime.now(UTC)


# What :meth:`Discussions.accept` returns: awaited, the outcome once the post is committed.
Later = Callable[[], Awaitable[ReceiveOutcome]]


def _ready(outcome: ReceiveOutcome) -> Later:
    """An outcome known at once (no post to wait for)."""
    async def ready() -> ReceiveOutcome:
        return outcome
    return ready


@dataclass(frozen=True)
class TopicChoice:
    """What the command being run says about its topic, for :meth:`Discussions.topic_here`:
    its name (to spell the example when asking), the topic number given (``/lock 2``,
    Discord's ``topic:2``), which topics it can mean (open ones; locked ones for /unlock), and
    whether the topic can be given by number at all."""

    command: str
    number: int | None = None
    wanted: TopicStatus = TopicStatus.OPEN
    numbered: bool = True
    named_options: bool = False

    def example(self, topic_id: int) -> str | None:
        if not self.numbered:
            return None
        return f"/{self.command} topic:{topic_id}" if self.named_options else f"/{self.command} {topic_id}"


# Set by the command layer around one command: every rule that asks "which topic is here"
# (prompting, locking, digests, reading) sees it without each signature carrying it.
_CHOICE: contextvars.ContextVar[TopicChoice | None] = contextvars.ContextVar("topic_choice",
                                                                             default=None)


# One whole sentence per field, not "The {what} is empty": other languages inflect the noun.
_EMPTY = {
    "title": N_("The title is empty."),
    "introduction": N_("The introduction is empty."),
    "question": N_("The question is empty."),
    "reason": N_("The reason is empty."),
    "message": N_("The message is empty."),
}
_TOO_LONG = {
    "title": N_("The title is too long ({length} characters; the limit is {limit}). "
                "Nothing was saved: please shorten it and send it again."),
    "introduction": N_("The introduction is too long ({length} characters; the limit is {limit}). "
                       "Nothing was saved: please shorten it and send it again."),
    "question": N_("The question is too long ({length} characters; the limit is {limit}). "
                   "Nothing was saved: please shorten it and send it again."),
    "reason": N_("The reason is too long ({length} characters; the limit is {limit}). "
                 "Nothing was saved: please shorten it and send it again."),
    "message": N_("The message is too long ({length} characters; the limit is {limit}). "
                  "Nothing was saved: please shorten it and send it again."),
}
STATUS_NAMES = {TopicStatus.OPEN: N_("open"), TopicStatus.LOCKED: N_("locked")}


def _check_length(what: str, text: str, limit: int) -> str:
    text = text.strip()
    if not text:
        raise errors.InvalidInput(_EMPTY[what])
    if len(text) > limit:
        raise errors.InvalidInput(_TOO_LONG[what], length=len(text), limit=limit)
    return text


def _topic_texts(title: str, introduction: str) -> tuple[str, str]:
    """A topic's title and introduction, checked as the rules want them."""
    title = _check_length("title", title, TITLE_MAX)
    if "\n" in title:
        raise errors.InvalidInput(N_("The title must be a single line."))
    introduction = introduction.strip()
    if len(introduction) > TEXT_MAX:
        _check_length("introduction", introduction, TEXT_MAX)
    return title, introduction


def subject_and_body(text: str, spans: Sequence[Span] = ()) -> tuple[str | None, str, tuple[Span, ...]]:
    """(subject, body, the body's spans) of a message as written (see :func:`split_subject`).

    A first line holding a link is never taken as the subject: its address would be lost.
    """
    body = text.strip()
    lead = len(text) - len(text.lstrip())
    kept = shift(clean(text, spans), -lead)
    subject, rest = split_subject(body)
    if subject is None:
        return None, body, slice_spans(kept, 0, len(body))
    offset = body.index(rest, len(subject))
    if any(s.kind is Kind.LINK and s.start < offset for s in kept):
        return None, body, slice_spans(kept, 0, len(body))
    return subject, rest, slice_spans(kept, offset, offset + len(rest))


def counts_text(t: Translator, posts: int, new: int) -> str:
    """"9 posts / 2 new" in ``t``'s language (Russian needs a plural form for each count)."""
    return t("{posts} / {new}", posts=t.ngettext("{n} post", "{n} posts", posts),
             new=t.ngettext("{n} new", "{n} new", new))


class Discussions:
    """The asyncio core: owns topics, prompts and posts through the storage ports."""

    def __init__(
        self,
        storage: Storage,
        bridges: Iterable[Bridge],
        *,
        clock: Callable[[], datetime] = _now,
        help_text: str | None = None,
        platforms: Platforms | None = None,
        archive_url: str | None = None,
    ) -> None:
        self.storage = storage
        # Where readers reach the archive server: files that cannot cross link to it.
        self.archive_url = archive_url.rstrip("/") if archive_url else None
        self.store = storage.discussions
        self.outbox = storage.outbox
        # What the core may know of each platform (display names, profile links, reserved
        # names), built by the runtime from the platform registry.
        self.platforms = platforms if platforms is not None else Platforms()
        # Plans, digests and reader views beside the discussion itself.
        self.facilitation = storage.facilitation
        # Aliases, pseudonyms, forgetting, retention, and who asked /forgetme when
        # (in memory: after a restart, a person simply asks again).
        self.privacy = storage.privacy
        # Where adapters put the files people send (None: this storage keeps none).
        self.files = getattr(storage, "files", None)
        self.forget_requests: dict[tuple[str, str], datetime] = {}
        self.bridges = {b.name: b for b in bridges}
        self._bridge_of = {c: b for b in self.bridges.values() for c in b.channels}
        self.clock = clock
        self.help_text = help_text
        self._chat_locks: dict[ChannelRef, asyncio.Lock] = {}
        self._opening: dict[ChannelRef, asyncio.Event] = {}
        self._unbridged: set[ChannelRef] = set()
        self._told: set[tuple[ChannelRef, str, str]] = set()
        self._marker_writes: dict[tuple[str, str, int], asyncio.Task[None]] = {}
        self._listeners: list[Callable[[], None]] = []
        # topic -> chat a post came from -> when (monotonic) this process accepted the last two
        # there: tells the relay a topic is still being written to (PlatformLimits.settle).
        self._posted: dict[int, dict[ChannelRef, tuple[float, float]]] = {}
        self._held = 0  # times intake was held because the database refused a write

    # -- plumbing ----------------------------------------------------------------

    @property
    def held_count(self) -> int:
        """Times intake was held because the database refused a write (here, or a batch of
        queued posts in the store's writer)."""
        return self._held + self.store.held_writes

    @contextlib.asynccontextmanager
    async def opening(self, target: ChannelRef) -> AsyncIterator[None]:
        """Held by the relay while it opens a topic on ``target`` and records where."""
        event = self._opening.setdefault(target.chat, asyncio.Event())
        try:
            yield
        finally:
            event.set()
            if self._opening.get(target.chat) is event:
                del self._opening[target.chat]

    def posting(self, topic_id: int, to: ChannelRef) -> tuple[float, float] | None:
        """Whether ``topic_id`` is being written to, for its deliveries to ``to``: how long
        ago (seconds) this process accepted its newest post from another chat, and how long
        before that the one preceding it there; None when it accepted none lately."""
        places = self._posted.get(topic_id)
        if not places:
            return None
        now = time.monotonic()
        for chat, (_, last) in list(places.items()):
            if last < now - POSTED_KEPT:
                del places[chat]
        if not places:
            del self._posted[topic_id]
        found = [(now - last, last - before) for chat, (before, last) in places.items()
                 if chat != to.chat]
        return min(found) if found else None

    def _intake(self, where: ChannelRef) -> asyncio.Lock:
        """The lock that keeps one chat's events in arrival order (asyncio locks are FIFO).

        Only bridged chats keep theirs (a fixed set, from the settings): anyone can write to
        the bot from any chat, and nothing from an unbridged one is recorded, so those get
        a lock of their own that is forgotten at once instead of an entry kept forever.
        """
        if not self.is_bridged(where):
            return asyncio.Lock()
        return self._chat_locks.setdefault(where.chat, asyncio.Lock())

    def on_enqueue(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever new deliveries were committed (wakes the relay)."""
        self._listeners.append(listener)

    def _enqueued(self) -> None:
        for listener in self._listeners:
            listener()

    def wake_relay(self) -> None:
        """Deliveries were committed outside these methods (scheduler, digests): wake the relay."""
        self._enqueued()

    def unit_of_work(self) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
        """Several steps that commit together (``within=``): the scheduler claims a plan
        item in the same unit as the topic, question, digest or lock it creates."""
        return self.storage.unit_of_work()

    # -- for adapters ------------------------------------------------------------

    async def intake_cursor(self, name: str) -> str | None:
        """Where an adapter's intake stopped (Telegram's getUpdates offset), if recorded."""
        return await self.store.cursor(name)

    async def save_intake_cursor(self, name: str, value: str) -> None:
        await self.store.save_cursor(name, value)

    async def open_threads(self, platform: str) -> list[tuple[ChannelRef, str | None]]:
        """Threads of open topics on ``platform``, each with the newest message a person
        wrote there that was recorded: where catch-up after downtime starts reading."""
        return await self.store.open_threads(platform)

    def bridge_of(self, where: ChannelRef) -> Bridge:
        bridge = self._bridge_of.get(where.chat)
        if bridge is None:
            raise errors.NotBridged(where.chat)
        return bridge

    def is_bridged(self, where: ChannelRef) -> bool:
        return where.chat in self._bridge_of

    def chat_language(self, where: ChannelRef | None) -> str:
        """The language the bot writes in for everyone in ``where``: the chat's own setting,
        else its bridge's, else English."""
        bridge = self._bridge_of.get(where.chat) if where is not None else None
        if bridge is None or where is None:
            return DEFAULT_LANGUAGE
        return resolve_locale(bridge.chat_languages.get(where.chat), bridge.language)

    def reader_language(self, locale: str | None, where: ChannelRef | None = None) -> str:
        """The language to answer one person in: their app's, if shipped, else the chat's."""
        return normalize_locale(locale) or self.chat_language(where)

    def translator_for(self, locale: str | None, where: ChannelRef | None = None) -> Translator:
        return translator(self.reader_language(locale, where))

    def channels(self, platform: str | None = None) -> list[ChannelRef]:
        return [c for c in self._bridge_of if platform is None or c.platform == platform]

    async def is_facilitator(self, actor: Author, platform_admin: bool = False) -> bool:
        """Platform admins (chat administrators, Manage Threads), configured people, and
        bridgebot's own actors (a topic file's facilitator)."""
        return (platform_admin or actor.is_system
                or await self.store.is_facilitator(actor.platform, actor.user_id))

    async def _require_facilitator(self, actor: Author, platform_admin: bool, command: str) -> None:
        if not await self.is_facilitator(actor, platform_admin):
            raise errors.NotFacilitator(command)

    @contextlib.contextmanager
    def choosing(self, choice: TopicChoice) -> Iterator[None]:
        """Run a command with what it says about its topic (see :meth:`topic_here`)."""
        token = _CHOICE.set(choice)
        try:
            yield
        finally:
            _CHOICE.reset(token)

    async def _placed_topic(self, where: ChannelRef, reply_to: str | None) -> Topic | None:
        """The topic the place itself names: the thread it lives in, or the message answered."""
        topic_id = await self.store.topic_for_thread(where)
        if topic_id is None and reply_to is not None:
            hit = await self.store.resolve_message(where.platform, where.chat_id, reply_to)
            topic_id = hit.topic_id if hit else None
        return await self.store.topic(topic_id) if topic_id else None

    async def topic_choices(self, where: ChannelRef, reply_to: str | None,
                            wanted: TopicStatus = TopicStatus.OPEN) -> list[Topic]:
        """The topics a command here could mean when neither a thread nor a reply says:
        empty when the place names one or there is at most one to mean."""
        if not self.is_bridged(where) or await self._placed_topic(where, reply_to) is not None:
            return []
        candidates = await self.store.bridge_topics(self.bridge_of(where).name, wanted)
        return candidates if len(candidates) > 1 else []

    async def topic_here(self, where: ChannelRef, reply_to: str | None = None) -> Topic:
        """The topic a command in ``where`` is about.

        Inside a topic's thread it is that topic; in reply to a topic's message it is
        that message's topic; a topic number given with the command names it; otherwise
        the only open topic of the chat's bridge (the only locked one, for /unlock), or the
        newest topic when there is none such. When several could be meant the command asks
        which one, listing them, instead of guessing.
        """
        bridge = self.bridge_of(where)
        topic = await self._placed_topic(where, reply_to)
        if topic is not None:
            return topic
        choice = _CHOICE.get()
        if choice is not None and choice.number is not None:
            topic = await self.store.topic(choice.number)
            if topic is None or topic.bridge != bridge.name:
                raise errors.UnknownTopic(f"#{choice.number}")
            return topic
        candidates = await self.store.bridge_topics(
            bridge.name, choice.wanted if choice else TopicStatus.OPEN)
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            listing = "\n".join(f"#{t.id} “{t.title}”" for t in candidates[:10])
            example = (choice or TopicChoice("status")).example(candidates[0].id)
            if example is None:
                raise errors.WhichTopic(listing, None)
            raise errors.WhichTopic(listing, example)
        topic = await self.store.latest_topic(bridge.name)
        if topic is None:
            raise errors.NoTopicHere()
        return topic

    # -- facilitator actions -----------------------------------------------------

    async def open_topic(
        self, actor: Author, where: ChannelRef, title: str, introduction: str = "",
        *, platform_admin: bool = False, message_id: str | None = None,
    ) -> Topic:
        """``/newtopic`` in ``where``; ``message_id`` is the command's own message, which
        then stands for the topic (editing it edits the topic)."""
        await self._require_facilitator(actor, platform_admin, "newtopic")
        topic_id = await self.open_topic_on(actor, self.bridge_of(where), title, introduction,
                                            platform_admin=platform_admin,
                                            command=(where, message_id) if message_id else None)
        topic = await self.store.topic(topic_id)
        assert topic is not None
        return topic

    async def open_topic_on(
        self, actor: Author, bridge: Bridge, title: str, introduction: str = "",
        *, platform_admin: bool = False, within: UnitOfWork | None = None,
        now: datetime | None = None, command: tuple[ChannelRef, str] | None = None,
    ) -> int:
        """Open a topic on every chat of ``bridge``; its id (committed with ``within``)."""
        await self._require_facilitator(actor, platform_admin, "newtopic")
        title, introduction = _topic_texts(title, introduction)
        topic_id = await self.store.create_topic(
            bridge.name, title, introduction, actor, now or self.clock(), bridge.channels,
            within=within, command=command,
        )
        if within is None:
            self._enqueued()
        log.info("topic %d opened on bridge %s", topic_id, bridge.name)
        return topic_id

    async def add_prompt(
        self, actor: Author, where: ChannelRef, question: str, *, platform_admin: bool = False,
        reply_to: str | None = None, message_id: str | None = None,
    ) -> tuple[Topic, Prompt]:
        """``/prompt`` in ``where``; ``message_id`` is the command's own message, which then
        stands for the question (editing it rewords the question everywhere)."""
        await self._require_facilitator(actor, platform_admin, "prompt")
        question = _check_length("question", question, PROMPT_MAX)
        topic = await self.topic_here(where, reply_to)
        prompt_id = await self.prompt_topic(actor, topic, question, platform_admin=platform_admin,
                                            command=(where, message_id) if message_id else None)
        prompt = await self.store.prompt(prompt_id)
        assert prompt is not None
        return topic, prompt

    async def prompt_topic(
        self, actor: Author, topic: Topic, question: str, *, platform_admin: bool = False,
        within: UnitOfWork | None = None, now: datetime | None = None,
        command: tuple[ChannelRef, str] | None = None,
    ) -> int:
        """Ask a guiding question in ``topic`` on every chat; the prompt's id. A locked topic
        takes no more questions."""
        await self._require_facilitator(actor, platform_admin, "prompt")
        question = _check_length("question", question, PROMPT_MAX)
        if topic.is_locked:
            raise errors.LockedTopicRefuses(
                N_("The topic “{title}” is locked; /unlock it before adding questions."),
                title=topic.title,
            )
        prompt_id = await self.store.add_prompt(topic.id, question, now or self.clock(),
                                                self.bridges[topic.bridge].channels, within=within,
                                                command=command)
        if within is None:
            self._enqueued()
        return prompt_id

    async def edit_prompt(
        self, actor: Author, where: ChannelRef, position: int, question: str, *,
        platform_admin: bool = False, reply_to: str | None = None,
    ) -> tuple[Topic, Prompt, bool]:
        """``/editprompt N``: reword question N of the topic here in every copy (the archive
        reads the new wording); the bool says whether anything changed."""
        await self._require_facilitator(actor, platform_admin, "editprompt")
        question = _check_length("question", question, PROMPT_MAX)
        topic = await self.topic_here(where, reply_to)
        prompt = next((p for p in await self.store.prompts(topic.id) if p.position == position),
                      None)
        if prompt is None:
            raise errors.InvalidInput(N_("“{title}” has no question {position}."),
                                      title=topic.title, position=position)
        changed = await self._reword(topic, prompt, question)
        fresh = await self.store.prompt(prompt.id)
        assert fresh is not None
        return topic, fresh, changed

    async def _reword(self, topic: Topic, prompt: Prompt, question: str) -> bool:
        changed = await self.store.edit_prompt(prompt.id, question, self.clock(),
                                               self._targets(topic))
        if changed:
            self._enqueued()
        return changed

    async def edit_topic(
        self, actor: Author, where: ChannelRef, introduction: str, *, title: str | None = None,
        platform_admin: bool = False, reply_to: str | None = None,
    ) -> tuple[Topic, bool]:
        """``/editintro``: a new introduction (and title, when the ``/newtopic`` message was
        edited) for the topic here, in every copy of the topic message and in the archive."""
        await self._require_facilitator(actor, platform_admin, "editintro")
        topic = await self.topic_here(where, reply_to)
        return await self._retext(topic, title or topic.title, introduction)

    async def _retext(self, topic: Topic, title: str, introduction: str) -> tuple[Topic, bool]:
        title, introduction = _topic_texts(title, introduction)
        changed = await self.store.edit_topic(topic.id, title, introduction, self.clock(),
                                              self._targets(topic))
        if changed:
            self._enqueued()
        fresh = await self.store.topic(topic.id)
        assert fresh is not None
        return fresh, changed

    async def edited_command(self, where: ChannelRef, message_id: str, name: str,
                             args: str) -> bool:
        """A facilitator edited the message of their ``/prompt`` or ``/newtopic``: the
        question (or the topic's title and introduction) takes the new text everywhere.

        Only a message that created one (mapped when the command ran) counts, and only its
        author can edit it, so the facilitator check was made when it was sent. A new text
        the rules refuse (empty, too long) changes nothing; False then, or when the message
        created nothing.
        """
        async with self._intake(where):
            hit = await self.store.resolve_message(where.platform, where.chat_id, message_id)
            if hit is None or hit.post_id is not None:
                return False
            topic = await self.store.topic(hit.topic_id)
            if topic is None:
                return False
            try:
                if name == "prompt" and hit.prompt_id is not None:
                    prompt = await self.store.prompt(hit.prompt_id)
                    question = _check_length("question", args, PROMPT_MAX)
                    return prompt is not None and await self._reword(topic, prompt, question)
                if name == "newtopic" and hit.prompt_id is None:
                    title, _, introduction = args.partition("\n")
                    return (await self._retext(topic, title, introduction))[1]
            except errors.InvalidInput:
                return False
            return False

    async def set_locked(
        self, actor: Author, where: ChannelRef, locked: bool, reason: str | None = None,
        *, platform_admin: bool = False, reply_to: str | None = None,
    ) -> tuple[Topic, bool]:
        """Lock or unlock the topic here; the bool says whether anything changed."""
        await self._require_facilitator(actor, platform_admin, "lock" if locked else "unlock")
        if reason is not None:
            reason = reason.strip() or None
            if reason and len(reason) > REASON_MAX:
                _check_length("reason", reason, REASON_MAX)
        topic = await self.topic_here(where, reply_to)
        changed = await self.lock_topic(actor, topic, locked, reason, platform_admin=platform_admin)
        fresh = await self.store.topic(topic.id)
        assert fresh is not None
        return fresh, changed

    async def lock_topic(
        self, actor: Author, topic: Topic, locked: bool, reason: str | None = None,
        *, platform_admin: bool = False, within: UnitOfWork | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Lock (or unlock) ``topic`` on every chat; False when it already was."""
        await self._require_facilitator(actor, platform_admin, "lock" if locked else "unlock")
        if within is None:  # the posts already taken come before the lock (its unit may not wait)
            await self.store.posts_written()
        changed = await self.store.set_status(
            topic.id, TopicStatus.LOCKED if locked else TopicStatus.OPEN, actor.display_name,
            reason, now or self.clock(), self.bridges[topic.bridge].channels, within=within,
        )
        if changed and within is None:
            self._enqueued()
        return changed

    async def set_hidden(
        self, actor: Author, where: ChannelRef, post: Post, hidden: bool,
        *, platform_admin: bool = False,
    ) -> bool:
        """A facilitator hides a post everywhere (its original too, where the bot may delete
        it) or shows it again; the bool says whether anything changed."""
        await self._require_facilitator(actor, platform_admin, "hide" if hidden else "unhide")
        if post.is_opening:
            raise errors.InvalidInput(
                N_("The topic's opening post cannot be hidden; /lock the topic to close it.")
            )
        if not hidden and post.hidden_by == AUTHOR_DELETED:
            raise errors.InvalidInput(
                N_("Post #{number} was deleted by its author, so it stays hidden."),
                number=post.number,
            )
        return await self._set_hidden(post, hidden, actor.display_name, delete_original=True)

    async def _set_hidden(self, post: Post, hidden: bool, who: str | None,
                          *, delete_original: bool = False) -> bool:
        topic = await self.store.topic(post.topic_id)
        assert topic is not None
        origin = await self.store.origin_of(post.id)
        targets = self._targets(topic, exclude=None if hidden and delete_original else origin)
        changed = await self.store.set_hidden(post.id, hidden, who, self.clock(), targets)
        if changed:
            self._enqueued()
        return changed

    # -- participants ------------------------------------------------------------

    async def receive(self, msg: IncomingMessage, *, patience: float | None = None) -> ReceiveOutcome:
        """Turn a platform message into a post, if it belongs to a topic; returns once the
        post is committed (:meth:`accept` and then its result).

        When the database cannot be written (locked by another process, disk full) the
        message is held and tried again with backoff, and later messages of the chat wait
        behind it, in order: nothing after it is recorded before it, so a catch-up after a
        crash still finds it. ``patience`` bounds the wait (seconds; None: until the
        database answers); past it the storage error is raised, for a platform that will
        send the message again (a webhook's error).
        """
        return await (await self.accept(msg, patience=patience))()

    def together(self) -> contextlib.AbstractContextManager[None]:
        """Messages accepted inside the block (one ``getUpdates`` answer) share commits: none
        is written before the block ends, unless something waits for one (a reply to it)."""
        return self.store.together()

    async def accept(self, msg: IncomingMessage, *, patience: float | None = None) -> Later:
        """Place a message and queue its post; returns once it is queued, with what to await
        for the outcome (the post committed, or why it is not one).

        Messages of one chat are placed one at a time in the order the adapter handed them
        over, and the store writes posts in the order they were queued, so posts keep the
        order in which people wrote them. The chat's next message is taken while this one
        waits for its commit: messages arriving together (one ``getUpdates`` answer, a
        burst of gateway events) share commits. An adapter acknowledges a message only
        once the returned outcome is in (see :meth:`receive` for ``patience``).
        """
        async with self._intake(msg.where):
            return await self.held(lambda: self._receive(msg, patience), f"a message in {msg.where}",
                                   patience)

    async def held(self, work: Callable[[], Awaitable[T]], what: str,
                   patience: float | None = None) -> T:
        """Run ``work`` until the database lets it commit (see :meth:`receive`)."""
        loop = asyncio.get_running_loop()
        deadline = None if patience is None else loop.time() + patience
        delay = HOLD_FIRST
        while True:
            try:
                return await work()
            except Exception as err:
                if not self.storage.is_failure(err):
                    raise
                if deadline is not None and loop.time() + delay > deadline:
                    raise
                self._held += 1
                log.warning("database unavailable (%s); %s is held, trying again in %.1fs",
                            " ".join(str(err).split())[:200], what, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, HOLD_CAP)

    def _note_unbridged(self, msg: IncomingMessage) -> None:
        """The first message from a group in no bridge: its id and title at info, once per chat
        (bounded), so the operator sees which id to configure. No name, no text."""
        chat = msg.where.chat
        if msg.chat_title is None or chat in self._unbridged or len(self._unbridged) >= UNBRIDGED_NOTED_MAX:
            return
        self._unbridged.add(chat)
        log.info("%s chat %s “%s” is in no bridge, so its messages are not carried; to bridge it, "
                 "add %s to a [[bridges]] entry", msg.where.platform, msg.where.chat_id,
                 msg.chat_title, msg.where.chat_id)

    async def _receive(self, msg: IncomingMessage, patience: float | None = None) -> Later:
        if not self.is_bridged(msg.where):
            self._note_unbridged(msg)
            return _ready(ReceiveOutcome(ignored_reason="chat is not bridged"))
        if msg.album is not None:
            album_post = await self.store.album_post(msg.where, msg.album)
            if album_post is not None:
                joined = await self._join_album(album_post, msg)
                if joined is not None:
                    return _ready(joined)
        topic, parent, prompt_id = await self._place(msg.where, msg.reply_to_message_id)
        opening = self._opening.get(msg.where.chat)
        placeable = msg.where.thread_id is not None or msg.reply_to_message_id is not None
        if topic is None and placeable and opening is not None:
            # A person wrote in a thread the relay is creating right now, or replied to the
            # topic's message the moment it appeared, before its record was committed: wait
            # for that (bounded), then place the message again.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(opening.wait(), OPENING_WAIT)
            topic, parent, prompt_id = await self._place(msg.where, msg.reply_to_message_id)
        if topic is None:
            topic = await self._only_topic(msg)
        if topic is None:
            return _ready(ReceiveOutcome(ignored_reason="not part of a topic",
                                         answer=await self._how_to_take_part(msg)))
        return await self._record(topic, msg.author, msg.text, parent, prompt_id, msg.sent_at,
                                  origin=msg.where, message_id=msg.message_id, cursor=msg.cursor,
                                  locale=msg.locale, attachments=msg.attachments,
                                  spans=msg.spans, album=msg.album,
                                  settle=msg.album is not None and not msg.album_complete,
                                  patience=patience)

    async def _join_album(self, post_id: int, msg: IncomingMessage) -> ReceiveOutcome | None:
        """A later item of an album joins the post its first item made (None: that post is
        gone, so the item is placed as a message of its own).

        Why this way: a platform that hands over an album item by item, each answered before
        the next comes (Telegram's webhook), cannot be held until the album is complete
        without delaying every item, and answering before committing could lose one in a
        crash. So each item commits on its own (its files, its message mapped to the post:
        a repeated item is recorded once), and the post's copies wait ``ALBUM_SETTLE``
        seconds after the latest item, so the other chats receive one message with all of
        them. An item that comes after a copy went out (after a restart, say) is sent there
        as a message of its own answering the post's copy (a FILES delivery): still the one
        post in the archive, never a second post, never lost.
        """
        post = await self.store.post(post_id)
        topic = await self.store.topic(post.topic_id) if post is not None else None
        if post is None or topic is None:
            return None
        # Its own transaction, with the offset that carried it: the posts queued before it
        # are written first, so no offset is ever saved past a post not yet committed.
        await self.store.posts_written()
        text = None
        if visible_text(msg.text.strip()) and not post.text and post.subject is None:
            text = subject_and_body(msg.text, msg.spans)  # the album's caption, on a later item
        try:
            await self.store.add_to_album(
                post_id, origin=msg.where, message_id=msg.message_id,
                attachments=msg.attachments, text=text,
                targets=self._targets(topic, exclude=msg.where), now=self.clock(),
                not_before=time.time() + ALBUM_SETTLE, cursor=msg.cursor)
        except DuplicateMessage:
            return ReceiveOutcome(topic=topic, post=post, duplicate=True)
        self._enqueued()
        post = await self.store.post(post_id)
        t = self.translator_for(msg.locale, msg.where)
        left = (self._files_left_behind(topic, msg.where, msg.attachments, t)
                if msg.attachments else None)
        return ReceiveOutcome(topic=topic, post=post, answer=left)

    async def _only_topic(self, msg: IncomingMessage) -> Topic | None:
        """The topic a message replying to nothing in a chat without threads belongs to: the
        only open one, where the bridge's ``single_topic_posts`` allows it."""
        bridge = self.bridge_of(msg.where)
        if (not msg.threadless or msg.reply_to_message_id is not None
                or msg.where.thread_id is not None or not bridge.single_topic_posts):
            return None
        open_topics = await self.store.bridge_topics(bridge.name, TopicStatus.OPEN)
        return open_topics[0] if len(open_topics) == 1 else None

    async def _how_to_take_part(self, msg: IncomingMessage) -> str | None:
        """How to take part, told once per person per chat, while a topic is open there;
        None otherwise (a chat with no open topic is not the discussion's place yet)."""
        key = (msg.where.chat, msg.author.platform, msg.author.user_id)
        if key in self._told or msg.author.is_system:
            return None
        if not await self.store.bridge_topics(self.bridge_of(msg.where).name, TopicStatus.OPEN):
            return None
        if len(self._told) >= TOLD_MAX:  # bounded: after a while, someone may hear it again
            self._told.clear()
        self._told.add(key)
        return self.translator_for(msg.locale, msg.where)(HOW_TO_TAKE_PART)

    async def reply_to_number(
        self, actor: Author, where: ChannelRef, number: int, text: str,
        *, message_id: str | None = None, reply_to: str | None = None, locale: str | None = None,
        spans: Sequence[Span] = (),
    ) -> ReceiveOutcome:
        """``/reply N text``: a reply to post N from any platform, even without a native reply;
        ``spans`` format ``text`` (core/richtext)."""
        async with self._intake(where):
            await self.store.posts_written()  # post N may be one still being written
            topic = await self.topic_here(where, reply_to)
            parent = await self.store.post_by_number(topic.id, number)
            if parent is None or parent.hidden:
                raise errors.UnknownPost(number)
            prompt_id = parent.prompt_id
            if parent.is_opening:
                parent = None
            outcome = await self._record(topic, actor, text, parent, prompt_id, self.clock(),
                                         origin=where, message_id=message_id, locale=locale,
                                         spans=spans)
            return await outcome()

    async def _refused_locked(self, topic: Topic, author: Author, t: Translator) -> ReceiveOutcome:
        """A post in a locked topic: refused; its author is told once per topic why."""
        first = await self.store.note_lock_notice(topic.id, author.platform, author.user_id)
        answer = errors.TopicLocked(topic.title, topic.lock_reason).render(t) if first else None
        return ReceiveOutcome(topic=topic, refused_locked=True, notify_locked=first, answer=answer)

    async def _record(
        self, topic: Topic, author: Author, text: str, parent: Post | None, prompt_id: int | None,
        sent_at: datetime, *, origin: ChannelRef, message_id: str | None,
        cursor: tuple[str, str] | None = None, locale: str | None = None,
        attachments: tuple[Attachment, ...] = (),
        spans: Sequence[Span] = (), album: str | None = None, settle: bool = False,
        patience: float | None = None,
    ) -> Later:
        """Check a post against the rules and queue it; what to await for the outcome."""
        # Answers go to the writer alone: in their app's language, else the chat's.
        t = self.translator_for(locale, origin)
        if topic.is_locked:
            return _ready(await self._refused_locked(topic, author, t))
        body = text.strip()
        if not visible_text(body) and not attachments:  # blank, or only invisible characters
            return _ready(ReceiveOutcome(topic=topic, ignored_reason="empty message"))
        try:
            if visible_text(body):  # a file alone needs no words
                _check_length("message", body, TEXT_MAX)
        except errors.InvalidInput as err:
            return _ready(ReceiveOutcome(topic=topic, ignored_reason="too long",
                                         answer=err.render(t)))
        subject, body, spans = subject_and_body(text, spans)
        committed = self.store.queue_post(
            topic_id=topic.id, author=author, text=body, subject=subject,
            parent_id=parent.id if parent else None, prompt_id=prompt_id,
            created_at=sent_at, origin=origin, message_id=message_id,
            # A post written through a command that leaves no message of the person in
            # the chat (Discord's /reply: only its author sees the ephemeral answer) is
            # shown there too; otherwise the person's own message is its copy there.
            targets=self._targets(topic, exclude=origin if message_id is not None else None),
            cursor=cursor, attachments=attachments, spans=spans, album=album,
            # An album's copies wait for its other items (see _join_album).
            not_before=time.time() + ALBUM_SETTLE if settle else 0.0, patience=patience,
        )

        async def outcome() -> ReceiveOutcome:
            try:
                post_id, number = await asyncio.shield(committed)
            except DuplicateMessage:
                assert message_id is not None
                hit = await self.store.resolve_message(origin.platform, origin.chat_id, message_id)
                post = await self.store.post(hit.post_id) if hit and hit.post_id else None
                return ReceiveOutcome(topic=topic, post=post, duplicate=True)
            except LockedBeforeCommit:  # locked while it waited for its commit: as if before
                return await self._refused_locked(await self.store.topic(topic.id) or topic,
                                                  author, t)
            now = time.monotonic()
            places = self._posted.setdefault(topic.id, {})
            places[origin.chat] = (places.get(origin.chat, (0.0, -POSTED_KEPT))[1], now)
            if len(self._posted) > POSTED_TOPICS:  # topics written to a minute ago and more go
                for topic_id, chats in list(self._posted.items()):
                    if max(last for _, last in chats.values()) < now - POSTED_KEPT:
                        del self._posted[topic_id]
            self._enqueued()
            post = Post(
                id=post_id, topic_id=topic.id, number=number, author_name=author.display_name,
                author_platform=author.platform, author_id=author.user_id, text=body,
                subject=subject, parent_id=parent.id if parent else None, prompt_id=prompt_id,
                created_at=sent_at, attachments=attachments, spans=spans,
            )
            left = self._files_left_behind(topic, origin, attachments, t) if attachments else None
            return ReceiveOutcome(topic=topic, post=post, answer=left)

        return outcome

    def _files_left_behind(self, topic: Topic, origin: ChannelRef,
                           attachments: tuple[Attachment, ...], t: Translator) -> str | None:
        """What to tell the author, once, about files another chat of the bridge cannot take
        (larger than it accepts, or one too many): there they show as a line naming them."""
        stored = [a for a in attachments if a.stored]
        told: set[int] = set()
        lines = []
        for target in self._targets(topic, exclude=origin):
            info = self.platforms.info(target.platform)
            limits = self.platforms.file_limits(target)
            if info is None or limits is None:
                continue
            _, left = split_fitting(stored, limits)
            for attachment in left:
                if id(attachment) in told:
                    continue
                told.add(id(attachment))
                lines.append(t("{name} ({size}) is more than {platform} takes in one message, "
                               "so it shows there only as its name, type and size.",
                               name=attachment.name, size=human_size(attachment.size),
                               platform=info.display_name))
        return "\n".join(lines) or None

    async def _place(
        self, where: ChannelRef, reply_to: str | None
    ) -> tuple[Topic | None, Post | None, int | None]:
        """(topic, parent post, prompt) for a message written in ``where``."""
        if reply_to is not None:
            hit = await self._resolve(where, reply_to)
            if hit is not None:
                topic = await self.store.topic_placing(hit.topic_id)
                parent = await self.store.post(hit.post_id) if hit.post_id else None
                prompt_id = hit.prompt_id
                if parent is not None:
                    prompt_id = parent.prompt_id
                    if parent.is_opening:
                        parent = None
                return topic, parent, prompt_id
        topic_id = await self.store.topic_for_thread(where)
        if topic_id is None:
            return None, None, None
        return await self.store.topic_placing(topic_id), None, None

    async def _resolve(self, where: ChannelRef, message_id: str) -> MapHit | None:
        """What a message of ``where`` is part of, if anything; a message whose post is still
        queued (a reply to it, an edit of it came right behind it) once that is written."""
        hit = await self.store.resolve_message(where.platform, where.chat_id, message_id)
        if hit is None and await self.store.posts_written(where, message_id):
            hit = await self.store.resolve_message(where.platform, where.chat_id, message_id)
        return hit

    async def edit(
        self, where: ChannelRef, message_id: str, text: str, edited_at: datetime | None = None,
        spans: Sequence[Span] = (),
    ) -> Post | None:
        """A person edited a message that is a post: the post as it is now, or None."""
        return (await self.edit_message(where, message_id, text, edited_at, spans)).post

    async def edit_message(
        self, where: ChannelRef, message_id: str, text: str, edited_at: datetime | None = None,
        spans: Sequence[Span] = (), *, locale: str | None = None,
    ) -> ReceiveOutcome:
        """A person edited a message that is a post: update it and carry the edit.

        A locked topic takes no edits, as it takes no posts: the archive keeps each post as
        it was at the lock. The author is told once (the outcome's ``answer``, in their
        language), as for a post sent after the lock.
        """
        async with self._intake(where):
            hit = await self._resolve(where, message_id)
            if hit is None or hit.post_id is None:
                return ReceiveOutcome(ignored_reason="not a post")
            post = await self.store.post(hit.post_id)
            topic = await self.store.topic(hit.topic_id)
            if post is None or topic is None or post.is_opening:
                return ReceiveOutcome(ignored_reason="not a post")
            origin = await self.store.origin_of(post.id)
            if origin is None or origin.chat != where.chat:
                # only the author's own message edits a post
                return ReceiveOutcome(ignored_reason="not the original")
            if topic.is_locked:
                first = await self.store.note_lock_notice(topic.id, post.author_platform,
                                                          post.author_id)
                answer = None
                if first:
                    answer = errors.EditLocked(topic.title).render(self.translator_for(locale, where))
                return ReceiveOutcome(topic=topic, post=post, refused_locked=True,
                                      notify_locked=first, answer=answer)
            _check_length("message", text, TEXT_MAX)
            subject, body, kept = subject_and_body(text, spans)
            changed = await self.store.edit_post(
                post.id, body, subject, edited_at or self.clock(),
                self._targets(topic, exclude=origin), kept,
            )
            if changed:
                self._enqueued()
            return ReceiveOutcome(topic=topic, post=await self.store.post(post.id))

    async def removed(self, where: ChannelRef, message_id: str) -> Post | None:
        """A person deleted the message that carried a post: hide the post everywhere."""
        async with self._intake(where):
            hit = await self._resolve(where, message_id)
            if hit is None or hit.post_id is None:
                return None
            post = await self.store.post(hit.post_id)
            origin = await self.store.origin_of(hit.post_id)
            if post is None or origin is None or origin.chat != where.chat:
                return None
            await self._set_hidden(post, True, AUTHOR_DELETED)
            return await self.store.post(post.id)

    # -- reading -----------------------------------------------------------------

    async def status_line(self, topic: Topic, reader: Author | None, *, lang: str | None = None) -> str:
        """``9 posts / 2 new · last post by Name, time · open``; advances the reader's marker.

        The answer needs no write: a reader seen for the first time has no posts and no
        marker, so their counts are those of nobody; recording them and moving the marker
        happen after the answer (the reader's next status waits for that write first).
        """
        key = (reader.platform, reader.user_id, topic.id) if reader is not None else None
        if key is not None and (earlier := self._marker_writes.get(key)) is not None:
            await earlier
        reader_id = None
        if reader is not None:
            reader_id = await self.store.participant_id(reader.platform, reader.user_id)
        stats = await self.store.stats(topic.id, reader_id)
        t = translator(lang)
        parts = [counts_text(t, stats.posts, stats.new)]
        if stats.last_post_author and stats.last_post_at:
            when = stats.last_post_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            name = await last_author(self.privacy, self.bridges, topic) or stats.last_post_author
            parts.append(t("last post by {name}, {when}", name=name, when=when))
        parts.append(t(STATUS_NAMES[topic.status]))
        if reader is not None and key is not None and stats.last_number > stats.read_upto:
            task = asyncio.create_task(self._mark_read(reader, reader_id, topic.id, stats.last_number))
            self._marker_writes[key] = task
            task.add_done_callback(lambda done: self._marker_writes.pop(key, None)
                                   if self._marker_writes.get(key) is done else None)
        return " · ".join(parts)

    async def settle(self, patience: float = SETTLE_POSTS) -> None:
        """Finish the writes made after answering (read markers) and the posts still queued
        for their commit (bounded by ``patience``: a database that refuses them keeps them
        unacknowledged, for the platform to bring again), before the database closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.store.posts_written(), patience)
        if self._marker_writes:
            await asyncio.gather(*self._marker_writes.values(), return_exceptions=True)

    async def _mark_read(self, reader: Author, reader_id: int | None, topic_id: int,
                         number: int) -> None:
        """Record that ``reader`` has read ``topic_id`` up to post ``number`` (off the answer)."""
        try:
            if reader_id is None:
                reader_id = await self.store.ensure_participant(reader, self.clock())
            await self.store.mark_read(reader_id, topic_id, number)
        except Exception as err:  # a lost marker only shows a few posts as new again
            errors.log_failed(log, err, "recording what a reader has read", self.storage.is_failure)

    async def note_answer(self, where: ChannelRef, topic_id: int,
                          message_ids: Sequence[str]) -> None:
        """Remember the bot's answer about a topic where it was sent, so that a person who
        replies to it ("Topic #1 is open…", "Question 1 added…", a /status) writes a post in
        that topic. Best effort: the answer is already out, so a failure is only logged."""
        try:
            await self.store.map_answer(where, topic_id, message_ids)
        except Exception as err:
            log.warning("could not remember the bot's answer in %s as part of topic %d: %s",
                        where, topic_id, " ".join(str(err).split())[:200])

    async def status(self, reader: Author, where: ChannelRef, reply_to: str | None = None,
                     *, platform_admin: bool = False, lang: str | None = None) -> str:
        """``/status`` in a bridged chat, for ``reader`` in ``lang`` (default: the chat's)."""
        lang = lang or self.chat_language(where)
        t = translator(lang)
        topic = await self.topic_here(where, reply_to)
        line = await self.status_line(topic, reader, lang=lang)
        text = t("“{title}” (topic #{id})", title=topic.title, id=topic.id) + f"\n{line}"
        if topic.is_locked and topic.lock_reason:
            text += "\n" + t("Locked: {reason}", reason=topic.lock_reason)
        dead = await self.outbox.dead_count(topic.id)
        if dead and await self.is_facilitator(reader, platform_admin):
            # English keeps "deliveries" for 1 too (as before); other languages inflect.
            text += "\n" + t.ngettext("{n} delivery failed for good; `bridgebot outbox` shows why.",
                                      "{n} deliveries failed for good; `bridgebot outbox` shows why.",
                                      dead)
        return text

    # -- relay support -----------------------------------------------------------

    def _targets(self, topic: Topic, exclude: ChannelRef | None = None) -> list[ChannelRef]:
        channels = self.bridges[topic.bridge].channels if topic.bridge in self.bridges else ()
        skip = exclude.chat if exclude else None
        return [c for c in channels if c != skip]

    async def build_delivery(self, row: PendingDelivery) -> Delivery | None:
        """Everything an adapter needs to show one outbox row; None if it's moot."""
        placed = await self.store.topic_on(row.topic_id, row.target)
        if placed is None:
            return None
        topic, thread_id, root = placed
        target = ChannelRef(row.target.platform, row.target.chat_id, thread_id)
        prompt = await self.store.prompt(row.prompt_id) if row.prompt_id else None
        post = await self.store.post(row.post_id) if row.post_id else None
        parent = await self.store.post(post.parent_id) if post and post.parent_id else None
        if post is not None:  # authors as the bridge shows them, and no user id (core/privacy.py)
            shown = await name_posts(self.privacy, self.bridges, [post] + ([parent] if parent else []),
                                     for_delivery=True)
            post, parent = shown[0], (shown[1] if parent else None)
            # Mentions too (the parent's show in a quoted excerpt).
            post = await name_mentions(self.privacy, self.bridges, topic, post)
            if parent is not None:
                parent = await name_mentions(self.privacy, self.bridges, topic, parent)
        reply_to: str | None = None
        reply_is_parent = False
        message_ids: tuple[str, ...] = ()
        original_ids: tuple[str, ...] = ()
        combined: tuple[CombinedCopy, ...] = ()
        rewrites: tuple[BotText, ...] = ()
        if row.action is Action.POST and post is not None:
            reply_to, reply_is_parent = await self._nearest_reply_target(post, row.target)
            if reply_to is None and thread_id is None:
                reply_to = root
        elif row.action is Action.EDIT and post is None and prompt is not None:
            # A reworded question: the bot's own copies of it (the facilitator's command
            # message, an original, is theirs).
            message_ids = tuple(await self.store.messages_on(row.target, prompt_id=prompt.id,
                                                             mirrored_only=True))
        elif row.action in (Action.EDIT, Action.HIDE) and post is not None:
            if row.action is Action.EDIT:  # the copy keeps its reply quote
                reply_to, reply_is_parent = await self._nearest_reply_target(post, row.target)
            message_ids = tuple(
                await self.store.messages_on(row.target, post_id=post.id, mirrored_only=True)
            )
            if row.action is Action.EDIT:  # a combined copy also holds others' posts: whole
                combined = await self._combined_copies(row.target, post.id)
                inside = {i for copy in combined for i in copy.message_ids}
                message_ids = tuple(i for i in message_ids if i not in inside)
            if row.action is Action.HIDE:  # a facilitator's hide also deletes the original
                everything = await self.store.messages_on(row.target, post_id=post.id)
                original_ids = tuple(i for i in everything if i not in message_ids)
                message_ids += original_ids
        elif row.action is Action.REWRITE:
            rewrites = tuple([
                BotText(kind, ids, await self.store.prompt(prompt_id) if prompt_id else None, text)
                for kind, ids, prompt_id, text in await self.privacy.bot_texts(topic.id, row.target)])
        elif (row.action in (Action.PROMPT, Action.LOCK, Action.UNLOCK, Action.NOTICE)
              and thread_id is None):
            reply_to = root
        elif row.action is Action.FILES and post is not None:
            # Files that joined the post after its copy here went out: a message of their
            # own, answering the copy, under the author's name (see _join_album).
            start, _, end = (await self.outbox.notice_text(row.id) or "0:0").partition(":")
            on_target = await self.store.messages_on(row.target, post_id=post.id, mirrored_only=True)
            reply_to = on_target[-1] if on_target else root if thread_id is None else None
            post = replace(post, text="", subject=None, spans=(), parent_id=None,
                           attachments=post.attachments[int(start):int(end or 0)])
            parent = None
            reply_is_parent = True
        notice = await self.outbox.notice_text(row.id) if row.action is Action.NOTICE else None
        if post is not None and post.attachments and self.archive_url:
            post = with_archive_links(post, f"{self.archive_url}/topics/{topic.id}/")
        return Delivery(
            # A FILES row is shown as a post (of the files alone): every adapter sends those.
            id=row.id, action=Action.POST if row.action is Action.FILES else row.action,
            target=target, topic=topic, prompt=prompt, post=post,
            parent=parent, reply_to=reply_to, reply_is_parent=reply_is_parent,
            message_ids=message_ids, attempts=row.attempts, notice=notice,
            original_ids=original_ids, combined=combined, rewrites=rewrites,
        )

    async def _combined_copies(self, target: ChannelRef, post_id: int) -> tuple[CombinedCopy, ...]:
        """The combined messages on ``target`` holding this post, with every post they hold
        (and its parent) as they are now, named as the bridge names authors."""
        copies = []
        for message_ids, post_ids in await self.privacy.combined_copies(target, post_id):
            parts: list[tuple[Post, Post | None]] = []
            for part_id in post_ids:
                part = await self.store.post(part_id)
                if part is None:
                    continue
                parent = await self.store.post(part.parent_id) if part.parent_id else None
                shown = await name_posts(self.privacy, self.bridges,
                                         [part] + ([parent] if parent else []), for_delivery=True)
                topic = await self.store.topic(part.topic_id)
                if topic is not None:  # mentions named as authors are
                    shown = [await name_mentions(self.privacy, self.bridges, topic, p) for p in shown]
                parts.append((shown[0], shown[1] if parent else None))
            if message_ids and parts:
                copies.append(CombinedCopy(message_ids, tuple(parts)))
        return tuple(copies)

    async def _nearest_reply_target(self, post: Post, target: ChannelRef) -> tuple[str | None, bool]:
        """The message on ``target`` a mirrored post should answer natively, and whether
        it is the parent's own.

        The parent's message if it has one there, else the nearest ancestor that
        does, else the prompt it answers; the adapter quotes the parent when the
        native reply is not to the parent itself.
        """
        ancestor_id = post.parent_id
        seen: set[int] = set()
        while ancestor_id is not None and ancestor_id not in seen:
            seen.add(ancestor_id)
            ids = await self.store.messages_on(target, post_id=ancestor_id)
            if ids:
                return ids[0], ancestor_id == post.parent_id
            ancestor = await self.store.post(ancestor_id)
            ancestor_id = ancestor.parent_id if ancestor else None
        if post.prompt_id is not None:
            ids = await self.store.messages_on(target, prompt_id=post.prompt_id, mirrored_only=True)
            if ids:
                return ids[0], False
        return None, False

    async def delivered_combined(
        self, rows: Sequence[PendingDelivery], deliveries: Sequence[Delivery], message_ids: Sequence[str]
    ) -> None:
        last = deliveries[-1]
        assert last.post is not None
        await self.outbox.complete_combined(rows, message_ids, self.clock(), topic_id=last.topic.id,
                                           post_id=last.post.id, thread_id=last.target.thread_id)

    async def delivered(
        self, row: PendingDelivery, delivery: Delivery, message_ids: Sequence[str],
        thread_id: str | None,
    ) -> None:
        opening = None
        if row.action is Action.OPEN_TOPIC:
            opening = await self.store.post_by_number(row.topic_id, OPENING_NUMBER)
        post_id = delivery.post.id if delivery.post else (opening.id if opening else None)
        await self.outbox.complete(
            row, message_ids, thread_id or delivery.target.thread_id, self.clock(),
            topic_id=row.topic_id, prompt_id=row.prompt_id, post_id=post_id,
            replaced=delivery.message_ids if row.action is Action.EDIT else (),
            # How many files the copy carried: files that joined the post meanwhile follow.
            carried=len(delivery.post.attachments)
            if row.action is Action.POST and delivery.post is not None else None,
        )
