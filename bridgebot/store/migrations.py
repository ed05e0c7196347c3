"""Numbered schema migrations, each applied in its own transaction.

As in mautrix-python's ``upgrade.py``: the schema version lives in a table, a fresh
database goes straight to the latest version, each step commits on its own (a crash
half-way leaves a consistent, older schema), and a database written by a newer
bridgebot is refused rather than silently misread. The statements are SQLite's
(``INTEGER PRIMARY KEY`` row ids, ``ALTER TABLE`` as SQLite allows it); another database
behind the core's ports brings its own schema.
"""

from __future__ import annotations

import logging

import aiosqlite

log = logging.getLogger(__name__)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer bridgebot than this one."""


V1 = [
    """CREATE TABLE topics (
        id INTEGER PRIMARY KEY,
        bridge TEXT NOT NULL,
        title TEXT NOT NULL,
        introduction TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'locked')),
        opened_by TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        locked_by TEXT,
        locked_at TEXT,
        lock_reason TEXT
    )""",
    "CREATE INDEX topics_by_bridge ON topics (bridge, id)",
    """CREATE TABLE prompts (
        id INTEGER PRIMARY KEY,
        topic_id INTEGER NOT NULL REFERENCES topics (id),
        position INTEGER NOT NULL,
        question TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (topic_id, position)
    )""",
    """CREATE TABLE participants (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        user_id TEXT NOT NULL,
        display_name TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        UNIQUE (platform, user_id)
    )""",
    """CREATE TABLE facilitators (
        platform TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (platform, user_id)
    )""",
    """CREATE TABLE posts (
        id INTEGER PRIMARY KEY,
        topic_id INTEGER NOT NULL REFERENCES topics (id),
        number INTEGER NOT NULL,
        participant_id INTEGER NOT NULL REFERENCES participants (id),
        origin_platform TEXT NOT NULL,
        text TEXT NOT NULL,
        subject TEXT,
        parent_id INTEGER REFERENCES posts (id),
        prompt_id INTEGER REFERENCES prompts (id),
        created_at TEXT NOT NULL,
        edited_at TEXT,
        hidden INTEGER NOT NULL DEFAULT 0,
        hidden_by TEXT,
        UNIQUE (topic_id, number)
    )""",
    "CREATE INDEX posts_by_parent ON posts (parent_id)",
    """CREATE TABLE post_history (
        id INTEGER PRIMARY KEY,
        post_id INTEGER NOT NULL REFERENCES posts (id),
        text TEXT NOT NULL,
        subject TEXT,
        replaced_at TEXT NOT NULL
    )""",
    """CREATE TABLE read_markers (
        participant_id INTEGER NOT NULL REFERENCES participants (id),
        topic_id INTEGER NOT NULL REFERENCES topics (id),
        last_read_number INTEGER NOT NULL,
        PRIMARY KEY (participant_id, topic_id)
    )""",
    """CREATE TABLE topic_channels (
        topic_id INTEGER NOT NULL REFERENCES topics (id),
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        thread_id TEXT,
        root_message_id TEXT,
        UNIQUE (topic_id, platform, chat_id)
    )""",
    "CREATE INDEX topic_channels_by_thread ON topic_channels (platform, chat_id, thread_id)",
    """CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        topic_id INTEGER NOT NULL REFERENCES topics (id),
        action TEXT NOT NULL,
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        prompt_id INTEGER REFERENCES prompts (id),
        post_id INTEGER REFERENCES posts (id),
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before REAL NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at TEXT NOT NULL,
        done_at TEXT
    )""",
    "CREATE INDEX outbox_pending ON outbox (state, platform, chat_id, id)",
    """CREATE TABLE message_map (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        thread_id TEXT,
        topic_id INTEGER NOT NULL REFERENCES topics (id),
        prompt_id INTEGER REFERENCES prompts (id),
        post_id INTEGER REFERENCES posts (id),
        part INTEGER NOT NULL DEFAULT 0,
        mirrored INTEGER NOT NULL,
        delivery_id INTEGER REFERENCES outbox (id),
        UNIQUE (platform, chat_id, message_id),
        UNIQUE (delivery_id, part)
    )""",
    "CREATE INDEX message_map_by_post ON message_map (post_id, platform, chat_id)",
    """CREATE TABLE lock_notices (
        topic_id INTEGER NOT NULL REFERENCES topics (id),
        platform TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (topic_id, platform, user_id)
    )""",
]

# Where each platform's intake stands (Telegram's getUpdates offset, ...), so that an
# update is confirmed to the platform only after what it carried was committed.
V2 = [
    """CREATE TABLE cursors (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
]

# Facilitation: topic files published with a schedule, the items of that
# schedule (each marked done in the transaction that carries it out, so a restart neither
# repeats nor skips one), digests, and bot notices (a digest's text) in the outbox.
V3 = [
    "ALTER TABLE outbox ADD COLUMN notice TEXT",
    """CREATE TABLE topic_plans (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        bridge TEXT NOT NULL,
        title TEXT NOT NULL,
        introduction TEXT NOT NULL,
        facilitator TEXT NOT NULL,
        timezone TEXT NOT NULL,
        source TEXT NOT NULL,
        topic_id INTEGER REFERENCES topics (id),
        published_at TEXT NOT NULL
    )""",
    """CREATE TABLE plan_items (
        id INTEGER PRIMARY KEY,
        plan_id INTEGER NOT NULL REFERENCES topic_plans (id),
        kind TEXT NOT NULL CHECK (kind IN ('open', 'prompt', 'digest', 'lock')),
        position INTEGER NOT NULL DEFAULT 0,
        due_at TEXT NOT NULL,
        text TEXT,
        done_at TEXT,
        outcome TEXT
    )""",
    "CREATE INDEX plan_items_due ON plan_items (done_at, due_at)",
    """CREATE TABLE digests (
        id INTEGER PRIMARY KEY,
        topic_id INTEGER NOT NULL REFERENCES topics (id),
        upto_number INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX digests_by_topic ON digests (topic_id, id)",
]

# Privacy: self-chosen aliases (unique per bridge), stable per-topic pseudonyms
# ("Participant 7", numbered by first post; existing posts numbered here), people who asked
# to be forgotten, post text erased (by its author's request or by retention), and which
# posts went out inside one combined message (such a copy cannot be edited post by post).
V4 = [
    "ALTER TABLE participants ADD COLUMN forgotten_at TEXT",
    "ALTER TABLE posts ADD COLUMN erased_at TEXT",
    """CREATE TABLE aliases (
        bridge TEXT NOT NULL,
        participant_id INTEGER NOT NULL REFERENCES participants (id),
        alias TEXT NOT NULL,
        alias_key TEXT NOT NULL,
        set_at TEXT NOT NULL,
        PRIMARY KEY (bridge, participant_id),
        UNIQUE (bridge, alias_key)
    )""",
    """CREATE TABLE pseudonyms (
        topic_id INTEGER NOT NULL REFERENCES topics (id),
        participant_id INTEGER NOT NULL REFERENCES participants (id),
        number INTEGER NOT NULL,
        PRIMARY KEY (topic_id, participant_id),
        UNIQUE (topic_id, number)
    )""",
    """INSERT INTO pseudonyms (topic_id, participant_id, number)
        SELECT topic_id, participant_id,
               ROW_NUMBER() OVER (PARTITION BY topic_id ORDER BY MIN(number))
        FROM posts WHERE number > 1 GROUP BY topic_id, participant_id""",
    """CREATE TABLE combined_parts (
        delivery_id INTEGER NOT NULL REFERENCES outbox (id),
        post_id INTEGER NOT NULL REFERENCES posts (id),
        PRIMARY KEY (delivery_id, post_id)
    )""",
    "CREATE INDEX combined_parts_by_post ON combined_parts (post_id)",
]

# Catch-up after downtime asks, per open thread, for the newest message a person wrote
# there: without this index that reads the whole channel's map once per thread.
V5 = [
    "CREATE INDEX message_map_by_thread ON message_map (platform, chat_id, thread_id, mirrored)",
]

# Issue 14: the files that come with posts (photos, documents, voice notes ...), in the order
# sent. The file itself is stored once under its SHA-256 in ``files/`` beside the database;
# an empty sha256 is a file that could not be fetched (too large), kept as its name and size.
V6 = [
    """CREATE TABLE attachments (
        post_id INTEGER NOT NULL REFERENCES posts (id),
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (post_id, position)
    )""",
    "CREATE INDEX attachments_by_sha256 ON attachments (sha256)",
]

# Many topics at once (issue 15): indexes for the hot queries, each checked with EXPLAIN
# QUERY PLAN in tests/test_query_plans.py. A person's posts (private /status, /alias,
# /forgetme) by participant; a prompt's copies on a chat; visible posts counted per topic
# (the archive index) from the index alone; the relay's streams (a topic on a chat).
V7 = [
    "CREATE INDEX posts_by_participant ON posts (participant_id, topic_id)",
    "CREATE INDEX message_map_by_prompt ON message_map (prompt_id, platform, chat_id)",
    "CREATE INDEX posts_visible ON posts (topic_id, hidden, number)",
    "CREATE INDEX outbox_pending_by_topic ON outbox (state, platform, chat_id, topic_id, id)",
]

# Formatting, links and mentions of a post (core/richtext: JSON spans over its text; NULL
# when plain), and of each earlier version of it.
V8 = [
    "ALTER TABLE posts ADD COLUMN spans TEXT",
    "ALTER TABLE post_history ADD COLUMN spans TEXT",
]

# Each topic's visible posts, counted as posts are written, hidden, shown again or deleted
# (issue 15): the archive index and private /status read a number instead of counting
# 10,000 index entries per topic. Kept by triggers, so every writer (the store, group
# commit, tools writing with sqlite3) keeps it right; filled from the posts on upgrade.
V9 = [
    """
    CREATE TABLE topic_counts (
        topic_id INTEGER PRIMARY KEY REFERENCES topics(id),
        visible INTEGER NOT NULL DEFAULT 0
    )
    """,
    "INSERT INTO topic_counts (topic_id, visible) SELECT t.id, (SELECT COUNT(*) FROM posts p "
    "WHERE p.topic_id = t.id AND p.hidden = 0) FROM topics t",
    """
    CREATE TRIGGER topic_counts_insert AFTER INSERT ON posts WHEN NEW.hidden = 0
    BEGIN
        INSERT INTO topic_counts (topic_id, visible) VALUES (NEW.topic_id, 1)
        ON CONFLICT (topic_id) DO UPDATE SET visible = visible + 1;
    END
    """,
    """
    CREATE TRIGGER topic_counts_delete AFTER DELETE ON posts WHEN OLD.hidden = 0
    BEGIN
        UPDATE topic_counts SET visible = visible - 1 WHERE topic_id = OLD.topic_id;
    END
    """,
    """
    CREATE TRIGGER topic_counts_update AFTER UPDATE OF hidden, topic_id ON posts
    WHEN (OLD.hidden = 0) != (NEW.hidden = 0) OR OLD.topic_id != NEW.topic_id
    BEGIN
        UPDATE topic_counts SET visible = visible - 1
            WHERE topic_id = OLD.topic_id AND OLD.hidden = 0;
        INSERT INTO topic_counts (topic_id, visible) SELECT NEW.topic_id, 1 WHERE NEW.hidden = 0
        ON CONFLICT (topic_id) DO UPDATE SET visible = visible + 1;
    END
    """,
]

# Telegram albums received by webhook (issue 14): each item is its own update, answered
# before the next comes, so the first item's post is found again by its album
# (``media_group_id``) in its chat, and later items join that post. Kept as long as
# delivered outbox rows are (``prune_delivered``).
V10 = [
    """CREATE TABLE albums (
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        album_id TEXT NOT NULL,
        post_id INTEGER NOT NULL REFERENCES posts (id),
        created_at TEXT NOT NULL,
        PRIMARY KEY (platform, chat_id, album_id)
    )""",
    # A later item asks which of the post's copies are still to go.
    "CREATE INDEX outbox_by_post ON outbox (post_id, action, state)",
]

# Index i holds the statements that take the schema from version i to i + 1.
MIGRATIONS: list[list[str]] = [V1, V2, V3, V4, V5, V6, V7, V8, V9, V10]
LATEST = len(MIGRATIONS)


def refuse_newer(found: int) -> None:
    """Raise :class:`SchemaTooNew` for a database written by a newer bridgebot (both stores'
    migrations ask this before their first step)."""
    if found > LATEST:
        raise SchemaTooNew(
            f"this database has schema version {found}, but this bridgebot only knows up to "
            f"{LATEST}; run a newer bridgebot (or restore a backup made for this version)"
        )


def plan(found: int | None) -> tuple[bool, str]:
    """What ``bridgebot run`` will do with a database at schema version ``found`` (None or
    0: no bridgebot tables yet), in one line for ``check-config``, and False when it
    refuses the database (:func:`refuse_newer`)."""
    if not found:
        return True, "empty: `bridgebot run` will create the tables"
    if found > LATEST:
        return False, (f"newer than this release ({found} > {LATEST}): `bridgebot run` refuses "
                       "it; run a newer bridgebot (or restore a backup made for this version)")
    if found < LATEST:
        return True, f"at version {found} < {LATEST}: `bridgebot run` will migrate it"
    return True, f"at version {found} (this release: {LATEST})"


async def current_version(conn: aiosqlite.Connection) -> int:
    await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    async with conn.execute("SELECT version FROM schema_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def upgrade(conn: aiosqlite.Connection) -> int:
    """Bring the schema to :data:`LATEST`; return the version found before."""
    found = await current_version(conn)
    refuse_newer(found)
    for version in range(found, LATEST):
        await conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process starting at the same moment may have taken this step while
            # this one waited for the write lock: read the version again inside it.
            async with conn.execute("SELECT version FROM schema_version") as cur:
                row = await cur.fetchone()
            if row is not None and int(row[0]) > version:
                await conn.execute("COMMIT")
                continue
            for statement in MIGRATIONS[version]:
                await conn.execute(statement)
            await conn.execute("DELETE FROM schema_version")
            await conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
        log.info("database schema upgraded to version %d", version + 1)
    return found
