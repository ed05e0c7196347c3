"""An edit to a post that went out inside a combined message (several posts of a burst in
one copy) updates that message: the post's new words, the others' posts as they were."""

from __future__ import annotations

from bridgebot.core.ratelimit import PlatformLimits, Window

from .auxil.world import World

THOUGHTS = ["An opening example from Lagos.", "A second thought from Lagos.",
            "A third thought from Amman.", "A fourth thought from Quito."]


async def test_an_edit_to_a_post_inside_a_combined_message_updates_that_message(build):
    # Discord takes one message a second here: the burst after the first goes out combined.
    w: World = await build(open_topic=True, adapter_limits={
        "discord": PlatformLimits(per_target=(Window(1, 1.0),))})
    sent = [w.tg.user_sends(w.group["id"], w.jessica.tg, text, reply_to=w.root["message_id"])
            for text in THOUGHTS]
    await w.until(lambda: all(any(t in m["content"] for m in w.discord_mirrors())
                              for t in THOUGHTS))
    combined = next(m for m in w.discord_mirrors()
                    if sum(t in m["content"] for t in THOUGHTS) >= 2)
    inside = [i for i, t in enumerate(THOUGHTS) if t in combined["content"]]
    edited, others = inside[-1], [THOUGHTS[i] for i in inside[:-1]]
    count = len(w.discord_mirrors())
    w.tg.user_edits(w.group["id"], sent[edited]["message_id"], "Edited: three workshops, not two.")
    await w.until(lambda: "three workshops" in w.dc.message(combined["id"])["content"])
    await w.settle()
    content = w.dc.message(combined["id"])["content"]
    assert THOUGHTS[edited] not in content
    assert all(t in content for t in others), content
    assert len(w.discord_mirrors()) == count, "the edit sent no new message"
