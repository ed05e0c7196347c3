"""Exports for publication: pseudonyms for every author, names in the texts and profile
links removed; archive pages name authors as the bridge does."""

from __future__ import annotations

import json
import re

import aiohttp

from bridgebot.adapters.registry import core_platforms
from bridgebot.cli import load_archive, main
from bridgebot.core.export import FORMATS
from bridgebot.core.privacy import AuthorMode, anonymized_archive, archive_presenter, scrub_text
from bridgebot.demo.script import load_seed
from bridgebot.web.archive import ArchiveServer

from ..test_seed_discussion import replay_seed


def seed_people() -> set[str]:
    seed = load_seed()
    return {p.author for p in seed.posts} | {seed.facilitator}


async def test_an_anonymized_export_of_the_seed_discussion_names_none_of_its_authors(runtime, console):
    topic_id = await replay_seed(runtime, console)
    archive = await load_archive(runtime.store, topic_id)
    plain = FORMATS["markdown"](archive)
    assert all(name in plain for name in ("Brittany Landorf", "Kristin Antin", "Jessica(2)"))
    anonymous = await anonymized_archive(runtime.core.privacy, archive, runtime.platforms)
    for fmt, render in FORMATS.items():
        text = render(anonymous)
        for name in seed_people():
            assert name not in text, f"{name!r} is in the {fmt} export"
        assert "Participant 1" in text
        assert fmt == "html" or "Facilitator" in text  # "Opened by": markdown and json
    data = json.loads(FORMATS["json"](anonymous))
    # The discussion itself is whole: nine posts, the same threads, one pseudonym per person.
    assert data["post_count"] == 9 and data["opened_by"] == "Facilitator"
    assert [p["parent"] for p in data["posts"]] == [None, None, None, 4, 5, None, None, None]
    authors = [p["author"] for p in data["posts"]]
    assert authors[2] == authors[4] == "Participant 3", "Jessica(2) keeps one pseudonym"
    assert len(set(authors)) == 7
    # A signature inside a post is replaced by the author's pseudonym.
    assert data["posts"][0]["text"].rstrip().endswith(
        "Participant 1, New Tactics in Human Rights Project Intern")


def test_profile_links_handles_and_mentions_are_removed():
    names = {"Brittany Landorf": "Participant 1"}
    text = ("Ask Brittany Landorf (https://t.me/brittany_l, @brittany_l, <@123456789>), "
            "see https://discord.com/users/42 or tg://user?id=7 — mail info@example.org; "
            "Brittany Landorfs is another word.")
    pattern = re.compile(r"(?<!\w)Brittany Landorf(?!\w)")
    cleaned = scrub_text(text, names, pattern, core_platforms().profile_links)
    assert cleaned == ("Ask Participant 1 ([link removed], [mention removed], [mention removed]), "
                       "see [link removed] or [link removed] — mail info@example.org; "
                       "Brittany Landorfs is another word.")


def test_bridgebot_export_anonymize_writes_pseudonyms(tmp_path, db_setting, capsys, monkeypatch):
    import asyncio

    from bridgebot.adapters.console.adapter import ConsoleAdapter
    from bridgebot.core.service import Bridge
    from bridgebot.runtime import Runtime

    from ..auxil.world import FORUM, LOUNGE

    database = db_setting
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRIDGEBOT_DATABASE", str(database))

    async def discussion() -> None:
        console = ConsoleAdapter()
        runtime = Runtime(database, [Bridge("allies", (FORUM, LOUNGE))],
                          facilitators=[("console", "kristin")])
        runtime.add_adapter(console)
        async with runtime:
            await replay_seed(runtime, console)

    asyncio.run(discussion())
    assert main(["export", "1", "--format", "markdown", "--anonymize"]) == 0
    captured = capsys.readouterr()
    assert "Read it before publishing" in captured.err
    assert "Participant 1" in captured.out
    assert not any(name in captured.out for name in seed_people())
    assert main(["export", "1", "--format", "markdown"]) == 0
    assert "Brittany Landorf" in capsys.readouterr().out


async def test_archive_pages_name_authors_as_the_bridge_does_or_anonymously(runtime, console):
    await replay_seed(runtime, console)
    pages = {}
    for label, present in (
        ("plain", None),
        ("pseudonym", archive_presenter(runtime.core.privacy, {"allies": AuthorMode.PSEUDONYM},
                                        platforms=runtime.platforms)),
        ("anonymized", archive_presenter(runtime.core.privacy, {}, platforms=runtime.platforms,
                                          anonymize=True)),
    ):
        server = ArchiveServer(runtime.store, present=present)
        port = await server.start("127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as http:
                base = f"http://127.0.0.1:{port}"
                async with http.get(f"{base}/") as index, http.get(f"{base}/topics/1/") as page, \
                        http.get(f"{base}/topics/1/archive.json") as exported:
                    # What a reader reads: the markup's tags (<bdi> around names) left out.
                    markup = await index.text() + await page.text() + await exported.text()
                    pages[label] = re.sub(r"<[^>]+>", "", markup)
        finally:
            await server.stop()
    assert "by Practitioner, Sri Lanka" in pages["plain"]
    # Pseudonym bridges show pseudonyms as bylines (words in the texts stay as written).
    assert "by Participant 7" in pages["pseudonym"] and "Participant 1 · console" in pages["pseudonym"]
    assert "Brittany Landorf · console" not in pages["pseudonym"]
    assert not any(name in pages["anonymized"] for name in seed_people())


async def test_the_anonymized_index_names_nobody_the_topic_page_leaves_out(rooms_world):
    """The index's titles and "last post by" are the topic page's, scrubbed the same way."""
    from ..auxil.world import FACILITATOR, person

    w = rooms_world
    answer = await w.command(FACILITATOR, "/newtopic Kristin Antin asks Brittany Landorf about "
                                          "allies\nShare your examples.")
    assert "is open" in answer
    await w.say(person("Brittany Landorf"), "Engaging governmental allies\n\nIn Jordan we met "
                                            "the ministry first.")
    present = archive_presenter(w.runtime.core.privacy, {}, platforms=w.runtime.platforms,
                                anonymize=True)
    server = ArchiveServer(w.runtime.store, present=present)
    port = await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            async with http.get(f"{base}/") as index, http.get(f"{base}/topics/1/") as page:
                shown = {"index": await index.text(), "page": await page.text()}
    finally:
        await server.stop()
    for where, markup in shown.items():
        text = re.sub(r"<[^>]+>", "", markup)
        assert "Facilitator asks Participant 1 about allies" in text, where
        for name in ("Kristin Antin", "Brittany Landorf"):
            assert name not in markup, f"{name!r} on the anonymized {where}"
