"""A new topic's first message is pinned where the bot may (Telegram pinChatMessage, Discord
pins); where it may not, facilitators are told once, politely, and the topic still opens."""

from __future__ import annotations

from bridgebot.sandbox.discord import Permissions

NO_PIN_TG = ("For facilitators: I could not pin this topic here. To have each new topic pinned, "
             "make me an admin with the right to pin messages (or pin it yourself).")
NO_PIN_DC = ("For facilitators: I could not pin this topic here. To have each new topic pinned, "
             "give me the Manage Messages permission (or pin it yourself).")


async def test_the_topic_message_is_pinned_on_telegram_and_discord(bridged):
    w = bridged
    assert w.tg.pinned(w.group["id"]) == [w.root["message_id"]]
    pin = next(c for c in w.tg.calls_to("pinChatMessage") if c.status == 200)
    assert pin.params.get("disable_notification") in (True, "true")
    await w.until(lambda: w.dc.channel_messages(w.channel["id"])[0].get("pinned"))
    assert not any(t == NO_PIN_TG for t in w.bot_texts())


async def test_without_the_right_to_pin_facilitators_are_told_once(build):
    w = await build(bot_rights={"can_pin_messages": False})
    w.dc.set_bot_permissions(
        w.guild["id"], Permissions.ALL & ~Permissions.MANAGE_MESSAGES & ~Permissions.ADMINISTRATOR)
    for title in ("Engaging allies", "Naming the harm"):
        w.tg.user_sends(w.group["id"], w.kristin.tg, f"/newtopic {title}\nShare your examples.")
        await w.settle()
    await w.until(lambda: len(w.dc.threads(w.channel["id"])) == 2)
    await w.settle()
    assert w.tg.pinned(w.group["id"]) == []
    refused = [c for c in w.tg.calls_to("pinChatMessage") if c.status == 400]
    assert len(refused) == 2
    assert w.bot_texts().count(NO_PIN_TG) == 1
    # Both topics opened all the same.
    assert sum(t.startswith(("Engaging allies\n", "Naming the harm\n")) for t in w.bot_texts()) == 2
    notices = [m["content"] for t in w.dc.threads(w.channel["id"])
               for m in w.dc.channel_messages(t["id"]) if m["content"] == NO_PIN_DC]
    assert len(notices) == 1
    assert not any(m.get("pinned") for m in w.dc.channel_messages(w.channel["id"]))


async def test_a_refused_notice_is_logged_and_the_topic_still_opens(build, caplog):
    w = await build(telegram=("group",), discord=("channel",))
    w.dc.set_bot_permissions(
        w.guild["id"], Permissions.ALL & ~Permissions.MANAGE_MESSAGES & ~Permissions.ADMINISTRATOR)
    # Discord refuses the notice in the new thread (not the topic's own message in #allies).
    w.dc.fail_next("POST", rf"^/channels/(?!{w.channel['id']}/)\d+/messages$", 403,
                   {"message": "Missing Access", "code": 50001})
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/newtopic Engaging allies\nShare your examples.")
    await w.until(lambda: w.dc.threads(w.channel["id"]))
    await w.settle()
    assert any("could not post a notice" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records), "logged, not dropped silently"
    outbox = await w.runtime.store.outbox()
    assert all(e.state.value == "done" for e in outbox if e.target.platform == "discord")
