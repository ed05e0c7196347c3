"""The SQLite discussion store: topics, prompts, posts, participants, the message map and
outbox (the core's :class:`~bridgebot.core.ports.DiscussionPort` and
:class:`~bridgebot.core.ports.OutboxPort`; plans and privacy live beside it).

Writes that belong together happen in one transaction: a post, the message that
carried it, and its outbox rows are committed at once, so a crash can never leave
a post that is not relayed or a delivery without its post. The message map's
UNIQUE constraints, not Python checks, are what make duplicates impossible.

The SQL is written once for SQLite and PostgreSQL (:mod:`bridgebot.store.sql`): numbers
taken as ``MAX(...) + 1`` are safe because every writer to a topic first holds it
(SQLite's single writer; PostgreSQL's row lock, ``Dialect.lock_topics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

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
from bridgebot.core.ports import DuplicateMessage, MapHit, PendingDelivery, UnitOfWork
from bridgebot.core.richtext.spans import Span
from bridgebot.core.richtext.spans import from_json as spans_from_json
from bridgebot.core.richtext.spans import to_json as spans_to_json
from bridgebot.store.group_commit import PostRequest, PostWriter
from bridgebot.store.sql import Conn, Db, Queries, Row, marks

# Threads of open topics remembered at most (each a few hundred bytes): far more than the
# topics open at once on any bridge, so a lookup only reaches the database when one leaves.
THREAD_CACHE_MAX = 1024
# Seconds a topic read to place one post of a gathered batch serves the batch's next posts
# (Store.topic_placing): the time a gathered post may already wait for its commit.
PLACING_FRESH = 0.2


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _when(value: str) -> datetime:
    """A timestamp column that is NOT NULL in the schema."""
    return datetime.fromisoformat(value)


async def inserted_id(tx: Conn, sql: str, args: Sequence[object]) -> int:
    """Run an ``INSERT ... RETURNING id``; return the id it produced."""
    row = await tx.fetchrow(sql, args)
    if row is None:
        raise RuntimeError("INSERT ... RETURNING gave no row")
    return int(row[0])


_TOPIC_COLUMNS = (
    "id, bridge, title, introduction, status, opened_by, opened_at, locked_by, locked_at, "
    "lock_reason"
)
_POST_COLUMNS = (
    "p.id, p.topic_id, p.number, pa.display_name, p.origin_platform, pa.user_id, p.text, "
    "p.subject, p.parent_id, p.prompt_id, p.created_at, p.edited_at, p.hidden, p.hidden_by, "
    "p.spans, p.erased_at"
)
_POST_WIDTH = _POST_COLUMNS.count(",") + 1
# A stored file's columns (attachments ``a``), in :func:`_file`'s order.
_FILE_COLUMNS = "a.name, a.mime_type, a.size, a.sha256, a.kind"
# The topic's columns from ``topics t`` (a statement that joins it to another table).
_TOPIC_COLUMNS_T = ", ".join(f"t.{c.strip()}" for c in _TOPIC_COLUMNS.split(","))


# The reader's read marker in a topic (0 before their first visit), for the stats query;
# its arguments are (reader, topic).

# Rows become records by column name (the SELECTs above name their columns).


def _topic(row: Row) -> Topic:
    return Topic(
        id=row["id"],
        bridge=row["bridge"],
        title=row["title"],
        introduction=row["introduction"],
        status=TopicStatus(row["status"]),
        opened_by=row["opened_by"],
        opened_at=_when(row["opened_at"]),
        locked_by=row["locked_by"],
        locked_at=_dt(row["locked_at"]),
        lock_reason=row["lock_reason"],
    )


_POST_FIELDS = ("id", "topic_id", "number", "author_name", "author_platform", "author_id", "text",
                "subject", "parent_id", "prompt_id", "created_at", "edited_at", "hidden",
                "hidden_by", "spans", "erased", "attachments")
if set(_POST_FIELDS) != {f.name for f in fields(Post)}:  # a new field must be read here too
    raise RuntimeError("repo._post does not fill every field of Post")
_new = object.__new__


def _post(row: Row | tuple[Any, ...]) -> Post:
    """A post from a row of ``_POST_COLUMNS``, read by position.

    Built without the frozen dataclass's ``__init__`` (one ``object.__setattr__`` per
    field), as :meth:`Post.named` does: a 10,000-post topic page reads 10,000 of these, and
    by name and through ``__init__`` they cost ~0.1 s of it. Every field is a plain value
    (the check above keeps the list complete), so the instance is the one ``Post(...)``
    would make.
    """
    (post_id, topic_id, number, name, platform, user_id, text, subject, parent_id, prompt_id,
     created_at, edited_at, hidden, hidden_by, spans, erased_at) = row
    post: Post = _new(Post)
    post.__dict__.update(zip(_POST_FIELDS, (
        post_id, topic_id, number, name, platform, user_id, text, subject, parent_id, prompt_id,
        datetime.fromisoformat(created_at),
        datetime.fromisoformat(edited_at) if edited_at else None,
        bool(hidden), hidden_by, spans_from_json(spans) if spans else (),
        erased_at is not None, ()), strict=True))
    return post


def _file(values: tuple[Any, ...]) -> Attachment:
    """A stored file from the values of ``_FILE_COLUMNS``."""
    name, mime_type, size, sha256, kind = values
    return Attachment(name=name, mime_type=mime_type, size=size, sha256=sha256, kind=kind)


def _prompt(row: Row) -> Prompt:
    return Prompt(id=row["id"], topic_id=row["topic_id"], position=row["position"],
                  question=row["question"], created_at=_when(row["created_at"]))


_PENDING_COLUMNS = "id, topic_id, action, platform, chat_id, prompt_id, post_id, attempts, not_before"


def _pending(row: Row) -> PendingDelivery:
    return PendingDelivery(
        id=row["id"], topic_id=row["topic_id"], action=Action(row["action"]),
        target=ChannelRef(row["platform"], row["chat_id"]), prompt_id=row["prompt_id"],
        post_id=row["post_id"], attempts=row["attempts"], not_before=row["not_before"],
    )


class Store(Queries):
    """The discussion and its outbox on SQLite (with facilitation.py and privacy.py, the only SQL)."""

    def __init__(self, db: Db) -> None:
        super().__init__(db)
        self.writer = PostWriter(db)
        self._thread_topics: OrderedDict[ChannelRef, int] = OrderedDict()
        self._placing: dict[int, tuple[float, Topic]] = {}  # topic_placing: (read at, topic)

    # -- reads -------------------------------------------------------------------

    async def topic(self, topic_id: int) -> Topic | None:
        row = await self._one(f"SELECT {_TOPIC_COLUMNS} FROM topics WHERE id = ?", (topic_id,))
        return _topic(row) if row else None

    async def topic_placing(self, topic_id: int) -> Topic | None:
        """The topic a message being placed belongs to (its lock, its bridge).

        While posts are gathered for one commit (:meth:`together`: one ``getUpdates``
        answer, a channel's burst of gateway events), the topic read for one of them serves
        the next ones for at most ``PLACING_FRESH`` seconds: one read per topic per batch
        instead of one per post (it was the largest cost of taking a post after parsing).
        The memo is emptied whenever a gathering begins or ends and when this process
        renames or locks the topic, so a lock here is seen by the very next post; a lock
        committed by another process is seen within ``PLACING_FRESH``, and the commit
        checks the lock again under the topic's lock (``PostWriter``: a post it finds
        locked fails with :class:`LockedBeforeCommit`), so no post lands after a lock.
        Outside a gathering (a webhook's update, a command) the topic is read every time.
        """
        if not self.writer.gathering:
            return await self.topic(topic_id)
        now = time.monotonic()
        seen = self._placing.get(topic_id)
        if seen is not None and now - seen[0] <= PLACING_FRESH:
            return seen[1]
        topic = await self.topic(topic_id)
        if topic is not None and self.writer.gathering:
            if len(self._placing) >= THREAD_CACHE_MAX:
                self._placing.clear()
            self._placing[topic_id] = (now, topic)
        return topic

    async def topics(self) -> list[Topic]:
        return [_topic(r) for r in await self._all(f"SELECT {_TOPIC_COLUMNS} FROM topics ORDER BY id")]

    async def latest_topic(self, bridge: str) -> Topic | None:
        row = await self._one(
            f"SELECT {_TOPIC_COLUMNS} FROM topics WHERE bridge = ? ORDER BY id DESC LIMIT 1",
            (bridge,),
        )
        return _topic(row) if row else None

    async def bridge_topics(self, bridge: str, status: TopicStatus) -> list[Topic]:
        """A bridge's topics with this status, newest first."""
        rows = await self._all(
            f"SELECT {_TOPIC_COLUMNS} FROM topics WHERE bridge = ? AND status = ? ORDER BY id DESC",
            (bridge, status.value),
        )
        return [_topic(r) for r in rows]

    async def reader_topics(self, platform: str, user_id: str,
                            bridges: Iterable[str] = ()) -> list[Topic]:
        """The topics of the bridges a person takes part in, by id: those given and those
        whose topics they wrote in or read (with /status or /catchup). One statement, and
        only these topics read, not every topic of every bridge."""
        given = sorted(set(bridges))
        of_given = f"bridge IN ({marks(given)}) OR " if given else ""
        rows = await self._all(
            f"SELECT {_TOPIC_COLUMNS} FROM topics WHERE {of_given}bridge IN ("
            "SELECT t.bridge FROM topics t WHERE t.id IN ("
            "SELECT p.topic_id FROM posts p JOIN participants pa ON pa.id = p.participant_id "
            "WHERE pa.platform = ? AND pa.user_id = ? UNION "
            "SELECT r.topic_id FROM read_markers r JOIN participants pa ON pa.id = r.participant_id "
            "WHERE pa.platform = ? AND pa.user_id = ?)) ORDER BY id",
            (*given, platform, user_id, platform, user_id),
        )
        return [_topic(r) for r in rows]

    async def prompt(self, prompt_id: int) -> Prompt | None:
        row = await self._one(
            "SELECT id, topic_id, position, question, created_at FROM prompts WHERE id = ?",
            (prompt_id,),
        )
        return _prompt(row) if row else None

    async def prompts(self, topic_id: int) -> list[Prompt]:
        rows = await self._all(
            "SELECT id, topic_id, position, question, created_at FROM prompts "
            "WHERE topic_id = ? ORDER BY position",
            (topic_id,),
        )
        return [_prompt(r) for r in rows]

    async def post(self, post_id: int) -> Post | None:
        return await self._one_post("p.id = ?", (post_id,))

    async def post_by_number(self, topic_id: int, number: int) -> Post | None:
        return await self._one_post("p.topic_id = ? AND p.number = ?", (topic_id, number))

    async def _one_post(self, where: str, args: Sequence[object]) -> Post | None:
        """One post with its files, in one statement (a row per file): the relay reads a
        post for every delivery."""
        rows = await self._all(
            f"SELECT {_POST_COLUMNS}, {_FILE_COLUMNS} "
            "FROM posts p JOIN participants pa ON pa.id = p.participant_id "
            f"LEFT JOIN attachments a ON a.post_id = p.id WHERE {where} ORDER BY a.position",
            args,
        )
        if not rows:
            return None
        post = _post(tuple(rows[0])[:_POST_WIDTH])
        files = tuple(_file(tuple(r)[_POST_WIDTH:]) for r in rows
                      if r[_POST_WIDTH] is not None)  # no file: one row, its file columns NULL
        return replace(post, attachments=files) if files else post

    async def topic_counts(self) -> dict[int, tuple[int, int]]:
        """Topic id -> (visible posts, the newest visible post's number): the archive index's
        counts in one statement, from the counts kept per topic (``topic_counts``) and one
        step into the posts_visible index per topic."""
        rows = await self._all(
            "SELECT c.topic_id, c.visible, (SELECT MAX(p.number) FROM posts p "
            "WHERE p.topic_id = c.topic_id AND p.hidden = 0) FROM topic_counts c"
        )
        return {r[0]: (r[1], r[2] or 0) for r in rows}

    async def topic_state(self, topic_id: int) -> tuple[int, int, datetime | None]:
        """(visible posts, newest visible number, latest edit) of a topic: what a live page's
        ``state.json`` compares, without reading a single post."""
        row = await self._one(
            "SELECT COUNT(*), COALESCE(MAX(number), 0), MAX(edited_at) FROM posts "
            "WHERE topic_id = ? AND hidden = 0",
            (topic_id,),
        )
        if row is None:
            return 0, 0, None
        return row[0], row[1], _dt(row[2])

    async def visible_after(self, topic_id: int, number: int) -> int:
        """How many visible posts of a topic come after post ``number`` (the index's "new")."""
        row = await self._one(
            "SELECT COUNT(*) FROM posts WHERE topic_id = ? AND hidden = 0 AND number > ?",
            (topic_id, number),
        )
        return row[0] if row else 0

    async def posts(self, topic_id: int, include_hidden: bool = False) -> list[Post]:
        hidden = "" if include_hidden else "AND p.hidden = 0"
        rows = await self._all(
            f"SELECT {_POST_COLUMNS} FROM posts p JOIN participants pa ON pa.id = p.participant_id "
            f"WHERE p.topic_id = ? {hidden} ORDER BY p.number",
            (topic_id,),
        )
        return await self._with_files([_post(r) for r in rows], topic_id=topic_id)

    async def post_outline(self, topic_id: int) -> list[PostStub]:
        """Every visible post's id, number and parent, in number order: a long topic's page
        cuts its threads from this instead of reading 10,000 posts' words and authors."""
        rows = await self._all(
            "SELECT id, number, parent_id FROM posts WHERE topic_id = ? AND hidden = 0 "
            "ORDER BY number", (topic_id,))
        return list(map(PostStub._make, rows))

    async def posts_by_ids(self, topic_id: int, post_ids: Sequence[int]) -> list[Post]:
        """These visible posts of the topic (one page of it), in number order, with files;
        a post hidden meanwhile is left out."""
        ids = sorted(set(post_ids))
        rows: list[Row] = []
        for at in range(0, len(ids), 500):  # bound the statement's parameters
            chunk = ids[at:at + 500]
            rows += await self._all(
                f"SELECT {_POST_COLUMNS} FROM posts p JOIN participants pa ON pa.id = p.participant_id "
                f"WHERE p.topic_id = ? AND p.hidden = 0 AND p.id IN ({marks(chunk)})",
                (topic_id, *chunk))
        posts = sorted((_post(r) for r in rows), key=lambda p: p.number)
        return await self._with_files(posts, topic_id=topic_id)

    async def unread_posts(self, topic_id: int, reader_id: int, after: int,
                           limit: int) -> list[Post]:
        """The first ``limit`` visible posts of a topic past number ``after`` that someone
        other than participant ``reader_id`` wrote, in number order, without their files:
        what /catchup lists, read from the mark on through ``posts_visible`` instead of
        the whole topic (10,000 posts for 15 lines)."""
        rows = await self._all(
            f"SELECT {_POST_COLUMNS} FROM posts p JOIN participants pa ON pa.id = p.participant_id "
            "WHERE p.topic_id = ? AND p.hidden = 0 AND p.number > ? AND p.participant_id <> ? "
            "ORDER BY p.number LIMIT ?",
            (topic_id, after, reader_id, limit))
        return [_post(r) for r in rows]

    async def subject_sources(self, topic_id: int, post_ids: Sequence[int]) -> list[Post]:
        """These visible posts of the topic and, for each without a subject of its own, its
        visible parent, that one's, and so on up to a post with a subject (or a post whose
        parent is hidden, erased from the topic or missing): all
        :meth:`~bridgebot.core.export.Archive.subject` reads to name a reply "Re: …". One
        statement (a recursive walk by primary key), without files; in no set order."""
        ids = sorted(set(post_ids))
        if not ids:
            return []
        rows = await self._all(
            "WITH RECURSIVE up(id, parent_id, subject) AS ("
            " SELECT p.id, p.parent_id, p.subject FROM posts p "
            f" WHERE p.topic_id = ? AND p.hidden = 0 AND p.id IN ({marks(ids)})"
            " UNION"
            " SELECT p.id, p.parent_id, p.subject FROM up JOIN posts p ON p.id = up.parent_id"
            " WHERE (up.subject IS NULL OR up.subject = '') AND p.topic_id = ? AND p.hidden = 0) "
            f"SELECT {_POST_COLUMNS} FROM up JOIN posts p ON p.id = up.id "
            "JOIN participants pa ON pa.id = p.participant_id",
            (topic_id, *ids, topic_id))
        return [_post(r) for r in rows]

    async def last_visible_numbers(self, topic_ids: Sequence[int]) -> dict[int, int]:
        """Topic id -> the number of its newest visible post (topics without one are left
        out): how far /catchup moves a read marker. One index step down per topic."""
        ids = sorted(set(topic_ids))
        if not ids:
            return {}
        rows = await self._all(
            "SELECT t.id, (SELECT MAX(p.number) FROM posts p WHERE p.topic_id = t.id "
            f"AND p.hidden = 0) FROM topics t WHERE t.id IN ({marks(ids)})", ids)
        return {row[0]: row[1] for row in rows if row[1] is not None}

    async def _with_files(self, posts: list[Post], topic_id: int) -> list[Post]:
        """The posts of a topic with their attachments (one query for the whole topic; a
        single post reads its files with it: :meth:`_one_post`)."""
        if not posts:
            return posts
        rows = await self._all(
            f"SELECT a.post_id, {_FILE_COLUMNS} FROM attachments a "
            "JOIN posts p ON p.id = a.post_id WHERE p.topic_id = ? ORDER BY a.post_id, a.position",
            (topic_id,))
        files: dict[int, list[Attachment]] = {}
        for r in rows:
            files.setdefault(r[0], []).append(_file(tuple(r)[1:]))
        return [replace(p, attachments=tuple(files[p.id])) if p.id in files else p for p in posts]

    async def resolve_message(self, platform: str, chat_id: str, message_id: str) -> MapHit | None:
        row = await self._one(
            "SELECT topic_id, prompt_id, post_id FROM message_map "
            "WHERE platform = ? AND chat_id = ? AND message_id = ?",
            (platform, chat_id, message_id),
        )
        if row is None:
            return None
        return MapHit(topic_id=row["topic_id"], prompt_id=row["prompt_id"], post_id=row["post_id"])

    async def topic_for_thread(self, where: ChannelRef) -> int | None:
        """The topic living in a thread; remembered while the topic is open, as a thread
        never changes topic.

        Locked topics are not remembered (and are forgotten when they lock): over months
        the map holds the open topics' threads only, and at most ``THREAD_CACHE_MAX``.
        """
        if where.thread_id is None:
            return None
        if where in self._thread_topics:
            self._thread_topics.move_to_end(where)
            return self._thread_topics[where]
        row = await self._one(
            "SELECT tc.topic_id, t.status FROM topic_channels tc JOIN topics t ON t.id = tc.topic_id "
            "WHERE tc.platform = ? AND tc.chat_id = ? AND tc.thread_id = ?",
            (where.platform, where.chat_id, where.thread_id),
        )
        if row is None:
            return None
        if row[1] == TopicStatus.OPEN.value:
            self._thread_topics[where] = row[0]
            while len(self._thread_topics) > THREAD_CACHE_MAX:
                self._thread_topics.popitem(last=False)
        return int(row[0])

    def _forget_threads(self, topic_id: int) -> None:
        """A locked topic's threads leave the map (see :meth:`topic_for_thread`)."""
        for where in [w for w, t in self._thread_topics.items() if t == topic_id]:
            del self._thread_topics[where]

    async def topic_place(self, topic_id: int, target: ChannelRef) -> tuple[str | None, str | None]:
        """The (thread id, root message id) of a topic on a target, if it was opened there."""
        row = await self._one(
            "SELECT thread_id, root_message_id FROM topic_channels "
            "WHERE topic_id = ? AND platform = ? AND chat_id = ?",
            (topic_id, target.platform, target.chat_id),
        )
        return (row["thread_id"], row["root_message_id"]) if row else (None, None)

    async def topic_on(self, topic_id: int, target: ChannelRef
                       ) -> tuple[Topic, str | None, str | None] | None:
        """A topic with its (thread id, root message id) on a target, in one statement: what
        the relay reads for every delivery."""
        row = await self._one(
            f"SELECT {_TOPIC_COLUMNS_T}, tc.thread_id, tc.root_message_id FROM topics t "
            "LEFT JOIN topic_channels tc ON tc.topic_id = t.id AND tc.platform = ? "
            "AND tc.chat_id = ? WHERE t.id = ?",
            (target.platform, target.chat_id, topic_id),
        )
        return (_topic(row), row["thread_id"], row["root_message_id"]) if row else None

    async def topic_places(self, topic_id: int) -> list[ChannelRef]:
        rows = await self._all(
            "SELECT platform, chat_id, thread_id FROM topic_channels WHERE topic_id = ?", (topic_id,)
        )
        return [ChannelRef(r["platform"], r["chat_id"], r["thread_id"]) for r in rows]

    async def messages_on(
        self, target: ChannelRef, *, post_id: int | None = None, prompt_id: int | None = None,
        mirrored_only: bool = False,
    ) -> list[str]:
        """Platform message ids that show a post (or prompt) on a target chat, in part order."""
        column, value = ("post_id", post_id) if post_id is not None else ("prompt_id", prompt_id)
        mirrored = "AND mirrored = 1" if mirrored_only else ""
        rows = await self._all(
            f"SELECT message_id FROM message_map WHERE {column} = ? AND platform = ? "
            f"AND chat_id = ? {mirrored} ORDER BY part, id",
            (value, target.platform, target.chat_id),
        )
        return [r[0] for r in rows]

    async def origin_of(self, post_id: int) -> ChannelRef | None:
        row = await self._one(
            "SELECT platform, chat_id, thread_id FROM message_map WHERE post_id = ? AND mirrored = 0 "
            "ORDER BY id LIMIT 1",
            (post_id,),
        )
        return ChannelRef(row["platform"], row["chat_id"], row["thread_id"]) if row else None

    async def participant_id(self, platform: str, user_id: str) -> int | None:
        row = await self._one(
            "SELECT id FROM participants WHERE platform = ? AND user_id = ?", (platform, user_id)
        )
        return row[0] if row else None

    async def is_facilitator(self, platform: str, user_id: str) -> bool:
        row = await self._one(
            "SELECT 1 FROM facilitators WHERE platform = ? AND user_id = ?", (platform, user_id)
        )
        return row is not None

    async def stats(self, topic_id: int, reader_id: int | None) -> TopicStats:
        """Counts for "N posts / M new", in one statement (see :meth:`_stats`)."""
        found = await self._stats([topic_id], "CAST(? AS BIGINT)", (reader_id,))
        return found[topic_id]

    async def reader_stats(self, topic_ids: Sequence[int], platform: str,
                           user_id: str) -> dict[int, TopicStats]:
        """:meth:`stats` of each of these topics for the person, in one statement: private
        /status asks it for up to ten topics, and one trip to the database's thread per
        topic was most of its time. The person is looked up in the same statement (someone
        who never wrote nor read has no id: every visible post is new to them)."""
        return await self._stats(
            topic_ids, "(SELECT id FROM participants WHERE platform = ? AND user_id = ?)",
            (platform, user_id))

    async def _stats(self, topic_ids: Sequence[int], reader_sql: str,
                     reader_args: Sequence[object]) -> dict[int, TopicStats]:
        """Topic id -> counts for "N posts / M new" and the last post, for the reader that
        ``reader_sql`` gives (a participant id or NULL). Topics not found are left out.

        N is the count kept per topic (``topic_counts``). M is everyone's visible posts past
        the reader's mark, less the reader's own there (their few posts, by participant).
        Counting the visible posts past the mark walked up to half the topic's index
        entries (5,000 in a 10k-post topic: ~0.3 ms a topic). A topic's posts are numbered
        1, 2, 3, … without gaps, so when its rows are exactly its numbers (the visible
        posts plus the hidden ones are as many as the highest number, the lowest being 1)
        the visible posts up to the mark are the mark less the hidden ones up to it: the
        few hidden posts are all that is counted. Otherwise (a row deleted by hand) they
        are counted through the (topic, hidden, number) index on the shorter side of the
        mark, as before.
        """
        ids = sorted(set(topic_ids))
        if not ids:
            return {}
        rows = await self._all(
            "SELECT s.topic_id, s.visible AS posts, "
            "(CASE WHEN s.low >= 1 AND s.visible + s.hidden = s.top "
            "  THEN s.visible - (CASE WHEN s.mark < s.top THEN s.mark ELSE s.top END) "
            "    + (SELECT COUNT(*) FROM posts p WHERE p.topic_id = s.topic_id AND p.hidden > 0 "
            "       AND p.number <= s.mark) "
            "  WHEN s.mark * 2 < s.top "
            "  THEN s.visible - (SELECT COUNT(*) FROM posts p WHERE p.topic_id = s.topic_id "
            "    AND p.hidden = 0 AND p.number <= s.mark) "
            "  ELSE (SELECT COUNT(*) FROM posts p WHERE p.topic_id = s.topic_id AND p.hidden = 0 "
            "    AND p.number > s.mark) END) "
            # "+ 0": compared as values, so the planner takes the reader's posts by
            # participant, not every post of the topic past the mark.
            "- (SELECT COUNT(*) FROM posts p WHERE p.participant_id = s.reader "
            "  AND p.topic_id = s.topic_id AND p.hidden + 0 = 0 AND p.number + 0 > s.mark) AS new, "
            "(SELECT pa.display_name FROM posts p JOIN participants pa ON pa.id = p.participant_id "
            "  WHERE p.topic_id = s.topic_id AND p.hidden = 0 ORDER BY p.number DESC LIMIT 1) AS author, "
            "(SELECT p.created_at FROM posts p WHERE p.topic_id = s.topic_id AND p.hidden = 0 "
            "  ORDER BY p.number DESC LIMIT 1) AS last_at, "
            "s.top AS last_number, s.mark AS read_upto "
            "FROM (SELECT t.id AS topic_id, who.id AS reader, "
            "  COALESCE((SELECT c.visible FROM topic_counts c WHERE c.topic_id = t.id), 0) AS visible, "
            "  (SELECT COUNT(*) FROM posts p WHERE p.topic_id = t.id AND p.hidden > 0) AS hidden, "
            "  COALESCE((SELECT MAX(p.number) FROM posts p WHERE p.topic_id = t.id), 0) AS top, "
            "  (SELECT MIN(p.number) FROM posts p WHERE p.topic_id = t.id) AS low, "
            "  COALESCE((SELECT m.last_read_number FROM read_markers m "
            "    WHERE m.participant_id = who.id AND m.topic_id = t.id), 0) AS mark "
            f"  FROM topics t CROSS JOIN (SELECT {reader_sql} AS id) who "
            f"  WHERE t.id IN ({marks(ids)})) s",
            (*reader_args, *ids),
        )
        return {row["topic_id"]: TopicStats(
            posts=row["posts"],
            new=row["new"],
            last_post_author=row["author"],
            last_post_at=_dt(row["last_at"]),
            last_number=row["last_number"] or 0,
            read_upto=row["read_upto"],
        ) for row in rows}

    async def read_marker(self, participant_id: int, topic_id: int) -> int:
        row = await self._one(
            "SELECT last_read_number FROM read_markers WHERE participant_id = ? AND topic_id = ?",
            (participant_id, topic_id),
        )
        return row[0] if row else 0

    async def pending_heads(self, platforms: Collection[str] | None = None) -> list[PendingDelivery]:
        """The oldest pending delivery of every stream (a topic on a target chat): what the
        relay can start on. ``platforms``: the ones this worker has adapters for; the
        others' heads come back unleased (the relay says no adapter sends there)."""
        rows = await self._all(
            "SELECT o.id, o.topic_id, o.action, o.platform, o.chat_id, o.prompt_id, o.post_id, "
            "o.attempts, o.not_before FROM outbox o JOIN (SELECT MIN(id) AS id FROM outbox "
            "WHERE state = 'pending' GROUP BY platform, chat_id, topic_id) h ON h.id = o.id "
            "ORDER BY o.id"
        )
        heads = [_pending(r) for r in rows]
        # With several workers, only the targets leased to this one (one worker per chat:
        # its order and its rate budget stay in one process), and only those it can send
        # to: a chat leased by a worker without its platform's adapter waited as long as
        # that worker lived, renewing the lease at every look.
        def ours(head: PendingDelivery) -> bool:
            return platforms is None or head.target.platform in platforms

        mine = await self.db.held({(h.target.platform, h.target.chat_id) for h in heads if ours(h)})
        return [h for h in heads if not ours(h) or (h.target.platform, h.target.chat_id) in mine]

    async def pending_for(self, target: ChannelRef, topic_id: int,
                          limit: int) -> list[PendingDelivery]:
        """The first ``limit`` pending deliveries of one topic on one target, in order."""
        rows = await self._all(
            f"SELECT {_PENDING_COLUMNS} FROM outbox WHERE state = 'pending' AND platform = ? "
            "AND chat_id = ? AND topic_id = ? ORDER BY id LIMIT ?",
            (target.platform, target.chat_id, topic_id, limit),
        )
        return [_pending(r) for r in rows]

    async def next_pending(self, target: ChannelRef, topic_id: int) -> PendingDelivery | None:
        """The oldest pending delivery of one topic on one target (None once another worker
        holds the target: a lease that expired, say after a long stall, is not used again)."""
        if not await self.db.held([(target.platform, target.chat_id)]):
            return None
        row = await self._one(
            f"SELECT {_PENDING_COLUMNS} FROM outbox WHERE state = 'pending' AND platform = ? "
            "AND chat_id = ? AND topic_id = ? ORDER BY id LIMIT 1",
            (target.platform, target.chat_id, topic_id),
        )
        return _pending(row) if row is not None else None

    async def outbox(self, states: Iterable[DeliveryState] = tuple(DeliveryState)) -> list[OutboxEntry]:
        wanted = [s.value for s in states]
        rows = await self._all(
            "SELECT id, topic_id, action, platform, chat_id, state, attempts, last_error, created_at "
            f"FROM outbox WHERE state IN ({marks(wanted)}) ORDER BY id",
            wanted,
        )
        return [
            OutboxEntry(id=r["id"], topic_id=r["topic_id"], action=Action(r["action"]),
                        target=ChannelRef(r["platform"], r["chat_id"]),
                        state=DeliveryState(r["state"]), attempts=r["attempts"],
                        last_error=r["last_error"], created_at=_when(r["created_at"]))
            for r in rows
        ]

    async def dead_count(self, topic_id: int | None = None) -> int:
        if topic_id is None:
            row = await self._one("SELECT COUNT(*) FROM outbox WHERE state = 'dead'")
        else:
            row = await self._one(
                "SELECT COUNT(*) FROM outbox WHERE state = 'dead' AND topic_id = ?", (topic_id,)
            )
        return row[0] if row else 0

    async def notice_text(self, delivery_id: int) -> str | None:
        """The text a NOTICE delivery carries (a digest), stored in its outbox row."""
        row = await self._one("SELECT notice FROM outbox WHERE id = ?", (delivery_id,))
        return row[0] if row else None

    async def open_threads(self, platform: str) -> list[tuple[ChannelRef, str | None]]:
        """Threads of open topics on a platform, each with the newest message a person wrote
        there that we recorded (snowflakes grow with time; our own mirrors don't count, as a
        person's message just before one of them may be the one we missed), or the thread's
        own id: where catch-up after downtime starts reading."""
        number = self.db.dialect.to_integer
        rows = await self._all(
            f"SELECT tc.chat_id, tc.thread_id, COALESCE((SELECT MAX({number('m.message_id')}) "
            "FROM message_map m WHERE m.platform = tc.platform AND m.chat_id = tc.chat_id "
            f"AND m.thread_id = tc.thread_id AND m.mirrored = 0), {number('tc.thread_id')}) "
            "FROM topic_channels tc JOIN topics t ON t.id = tc.topic_id "
            "WHERE tc.platform = ? AND t.status = 'open' AND tc.thread_id IS NOT NULL",
            (platform,),
        )
        return [(ChannelRef(platform, r[0], r[1]), str(r[2]) if r[2] is not None else None)
                for r in rows]

    async def cursor(self, name: str) -> str | None:
        row = await self._one("SELECT value FROM cursors WHERE name = ?", (name,))
        return row[0] if row else None

    # -- writes ------------------------------------------------------------------

    async def save_cursor(self, name: str, value: str) -> None:
        async with self.db.tx() as tx:
            await tx.execute(
                "INSERT INTO cursors (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    async def set_facilitators(self, people: Iterable[tuple[str, str]]) -> None:
        async with self.db.tx() as tx:
            await tx.execute("DELETE FROM facilitators")
            await tx.executemany(
                "INSERT INTO facilitators (platform, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                list(people),
            )

    @staticmethod
    async def _participant(tx: Conn, author: Author, now: datetime) -> int:
        row = await tx.fetchrow(
            "INSERT INTO participants (platform, user_id, display_name, first_seen) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (platform, user_id) "
            "DO UPDATE SET display_name = excluded.display_name RETURNING id",
            (author.platform, author.user_id, author.display_name, _ts(now)),
        )
        assert row is not None
        return int(row[0])

    @staticmethod
    async def _enqueue(
        tx: Conn, topic_id: int, action: Action, targets: Iterable[ChannelRef],
        now: datetime, *, prompt_id: int | None = None, post_id: int | None = None,
        notice: str | None = None,
    ) -> list[int]:
        """Queue one delivery per target; return their outbox ids.

        The topic is locked first (PostgreSQL; SQLite's writer is alone anyway): with several
        workers, a topic's outbox ids are then taken in the order its transactions commit,
        which is the order the relay delivers them in."""
        rows = [(topic_id, action.value, t.platform, t.chat_id, prompt_id, post_id, _ts(now), notice)
                for t in targets]
        if not rows:
            return []
        await tx.dialect.lock_topics(tx, [topic_id])
        await tx.dialect.announce(tx)
        values = ", ".join("(?, ?, ?, ?, ?, ?, ?, ?)" for _ in rows)
        ids = await tx.fetch(
            "INSERT INTO outbox (topic_id, action, platform, chat_id, prompt_id, post_id, created_at, "
            f"notice) VALUES {values} RETURNING id",
            [value for row in rows for value in row],
        )
        return sorted(int(r[0]) for r in ids)

    async def create_topic(
        self, bridge: str, title: str, introduction: str, author: Author, now: datetime,
        targets: Sequence[ChannelRef], *, within: UnitOfWork | None = None,
        command: tuple[ChannelRef, str] | None = None,
    ) -> int:
        """The topic, its opening post (#1) and one OPEN_TOPIC delivery per target; the
        facilitator's ``/newtopic`` message (``command``: where, message id) is mapped to the
        topic, so editing it edits the topic and a reply to it is a post in it."""
        async with self.db.within(within) as tx:
            participant = await self._participant(tx, author, now)
            topic_id = await inserted_id(
                tx,
                "INSERT INTO topics (bridge, title, introduction, status, opened_by, opened_at) "
                "VALUES (?, ?, ?, 'open', ?, ?) RETURNING id",
                (bridge, title, introduction, author.display_name, _ts(now)),
            )
            await tx.execute(
                "INSERT INTO posts (topic_id, number, participant_id, origin_platform, text, subject, "
                "created_at) VALUES (?, 1, ?, ?, ?, ?, ?)",
                (topic_id, participant, author.platform, introduction, title, _ts(now)),
            )
            await self._enqueue(tx, topic_id, Action.OPEN_TOPIC, targets, now)
            await self._map_command(tx, command, topic_id, None)
        return topic_id

    @staticmethod
    async def _map_command(tx: Conn, command: tuple[ChannelRef, str] | None,
                           topic_id: int, prompt_id: int | None) -> None:
        """A facilitator's command message, mapped as an original (not a mirror) of the
        topic or question it created."""
        if command is None:
            return
        where, message_id = command
        await tx.execute(
            "INSERT INTO message_map (platform, chat_id, message_id, thread_id, topic_id, "
            "prompt_id, mirrored) VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING",
            (where.platform, where.chat_id, message_id, where.thread_id, topic_id, prompt_id),
        )

    async def add_prompt(
        self, topic_id: int, question: str, now: datetime, targets: Sequence[ChannelRef],
        *, within: UnitOfWork | None = None, command: tuple[ChannelRef, str] | None = None,
    ) -> int:
        async with self.db.within(within) as tx:
            await tx.dialect.lock_topics(tx, [topic_id])  # positions stay unique and gap-free
            prompt_id = await inserted_id(
                tx,
                "INSERT INTO prompts (topic_id, position, question, created_at) VALUES "
                "(?, (SELECT COALESCE(MAX(position), 0) + 1 FROM prompts WHERE topic_id = ?), ?, ?) "
                "RETURNING id",
                (topic_id, topic_id, question, _ts(now)),
            )
            await self._enqueue(tx, topic_id, Action.PROMPT, targets, now, prompt_id=prompt_id)
            await self._map_command(tx, command, topic_id, prompt_id)
        return prompt_id

    async def edit_prompt(self, prompt_id: int, question: str, now: datetime,
                          targets: Sequence[ChannelRef]) -> bool:
        """Reword a guiding question and queue the edit of its copies; False if unchanged."""
        async with self.db.tx() as tx:
            changed = await tx.execute(
                "UPDATE prompts SET question = ? WHERE id = ? AND question != ?",
                (question, prompt_id, question),
            )
            if changed == 0:
                return False
            found = await tx.fetchrow("SELECT topic_id FROM prompts WHERE id = ?", (prompt_id,))
            assert found is not None  # the UPDATE above just changed it
            await self._enqueue(tx, int(found[0]), Action.EDIT, targets, now, prompt_id=prompt_id)
        return True

    async def edit_topic(self, topic_id: int, title: str, introduction: str, now: datetime,
                         targets: Sequence[ChannelRef]) -> bool:
        """New title or introduction: the topic and its opening post (#1, whose old text goes
        to its history) change together, and every copy of the topic message is edited."""
        async with self.db.tx() as tx:
            row = await tx.fetchrow(
                "SELECT p.id, p.text, p.subject FROM posts p JOIN topics t ON t.id = p.topic_id "
                "WHERE p.topic_id = ? AND p.number = 1 AND (t.title != ? OR t.introduction != ?)",
                (topic_id, title, introduction),
            )
            if row is None:
                return False
            await tx.execute("UPDATE topics SET title = ?, introduction = ? WHERE id = ?",
                             (title, introduction, topic_id))
            self._placing.pop(topic_id, None)
            await tx.execute(
                "INSERT INTO post_history (post_id, text, subject, replaced_at) VALUES (?, ?, ?, ?)",
                (row["id"], row["text"], row["subject"], _ts(now)),
            )
            await tx.execute(
                "UPDATE posts SET text = ?, subject = ?, edited_at = ? WHERE id = ?",
                (introduction, title, _ts(now), row["id"]),
            )
            await self._enqueue(tx, topic_id, Action.EDIT, targets, now, post_id=row["id"])
        return True

    async def set_status(
        self, topic_id: int, status: TopicStatus, who: str, reason: str | None, now: datetime,
        targets: Sequence[ChannelRef], *, within: UnitOfWork | None = None,
    ) -> bool:
        """Lock or unlock; return False (and enqueue nothing) if it already was."""
        locked = status is TopicStatus.LOCKED
        async with self.db.within(within) as tx:
            changed = await tx.execute(
                "UPDATE topics SET status = ?, locked_by = ?, locked_at = ?, lock_reason = ? "
                "WHERE id = ? AND status != ?",
                (status.value, who if locked else None, _ts(now) if locked else None,
                 reason if locked else None, topic_id, status.value),
            )
            self._placing.pop(topic_id, None)
            if changed == 0:
                return False
            if not locked:
                await tx.execute("DELETE FROM lock_notices WHERE topic_id = ?", (topic_id,))
            action = Action.LOCK if locked else Action.UNLOCK
            await self._enqueue(tx, topic_id, action, targets, now)
        self._placing.pop(topic_id, None)  # and a read made while it was being committed
        if locked:
            self._forget_threads(topic_id)
        return True

    async def add_post(
        self, *, topic_id: int, author: Author, text: str, subject: str | None,
        parent_id: int | None, prompt_id: int | None, created_at: datetime,
        origin: ChannelRef | None, message_id: str | None, targets: Sequence[ChannelRef],
        cursor: tuple[str, str] | None = None, attachments: Sequence[Attachment] = (),
        spans: Sequence[Span] = (), album: str | None = None, not_before: float = 0.0,
    ) -> tuple[int, int]:
        """Record a post, the message that carried it and its deliveries (and the intake
        cursor that delivered it) atomically; return (post id, number) once committed.

        Posts arriving together share one commit (see :mod:`group_commit`). Raises
        :class:`DuplicateMessage` when the carrying message is already mapped. ``album``:
        the album this post is (its later items join it); ``not_before``: when its
        deliveries may go (time.time()), so that the album's other items can join first.
        """
        return await asyncio.shield(self.queue_post(
            topic_id=topic_id, author=author, text=text, subject=subject, parent_id=parent_id,
            prompt_id=prompt_id, created_at=created_at, origin=origin, message_id=message_id,
            targets=targets, cursor=cursor, attachments=attachments, spans=spans, album=album,
            not_before=not_before))

    def queue_post(
        self, *, topic_id: int, author: Author, text: str, subject: str | None,
        parent_id: int | None, prompt_id: int | None, created_at: datetime,
        origin: ChannelRef | None, message_id: str | None, targets: Sequence[ChannelRef],
        cursor: tuple[str, str] | None = None, attachments: Sequence[Attachment] = (),
        spans: Sequence[Span] = (), album: str | None = None, not_before: float = 0.0,
        patience: float | None = None,
    ) -> asyncio.Future[tuple[int, int]]:
        """:meth:`add_post` in two steps: queue the post now (posts are written in the order
        they were queued) and return the future of its commit. ``patience``: seconds it may
        be held while the database refuses writes before it fails with the database's error
        (None: until the database answers). Cancelling the future withdraws the post unless
        it is already being written."""
        return self.writer.submit(PostRequest(
            topic_id=topic_id, author=author, text=text, subject=subject, parent_id=parent_id,
            prompt_id=prompt_id, created_at=created_at, origin=origin, message_id=message_id,
            targets=targets, cursor=cursor, attachments=attachments,
            spans=spans_to_json(spans), album=album, not_before=not_before,
        ), patience)

    async def posts_written(self, where: ChannelRef | None = None,
                            message_id: str | None = None) -> bool:
        """Wait until every post queued so far is committed; False if none was waiting.
        With ``where`` and ``message_id``: only if that message's post is among them."""
        key = (where.platform, where.chat_id, message_id) \
            if where is not None and message_id is not None else None
        return await self.writer.written(key)

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """Posts queued inside the block share commits (see ``PostWriter.together``); a
        topic read to place one serves the next (see :meth:`topic_placing`)."""
        self._placing.clear()
        try:
            with self.writer.together():
                yield
        finally:
            self._placing.clear()

    @property
    def held_writes(self) -> int:
        """Times the post writer held a batch because the database refused it."""
        return self.writer.held

    async def album_post(self, where: ChannelRef, album: str) -> int | None:
        row = await self._one(
            "SELECT post_id FROM albums WHERE platform = ? AND chat_id = ? AND album_id = ?",
            (where.platform, where.chat_id, album),
        )
        return int(row[0]) if row is not None else None

    async def add_to_album(
        self, post_id: int, *, origin: ChannelRef, message_id: str,
        attachments: Sequence[Attachment], text: tuple[str | None, str, Sequence[Span]] | None,
        targets: Sequence[ChannelRef], now: datetime, not_before: float,
        cursor: tuple[str, str] | None = None,
    ) -> None:
        """See :meth:`bridgebot.core.ports.DiscussionPort.add_to_album`.

        A target whose copy of the post is still pending (or dead: its retry sends the post
        as it is then) needs nothing more: the copy is built from the post when it goes,
        with every file it has by then. The others' copies went out (their rows are done,
        or already pruned) and get a FILES row for the files added here.
        """
        async with self.db.tx() as tx:
            known = await tx.fetchrow(
                "SELECT 1 FROM message_map WHERE platform = ? AND chat_id = ? AND message_id = ?",
                (origin.platform, origin.chat_id, message_id))
            if known is not None:
                raise DuplicateMessage(message_id)
            row = await tx.fetchrow("SELECT topic_id FROM posts WHERE id = ?", (post_id,))
            assert row is not None, post_id
            topic_id = int(row[0])
            await tx.dialect.lock_topics(tx, [topic_id])
            found = await tx.fetchrow(
                "SELECT COALESCE(MAX(position), 0), COUNT(*) FROM attachments WHERE post_id = ?",
                (post_id,))
            last, count = (int(found[0]), int(found[1])) if found is not None else (0, 0)
            await tx.executemany(
                "INSERT INTO attachments (post_id, position, name, mime_type, size, sha256, kind) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(post_id, position, a.name, a.mime_type, a.size, a.sha256, a.kind)
                 for position, a in enumerate(attachments, start=last + 1)])
            parts = await tx.fetchrow(
                "SELECT COALESCE(MAX(part), -1) + 1 FROM message_map WHERE post_id = ? "
                "AND platform = ? AND chat_id = ? AND mirrored = 0",
                (post_id, origin.platform, origin.chat_id))
            await tx.execute(
                "INSERT INTO message_map (platform, chat_id, message_id, thread_id, topic_id, "
                "post_id, part, mirrored) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                (origin.platform, origin.chat_id, message_id, origin.thread_id, topic_id, post_id,
                 int(parts[0]) if parts is not None else 0))
            if text is not None:  # the album's caption came with a later item
                subject, body, spans = text
                await tx.execute(
                    "UPDATE posts SET text = ?, subject = ?, spans = ? WHERE id = ? "
                    "AND text = '' AND subject IS NULL AND erased_at IS NULL",
                    (body, subject, spans_to_json(spans), post_id))
            await tx.execute(
                "UPDATE outbox SET not_before = ? WHERE post_id = ? AND action = 'post' "
                "AND state = 'pending' AND attempts = 0 AND not_before < ?",
                (not_before, post_id, not_before))
            waiting = {(r[0], r[1]) for r in await tx.fetch(
                "SELECT platform, chat_id FROM outbox WHERE post_id = ? AND action = 'post' "
                "AND state IN ('pending', 'dead')", (post_id,))}
            late = [t for t in targets if (t.platform, t.chat_id) not in waiting]
            if attachments and late:
                await self._enqueue(tx, topic_id, Action.FILES, late, now, post_id=post_id,
                                    notice=f"{count}:{count + len(attachments)}")
            if cursor is not None:
                await tx.execute(
                    "INSERT INTO cursors (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value", cursor)

    async def edit_post(
        self, post_id: int, text: str, subject: str | None, edited_at: datetime,
        targets: Sequence[ChannelRef], spans: Sequence[Span] = (),
    ) -> bool:
        """Replace a post's text (and formatting), keeping the old one in history; False if
        unchanged."""
        stored = spans_to_json(spans)
        async with self.db.tx() as tx:
            row = await tx.fetchrow(
                # An erased post (forgotten, or past retention) never takes text again.
                "SELECT text, subject, topic_id, spans FROM posts WHERE id = ? AND erased_at IS NULL",
                (post_id,),
            )
            if row is None or (row["text"], row["subject"], row["spans"]) == (text, subject, stored):
                return False
            await tx.execute(
                "INSERT INTO post_history (post_id, text, subject, replaced_at, spans) "
                "VALUES (?, ?, ?, ?, ?)",
                (post_id, row["text"], row["subject"], _ts(edited_at), row["spans"]),
            )
            await tx.execute(
                "UPDATE posts SET text = ?, subject = ?, edited_at = ?, spans = ? WHERE id = ?",
                (text, subject, _ts(edited_at), stored, post_id),
            )
            await self._enqueue(tx, row["topic_id"], Action.EDIT, targets, edited_at, post_id=post_id)
        return True

    async def set_hidden(
        self, post_id: int, hidden: bool, who: str | None, now: datetime,
        targets: Sequence[ChannelRef],
    ) -> bool:
        async with self.db.tx() as tx:
            changed = await tx.execute(
                "UPDATE posts SET hidden = ?, hidden_by = ? WHERE id = ? AND hidden != ?",
                (int(hidden), who if hidden else None, post_id, int(hidden)),
            )
            if changed == 0:
                return False
            found = await tx.fetchrow("SELECT topic_id FROM posts WHERE id = ?", (post_id,))
            assert found is not None  # the UPDATE above just changed this post
            topic_id = int(found[0])
            action = Action.HIDE if hidden else Action.POST
            await self._enqueue(tx, topic_id, action, targets, now, post_id=post_id)
        return True

    async def map_answer(self, where: ChannelRef, topic_id: int,
                         message_ids: Sequence[str]) -> None:
        """The bot's answer about a topic (its confirmation, a /status): mapped to the topic
        alone, like a lock notice, so a reply to it is a reply to the topic. No post or
        question: it never stands for one when the relay looks for a reply target."""
        async with self.db.tx() as tx:
            await tx.executemany(
                "INSERT INTO message_map (platform, chat_id, message_id, thread_id, "
                "topic_id, part, mirrored) VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING",
                [(where.platform, where.chat_id, mid, where.thread_id, topic_id, part)
                 for part, mid in enumerate(message_ids)],
            )

    async def note_lock_notice(self, topic_id: int, platform: str, user_id: str) -> bool:
        """Remember that this person was told the topic is locked; True the first time."""
        async with self.db.tx() as tx:
            changed = await tx.execute(
                "INSERT INTO lock_notices (topic_id, platform, user_id) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (topic_id, platform, user_id),
            )
            return changed == 1

    async def mark_read(self, participant_id: int, topic_id: int, number: int) -> None:
        async with self.db.tx() as tx:
            await tx.execute(
                "INSERT INTO read_markers (participant_id, topic_id, last_read_number) "
                "VALUES (?, ?, ?) ON CONFLICT (participant_id, topic_id) "
                f"DO UPDATE SET last_read_number = {self.db.dialect.greatest}("
                "read_markers.last_read_number, excluded.last_read_number)",
                (participant_id, topic_id, number),
            )

    async def ensure_participant(self, author: Author, now: datetime) -> int:
        async with self.db.tx() as tx:
            return await self._participant(tx, author, now)

    async def complete(
        self, row: PendingDelivery, message_ids: Sequence[str], thread_id: str | None, now: datetime,
        *, topic_id: int, prompt_id: int | None, post_id: int | None,
        replaced: Sequence[str] = (), carried: int | None = None,
    ) -> None:
        """Record what a delivery produced and mark it done, in one transaction.

        An edit that made a post longer or shorter returns the messages that now show it
        (``message_ids``) in place of those it had (``replaced``): the ones it deleted leave
        the message map, the continuation messages it sent join it. A post's copy that
        ``carried`` fewer files than the post has now (an album item joined it while the
        copy was on its way) is followed by a FILES delivery with the rest.
        """
        if row.action in (Action.PROMPT, Action.POST, Action.LOCK, Action.NOTICE) and not (
                row.action is Action.POST and post_id is not None and carried):
            # The common case, after every send: its messages mapped and the row done, in
            # one round trip on PostgreSQL (no BEGIN/COMMIT around two statements).
            d = self.db.dialect
            writes: list[tuple[str, Sequence[object]]] = []
            if message_ids:
                writes.append((
                    "INSERT INTO message_map (platform, chat_id, message_id, thread_id, topic_id, "
                    "prompt_id, post_id, part, mirrored, delivery_id) "
                    "SELECT c1, c2, c3, c4, c5, c6, c7, c8, 1, c9 FROM "
                    f"{d.rows(*('TEXT',) * 4, *('BIGINT',) * 5)} "
                    "WHERE true ON CONFLICT DO NOTHING",
                    d.pack([(row.target.platform, row.target.chat_id, mid, thread_id, topic_id,
                             prompt_id, post_id, part, row.id)
                            for part, mid in enumerate(message_ids)], 9)))
            writes.append(("UPDATE outbox SET state = 'done', done_at = ? WHERE id = ?",
                           (_ts(now), row.id)))
            await self.db.write_together(writes)
            return
        async with self.db.tx() as tx:
            if row.action is Action.POST and post_id is not None and carried:
                # After an album item that is joining right now (it holds the topic): the
                # count then includes its file, or it sees this row done (PostgreSQL).
                await tx.dialect.lock_topics(tx, [topic_id])
                found = await tx.fetchrow(
                    "SELECT COUNT(*) FROM attachments WHERE post_id = ?", (post_id,))
                count = int(found[0]) if found is not None else 0
                if count > carried:
                    await self._enqueue(tx, topic_id, Action.FILES, [row.target], now,
                                        post_id=post_id, notice=f"{carried}:{count}")
            if row.action is Action.FILES:  # the post's messages here, then these
                found = await tx.fetchrow(
                    "SELECT COALESCE(MAX(part), -1) + 1 FROM message_map WHERE post_id = ? "
                    "AND platform = ? AND chat_id = ? AND mirrored = 1",
                    (post_id, row.target.platform, row.target.chat_id))
                first = int(found[0]) if found is not None else 0
                await tx.executemany(
                    "INSERT INTO message_map (platform, chat_id, message_id, thread_id, "
                    "topic_id, post_id, part, mirrored, delivery_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO NOTHING",
                    [(row.target.platform, row.target.chat_id, mid, thread_id, topic_id, post_id,
                      part, row.id) for part, mid in enumerate(message_ids, start=first)],
                )
            if row.action is Action.EDIT and message_ids and post_id is not None:
                gone = [m for m in replaced if m not in message_ids]
                await tx.executemany(
                    "DELETE FROM message_map WHERE platform = ? AND chat_id = ? AND message_id = ?",
                    [(row.target.platform, row.target.chat_id, m) for m in gone],
                )
                await tx.executemany(
                    "INSERT INTO message_map (platform, chat_id, message_id, thread_id, "
                    "topic_id, prompt_id, post_id, part, mirrored, delivery_id) "
                    "VALUES (?, ?, ?, ?, ?, NULL, ?, ?, 1, ?) ON CONFLICT DO NOTHING",
                    [(row.target.platform, row.target.chat_id, mid, thread_id, topic_id, post_id,
                      part, row.id) for part, mid in enumerate(message_ids) if mid not in replaced],
                )
            if row.action is Action.OPEN_TOPIC:
                await tx.execute(
                    "INSERT INTO topic_channels (topic_id, platform, chat_id, thread_id, "
                    "root_message_id) VALUES (?, ?, ?, ?, ?) ON CONFLICT (topic_id, platform, chat_id) "
                    "DO UPDATE SET thread_id = excluded.thread_id, "
                    "root_message_id = excluded.root_message_id",
                    (topic_id, row.target.platform, row.target.chat_id, thread_id,
                     message_ids[0] if message_ids else None),
                )
            if row.action in (Action.OPEN_TOPIC, Action.PROMPT, Action.POST, Action.LOCK,
                              Action.NOTICE):
                await tx.executemany(
                    "INSERT INTO message_map (platform, chat_id, message_id, thread_id, "
                    "topic_id, prompt_id, post_id, part, mirrored, delivery_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO NOTHING",
                    [(row.target.platform, row.target.chat_id, mid, thread_id, topic_id, prompt_id,
                      post_id, part, row.id) for part, mid in enumerate(message_ids)],
                )
            if row.action is Action.HIDE and post_id is not None:
                # Mirrors, and the author's original when a facilitator's hide deleted it
                # (a refused deletion fails the delivery instead): /unhide then re-delivers
                # the post here too.
                await tx.execute(
                    "DELETE FROM message_map WHERE post_id = ? AND platform = ? AND chat_id = ?",
                    (post_id, row.target.platform, row.target.chat_id),
                )
            await tx.execute(
                "UPDATE outbox SET state = 'done', done_at = ? WHERE id = ?",
                (_ts(now), row.id),
            )

    async def mark_attempt(self, delivery_ids: Sequence[int]) -> None:
        """Commit that these deliveries are about to be sent: after a crash, a pending row
        with attempts > 0 may already be on the platform."""
        d = self.db.dialect
        await self.db.write_one(  # before every send: one round trip on PostgreSQL
            f"UPDATE outbox SET attempts = attempts + 1 WHERE id IN (SELECT c1 FROM {d.rows('BIGINT')})",
            d.pack([(i,) for i in delivery_ids], 1))

    async def complete_combined(
        self, rows: Sequence[PendingDelivery], message_ids: Sequence[str], now: datetime,
        *, topic_id: int, post_id: int, thread_id: str | None,
    ) -> None:
        """Several posts went out as one combined message: all done, the message mapped to
        ``post_id`` (the last of them), so a reply to it answers that post."""
        async with self.db.tx() as tx:
            last = rows[-1]
            await tx.executemany(
                "INSERT INTO message_map (platform, chat_id, message_id, thread_id, topic_id, "
                "post_id, part, mirrored, delivery_id) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?) "
                "ON CONFLICT DO NOTHING",
                [(last.target.platform, last.target.chat_id, mid, thread_id, topic_id, post_id, part,
                  last.id) for part, mid in enumerate(message_ids)],
            )
            # Which posts share the message: a copy that holds several posts cannot be
            # edited for one of them (an edit, /forgetme) without rewriting the others.
            await tx.executemany(
                "INSERT INTO combined_parts (delivery_id, post_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(last.id, r.post_id) for r in rows if r.post_id is not None],
            )
            await tx.executemany(
                "UPDATE outbox SET state = 'done', done_at = ? WHERE id = ?",
                [(_ts(now), r.id) for r in rows],
            )

    async def prune_delivered(self, before: datetime, *, batch: int = 2000) -> int:
        """Delete delivered outbox rows finished before ``before``; return how many.

        Kept: pending and dead rows (until retried or dropped); digests' rows (their text is
        how ``/forgetme`` tells which posted digests named someone) and lock and unlock rows
        (they say which bot message is a lock notice, rewritten when it names someone
        forgotten; one per topic and chat); a combined message's
        row (``combined_parts`` says through it which posts share that message); and the
        newest row, so SQLite never hands a deleted id out again (Discord nonces are made
        from it). A message map entry loses only its link to the deleted row. Deleted in
        batches, so posts arriving meanwhile wait for one short transaction at most.
        """
        prunable = (
            "SELECT id FROM outbox WHERE state = 'done' AND COALESCE(done_at, created_at) < ? "
            "AND action NOT IN ('notice', 'lock', 'unlock') "
            "AND id NOT IN (SELECT delivery_id FROM combined_parts) "
            "AND id < (SELECT MAX(id) FROM outbox) ORDER BY id LIMIT ?"
        )
        total = 0
        while True:
            async with self.db.tx() as tx:
                ids = [r[0] for r in await tx.fetch(prunable, (_ts(before), batch))]
                if ids:
                    await tx.execute(
                        f"UPDATE message_map SET delivery_id = NULL WHERE delivery_id IN ({marks(ids)})",
                        ids)
                    await tx.execute(f"DELETE FROM outbox WHERE id IN ({marks(ids)})", ids)
            total += len(ids)
            if len(ids) < batch:
                break
        async with self.db.tx() as tx:  # albums that long ago take no more items
            await tx.execute("DELETE FROM albums WHERE created_at < ?", (_ts(before),))
        return total

    async def reclaim_space(self) -> int:
        """Give the space of deleted rows back to the file system (bytes freed)."""
        return await self.db.reclaim_space()

    async def retry_later(self, delivery_id: int, not_before: float, error: str) -> None:
        async with self.db.tx() as tx:
            await tx.execute(
                "UPDATE outbox SET not_before = ?, last_error = ? WHERE id = ?",
                (not_before, error, delivery_id),
            )

    async def bury(self, delivery_id: int, error: str) -> None:
        """Move a delivery to the dead-letter state with its reason."""
        async with self.db.tx() as tx:
            await tx.execute(
                "UPDATE outbox SET state = 'dead', last_error = ? WHERE id = ?",
                (error, delivery_id),
            )

    async def revive(self, delivery_id: int) -> bool:
        async with self.db.tx() as tx:
            changed = await tx.execute(
                "UPDATE outbox SET state = 'pending', not_before = 0 WHERE id = ? AND state = 'dead'",
                (delivery_id,),
            )
            return changed == 1

    async def drop(self, delivery_id: int) -> bool:
        async with self.db.tx() as tx:
            changed = await tx.execute(
                "UPDATE outbox SET state = 'done', last_error = 'dropped by operator' "
                "WHERE id = ? AND state != 'done'",
                (delivery_id,),
            )
            return changed == 1
