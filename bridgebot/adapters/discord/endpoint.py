"""Point discord.py at a self-hosted Discord-compatible API (e.g. the bridgebot sandbox).

discord.py builds every REST URL as ``Route.BASE + path``: ``discord.http.Route.BASE``
is a *class attribute* read when each ``Route`` is constructed, and the webhook
module (``discord/webhook/async_.py`` and ``sync.py``) imports that same ``Route``
class, so one assignment redirects bot requests, webhook executions and
interaction callbacks alike.  There is no per-client setting for it, which is why
this is a process-wide switch; call it before the client logs in and
:func:`reset_api_base` when done (tests).

The gateway is separate: a plain ``discord.Client`` never asks ``GET /gateway/bot``
for its websocket URL; it connects to ``DiscordWebSocket.DEFAULT_GATEWAY``
(``wss://gateway.discord.gg/``), another class attribute, and falls back to it
after an INVALID_SESSION.  Only ``AutoShardedClient`` (with ``shard_count=None``)
reads ``/gateway/bot``.  So a self-hosted deployment must also set the gateway:
pass ``gateway_url`` here, or call :func:`use_gateway_from_api` once the client has
logged in (e.g. in ``setup_hook``), which asks the server's ``/gateway/bot`` with
discord.py's own HTTP client.

``Webhook.url`` and ``Webhook.from_url`` stay hard-wired to ``discord.com``; use
``Webhook.partial(id, token, client=...)`` with a self-hosted base.
"""

from __future__ import annotations

import discord
import discord.http
import yarl
from discord.gateway import DiscordWebSocket

DEFAULT_API_BASE = "https://discord.com/api/v10"
DEFAULT_GATEWAY = "wss://gateway.discord.gg/"


def use_api_base(api_base_url: str, *, gateway_url: str | None = None) -> None:
    """Send all discord.py REST (and webhook) traffic to ``api_base_url``.

    ``api_base_url`` includes the version, e.g. ``http://127.0.0.1:8123/api/v10``.
    """
    discord.http.Route.BASE = api_base_url.rstrip("/")
    if gateway_url is not None:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


async def use_gateway_from_api(client: discord.Client) -> str:
    """Adopt the websocket URL the API's ``GET /gateway/bot`` announces.

    Needs a logged-in client (its HTTP session exists from ``login`` on), so
    ``setup_hook`` is the natural place.
    """
    _shards, url, _limits = await client.http.get_bot_gateway()
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
    return url


def reset_api_base() -> None:
    """Restore discord.py's stock discord.com endpoints."""
    discord.http.Route.BASE = DEFAULT_API_BASE
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(DEFAULT_GATEWAY)
