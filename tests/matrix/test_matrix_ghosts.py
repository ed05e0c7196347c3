"""Ghosts that a room moderator kicked come back (invited by the bot) for their next post."""

from __future__ import annotations

import pytest
from mautrix.types import RoomID, UserID

from .conftest import MatrixWorld
from .test_matrix_discussion import _ghost_events, open_topic


@pytest.mark.parametrize("kick_seen", [True, False], ids=["kick-seen", "kick-not-yet-seen"])
async def test_a_kicked_ghost_is_invited_back_before_its_next_post(
        matrix_world: MatrixWorld, kick_seen: bool) -> None:
    w = matrix_world
    await open_topic(w)
    tg_root = next(m for m in w.telegram_bot_messages()
                   if m.get("text", "").startswith("Engaging allies"))
    w.tg.user_sends(w.group["id"], w.brittany, "Youth groups first.",
                    reply_to=tg_root["message_id"])
    first = (await w.matrix_events(_ghost_events(w, "Youth groups first.")))[0]
    ghost = first["sender"]
    await w.moderator.client.kick_user(RoomID(w.room), UserID(ghost), reason="spring cleaning")
    assert w.runtime is not None
    adapter = w.runtime.adapters["matrix"]
    store = adapter.bot.state_store
    await w.until(lambda: _left(store, w.room, ghost))
    if not kick_seen:  # as if the kick's transaction had not arrived yet: still "joined"
        await store.joined(RoomID(w.room), UserID(ghost))

    w.tg.user_sends(w.group["id"], w.brittany, "And then the ministry.",
                    reply_to=tg_root["message_id"])
    second = (await w.matrix_events(_ghost_events(w, "And then the ministry.")))[0]
    assert second["sender"] == ghost, "the same ghost, back in the room"
    members = await w.member.client.get_joined_members(RoomID(w.room))
    assert UserID(ghost) in members
    outbox = await w.runtime.store.outbox()
    assert not [e for e in outbox if e.state.value == "dead"]


async def _left(store, room: str, user: str) -> bool:
    membership = await store.get_membership(RoomID(room), UserID(user))
    return str(getattr(membership, "value", membership)) == "leave"


async def test_two_people_from_one_platform_are_two_ghosts_with_their_own_names(
        matrix_world: MatrixWorld) -> None:
    w = matrix_world
    await open_topic(w)
    tg_root = next(m for m in w.telegram_bot_messages()
                   if m.get("text", "").startswith("Engaging allies"))
    w.tg.user_sends(w.group["id"], w.brittany, "Youth groups first.",
                    reply_to=tg_root["message_id"])
    w.tg.user_sends(w.group["id"], w.kristin, "Thank you, Brittany.",
                    reply_to=tg_root["message_id"])
    first = (await w.matrix_events(_ghost_events(w, "Youth groups first.")))[0]
    second = (await w.matrix_events(_ghost_events(w, "Thank you, Brittany.")))[0]
    assert first["sender"] != second["sender"], "each person has their own ghost"
    names = {str(u): m.displayname for u, m in
             (await w.member.client.get_joined_members(RoomID(w.room))).items()}
    assert names[first["sender"]] == "Brittany Landorf (Telegram)"
    assert names[second["sender"]] == "Kristin Antin (Telegram)"
