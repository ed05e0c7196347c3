"""A facilitated discussion run from Discord: slash commands, topic threads, webhooks."""

from __future__ import annotations

import pytest

from bridgebot.sandbox.discord import Permissions


async def open_topic(w):
    answer = await w.slash(w.kristin.dc, "newtopic", w.channel["id"], title="Engaging allies",
                             intro="Tell us about allies perceived as non traditional.")
    assert "is open" in answer["content"], answer
    text_thread = w.dc.threads(w.channel["id"])[0]
    forum_thread = w.dc.threads(w.forum_channel["id"])[0]
    return text_thread, forum_thread


async def test_slash_commands_are_registered_with_facilitator_ones_hidden(discord_world):
    w = discord_world
    commands = {c["name"]: c for c in w.dc.commands(w.guild["id"])}
    assert set(commands) == {"newtopic", "prompt", "lock", "unlock", "status", "reply", "help",
                             "catchup", "hide", "unhide", "digest", "chatid", "Hide post", "alias",
                             "forgetme", "editprompt", "editintro", "who", "export"}
    assert commands["Hide post"]["type"] == 3, "a message context-menu command"
    for name in ("newtopic", "prompt", "lock", "unlock", "hide", "unhide", "digest", "chatid",
                 "Hide post", "editprompt", "editintro", "who", "export"):
        assert commands[name]["default_member_permissions"] == str(Permissions.MANAGE_THREADS)
    for name in ("status", "alias", "forgetme"):
        assert commands[name]["default_member_permissions"] is None


async def test_a_topic_is_a_forum_post_and_a_thread_from_a_message(discord_world):
    w = discord_world
    text_thread, forum_thread = await open_topic(w)
    assert text_thread["name"] == forum_thread["name"] == "Engaging allies"
    starter = w.dc.channel_messages(w.channel["id"])[0]
    assert starter["content"].startswith("## Engaging allies\n\nTell us about allies")
    assert w.dc.channel_messages(forum_thread["id"])[0]["content"].startswith("## Engaging allies")


async def test_a_participant_is_refused_a_facilitator_command_ephemerally(discord_world):
    w = discord_world
    text_thread, _ = await open_topic(w)
    # Discord hides /lock from her ...
    with pytest.raises(PermissionError):
        w.dc.invoke_command(w.brittany.dc, w.guild["id"], text_thread["id"], "lock", {})
    # ... but a server admin may open it to everyone in Integrations settings: the bot
    # still checks on every call.
    w.dc.world.find_command(w.guild["id"], "lock")["default_member_permissions"] = None
    answer = await w.slash(w.brittany.dc, "lock", text_thread["id"])
    assert answer["flags"] & 64, "refusals are ephemeral"
    assert answer["content"].startswith("Sorry, /lock is for facilitators")
    topic = await w.runtime.store.topic(1)
    assert not topic.is_locked


async def test_replies_in_threads_become_posts_mirrored_by_webhook_with_names(discord_world):
    w = discord_world
    text_thread, forum_thread = await open_topic(w)
    await w.slash(w.kristin.dc, "prompt", text_thread["id"], question="How were allies identified?")
    first = w.dc.user_sends(text_thread["id"], w.brittany.dc,
                            "Engaging governmental allies in Jordan\n\nHello **everyone** @everyone!")
    mirrored = await w.until(lambda: w.mirrors(forum_thread["id"]))
    # Discord refuses "discord" in a webhook username: its name with a Cyrillic "о".
    assert mirrored[-1]["author"]["username"] == "Brittany Landorf · Disc\u043erd"
    # Her bold crosses as bold; "@everyone" is inert: every send allows no mention.
    assert "Hello **everyone** @everyone!" in mirrored[-1]["content"]
    assert not mirrored[-1]["mention_everyone"]
    executes = w.dc.calls_to("POST", r"/webhooks/\d+/[^/]+$")
    assert executes and all(c.json["allowed_mentions"] == {"parse": []} for c in executes)
    # A Discord reply (message reference) to the mirror sets the parent: Brittany's post.
    w.dc.user_sends(forum_thread["id"], w.jessica.dc, "Thanks for the example!",
                    reply_to=mirrored[-1]["id"])
    await w.until(lambda: w.mirrors(text_thread["id"]))
    posts = {p.number: p for p in await w.posts(3)}
    assert posts[2].author_name == "Brittany Landorf" and posts[2].parent_id is None
    assert posts[3].parent_id == posts[2].id
    back = w.mirrors(text_thread["id"])[-1]
    assert back["content"].startswith("> ↪ Brittany Landorf ([#2](")
    assert first["id"] in back["content"]


async def test_edits_and_deletions_are_carried_and_echoes_ignored(discord_world):
    w = discord_world
    text_thread, forum_thread = await open_topic(w)
    msg = w.dc.user_sends(text_thread["id"], w.brittany.dc, "Engineers are my peple")
    await w.until(lambda: w.mirrors(forum_thread["id"]))
    w.dc.user_edits(text_thread["id"], msg["id"], "Engineers are my people")
    mirror = await w.until(lambda: [m for m in w.mirrors(forum_thread["id"])
                                    if "Engineers are my people" in m["content"]])
    assert len(mirror) == 1 == len(w.mirrors(forum_thread["id"]))
    w.dc.user_deletes(text_thread["id"], msg["id"])
    await w.until(lambda: not w.mirrors(forum_thread["id"]))
    # Only Brittany's post and the topic: the bot's and the webhook's own echoes never count.
    assert [p.number for p in await w.runtime.store.posts(1, include_hidden=True)] == [1, 2]


async def test_locking_locks_the_thread_and_later_messages_are_not_recorded(discord_world):
    w = discord_world
    text_thread, forum_thread = await open_topic(w)
    answer = await w.slash(w.kristin.dc, "lock", text_thread["id"], reason="Thank you all")
    assert "now locked" in answer["content"]
    assert w.dc.channel(forum_thread["id"])["thread_metadata"]["locked"] is True
    assert w.dc.channel(text_thread["id"])["thread_metadata"]["archived"] is True
    notices = [m["content"] for m in w.dc.channel_messages(forum_thread["id"])]
    assert any("Topic locked: Thank you all" in n for n in notices)
    # A moderator can still write in a locked thread; it is not recorded.
    w.dc.user_sends(forum_thread["id"], w.kristin.dc, "One more thing")
    refusal = await w.until(lambda: [m for m in w.dc.channel_messages(forum_thread["id"])
                                     if "no longer accepts posts" in m["content"]])
    assert refusal[0]["message_reference"]["message_id"]
    assert [p.number for p in await w.runtime.store.posts(1)] == [1]


async def test_without_manage_webhooks_posts_fall_back_to_bot_messages(discord_world):
    w = discord_world
    text_thread, forum_thread = await open_topic(w)
    w.runtime.adapters["discord"]._webhooks.clear()
    w.dc.set_bot_permissions(
        w.guild["id"], Permissions.ALL & ~Permissions.MANAGE_WEBHOOKS & ~Permissions.ADMINISTRATOR)
    w.dc.user_sends(text_thread["id"], w.brittany.dc, "Through the bot *please*")
    await w.until(lambda: "please" in w.dc.channel_messages(forum_thread["id"])[-1]["content"])
    last = w.dc.channel_messages(forum_thread["id"])[-1]
    assert last.get("webhook_id") is None
    assert last["content"].startswith("**Brittany Landorf** · Discord · #2")
    assert "Through the bot *please*" in last["content"]  # her italics, as written
