"""What the core needs from storage: small protocols, and the records they speak in.

The core names no database. It asks for whole operations, each atomic on its own
("record this post, the message that carried it and its deliveries", "lock this topic
and queue the lock to every chat"), and for a :class:`UnitOfWork` when one of its own
steps must commit together with another (the scheduler marks a plan item done in the
same unit as the topic, question, digest or lock it creates: that is what makes a
scheduled step happen exactly once, even with two bots on one database).

``bridgebot/store`` implements these protocols for SQLite; :mod:`bridgebot.runtime`
wires an implementation into the core as a :class:`Storage`. A second implementation
(another database) implements the same protocols with its own SQL, numbering and
locking; nothing in the core changes.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from bridgebot.core.models import (
    Action,
    Attachment,
    Author,
    ChannelRef,
    DeliveryState,
    OutboxEntry,
    Post,
    PostStub,
    Prompt,
    Topic,
    TopicStats,
    TopicStatus,
)
from bridgebot.core.plan import Plan, PlanItem, PlanSpec, PublishResult
from bridgebot.core.richtext.spans import Span

# -- records -------------------------------------------------------------------------


class DuplicateMessage(Exception):
    """This platform message was recorded before (a redelivery): it is not a new post."""


class LockedBeforeCommit(Exception):
    """The post's topic was locked (by this process or another) after the post was checked
    and before it could be committed: it is refused as a post in a locked topic is."""


@dataclass(frozen=True)
class MapHit:
    """What a platform message stands for in the discussion."""

    topic_id: int
    prompt_id: int | None
    post_id: int | None


@dataclass(frozen=True)
class PendingDelivery:
    """An outbox entry still to be delivered: what to do where, and how often it was tried."""

    id: int
    topic_id: int
    action: Action
    target: ChannelRef
    prompt_id: int | None
    post_id: int | None
    attempts: int
    not_before: float


@dataclass(frozen=True)
class Identity:
    """Who wrote a post, as far as naming goes: never shown as such, only turned into the
    name a bridge shows (see :func:`bridgebot.core.names.shown_name`)."""

    participant_id: int
    bridge: str
    display_name: str
    alias: str | None
    pseudonym: int | None
    forgotten: bool


@dataclass(frozen=True)
class PersonSummary:
    """What bridgebot holds about one person: told to them before they confirm /forgetme."""

    posts: int
    topics: int


@dataclass
class ForgetReport:
    """What forgetting one person did, for their answer and the operator's ``bridgebot forget``."""

    anonymous_name: str
    posts_erased: int = 0
    topic_ids: set[int] = field(default_factory=set)
    topics_opened: int = 0
    had_alias: bool = False
    copies_edited: Counter[str] = field(default_factory=Counter)  # platform -> messages to edit
    copies_combined: Counter[str] = field(default_factory=Counter)  # platform -> combined copies
    bot_texts_in: set[int] = field(default_factory=set)  # topics whose bot messages named them
    replies_quoting: int = 0  # others' posts whose copies quote theirs (the quote re-rendered)
    deliveries: list[int] = field(default_factory=list)  # the outbox rows that carry the erasure
    others_posts_renamed: int = 0  # others' posts that named them (name replaced)
    digests_naming: int = 0  # digest messages already posted that named them
    files_deleted: int = 0  # stored files of their posts, deleted from the data directory


class UnitOfWork(Protocol):
    """Writes passed the same unit (``within=``) commit together or not at all.

    Opaque to the core: only the storage that made it can use it.
    """


# -- ports -----------------------------------------------------------------------------


class DiscussionPort(Protocol):
    """Topics, questions, posts, where each lives on every platform, and who reads what."""

    async def topic(self, topic_id: int) -> Topic | None: ...
    async def topic_placing(self, topic_id: int) -> Topic | None:
        """``topic``, for placing a message: may be a read made a moment ago for the posts
        gathered with it (see ``Store.topic_placing``)."""
        ...
    async def topics(self) -> list[Topic]: ...
    async def latest_topic(self, bridge: str) -> Topic | None: ...
    async def bridge_topics(self, bridge: str, status: TopicStatus) -> list[Topic]: ...
    async def reader_topics(self, platform: str, user_id: str,
                            bridges: Iterable[str] = ()) -> list[Topic]: ...
    async def prompt(self, prompt_id: int) -> Prompt | None: ...
    async def prompts(self, topic_id: int) -> list[Prompt]: ...
    async def post(self, post_id: int) -> Post | None: ...
    async def post_by_number(self, topic_id: int, number: int) -> Post | None: ...
    async def posts(self, topic_id: int, include_hidden: bool = False) -> list[Post]: ...
    async def post_outline(self, topic_id: int) -> list[PostStub]: ...
    async def posts_by_ids(self, topic_id: int, post_ids: Sequence[int]) -> list[Post]: ...
    async def unread_posts(self, topic_id: int, reader_id: int, after: int,
                           limit: int) -> list[Post]: ...
    async def subject_sources(self, topic_id: int, post_ids: Sequence[int]) -> list[Post]: ...
    async def last_visible_numbers(self, topic_ids: Sequence[int]) -> dict[int, int]: ...
    async def topic_counts(self) -> dict[int, tuple[int, int]]: ...
    async def visible_after(self, topic_id: int, number: int) -> int: ...
    async def topic_state(self, topic_id: int) -> tuple[int, int, datetime | None]: ...
    async def resolve_message(self, platform: str, chat_id: str, message_id: str) -> MapHit | None: ...
    async def topic_for_thread(self, where: ChannelRef) -> int | None: ...
    async def topic_place(self, topic_id: int, target: ChannelRef) -> tuple[str | None, str | None]: ...
    async def topic_on(self, topic_id: int, target: ChannelRef
                       ) -> tuple[Topic, str | None, str | None] | None: ...
    async def topic_places(self, topic_id: int) -> list[ChannelRef]: ...

    async def messages_on(
        self, target: ChannelRef, *, post_id: int | None = None, prompt_id: int | None = None,
        mirrored_only: bool = False,
    ) -> list[str]: ...

    async def origin_of(self, post_id: int) -> ChannelRef | None: ...
    async def participant_id(self, platform: str, user_id: str) -> int | None: ...
    async def is_facilitator(self, platform: str, user_id: str) -> bool: ...
    async def stats(self, topic_id: int, reader_id: int | None) -> TopicStats: ...
    async def reader_stats(self, topic_ids: Sequence[int], platform: str,
                           user_id: str) -> dict[int, TopicStats]: ...
    async def read_marker(self, participant_id: int, topic_id: int) -> int: ...
    async def open_threads(self, platform: str) -> list[tuple[ChannelRef, str | None]]: ...
    async def cursor(self, name: str) -> str | None: ...
    async def save_cursor(self, name: str, value: str) -> None: ...
    async def set_facilitators(self, people: Iterable[tuple[str, str]]) -> None: ...

    async def create_topic(
        self, bridge: str, title: str, introduction: str, author: Author, now: datetime,
        targets: Sequence[ChannelRef], *, within: UnitOfWork | None = None,
        command: tuple[ChannelRef, str] | None = None,
    ) -> int: ...

    async def add_prompt(
        self, topic_id: int, question: str, now: datetime, targets: Sequence[ChannelRef],
        *, within: UnitOfWork | None = None, command: tuple[ChannelRef, str] | None = None,
    ) -> int: ...

    async def edit_prompt(self, prompt_id: int, question: str, now: datetime,
                          targets: Sequence[ChannelRef]) -> bool: ...

    async def edit_topic(self, topic_id: int, title: str, introduction: str, now: datetime,
                         targets: Sequence[ChannelRef]) -> bool: ...

    async def set_status(
        self, topic_id: int, status: TopicStatus, who: str, reason: str | None, now: datetime,
        targets: Sequence[ChannelRef], *, within: UnitOfWork | None = None,
    ) -> bool: ...

    async def add_post(
        self, *, topic_id: int, author: Author, text: str, subject: str | None,
        parent_id: int | None, prompt_id: int | None, created_at: datetime,
        origin: ChannelRef | None, message_id: str | None, targets: Sequence[ChannelRef],
        cursor: tuple[str, str] | None = None, attachments: Sequence[Attachment] = (),
        spans: Sequence[Span] = (), album: str | None = None, not_before: float = 0.0,
    ) -> tuple[int, int]: ...

    async def album_post(self, where: ChannelRef, album: str) -> int | None:
        """The post an album (``IncomingMessage.album``) of a chat became, if any."""
        ...

    async def add_to_album(
        self, post_id: int, *, origin: ChannelRef, message_id: str,
        attachments: Sequence[Attachment], text: tuple[str | None, str, Sequence[Span]] | None,
        targets: Sequence[ChannelRef], now: datetime, not_before: float,
        cursor: tuple[str, str] | None = None,
    ) -> None:
        """One more item of an album joins its post, atomically: the message is mapped to
        the post, its files appended, ``text`` (subject, body, spans) given to a post that
        had none, the post's copies still to be sent wait until ``not_before``, and on each
        target whose copy already went out a FILES delivery carries the new files. Raises
        :class:`DuplicateMessage` when the message was recorded before."""
        ...

    def queue_post(
        self, *, topic_id: int, author: Author, text: str, subject: str | None,
        parent_id: int | None, prompt_id: int | None, created_at: datetime,
        origin: ChannelRef | None, message_id: str | None, targets: Sequence[ChannelRef],
        cursor: tuple[str, str] | None = None, attachments: Sequence[Attachment] = (),
        spans: Sequence[Span] = (), album: str | None = None, not_before: float = 0.0,
        patience: float | None = None,
    ) -> asyncio.Future[tuple[int, int]]:
        """``add_post`` in two steps: the post is queued (posts are written in queue order)
        and the future of its commit returned; cancelling it withdraws an unwritten post."""
        ...

    async def posts_written(self, where: ChannelRef | None = None,
                            message_id: str | None = None) -> bool:
        """Wait for every post queued so far to be committed; False if none was waiting.
        With ``where`` and ``message_id``: only if that message's post is among them."""
        ...

    def together(self) -> AbstractContextManager[None]:
        """Posts queued inside the block are written together, once it ends or once
        something waits for them (``posts_written``)."""
        ...

    @property
    def held_writes(self) -> int:
        """Times queued posts were held because the database refused them."""
        ...

    async def edit_post(
        self, post_id: int, text: str, subject: str | None, edited_at: datetime,
        targets: Sequence[ChannelRef], spans: Sequence[Span] = (),
    ) -> bool: ...

    async def set_hidden(
        self, post_id: int, hidden: bool, who: str | None, now: datetime,
        targets: Sequence[ChannelRef],
    ) -> bool: ...

    async def note_lock_notice(self, topic_id: int, platform: str, user_id: str) -> bool: ...
    async def map_answer(self, where: ChannelRef, topic_id: int,
                         message_ids: Sequence[str]) -> None: ...
    async def mark_read(self, participant_id: int, topic_id: int, number: int) -> None: ...
    async def ensure_participant(self, author: Author, now: datetime) -> int: ...


class OutboxPort(Protocol):
    """Deliveries waiting for a platform, in order per topic on each target, and what they
    produced. A stream is one topic on one target chat (``topic_id`` with ``target``)."""

    async def pending_heads(self, platforms: Collection[str] | None = None) -> list[PendingDelivery]: ...
    async def pending_for(self, target: ChannelRef, topic_id: int,
                          limit: int) -> list[PendingDelivery]: ...
    async def next_pending(self, target: ChannelRef, topic_id: int) -> PendingDelivery | None: ...
    async def outbox(self, states: Iterable[DeliveryState] = ...) -> list[OutboxEntry]: ...
    async def dead_count(self, topic_id: int | None = None) -> int: ...
    async def notice_text(self, delivery_id: int) -> str | None: ...

    async def complete(
        self, row: PendingDelivery, message_ids: Sequence[str], thread_id: str | None,
        now: datetime, *, topic_id: int, prompt_id: int | None, post_id: int | None,
        replaced: Sequence[str] = (), carried: int | None = None,
    ) -> None: ...

    async def complete_combined(
        self, rows: Sequence[PendingDelivery], message_ids: Sequence[str], now: datetime,
        *, topic_id: int, post_id: int, thread_id: str | None,
    ) -> None: ...

    async def mark_attempt(self, delivery_ids: Sequence[int]) -> None: ...
    async def retry_later(self, delivery_id: int, not_before: float, error: str) -> None: ...
    async def bury(self, delivery_id: int, error: str) -> None: ...
    async def revive(self, delivery_id: int) -> bool: ...
    async def drop(self, delivery_id: int) -> bool: ...


class FacilitationPort(Protocol):
    """Published plans and their dated items, digests, and the reader queries behind
    /status and /catchup."""

    async def plan(self, plan_id: int) -> Plan | None: ...
    async def plan_named(self, name: str) -> Plan | None: ...
    async def plans(self) -> list[Plan]: ...
    async def items(self, plan_id: int) -> list[PlanItem]: ...
    async def save_plan(self, spec: PlanSpec, now: datetime) -> PublishResult: ...
    async def due_items(self, now: datetime) -> list[tuple[Plan, PlanItem]]: ...
    async def next_due(self, after: datetime) -> datetime | None: ...

    async def claim(self, within: UnitOfWork, item_id: int, now: datetime, outcome: str) -> bool:
        """Mark an item done as part of ``within``; False if it already was (by anyone)."""
        ...

    async def link_topic(self, within: UnitOfWork, plan_id: int, topic_id: int) -> None: ...
    async def last_digest(self, topic_id: int) -> int: ...

    async def record_digest(
        self, topic_id: int, upto_number: int, who: str, now: datetime, text: str,
        targets: Sequence[ChannelRef], *, within: UnitOfWork | None = None,
        texts: Mapping[ChannelRef, str] | None = None,
    ) -> None: ...

    async def reader_bridges(self, platform: str, user_id: str) -> list[str]: ...
    async def message_places(self, post_id: int) -> list[tuple[ChannelRef, str]]: ...


class PrivacyPort(Protocol):
    """Aliases, pseudonyms, forgetting a person, retention, and combined copies."""

    async def identities(self, post_ids: Iterable[int]) -> dict[int, Identity]: ...
    async def mentioned(self, topic_id: int, platform: str, user_id: str) -> Identity | None: ...
    async def topic_identities(self, topic_id: int) -> dict[int, Identity]: ...
    async def last_visible_authors(self, topic_ids: Iterable[int]) -> dict[int, tuple[Identity, bool]]: ...
    async def combined_message_ids(self, target: ChannelRef, post_id: int) -> set[str]: ...
    async def combined_copies(self, target: ChannelRef,
                              post_id: int) -> list[tuple[tuple[str, ...], list[int]]]: ...
    async def bot_texts(self, topic_id: int, target: ChannelRef
                        ) -> list[tuple[str, tuple[str, ...], int | None, str | None]]: ...
    async def delivery_outcomes(self, delivery_ids: Sequence[int]) -> list[tuple[str, str, str | None]]: ...
    async def alias_of(self, bridge: str, platform: str, user_id: str) -> str | None: ...
    async def names_in_bridge(self, bridge: str) -> list[tuple[str, str, str]]: ...
    async def set_alias(self, bridge: str, author: Author, alias: str, key: str, now: datetime) -> bool: ...
    async def clear_alias(self, bridge: str, platform: str, user_id: str) -> bool: ...
    async def person(self, platform: str, user_id: str) -> PersonSummary | None: ...

    async def forget(self, platform: str, user_id: str, now: datetime, placeholder: str,
                     anonymous: str, generic_names: Collection[str]) -> ForgetReport | None: ...

    async def locked_topics(self, bridge: str) -> list[tuple[int, datetime]]: ...
    async def erase_topics(self, topic_ids: Sequence[int], placeholder: str, now: datetime) -> int: ...
    async def has_pending(self) -> bool: ...


class FilePort(Protocol):
    """The files people send with posts: stored once, by content, beside the database.

    ``put`` takes a file an adapter fetched (a path it may move, or bytes), removes image
    metadata (EXIF, GPS, XMP) before anything keeps it, and returns the record that goes
    with the post; ``path`` is where a stored file can be read (to upload it elsewhere, to
    serve it); ``discard`` deletes stored files no post refers to any more.
    """

    async def put(self, source: bytes | Path, name: str, mime_type: str, kind: str) -> Attachment: ...
    def path(self, attachment: Attachment) -> Path | None: ...
    async def discard(self, sha256s: Iterable[str]) -> int: ...


@dataclass(frozen=True)
class Storage:
    """Everything the core stores, as one value the runtime hands to :class:`Discussions`."""

    discussions: DiscussionPort
    outbox: OutboxPort
    facilitation: FacilitationPort
    privacy: PrivacyPort
    # Opens a unit of work: ``async with storage.unit_of_work() as work:``.
    unit_of_work: Callable[[], AbstractAsyncContextManager[UnitOfWork]]
    # Whether an exception is the storage failing (locked, full, gone) rather than the data:
    # the relay then keeps the delivery and backs off instead of dead-lettering it.
    is_failure: Callable[[BaseException], bool]
    # The stored files of posts (photos, documents ...); None: this storage keeps no files.
    files: FilePort | None = None
