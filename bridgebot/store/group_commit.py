"""Group commit for incoming posts: one transaction for every post waiting at that moment.

A post is acknowledged only after its commit, and each commit costs a disk sync and
a handful of thread hops into aiosqlite. One writer therefore takes every post that
queued up while the previous commit ran and writes them together, each statement
batched with ``executemany``: under load many posts share one commit, while a lone
post still commits at once. If a batch fails, its posts are written one by one so
that one bad post cannot fail the others.

The message map's ``UNIQUE (platform, chat_id, message_id)`` stays the authority on
duplicates: the batch first looks its keys up inside the write transaction (so that
a repeated message fails alone instead of aborting the batch), and the constraint
still refuses anything that got past that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bridgebot.core.models import Attachment, Author, ChannelRef
from bridgebot.core.ports import DuplicateMessage
from bridgebot.store.sql import Conn, Db, marks

log = logging.getLogger(__name__)


@dataclass
class PostRequest:
    topic_id: int
    author: Author
    text: str
    subject: str | None
    parent_id: int | None
    prompt_id: int | None
    created_at: datetime
    origin: ChannelRef | None
    message_id: str | None
    targets: Sequence[ChannelRef]
    cursor: tuple[str, str] | None = None
    attachments: Sequence[Attachment] = ()
    spans: str | None = None  # formatting, links and mentions, as stored (core/richtext)
    album: str | None = None  # the album it starts (later items join the post by it)
    not_before: float = 0.0  # its deliveries wait until then (an album's other items)
    # Assigned inside the batch's transaction (``Dialect.new_ids``: SQLite's single writer
    # counts on from MAX(id); PostgreSQL takes them from the posts' sequence).
    post_id: int = field(default=0, init=False)
    number: int = field(default=0, init=False)  # the post's number in its topic (#N)
    done: asyncio.Future[tuple[int, int]] = field(
        init=False, default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def key(self) -> tuple[str, str, str] | None:
        if self.origin is None or self.message_id is None:
            return None
        return (self.origin.platform, self.origin.chat_id, self.message_id)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


class PostWriter:
    """The single writer of posts; :meth:`add` returns once the post is committed."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self._queue: list[PostRequest] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0  # commits made, for benchmarks

    async def add(self, request: PostRequest) -> tuple[int, int]:
        """Queue a post; return (post id, number in its topic) once it is committed."""
        self._queue.append(request)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="post-writer")
        return await asyncio.shield(request.done)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._commit(batch)
            except Exception as err:  # isolate the culprit: write them one at a time
                if len(batch) == 1:
                    self._fail(batch[0], err)
                    continue
                log.warning("a batch of %d posts failed (%s); writing them one by one", len(batch), err)
                for request in batch:
                    if request.done.done():  # already answered (a duplicate)
                        continue
                    try:
                        await self._commit([request])
                    except Exception as single:
                        self._fail(request, single)

    async def _commit(self, batch: list[PostRequest]) -> None:
        async with self.db.tx() as tx:
            accepted = await self._without_duplicates(tx, batch)
            if accepted:
                await self._insert(tx, accepted)
        self.batches += 1
        for request in batch:
            if not request.done.done():
                request.done.set_result((request.post_id, request.number))

    async def _without_duplicates(self, tx: Conn,
                                  batch: list[PostRequest]) -> list[PostRequest]:
        keys = [r.key for r in batch if r.key is not None]
        known: set[tuple[str, str, str]] = set()
        if keys:
            triples = ",".join("(?, ?, ?)" for _ in keys)
            rows = await tx.fetch(
                "SELECT platform, chat_id, message_id FROM message_map "
                f"WHERE (platform, chat_id, message_id) IN (VALUES {triples})",
                [part for key in keys for part in key],
            )
            known = {(r[0], r[1], r[2]) for r in rows}
        accepted: list[PostRequest] = []
        for request in batch:
            key = request.key
            if key is not None and key in known:
                if not request.done.done():
                    request.done.set_exception(DuplicateMessage(request.message_id))
                continue
            if key is not None:
                known.add(key)  # the same message twice in one batch: the second is a duplicate
            accepted.append(request)
        return accepted

    async def _insert(self, tx: Conn, batch: list[PostRequest]) -> None:
        # Writers to a topic take turns from here to the commit (its numbers and pseudonyms
        # count on from MAX); people are written in one order, so two workers' batches
        # never wait on each other's rows crosswise.
        await tx.dialect.lock_topics(tx, {r.topic_id for r in batch})
        authors = sorted({(r.author.platform, r.author.user_id): r for r in batch}.values(),
                         key=lambda r: (r.author.platform, r.author.user_id))
        await tx.executemany(
            "INSERT INTO participants (platform, user_id, display_name, first_seen) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (platform, user_id) DO UPDATE SET display_name = excluded.display_name",
            [(r.author.platform, r.author.user_id, r.author.display_name, _ts(r.created_at))
             for r in authors],
        )
        pairs = ",".join("(?, ?)" for _ in authors)
        rows = await tx.fetch(
            f"SELECT platform, user_id, id FROM participants WHERE (platform, user_id) IN (VALUES {pairs})",
            [part for r in authors for part in (r.author.platform, r.author.user_id)],
        )
        participant = {(r[0], r[1]): r[2] for r in rows}
        for request, post_id in zip(batch, await tx.dialect.new_ids(tx, "posts", len(batch)),
                                    strict=True):
            request.post_id = post_id
        await tx.executemany(
            "INSERT INTO posts (id, topic_id, number, participant_id, origin_platform, text, subject, "
            "parent_id, prompt_id, created_at, spans) VALUES (?, ?, "
            "(SELECT COALESCE(MAX(number), 0) + 1 FROM posts WHERE topic_id = ?), ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r.post_id, r.topic_id, r.topic_id,
              participant[(r.author.platform, r.author.user_id)], r.author.platform, r.text,
              r.subject, r.parent_id, r.prompt_id, _ts(r.created_at), r.spans) for r in batch],
        )
        # A first post in a topic gives its author the topic's next pseudonym ("Participant
        # N"): stored, so the number stays the same whatever happens to later posts.
        await tx.executemany(
            "INSERT INTO pseudonyms (topic_id, participant_id, number) "
            "SELECT CAST(? AS BIGINT), CAST(? AS BIGINT), COALESCE(MAX(number), 0) + 1 "
            "FROM pseudonyms WHERE topic_id = ? ON CONFLICT DO NOTHING",
            [(r.topic_id, participant[(r.author.platform, r.author.user_id)], r.topic_id)
             for r in batch],
        )
        await tx.executemany(
            "INSERT INTO attachments (post_id, position, name, mime_type, size, sha256, kind) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(r.post_id, position, a.name, a.mime_type, a.size, a.sha256, a.kind)
             for r in batch for position, a in enumerate(r.attachments, start=1)],
        )
        await tx.executemany(
            "INSERT INTO message_map (platform, chat_id, message_id, thread_id, topic_id, post_id, "
            "mirrored) VALUES (?, ?, ?, ?, ?, ?, 0)",
            [(r.origin.platform, r.origin.chat_id, r.message_id, r.origin.thread_id, r.topic_id,
              r.post_id) for r in batch if r.origin is not None and r.message_id is not None],
        )
        if any(r.targets for r in batch):
            await tx.dialect.announce(tx)
        await tx.executemany(
            "INSERT INTO outbox (topic_id, action, platform, chat_id, post_id, created_at, "
            "not_before) VALUES (?, 'post', ?, ?, ?, ?, ?)",
            [(r.topic_id, t.platform, t.chat_id, r.post_id, _ts(r.created_at), r.not_before)
             for r in batch for t in r.targets],
        )
        await tx.executemany(
            "INSERT INTO albums (platform, chat_id, album_id, post_id, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(r.origin.platform, r.origin.chat_id, r.album, r.post_id, _ts(r.created_at))
             for r in batch if r.album is not None and r.origin is not None],
        )
        ids = [r.post_id for r in batch]
        numbers = await tx.fetch(f"SELECT id, number FROM posts WHERE id IN ({marks(ids)})", ids)
        number_of = {r[0]: r[1] for r in numbers}
        for request in batch:
            request.number = number_of[request.post_id]
        # Whoever posts has read the topic up to their post: "M new" moves for them too.
        await tx.executemany(
            "INSERT INTO read_markers (participant_id, topic_id, last_read_number) VALUES (?, ?, ?) "
            "ON CONFLICT (participant_id, topic_id) "
            f"DO UPDATE SET last_read_number = {tx.dialect.greatest}("
            "read_markers.last_read_number, excluded.last_read_number)",
            [(participant[(r.author.platform, r.author.user_id)], r.topic_id, r.number)
             for r in batch],
        )
        cursors = {r.cursor[0]: r.cursor[1] for r in batch if r.cursor is not None}
        if cursors:
            await tx.executemany(
                "INSERT INTO cursors (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                list(cursors.items()),
            )

    def _fail(self, request: PostRequest, err: Exception) -> None:
        if request.done.done():
            return
        if self.db.is_duplicate(err, "message_map"):
            err = DuplicateMessage(request.message_id)
        request.done.set_exception(err)
