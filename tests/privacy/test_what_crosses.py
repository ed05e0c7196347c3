"""With pseudonyms on, nothing that names a person reaches the other company's servers:
every request the bot made to each fake platform is searched, not just message texts."""

from __future__ import annotations

import json

import pytest

from ..auxil.world import World


def requests_to_discord(w: World) -> str:
    return "\n".join(json.dumps([c.method, c.path, c.query, c.json], ensure_ascii=False)
                     for c in w.dc.calls)


def requests_to_telegram(w: World) -> str:
    return "\n".join(json.dumps([c.method, c.params], ensure_ascii=False, default=str)
                     for c in w.tg.calls)


@pytest.mark.parametrize("two_platforms", ["pseudonym"], indirect=True)
async def test_with_pseudonyms_no_name_or_id_of_a_person_crosses_to_the_other_platform(two_platforms):
    w = two_platforms
    original = w.tg.user_sends(w.group["id"], w.brittany.tg, "Allies in Jordan\n\nAn example from Jordan.",
                               reply_to=w.root["message_id"])
    mirror = (await w.until(lambda: w.discord_mirrors()))[0]
    assert mirror["author"]["username"] == "Participant 1 · Telegram"
    # Discord people answer: a native reply, a member without a display name, a slash command.
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "A similar case from Lagos.", reply_to=mirror["id"])
    w.dc.user_sends(w.thread["id"], w.quiet.dc, "Same here, quietly.")
    answers = await w.until(lambda: [m for m in w.bot_messages()
                                     if "quietly" in m.get("text", "")])
    assert answers[0]["text"].startswith("Participant 3 · Discord · #4")
    jessica_copy = next(m for m in w.bot_messages() if "Lagos" in m.get("text", ""))
    assert jessica_copy["reply_to_message"]["message_id"] == original["message_id"]
    assert jessica_copy["text"].startswith("Participant 2 · Discord · #3")
    # A Telegram reply to a Discord post, quoted on Discord (webhooks cannot reply natively).
    w.tg.user_sends(w.group["id"], w.brittany.tg, "Thank you for that.",
                    reply_to=jessica_copy["message_id"])
    await w.until(lambda: [m for m in w.discord_mirrors() if "Thank you" in m["content"]])
    # Bot messages that name authors: a digest to every chat, /catchup and /status answers.
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/digest")
    await w.until(lambda: [m for m in w.dc.channel_messages(w.thread["id"])
                           if "Digest" in m.get("content", "")])
    catchup = (await w.slash(w.jessica.dc, "catchup"))["content"]
    status = (await w.slash(w.quiet.dc, "status"))["content"]
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/catchup")
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/status")
    await w.settle()
    assert "Participant 1" in catchup and "last post by Participant 1" in status
    to_discord = requests_to_discord(w)
    for telegram_trace in ("Brittany", "Landorf", "brittany_l", str(w.brittany.tg["id"]),
                           "kristin_a", str(w.kristin.tg["id"])):
        assert telegram_trace not in to_discord
    to_telegram = requests_to_telegram(w)
    for discord_trace in ("Jessica", "Okafor", "jessica_handle", w.jessica.dc["id"], "quiet_handle",
                          w.quiet.dc["id"], w.kristin.dc["id"]):
        assert discord_trace not in to_telegram
    # The words themselves do cross: this is about names, not content.
    assert "An example from Jordan." in to_discord and "A similar case from Lagos." in to_telegram


async def test_a_discord_username_never_crosses_even_without_a_display_name(two_platforms):
    w = two_platforms
    w.dc.user_sends(w.thread["id"], w.quiet.dc, "I never set a display name.")
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "I did.")
    copies = await w.until(lambda: [m["text"] for m in w.bot_messages()
                                    if "display name" in m.get("text", "") or "I did" in m.get("text", "")]
                           if len(w.bot_messages()) >= 3 else None)
    assert copies[0].startswith("Discord user · Discord · #2")
    assert copies[1].startswith("Jessica Okafor · Discord · #3")
    assert "quiet_handle" not in requests_to_telegram(w)


async def test_an_alias_chosen_in_a_private_chat_with_the_bot_names_the_telegram_author_on_discord(
        two_platforms):
    w = two_platforms
    w.tg.set_member(w.group["id"], w.brittany.tg["id"], "member")
    w.tg.private_chat(w.brittany.tg)
    w.tg.user_sends(w.brittany.tg["id"], w.brittany.tg, "/alias Desert Rose")
    answer = (await w.until(lambda: [m["text"] for m in w.tg.chat_messages(w.brittany.tg["id"])
                                     if m.get("from", {}).get("is_bot")]))[0]
    assert "“Desert Rose”" in answer
    w.tg.user_sends(w.group["id"], w.brittany.tg, "An example from Jordan.", reply_to=w.root["message_id"])
    mirror = (await w.until(lambda: w.discord_mirrors()))[0]
    assert mirror["author"]["username"] == "Desert Rose · Telegram"
    # Nobody in the group saw the alias being chosen.
    assert not any("Desert Rose" in m.get("text", "") for m in w.tg.chat_messages(w.group["id"]))
    # On Discord the same alias is taken.
    taken = (await w.slash(w.jessica.dc, "alias", name="desert rose"))["content"]
    assert "already taken" in taken
