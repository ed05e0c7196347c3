"""SQLite for privacy (:class:`~bridgebot.core.ports.PrivacyPort`): aliases, pseudonyms,
forgetting a person, retention, combined copies.

Kept beside ``repo.py`` (like ``facilitation.py``) so the discussion's core queries stay
small. Forgetting a person is one transaction: their words, their name, their alias and
reading marks, and the edits that carry the erasure to every copy commit together or not
at all, so a crash half-way never leaves a person half forgotten.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from bridgebot.core.models import Action, Author, ChannelRef, opens_topic
from bridgebot.core.ports import ForgetReport, Identity, PersonSummary
from bridgebot.core.richtext.spans import from_json as spans_from_json
from bridgebot.core.richtext.spans import plain_with_urls
from bridgebot.core.text import name_pattern
from bridgebot.store.files import FileStore
from bridgebot.store.repo import Store, _ts, _when
from bridgebot.store.sql import Conn, Db, Queries, Row
from bridgebot.store.sql import marks as _marks

# Names looked for inside others' words when someone is forgotten: a single word ("Jordan",
# "Rose") could just as well be a place or a flower, and rewriting someone else's sentence
# wrongly is worse than leaving a first name in it; placeholders name nobody.
NAME_WORDS_TO_SCRUB = 2


class PrivacyStore(Queries):
    """Aliases, pseudonyms, forgetting and retention over the discussion's database.

    ``files``: the stored files of posts, deleted with the posts' words when they are erased.
    """

    def __init__(self, db: Db, files: FileStore | None = None) -> None:
        super().__init__(db)
        self.files = files

    # -- naming ------------------------------------------------------------------

    _IDENTITY = (
        "SELECT p.id AS post_id, p.topic_id, p.number, pa.id AS participant_id, t.bridge, "
        "pa.display_name, al.alias, ps.number AS pseudonym, "
        "pa.forgotten_at IS NOT NULL AS forgotten FROM posts p "
        "JOIN participants pa ON pa.id = p.participant_id JOIN topics t ON t.id = p.topic_id "
        "LEFT JOIN aliases al ON al.participant_id = pa.id AND al.bridge = t.bridge "
        "LEFT JOIN pseudonyms ps ON ps.topic_id = p.topic_id AND ps.participant_id = pa.id "
    )

    @staticmethod
    def _identity(row: Row) -> tuple[int, Identity]:
        return int(row["post_id"]), Identity(
            participant_id=row["participant_id"], bridge=row["bridge"],
            display_name=row["display_name"], alias=row["alias"], pseudonym=row["pseudonym"],
            forgotten=bool(row["forgotten"]),
        )

    async def identities(self, post_ids: Iterable[int]) -> dict[int, Identity]:
        """Post id -> its author's identity, for the posts asked about."""
        ids = sorted(set(post_ids))
        if not ids:
            return {}
        rows = await self._all(f"{self._IDENTITY} WHERE p.id IN ({_marks(ids)})", ids)
        return dict(self._identity(r) for r in rows)

    async def mentioned(self, topic_id: int, platform: str, user_id: str) -> Identity | None:
        """The identity of someone a post in ``topic_id`` mentions, if they are a participant
        (their alias on the topic's bridge and pseudonym in the topic, if any)."""
        row = await self._one(
            "SELECT 0 AS post_id, pa.id AS participant_id, t.bridge, pa.display_name, al.alias, "
            "ps.number AS pseudonym, pa.forgotten_at IS NOT NULL AS forgotten FROM participants pa "
            "JOIN topics t ON t.id = ? "
            "LEFT JOIN aliases al ON al.participant_id = pa.id AND al.bridge = t.bridge "
            "LEFT JOIN pseudonyms ps ON ps.topic_id = t.id AND ps.participant_id = pa.id "
            "WHERE pa.platform = ? AND pa.user_id = ?",
            (topic_id, platform, user_id),
        )
        return self._identity(row)[1] if row else None

    async def topic_identities(self, topic_id: int) -> dict[int, Identity]:
        """Post id -> author identity for every post of a topic (exports, archive pages).

        Who wrote each post, then each of those people once (their alias on the topic's
        bridge, pseudonym in the topic): a 10,000-post topic has a few hundred authors, and
        joining alias and pseudonym per post cost its page ~50 ms. Posts are read first, so
        every post read has its author among the people read after it.
        """
        authors = await self._all("SELECT id, participant_id FROM posts WHERE topic_id = ?",
                                  (topic_id,))
        if not authors:
            return {}
        rows = await self._all(
            "SELECT 0 AS post_id, pa.id AS participant_id, t.bridge, pa.display_name, al.alias, "
            "ps.number AS pseudonym, pa.forgotten_at IS NOT NULL AS forgotten FROM participants pa "
            "JOIN topics t ON t.id = ? "
            "LEFT JOIN aliases al ON al.participant_id = pa.id AND al.bridge = t.bridge "
            "LEFT JOIN pseudonyms ps ON ps.topic_id = t.id AND ps.participant_id = pa.id "
            "WHERE pa.id IN (SELECT participant_id FROM posts WHERE topic_id = ?)",
            (topic_id, topic_id))
        people = {identity.participant_id: identity for _, identity in map(self._identity, rows)}
        return {post_id: people[person] for post_id, person in authors if person in people}

    async def last_visible_authors(self, topic_ids: Iterable[int]) -> dict[int, tuple[Identity, bool]]:
        """Topic id -> the identity of its newest visible post's author and whether that
        post opens the topic: "last post by …" for /status, for all of a person's topics in
        one statement (one step down the posts_visible index per topic), without loading
        the posts, their files or their words. A topic without a visible post is left out."""
        ids = sorted(set(topic_ids))
        if not ids:
            return {}
        rows = await self._all(
            f"{self._IDENTITY} WHERE p.id IN (SELECT (SELECT q.id FROM posts q "
            "WHERE q.topic_id = t.id AND q.hidden = 0 ORDER BY q.number DESC LIMIT 1) "
            f"FROM topics t WHERE t.id IN ({_marks(ids)}))",
            ids,
        )
        return {row["topic_id"]: (self._identity(row)[1], opens_topic(row["number"])) for row in rows}

    async def combined_message_ids(self, target: ChannelRef, post_id: int) -> set[str]:
        """This post's copies on ``target`` that also hold other posts (a combined message)."""
        rows = await self._all(
            "SELECT m.message_id FROM message_map m JOIN combined_parts c ON c.delivery_id = m.delivery_id "
            "WHERE m.post_id = ? AND m.platform = ? AND m.chat_id = ?",
            (post_id, target.platform, target.chat_id),
        )
        return {r[0] for r in rows}

    async def combined_copies(self, target: ChannelRef,
                              post_id: int) -> list[tuple[tuple[str, ...], list[int]]]:
        """The combined messages on ``target`` that hold this post: for each, its message ids
        (in order) and the ids of every post it holds, in the order they were shown."""
        rows = await self._all(
            "SELECT DISTINCT m.delivery_id FROM combined_parts c JOIN message_map m "
            "ON m.delivery_id = c.delivery_id WHERE c.post_id = ? AND m.platform = ? AND m.chat_id = ?",
            (post_id, target.platform, target.chat_id),
        )
        copies: list[tuple[tuple[str, ...], list[int]]] = []
        for (delivery_id,) in rows:
            messages = await self._all(
                "SELECT message_id FROM message_map WHERE delivery_id = ? ORDER BY part",
                (delivery_id,))
            posts = await self._all(
                "SELECT c.post_id FROM combined_parts c JOIN posts p ON p.id = c.post_id "
                "WHERE c.delivery_id = ? ORDER BY p.number", (delivery_id,))
            copies.append((tuple(r[0] for r in messages), [r[0] for r in posts]))
        return copies

    # -- aliases -----------------------------------------------------------------

    async def alias_of(self, bridge: str, platform: str, user_id: str) -> str | None:
        row = await self._one(
            "SELECT al.alias FROM aliases al JOIN participants pa ON pa.id = al.participant_id "
            "WHERE al.bridge = ? AND pa.platform = ? AND pa.user_id = ?",
            (bridge, platform, user_id),
        )
        return row[0] if row else None

    async def names_in_bridge(self, bridge: str) -> list[tuple[str, str, str]]:
        """(platform, user id, display name) of everyone who posted on a bridge."""
        rows = await self._all(
            "SELECT DISTINCT pa.platform, pa.user_id, pa.display_name FROM participants pa "
            "JOIN posts p ON p.participant_id = pa.id JOIN topics t ON t.id = p.topic_id "
            "WHERE t.bridge = ? AND pa.forgotten_at IS NULL",
            (bridge,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def set_alias(self, bridge: str, author: Author, alias: str, key: str, now: datetime) -> bool:
        """Give ``author`` this alias on ``bridge``; False (nothing changed) when someone else
        has it. ``key`` is the alias folded for comparison; its UNIQUE index decides."""
        async with self.db.tx() as tx:
            participant = await Store._participant(tx, author, now)
            owner = await tx.fetchrow(
                "SELECT participant_id FROM aliases WHERE bridge = ? AND alias_key = ?", (bridge, key)
            )
            if owner is not None and owner[0] != participant:
                return False
            await tx.execute(
                "INSERT INTO aliases (bridge, participant_id, alias, alias_key, set_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (bridge, participant_id) DO UPDATE SET "
                "alias = excluded.alias, alias_key = excluded.alias_key, set_at = excluded.set_at",
                (bridge, participant, alias, key, _ts(now)),
            )
        return True

    async def clear_alias(self, bridge: str, platform: str, user_id: str) -> bool:
        async with self.db.tx() as tx:
            changed = await tx.execute(
                "DELETE FROM aliases WHERE bridge = ? AND participant_id = "
                "(SELECT id FROM participants WHERE platform = ? AND user_id = ?)",
                (bridge, platform, user_id),
            )
            return changed > 0

    # -- forgetting --------------------------------------------------------------

    async def person(self, platform: str, user_id: str) -> PersonSummary | None:
        """How many posts (and topics) a person has, or None when bridgebot holds nothing."""
        row = await self._one(
            "SELECT pa.id, COUNT(p.id), COUNT(DISTINCT p.topic_id) FROM participants pa "
            "LEFT JOIN posts p ON p.participant_id = pa.id AND p.number > 1 "
            "WHERE pa.platform = ? AND pa.user_id = ? GROUP BY pa.id",
            (platform, user_id),
        )
        return PersonSummary(posts=row[1], topics=row[2]) if row else None

    async def forget(self, platform: str, user_id: str, now: datetime, placeholder: str,
                     anonymous: str, generic_names: Collection[str]) -> ForgetReport | None:
        """Erase one person, in one transaction; None when nobody has that id.

        Their posts keep their place (number, parent, replies) with ``placeholder`` as text;
        their history rows and subjects go the same way; their name becomes ``anonymous``
        (``{n}``: the how-manieth forgotten person) in their record, in "who did it" fields and,
        where their full name or alias (two words or more) is written, in others' posts,
        digests and topic texts (never a name in ``generic_names``, casefolded, such as
        "participant": many people share it); their user id becomes a random token;
        their aliases, reading marks and lock notices are deleted; and an EDIT delivery is
        queued for every single-post copy of a changed post on every chat.
        """
        async with self.db.tx() as tx:
            rows = await tx.fetch(
                "SELECT id, display_name FROM participants WHERE platform = ? AND user_id = ? "
                "AND forgotten_at IS NULL", (platform, user_id),
            )
            found = next(iter(rows), None)
            if found is None:
                return None
            participant, name = int(found[0]), str(found[1])
            gone = await tx.fetch(
                "SELECT COUNT(*) FROM participants WHERE forgotten_at IS NOT NULL")
            report = ForgetReport(anonymous.format(n=int(next(iter(gone))[0]) + 1))
            aliases = [r[0] for r in await tx.fetch(
                "SELECT alias FROM aliases WHERE participant_id = ?", (participant,))]
            report.had_alias = bool(aliases)
            posts = await tx.fetch(
                "SELECT id, topic_id, number, hidden FROM posts WHERE participant_id = ?",
                (participant,),
            )
            own = [(r[0], r[1], bool(r[3])) for r in posts if not opens_topic(r[2])]
            opened = sorted({r[1] for r in posts if opens_topic(r[2])})
            report.topic_ids = {topic for _, topic, _ in own}
            report.posts_erased = len(own)
            report.topics_opened = len(opened)
            own_ids = [post_id for post_id, _, _ in own]
            files: list[str] = []
            if own_ids:
                marks = _marks(own_ids)
                files = [r[0] for r in await tx.fetch(
                    f"SELECT sha256 FROM attachments WHERE post_id IN ({marks})", own_ids)]
                await tx.execute(f"DELETE FROM attachments WHERE post_id IN ({marks})", own_ids)
                await tx.execute(f"UPDATE post_history SET text = ?, subject = NULL, spans = NULL "
                                 f"WHERE post_id IN ({marks})", (placeholder, *own_ids))
                await tx.execute(f"UPDATE posts SET text = ?, subject = NULL, spans = NULL, edited_at = ?, "
                                 f"erased_at = ? WHERE id IN ({marks})",
                                 (placeholder, _ts(now), _ts(now), *own_ids))
            if opened:
                await tx.execute(f"UPDATE topics SET opened_by = ? WHERE id IN ({_marks(opened)})",
                                 (report.anonymous_name, *opened))
            renamed = await self._rename_everywhere(tx, [name, *aliases], report, now,
                                                    generic_names)
            # Others' replies quote the first words of the post they answer (where the reply
            # cannot be native, and in combined messages): shown again, they quote the
            # placeholder instead.
            replies = await self._replies_to(tx, own_ids)
            report.replies_quoting = len(replies)
            to_edit = list(dict.fromkeys([(post_id, topic) for post_id, topic, _ in own]
                                         + renamed + replies))
            # Every topic whose outbox gets edits, locked at once (in one order) before any.
            await tx.dialect.lock_topics(tx, {topic for _, topic in to_edit} | report.bot_texts_in)
            for post_id, topic_id in to_edit:
                await self._queue_edits(tx, post_id, topic_id, now, report,
                                        count=post_id in own_ids)
            for topic_id in sorted(report.bot_texts_in):
                await self._queue_rewrite(tx, topic_id, now, report)
            await tx.execute(
                "UPDATE participants SET display_name = ?, user_id = ?, forgotten_at = ? WHERE id = ?",
                (report.anonymous_name, f"forgotten-{secrets.token_hex(16)}", _ts(now), participant),
            )
            await tx.execute("DELETE FROM aliases WHERE participant_id = ?", (participant,))
            await tx.execute("DELETE FROM read_markers WHERE participant_id = ?", (participant,))
            await tx.execute("DELETE FROM lock_notices WHERE platform = ? AND user_id = ?",
                             (platform, user_id))
        # The old texts are still in the WAL (and, without secure_delete, in free pages):
        # copy the new pages into the file and empty the WAL now, not at some later checkpoint.
        await self.db.checkpoint()
        report.files_deleted = await self._discard(files)
        return report

    async def _discard(self, sha256s: Sequence[str]) -> int:
        """Delete the stored files of erased posts (those no other post shares)."""
        if self.files is None or not sha256s:
            return 0
        return await self.files.discard(sha256s)

    async def _rename_everywhere(self, tx: Conn, names: list[str],
                                 report: ForgetReport, now: datetime,
                                 generic_names: Collection[str]) -> list[tuple[int, int]]:
        """Replace the person's name (and aliases) as whole words in others' posts, history,
        digests, topic texts and "who did it" fields; return the visible posts changed."""
        anonymous = report.anonymous_name
        exact = [n for n in names if n.strip() and n.casefold() not in generic_names]
        for table, column in (("topics", "locked_by"), ("posts", "hidden_by"), ("digests", "created_by")):
            for name in exact:
                await tx.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (anonymous, name))
        wanted = sorted({n for n in exact if len(n.split()) >= NAME_WORDS_TO_SCRUB}, key=len, reverse=True)
        if not wanted:
            return []

        def scrub(text: str | None) -> str | None:
            if text is None:
                return None
            for name in wanted:
                text = name_pattern(name).sub(anonymous, text)
            return text

        def having(*columns: str) -> tuple[str, list[str]]:
            where = " OR ".join(f"{tx.dialect.find}({c}, ?) > 0" for c in columns for _ in wanted)
            return where, [n for _ in columns for n in wanted]

        changed: list[tuple[int, int]] = []
        where, args = having("text", "subject")
        for post_id, topic_id, number, text, subject, hidden, spans in await tx.fetch(
            "SELECT id, topic_id, number, text, subject, hidden, spans FROM posts "
            f"WHERE erased_at IS NULL AND ({where})", args,
        ):
            new_text, new_subject = scrub(text), scrub(subject)
            if (new_text, new_subject) != (text, subject):
                if spans:  # offsets no longer fit the renamed text: plain, addresses kept
                    new_text = scrub(plain_with_urls(text, spans_from_json(spans)))
                await tx.execute("UPDATE posts SET text = ?, subject = ?, edited_at = ?, spans = NULL "
                                 "WHERE id = ?", (new_text, new_subject, _ts(now), post_id))
                report.others_posts_renamed += 1
                if not hidden and number > 1:  # an opening post's copies are the topic itself
                    changed.append((post_id, topic_id))
        # The bot's own texts (topic title and introduction, lock reason, questions, digests)
        # also stand in messages on the platforms: their topics are noted, to be rewritten.
        for table, key, topic, columns in (
                ("post_history", "id", "NULL", ("text", "subject")),
                ("topics", "id", "id", ("title", "introduction", "lock_reason")),
                ("prompts", "id", "topic_id", ("question",))):
            where, args = having(*columns)
            for row in await tx.fetch(
                f"SELECT {key}, {topic}, {', '.join(columns)} FROM {table} WHERE {where}", args
            ):
                values = [scrub(v) for v in list(row)[2:]]
                sets = ", ".join(f"{c} = ?" for c in columns)
                await tx.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", (*values, row[0]))
                if row[1] is not None and values != list(row)[2:]:
                    report.bot_texts_in.add(int(row[1]))
        where, args = having("notice")
        for delivery_id, topic_id, notice, state in await tx.fetch(
            f"SELECT id, topic_id, notice, state FROM outbox WHERE notice IS NOT NULL AND ({where})",
            args,
        ):
            if state != "pending":
                report.digests_naming += 1  # already on a platform: rewritten there too
                report.bot_texts_in.add(int(topic_id))
            await tx.execute("UPDATE outbox SET notice = ? WHERE id = ?", (scrub(notice), delivery_id))
        return changed

    @staticmethod
    async def _queue_rewrite(tx: Conn, topic_id: int, now: datetime,
                             report: ForgetReport) -> None:
        """A REWRITE for each chat the topic is shown in: its bot messages shown again."""
        places = await tx.fetch(
            "SELECT platform, chat_id FROM topic_channels WHERE topic_id = ?", (topic_id,))
        report.deliveries += await Store._enqueue(
            tx, topic_id, Action.REWRITE, [ChannelRef(r[0], r[1]) for r in places], now)

    async def bot_texts(self, topic_id: int, target: ChannelRef
                        ) -> list[tuple[str, tuple[str, ...], int | None, str | None]]:
        """The bot's own messages of a topic on ``target``, grouped by the delivery that sent
        them: (kind, message ids in order, prompt id, notice text). Kinds: "topic" (the
        topic's opening message), "prompt", "lock", "unlock", "notice" (a digest). Lock
        notices whose outbox row was pruned no longer say which they were, and are left."""
        rows = await self._all(
            "SELECT m.delivery_id, m.message_id, m.prompt_id, m.post_id, p.number, o.action, o.notice "
            "FROM message_map m LEFT JOIN posts p ON p.id = m.post_id "
            "LEFT JOIN outbox o ON o.id = m.delivery_id "
            "WHERE m.topic_id = ? AND m.platform = ? AND m.chat_id = ? AND m.mirrored = 1 "
            "AND (m.prompt_id IS NOT NULL OR p.number = 1 OR (m.post_id IS NULL AND o.action IN "
            "('lock', 'unlock', 'notice'))) ORDER BY m.delivery_id, m.part",
            (topic_id, target.platform, target.chat_id),
        )
        grouped: dict[object, tuple[str, list[str], int | None, str | None]] = {}
        for delivery_id, message_id, prompt_id, post_id, number, action, notice in rows:
            if prompt_id is not None:
                kind = "prompt"
            elif post_id is not None and opens_topic(number):
                kind = "topic"
            else:
                kind = str(action)
            key = delivery_id if delivery_id is not None else (kind, prompt_id, message_id)
            grouped.setdefault(key, (kind, [], prompt_id, notice))[1].append(message_id)
        return [(kind, tuple(ids), prompt_id, notice) for kind, ids, prompt_id, notice
                in grouped.values()]

    @staticmethod
    async def _replies_to(tx: Conn, post_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(post id, topic id) of the visible, not erased replies to these posts."""
        if not post_ids:
            return []
        rows = await tx.fetch(
            f"SELECT id, topic_id FROM posts WHERE parent_id IN ({_marks(post_ids)}) "
            "AND hidden = 0 AND erased_at IS NULL AND number > 1 ORDER BY id", tuple(post_ids))
        return [(int(r[0]), int(r[1])) for r in rows]

    @staticmethod
    async def _queue_edits(tx: Conn, post_id: int, topic_id: int, now: datetime,
                           report: ForgetReport, *, count: bool) -> None:
        """An EDIT for each chat that shows this post, on its own or inside a combined
        message (re-rendered whole, the other posts as they are); ``count``: the person's
        own post, counted in the report."""
        alone = await tx.fetch(
            "SELECT DISTINCT platform, chat_id FROM message_map WHERE post_id = ? AND mirrored = 1 "
            "AND (delivery_id IS NULL OR delivery_id NOT IN (SELECT delivery_id FROM combined_parts))",
            (post_id,),
        )
        combined = await tx.fetch(
            "SELECT DISTINCT m.platform, m.chat_id FROM combined_parts c "
            "JOIN message_map m ON m.delivery_id = c.delivery_id WHERE c.post_id = ?",
            (post_id,),
        )
        targets = list(dict.fromkeys([ChannelRef(r[0], r[1]) for r in (*alone, *combined)]))
        report.deliveries += await Store._enqueue(tx, topic_id, Action.EDIT, targets, now, post_id=post_id)
        for platform, _ in alone:
            report.copies_edited[platform] += 1
        if count:
            for platform, _ in combined:
                report.copies_combined[platform] += 1

    async def delivery_outcomes(self, delivery_ids: Sequence[int]) -> list[tuple[str, str, str | None]]:
        """(platform, state, last error) of these outbox rows (pruned ones are done)."""
        if not delivery_ids:
            return []
        rows = await self._all(
            f"SELECT id, platform, state, last_error FROM outbox WHERE id IN ({_marks(delivery_ids)})",
            tuple(delivery_ids))
        return [(r[1], r[2], r[3]) for r in rows]

    # -- retention ---------------------------------------------------------------

    async def locked_topics(self, bridge: str) -> list[tuple[int, datetime]]:
        """(topic id, locked at) of a bridge's locked topics."""
        rows = await self._all(
            "SELECT id, locked_at FROM topics WHERE bridge = ? AND status = 'locked' "
            "AND locked_at IS NOT NULL", (bridge,),
        )
        return [(r[0], _when(r[1])) for r in rows]

    async def erase_topics(self, topic_ids: Sequence[int], placeholder: str, now: datetime) -> int:
        """Replace the text (and subjects, history, digest texts) of these topics' comments
        not erased yet; the posts, their numbers and replies stay. Return posts erased."""
        if not topic_ids:
            return 0
        marks = _marks(topic_ids)
        async with self.db.tx() as tx:
            await tx.execute(
                f"UPDATE post_history SET text = ?, subject = NULL, spans = NULL WHERE post_id IN "
                f"(SELECT id FROM posts WHERE topic_id IN ({marks}) AND number > 1 AND erased_at IS NULL)",
                (placeholder, *topic_ids),
            )
            changed = await tx.execute(
                f"UPDATE posts SET text = ?, subject = NULL, spans = NULL, erased_at = ? "
                f"WHERE topic_id IN ({marks}) AND number > 1 AND erased_at IS NULL",
                (placeholder, _ts(now), *topic_ids),
            )
            erased = changed
            files = [r[0] for r in await tx.fetch(
                f"SELECT a.sha256 FROM attachments a JOIN posts p ON p.id = a.post_id "
                f"WHERE p.topic_id IN ({marks}) AND p.number > 1", topic_ids)]
            await tx.execute(
                f"DELETE FROM attachments WHERE post_id IN (SELECT id FROM posts "
                f"WHERE topic_id IN ({marks}) AND number > 1)", topic_ids)
            await tx.execute(
                f"UPDATE outbox SET notice = ? WHERE topic_id IN ({marks}) AND notice IS NOT NULL "
                "AND state != 'pending' AND notice != ?",
                (placeholder, *topic_ids, placeholder),
            )
        if erased:
            await self.db.checkpoint()  # the erased texts leave the WAL now too
        await self._discard(files)
        return erased

    async def has_pending(self) -> bool:
        """Whether any delivery waits (possibly queued by another process)."""
        return await self._one("SELECT 1 FROM outbox WHERE state = 'pending' LIMIT 1") is not None
