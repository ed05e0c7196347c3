"""Answers to one person on Discord go through the send budget: a slash command's answer
refused with 429 (after discord.py's own tries) is sent again after ``retry_after``."""

from __future__ import annotations

import asyncio

# Discord's 429 body (OpenAPI RatelimitedResponse: message, retry_after, global, code).
RATE_LIMITED = {"message": "You are being rate limited.", "retry_after": 0.05, "global": False,
                "code": 0}


async def test_a_status_answer_refused_with_429_still_arrives_once(discord_world):
    w = discord_world
    await w.slash(w.kristin.dc, "newtopic", w.channel["id"], title="Engaging allies",
                  intro="Share your examples.")
    thread = w.dc.threads(w.channel["id"])[0]
    # The follow-up webhook answers 429 to discord.py's five tries in a row.
    w.dc.fail_next("POST", r"^/webhooks/\d+/[^/]+$", 429, RATE_LIMITED, times=5)
    handle = w.dc.invoke_command(w.brittany.dc, w.guild["id"], thread["id"], "status", {})
    await handle.response(timeout=5)  # deferred at once
    [answer] = await handle.wait_for_followups(1, timeout=10)
    assert "Engaging allies" in answer["content"] and answer["flags"] & 64

    followups = [c for c in w.dc.calls if c.method == "POST"
                 and c.path.startswith(f"/webhooks/{handle.payload['application_id']}/")]
    refused = [c for c in followups if c.status == 429]
    assert len(refused) == 5 and followups[-1].status == 200
    assert followups[-1].at - refused[-1].at >= 1.0, "sent again after Retry-After (1 s)"
    await asyncio.sleep(0.2)
    assert len(await handle.wait_for_followups(1)) == 1, "once"


async def test_a_long_answer_keeps_its_order_behind_a_429(discord_world):
    w = discord_world
    w.runtime.core.help_text = "\n\n".join(f"Part {i}: " + "words " * 300 for i in range(3))
    w.dc.fail_next("POST", r"^/webhooks/\d+/[^/]+$", 429, RATE_LIMITED, times=5)
    handle = w.dc.invoke_command(w.brittany.dc, w.guild["id"], w.channel["id"], "help", {})
    await handle.response(timeout=5)  # /help answers in the response itself, then follow-ups
    followups = await handle.wait_for_followups(2, timeout=10)
    pieces = [handle.original["content"], *[f["content"] for f in followups]]
    text = "".join(pieces)
    assert text.index("Part 0") < text.index("Part 1") < text.index("Part 2")
