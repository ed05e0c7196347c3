"""A chat in no bridge: its id and title logged once, at info, so the operator can configure it."""

from __future__ import annotations

import logging


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
