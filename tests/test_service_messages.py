"""Only people's messages are posts: Discord system messages never become posts (the
Telegram side: tests/telegram/test_service_messages.py)."""

from __future__ import annotations

import pytest

from .auxil.world import World as Bridged


async def _posts(w: Bridged) -> list:
    archive = await w.runtime.store.posts(1)
    return [p for p in archive if not p.is_opening]


@pytest.mark.parametrize("message_type", [1, 2, 4, 6, 7, 18])
async def test_a_discord_system_message_creates_no_post(bridged, message_type):
    """Members added to (1) or removed from (2) the thread, its name changed (4), a pin (6),
    a join (7), a thread created (18)."""
    w = bridged
    w.dc.user_system_message(w.thread["id"], w.jessica.dc, message_type,
                             "Renamed" if message_type == 4 else "")
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "A real answer.")
    mirrors = await w.until(w.telegram_mirrors)
    assert len(mirrors) == 1 and "A real answer." in mirrors[0]["text"]
    assert [p.text for p in await _posts(w)] == ["A real answer."]
