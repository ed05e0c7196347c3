"""Erasure is complete (issue 13): every piece of a long split post is edited, a combined
message is rewritten without the erased post's words (the others' posts kept), replies
quoting it quote the placeholder, and no copy on either platform nor any page of the
database file or its WAL keeps a 20-character piece of the erased text."""

from __future__ import annotations

import random

import aiohttp

from bridgebot.core.privacy import REMOVED_BY_AUTHOR
from bridgebot.core.ratelimit import PlatformLimits, Window
from bridgebot.store.postgres import PgDatabase

from ..auxil.dump import everything
from ..auxil.hold import HoldFirst
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
    # The first copy says the words were removed; the others went (deleted) or say "…".
    shown = [(dc.message(m["id"]) or {}).get("content", "") for m in copies]
    assert REMOVED_BY_AUTHOR in shown[0]
    # No copy on either platform, and no page of the database file or its WAL, keeps the words.
    assert await leftovers(w, secret) == []


async def leftovers(w: World, secret: str) -> list[str]:
    """Every copy on either sandbox, and the database file and its WAL, that still holds a
    20-character piece of ``secret``."""
    assert w.tg is not None and w.dc is not None
    found = []
    texts = [m.get("text", "") for m in w.tg.chat_messages(w.group["id"])
             if m.get("from", {}).get("is_bot")]
    texts += [m.get("content", "") for t in w.dc.threads(w.channel["id"])
              for m in w.dc.channel_messages(t["id"])]
    for text in texts:
        if any(p.decode() in text for p in pieces(secret)):
            found.append(text[:80])
    db = w.runtime.store.db
    if isinstance(db, PgDatabase):  # every row of every table, as text
        if [p for p in pieces(secret) if p.decode() in await everything(db)]:
            found.append("the PostgreSQL schema's rows")
        return found
    for path in (db.path, db.path.with_name(db.path.name + "-wal")):  # the file's bytes
        if path.exists() and [p for p in pieces(secret) if p in path.read_bytes()]:
            found.append(path.name)
    return found


async def forget_on_telegram(w: World, who: dict) -> str:
    assert w.tg is not None
    w.tg.user_sends(w.group["id"], who, "/forgetme")
    await w.settle()
    w.tg.user_sends(w.group["id"], who, "/forgetme confirm")
    done = await w.until(lambda: [m["text"] for m in w.bot_messages()
                                  if m.get("text", "").startswith("Done: I have forgotten you")])
    await w.settle()
    return done[0]


async def test_forgetme_rewrites_a_combined_message_keeping_the_others_posts(build):
    # Discord takes one message a second here: a burst from Telegram goes out combined.
    w: World = await build(open_topic=True, adapter_limits={
        "discord": PlatformLimits(per_target=(Window(1, 1.0),))})
    tg, dc, group = w.tg, w.dc, w.group["id"]
    secret = long_text(17, 300)
    # The first post's copy is held on its way while the others are taken in, so all three
    # wait for Discord's next turn, however fast each store takes them in.
    hold = HoldFirst(w.runtime.adapters["discord"], w.channel["id"])
    tg.user_sends(group, w.jessica.tg, "An opening example from Lagos.", reply_to=w.root["message_id"])
    await hold.started()
    tg.user_sends(group, w.jessica.tg, "A second thought from Lagos.", reply_to=w.root["message_id"])
    tg.user_sends(group, w.brittany.tg, secret, reply_to=w.root["message_id"])
    tg.user_sends(group, w.jessica.tg, "A third thought from Lagos.", reply_to=w.root["message_id"])
    await w.posts(5)  # the topic's opening and the four
    hold.release()
    combined = await w.until(lambda: [m for m in w.discord_mirrors()
                                      if "third thought" in m["content"]])
    assert secret[:40] in combined[0]["content"] and "second thought" in combined[0]["content"]
    answer = await forget_on_telegram(w, w.brittany.tg)
    content = dc.message(combined[0]["id"])["content"]
    # The others' posts are still there, hers reads as removed, under her new name.
    assert "second thought from Lagos" in content and "third thought from Lagos" in content
    assert REMOVED_BY_AUTHOR in content and "Former participant 1" in content
    assert "Brittany" not in content
    assert await leftovers(w, secret) == []
    assert "that message is rewritten without your post, theirs kept" in answer, answer


async def test_forgetme_rewrites_the_quotes_in_replies_to_the_erased_post(bridged):
    w: World = bridged
    tg, group = w.tg, w.group["id"]
    secret = long_text(19, 600)
    original = tg.user_sends(group, w.brittany.tg, secret, reply_to=w.root["message_id"])
    tg.user_sends(group, w.kristin.tg, "Thank you, that is a strong example.",
                  reply_to=original["message_id"])
    reply = await w.until(lambda: [m for m in w.discord_mirrors() if "strong example" in m["content"]])
    assert secret[:20] in reply[0]["content"]  # Discord copies of replies quote their parent
    await forget_on_telegram(w, w.brittany.tg)
    content = w.dc.message(reply[0]["id"])["content"]
    assert "strong example" in content and REMOVED_BY_AUTHOR in content
    assert await leftovers(w, secret) == []


async def test_forgetme_after_a_lock_edits_the_archived_discord_thread_and_archives_it_again(bridged):
    w: World = bridged
    tg, dc, group = w.tg, w.dc, w.group["id"]
    secret = long_text(23, 2600)  # two Discord messages
    tg.user_sends(group, w.brittany.tg, secret, reply_to=w.root["message_id"])
    copies = await w.until(lambda: len(w.discord_mirrors()) >= 2 and w.discord_mirrors())
    tg.user_sends(group, w.kristin.tg, "/lock", reply_to=w.root["message_id"])
    await w.until(lambda: dc.channel(w.thread["id"])["thread_metadata"]["archived"])
    answer = await forget_on_telegram(w, w.brittany.tg)
    for copy in copies:  # the first says so; a continuation no longer needed is deleted
        shown = dc.message(copy["id"])
        assert shown is None or REMOVED_BY_AUTHOR in shown["content"] or shown["content"] == "…"
    assert dc.message(copies[0]["id"]) is not None
    assert await leftovers(w, secret) == []
    meta = dc.channel(w.thread["id"])["thread_metadata"]
    assert meta["archived"] and meta["locked"]  # as the lock left it
    assert await w.runtime.store.dead_count() == 0
    assert "could not" not in answer, answer


async def test_the_discord_sandbox_refuses_edits_and_deletions_in_an_archived_thread(bridged):
    w: World = bridged
    dc = w.dc
    w.tg.user_sends(w.group["id"], w.brittany.tg, "An example from Amman.",
                    reply_to=w.root["message_id"])
    copy = (await w.until(lambda: w.discord_mirrors()))[0]
    dc.set_thread_state(w.thread["id"], archived=True)  # archived, not locked (auto-archive)
    webhook = dc.webhooks(w.channel["id"])[0]
    base = f"{dc.api_base}/webhooks/{webhook['id']}/{webhook['token']}/messages/{copy['id']}"
    async with aiohttp.ClientSession() as http:
        async with http.patch(f"{base}?thread_id={w.thread['id']}", json={"content": "x"}) as r:
            assert r.status == 400 and (await r.json())["code"] == 50083
        async with http.delete(f"{base}?thread_id={w.thread['id']}") as r:
            assert r.status == 400 and (await r.json())["code"] == 50083
    assert dc.message(copy["id"])["content"].startswith("An example from Amman.")


async def test_the_forgetme_answer_comes_after_the_edits_and_says_what_could_not_be_done(bridged):
    w: World = bridged
    tg, dc, group = w.tg, w.dc, w.group["id"]
    tg.user_sends(group, w.brittany.tg, "An example from Amman.", reply_to=w.root["message_id"])
    tg.user_sends(group, w.brittany.tg, "A second example from Irbid.", reply_to=w.root["message_id"])
    copies = await w.until(lambda: len(w.discord_mirrors()) >= 2 and w.discord_mirrors())
    # Discord refuses the edit of the first copy for good; the second goes through.
    dc.fail_next("PATCH", rf"/webhooks/\d+/[^/]+/messages/{copies[0]['id']}", 403,
                 {"code": 50001, "message": "Missing Access"})
    answer = await forget_on_telegram(w, w.brittany.tg)
    assert "1 copy on Discord could not be edited" in answer and "Missing Access" in answer, answer
    assert "The copy on another chat was edited" in answer, answer
    assert "Amman" in dc.message(copies[0]["id"])["content"]
    assert "Irbid" not in dc.message(copies[1]["id"])["content"]
    # The answer was sent once the edits had run: after the last PATCH Discord saw.
    done = next(c for c in tg.calls_to("sendMessage")
                if str(c.params.get("text", "")).startswith("Done: I have forgotten you"))
    patches = dc.calls_to("PATCH", r"/webhooks/")
    assert patches and all(p.at <= done.at for p in patches)


async def test_forgetme_rewrites_the_bots_questions_and_lock_notices_that_name_her(bridged):
    w: World = bridged
    tg, dc, group = w.tg, w.dc, w.group["id"]
    tg.user_sends(group, w.brittany.tg, "An example from Jordan.", reply_to=w.root["message_id"])
    await w.until(lambda: w.discord_mirrors())
    tg.user_sends(group, w.kristin.tg, "/prompt What did Brittany Landorf learn in Jordan?")
    await w.until(lambda: [m for m in w.bot_texts() if m.startswith("❓ Question 1")])
    tg.user_sends(group, w.kristin.tg, "/lock thanks to Brittany Landorf for the example",
                  reply_to=w.root["message_id"])
    await w.until(lambda: dc.channel(w.thread["id"])["thread_metadata"]["archived"])

    def naming() -> list[str]:
        shown = [m["content"] for m in dc.channel_messages(w.thread["id"])]
        shown += w.bot_texts()
        return [text for text in shown if "Landorf" in text]

    assert len(naming()) == 4  # the question and the lock notice, on each platform
    await forget_on_telegram(w, w.brittany.tg)
    assert naming() == []
    assert "Former participant 1" in next(m for m in w.bot_texts() if m.startswith("❓ Question 1"))
    meta = dc.channel(w.thread["id"])["thread_metadata"]
    assert meta["archived"] and meta["locked"]
    assert await w.runtime.store.dead_count() == 0


async def test_forgetme_rewrites_a_posted_digest_that_names_her(bridged):
    w: World = bridged
    tg, dc, group = w.tg, w.dc, w.group["id"]
    tg.user_sends(group, w.brittany.tg, "An example from Jordan.", reply_to=w.root["message_id"])
    await w.until(lambda: w.discord_mirrors())
    tg.user_sends(group, w.kristin.tg, "/digest")
    await w.until(lambda: [t for t in w.bot_texts() if t.startswith("📋 Digest")]
                  and [m for m in dc.channel_messages(w.thread["id"])
                       if m["content"].startswith("📋 Digest")])

    def digests() -> list[str]:
        return [t for t in w.bot_texts() if t.startswith("📋 Digest")] + [
            m["content"] for m in dc.channel_messages(w.thread["id"])
            if m["content"].startswith("📋 Digest")]

    assert all("Brittany Landorf" in d for d in digests())
    answer = await forget_on_telegram(w, w.brittany.tg)
    assert [d for d in digests() if "Landorf" in d] == []
    assert all("Former participant 1" in d for d in digests())
    assert "digest" not in answer.casefold(), answer
