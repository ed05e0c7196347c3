"""Files between Matrix's content repository (``mxc://``) and the other platforms: a
Telegram photo reaches Matrix as an m.image without its GPS, a Matrix m.file PDF reaches
Discord as an attachment and Telegram as a document."""

from __future__ import annotations

import aiohttp
from mautrix.types import ContentURI, EventType, RoomID

from bridgebot.adapters.matrix.adapter import message_content

from ..media.images import GPS_IFD, SERIAL, jpeg_with_gps, metadata_of
from .conftest import MatrixWorld
from .test_matrix_discussion import _tg_root, open_topic


def test_a_file_event_and_the_edit_of_its_caption_read_as_the_caption_alone() -> None:
    event = {"msgtype": "m.file", "body": "Minutes of Tuesday", "filename": "minutes.pdf",
             "url": "mxc://x/y", "info": {"mimetype": "application/pdf", "size": 10}}
    assert message_content(event) == ("Minutes of Tuesday", ())
    assert message_content({**event, "body": "minutes.pdf"}) == ("", ())


PDF = b"%PDF-1.4\n% the field notes\n" + b"x" * 2000 + b"\n%%EOF\n"


async def test_files_cross_through_the_content_repository_both_ways(
        matrix_world: MatrixWorld) -> None:
    w = matrix_world
    root = await open_topic(w)
    ghost = "@" + w.synapse.appservice.ghost_prefix
    # Telegram -> Matrix: Brittany's photo with GPS in its EXIF.
    photo = jpeg_with_gps()
    assert GPS_IFD in metadata_of(photo)
    w.tg.user_sends_photo(w.group["id"], w.brittany, "Our open day", data=photo,
                          reply_to=_tg_root(w)["message_id"])
    [image] = await w.matrix_events(lambda e: e["sender"].startswith(ghost)
                                    and e["content"].get("msgtype") == "m.image")
    content = image["content"]
    assert content["url"].startswith("mxc://") and content["info"]["mimetype"] == "image/jpeg"
    assert content["m.relates_to"]["event_id"] == root["event_id"]  # in the topic's thread
    received = await w.member.client.download_media(ContentURI(content["url"]))
    found = metadata_of(received)
    assert GPS_IFD not in found and SERIAL not in found, "the GPS position or serial crossed"
    [caption] = await w.matrix_events(lambda e: e["sender"] == image["sender"]
                                      and "Our open day" in e["content"].get("body", ""))
    assert content["m.relates_to"]["m.in_reply_to"]["event_id"] == caption["event_id"]

    # Matrix -> Discord and Telegram: Amal's PDF, uploaded to the content repository.
    mxc = await w.member.client.upload_media(PDF, mime_type="application/pdf",
                                             filename="field-notes.pdf")
    await w.member.client.send_message_event(RoomID(w.room), EventType.ROOM_MESSAGE, {
        "msgtype": "m.file", "body": "field-notes.pdf", "filename": "field-notes.pdf",
        "url": str(mxc), "info": {"mimetype": "application/pdf", "size": len(PDF)},
        "m.relates_to": {"rel_type": "m.thread", "event_id": root["event_id"],
                         "is_falling_back": True,
                         "m.in_reply_to": {"event_id": root["event_id"]}}})
    thread = (await w.until(lambda: w.dc.threads(w.channel["id"])))[0]
    [mirror] = await w.until(lambda: [m for m in w.discord_mirrors(thread["id"])
                                      if m["author"]["username"] == "Amal Haddad · Matrix"])
    [upload] = mirror["attachments"]
    assert upload["filename"] == "field-notes.pdf"
    async with aiohttp.ClientSession() as session, session.get(upload["url"]) as response:
        assert await response.read() == PDF
    [document] = await w.until(lambda: [m for m in w.telegram_bot_messages() if "document" in m])
    assert document.get("caption", "").startswith("Amal Haddad · Matrix")
    assert document["document"]["file_name"] == "field-notes.pdf"
    assert w.tg.file_data(document["document"]["file_id"]) == PDF
    assert "[file]" not in str(mirror["content"]) and "[file]" not in document.get("caption", "")
