"""/export: the facilitator gets the current archive page privately, on Telegram (a document
in the private chat with the bot, once they have started it) and on Discord (an ephemeral
attachment), with authors named as the bridge names them."""

from __future__ import annotations

import aiohttp

START_FIRST = ("I cannot write to you privately yet. Open a private chat with me (tap my name, "
               "then Start), then send /export again.")


async def test_export_on_telegram_asks_to_start_the_bot_then_sends_the_page(bridged):
    w = bridged
    root = w.root["message_id"]
    w.tg.user_sends(w.group["id"], w.brittany.tg, "An example from Jordan", reply_to=root)
    await w.settle()

    w.tg.user_sends(w.group["id"], w.kristin.tg, "/export", reply_to=root)
    await w.settle()
    assert w.bot_texts()[-1] == START_FIRST
    assert not any("document" in m for m in w.tg.chat_messages(w.group["id"]))

    w.tg.private_chat(w.kristin.tg)  # she presses Start
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/export", reply_to=root)
    await w.settle()
    assert w.bot_texts()[-1] == "The archive of “Engaging allies” was sent to you privately."
    [sent] = [m for m in w.tg.chat_messages(w.kristin.tg["id"]) if "document" in m]
    assert sent["document"]["file_name"] == "topic-1-engaging-allies.html"
    assert sent["caption"] == "The archive of “Engaging allies” as of now."
    page = w.tg.file_data(sent["document"]["file_id"]).decode("utf-8")
    assert "<html" in page and "Engaging allies" in page and "An example from Jordan" in page
    assert "Brittany Landorf" in page


async def test_export_on_discord_is_an_ephemeral_attachment(build):
    w = await build(authors="pseudonym", open_topic=True)
    w.tg.user_sends(w.group["id"], w.brittany.tg, "An example from Jordan",
                    reply_to=w.root["message_id"])
    await w.settle()
    handle = w.dc.invoke_command(w.kristin.dc, w.guild["id"], w.thread["id"], "export", {})
    await handle.response(timeout=5)
    filed, answer = await handle.wait_for_followups(2)
    assert filed["flags"] & 64 and answer["flags"] & 64, "only she sees them"
    assert answer["content"] == "The archive of “Engaging allies” was sent to you privately."
    [attachment] = filed["attachments"]
    assert attachment["filename"] == "topic-1-engaging-allies.html"
    async with aiohttp.ClientSession() as http, http.get(attachment["url"]) as got:
        page = await got.text()
    assert "An example from Jordan" in page and "Participant 1" in page
    assert "Brittany" not in page, "named as the pseudonym bridge names authors"


async def test_export_is_for_facilitators(bridged):
    w = bridged
    w.tg.private_chat(w.brittany.tg)
    w.tg.user_sends(w.group["id"], w.brittany.tg, "/export", reply_to=w.root["message_id"])
    await w.settle()
    assert w.bot_texts()[-1].startswith("Sorry, /export is for facilitators")
    assert not any("document" in m for m in w.tg.chat_messages(w.brittany.tg["id"]))
