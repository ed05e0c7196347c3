"""Any content into and out of Matrix: complete, inert (no markup, no pings), within the
homeserver's 65,536-byte event limit, exactly once."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from bridgebot.adapters.matrix import render
from bridgebot.core.models import Action, ChannelRef, Delivery, Post

from ..test_content_properties import SETTINGS, TEXT, visible
from .conftest import MatrixWorld
from .test_matrix_discussion import _ghost_events, open_topic

EVENT_MAX = 65_536
ENVELOPE = 1_500  # event id, sender, room, signatures, hashes, relations: generous


def post_with(text: str, number: int = 2) -> Post:
    return Post(id=1, topic_id=1, number=number, author_name="Brittany <b>@room</b>",
                author_platform="telegram", author_id="42", text=text, subject=None,
                parent_id=None, prompt_id=None, created_at=datetime.now(UTC))


def unhtml(formatted: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", formatted.replace("<br>", "\n")))


@given(text=st.one_of(TEXT, st.builds(lambda u, n: u * n, st.sampled_from(
    ["\u0007", "&", "😀", "<", "\\", "参"]), st.integers(0, 40_000))))
@SETTINGS
def test_any_text_fits_matrix_events_complete_and_inert(text: str) -> None:
    pieces = render.post_contents(post_with(text), post_with("the parent", 1))
    for piece in pieces:
        event = json.dumps(render.in_thread(piece, "$root", "$parent"), ensure_ascii=False)
        assert len(event.encode()) + ENVELOPE <= EVENT_MAX
        assert piece["m.mentions"] == {}
        assert "@room" not in piece["body"].lower()
        assert "<b>" not in piece["formatted_body"]  # typed markup stays text
    bodies = "".join(unhtml(p["formatted_body"]) for p in pieces)
    assert visible(text) in visible(bodies)
    assert visible(text.replace("@room", "")) in visible("".join(p["body"] for p in pieces)
                                                          .replace("@\u2060room", ""))


@SETTINGS
@given(text=TEXT.filter(lambda t: t.strip() and len(t) <= 2000 and not t.lstrip().startswith("/")))
async def test_any_discord_text_reaches_matrix_once_and_complete(matrix_world: MatrixWorld,
                                                                  text: str) -> None:
    w = matrix_world
    if not getattr(w, "root", None):
        w.root = await open_topic(w)
        w.thread = (await w.until(lambda: w.dc.threads(w.channel["id"])))[0]
    counter = getattr(w, "sentinels", 0) + 1
    w.sentinels = counter
    sent = w.dc.user_sends(w.thread["id"], w.jessica, text)
    w.dc.user_sends(w.thread["id"], w.jessica, f"sentinel-{counter}")
    await w.matrix_events(_ghost_events(w, f"sentinel-{counter}"), timeout=30)
    hit = await w.runtime.store.resolve_message("discord", w.channel["id"], sent["id"])
    if hit is None or hit.post_id is None:
        assert not visible(text)
        return
    ids = await w.runtime.store.messages_on(ChannelRef("matrix", w.room), post_id=hit.post_id)
    events = {e["event_id"]: e for e in await w.member.events(w.room)}
    assert ids and all(i in events for i in ids)
    shown = "".join(unhtml(events[i]["content"]["formatted_body"]) for i in ids)
    assert visible(text) in visible(shown)
    copies = [e for e in events.values() if e["content"].get("body", "").startswith(
        events[ids[0]]["content"]["body"])]
    assert len(copies) == 1


async def test_a_post_of_forty_thousand_hard_characters_is_accepted_by_synapse(
        matrix_world: MatrixWorld) -> None:
    w = matrix_world
    root = await open_topic(w)
    topic = await w.runtime.store.topic(1)
    adapter = w.runtime.adapters["matrix"]
    text = ("\u0007&<😀" * 10_000) + " end"
    delivery = Delivery(id=424242, action=Action.POST, topic=topic, post=post_with(text),
                        target=ChannelRef("matrix", w.room, root["event_id"]))
    result = await adapter.deliver(delivery)
    assert len(result.message_ids) >= 2
    events = {e["event_id"]: e for e in await w.member.events(w.room)}
    shown = "".join(unhtml(events[i]["content"]["formatted_body"]) for i in result.message_ids)
    assert visible(text) in visible(shown)

