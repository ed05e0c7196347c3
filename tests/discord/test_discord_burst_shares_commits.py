"""Group commit in one Discord channel (issue 15): a burst of gateway events in one thread
shares commits, in order; an edit right behind a post still finds it."""

from __future__ import annotations

import asyncio

from .test_discord_discussion import open_topic


async def test_a_burst_of_messages_in_one_thread_shares_commits_in_order(discord_world):
    w = discord_world
    text_thread, _ = await open_topic(w)
    writer = w.runtime.store.writer
    commits = writer.batches
    people = [w.brittany.dc, w.jessica.dc, w.quiet.dc]
    # Written together: the gateway sends twenty MESSAGE_CREATE events one behind the other.
    sent = [w.dc.user_sends(text_thread["id"], people[i % 3], f"burst {i}") for i in range(20)]
    w.dc.user_edits(text_thread["id"], sent[0]["id"], "burst 0, edited")
    texts = ["burst 0, edited"] + [f"burst {i}" for i in range(1, 20)]
    for _ in range(200):
        posts = await w.posts(21)
        if posts[1].text == texts[0]:
            break
        await asyncio.sleep(0.05)
    assert [p.text for p in posts][1:] == texts, "each once, in the order written"
    assert writer.batches - commits < 20, "the burst's posts share commits"
