"""``bridgebot demo``: the seed discussion across Telegram and Discord, offline, in seconds.

Everything real runs: the Telegram adapter (python-telegram-bot) and the Discord
adapter (discord.py), the core, the relay and a fresh SQLite file. Only the platforms
are the sandbox fakes on 127.0.0.1, so a newcomer sees the whole bridge without any
bot token. The people of ``allies.toml`` act through the fakes' driver methods
(a Telegram user writes, a Discord member runs a slash command) and what each
platform then shows is printed from the fakes' own state.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bridgebot.adapters.discord.endpoint import reset_api_base
from bridgebot.adapters.registry import display_name
from bridgebot.core.export import load_archive, to_html
from bridgebot.core.models import ChannelRef
from bridgebot.core.service import Bridge
from bridgebot.demo.matrix import ROOM_NAME, MatrixRoom, synapse_missing, wants_matrix
from bridgebot.demo.script import ScriptedPost, SeedScript, demo_photo, load_seed
from bridgebot.demo.transcript import Transcript
from bridgebot.runtime import Runtime
from bridgebot.sandbox.clients import sandbox
from bridgebot.sandbox.discord import FakeDiscord, Permissions
from bridgebot.sandbox.discord import state as discord_state
from bridgebot.sandbox.telegram import FakeTelegram

DATABASE = "bridgebot.sqlite3"
BRIDGE = "allies"
TG_TITLE = "New Tactics · Allies"
DC_CHANNEL = "allies"
# Discord members with Nitro may send 4000 characters; two seed comments written on
# Discord are longer than the 2000 everyone else gets.
NITRO_MESSAGE_LENGTH = 4000
WAIT = 15.0

Out = Callable[[str], None]


class DemoError(Exception):
    """The demo cannot start (e.g. its folder already holds a database)."""


@dataclass
class DemoResult:
    topic_id: int
    status: str
    html: Path
    database: Path
    seconds: float


@contextlib.contextmanager
def _nitro_members() -> Iterator[None]:
    """Let the demo's Discord members send Nitro-length messages, as real ones may."""
    before = discord_state.MAX_CONTENT_LENGTH
    discord_state.MAX_CONTENT_LENGTH = NITRO_MESSAGE_LENGTH
    try:
        yield
    finally:
        discord_state.MAX_CONTENT_LENGTH = before


def _username(name: str) -> str:
    """A Discord username (lowercase letters, digits, _) for a display name."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:32] or "member"


class Demo:
    """The sandbox world of the seed discussion and the people acting in it."""

    def __init__(self, tg: FakeTelegram, dc: FakeDiscord, seed: SeedScript, data: Path,
                 out: Out, matrix: MatrixRoom | None = None) -> None:
        self.tg, self.dc, self.seed, self.data, self.out = tg, dc, seed, data, out
        self.tg_token = tg.add_bot(username="bridgebot_demo_bot", first_name="Bridge Bot")
        self.tg_chat = tg.add_chat(TG_TITLE, kind="supergroup")
        self.dc_token = dc.add_bot("bridgebot")
        self.guild = dc.add_guild("New Tactics")
        self.channel = dc.add_text_channel(self.guild["id"], DC_CHANNEL)
        facilitators = dc.add_role(self.guild["id"], "Facilitator", Permissions.MANAGE_THREADS)
        self.tg_users: dict[str, dict] = {}
        self.dc_members: dict[str, dict] = {}
        people = [(p.author, p.platform) for p in [*seed.posts, seed.late_reply]]
        people.insert(0, (seed.facilitator, seed.facilitator_platform))
        for name, platform in people:
            if platform == "telegram" and name not in self.tg_users:
                self.tg_users[name] = tg.add_user(name)
            elif platform == "discord" and name not in self.dc_members:
                roles = [facilitators["id"]] if name == seed.facilitator else []
                self.dc_members[name] = dc.add_member(self.guild["id"], _username(name),
                                                      global_name=name, roles=roles)
        if seed.facilitator_platform == "telegram":
            tg.set_member(self.tg_chat["id"], self.tg_users[seed.facilitator]["id"],
                          "administrator")
        self.tg_ref = ChannelRef("telegram", str(self.tg_chat["id"]))
        self.dc_ref = ChannelRef("discord", self.channel["id"])
        places = (self.tg_ref, self.dc_ref, *([matrix.ref] if matrix else []))
        self.runtime = Runtime(data / DATABASE, [Bridge(BRIDGE, places)])
        self.runtime.add_adapter(sandbox("telegram").adapter(tg, self.tg_token))
        self.runtime.add_adapter(sandbox("discord").adapter(dc, self.dc_token, self.guild["id"]))
        if matrix is not None:
            self.runtime.add_adapter(matrix.adapter())
        self.transcript = Transcript(tg, dc, self.tg_chat["id"], TG_TITLE, self.channel["id"],
                                     DC_CHANNEL)
        self.topic_id = 0

    # -- showing -------------------------------------------------------------------

    def step(self, what: str) -> None:
        self.out(f"\n▶ {what}")

    def show(self) -> None:
        for seen in self.transcript.news():
            self.out(seen.line())

    # -- waiting -------------------------------------------------------------------

    async def settle(self, until: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Wait until both platforms' events were handled and every delivery made."""
        async with asyncio.timeout(WAIT):
            while True:
                await self.tg.wait_for(lambda: not self.tg.pending_updates(), timeout=WAIT)
                await self.runtime.drain(WAIT)
                if until is None or await until():
                    break
                await asyncio.sleep(0.02)
            await self.runtime.drain(WAIT)

    async def _posts_reach(self, count: int) -> None:
        async def enough() -> bool:
            return len(await self.runtime.store.posts(self.topic_id)) >= count
        await self.settle(enough)

    # -- facilitator ---------------------------------------------------------------

    async def facilitate(self, command: str, where: str | None, **options: str) -> None:
        """Run a facilitator command on the facilitator's platform and show the answer."""
        name = self.seed.facilitator
        if self.seed.facilitator_platform == "discord":
            member = self.dc_members[name]
            channel = where or self.channel["id"]
            handle = self.dc.invoke_command(member, self.guild["id"], channel, command, options)
            await handle.response(timeout=WAIT)
            answer = (await handle.wait_for_followups(1, timeout=WAIT))[0]["content"]
            await self.settle()
            self.out(f"  {'Discord':<8} │ only {name} sees │ bridgebot: {answer}")
        else:
            text = f"/{command} " + "\n".join(v for v in options.values() if v)
            reply_to = int(where) if where else None
            self.tg.user_sends(self.tg_chat["id"], self.tg_users[name], text.strip(),
                               reply_to=reply_to)
            await self.settle()
        self.show()

    async def _place(self) -> str | None:
        """Where facilitator commands go after the opening: the thread, or the topic message."""
        ref = self.dc_ref if self.seed.facilitator_platform == "discord" else self.tg_ref
        thread, root = await self.runtime.store.topic_place(self.topic_id, ref)
        return thread or root

    # -- participants --------------------------------------------------------------

    async def _message_on(self, platform: str, *, post_id: int | None = None,
                          prompt_id: int | None = None) -> str:
        """The message a person on ``platform`` answers: the original or its mirror there."""
        ref = self.tg_ref if platform == "telegram" else self.dc_ref
        ids = await self.runtime.store.messages_on(ref, post_id=post_id, prompt_id=prompt_id)
        if not ids:
            raise RuntimeError(f"nothing to reply to on {platform} (post {post_id}, prompt {prompt_id})")
        return ids[0]

    async def write(self, scripted: ScriptedPost, reply_to: str) -> None:
        if scripted.platform == "telegram" and scripted.photo:
            self.tg.user_sends_photo(self.tg_chat["id"], self.tg_users[scripted.author],
                                     scripted.message, data=demo_photo(scripted.subject),
                                     reply_to=int(reply_to))
        elif scripted.platform == "telegram":
            self.tg.user_sends(self.tg_chat["id"], self.tg_users[scripted.author],
                               scripted.message, reply_to=int(reply_to))
        else:
            thread, _ = await self.runtime.store.topic_place(self.topic_id, self.dc_ref)
            files = [(scripted.photo, demo_photo(scripted.subject), "image/jpeg")] \
                if scripted.photo else []
            self.dc.user_sends(thread or self.channel["id"], self.dc_members[scripted.author],
                               scripted.message, reply_to=reply_to, attachments=files)

    # -- the discussion ------------------------------------------------------------

    async def replay(self) -> str:
        """The whole seed discussion; returns the status line a participant gets at the end."""
        seed = self.seed
        where = display_name(seed.facilitator_platform)
        self.step(f"{seed.facilitator} opens the topic from {where} with /newtopic")
        await self.facilitate("newtopic", None, title=seed.title, intro=seed.introduction)
        topic = await self.runtime.store.latest_topic(BRIDGE)
        assert topic is not None, "the topic did not open"
        self.topic_id = topic.id
        place = await self._place()
        for number, question in enumerate(seed.questions, 1):
            self.step(f"{seed.facilitator} adds guiding question {number} with /prompt")
            await self.facilitate("prompt", place, question=question)
        prompts = await self.runtime.store.prompts(self.topic_id)
        post_ids: list[int] = []
        for index, scripted in enumerate(seed.posts):
            platform = display_name(scripted.platform)
            if scripted.reply_to is not None:
                parent = seed.posts[scripted.reply_to - 1]
                what = (f"replying to {parent.author}'s comment, written on "
                        f"{display_name(parent.platform)}")
                reply_to = await self._message_on(scripted.platform,
                                                  post_id=post_ids[scripted.reply_to - 1])
            else:
                what = f"answering question {scripted.prompt}"
                reply_to = await self._message_on(scripted.platform,
                                                  prompt_id=prompts[(scripted.prompt or 1) - 1].id)
            self.step(f"{scripted.author} writes from {platform}, {what}")
            await self.write(scripted, reply_to)
            await self._posts_reach(index + 2)  # the topic's opening is post 1
            post_ids.append((await self.runtime.store.posts(self.topic_id))[-1].id)
            self.show()
        self.step(f"{seed.facilitator} locks the topic with /lock")
        await self.facilitate("lock", place)
        return await self._after_the_lock(prompts[0].id)

    async def _after_the_lock(self, first_prompt: int) -> str:
        late = self.seed.late_reply
        self.step(f"{late.author} replies from Telegram after the lock: refused")
        reply_to = await self._message_on("telegram", prompt_id=first_prompt)
        sent = self.tg.user_sends(self.tg_chat["id"], self.tg_users[late.author], late.text,
                                  reply_to=int(reply_to))
        await self._bot_answer(sent["message_id"])
        self.show()
        reader = self.seed.posts[0]
        self.step(f"{reader.author} asks /status on Telegram")
        _, root = await self.runtime.store.topic_place(self.topic_id, self.tg_ref)
        sent = self.tg.user_sends(self.tg_chat["id"], self.tg_users[reader.author], "/status",
                                  reply_to=int(root) if root else None)
        answer = await self._bot_answer(sent["message_id"])
        self.show()
        return answer.splitlines()[-1] if answer else "(no answer)"

    async def _bot_answer(self, message_id: int) -> str:
        """The bot's answer to one Telegram message, once it has been sent."""
        def answer() -> str | None:
            for message in self.tg.chat_messages(self.tg_chat["id"]):
                replied = message.get("reply_to_message") or {}
                if message.get("from", {}).get("is_bot") and replied.get("message_id") == message_id:
                    return message.get("text", "")
            return None

        found = await self.tg.wait_for(answer, timeout=WAIT)
        await self.settle()
        return str(found)

    # -- results -------------------------------------------------------------------

    async def export(self) -> Path:
        archive = await load_archive(self.runtime.store, self.topic_id, self.runtime.platforms)
        assert archive is not None
        html = self.data / f"topic-{self.topic_id}.html"
        await asyncio.to_thread(html.write_text, to_html(archive), encoding="utf-8")
        for name, seen in (("telegram", self.transcript.telegram),
                           ("discord", self.transcript.discord)):
            text = "\n".join(s.full() for s in seen)
            await asyncio.to_thread((self.data / f"{name}-transcript.txt").write_text, text,
                                    encoding="utf-8")
        return html


def prepare(data: Path | None) -> Path:
    """The demo's folder: ``data`` (which must not hold a database yet) or a new temp dir."""
    if data is None:
        import tempfile

        return Path(tempfile.mkdtemp(prefix="bridgebot-demo-"))
    if (data / DATABASE).exists():
        raise DemoError(f"{data / DATABASE} already exists: the demo needs a fresh database. "
                        "Pick an empty folder with --data, or delete that file.")
    if data.exists() and not data.is_dir():
        raise DemoError(f"{data} is not a folder; give --data a folder to write into.")
    data.mkdir(parents=True, exist_ok=True)
    return data.resolve()


async def run_demo(data: Path | None = None, *, keep_running: bool = False, out: Out = print,
                   seed: SeedScript | None = None, stop: asyncio.Event | None = None,
                   matrix: bool | None = None) -> DemoResult:
    """Replay the seed discussion across the sandbox platforms and export it.

    With ``keep_running`` the sandbox stays up after the replay until ``stop`` is set
    (or Ctrl-C / SIGTERM), so the database and the servers can be looked at. With
    ``matrix`` a local Synapse joins in (see :mod:`bridgebot.demo.matrix`); without
    Synapse installed that is a :class:`DemoError` saying how to get it. Unsaid (None),
    Matrix joins in exactly when Synapse is installed.
    """
    started = time.monotonic()
    matrix = wants_matrix(matrix)
    if matrix and (missing := synapse_missing()):
        raise DemoError(missing)
    folder = prepare(data)
    seed = seed or load_seed()
    async with contextlib.AsyncExitStack() as stack:
        room = None
        if matrix:
            room = MatrixRoom(folder)
            stack.push_async_callback(room.close)
            await room.start()
        return await _run(folder, seed, out, keep_running, stop, started, room)
    raise AssertionError("unreachable")  # the stack returns or raises above


async def _run(folder: Path, seed: SeedScript, out: Out, keep_running: bool,
               stop: asyncio.Event | None, started: float,
               room: MatrixRoom | None) -> DemoResult:
    async with (sandbox("telegram").server() as tg,
                sandbox("discord").server(heartbeat_interval_ms=5000) as dc):
        demo = Demo(tg, dc, seed, folder, out, room)
        out(f"bridgebot demo: “{seed.title}”")
        out(f"  Telegram Bot API sandbox  {tg.url}   group “{TG_TITLE}”")
        out(f"  Discord API sandbox       {dc.api_base}   server “New Tactics”, #{DC_CHANNEL}")
        if room is not None:
            out(f"  Matrix homeserver         {room.url}   room “{ROOM_NAME}” {room.room} (Synapse)")
        out(f"  database                  {folder / DATABASE}")
        try:
            with _nitro_members():
                await demo.runtime.start()
                try:
                    status = await demo.replay()
                    html = await demo.export()
                    if room is not None:
                        await _show_matrix(out, room, folder)
                    result = DemoResult(demo.topic_id, status, html, folder / DATABASE,
                                        time.monotonic() - started)
                    _summary(out, result, folder)
                    if keep_running:
                        _how_to_connect(out, demo, result, folder)
                        await _wait_for_stop(stop)
                finally:
                    await demo.runtime.stop()
        finally:
            reset_api_base()
    return result


async def _show_matrix(out: Out, room: MatrixRoom, folder: Path) -> None:
    """The Matrix room as its reader's client shows it, read back from Synapse."""
    seen = await room.seen()
    out(f"\n── Matrix room “{ROOM_NAME}”, as a reader sees it ──")
    for message in seen:
        out(message.line())
    await asyncio.to_thread((folder / "matrix-transcript.txt").write_text,
                            "\n".join(m.full() for m in seen), encoding="utf-8")


def _summary(out: Out, result: DemoResult, folder: Path) -> None:
    out("\n── Done ──")
    out(f"Status: {result.status}")
    out(f"HTML export: {result.html}")
    out(f"Transcripts: {folder / 'telegram-transcript.txt'}, {folder / 'discord-transcript.txt'}")
    out(f"Finished in {result.seconds:.1f} s.")


def _how_to_connect(out: Out, demo: Demo, result: DemoResult, folder: Path) -> None:
    """Everything needed to point a client (or another bridgebot) at the sandbox: its
    addresses and its bots' tokens. They are the sandbox's own, valid nowhere else."""
    tg, dc = demo.tg, demo.dc
    config = folder / "bridgebot-demo.toml"
    config.write_text(f'database = "{result.database}"\n', encoding="utf-8")
    out("\nThe sandbox keeps running (Ctrl-C stops it):")
    out(f"  Telegram Bot API   {tg.url}   bot token {demo.tg_token}")
    out(f"                     e.g. {tg.url}/bot{demo.tg_token}/getMe")
    out(f"  Discord REST API   {dc.api_base}   gateway {dc.gateway_url}")
    out(f"                     bot token {demo.dc_token}   server {demo.guild['id']}, "
        f"#{DC_CHANNEL} {demo.channel['id']}")
    out("  (sandbox tokens: they open these local fakes and nothing else)")
    out(f"  database           {result.database}")
    out(f"  archive            {result.html.as_uri()}  (open it in a browser)")
    out(f"  list topics        bridgebot --config {config} topics")
    out(f"  export again       bridgebot --config {config} export {result.topic_id} --format markdown")


async def _wait_for_stop(stop: asyncio.Event | None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
