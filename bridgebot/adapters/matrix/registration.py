"""The appservice registration a homeserver admin installs (``bridgebot matrix-registration``).

The homeserver learns from it where to send events (``url``), which tokens each side
presents, and which user ids belong to bridgebot: the bot itself and its ghosts, one per
participant from the other platforms. Written as YAML by hand (every value quoted as a
JSON string, which YAML reads unchanged) so the bot needs no YAML library.
"""

from __future__ import annotations

import json
import re

from bridgebot.adapters.matrix.settings import MatrixSettings


def ghost_regex(settings: MatrixSettings) -> str:
    """The user ids of the ghosts: ``@<prefix>…:<server>``, exclusive to bridgebot."""
    return f"@{re.escape(settings.ghost_prefix)}.*:{re.escape(settings.server_name)}"


def registration(settings: MatrixSettings) -> dict[str, object]:
    """The registration as data (what Synapse reads from the YAML file)."""
    return {
        "id": settings.appservice_id,
        "url": settings.appservice_url,
        "as_token": settings.as_token.get_secret_value(),
        "hs_token": settings.hs_token.get_secret_value(),
        "sender_localpart": settings.bot_localpart,
        # Ghosts post on behalf of many people: the homeserver must not throttle them as one.
        "rate_limited": False,
        "namespaces": {
            "users": [{"exclusive": True, "regex": ghost_regex(settings)}],
            "aliases": [],
            "rooms": [],
        },
    }


def registration_yaml(settings: MatrixSettings) -> str:
    """The registration file's text. It holds both tokens: keep it as secret as they are."""
    data = registration(settings)
    q = json.dumps
    lines = [
        "# bridgebot appservice registration: add this file's path to the homeserver's",
        "# app_service_config_files and restart it. It contains secrets.",
        f"id: {q(data['id'])}",
        f"url: {q(data['url'])}",
        f"as_token: {q(data['as_token'])}",
        f"hs_token: {q(data['hs_token'])}",
        f"sender_localpart: {q(data['sender_localpart'])}",
        "rate_limited: false",
        "namespaces:",
        "  users:",
        f"    - exclusive: true\n      regex: {q(ghost_regex(settings))}",
        "  aliases: []",
        "  rooms: []",
    ]
    return "\n".join(lines) + "\n"
