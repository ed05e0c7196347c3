"""The Allies world: the one place where tests build platforms, bridges, people and a clock.

Every suite asks :func:`allies` (or the ``build`` fixture) for the world it needs instead of
wiring fakes, adapters and a runtime by hand, so a test reads like the discussion it plays:
Kristin Antin facilitates, Brittany Landorf and Jessica Okafor take part, on the "allies"
bridge between the platforms the test names::

    async with allies(tmp_path, telegram=("group",), discord=("channel",)) as w:
        w.tg.user_sends(w.group["id"], w.brittany.tg, "An example from Jordan")
        await w.until(lambda: w.discord_mirrors())

Places: Telegram ``group`` (the supergroup "Allies") and ``forum`` ("Allies forum"); Discord
``channel`` (#allies) and ``forum_channel`` (#discussions, a forum channel); console rooms
``forum`` and ``lounge``. Everyone in :data:`CAST` has an account on every platform in the
world (``w.kristin.tg``, ``w.kristin.dc``); console tests speak as :class:`Author` values.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bridgebot.adapters.console.adapter import ConsoleAdapter, Shown
from bridgebot.adapters.discord.endpoint import reset_api_base
from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.models import Author, ChannelRef, ReceiveOutcome
from bridgebot.core.ratelimit import PlatformLimits
from bridgebot.core.relay import Backoff
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.clients import discord_adapter, telegram_adapter
from bridgebot.sandbox.discord import FakeDiscord, Permissions
from bridgebot.sandbox.telegram import FakeTelegram

#: Monday 22 March 2027, 08:00 in Chicago (CDT): when a moved clock starts.
START = datetime(2027, 3, 22, 13, 0, tzinfo=UTC)

#: The console rooms of console worlds.
FORUM = ChannelRef("console", "forum")
LOUNGE = ChannelRef("console", "lounge")
FACILITATOR = Author("console", "kristin", "Kristin Antin")

#: Rate budgets off: tests that are not about rate limits need not wait a second per message.
TELEGRAM_UNLIMITED = PlatformLimits(max_length=4096)
DISCORD_UNLIMITED = PlatformLimits()
#: Retries after a 5xx come quickly in tests (Discord and Telegram fakes answer at once).
QUICK_BACKOFF = Backoff(0.2)

TOPIC = "/newtopic Engaging allies\nShare your examples."


def person(name: str) -> Author:
    """A console participant (console worlds identify people by name)."""
    return Author("console", name.lower().replace(" ", "-"), name)


class Clock:
    """The time the bot sees; tests move it instead of sleeping through minutes."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class Role:
    """Who someone is in the discussion, and their accounts' names on each platform."""

    first_name: str
    last_name: str | None
    telegram_username: str | None
    discord_username: str
    discord_display_name: str | None
    facilitator: bool = False


#: The people of the seed discussion. ``quiet`` never set a Discord display name.
CAST: dict[str, Role] = {
    "kristin": Role("Kristin", "Antin", "kristin_a", "kristin", "Kristin Antin", facilitator=True),
    "brittany": Role("Brittany", "Landorf", "brittany_l", "brittany", "Brittany Landorf"),
    "jessica": Role("Jessica", "Okafor", None, "jessica_handle", "Jessica Okafor"),
    "quiet": Role("Quinn", None, None, "quiet_handle", None),
}


@dataclass
class Person:
    """One participant: their Telegram user and Discord member, where the world has them."""

    name: str
    tg: dict[str, Any] = field(default_factory=dict)
    dc: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    """Platforms, places, people and the running bot of one test."""

    runtime: Runtime
    clock: Clock | None
    tg: FakeTelegram | None
    dc: FakeDiscord | None
    console: ConsoleAdapter | None
    people: dict[str, Person]
    places: dict[str, dict[str, Any]]
    bridge: Bridge
    tokens: dict[str, str]
    root: dict[str, Any] = field(default_factory=dict)

    # ---- people and places ----------------------------------------------------------

    @property
    def kristin(self) -> Person:
        return self.people["kristin"]

    @property
    def brittany(self) -> Person:
        return self.people["brittany"]

    @property
    def jessica(self) -> Person:
        return self.people["jessica"]

    @property
    def quiet(self) -> Person:
        return self.people["quiet"]

    @property
    def group(self) -> dict[str, Any]:
        """The Telegram supergroup "Allies"."""
        return self.places["group"]

    @property
    def forum(self) -> dict[str, Any]:
        """The Telegram forum "Allies forum"."""
        return self.places["forum"]

    @property
    def guild(self) -> dict[str, Any]:
        return self.places["guild"]

    @property
    def channel(self) -> dict[str, Any]:
        """The Discord text channel #allies."""
        return self.places["channel"]

    @property
    def forum_channel(self) -> dict[str, Any]:
        """The Discord forum channel #discussions."""
        return self.places["forum_channel"]

    @property
    def thread(self) -> dict[str, Any]:
        """The first topic's thread under #allies."""
        assert self.dc is not None
        return self.dc.threads(self.channel["id"])[0]

    # ---- waiting --------------------------------------------------------------------

    async def until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``predicate()`` is truthy, draining the relay between looks."""
        async with asyncio.timeout(timeout):
            while True:
                await self.runtime.drain(timeout=timeout)
                if result := predicate():
                    return result
                await asyncio.sleep(0.02)

    async def settle(self) -> None:
        """Wait until every queued Telegram update is handled and every delivery made."""
        tg = self.tg
        for _ in range(2):
            if tg is not None:
                await tg.wait_for(lambda: not tg.pending_updates())
            await self.runtime.drain()

    async def dead_letters(self, timeout: float = 10.0) -> list[Any]:
        async with asyncio.timeout(timeout):
            while True:
                dead = [e for e in await self.runtime.store.outbox() if e.state.value == "dead"]
                if dead:
                    return dead
                await asyncio.sleep(0.02)

    async def posts(self, count: int, include_hidden: bool = False) -> list[Any]:
        """The first topic's posts, once there are at least ``count``."""
        async with asyncio.timeout(5):
            while True:
                posts = await self.runtime.store.posts(1, include_hidden=include_hidden)
                if len(posts) >= count:
                    return posts
                await asyncio.sleep(0.01)

    # ---- acting ---------------------------------------------------------------------

    async def open_topic(self, title: str = "Engaging allies") -> None:
        """Kristin opens a topic: in the console forum, or else from the Telegram group."""
        text = f"/newtopic {title}\nShare your examples."
        if self.console is not None:
            answer = await self.command(FACILITATOR, text)
            assert "is open" in answer, answer
            return
        assert self.tg is not None
        self.tg.user_sends(self.group["id"], self.kristin.tg, text)
        if self.dc is not None and "channel" in self.places:
            await self.until(lambda: self.dc is not None and self.dc.threads(self.channel["id"]))
        self.root = await self.until(lambda: next(
            (m for m in self.tg.chat_messages(self.group["id"]) if m.get("from", {}).get("is_bot")
             and m.get("text", "").startswith(title)), None) if self.tg else None)

    async def slash(self, user: dict[str, Any], command: str, channel_id: str | None = None,
                    locale: str = "en-US", **options: Any) -> dict[str, Any]:
        """``/command`` run by a Discord member (in the topic's thread unless ``channel_id``);
        the bot's (ephemeral) answer."""
        assert self.dc is not None
        where = channel_id or self.thread["id"]
        handle = self.dc.invoke_command(user, self.guild["id"], where, command, options,
                                        locale=locale)
        await handle.response(timeout=5)
        followups = await handle.wait_for_followups(1)
        await self.runtime.drain()
        return followups[0]

    async def command(self, who: Author, text: str, room: ChannelRef = FORUM,
                      admin: bool = False) -> str:
        """A console command typed by ``who`` in ``room``; the bot's answer."""
        assert self.console is not None
        name, _, args = text.lstrip("/").partition(" ")
        thread = self.console.thread_of_room.get(room.chat_id)
        ctx = CommandContext(who, ChannelRef(room.platform, room.chat_id, thread),
                             platform_admin=admin)
        answer = await run_command(self.runtime.core, ctx, name, args)
        await self.runtime.drain()
        return answer

    async def say(self, who: Author, text: str, room: ChannelRef = FORUM,
                  reply_to: str | None = None) -> tuple[Shown, ReceiveOutcome]:
        """A console post by ``who`` in ``room``, delivered everywhere before returning."""
        assert self.console is not None
        shown, outcome = await self.console.say(room.chat_id, who, text, reply_to=reply_to)
        await self.runtime.drain()
        return shown, outcome

    # ---- looking --------------------------------------------------------------------

    def room_mirrors(self, room: ChannelRef) -> list[Shown]:
        """Post copies the bridge showed in a console room (not the bot's own notices)."""
        assert self.console is not None
        return [s for s in self.console.visible(room.chat_id) if " · " in s.author]

    def mirrors(self, channel_id: str) -> list[dict[str, Any]]:
        """Messages the bot's webhook posted in a Discord channel or thread."""
        assert self.dc is not None
        return [m for m in self.dc.channel_messages(channel_id) if m.get("webhook_id")]

    def discord_mirrors(self) -> list[dict[str, Any]]:
        """Copies posted in the first topic's Discord thread."""
        return self.mirrors(self.thread["id"])

    def discord_texts(self) -> list[str]:
        """Everything in the first topic's Discord thread, in order."""
        assert self.dc is not None
        threads = self.dc.threads(self.channel["id"])
        return [m["content"] for m in self.dc.channel_messages(threads[0]["id"])] if threads else []

    def bot_messages(self, chat: dict[str, Any] | None = None,
                     thread_id: int | None = None) -> list[dict[str, Any]]:
        """The bot's text messages still in a Telegram chat (the group by default), in order."""
        assert self.tg is not None
        chat = chat or self.group
        return [m for m in self.tg.chat_messages(chat["id"], thread_id)
                if m.get("from", {}).get("is_bot") and "text" in m]

    def bot_texts(self, chat: dict[str, Any] | None = None) -> list[str]:
        """The texts of :meth:`bot_messages`."""
        return [m["text"] for m in self.bot_messages(chat)]

    def telegram_mirrors_all(self) -> list[dict[str, Any]]:
        """Every bot message in the group that is not a service message: the pieces of a long
        mirrored post after the first carry no header."""
        assert self.tg is not None
        return [m for m in self.tg.chat_messages(self.group["id"], include_service=False)
                if m.get("from", {}).get("is_bot")]

    def telegram_mirrors(self) -> list[dict[str, Any]]:
        """Copies of Discord posts in the Telegram group."""
        return [m for m in self.bot_messages() if " · Discord · #" in m.get("text", "")]

    def sent(self, chat: dict[str, Any]) -> list[Any]:
        """Successful sendMessage calls the bot made into a Telegram chat, in order."""
        assert self.tg is not None
        return [c for c in self.tg.calls_to("sendMessage")
                if c.params.get("chat_id") == chat["id"] and c.status == 200]

    def message_id_of(self, chat: dict[str, Any], text: str) -> int:
        """The id of the first bot message in ``chat`` whose HTML contains ``text``."""
        return next(c.response["result"]["message_id"] for c in self.sent(chat)
                    if text in c.params["text"])

    def config_toml(self, database: Path | str, *, tokens: bool = False, **sections: str) -> str:
        """This world as a bridgebot.toml; the bot's tokens go in the environment
        (:meth:`environment`) unless ``tokens``."""
        lines = [f'database = "{database}"', ""]
        if self.tg is not None:
            lines += ["[telegram]", f'base_url = "{self.tg.url}"']
            lines += [f'token = "{self.tokens["telegram"]}"'] if tokens else []
            lines.append("")
        if self.dc is not None:
            lines += ["[discord]", f'api_base_url = "{self.dc.api_base}"',
                      f'guilds = [{self.guild["id"]}]']
            lines += [f'token = "{self.tokens["discord"]}"'] if tokens else []
            lines.append("")
        for name, body in sections.items():
            lines += [f"[{name}]", body, ""]
        tg_chats = [str(self.places[p]["id"]) for p in ("forum", "group") if p in self.places]
        dc_channels = [self.places[p]["id"] for p in ("channel", "forum_channel")
                       if p in self.places]
        lines += ["[[bridges]]", 'name = "allies"']
        if tg_chats:
            lines.append(f"telegram_chats = [{', '.join(tg_chats)}]")
        if dc_channels:
            lines.append(f"discord_channels = [{', '.join(dc_channels)}]")
        return "\n".join(lines) + "\n"

    def environment(self) -> dict[str, str]:
        """The bot's tokens as the environment variables bridgebot reads."""
        env = {}
        if "telegram" in self.tokens:
            env["BRIDGEBOT_TELEGRAM__TOKEN"] = self.tokens["telegram"]
        if "discord" in self.tokens:
            env["BRIDGEBOT_DISCORD__TOKEN"] = self.tokens["discord"]
        return env


@contextlib.asynccontextmanager
async def allies(
    tmp_path: Path,
    *,
    telegram: Sequence[str] = ("group",),
    discord: Sequence[str] = ("channel",),
    console: Sequence[str] = (),
    authors: str = "display_name",
    retention_days: int | None = None,
    single_topic_posts: bool = True,
    chat_languages: Mapping[str, str] | None = None,
    app_languages: Mapping[str, str] | None = None,
    bot_rights: dict[str, bool] | None = None,
    clock: Clock | None = None,
    schedule_recheck: float | None = None,
    rate_limits: bool = False,
    relay_backoff: Backoff = QUICK_BACKOFF,
    open_topic: bool = False,
    start: bool = True,
    database: Path | str | None = None,
    console_adapter: ConsoleAdapter | None = None,
    telegram_options: Mapping[str, Any] | None = None,
    adapter_limits: Mapping[str, PlatformLimits] | None = None,
    files_dir: Path | None = None,
) -> AsyncIterator[World]:
    """The "allies" bridge over the places named (see the module's docstring).

    ``authors`` and ``retention_days`` are the bridge's privacy rules; ``single_topic_posts``
    its rule for messages replying to nothing in a plain group; ``chat_languages``
    maps a place name to the language of what the bot writes there; ``app_languages`` maps
    a person to their Telegram app's language; ``bot_rights`` are the bot's admin rights
    in the Telegram group. ``rate_limits`` turns on the fakes' flood control and the
    adapters' budgets. With ``start=False`` nothing runs in process (for tests that start
    bridgebot as a command from :meth:`World.config_toml`). ``adapter_limits`` gives a
    platform's adapter its own send budget (a slow one, so that bursts are combined).
    ``files_dir`` is the files_dir setting (where posts' files are kept).
    """
    async with contextlib.AsyncExitStack() as stack:
        tg = dc = None
        if telegram:
            tg = await stack.enter_async_context(FakeTelegram(enforce_rate_limits=rate_limits))
        if discord:
            dc = await stack.enter_async_context(
                FakeDiscord(heartbeat_interval_ms=500, enforce_rate_limits=rate_limits))
            stack.callback(reset_api_base)
        people = {name: Person(name) for name in CAST}
        places: dict[str, dict[str, Any]] = {}
        channels: list[ChannelRef] = []
        tokens: dict[str, str] = {}
        if tg is not None:
            tokens["telegram"] = tg.add_bot(username="bridgebot_test_bot", first_name="Bridge Bot")
            for name, role in CAST.items():
                language = (app_languages or {}).get(name)
                people[name].tg = tg.add_user(role.first_name, role.last_name,
                                              username=role.telegram_username,
                                              **({"language_code": language} if language else {}))
            kristin = people["kristin"].tg
            if "forum" in telegram:
                places["forum"] = tg.add_chat("Allies forum", is_forum=True, owner=kristin)
            if "group" in telegram:
                places["group"] = tg.add_chat("Allies", owner=kristin, bot_rights=bot_rights)
            channels += [ChannelRef("telegram", str(places[p]["id"]))
                         for p in ("forum", "group") if p in places]
        if dc is not None:
            tokens["discord"] = dc.add_bot("bridgebot")
            guild = places["guild"] = dc.add_guild("New Tactics")
            facilitators = dc.add_role(guild["id"], "Facilitator", Permissions.MANAGE_THREADS)
            for name, role in CAST.items():
                people[name].dc = dc.add_member(
                    guild["id"], role.discord_username, global_name=role.discord_display_name,
                    roles=[facilitators["id"]] if role.facilitator else [])
            if "channel" in discord:
                places["channel"] = dc.add_text_channel(guild["id"], "allies")
            if "forum" in discord:
                places["forum_channel"] = dc.add_forum_channel(guild["id"], "discussions")
            channels += [ChannelRef("discord", places[p]["id"])
                         for p in ("channel", "forum_channel") if p in places]
        channels += [ChannelRef("console", room) for room in console]
        languages = {ref: chat_languages[place] for place, ref in _refs(places).items()
                     if chat_languages and place in chat_languages}
        bridge = Bridge("allies", tuple(channels), authors=authors, retention_days=retention_days,
                        single_topic_posts=single_topic_posts,
                        chat_languages=languages)
        options: dict[str, Any] = {"relay_backoff": relay_backoff}
        if clock is not None:
            options["clock"] = clock
        if schedule_recheck is not None:
            options["schedule_recheck"] = schedule_recheck
        if files_dir is not None:
            options["files_dir"] = files_dir
        if console:
            options["facilitators"] = [("console", FACILITATOR.user_id)]
        runtime = Runtime(database or tmp_path / "bridgebot.sqlite3", [bridge], **options)
        adapter = None
        if console:
            adapter = console_adapter or ConsoleAdapter()
            runtime.add_adapter(adapter)
        if tg is not None:
            runtime.add_adapter(telegram_adapter(
                tg, tokens["telegram"],
                limits=(adapter_limits or {}).get("telegram",
                                                  None if rate_limits else TELEGRAM_UNLIMITED),
                **(telegram_options or {})))
        if dc is not None:
            runtime.add_adapter(discord_adapter(
                dc, tokens["discord"], places["guild"]["id"],
                limits=(adapter_limits or {}).get("discord",
                                                  None if rate_limits else DISCORD_UNLIMITED)))
        world = World(runtime, clock, tg, dc, adapter, people, places, bridge, tokens)
        if start:
            await runtime.start()
            stack.push_async_callback(runtime.stop)
            if open_topic:
                await world.open_topic()
        yield world


def _refs(places: dict[str, dict[str, Any]]) -> dict[str, ChannelRef]:
    platform = {"forum": "telegram", "group": "telegram", "channel": "discord",
                "forum_channel": "discord"}
    return {name: ChannelRef(platform[name], str(place["id"]))
            for name, place in places.items() if name in platform}


async def started_rooms(database: Path | str, *, rooms: Sequence[str] = ("forum", "lounge"),
                        adapter: ConsoleAdapter | None = None, root: Path | None = None,
                        **options: Any) -> World:
    """Console rooms whose runtime the test stops (and starts again over the same database)
    itself, as restart tests do; ``options`` are :func:`allies`'s. ``root``: the world's
    folder (the SQLite file's folder when not given; needed for a PostgreSQL address)."""
    if root is None:
        assert isinstance(database, Path), "a PostgreSQL world needs its root folder"
        root = database.parent
    async with allies(root, telegram=(), discord=(), console=rooms, database=database,
                      console_adapter=adapter, start=False, **options) as world:
        pass  # a console world that was not started holds nothing to release
    await world.runtime.start()
    return world
