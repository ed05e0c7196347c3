"""Erasure is complete (issue 13): every piece of a long split post is edited, and no page
of the database file or its WAL keeps a 20-character piece of the erased text."""

from __future__ import annotations

import random

from bridgebot.core.privacy import REMOVED_BY_AUTHOR

from ..auxil.world import World

WORDS = ("river", "harbour", "lantern", "meadow", "quarry", "saffron", "timber", "willow",
         "cobalt", "juniper", "orchard", "pepper", "granite", "thistle", "velvet", "amber")


def long_text(seed: int, length: int) -> str:
    rng = random.Random(seed)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < length:
        words.append(f"{rng.choice(WORDS)}{rng.randrange(10_000)}")
    return " ".join(words)[:length]


def pieces(text: str, size: int = 20) -> list[bytes]:
    return [text[i:i + size].encode() for i in range(0, len(text) - size, 7)]


async def test_forgetme_edits_every_piece_and_leaves_no_page_with_the_words(two_platforms):
    w: World = two_platforms
    tg, dc, group = w.tg, w.dc, w.group["id"]
    secret = long_text(13, 3500)  # three Discord messages (2000 each), one Telegram message
    tg.user_sends(group, w.brittany.tg, secret, reply_to=w.root["message_id"])
    copies = await w.until(lambda: len(w.discord_mirrors()) >= 2 and w.discord_mirrors())
    assert len(copies) >= 2
    tg.user_sends(group, w.brittany.tg, "/forgetme")
    await w.settle()
    tg.user_sends(group, w.brittany.tg, "/forgetme confirm")
    await w.until(lambda: [m for m in w.bot_messages()
                           if m.get("text", "").startswith("Done: I have forgotten you")])
    await w.settle()
    shown = [dc.message(m["id"])["content"] for m in copies]
    assert REMOVED_BY_AUTHOR in shown[0]
    for content in shown:
        assert not any(p.decode() in content for p in pieces(secret)), content[:80]
    # The database file and its WAL: no page keeps the words.
    db = w.runtime.store.db.path
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            data = path.read_bytes()
            assert not [p for p in pieces(secret) if p in data], path.name
