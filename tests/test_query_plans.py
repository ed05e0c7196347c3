"""The hot queries use an index: each statement the store really runs for them is explained
with ``EXPLAIN QUERY PLAN`` and may not read a whole table of posts, messages or deliveries.

Private ``/status``, ``/alias`` and ``/forgetme`` ask about one person; the archive index and a
live page's ``state.json`` count a topic's posts; the relay reads one topic's stream on a
chat. At 100,000 posts a full scan in any of them is what a reader waits for.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bridgebot.core.models import ChannelRef

from .conftest import FACILITATOR, LOUNGE, World, person

# The plans read are SQLite's own (PostgreSQL's planner chooses by its statistics, and
# answers EXPLAIN in another form).
pytestmark = pytest.mark.sqlite_only("reads SQLite's EXPLAIN QUERY PLAN through the sqlite3 module")

# The tables that grow with the discussion, and the aliases the store's SQL gives them.
BIG_TABLES = {"posts", "p", "message_map", "m", "outbox", "o", "read_markers", "r"}


async def statements(w: World, call: Callable[[], Awaitable[Any]]) -> list[str]:
    """The SQL (values bound) that ``call`` sends to the database's reader connection."""
    seen: list[str] = []
    reader = w.runtime.db.reader
    await reader.set_trace_callback(seen.append)
    try:
        await call()
    finally:
        await reader.set_trace_callback(None)
    return [s for s in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]


def plan(path: str, sql: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]


def full_scans(lines: list[str]) -> list[str]:
    """Plan lines that read a whole big table (a covering index read in order is fine)."""
    return [line for line in lines
            if (words := line.split()) and words[0] == "SCAN" and len(words) > 1
            and words[1] in BIG_TABLES and "COVERING INDEX" not in line]


@pytest.fixture
async def discussion(rooms_world: World) -> World:
    w = rooms_world
    await w.command(FACILITATOR, "/newtopic Engaging allies\nShare your examples.")
    await w.command(FACILITATOR, "/prompt How were allies identified?")
    for i in range(5):
        await w.say(person("Brittany Landorf"), f"Example {i}")
        await w.say(person("Jessica Okafor"), f"Answer {i}", room=LOUNGE)
    return w


HOT: dict[str, tuple[Callable[[World], Awaitable[Any]], str | None]] = {
    "/alias in private: the person's bridges": (
        lambda w: w.runtime.core.facilitation.reader_bridges("console", "brittany-landorf"),
        "posts_by_participant"),
    # Only the topics of the person's bridges, not every topic.
    "private /status: the person's topics": (
        lambda w: w.runtime.store.reader_topics("console", "brittany-landorf", ["allies"]),
        "posts_by_participant"),
    # The reader's own posts past the mark are taken by participant, not by walking every
    # post of the topic past the mark; the visible posts up to the mark are counted from
    # the hidden ones (a few), not through every post of the topic.
    "/status counts": (lambda w: w.runtime.store.stats(1, 2), "posts_by_participant"),
    "private /status: the counts of all the person's topics": (
        lambda w: w.runtime.store.reader_stats([1, 2], "console", "brittany-landorf"),
        "posts_by_participant"),
    # "last post by …" for each of the person's topics: one step down the visible posts.
    "/status: the last posts' authors": (
        lambda w: w.runtime.core.privacy.last_visible_authors([1, 2]), "posts_visible"),
    "/forgetme: what the person has": (
        lambda w: w.runtime.core.privacy.person("console", "brittany-landorf"),
        "posts_by_participant"),
    "/alias: names on the bridge": (
        lambda w: w.runtime.core.privacy.names_in_bridge("allies"), None),
    "a question's copies on a chat": (
        lambda w: w.runtime.store.messages_on(ChannelRef("console", "lounge"), prompt_id=1),
        "message_map_by_prompt"),
    "archive index counts": (lambda w: w.runtime.store.topic_counts(), "posts_visible"),
    "archive index: new since the last visit": (
        lambda w: w.runtime.store.visible_after(1, 3), "posts_visible"),
    "state.json": (lambda w: w.runtime.store.topic_state(1), None),
    # /catchup: the first new posts from the reader's mark on, the parents their subjects
    # come from (by primary key), and how far the marker may move.
    "/catchup: the new posts it lists": (
        lambda w: w.runtime.store.unread_posts(1, 2, 3, 15), "posts_visible"),
    "/catchup: the parents of their subjects": (
        lambda w: w.runtime.store.subject_sources(1, [4, 6]), None),
    "/catchup: the newest visible post of each topic": (
        lambda w: w.runtime.store.last_visible_numbers([1, 2]), "posts_visible"),
    "a topic page: its posts": (lambda w: w.runtime.store.posts(1), None),
    "a long topic's page: where each post stands": (
        lambda w: w.runtime.store.post_outline(1), "posts_visible"),
    "a long topic's page: its posts": (
        lambda w: w.runtime.store.posts_by_ids(1, [2, 3, 5]), None),
    # Who wrote each post, then each author once with their alias and pseudonym.
    "a topic page: its authors": (
        lambda w: w.runtime.core.privacy.topic_identities(1), "posts_visible"),
    "relay: a post with its files": (lambda w: w.runtime.store.post(3), None),
    "relay: a topic on a target chat": (
        lambda w: w.runtime.store.topic_on(1, ChannelRef("console", "lounge")), None),
    "relay: a topic's next delivery": (
        lambda w: w.runtime.store.next_pending(ChannelRef("console", "lounge"), 1),
        "outbox_pending_by_topic"),
    "relay: a topic's queue": (
        lambda w: w.runtime.store.pending_for(ChannelRef("console", "lounge"), 1, 50),
        "outbox_pending_by_topic"),
}


@pytest.mark.parametrize("what", list(HOT))
async def test_a_hot_query_reads_through_an_index(discussion: World, what: str):
    call, index = HOT[what]
    sqls = await statements(discussion, lambda: call(discussion))
    assert sqls, f"{what}: no statement seen"
    path = str(discussion.runtime.db.path)
    for sql in sqls:
        lines = plan(path, sql)
        assert full_scans(lines) == [], f"{what}: {sql}: {lines}"
        if index is not None:
            assert any(index in line for line in lines), f"{what} uses {index}: {lines}"


async def test_forgetting_finds_the_persons_posts_by_index(discussion: World):
    lines = plan(str(discussion.runtime.db.path),
                 "SELECT id, topic_id, number, hidden FROM posts WHERE participant_id = 2")
    assert any("posts_by_participant" in line for line in lines), lines
