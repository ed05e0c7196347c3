"""Retention: N days after a topic is locked its posts' text is erased; structure stays."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from bridgebot.cli import load_archive
from bridgebot.core.export import to_json
from bridgebot.store.db import Database
from bridgebot.store.migrations import MIGRATIONS, V4

from ..auxil.world import FACILITATOR, FORUM, LOUNGE, Clock, person
from .conftest import PRIVACY_START

BRITTANY = person("Brittany Landorf")
JESSICA = person("Jessica Okafor")


async def discussion(r) -> None:
    await r.open_topic()
    await r.say(BRITTANY, "Jordan\n\nAn example from Jordan.", FORUM)
    await r.say(JESSICA, "Thanks!", LOUNGE, reply_to=r.room_mirrors(LOUNGE)[0].message_id)
    await r.command(FACILITATOR, "/digest", admin=True)
    await r.command(FACILITATOR, "/lock", admin=True)


async def test_post_text_is_erased_the_given_days_after_the_lock_and_the_structure_stays(rooms):
    r = await rooms(retention_days=30)
    await discussion(r)
    keeper = r.runtime.privacy_keeper
    r.clock.advance(days=29, hours=23)
    assert await keeper.purge() == 0
    assert (await r.runtime.store.post_by_number(1, 2)).text == "An example from Jordan."
    r.clock.advance(hours=2)
    assert await keeper.purge() == 2
    data = json.loads(to_json(await load_archive(r.runtime.store, 1)))
    assert data["post_count"] == 3 and data["title"] == "Engaging allies"
    assert data["introduction"] == "Share your examples."
    assert [(p["number"], p["parent"], p["text"]) for p in data["posts"]] == [
        (2, None, "[removed after 30 days]"), (3, 2, "[removed after 30 days]")]
    assert data["posts"][0]["author"] == "Brittany Landorf", "retention erases words, not names"
    digests = await r.runtime.db.fetch("SELECT notice FROM outbox WHERE notice IS NOT NULL")
    assert digests and all(row[0] == "[removed after 30 days]" for row in digests)
    assert await keeper.purge() == 0, "erased once"


async def test_retention_runs_when_the_bot_starts_and_leaves_open_topics_and_other_bridges_alone(rooms):
    r = await rooms()  # no retention on this bridge
    await discussion(r)
    await r.open_topic("Still open")
    await r.say(BRITTANY, "Open topic words.", FORUM)
    r.clock.advance(days=400)
    assert await r.runtime.privacy_keeper.purge() == 0
    await r.runtime.stop()
    # The same database, now with retention: the keeper erases on start, before anyone asks.
    later = Clock(PRIVACY_START)
    later.advance(days=400)
    again = await rooms(retention_days=30, clock=later)
    await asyncio.wait_for(again.runtime.privacy_keeper.passed.wait(), 5)  # its first pass
    store = again.runtime.store
    assert (await store.post_by_number(1, 2)).text == "[removed after 30 days]"
    assert (await store.post_by_number(2, 2)).text == "Open topic words."


@pytest.mark.sqlite_only("a schema-3 database written with sqlite3: the releases before privacy "
                        "(schema 4) ran on SQLite alone; PostgreSQL came at schema 8")
async def test_a_database_from_before_privacy_gets_pseudonyms_by_first_post(db_path):
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for statement in [s for step in MIGRATIONS[:3] for s in step]:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (3)")
        conn.execute("INSERT INTO topics (bridge, title, introduction, status, opened_by, opened_at) "
                     "VALUES ('allies', 't', '', 'open', 'k', '2026-01-01')")
        for pid, name in ((1, "Kristin"), (2, "Brittany"), (3, "Jessica")):
            conn.execute("INSERT INTO participants VALUES (?, 'console', ?, ?, '2026-01-01')",
                         (pid, name.lower(), name))
        # Opening post by Kristin, then Jessica, Brittany, Jessica again, Kristin.
        for number, pid in ((1, 1), (2, 3), (3, 2), (4, 3), (5, 1)):
            conn.execute("INSERT INTO posts (topic_id, number, participant_id, origin_platform, text, "
                         "created_at) VALUES (1, ?, ?, 'console', 'x', '2026-01-01')", (number, pid))
    db = Database(db_path)
    await db.open()
    try:
        rows = await db.reader.execute_fetchall(
            "SELECT participant_id, number FROM pseudonyms WHERE topic_id = 1 ORDER BY number")
        version = await db.reader.execute_fetchall("SELECT version FROM schema_version")
    finally:
        await db.close()
    assert [tuple(r) for r in rows] == [(3, 1), (2, 2), (1, 3)]
    assert version[0][0] == len(MIGRATIONS) and MIGRATIONS[3] is V4
