"""Telegram and Discord on one bridge: a reply crosses over and is answered back."""

from __future__ import annotations

import pytest

from bridgebot.cli import load_archive
from bridgebot.core.export import to_markdown

from .auxil.postgres import STORES

pytestmark = pytest.mark.parametrize("store", STORES, indirect=True)


async def test_a_telegram_reply_reaches_discord_and_a_discord_answer_comes_back(bridged):
    w = bridged
    original = w.tg.user_sends(w.group["id"], w.brittany.tg,
                               "Engaging governmental allies in Jordan\n\nAn example from Jordan.",
                               reply_to=w.root["message_id"])
    mirrored = (await w.until(w.discord_mirrors))[0]
    assert mirrored["author"]["username"] == "Brittany Landorf · Telegram"
    assert "An example from Jordan." in mirrored["content"]
    # Nothing identifying beyond the display name crossed to Discord.
    assert not any("brittany_l" in str(c.json) for c in w.dc.calls)
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "Thanks Brittany, this helps!", reply_to=mirrored["id"])
    answer = (await w.until(w.telegram_mirrors))[0]
    assert answer["reply_to_message"]["message_id"] == original["message_id"]
    assert answer["text"].startswith("Jessica Okafor · Discord · #3")
    markdown = to_markdown(await load_archive(w.runtime.store, 1))
    assert "## Engaging governmental allies in Jordan" in markdown
    assert "### Re: Engaging governmental allies in Jordan" in markdown
    assert "#3 · Jessica Okafor · Discord" in markdown and "#2 · Brittany Landorf · Telegram" in markdown
