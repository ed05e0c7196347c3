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
from bridgebot.store.sql import Conn, Db

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
    # Assigned inside the batch's transaction (the id by the database, the number from the
    # topic's last one, read under the topic's lock).
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


TEXT3 = ("TEXT", "TEXT", "TEXT")
# topic, number, participant, origin platform, text, subject, parent, prompt, created, spans
POST_COLUMNS = ("BIGINT", "BIGINT", "BIGINT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT", "TEXT", "TEXT")


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
        # Writers to a topic take turns from here to the commit (its numbers and pseudonyms
        # count on from MAX): the topics are locked in the round trip that looks the
        # messages up (a duplicate committed meanwhile is still refused by the UNIQUE key).
        d = tx.dialect
        topics = sorted({r.topic_id for r in batch})
        keys = [r.key for r in batch if r.key is not None]
        known: set[tuple[str, str, str]] = set()
        if keys:
            rows = await d.lock_topics_reading(
                tx, topics, "SELECT platform, chat_id, message_id FROM message_map "
                f"WHERE (platform, chat_id, message_id) IN (SELECT c1, c2, c3 FROM {d.rows(*TEXT3)})",
                d.pack(keys, 3),
            )
            known = {(r[0], r[1], r[2]) for r in rows}
        else:
            await d.lock_topics(tx, topics)
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
        """A fixed handful of statements whatever the batch's size (each row set passed as
        arrays, :meth:`Dialect.rows`), so that on PostgreSQL a batch costs the same few round
        trips for one post or two hundred: people, numbering, posts, the rest (after the
        lookup of duplicates that locked the topics)."""
        d = tx.dialect
        topics = sorted({r.topic_id for r in batch})
        # The topics are locked (:meth:`_without_duplicates`); people are written in one
        # order, so two workers' batches never wait on each other's rows crosswise.
        authors = sorted({(r.author.platform, r.author.user_id): r for r in batch}.values(),
                         key=lambda r: (r.author.platform, r.author.user_id))
        rows = await tx.fetch(
            "INSERT INTO participants (platform, user_id, display_name, first_seen) "
            f"SELECT c1, c2, c3, c4 FROM {d.rows('TEXT', 'TEXT', 'TEXT', 'TEXT')} WHERE true "
            "ON CONFLICT (platform, user_id) DO UPDATE SET display_name = excluded.display_name "
            "RETURNING platform, user_id, id",
            d.pack([(r.author.platform, r.author.user_id, r.author.display_name, _ts(r.created_at))
                    for r in authors], 4),
        )
        participant = {(r[0], r[1]): int(r[2]) for r in rows}

        def who(r: PostRequest) -> int:
            return participant[(r.author.platform, r.author.user_id)]

        # Where each topic's numbering stands, read after the lock (so it is the last
        # writer's committed end): its last post number, its last pseudonym, and the
        # pseudonyms these authors already have there.
        pairs = sorted({(r.topic_id, who(r)) for r in batch})
        # Each MAX is its own subquery on one topic, which both databases answer from the
        # end of the (topic_id, number) index; a GROUP BY over several topics would read
        # every post of each.
        numbering = await tx.fetch(
            "SELECT 0, c1, 0, (SELECT MAX(number) FROM posts WHERE topic_id = v.c1), "
            "(SELECT MAX(number) FROM pseudonyms WHERE topic_id = v.c1) "
            f"FROM {d.rows('BIGINT')} "
            "UNION ALL SELECT 1, topic_id, participant_id, number, 0 FROM pseudonyms "
            f"WHERE (topic_id, participant_id) IN (SELECT c1, c2 FROM {d.rows('BIGINT', 'BIGINT')})",
            [*d.pack([(t,) for t in topics], 1), *d.pack(pairs, 2)],
        )
        last_number: dict[int, int] = {}
        last_pseudonym: dict[int, int] = {}
        has_pseudonym: set[tuple[int, int]] = set()
        for kind, topic, person, posts_end, pseudonyms_end in numbering:
            if kind == 0:
                last_number[topic] = int(posts_end or 0)
                last_pseudonym[topic] = int(pseudonyms_end or 0)
            else:
                has_pseudonym.add((topic, person))
        # A first post in a topic gives its author the topic's next pseudonym ("Participant
        # N"): stored, so the number stays the same whatever happens to later posts.
        pseudonyms: list[tuple[int, int, int]] = []
        for request in batch:
            last_number[request.topic_id] += 1
            request.number = last_number[request.topic_id]
            if (request.topic_id, who(request)) not in has_pseudonym:
                has_pseudonym.add((request.topic_id, who(request)))
                last_pseudonym[request.topic_id] += 1
                pseudonyms.append((request.topic_id, who(request), last_pseudonym[request.topic_id]))
        inserted = await tx.fetch(
            "INSERT INTO posts (topic_id, number, participant_id, origin_platform, text, subject, "
            "parent_id, prompt_id, created_at, spans) SELECT c1, c2, c3, c4, c5, c6, c7, c8, c9, c10 "
            f"FROM {d.rows(*POST_COLUMNS)} "
            "RETURNING topic_id, number, id",
            d.pack([(r.topic_id, r.number, who(r), r.author.platform, r.text, r.subject, r.parent_id,
                     r.prompt_id, _ts(r.created_at), r.spans) for r in batch], 10),
        )
        post_id = {(int(r[0]), int(r[1])): int(r[2]) for r in inserted}
        for request in batch:
            request.post_id = post_id[(request.topic_id, request.number)]
        # Whoever posts has read the topic up to their post: "M new" moves for them too.
        read_upto: dict[tuple[int, int], int] = {}
        for request in batch:
            read_upto[(who(request), request.topic_id)] = request.number  # batch order: rising
        attachments = [(r.post_id, position, a.name, a.mime_type, a.size, a.sha256, a.kind)
                       for r in batch for position, a in enumerate(r.attachments, start=1)]
        mapped = [(r.origin.platform, r.origin.chat_id, r.message_id, r.origin.thread_id, r.topic_id,
                   r.post_id) for r in batch if r.origin is not None and r.message_id is not None]
        deliveries = [(r.topic_id, t.platform, t.chat_id, r.post_id, _ts(r.created_at),
                       r.not_before)
                      for r in batch for t in r.targets]
        albums = [(r.origin.platform, r.origin.chat_id, r.album, r.post_id, _ts(r.created_at))
                  for r in batch if r.album is not None and r.origin is not None]
        cursors = {r.cursor[0]: r.cursor[1] for r in batch if r.cursor is not None}
        writes: list[tuple[str, list[object]]] = [(
            "INSERT INTO read_markers (participant_id, topic_id, last_read_number) "
            f"SELECT c1, c2, c3 FROM {d.rows('BIGINT', 'BIGINT', 'BIGINT')} WHERE true "
            "ON CONFLICT (participant_id, topic_id) "
            f"DO UPDATE SET last_read_number = {d.greatest}("
            "read_markers.last_read_number, excluded.last_read_number)",
            d.pack([(person, topic, number) for (person, topic), number in read_upto.items()], 3),
        )]
        if pseudonyms:
            writes.append((
                "INSERT INTO pseudonyms (topic_id, participant_id, number) "
                f"SELECT c1, c2, c3 FROM {d.rows('BIGINT', 'BIGINT', 'BIGINT')}",
                d.pack(pseudonyms, 3)))
        if attachments:
            writes.append((
                "INSERT INTO attachments (post_id, position, name, mime_type, size, sha256, kind) "
                "SELECT c1, c2, c3, c4, c5, c6, c7 "
                f"FROM {d.rows('BIGINT', 'BIGINT', 'TEXT', 'TEXT', 'BIGINT', 'TEXT', 'TEXT')}",
                d.pack(attachments, 7)))
        if mapped:
            writes.append((
                "INSERT INTO message_map (platform, chat_id, message_id, thread_id, topic_id, post_id, "
                f"mirrored) SELECT c1, c2, c3, c4, c5, c6, 0 "
                f"FROM {d.rows('TEXT', 'TEXT', 'TEXT', 'TEXT', 'BIGINT', 'BIGINT')}",
                d.pack(mapped, 6)))
        if deliveries:
            writes.append((
                "INSERT INTO outbox (topic_id, action, platform, chat_id, post_id, created_at, "
                "not_before) SELECT c1, 'post', c2, c3, c4, c5, c6 "
                f"FROM {d.rows('BIGINT', 'TEXT', 'TEXT', 'BIGINT', 'TEXT', 'FLOAT8')}",
                d.pack(deliveries, 6)))
        if albums:
            writes.append((
                "INSERT INTO albums (platform, chat_id, album_id, post_id, created_at) "
                f"SELECT c1, c2, c3, c4, c5 FROM {d.rows('TEXT', 'TEXT', 'TEXT', 'BIGINT', 'TEXT')} "
                "WHERE true ON CONFLICT DO NOTHING",
                d.pack(albums, 5)))
        if cursors:
            writes.append((
                "INSERT INTO cursors (name, value) "
                f"SELECT c1, c2 FROM {d.rows('TEXT', 'TEXT')} WHERE true "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                d.pack(list(cursors.items()), 2)))
        await d.together(tx, writes, announce=bool(deliveries))

    def _fail(self, request: PostRequest, err: Exception) -> None:
        if request.done.done():
            return
        if self.db.is_duplicate(err, "message_map"):
            err = DuplicateMessage(request.message_id)
        request.done.set_exception(err)
