"""Upgrading from the previous release: its database opens, migrated, with nothing lost.

``tests/fixtures/v5.sqlite3`` was written by the release whose schema is version 5
(``tests/fixtures/make_v5_db.py`` says how); ``v5.expected.json`` is what that release's
store read back from it. Each later schema change adds its own fixture and a case here.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from bridgebot.core.models import DeliveryState
from bridgebot.core.richtext.spans import to_json as spans_to_json
from bridgebot.runtime import Runtime
from bridgebot.store.backup import backups_dir
from bridgebot.store.migrations import LATEST

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RELEASES = sorted(int(p.name[1:].split(".")[0]) for p in FIXTURES.glob("v*.sqlite3"))


def table_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        conn.close()


def test_every_release_since_version_5_has_a_fixture():
    assert RELEASES == list(range(5, LATEST + 1)), \
        "a schema change adds tests/fixtures/make_vN_db.py and the database it made"


@pytest.mark.sqlite_only("the earlier releases' databases are SQLite files (tests/fixtures/vN.sqlite3); "
                        "PostgreSQL's migration from empty: tests/test_postgres_store.py")
@pytest.mark.parametrize("version", RELEASES)
async def test_a_database_of_an_earlier_release_upgrades_topic_by_topic(version: int, tmp_path: Path):
    live = tmp_path / "data" / "bridgebot.sqlite3"
    live.parent.mkdir()
    shutil.copyfile(FIXTURES / f"v{version}.sqlite3", live)
    before = table_counts(live)
    expected = json.loads((FIXTURES / f"v{version}.expected.json").read_text(encoding="utf-8"))
    runtime = Runtime(live, [])
    await runtime.open()
    try:
        store = runtime.store
        topics = await store.topics()
        assert [t.id for t in topics] == [t["id"] for t in expected["topics"]]
        for topic, want in zip(topics, expected["topics"], strict=True):
            assert (topic.bridge, topic.title, topic.introduction, topic.status.value) == (
                want["bridge"], want["title"], want["introduction"], want["status"]), topic.id
            assert [p.question for p in await store.prompts(topic.id)] == want["questions"]
            posts = await store.posts(topic.id, include_hidden=True)
            numbers = {p.id: p.number for p in posts}
            got = [{"number": p.number, "author": p.author_name, "text": p.text, "subject": p.subject,
                    "parent": numbers.get(p.parent_id) if p.parent_id else None,
                    "edited": p.edited_at is not None, "hidden": p.hidden,
                    "spans": spans_to_json(p.spans)} for p in posts]
            if version < 8:  # formatting was kept from version 8 on
                assert all(g.pop("spans") is None for g in got)
            assert got == want["posts"], f"topic {topic.id}"
        for message in expected["messages"]:
            hit = await store.resolve_message(message["platform"], message["chat_id"],
                                              message["message_id"])
            assert hit is not None and hit.topic_id == message["topic"], message
            post = await store.post(hit.post_id) if hit.post_id else None
            prompt = await store.prompt(hit.prompt_id) if hit.prompt_id else None
            assert (post.number if post else None, prompt.position if prompt else None) == (
                message["post"], message["question"]), message
        # The counts the index and /status read (kept per topic from version 9 on) are
        # the topic's visible posts, however many were hidden before the upgrade.
        counts = await store.topic_counts()
        for topic in topics:
            visible = await store.posts(topic.id)
            assert counts.get(topic.id, (0, 0)) == (
                len(visible), max((p.number for p in visible), default=0)), topic.id
            assert (await store.stats(topic.id, None)).posts == len(visible), topic.id
        dead = await store.outbox([DeliveryState.DEAD])
        assert len(dead) == expected["outbox"].get("dead", 0)
        version_now = await runtime.db.reader.execute_fetchall("SELECT version FROM schema_version")
        assert [r[0] for r in version_now] == [LATEST]
    finally:
        await runtime.db.close()
    after = table_counts(live)
    assert {t: n for t, n in after.items() if t in before and t != "schema_version"} == {
        t: n for t, n in before.items() if t != "schema_version"}, "no row of any table lost"
    kept = list(backups_dir(live).glob("*.sqlite3")) if backups_dir(live).exists() else []
    if version < LATEST:
        assert len(kept) == 1 and table_counts(kept[0]) == before, "the pre-upgrade backup"
    else:
        assert kept == []
