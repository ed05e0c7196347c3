"""Unread for participants: "N posts / M new" in private, and /catchup with links."""

from __future__ import annotations

import re

from bridgebot.core.commands import CommandContext, run_command

from ..auxil.world import FACILITATOR, FORUM, World, allies, person


async def discussion(w: World) -> dict:
    """A topic opened from Telegram, one post from Telegram, two from Discord."""
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/newtopic Engaging allies\nShare your examples.")
    await w.until(lambda: w.dc.threads(w.channel["id"]))
    root = next(m for m in w.tg.chat_messages(w.group["id"])
                if m.get("text", "").startswith("Engaging allies"))
    w.tg.user_sends(w.group["id"], w.brittany.tg, "Allies in Jordan\n\nAn example.",
                    reply_to=root["message_id"])
    await w.until(lambda: [m for m in w.dc.channel_messages(w.thread["id"]) if m.get("webhook_id")])
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "Engineers as allies\n\nAnother example.")
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "A short thought.")
    await w.until(lambda: len([t for t in w.bot_texts() if t.startswith("Jessica")]) == 2)
    return root


def private_answers(w: World, user: dict) -> list[str]:
    return [m["text"] for m in w.tg.chat_messages(user["id"]) if m.get("from", {}).get("is_bot")]


async def ask_privately(w: World, user: dict, text: str) -> str:
    count = len(private_answers(w, user))
    w.tg.user_sends(user["id"], user, text)
    return (await w.until(lambda: private_answers(w, user)[count:]))[0]


async def test_a_member_asks_the_bot_privately_what_is_new_and_catches_up_with_links(tmp_path, db_setting):
    async with allies(tmp_path, database=db_setting, schedule_recheck=0.2) as w:
        root = await discussion(w)
        dana = w.tg.add_user("Dana")  # reads the group, has never written
        w.tg.set_member(w.group["id"], dana["id"], "member")
        w.tg.private_chat(dana)
        status = await ask_privately(w, dana, "/status")
        assert re.fullmatch(r"Your discussions:\n• “Engaging allies” \(topic #1\): 4 posts / 4 new · "
                            r"open · last post by Jessica Okafor, \d{4}-\d\d-\d\d \d\d:\d\d UTC\n"
                            r"/catchup lists the new posts with links to them\.", status), status
        catchup = await ask_privately(w, dana, "/catchup")
        group = str(w.group["id"]).removeprefix("-100")
        jessica_mirrors = [m["message_id"] for m in w.tg.chat_messages(w.group["id"])
                           if m.get("text", "").startswith("Jessica Okafor · Discord")]
        brittany = next(m for m in w.tg.chat_messages(w.group["id"])
                        if m.get("text", "").startswith("Allies in Jordan"))
        assert catchup == "\n".join([
            "“Engaging allies” — 4 new:",
            "• #1 Engaging allies — Kristin Antin",
            f"  https://t.me/c/{group}/{root['message_id']}",
            "• #2 Allies in Jordan — Brittany Landorf",
            f"  https://t.me/c/{group}/{brittany['message_id']}",
            "• #3 Engineers as allies — Jessica Okafor",
            f"  https://t.me/c/{group}/{jessica_mirrors[0]}",
            "• #4 A short thought. — Jessica Okafor",
            f"  https://t.me/c/{group}/{jessica_mirrors[1]}",
        ])
        assert await ask_privately(w, dana, "/catchup") == "Nothing new for you: you are all caught up."
        assert "4 posts / 0 new" in await ask_privately(w, dana, "/status")
        # Her own posts are never "new" for Brittany, and posting (#2) read what came before
        # it (#1); the others' posts after hers are new.
        w.tg.private_chat(w.brittany.tg)
        assert "4 posts / 2 new" in await ask_privately(w, w.brittany.tg, "/status")


async def test_in_private_the_bot_explains_what_it_can_do_there(tmp_path, db_setting):
    async with allies(tmp_path, database=db_setting, schedule_recheck=0.2) as w:
        await discussion(w)
        stranger = w.tg.add_user("Stranger")
        w.tg.private_chat(stranger)
        assert (await ask_privately(w, stranger, "/status")).startswith(
            "You are not part of a discussion yet.")
        assert (await ask_privately(w, stranger, "/lock")).startswith(
            "Use this command in a bridged group chat. Here, /status and /catchup")


async def test_discord_catchup_is_ephemeral_with_jump_links_and_advances_the_marker(tmp_path, db_setting):
    async with allies(tmp_path, database=db_setting, schedule_recheck=0.2) as w:
        await discussion(w)
        thread = w.thread
        answer = await w.slash(w.kristin.dc, "catchup", thread["id"])
        assert answer["flags"] & 64
        lines = answer["content"].splitlines()
        assert lines[0] == "“Engaging allies” — 4 new:"
        brittany_mirror = next(m for m in w.dc.channel_messages(thread["id"]) if m.get("webhook_id"))
        assert lines[3] == "• #2 Allies in Jordan — Brittany Landorf"
        assert lines[4] == (f"  <https://discord.com/channels/{w.guild['id']}/{thread['id']}/"
                            f"{brittany_mirror['id']}>")
        again = await w.slash(w.kristin.dc, "catchup", thread["id"])
        assert again["content"] == "Nothing new for you: you are all caught up."
        status = await w.slash(w.kristin.dc, "status", thread["id"])
        assert "4 posts / 0 new" in status["content"]


async def test_console_catchup_lists_subjects_and_stops_at_the_limit(runtime, console):
    ctx = CommandContext(FACILITATOR, FORUM)
    await run_command(runtime.core, ctx, "newtopic", "Engaging allies\nShare your examples.")
    await runtime.drain()
    for i in range(17):
        await console.say("lounge", person(f"Person {i}"), f"Example {i}")
    await runtime.drain()
    reader = CommandContext(person("Reader"), FORUM)
    first = (await run_command(runtime.core, reader, "catchup", "")).splitlines()
    assert first[0] == "“Engaging allies” — 18 new:"
    assert first[1:3] == ["• #1 Engaging allies — Kristin Antin", "• #2 Example 0 — Person 0"]
    assert first[-1] == "…and 3 more: send /catchup again for the next ones."
    second = (await run_command(runtime.core, reader, "catchup", "")).splitlines()
    assert second == ["“Engaging allies” — 3 new:", "• #16 Example 14 — Person 14",
                      "• #17 Example 15 — Person 15", "• #18 Example 16 — Person 16"]
