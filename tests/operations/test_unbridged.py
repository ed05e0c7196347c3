"""A chat in no bridge: its id and title logged once, at info, so the operator can configure it."""

from __future__ import annotations

import logging

import pytest


async def test_the_first_message_from_a_chat_in_no_bridge_logs_its_id_and_title_once(bridged, caplog):
    caplog.set_level(logging.INFO, logger="bridgebot")
    tg, dc = bridged.tg, bridged.dc
    youth = tg.add_chat("Youth Circle", owner=bridged.brittany.tg)
    lounge = dc.add_text_channel(bridged.guild["id"], "lounge")
    for i in range(3):
        tg.user_sends(youth["id"], bridged.brittany.tg, f"Brittany's secret note {i}")
        dc.user_sends(lounge["id"], bridged.jessica.dc, f"Jessica's secret note {i}")
    # A private chat with the bot is no group to bridge: its title would be a person's name.
    private = tg.private_chat(bridged.brittany.tg)
    tg.user_sends(private["id"], bridged.brittany.tg, "a private hello")

    def noted() -> list[str]:
        return [r.getMessage() for r in caplog.records if "is in no bridge" in r.getMessage()]

    await bridged.until(lambda: len(noted()) >= 2 and len(tg.calls_to("getUpdates")) > 3)
    lines = noted()
    assert len(lines) == 2, lines
    assert any(f"telegram chat {youth['id']} “Youth Circle”" in line for line in lines)
    assert any(f"discord chat {lounge['id']} “#lounge in New Tactics”" in line for line in lines)
    assert all("[[bridges]]" in line for line in lines)
    everything = "\n".join(r.getMessage() for r in caplog.records)
    for private in ("secret note", "Brittany", "Jessica", "Landorf", "a private hello",
                    str(bridged.brittany.tg["id"])):
        assert private not in everything
    assert all(r.levelno == logging.INFO for r in caplog.records if "is in no bridge" in r.getMessage())


def answers_to(tg, chat: dict, asked: dict) -> list[str]:
    return [m["text"] for m in tg.chat_messages(chat["id"])
            if m.get("reply_to_message", {}).get("message_id") == asked["message_id"]]


async def test_an_admin_asks_chatid_in_a_telegram_chat_no_bridge_lists_yet(bridged):
    tg = bridged.tg
    youth = tg.add_chat("Youth Circle", owner=bridged.kristin.tg)
    workshop = tg.add_chat("Workshops", is_forum=True, owner=bridged.kristin.tg)
    topic = tg.user_creates_topic(workshop["id"], bridged.kristin.tg, "Planning")
    asked = tg.user_sends(youth["id"], bridged.kristin.tg, "/chatid")
    in_topic = tg.user_sends(workshop["id"], bridged.kristin.tg, "/chatid",
                             thread_id=topic["message_thread_id"])
    refused = tg.user_sends(youth["id"], bridged.brittany.tg, "/chatid")
    await bridged.until(lambda: all(answers_to(tg, chat, m) for chat, m in
                                    ((youth, asked), (workshop, in_topic), (youth, refused))))

    assert answers_to(tg, youth, asked) == [
        f"This chat's id is {youth['id']}. A [[bridges]] entry in bridgebot's settings lists "
        "it to bridge this chat."]
    [forum_answer] = answers_to(tg, workshop, in_topic)
    assert f"This chat's id is {workshop['id']}; this thread's id is " \
           f"{topic['message_thread_id']}." in forum_answer
    [refusal] = answers_to(tg, youth, refused)
    assert refusal.startswith("Sorry, /chatid is for this chat's admins")
    assert str(youth["id"]) not in refusal
    # In the bridged group too, for its admin: the id the settings already list.
    here = tg.user_sends(bridged.group["id"], bridged.kristin.tg, "/chatid")
    await bridged.until(lambda: answers_to(tg, bridged.group, here))
    assert str(bridged.group["id"]) in answers_to(tg, bridged.group, here)[0]


async def test_a_facilitator_asks_chatid_in_a_discord_channel_no_bridge_lists_yet(bridged):
    dc = bridged.dc
    lounge = dc.add_text_channel(bridged.guild["id"], "lounge")
    answer = await bridged.slash(bridged.kristin.dc, "chatid", lounge["id"])
    assert answer["content"] == (f"This chat's id is {lounge['id']}. A [[bridges]] entry in "
                                 "bridgebot's settings lists it to bridge this chat.")
    assert answer["flags"] & 64, "only the facilitator sees it"
    in_thread = await bridged.slash(bridged.kristin.dc, "chatid", bridged.thread["id"])
    assert (f"This chat's id is {bridged.channel['id']}; this thread's id is "
            f"{bridged.thread['id']}.") in in_thread["content"]
    # Discord hides /chatid from members without Manage Threads; a server admin may open
    # it to everyone in Integrations settings, and the bot still checks.
    with pytest.raises(PermissionError):
        dc.invoke_command(bridged.brittany.dc, bridged.guild["id"], lounge["id"], "chatid", {})
    dc.world.find_command(bridged.guild["id"], "chatid")["default_member_permissions"] = None
    refused = await bridged.slash(bridged.brittany.dc, "chatid", lounge["id"])
    assert refused["content"].startswith("Sorry, /chatid is for this chat's admins")
    assert lounge["id"] not in refused["content"]
