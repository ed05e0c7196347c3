"""Discord refuses some webhook usernames (400, 50035: "discord", "clyde", "everyone", "here"
anywhere in them, zero-width characters ignored, and more it does not document). A post whose
author's name Discord would refuse, or does, goes out under a neutral name with the author's
name in the text: never lost, never dead-lettered for a name."""

from __future__ import annotations

from ..auxil.world import World

WEBHOOK_EXECUTE = r"/webhooks/\d+/[^/]+$"


async def test_a_name_discord_refuses_is_in_the_text_under_a_neutral_name(bridged: World):
    w = bridged
    therese = w.tg.add_user("Therese", "Discordia")
    w.tg.user_sends(w.group["id"], therese, "Greetings from Lyon.", reply_to=w.root["message_id"])
    copy = (await w.until(lambda: [m for m in w.discord_mirrors()
                                   if "Greetings from Lyon." in m["content"]]))[0]
    assert copy["author"]["username"] == "Participant · Telegram"
    assert copy["content"].startswith("**Therese Discordia** · Telegram · #2")
    assert not [e for e in await w.runtime.store.outbox() if e.state.value == "dead"]


async def test_a_refusal_by_a_rule_nobody_documented_is_retried_once_safely(bridged: World):
    w = bridged
    w.dc.fail_next("POST", WEBHOOK_EXECUTE, 400, body={
        "message": "Invalid Form Body", "code": 50035,
        "errors": {"username": {"_errors": [{"code": "USERNAME_INVALID",
                                             "message": "Username is not allowed"}]}}})
    w.tg.user_sends(w.group["id"], w.brittany.tg, "An example from Jordan.",
                    reply_to=w.root["message_id"])
    copies = await w.until(lambda: [m for m in w.discord_mirrors()
                                    if "An example from Jordan." in m["content"]])
    await w.settle()
    assert len(copies) == 1
    assert copies[0]["author"]["username"] == "Participant · Telegram"
    assert copies[0]["content"].startswith("**Brittany Landorf** · Telegram · #2")
    # The next post has a name Discord accepts again.
    w.tg.user_sends(w.group["id"], w.jessica.tg, "A second example.",
                    reply_to=w.root["message_id"])
    later = (await w.until(lambda: [m for m in w.discord_mirrors()
                                    if "A second example." in m["content"]]))[0]
    assert later["author"]["username"] == "Jessica Okafor · Telegram"
