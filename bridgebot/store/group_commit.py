"""Group commit for incoming posts: one transaction for every post waiting at that moment.

A post is acknowledged only after its commit, and each commit costs a disk sync and
a handful of thread hops into aiosqlite. One writer therefore takes every post that
queued up while the previous commit ran and writes them together, each statement
batched with ``executemany``: under load many posts share one commit, while a lone
post still commits at once. If a batch fails, its posts are written one by one so
that one bad post cannot fail the others; if the database refuses it (locked, full),
the batch is held and tried again, in order.

Queueing and committing are two steps (:meth:`PostWriter.submit`): an intake places a
chat's next message while the one before waits for its commit, so the posts of one chat
arriving together (a ``getUpdates`` answer, a burst of gateway events) share commits,
and :meth:`PostWriter.together` keeps one answer's posts for one commit.

The message map's ``UNIQUE (platform, chat_id, message_id)`` stays the authority on
duplicates: the batch first looks its keys up inside the write transaction (so that
a repeated message fails alone instead of aborting the batch), and the constraint
still refuses anything that got past that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bridgebot.core.models import Attachment, Author, ChannelRef, TopicStatus
from bridgebot.core.ports import DuplicateMessage, LockedBeforeCommit
from bridgebot.store.sql import Conn, Db

log = logging.getLogger(__name__)
HOLD_FIRST = 0.5  # seconds before a batch the database refused is tried again
HOLD_CAP = 10.0
# Seconds a batch waits at most for posts still being gathered (``together``): an intake
# placing one getUpdates answer (files being fetched, say) never holds other chats' posts
# back longer than this.
GATHER_MAX = 0.2


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
    deadline: float | None = field(default=None, init=False)  # loop time: fail if held past it

    @property
    def key(self) -> tuple[str, str, str] | None:
        if self.origin is None or self.message_id is None:
            return None
        return (self.origin.platform, self.origin.chat_id, self.message_id)


TEXT3 = ("TEXT", "TEXT", "TEXT")
# topic, number, participant, origin platform, text, subject, parent, prompt, created, spans
POST_COLUMNS = ("BIGINT", "BIGINT", "BIGINT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT", "TEXT", "TEXT")

# The tables that refer to a participant (tests/test_batch_write.py keeps it in step with
# the schema): a participant row one of them names is someone the database knows.
PARTICIPANT_RECORDS = ("posts", "pseudonyms", "read_markers", "aliases")


class _Held(list[PostRequest]):
    """The posts of a batch the database refused, still to write, with its error."""

    def __init__(self, requests: list[PostRequest], error: Exception) -> None:
        super().__init__(requests)
        self.error = error


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


class PostWriter:
    """The single writer of posts: posts are written in the order they were queued.

    :meth:`submit` queues a post and returns at once with the future of its commit, so that
    an intake can take the next message of a chat while this one waits for its commit and
    the messages of one chat (one ``getUpdates`` answer, a burst of gateway events) share
    commits. Order needs nothing more: the queue is FIFO, and ids and numbers are assigned
    in queue order inside each batch's transaction.

    While the database refuses writes (locked by another process, disk full) the batch is
    held at the head of the queue and tried again with backoff, so nothing queued after a
    post is ever recorded before it; a post queued with a ``patience`` fails with the
    database's error once that has passed (its platform sends it again).
    """

    def __init__(self, db: Db) -> None:
        self.db = db
        self._queue: list[PostRequest] = []
        self._writing: list[PostRequest] = []  # the batch being written now
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0  # commits made, for benchmarks and tests
        self.held = 0  # times a batch was held because the database refused it
        self._together = 0  # callers inside together()
        self._open = asyncio.Event()  # cleared while posts are gathered: no batch begins
        self._open.set()

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """Posts queued inside are written together: no batch begins until the block ends
        (an intake taking one ``getUpdates`` answer), until something waits for what is
        queued (:meth:`written`: a reply to one of them, a lock), or ``GATHER_MAX``."""
        self._together += 1
        self._open.clear()
        try:
            yield
        finally:
            self._together -= 1
            if not self._together:
                self._open.set()

    @property
    def gathering(self) -> bool:
        """Whether posts are being gathered for one commit (inside :meth:`together`)."""
        return self._together > 0

    def submit(self, request: PostRequest, patience: float | None = None,
               ) -> asyncio.Future[tuple[int, int]]:
        """Queue a post; the future gives (post id, number in its topic) once committed.

        Cancelling the future withdraws the post if its batch has not begun writing."""
        if patience is not None:
            request.deadline = asyncio.get_running_loop().time() + patience
        self._queue.append(request)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="post-writer")
        return request.done

    async def add(self, request: PostRequest) -> tuple[int, int]:
        """Queue a post; return (post id, number in its topic) once it is committed."""
        return await asyncio.shield(self.submit(request))

    async def written(self, key: tuple[str, str, str] | None = None) -> bool:
        """Wait until every post queued so far is committed (or failed); False if none was
        waiting. For what must come after them: a lock, a reply to one of them. With
        ``key`` (platform, chat id, message id), only if that message's post is queued."""
        pending = [r for r in self._writing + self._queue if not r.done.done()]
        if key is not None and all(r.key != key for r in pending):
            return False
        waiting = [r.done for r in pending]
        if not waiting:
            return False
        self._open.set()  # whoever gathers them, they are needed now
        await asyncio.wait(waiting)
        return True

    async def _drain(self) -> None:
        delay = HOLD_FIRST
        while self._queue:
            if not self._open.is_set():  # gathered posts wait for the rest, a short while at most
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._open.wait(), GATHER_MAX)
            batch = [r for r in self._queue if not r.done.done()]  # withdrawn ones are gone
            self._queue = []
            self._writing = batch
            try:
                if not batch:
                    continue
                held = await self._write(batch)
            finally:
                self._writing = []
            if held is None:
                delay = HOLD_FIRST
                continue
            # Held: the unwritten posts go back to the head of the queue, in order.
            self._queue = [r for r in held if not self._past_patience(r, held.error)] + self._queue
            self.held += 1
            log.warning("database unavailable (%s); %d posts are held, trying again in %.1fs",
                        " ".join(str(held.error).split())[:200], len(held), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, HOLD_CAP)

    async def _write(self, batch: list[PostRequest]) -> _Held | None:
        """Write ``batch``; the posts still to write when the database refused, if it did."""
        try:
            await self._commit(batch)
            return None
        except Exception as err:  # isolate the culprit: write them one at a time
            if self.db.is_failure(err):
                return _Held(batch, err)
            if len(batch) == 1:
                self._fail(batch[0], err)
                return None
            log.warning("a batch of %d posts failed (%s); writing them one by one", len(batch), err)
        for position, request in enumerate(batch):
            if request.done.done():  # already answered (a duplicate), or withdrawn
                continue
            try:
                await self._commit([request])
            except Exception as single:
                if self.db.is_failure(single):
                    return _Held(batch[position:], single)
                self._fail(request, single)
        return None

    @staticmethod
    def _past_patience(request: PostRequest, err: Exception) -> bool:
        """Fail a held post whose patience has run out with the database's error."""
        if request.done.done():
            return True
        if request.deadline is None or asyncio.get_running_loop().time() < request.deadline:
            return False
        request.done.set_exception(err)
        return True

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
        # The topic's status too: a post is checked against the lock before it is queued,
        # from a topic read that may be up to PLACING_FRESH old, so a lock committed since
        # (/lock in another worker, the CLI) is seen here, under the topic's lock (SQLite:
        # the write transaction excludes every other writer; PostgreSQL: this statement
        # comes after the rows were locked, so it sees a lock that committed before).
        numbering = await tx.fetch(
            "SELECT 0, c1, 0, (SELECT MAX(number) FROM posts WHERE topic_id = v.c1), "
            "(SELECT MAX(number) FROM pseudonyms WHERE topic_id = v.c1), "
            "(SELECT status FROM topics WHERE id = v.c1) "
            f"FROM {d.rows('BIGINT')} "
            "UNION ALL SELECT 1, topic_id, participant_id, number, 0, NULL FROM pseudonyms "
            f"WHERE (topic_id, participant_id) IN (SELECT c1, c2 FROM {d.rows('BIGINT', 'BIGINT')})",
            [*d.pack([(t,) for t in topics], 1), *d.pack(pairs, 2)],
        )
        last_number: dict[int, int] = {}
        last_pseudonym: dict[int, int] = {}
        has_pseudonym: set[tuple[int, int]] = set()
        locked: set[int] = set()
        for kind, topic, person, posts_end, pseudonyms_end, status in numbering:
            if kind == 0:
                last_number[topic] = int(posts_end or 0)
                last_pseudonym[topic] = int(pseudonyms_end or 0)
                if status == TopicStatus.LOCKED.value:
                    locked.add(topic)
            else:
                has_pseudonym.add((topic, person))
        if locked:  # refused as a post in a locked topic is (Discussions._refused_locked)
            for request in batch:
                if request.topic_id in locked and not request.done.done():
                    request.done.set_exception(LockedBeforeCommit(request.topic_id))
            batch = [r for r in batch if r.topic_id not in locked]
            await self._unrecord_refused(tx, authors, batch, participant)
            if not batch:
                return
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

    @staticmethod
    async def _unrecord_refused(tx: Conn, authors: list[PostRequest], accepted: list[PostRequest],
                                participant: dict[tuple[str, str], int]) -> None:
        """Take back the participant rows this batch made only for posts refused by a lock.

        People are written before the numbering statement finds the lock, so someone whose
        only post was refused would otherwise stay in the database (name, user id) with
        nothing of theirs in it. A row goes only if this batch made it (its first_seen is
        this batch's, and nothing refers to it: posts, pseudonyms, read markers, aliases)
        and it was never forgotten; anyone known before keeps theirs."""
        kept = {(r.author.platform, r.author.user_id) for r in accepted}
        refused = [(participant[(r.author.platform, r.author.user_id)], _ts(r.created_at))
                   for r in authors if (r.author.platform, r.author.user_id) not in kept]
        if not refused:
            return
        d = tx.dialect
        await tx.execute(
            "DELETE FROM participants WHERE (id, first_seen) IN "
            f"(SELECT c1, c2 FROM {d.rows('BIGINT', 'TEXT')}) AND forgotten_at IS NULL "
            + "".join(f"AND NOT EXISTS (SELECT 1 FROM {table} WHERE participant_id = "
                      "participants.id) " for table in PARTICIPANT_RECORDS),
            d.pack(refused, 2),
        )

    def _fail(self, request: PostRequest, err: Exception) -> None:
        if request.done.done():
            return
        if self.db.is_duplicate(err, "message_map"):
            err = DuplicateMessage(request.message_id)
        request.done.set_exception(err)
