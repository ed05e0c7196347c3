"""Leaving: /forgetme (asked twice) and `bridgebot forget` erase a person's words and name,
here and in every copy the bot made, while replies to them keep their place."""

from __future__ import annotations

import asyncio
import json
import re

from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.cli import load_archive, main
from bridgebot.core.export import to_json, to_markdown
from bridgebot.core.models import ChannelRef
from bridgebot.core.privacy import REMOVED_BY_AUTHOR
from bridgebot.core.ratelimit import PlatformLimits, Window
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime

from ..auxil.dump import everything
from ..auxil.hold import HoldFirst
from ..auxil.world import FACILITATOR, FORUM, LOUNGE, Clock, World, person
from .conftest import PRIVACY_START

BRITTANY = person("Brittany Landorf")
JESSICA = person("Jessica Okafor")


async def test_forgetme_twice_edits_every_copy_and_the_export_forgets_the_person(two_platforms):
    w: World = two_platforms
    tg, dc, group = w.tg, w.dc, w.group["id"]
    original = tg.user_sends(group, w.brittany.tg, "Allies in Jordan\n\nAn example from Jordan.",
                             reply_to=w.root["message_id"])
    mirror = (await w.until(lambda: w.discord_mirrors()))[0]
    assert mirror["author"]["username"] == "Brittany Landorf · Telegram"
    dc.user_sends(w.thread["id"], w.kristin.dc, "Thank you Brittany Landorf, a strong example.",
                  reply_to=mirror["id"])
    dc.user_sends(w.thread["id"], w.jessica.dc, "Lagos\n\nA case from Lagos.")
    copy_of_jessica = (await w.until(lambda: [m for m in w.bot_messages()
                                              if "Lagos" in m.get("text", "")]))[0]
    # First /forgetme explains and asks; nothing is erased yet.
    tg.user_sends(group, w.brittany.tg, "/forgetme")
    await w.settle()
    ask = w.bot_messages()[-1]["text"]
    assert "/forgetme confirm" in ask and "10 minutes" in ask and "1 post" in ask
    assert dc.message(mirror["id"])["content"].endswith("An example from Jordan.\n-# #2")
    tg.user_sends(group, w.brittany.tg, "/forgetme confirm")
    done_tg = await w.until(lambda: [m["text"] for m in w.bot_messages()
                                     if m.get("text", "").startswith("Done: I have forgotten you")])
    # The Discord copy was edited through its webhook: the words are gone there.
    patches = await w.until(lambda: dc.calls_to("PATCH", rf"/webhooks/\d+/[^/]+/messages/{mirror['id']}"))
    assert REMOVED_BY_AUTHOR in patches[-1].json["content"]
    assert "Jordan" not in dc.message(mirror["id"])["content"]
    assert "On Discord a bot cannot change the name" in done_tg[0]
    # A Discord person leaves too: the Telegram copy is edited in place.
    ask = (await w.slash(w.jessica.dc, "forgetme"))["content"]
    assert "/forgetme confirm:True" in ask
    done_dc = (await w.slash(w.jessica.dc, "forgetme", confirm=True))["content"]
    assert done_dc.startswith("Done: I have forgotten you"), done_dc
    edits = await w.until(lambda: [c for c in tg.calls_to("editMessageText")
                                   if c.params["message_id"] == copy_of_jessica["message_id"]])
    assert REMOVED_BY_AUTHOR in edits[-1].params["text"]
    edited = next(m for m in tg.chat_messages(group) if m["message_id"] == copy_of_jessica["message_id"])
    assert edited["text"].startswith("Former participant 2 · Discord · #4")
    assert "Lagos" not in edited["text"]
    # The export: no name, no words; Kristin's reply keeps its place under post #2.
    archive = await load_archive(w.runtime.store, 1)
    markdown, data = to_markdown(archive), json.loads(to_json(archive))
    for trace in ("Brittany", "Landorf", "Jordan", "Jessica", "Okafor", "Lagos"):
        assert trace not in markdown and trace not in json.dumps(data, ensure_ascii=False)
    posts = {p["number"]: p for p in data["posts"]}
    assert posts[2]["author"] == "Former participant 1" and posts[2]["text"] == REMOVED_BY_AUTHOR
    assert posts[3]["parent"] == 2 and posts[3]["author"] == "Kristin Antin"
    assert posts[3]["text"] == "Thank you Former participant 1, a strong example."
    assert posts[4]["author"] == "Former participant 2" and posts[4]["subject"] != "Lagos"
    assert data["post_count"] == 4
    # The person's own Telegram message stays theirs; the bot never claims to have deleted it.
    assert any(m["message_id"] == original["message_id"] for m in tg.chat_messages(group))


async def test_forgetme_must_be_confirmed_within_ten_minutes(rooms):
    r = await rooms()
    await r.open_topic()
    assert "nothing to erase" in await r.command(BRITTANY, "/forgetme")
    await r.say(BRITTANY, "An example from Jordan.")
    assert "send /forgetme first" in await r.command(BRITTANY, "/forgetme confirm")
    assert "Usage: /forgetme" in await r.command(BRITTANY, "/forgetme please")
    assert "within 10 minutes" in await r.command(BRITTANY, "/forgetme")
    r.clock.advance(minutes=11)
    assert "send /forgetme first" in await r.command(BRITTANY, "/forgetme confirm")
    assert (await r.runtime.store.post_by_number(1, 2)).text == "An example from Jordan."
    await r.command(BRITTANY, "/forgetme")
    r.clock.advance(minutes=9)
    # Someone else's confirmation does not count for her.
    assert "send /forgetme first" in await r.command(JESSICA, "/forgetme confirm")
    assert "Done" in await r.command(BRITTANY, "/forgetme confirm")
    assert (await r.runtime.store.post_by_number(1, 2)).text == REMOVED_BY_AUTHOR
    assert "nothing to erase" in await r.command(BRITTANY, "/forgetme")


async def rows(runtime: Runtime, sql: str, *args: object) -> list[tuple]:
    return [tuple(r) for r in await runtime.db.fetch(sql, args)]


async def test_forgetting_erases_history_alias_marks_and_notices_and_later_edits_cannot_undo_it(rooms):
    r = await rooms()
    await r.open_topic()
    await r.command(BRITTANY, "/alias Desert Rose")
    shown, _ = await r.say(BRITTANY, "Jordan\n\nAn example from Jordan.")
    thread = r.console.thread_of_room["forum"]
    where = ChannelRef("console", "forum", thread)
    await r.runtime.core.edit(where, shown.message_id, "Jordan\n\nAn example from Amman, Jordan.")
    await r.say(JESSICA, "Brittany Landorf and Desert Rose are the same person.", LOUNGE)
    await r.command(BRITTANY, "/status")
    await r.command(FACILITATOR, "/lock", admin=True)
    await r.say(BRITTANY, "One more thing.")  # refused, and a lock notice is remembered
    await r.runtime.drain()
    await r.command(BRITTANY, "/forgetme")
    answer = await r.command(BRITTANY, "/forgetme confirm")
    assert "Your 1 post now reads" in answer and "“Former participant 1”" in answer
    # Her post's copy, and the copy of Jessica's post that named her.
    assert "2 copies on the other chats were edited" in answer, answer
    rt = r.runtime
    assert await rows(rt, "SELECT text, subject FROM posts WHERE number = 2") == [(REMOVED_BY_AUTHOR, None)]
    assert await rows(rt, "SELECT text, subject FROM post_history") == [(REMOVED_BY_AUTHOR, None)]
    assert await rows(rt, "SELECT text FROM posts WHERE number = 3") == [
        ("Former participant 1 and Former participant 1 are the same person.",)]
    people = await rows(rt, "SELECT display_name, user_id FROM participants WHERE forgotten_at IS NOT NULL")
    assert len(people) == 1 and people[0][0] == "Former participant 1"
    assert re.fullmatch(r"forgotten-[0-9a-f]{32}", people[0][1])
    assert await rows(rt, "SELECT * FROM participants WHERE user_id = ?", BRITTANY.user_id) == []
    assert await rows(rt, "SELECT * FROM aliases") == []
    assert await rows(rt, "SELECT * FROM lock_notices WHERE user_id = ?", BRITTANY.user_id) == []
    forgotten_id = (await rows(rt, "SELECT id FROM participants WHERE forgotten_at IS NOT NULL"))[0][0]
    assert await rows(rt, "SELECT * FROM read_markers WHERE participant_id = ?", forgotten_id) == []
    # The copy in the lounge now holds the placeholder; editing the original cannot bring words back.
    copy = next(s for s in r.room_mirrors(LOUNGE) if s.text.startswith("#2"))
    assert copy.text == f"#2 {REMOVED_BY_AUTHOR}"
    await rt.core.edit(where, shown.message_id, "Jordan\n\nAn example from Jordan, again.")
    await rt.drain()
    assert (await rt.store.post_by_number(1, 2)).text == REMOVED_BY_AUTHOR
    # Her words are nowhere in the database any more.
    dump = await everything(rt.db)
    for trace in ("Amman", "An example from Jordan", "Brittany", "Desert Rose", BRITTANY.user_id):
        assert trace not in dump


async def test_a_combined_message_is_rewritten_without_her_post_and_keeps_the_others(rooms):
    # The lounge takes one message every half second: a burst from the forum goes out combined.
    lounge = ConsoleAdapter(limits=PlatformLimits(per_target=(Window(1, 0.5),)), limit=4000)
    r = await rooms(console=lounge)
    await r.open_topic()
    # The first post's copy is held on its way while the others are written, so all three
    # wait for the lounge's next turn, however fast each store takes them in.
    hold = HoldFirst(lounge, "lounge")
    await lounge.say("forum", JESSICA, "burst post 0")
    await hold.started()
    for i in range(1, 4):
        await lounge.say("forum", BRITTANY if i == 2 else JESSICA, f"burst post {i}")
    hold.release()
    await r.runtime.drain(timeout=20)
    combined = next(s for s in lounge.visible("lounge") if s.text.count("burst post") > 1)
    assert "burst post 2" in combined.text
    await r.command(BRITTANY, "/forgetme")
    answer = await r.command(BRITTANY, "/forgetme confirm")
    assert "that message is rewritten without your post, theirs kept" in answer, answer
    # Jessica's posts in that message stay as they were; Brittany's words and name are gone.
    assert "burst post 1" in combined.text and "burst post 3" in combined.text
    assert "burst post 2" not in combined.text and "Brittany" not in combined.text
    assert "Former participant 1" in combined.text and "[removed" in combined.text


def test_bridgebot_forget_erases_a_person_and_refuses_an_unknown_one(tmp_path, db_setting, capsys,
                                                                   monkeypatch):
    database = db_setting
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRIDGEBOT_DATABASE", str(database))
    monkeypatch.setenv("BRIDGEBOT_BRIDGES", '[{"name": "allies", "console_rooms": ["forum", "lounge"]}]')

    async def discussion() -> None:
        console = ConsoleAdapter()
        runtime = Runtime(database, [Bridge("allies", (FORUM, LOUNGE))])
        runtime.add_adapter(console)
        async with runtime:
            await runtime.core.open_topic(FACILITATOR, FORUM, "Engaging allies", "", platform_admin=True)
            await runtime.drain()
            await console.say("forum", BRITTANY, "An example from Jordan.")
            await runtime.drain()

    asyncio.run(discussion())
    assert main(["forget", "--platform", "console", "--user", "nobody"]) == 1
    assert "No participant console:nobody is known" in capsys.readouterr().err
    assert main(["forget", "--platform", "console", "--user", BRITTANY.user_id]) == 0
    out = capsys.readouterr().out
    assert "now “Former participant 1”" in out and "posts erased (text replaced, place kept): 1" in out
    assert "copies queued for editing: console 1" in out
    assert main(["export", "1", "--format", "json"]) == 0
    exported = capsys.readouterr().out
    assert "Jordan" not in exported and "Brittany" not in exported and REMOVED_BY_AUTHOR in exported
    # Asked again, the person cannot be found: their id is gone.
    assert main(["forget", "--platform", "console", "--user", BRITTANY.user_id]) == 1


async def test_copies_queued_by_bridgebot_forget_in_another_process_are_edited_by_the_running_bot(
        rooms, db_setting):
    r = await rooms()
    r.runtime.privacy_keeper.recheck = 0.05  # the running bot looks for outside work this often
    await r.open_topic()
    await r.say(BRITTANY, "An example from Jordan.", FORUM)
    operator = Runtime(db_setting, [Bridge("allies", (FORUM, LOUNGE))])  # `bridgebot forget`
    await operator.open()
    try:
        from bridgebot.core.privacy import forget_person

        report = await forget_person(operator.core, "console", BRITTANY.user_id)
    finally:
        await operator.db.close()
    assert report is not None and report.copies_edited["console"] == 1
    copy = r.room_mirrors(LOUNGE)[0]
    async with asyncio.timeout(5):  # nothing in this process woke the relay: the keeper does
        while True:
            if REMOVED_BY_AUTHOR in copy.text:
                break
            await asyncio.sleep(0.02)


async def test_the_console_rewrites_a_lock_notice_that_named_her(rooms):
    r = await rooms()
    await r.open_topic()
    await r.say(BRITTANY, "An example from Amman.")
    await r.command(FACILITATOR, "/lock thanks to Brittany Landorf", admin=True)
    notice = next(s for s in r.console.visible("lounge") if "Landorf" in s.text)
    await r.command(BRITTANY, "/forgetme")
    answer = await r.command(BRITTANY, "/forgetme confirm")
    assert "could not" not in answer, answer
    assert notice.text == "Topic locked: thanks to Former participant 1"
    assert await r.runtime.store.dead_count() == 0


async def test_a_lock_notice_older_than_the_outbox_retention_is_still_rewritten(rooms):
    clock = Clock(PRIVACY_START)
    r = await rooms(clock=clock)
    await r.open_topic()
    await r.say(BRITTANY, "An example from Amman.")
    await r.command(FACILITATOR, "/lock thanks to Brittany Landorf", admin=True)
    notice = next(s for s in r.console.visible("lounge") if "Landorf" in s.text)
    await r.open_topic("Engaging donors")  # the lock's row is not the newest (always kept)
    clock.advance(days=30)  # delivered rows older than the retention are pruned
    assert (await r.runtime.outbox_keeper.prune()).rows
    await r.command(BRITTANY, "/forgetme")
    await r.command(BRITTANY, "/forgetme confirm")
    assert notice.text == "Topic locked: thanks to Former participant 1"
