"""``check-config`` for Matrix: is the appservice registered, and what may it do per room.

It asks the homeserver with the appservice token, as the adapter does: whoami, the rooms
the bot is in (``GET /joined_rooms``), then for each bridged room it is in the room's
encryption and power levels, and says which power level the bot needs for what.

A look changes nothing, so it never joins a room (``bridgebot run`` does). For a room
the bot is not in yet it reads the room's summary (``GET /_matrix/client/v1/room_summary``,
Matrix 1.15), which the homeserver gives without joining to someone invited or allowed to
join: the bot's membership (invited?), the join rule and the encryption. Power levels are
state only a member may read: they are checked once the bot is in.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import aiohttp
from mautrix.api import HTTPAPI, Method, Path
from mautrix.client import ClientAPI
from mautrix.errors import MatrixError, MatrixRequestError, MNotFound
from mautrix.types import EventType, PowerLevelStateEventContent, RoomID, StateEvent, UserID

from bridgebot.adapters.matrix.settings import MatrixSettings
from bridgebot.adapters.platform import Finding

P = "matrix"
# Join rules under which the bot may join without an invitation (restricted ones: when it
# is in one of the rooms they allow).
OPEN, RESTRICTED = ("public",), ("restricted", "knock_restricted")


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
        if not rooms:
            return found
        try:
            joined = set(await client.get_joined_rooms())
        except MatrixRequestError as err:
            return [*found, Finding(P, f"bot {who.user_id}", "joined rooms", False,
                                    f"could not read which rooms the bot is in: {err.errcode}")]
        for room in rooms:
            found += await (_room(client, bot, RoomID(room)) if room in joined
                            else _not_joined(client, bot, RoomID(room), joined))
        return found


async def _not_joined(client: ClientAPI, bot: UserID, room: RoomID,
                      joined: Collection[str]) -> list[Finding]:
    """A room the bot is not in: whether ``bridgebot run`` will be able to join it, and its
    encryption, from the room summary; no join, no other change."""
    where, check = f"room {room}", "bot is in the room"
    invite = f"invite {bot} to the room (Element: Invite, then the id)"
    try:
        summary: dict[str, Any] = await client.api.request(
            Method.GET, Path.v1.room_summary[room], query_params=_via(room))
    except MNotFound:  # the homeserver shows the summary to whoever is invited or may join
        return [Finding(P, where, check, False, f"not joined and not invited: {invite}")]
    except MatrixRequestError as err:  # a homeserver without the summary (before Matrix 1.15)
        return [Finding(P, where, check, False,
                        f"not joined yet, and the homeserver does not say whether the bot is "
                        f"invited without joining ({err.errcode}): make sure it is ({invite}); "
                        "`bridgebot run` joins it, and check-config then checks the room")]
    membership = summary.get("membership") or "leave"
    rule = summary.get("join_rule") or "public"  # the summary's documented default
    allowed = set(summary.get("allowed_room_ids") or ()) & set(joined)
    if membership == "join":  # joined between the two questions
        return await _room(client, bot, room)
    if membership == "ban":
        found = [Finding(P, where, check, False,
                         f"the bot is banned from the room: unban {bot}, then {invite}")]
    elif membership == "invite":
        found = [Finding(P, where, check, True,
                         "not joined yet; `bridgebot run` will join it (invited: yes)")]
    elif rule in OPEN or (rule in RESTRICTED and allowed):
        why = "anyone may join" if rule in OPEN else "it lets members of a room the bot is in join"
        found = [Finding(P, where, check, True,
                         f"not joined yet; `bridgebot run` will join it (invited: no; {why})")]
    else:
        found = [Finding(P, where, check, False,
                         f"not joined and not invited (the room's join rule is {rule}): {invite}")]
    encryption = summary.get("encryption") or summary.get("im.nheko.summary.encryption")
    found.append(_encryption(where, bool(encryption)))
    if found[0].ok:
        found.append(Finding(P, where, "power levels", True,
                             "not read yet: a room's power levels are for its members; run "
                             "check-config again once `bridgebot run` has joined", later=True))
    return found


def _via(room: RoomID) -> dict[str, str]:
    """The server to ask about a room this homeserver may not know yet: the one in the room
    id (``!opaque:server``; room ids of version 12 have none)."""
    _, colon, server = room.partition(":")
    return {"via": server} if colon and server else {}


def _encryption(where: str, encrypted: bool) -> Finding:
    if encrypted:
        return Finding(P, where, "not encrypted", False,
                       "the room is end-to-end encrypted: bridgebot cannot read or write there "
                       "and does not bridge it; bridge an unencrypted room")
    return Finding(P, where, "not encrypted", True, "unencrypted")


async def _room(client: ClientAPI, bot: UserID, room: RoomID) -> list[Finding]:
    """A room the bot is in: its encryption and power levels, read as a member."""
    where = f"room {room}"
    found = [Finding(P, where, "bot is in the room", True, "joined")]
    try:
        await client.get_state_event(room, EventType.ROOM_ENCRYPTION)
        found.append(_encryption(where, True))
        return found
    except MNotFound:
        found.append(_encryption(where, False))
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
