"""Any content, through the real adapters and both sandboxes: every accepted post is on the
other platform exactly once, complete, or dead-lettered with its reason; nothing blocks the
posts behind it (issue 13). Example counts stay modest: the suite must stay fast."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridgebot.core.models import ChannelRef
from bridgebot.core.text import utf16_len

# The hard cases, mixed into arbitrary Unicode: emoji (two UTF-16 units, ZWJ sequences),
# CJK and Thai (no spaces), RTL with marks, combining marks, zero-width and control
# characters, markdown and HTML that must stay inert, mentions that must not ping.
SPECIAL = (
    "😀👩‍👩‍👧🇰🇪" "参与者讨论" "ภาษาไทย" "مرحبا\u200fשלום" "e\u0301\u0308" "\u200b\u200c\u200d\ufeff"
    "\u0007\u001b\t\n\r" "*_`~|>#-<>&\"' " "@everyone @here <@1> <#2> <b>x</b>"
)
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=300),
    st.text(st.sampled_from(SPECIAL), max_size=300),
    st.builds(lambda unit, n: unit * n, st.sampled_from(["😀", "参", "a ", "\u200b", "*"]),
              st.integers(0, 2100)),
)
SETTINGS = settings(max_examples=8, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


def visible(text: str) -> str:
    """The characters a reader sees: no whitespace, no format or control characters, and
    no backslash (Discord's markdown escapes)."""
    return "".join(c for c in text if not c.isspace() and c != "\\"
                   and unicodedata.category(c) not in ("Cc", "Cf"))


async def dead_count(w) -> int:
    return len([e for e in await w.runtime.store.outbox() if e.state.value == "dead"])


def ids_of(messages: list[dict]) -> set[str]:
    return {str(m.get("id", m.get("message_id"))) for m in messages}


async def check_carried(w, origin: str, message_id: str, text: str, sentinel: str,
                        dead_before: int, before: set[str]) -> None:
    store = w.runtime.store
    if origin == "telegram":
        target = ChannelRef("discord", w.channel["id"])
        mirrors = w.discord_mirrors
        body_of = lambda m: re.sub(r"\n-# #\d+$", "", m["content"])  # noqa: E731
        chat_id = str(w.group["id"])
    else:
        target = ChannelRef("telegram", str(w.group["id"]))
        mirrors = w.telegram_mirrors_all
        body_of = lambda m: m.get("text", "")  # noqa: E731
        chat_id = w.channel["id"]
    # Nothing blocks what comes after, not even a reply to it (quoted where it cannot be
    # native); and once the sentinel (written after the text, in the same chat, taken in
    # order) is across, the text has been taken and delivered too.
    if origin == "telegram":
        # An invisible text is no post, so a reply to it would be none either.
        parent = int(message_id) if visible(text) else w.root["message_id"]
        w.tg.user_sends(w.group["id"], w.brittany.tg, sentinel, reply_to=parent)
        await w.until(lambda: any(sentinel in m["content"] for m in w.discord_mirrors()), 30)
    else:
        w.dc.user_sends(w.thread["id"], w.jessica.dc, sentinel, reply_to=message_id)
        await w.until(lambda: any(sentinel in m.get("text", "") for m in w.telegram_mirrors()), 30)
    hit = await store.resolve_message(origin, chat_id, message_id)
    if hit is None or hit.post_id is None:
        assert not visible(text), f"a message with visible text was not taken: {text[:80]!r}"
        return
    post = await store.post(hit.post_id)
    assert post is not None
    ids = await store.messages_on(target, post_id=post.id)
    dead = [e for e in await store.outbox() if e.state.value == "dead"]
    if not ids:
        assert len(dead) == dead_before + 1 and dead[-1].last_error, "neither carried nor dead"
        return
    by_id = {str(m.get("id", m.get("message_id"))): m for m in mirrors()}
    new = {i for i, m in by_id.items() if i not in before and sentinel not in body_of(m)}
    assert new == set(ids)  # every piece there, and no extra copy
    shown = visible("".join(body_of(by_id[i]) for i in ids))
    assert visible(post.text) in shown

@pytest.mark.timeout(300)  # a few dozen round trips through both sandboxes
@SETTINGS
@given(text=TEXT.filter(lambda t: utf16_len(t.strip()) <= 4096 and not t.lstrip().startswith("/")))
async def test_any_telegram_text_reaches_discord_once_or_is_dead_lettered(bridged, text):
    w = bridged
    if not text.strip():
        return  # Telegram sends no empty message
    dead_before, before = await dead_count(w), ids_of(w.discord_mirrors())
    sent = w.tg.user_sends(w.group["id"], w.brittany.tg, text, reply_to=w.root["message_id"])
    counter = getattr(w, "sentinels", 0) + 1
    w.sentinels = counter
    await check_carried(w, "telegram", str(sent["message_id"]), sent.get("text", text),
                        f"sentinel-{counter}", dead_before, before)


@pytest.mark.timeout(300)
@SETTINGS
@given(text=TEXT.filter(lambda t: len(t) <= 2000 and not t.lstrip().startswith("/")))
async def test_any_discord_text_reaches_telegram_once_or_is_dead_lettered(bridged, text):
    w = bridged
    if not text.strip():
        return
    dead_before, before = await dead_count(w), ids_of(w.telegram_mirrors_all())
    sent = w.dc.user_sends(w.thread["id"], w.jessica.dc, text)
    counter = getattr(w, "sentinels", 0) + 1
    w.sentinels = counter
    await check_carried(w, "discord", sent["id"], text, f"sentinel-{counter}", dead_before,
                        before)
