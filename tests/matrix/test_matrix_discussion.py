"""A discussion carried between Telegram, Discord and a real Synapse homeserver."""

from __future__ import annotations

from typing import Any

from .conftest import MatrixWorld


def _thread_of(event: dict[str, Any]) -> str | None:
    relates = event.get("content", {}).get("m.relates_to") or {}
    return relates.get("event_id") if relates.get("rel_type") == "m.thread" else None


async def open_topic(w: MatrixWorld) -> dict[str, Any]:
    """Kristin opens a topic on Telegram; returns its Matrix thread root event."""
    w.tg.user_sends(w.group["id"], w.kristin, "/newtopic Engaging allies\nShare your examples.")
    roots = await w.matrix_events(
        lambda e: e["sender"] == w.synapse.appservice.bot_user_id
        and e["content"].get("body", "").startswith("Engaging allies"))
    return roots[0]


async def test_a_telegram_topic_becomes_a_matrix_thread_and_a_matrix_reply_crosses(
        matrix_world: MatrixWorld) -> None:
    w = matrix_world
    root = await open_topic(w)
    assert "Share your examples." in root["content"]["body"]
    assert root["content"]["formatted_body"].startswith("<h3>Engaging allies</h3>")
    assert root["content"]["m.mentions"] == {}
    await w.member.say(w.room, "Our example from Jordan.", thread=root["event_id"])
    thread = (await w.until(lambda: w.dc.threads(w.channel["id"])))[0]
    on_discord = (await w.until(lambda: w.discord_mirrors(thread["id"])))[0]
    assert on_discord["author"]["username"] == "Amal Haddad · Matrix"
    assert "Our example from Jordan." in on_discord["content"]
    on_telegram = await w.until(lambda: [m for m in w.telegram_bot_messages()
                                         if "Our example from Jordan." in m.get("text", "")])
    assert on_telegram[0]["text"].startswith("Amal Haddad · Matrix · #2")
    # The Matrix user id never crossed the bridge.
    assert not any(w.member.user_id in str(c.json) for c in w.dc.calls)


def _ghost_events(w: MatrixWorld, text: str):
    prefix = "@" + w.synapse.appservice.ghost_prefix
    return lambda e: e["sender"].startswith(prefix) and text in e["content"].get("body", "")


async def test_a_discord_reply_appears_in_matrix_as_a_ghost_answering_in_the_thread(
        matrix_world: MatrixWorld) -> None:
    w = matrix_world
    root = await open_topic(w)
    asked = await w.member.say(w.room, "What worked in Jordan?", thread=root["event_id"])
    thread = (await w.until(lambda: w.dc.threads(w.channel["id"])))[0]
    mirrored = (await w.until(lambda: w.discord_mirrors(thread["id"])))[0]
    w.dc.user_sends(thread["id"], w.jessica, "A ministry <b>liaison</b> @room", reply_to=mirrored["id"])
    answer = (await w.matrix_events(_ghost_events(w, "A ministry")))[0]
    relates = answer["content"]["m.relates_to"]
    assert relates["rel_type"] == "m.thread" and relates["event_id"] == root["event_id"]
    assert relates["m.in_reply_to"]["event_id"] == asked and relates["is_falling_back"] is False
    assert answer["content"]["m.mentions"] == {}  # pings nobody
    assert "@room" not in answer["content"]["body"]
    assert "&lt;b&gt;liaison&lt;/b&gt;" in answer["content"]["formatted_body"]
    profile = await w.member.client.get_profile(answer["sender"])
    assert profile.displayname == "Jessica Okafor (Discord)"
    assert not profile.avatar_url
    # The ghost's id says nothing about who the person is on Discord.
    localpart = answer["sender"][1:].split(":")[0]
    assert w.jessica["id"] not in localpart and "jessica" not in localpart.lower()
    assert len(localpart) == len(w.synapse.appservice.ghost_prefix) + 24


async def test_edits_and_redactions_carry_both_ways(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    root = await open_topic(w)
    thread = (await w.until(lambda: w.dc.threads(w.channel["id"])))[0]
    # Matrix -> the others: an edit, then a redaction.
    mine = await w.member.say(w.room, "Frist draft", thread=root["event_id"])
    await w.until(lambda: w.discord_mirrors(thread["id"]))
    await w.member.edit(w.room, mine, "First draft")
    await w.until(lambda: any("First draft" in m["content"] for m in w.discord_mirrors(thread["id"])))
    await w.member.client.redact(w.room, mine)
    await w.until(lambda: not w.discord_mirrors(thread["id"]))
    # Telegram -> Matrix: an edit becomes m.replace from the ghost, a /hide redacts it.
    sent = w.tg.user_sends(w.group["id"], w.brittany, "Teh example", reply_to=_tg_root(w)["message_id"])
    original = (await w.matrix_events(_ghost_events(w, "Teh example")))[0]
    w.tg.user_edits(w.group["id"], sent["message_id"], "The example")
    edit = (await w.matrix_events(lambda e: (e["content"].get("m.relates_to") or {}).get(
        "event_id") == original["event_id"] and e["content"]["m.relates_to"].get("rel_type")
        == "m.replace"))[0]
    assert edit["sender"] == original["sender"]
    assert edit["content"]["m.relates_to"]["event_id"] == original["event_id"]
    assert "The example" in edit["content"]["m.new_content"]["body"]
    w.tg.user_sends(w.group["id"], w.kristin, "/hide 3")
    await w.matrix_events(lambda e: e["event_id"] == original["event_id"]
                          and not e["content"] and "redacted_because" in e.get("unsigned", {}))


def _tg_root(w: MatrixWorld) -> dict:
    return next(m for m in w.telegram_bot_messages() if m.get("text", "").startswith("Engaging allies"))


async def test_a_lock_refuses_a_late_matrix_post_with_a_notice(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    root = await open_topic(w)
    w.tg.user_sends(w.group["id"], w.kristin, "/lock Thanks everyone")
    await w.matrix_events(lambda e: "locked" in e["content"].get("body", "").lower()
                          and e["sender"] == w.synapse.appservice.bot_user_id)
    late = await w.member.say(w.room, "One more thing", thread=root["event_id"])
    refusal = (await w.matrix_events(
        lambda e: (e["content"].get("m.relates_to") or {}).get("m.in_reply_to", {}).get(
            "event_id") == late))[0]
    assert refusal["content"]["msgtype"] == "m.notice"
    assert "Engaging allies" in refusal["content"]["body"]
    thread = (await w.until(lambda: w.dc.threads(w.channel["id"])))[0]
    assert not any("One more thing" in m["content"] for m in w.dc.channel_messages(thread["id"]))


async def test_moderators_facilitate_from_matrix_and_members_cannot(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    await w.member.say(w.room, "!newtopic Not mine to open")
    refused = (await w.matrix_events(lambda e: e["content"].get("msgtype") == "m.notice"))[0]
    assert "Not mine to open" not in refused["content"]["body"]
    await w.moderator.say(w.room, "!newtopic Safety plans\nHow do you keep sources safe?")
    root = (await w.matrix_events(lambda e: e["content"].get("body", "").startswith("Safety plans")))[0]
    assert root["sender"] == w.synapse.appservice.bot_user_id
    await w.until(lambda: [m for m in w.telegram_bot_messages()
                           if m.get("text", "").startswith("Safety plans")])
    assert not [m for m in w.telegram_bot_messages() if "Not mine" in m.get("text", "")]


async def test_a_matrix_reply_to_a_telegram_post_keeps_its_parent_everywhere(
        matrix_world: MatrixWorld) -> None:
    w = matrix_world
    root = await open_topic(w)
    original = w.tg.user_sends(w.group["id"], w.brittany, "We met the ministry twice.",
                               reply_to=_tg_root(w)["message_id"])
    ghost = (await w.matrix_events(_ghost_events(w, "We met the ministry twice.")))[0]
    await w.member.say(w.room, "How did you get the first meeting?", thread=root["event_id"],
                       reply_to=ghost["event_id"])
    on_telegram = (await w.until(lambda: [m for m in w.telegram_bot_messages()
                                          if "first meeting" in m.get("text", "")]))[0]
    assert on_telegram["text"].startswith("Amal Haddad · Matrix · #3")
    assert on_telegram["reply_to_message"]["message_id"] == original["message_id"]
    thread = (await w.until(lambda: w.dc.threads(w.channel["id"])))[0]
    on_discord = (await w.until(lambda: [m for m in w.discord_mirrors(thread["id"])
                                         if "first meeting" in m["content"]]))[0]
    assert on_discord["author"]["username"] == "Amal Haddad · Matrix"
    assert "Brittany Landorf" in on_discord["content"]  # the parent, quoted where no native reply
    store = w.runtime.store
    post = await store.post_by_number(1, 3)
    parent = await store.post_by_number(1, 2)
    assert post is not None and parent is not None and post.parent_id == parent.id


async def test_forgetme_rewrites_the_bots_lock_notice_in_matrix_that_named_her(
        matrix_world: MatrixWorld) -> None:
    w = matrix_world
    await open_topic(w)
    w.tg.user_sends(w.group["id"], w.brittany, "We met the ministry twice.",
                    reply_to=_tg_root(w)["message_id"])
    w.tg.user_sends(w.group["id"], w.kristin, "/lock thanks to Brittany Landorf for the example",
                    reply_to=_tg_root(w)["message_id"])
    await w.matrix_events(lambda e: "Landorf" in e["content"].get("body", ""))
    w.tg.user_sends(w.group["id"], w.brittany, "/forgetme")
    w.tg.user_sends(w.group["id"], w.brittany, "/forgetme confirm")
    edit = (await w.matrix_events(
        lambda e: "Former participant 1" in (e["content"].get("m.new_content") or {}).get("body", "")))
    assert "Landorf" not in edit[0]["content"]["m.new_content"]["body"]


async def test_a_matrix_forgetme_is_answered_after_the_edits_without_holding_the_transaction(
        matrix_world: MatrixWorld) -> None:
    w = matrix_world
    root = await open_topic(w)
    await w.member.say(w.room, "Our own story, told once.", thread=root["event_id"])
    await w.until(lambda: [m for m in w.telegram_bot_messages()
                           if "told once" in m.get("text", "")])
    await w.member.say(w.room, "!forgetme", thread=root["event_id"])
    await w.matrix_events(lambda e: "!forgetme confirm" in e["content"].get("body", "")
                          or "/forgetme confirm" in e["content"].get("body", ""))
    await w.member.say(w.room, "!forgetme confirm", thread=root["event_id"])
    done = (await w.matrix_events(
        lambda e: e["content"].get("body", "").startswith("Done: I have forgotten you")))[0]
    assert "copy on another chat was edited" in done["content"]["body"] or \
        "copies on the other chats were edited" in done["content"]["body"], done["content"]["body"]
    assert not [m for m in w.telegram_bot_messages() if "told once" in m.get("text", "")]


async def test_a_reply_to_the_bots_answer_in_matrix_is_a_post(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    await w.moderator.say(w.room, "!newtopic Safety plans\nHow do you keep sources safe?")
    answer = (await w.matrix_events(
        lambda e: "is open on every linked chat" in e["content"].get("body", "")))[0]
    await w.member.say(w.room, "We rotate our phones.", reply_to=answer["event_id"])
    copy = await w.until(lambda: [m for m in w.telegram_bot_messages()
                                  if "We rotate our phones." in m.get("text", "")])
    assert copy[0]["text"].startswith("Amal Haddad · Matrix · #2")


async def test_with_pseudonyms_alias_is_answered_in_a_direct_room_not_the_room(
        matrix_world: MatrixWorld) -> None:
    """The room must not learn from the bot's answer whether Brittany Landorf takes part."""
    from mautrix.types import RoomID

    w = matrix_world
    await w.stop()
    w.authors = "pseudonym"
    await w.start()
    await open_topic(w)
    w.tg.user_sends(w.group["id"], w.brittany, "We met the ministry twice.",
                    reply_to=_tg_root(w)["message_id"])
    await w.matrix_events(lambda e: "We met the ministry twice." in e["content"].get("body", ""))
    taken = await w.member.say(w.room, "!alias Brittany Landorf")
    free = await w.member.say(w.room, "!alias Desert Rose")

    def answer_to(event_id: str):
        return lambda e: (e["content"].get("m.relates_to") or {}).get(
            "m.in_reply_to", {}).get("event_id") == event_id

    in_room = [(await w.matrix_events(answer_to(e)))[0]["content"]["body"] for e in (taken, free)]
    assert in_room[0] == in_room[1] == "I have answered you in a private message."
    assert w.runtime is not None
    direct = w.runtime.adapters["matrix"]._direct[w.member.user_id]  # type: ignore[attr-defined]
    await w.member.client.join_room(RoomID(direct))
    private = await w.until(lambda: _bodies(w, direct, 2))
    assert "someone else in this discussion" in private[0] and "“Desert Rose”" in private[1]


async def _bodies(w: MatrixWorld, room: str, count: int) -> list[str] | None:
    bot = w.synapse.appservice.bot_user_id
    bodies = [e["content"]["body"] for e in await w.member.events(room)
              if e["sender"] == bot and "body" in e.get("content", {})]
    return bodies if len(bodies) >= count else None


async def test_an_erased_post_leaves_no_words_in_the_matrix_room_not_even_in_its_edit_history(
        matrix_world: MatrixWorld) -> None:
    w = matrix_world
    await open_topic(w)
    secret = "We met the deputy minister in Amman twice."
    w.tg.user_sends(w.group["id"], w.brittany, secret, reply_to=_tg_root(w)["message_id"])
    ghost = (await w.matrix_events(_ghost_events(w, secret)))[0]
    w.tg.user_sends(w.group["id"], w.brittany, "/forgetme")
    w.tg.user_sends(w.group["id"], w.brittany, "/forgetme confirm")
    await w.until(lambda: [m for m in w.telegram_bot_messages()
                           if m.get("text", "").startswith("Done: I have forgotten you")])
    original = (await w.matrix_events(lambda e: e["event_id"] == ghost["event_id"]
                                      and not e["content"]))[0]
    assert original["unsigned"].get("redacted_because")
    events = await w.matrix_events(lambda e: True)
    assert not [e for e in events if "deputy minister" in str(e.get("content"))]
