"""The neutral discussion model that crosses every boundary in bridgebot.

Adapters translate platform events into these types and back; the store persists
them; nothing here knows about Discord or Telegram. Keeping one model (as
matterbridge's ``config.Message`` does) is what lets a reply written on one
platform be threaded correctly on another.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from bridgebot.core.richtext.spans import Span


class TopicStatus(enum.StrEnum):
    OPEN = "open"
    LOCKED = "locked"


class Action(enum.StrEnum):
    """What a delivery asks an adapter to do on one target channel."""

    OPEN_TOPIC = "open_topic"
    PROMPT = "prompt"
    POST = "post"
    EDIT = "edit"
    HIDE = "hide"
    LOCK = "lock"
    UNLOCK = "unlock"
    # A bot message (a digest) whose text travels in the outbox row: ``Delivery.notice``.
    NOTICE = "notice"
    # The bot's own messages of a topic on a target shown again with today's texts (the
    # topic, its questions, lock notices, digests): after /forgetme renamed someone in them.
    REWRITE = "rewrite"
    # Files that joined a post after its copy went out (a Telegram album item arriving late,
    # say after a restart): sent as a message of their own that answers the post's copy.
    # The row's ``notice`` holds which of the post's files, as ``start:end``.
    FILES = "files"


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    DEAD = "dead"


@dataclass(frozen=True)
class ChannelRef:
    """A place on a platform: a chat or channel, and optionally a thread in it.

    For Telegram ``chat_id`` is the chat and ``thread_id`` a forum topic; for Discord
    ``chat_id`` is the bridged (parent) channel and ``thread_id`` the topic's thread.
    """

    platform: str
    chat_id: str
    thread_id: str | None = None

    @property
    def chat(self) -> ChannelRef:
        """The same chat without the thread: what a bridge links."""
        return ChannelRef(self.platform, self.chat_id)

    def __str__(self) -> str:
        where = f"{self.platform}:{self.chat_id}"
        return f"{where}/{self.thread_id}" if self.thread_id else where


# The platform of bridgebot's own actors (a topic file's facilitator, run by the
# scheduler): they act through the same rules as people, as facilitators.
SYSTEM_PLATFORM = "bridgebot"


@dataclass(frozen=True)
class Author:
    """Who wrote something, as the platform identifies them."""

    platform: str
    user_id: str
    display_name: str

    @property
    def is_system(self) -> bool:
        return self.platform == SYSTEM_PLATFORM


# Where a topic's guiding questions stand in its introduction (a line of its own).
QUESTIONS_MARKER = "{questions}"


@dataclass(frozen=True)
class Topic:
    id: int
    bridge: str
    title: str
    introduction: str
    status: TopicStatus
    opened_by: str
    opened_at: datetime
    locked_by: str | None = None
    locked_at: datetime | None = None
    lock_reason: str | None = None

    @property
    def is_locked(self) -> bool:
        return self.status is TopicStatus.LOCKED

    @property
    def introduction_parts(self) -> tuple[str, str]:
        """The introduction before and after the guiding questions.

        A line holding only ``{questions}`` (in a topic file or ``/newtopic``) says where
        they stand; without it they follow the first paragraph, as in most forum topics
        ("Consider these questions below: ... [questions] ... Share your thoughts").
        """
        lines = self.introduction.splitlines()
        for i, line in enumerate(lines):
            if line.strip() == QUESTIONS_MARKER:
                return "\n".join(lines[:i]).strip(), "\n".join(lines[i + 1:]).strip()
        first, _, rest = self.introduction.strip().partition("\n\n")
        return first.strip(), rest.strip()

    @property
    def chat_introduction(self) -> str:
        """The introduction as the chats show it: the questions follow as their own messages,
        so the marker line goes."""
        if QUESTIONS_MARKER not in self.introduction:
            return self.introduction
        before, after = self.introduction_parts
        return "\n\n".join(part for part in (before, after) if part)


@dataclass(frozen=True)
class Prompt:
    """A guiding question of a topic; ``position`` orders them (1, 2, 3...)."""

    id: int
    topic_id: int
    position: int
    question: str
    created_at: datetime


# What kind of file an attachment is, as the chats tell them apart: a photo shows inline, a
# voice note plays as one, anything else is a document.
ATTACHMENT_KINDS = ("photo", "video", "animation", "voice", "audio", "video_note", "sticker",
                    "document")


@dataclass(frozen=True)
class Attachment:
    """A file that came with a post: stored once in the data directory under its SHA-256.

    ``sha256`` is empty when the file could not be fetched (larger than the platform lets a
    bot download): the post then carries a line naming it, never nothing.
    """

    name: str
    mime_type: str
    size: int
    sha256: str = ""
    kind: str = "document"
    # Its copy in the public archive (``archive_url``), for the line that stands for it
    # where it cannot cross; set on deliveries only, never stored.
    url: str = ""

    @property
    def stored(self) -> bool:
        return bool(self.sha256)

    @property
    def is_image(self) -> bool:
        return self.kind in ("photo", "sticker") or self.mime_type.startswith("image/")


# A topic's posts are numbered from 1 in the order they were taken, as on the forum: number
# 1 is its opening post (the topic's title and introduction), every later one a comment.
OPENING_NUMBER = 1


def opens_topic(number: int) -> bool:
    """Whether a topic's post numbered ``number`` is its opening post, not a comment.

    The one rule for a :class:`Post` (:attr:`Post.is_opening`), a :class:`PostStub` and a
    store's rows; the store's SQL says ``number = 1`` (or ``> 1``) in its own words."""
    return number == OPENING_NUMBER


@dataclass(frozen=True)
class Post:
    """A post in a topic, numbered in it: see :data:`OPENING_NUMBER`."""

    id: int
    topic_id: int
    number: int
    author_name: str
    author_platform: str
    author_id: str
    text: str
    subject: str | None
    parent_id: int | None
    prompt_id: int | None
    created_at: datetime
    edited_at: datetime | None = None
    hidden: bool = False
    hidden_by: str | None = None  # who hid it: a facilitator's name, or "author (deleted)"
    attachments: tuple[Attachment, ...] = ()  # in the order the author sent them
    # Formatting, links and mentions over ``text`` (core/richtext): how it was written.
    spans: tuple[Span, ...] = ()
    # Its text was erased (/forgetme, retention): where an edit keeps the old text in the
    # message's history (Matrix), the old message is removed as well.
    erased: bool = False

    @property
    def is_opening(self) -> bool:
        return opens_topic(self.number)

    def named(self, author_name: str, author_id: str) -> Post:
        """This post under the name (and author key) a reader is shown.

        The same as ``dataclasses.replace(post, author_name=..., author_id=...)``, without
        its per-field work: an archive page renames every post of a topic, and at 10,000
        posts ``replace`` alone took ~0.25 s of the page. Every field is a plain value, so
        copying the instance's fields is a faithful copy.
        """
        if author_name == self.author_name and author_id == self.author_id:
            return self
        copy = object.__new__(Post)
        fields = copy.__dict__
        fields.update(self.__dict__)
        fields["author_name"] = author_name
        fields["author_id"] = author_id
        return copy


class PostStub(NamedTuple):
    """A visible post's place in its topic without its words or author: what cutting a long
    topic into pages of whole threads needs of every post (``Archive.threads`` walks these
    as it walks posts)."""

    id: int
    number: int
    parent_id: int | None


@dataclass(frozen=True)
class IncomingMessage:
    """A message a person wrote on some platform, as an adapter hands it to the core."""

    where: ChannelRef
    message_id: str
    author: Author
    text: str
    sent_at: datetime
    reply_to_message_id: str | None = None
    # (name, value) of an intake cursor (e.g. Telegram's getUpdates offset) to commit in
    # the same transaction as the post, so the platform is told "received" only after it.
    cursor: tuple[str, str] | None = None
    # The writer's language as their app reports it (Telegram ``language_code``, Discord
    # interaction ``locale``): answers to them (e.g. "this topic is locked") use it.
    locale: str | None = None
    # A group's or channel's title (never a private chat's, whose title is a person's name):
    # logged once when such a chat is in no bridge, so an operator can find its id.
    chat_title: str | None = None
    # Files that came with the message, already stored (see ``Discussions.files``).
    attachments: tuple[Attachment, ...] = ()
    # Written in a chat that has no threads (a plain Telegram group), where a topic is only
    # its message: replying to nothing can still mean its only open topic.
    threadless: bool = False
    # Formatting, links and mentions over ``text``, read from the platform's own form.
    spans: tuple[Span, ...] = ()
    # The album the message is an item of (Telegram ``media_group_id``): an album is one
    # post, whose later items join the first one's post (see ``Discussions.receive``).
    album: str | None = None
    # The adapter holds every item of the album it could wait for (polling asked for the
    # rest): its copies go at once; otherwise they wait a moment for more items.
    album_complete: bool = False


@dataclass(frozen=True)
class CombinedCopy:
    """A message on a target that holds several posts (a burst combined by the relay), as
    an edit must show it again: its message ids and every post it holds, in order, each
    with its parent (named as the bridge names authors). Editing one post inside it means
    re-rendering the whole message, so the other posts stay as they were."""

    message_ids: tuple[str, ...]
    parts: tuple[tuple[Post, Post | None], ...]


@dataclass(frozen=True)
class BotText:
    """One bot message (or several pieces of one) to show again, for a REWRITE: ``kind`` is
    "topic", "prompt", "lock", "unlock" or "notice"; ``text`` a digest's text."""

    kind: str
    message_ids: tuple[str, ...]
    prompt: Prompt | None = None
    text: str | None = None


@dataclass(frozen=True)
class Delivery:
    """One thing to show on one target channel, handed by the relay to an adapter.

    ``reply_to`` is the platform message id on this target that the delivery should
    answer, already resolved by the core; ``message_ids`` are the target's existing
    messages for this post (for edits and hides).
    """

    id: int
    action: Action
    target: ChannelRef
    topic: Topic
    prompt: Prompt | None = None
    post: Post | None = None
    parent: Post | None = None
    reply_to: str | None = None
    reply_is_parent: bool = False
    message_ids: tuple[str, ...] = ()
    attempts: int = 0
    # NOTICE: the bot's text to show. HIDE: which of ``message_ids`` are the author's own
    # original messages (deleting those needs moderator rights on the platform).
    notice: str | None = None
    original_ids: tuple[str, ...] = ()
    # EDIT: the combined messages on this target that hold the post (re-rendered whole).
    combined: tuple[CombinedCopy, ...] = ()
    # REWRITE: the bot's messages of the topic on this target.
    rewrites: tuple[BotText, ...] = ()


@dataclass(frozen=True)
class DeliveryResult:
    """What a delivery produced on the target: its message ids and, for a new topic,
    the thread (forum topic, Discord thread) where the topic now lives."""

    message_ids: tuple[str, ...] = ()
    thread_id: str | None = None
    # Messages the adapter already counted in the send budget itself (pieces of a long
    # post it paced one by one); the relay counts the rest.
    paced: int = 0


@dataclass(frozen=True)
class TopicStats:
    """The counts a reader sees next to a topic: "9 posts / 2 new" and the last post."""

    posts: int
    new: int
    last_post_author: str | None
    last_post_at: datetime | None
    last_number: int = 0  # the newest post's number, hidden ones included: what "read" reaches
    read_upto: int = 0  # the reader's marker: posts up to this number were read


@dataclass(frozen=True)
class OutboxEntry:
    """An outbox row as the operator sees it in ``bridgebot outbox``."""

    id: int
    topic_id: int
    action: Action
    target: ChannelRef
    state: DeliveryState
    attempts: int
    last_error: str | None
    created_at: datetime


@dataclass
class ReceiveOutcome:
    """What became of an incoming message; ``answer`` is what to tell its author, if anything."""

    post: Post | None = None
    answer: str | None = None
    duplicate: bool = False
    refused_locked: bool = False
    notify_locked: bool = False
    topic: Topic | None = None
    ignored_reason: str | None = None
