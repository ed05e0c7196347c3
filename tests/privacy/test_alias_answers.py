"""With pseudonyms on, /alias never tells a group who takes part: a refusal because the name
belongs to someone in the discussion would say that they do. So the answer goes to the person
alone (Telegram: a private message; Discord: ephemeral), and when Telegram will not let the bot
write to them first, the group gets the same neutral sentence whatever the name."""

from __future__ import annotations

from typing import Any

import pytest

from ..auxil.world import World

pytestmark = pytest.mark.parametrize("two_platforms", ["pseudonym"], indirect=True)


def bot_texts_in(w: World, chat_id: int) -> list[str]:
    return [m["text"] for m in w.tg.chat_messages(chat_id)
            if m.get("from", {}).get("is_bot") and "text" in m]


async def group_answer(w: World, who: dict[str, Any], command: str) -> str:
    """What the group sees after ``who`` sends ``command`` there (the bot's new messages)."""
    before = len(bot_texts_in(w, w.group["id"]))
    w.tg.user_sends(w.group["id"], who, command)
    await w.settle()
    return "\n".join(bot_texts_in(w, w.group["id"])[before:])


async def jessica_takes_part(w: World) -> None:
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "An example from Lagos.")
    await w.until(lambda: [m for m in w.bot_messages() if "Lagos" in m.get("text", "")])


async def test_an_alias_refusal_in_the_group_is_answered_in_a_private_message(two_platforms):
    w = two_platforms
    await jessica_takes_part(w)
    w.tg.private_chat(w.brittany.tg)  # Brittany once pressed Start in a chat with the bot
    taken = await group_answer(w, w.brittany.tg, "/alias Jessica Okafor")
    free = await group_answer(w, w.brittany.tg, "/alias Desert Rose")
    # The group learns nothing from the bot: the same sentence for a taken and a free name.
    assert taken == free and taken
    assert "Jessica" not in taken and "Desert Rose" not in taken
    private = bot_texts_in(w, w.brittany.tg["id"])
    assert "someone else in this discussion" in private[0]
    assert "“Desert Rose”" in private[1]
    assert await w.runtime.core.privacy.alias_of("allies", "telegram",
                                                 str(w.brittany.tg["id"])) == "Desert Rose"


async def test_without_a_private_chat_the_group_answer_reveals_nothing_and_nothing_changes(
        two_platforms):
    w = two_platforms
    await jessica_takes_part(w)
    taken = await group_answer(w, w.quiet.tg, "/alias Jessica Okafor")
    free = await group_answer(w, w.quiet.tg, "/alias Desert Fox")
    assert taken == free and "private chat" in taken
    assert "Jessica" not in taken and "Desert Fox" not in taken
    assert await w.runtime.core.privacy.alias_of("allies", "telegram",
                                                 str(w.quiet.tg["id"])) is None


async def test_on_discord_the_alias_answer_is_ephemeral(two_platforms):
    w = two_platforms
    w.tg.user_sends(w.group["id"], w.brittany.tg, "An example from Jordan.",
                    reply_to=w.root["message_id"])
    await w.until(lambda: w.discord_mirrors())
    visible_before = w.dc.channel_messages(w.thread["id"])
    answer = await w.slash(w.jessica.dc, "alias", name="Brittany Landorf")
    assert answer["flags"] & 64, "ephemeral: only Jessica sees it"
    assert w.dc.channel_messages(w.thread["id"]) == visible_before
