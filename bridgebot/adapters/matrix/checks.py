"""``check-config`` for Matrix: is the appservice registered, and what may it do per room.

It asks the homeserver with the appservice token, as the adapter does: whoami, then
for each bridged room the bot's membership, the room's encryption and power levels,
and says which power level the bot needs for what.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp
from mautrix.api import HTTPAPI
from mautrix.client import ClientAPI
from mautrix.errors import MatrixError, MatrixRequestError, MNotFound
from mautrix.types import EventType, PowerLevelStateEventContent, RoomID, StateEvent, UserID

from bridgebot.adapters.matrix.settings import MatrixSettings
from bridgebot.adapters.platform import Finding

P = "matrix"


async def check_matrix(settings: MatrixSettings, rooms: Sequence[str]) -> list[Finding]:
    bot = UserID(settings.bot_user_id)
    async with aiohttp.ClientSession() as session:
        api = HTTPAPI(settings.homeserver, token=settings.as_token.get_secret_value(),
                      client_session=session, as_user_id=bot)
        client = ClientAPI(mxid=bot, api=api)
        try:
            who = await client.whoami()
        except MatrixRequestError as err:
            return [Finding(P, "appservice", "registration", False,
                            f"the homeserver refused the appservice token ({err.errcode}): install "
                            "the file from `bridgebot matrix-registration` in the homeserver's "
                            "app_service_config_files and restart it")]
        except (MatrixError, aiohttp.ClientError, OSError) as err:
            return [Finding(P, "appservice", "registration", False,
                            f"could not reach {settings.homeserver}: {err}")]
        found = [Finding(P, f"bot {who.user_id}", "registration", True,
                         f"the homeserver knows the appservice as {who.user_id}")]
        for room in rooms:
            found += await _room(client, bot, RoomID(room))
        return found


async def _room(client: ClientAPI, bot: UserID, room: RoomID) -> list[Finding]:
    where = f"room {room}"
    try:
        await client.join_room_by_id(room)
    except MatrixRequestError as err:
        return [Finding(P, where, "bot is in the room", False,
                        f"{err.errcode}: invite {bot} to the room (Element: Invite, then the id)")]
    found = [Finding(P, where, "bot is in the room", True, "joined")]
    try:
        await client.get_state_event(room, EventType.ROOM_ENCRYPTION)
        found.append(Finding(P, where, "not encrypted", False,
                             "the room is end-to-end encrypted: bridgebot cannot read or write "
                             "there and does not bridge it; bridge an unencrypted room"))
        return found
    except MNotFound:
        found.append(Finding(P, where, "not encrypted", True, "unencrypted"))
    except MatrixRequestError as err:
        found.append(Finding(P, where, "not encrypted", False, f"could not read: {err.errcode}"))
    try:
        levels = await client.get_state_event(room, EventType.ROOM_POWER_LEVELS)
        create = await client.get_state_event(room, EventType.ROOM_CREATE, format="event")
        assert isinstance(levels, PowerLevelStateEventContent) and isinstance(create, StateEvent)
    except MatrixRequestError as err:
        found.append(Finding(P, where, "power levels", False, f"could not read: {err.errcode}"))
        return found
    mine = levels.get_user_level(bot, create)
    needs = (
        ("can post", levels.get_event_level(EventType.ROOM_MESSAGE), "to open topics and post"),
        ("can invite ghosts", levels.invite, "to bring each participant's ghost into the room"),
        ("can redact", levels.redact,
         "for /hide to remove a participant's own message (mirrors are removed without it)"),
    )
    for check, level, why in needs:
        ok = mine >= level
        found.append(Finding(P, where, check, ok, f"power level {mine}" if ok else
                             f"needs power level {level} {why}; the bot has {mine}"))
    return found
