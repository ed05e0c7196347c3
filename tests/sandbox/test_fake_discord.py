"""The fake Discord must satisfy the real, unmodified discord.py client.

Each test runs discord.py 2.x against :class:`FakeDiscord` on 127.0.0.1, pointed
there only through ``use_api_base`` / ``use_gateway_from_api``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from bridgebot.adapters.discord.endpoint import (
    reset_api_base,
    use_api_base,
    use_gateway_from_api,
)
from bridgebot.sandbox.discord import (
    FakeDiscord,
    Permissions,
    RateLimitConfig,
    RateLimitRule,
)
from bridgebot.sandbox.discord.core import on_shard


class RecordingClient(discord.Client):
    """A discord.py client that records what the gateway delivers to it."""

    def __init__(self, *, message_content: bool = True, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE
        # before on_ready (2 s by default). ``options``: shard_id and shard_count.
        super().__init__(intents=intents, guild_ready_timeout=0.05, **options)
        self.tree = app_commands.CommandTree(self)
        self.messages: list[discord.Message] = []
        self.edits: list[tuple[discord.Message, discord.Message]] = []
        self.raw_deletes: list[discord.RawMessageDeleteEvent] = []
        self.threads_created: list[discord.Thread] = []
        self.app_command_errors: list[Exception] = []

        @self.tree.error
        async def on_app_command_error(
            interaction: discord.Interaction, error: app_commands.AppCommandError
        ) -> None:
            self.app_command_errors.append(error)

    async def setup_hook(self) -> None:
        await use_gateway_from_api(self)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py sleeps 5 s before every non-initial IDENTIFY (Discord's identify
        # spacing); the fake does not enforce that, so tests skip the wait.
        return None

    async def on_message(self, message: discord.Message) -> None:
        self.messages.append(message)

    async def on_message_edit(self, before: discord.Message, after: discord.Message) -> None:
        self.edits.append((before, after))

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        self.raw_deletes.append(payload)

    async def on_thread_create(self, thread: discord.Thread) -> None:
        self.threads_created.append(thread)

    def contents(self) -> list[str]:
        return [m.content for m in self.messages]


@dataclass
class World:
    dc: FakeDiscord
    token: str
    guild: dict[str, Any]
    general: dict[str, Any]
    forum: dict[str, Any]
    alice: dict[str, Any]

    @property
    def guild_id(self) -> int:
        return int(self.guild["id"])


@contextlib.asynccontextmanager
async def fake_world(**options: Any) -> AsyncIterator[World]:
    async with FakeDiscord(heartbeat_interval_ms=500, **options) as dc:
        token = dc.add_bot("bridgebot")
        guild = dc.add_guild("Town Hall")
        general = dc.add_text_channel(guild["id"], "general")
        forum = dc.add_forum_channel(guild["id"], "discussions", tags=["open", "closed"])
        alice = dc.add_member(guild["id"], "alice", global_name="Alice")
        use_api_base(dc.api_base)
        try:
            yield World(dc, token, guild, general, forum, alice)
        finally:
            reset_api_base()


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with fake_world() as w:
        yield w


@contextlib.asynccontextmanager
async def running(client: discord.Client, token: str) -> AsyncIterator[discord.Client]:
    await client.login(token)
    task = asyncio.create_task(client.connect())
    try:
        await asyncio.wait_for(client.wait_until_ready(), 5)
        yield client
    finally:
        await client.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)


async def raw(
    w: World, method: str, path: str, *, token: str | None = None, **kwargs: Any
) -> tuple[int, Any, Any]:
    """A plain HTTP request, for checking exact wire bodies and headers."""
    headers = {"Authorization": f"Bot {token or w.token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, w.dc.api_base + path, headers=headers, **kwargs) as resp,
    ):
        body = await resp.json() if resp.status != 204 else None
        return resp.status, body, resp.headers


# ------------------------------------------------------------- connection


async def test_client_discovers_gateway_via_gateway_bot_and_sees_guild_channels(
    world: World,
) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        paths = [c.path for c in world.dc.calls]
        assert paths[:3] == ["/users/@me", "/oauth2/applications/@me", "/gateway/bot"]
        guild = client.get_guild(world.guild_id)
        assert guild is not None and guild.name == "Town Hall"
        general = guild.get_channel(int(world.general["id"]))
        forum = guild.get_channel(int(world.forum["id"]))
        assert isinstance(general, discord.TextChannel)
        assert isinstance(forum, discord.ForumChannel)
        assert [t.name for t in forum.available_tags] == ["open", "closed"]
        assert guild.me is not None and [r.name for r in guild.me.roles] == ["@everyone", "bridgebot"]
        assert general.permissions_for(guild.me).manage_webhooks
        assert client.application_id == int(world.dc.application_id())
        assert world.dc.gateway_connected and world.dc.stats.identifies == 1


async def test_identify_with_a_privileged_intent_the_portal_disallows_is_refused() -> None:
    async with FakeDiscord() as dc:
        token = dc.add_bot("strict", privileged_intents=0)
        dc.add_guild("g")
        use_api_base(dc.api_base, gateway_url=dc.gateway_url)
        try:
            client = discord.Client(intents=discord.Intents.all())
            await client.login(token)
            with pytest.raises(discord.PrivilegedIntentsRequired):
                await asyncio.wait_for(client.connect(), 5)
            await client.close()
        finally:
            reset_api_base()


async def test_two_shards_each_receive_only_their_guilds_events_and_dms_go_to_shard_0() -> None:
    async with FakeDiscord(heartbeat_interval_ms=500) as dc:
        token = dc.add_bot("bridgebot")
        first = dc.add_guild("On shard 0", shard=(0, 2))
        second = dc.add_guild("On shard 1", shard=(1, 2))
        assert [(int(g["id"]) >> 22) % 2 for g in (first, second)] == [0, 1]
        rooms = [dc.add_text_channel(g["id"], "general") for g in (first, second)]
        people = [dc.add_member(g["id"], "alice") for g in (first, second)]
        use_api_base(dc.api_base)
        try:
            zero = RecordingClient(shard_id=0, shard_count=2)
            one = RecordingClient(shard_id=1, shard_count=2)
            async with running(zero, token), running(one, token):
                assert [g.id for g in zero.guilds] == [int(first["id"])]
                assert [g.id for g in one.guilds] == [int(second["id"])]
                dc.user_sends(rooms[1]["id"], people[1], "in the second guild")
                dc.user_sends(rooms[0]["id"], people[0], "in the first guild")
                await dc.wait_for(lambda: zero.messages and one.messages)
                await asyncio.sleep(0.1)  # anything misrouted would have arrived too
                assert zero.contents() == ["in the first guild"]
                assert one.contents() == ["in the second guild"]
            calls = dc.calls_to("GET", "^/gateway/bot$")
            assert calls, "discord.py asked where the gateway is"
        finally:
            reset_api_base()
    assert on_shard([0, 2], None) and not on_shard([1, 2], None), "a DM goes to shard 0"


@pytest.mark.parametrize("shard", [[2, 2], [-1, 2], [0, 0], [0], "0,1"])
async def test_identify_with_a_shard_outside_the_count_is_closed_with_4010(shard: Any) -> None:
    async with FakeDiscord() as dc:
        token = dc.add_bot("bridgebot")
        dc.add_guild("g")
        use_api_base(dc.api_base, gateway_url=dc.gateway_url)
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(dc.gateway_url) as ws:
                hello = await ws.receive_json()
                assert hello["op"] == 10
                await ws.send_json({"op": 2, "d": {"token": token, "intents": 513,
                                                   "properties": {}, "shard": shard}})
                closed = await ws.receive()
                assert (closed.type, ws.close_code) == (aiohttp.WSMsgType.CLOSE, 4010)
            client = discord.Client(intents=discord.Intents.default(), shard_id=2, shard_count=2)
            await client.login(token)
            with pytest.raises(discord.ConnectionClosed) as refused:
                await asyncio.wait_for(client.connect(), 5)
            assert refused.value.code == 4010
            await client.close()
        finally:
            reset_api_base()


async def test_a_session_with_too_many_guilds_must_shard_4011() -> None:
    async with FakeDiscord(max_guilds_per_shard=1) as dc:
        token = dc.add_bot("bridgebot")
        dc.add_guild("one", shard=(0, 2))
        dc.add_guild("two", shard=(1, 2))
        use_api_base(dc.api_base, gateway_url=dc.gateway_url)
        try:
            client = discord.Client(intents=discord.Intents.default())
            await client.login(token)
            with pytest.raises(discord.ConnectionClosed) as refused:
                await asyncio.wait_for(client.connect(), 5)
            assert refused.value.code == 4011
            await client.close()
            sharded = RecordingClient(shard_id=1, shard_count=2)
            async with running(sharded, token):
                assert [g.name for g in sharded.guilds] == ["two"], "one guild per shard is fine"
        finally:
            reset_api_base()


async def test_wrong_token_is_unauthorized_and_discord_py_reports_login_failure(
    world: World,
) -> None:
    status, body, _ = await raw(world, "GET", "/users/@me", token="not-a-token")
    assert (status, body) == (401, {"message": "401: Unauthorized", "code": 0})
    client = discord.Client(intents=discord.Intents.default())
    with pytest.raises(discord.LoginFailure):
        await client.login("not-a-token")
    await client.close()


# --------------------------------------------------------------- messages


async def test_user_message_reaches_on_message_with_content_and_member_author(
    world: World,
) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        sent = world.dc.user_sends(world.general["id"], world.alice, "hello from Discord")
        await world.dc.wait_for(lambda: client.messages)
        message = client.messages[0]
        assert message.id == int(sent["id"])
        assert message.content == "hello from Discord"
        assert isinstance(message.author, discord.Member)
        assert message.author.display_name == "Alice"
        assert message.webhook_id is None


async def test_without_message_content_intent_only_mentions_carry_content(world: World) -> None:
    client = RecordingClient(message_content=False)
    async with running(client, world.token):
        bot_id = world.dc.bot_user()["id"]
        world.dc.user_sends(world.general["id"], world.alice, "private musing")
        world.dc.user_sends(world.general["id"], world.alice, f"<@{bot_id}> help")
        await world.dc.wait_for(lambda: len(client.messages) == 2)
        assert client.contents() == ["", f"<@{bot_id}> help"]


async def test_user_edit_and_delete_arrive_as_update_and_delete_dispatches(world: World) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        sent = world.dc.user_sends(world.general["id"], world.alice, "frist")
        await world.dc.wait_for(lambda: client.messages)
        world.dc.user_edits(world.general["id"], sent["id"], "first")
        await world.dc.wait_for(lambda: client.edits)
        assert client.edits[0][1].content == "first"
        world.dc.user_deletes(world.general["id"], sent["id"])
        await world.dc.wait_for(lambda: client.raw_deletes)
        assert client.raw_deletes[0].message_id == int(sent["id"])
        assert world.dc.channel_messages(world.general["id"]) == []


async def test_bot_message_without_mentions_is_stored_and_echoed_back(world: World) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        channel = client.get_channel(int(world.general["id"]))
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send(
            f"relayed for <@{world.alice['id']}>", allowed_mentions=discord.AllowedMentions.none()
        )
        stored = world.dc.channel_messages(world.general["id"])
        assert [m["content"] for m in stored] == [f"relayed for <@{world.alice['id']}>"]
        assert stored[0]["mentions"] == []
        call = world.dc.calls_to("POST", r"/channels/\d+/messages$")[-1]
        assert call.json["allowed_mentions"] == {"parse": []}
        await world.dc.wait_for(lambda: client.messages)
        assert client.messages[0].id == sent.id and client.messages[0].author == client.user


async def test_reply_carries_reference_and_history_paginates(world: World) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        first = world.dc.user_sends(world.general["id"], world.alice, "question?")
        for n in range(3):
            world.dc.user_sends(world.general["id"], world.alice, f"filler {n}")
        channel = client.get_channel(int(world.general["id"]))
        assert isinstance(channel, discord.TextChannel)
        original = await channel.fetch_message(int(first["id"]))
        reply = await original.reply("answer", mention_author=False)
        assert reply.reference is not None and reply.reference.message_id == original.id
        assert reply.type is discord.MessageType.reply and reply.mentions == []
        history = [m.content async for m in channel.history(limit=3)]
        assert history == ["answer", "filler 2", "filler 1"]
        older = [m.content async for m in channel.history(limit=10, before=discord.Object(reply.id))]
        assert older == ["filler 2", "filler 1", "filler 0", "question?"]


async def test_repeated_nonce_with_enforce_nonce_returns_the_original_message(
    world: World,
) -> None:
    body = {"content": "once", "nonce": "abc123", "enforce_nonce": True}
    path = f"/channels/{world.general['id']}/messages"
    _, first, _ = await raw(world, "POST", path, json=body)
    _, second, _ = await raw(world, "POST", path, json=body)
    assert first["id"] == second["id"]
    assert len(world.dc.channel_messages(world.general["id"])) == 1


async def test_error_bodies_match_discord(world: World) -> None:
    path = f"/channels/{world.general['id']}/messages"
    status, body, _ = await raw(world, "POST", path, json={"content": "x" * 2001})
    assert status == 400
    assert body == {
        "code": 50035,
        "message": "Invalid Form Body",
        "errors": {
            "content": {
                "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]
            }
        },
    }
    status, body, _ = await raw(world, "GET", f"{path}/123456789012345678")
    assert (status, body) == (404, {"message": "Unknown Message", "code": 10008})
    world.dc.delete_channel(world.general["id"])
    status, body, _ = await raw(world, "POST", path, json={"content": "hi"})
    assert (status, body) == (404, {"message": "Unknown Channel", "code": 10003})
    hidden = world.dc.add_text_channel(world.guild["id"], "mods-only")
    world.dc.set_channel_overwrite(hidden["id"], world.guild["id"], deny=Permissions.VIEW_CHANNEL)
    status, body, _ = await raw(world, "GET", f"/channels/{hidden['id']}")
    assert (status, body) == (403, {"message": "Missing Access", "code": 50001})


# ---------------------------------------------------------------- threads


async def test_forum_post_created_with_create_thread_has_starter_message(world: World) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        forum = client.get_channel(int(world.forum["id"]))
        assert isinstance(forum, discord.ForumChannel)
        created = await forum.create_thread(
            name="Should we meet weekly?",
            content="Opening prompt",
            applied_tags=[forum.available_tags[0]],
        )
        assert created.thread.name == "Should we meet weekly?"
        assert created.message.id == created.thread.id
        (stored,) = world.dc.threads(world.forum["id"])
        assert stored["applied_tags"] == [str(forum.available_tags[0].id)]
        assert [m["content"] for m in world.dc.channel_messages(stored["id"])] == ["Opening prompt"]
        await world.dc.wait_for(lambda: client.threads_created)
        assert client.threads_created[0].id == created.thread.id


async def test_locked_thread_refuses_bot_without_manage_threads(world: World) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        channel = client.get_channel(int(world.general["id"]))
        assert isinstance(channel, discord.TextChannel)
        thread = await channel.create_thread(name="topic", type=discord.ChannelType.public_thread)
        await thread.edit(locked=True)
        assert world.dc.channel(str(thread.id))["thread_metadata"]["locked"] is True
        world.dc.set_bot_permissions(world.guild["id"], Permissions.BOT_DEFAULT & ~Permissions.MANAGE_THREADS)
        with pytest.raises(discord.Forbidden) as error:
            await thread.send("still here?")
        assert error.value.code == 160005


# --------------------------------------------------------------- webhooks


async def test_webhook_send_into_thread_has_webhook_id_username_and_gateway_echo(
    world: World,
) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        channel = client.get_channel(int(world.general["id"]))
        assert isinstance(channel, discord.TextChannel)
        webhook = await channel.create_webhook(name="bridge")
        thread = await channel.create_thread(name="relay", type=discord.ChannelType.public_thread)
        await thread.edit(archived=True)
        sent = await webhook.send(
            "hi from Telegram",
            username="Alice (Telegram)",
            avatar_url="https://example.invalid/a.png",
            thread=thread,
            wait=True,
        )
        assert sent.webhook_id == webhook.id and sent.author.name == "Alice (Telegram)"
        assert sent.channel.id == thread.id
        stored = world.dc.channel_messages(str(thread.id))[-1]
        assert stored["webhook_id"] == str(webhook.id)
        assert stored["author"] == stored["author"] | {"id": str(webhook.id), "bot": True}
        assert world.dc.webhook_avatar_url(stored["id"]) == "https://example.invalid/a.png"
        # Posting into an archived, unlocked thread unarchives it, as Discord does.
        assert world.dc.channel(str(thread.id))["thread_metadata"]["archived"] is False
        await world.dc.wait_for(lambda: [m for m in client.messages if m.webhook_id])
        echo = next(m for m in client.messages if m.webhook_id)
        assert echo.id == sent.id and echo.webhook_id == webhook.id
        assert [w["name"] for w in world.dc.webhooks(world.general["id"])] == ["bridge"]


async def test_webhook_message_in_thread_is_edited_and_deleted_by_id(world: World) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        channel = client.get_channel(int(world.general["id"]))
        assert isinstance(channel, discord.TextChannel)
        webhook = await channel.create_webhook(name="bridge")
        thread = await channel.create_thread(name="relay", type=discord.ChannelType.public_thread)
        sent = await webhook.send("tpyo", username="Bob (Telegram)", thread=thread, wait=True)
        edited = await webhook.edit_message(sent.id, content="typo", thread=thread)
        assert edited.content == "typo"
        await world.dc.wait_for(lambda: client.edits)
        assert client.edits[-1][1].content == "typo"
        with pytest.raises(discord.NotFound):  # without thread_id Discord can't find it
            await webhook.fetch_message(sent.id)
        await webhook.delete_message(sent.id, thread=thread)
        assert world.dc.channel_messages(str(thread.id)) == []


async def test_uploaded_file_becomes_an_attachment_served_by_the_fake(world: World) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        channel = client.get_channel(int(world.general["id"]))
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("see file", file=discord.File(io.BytesIO(b"minutes"), "notes.txt"))
        (attachment,) = sent.attachments
        assert attachment.filename == "notes.txt" and attachment.size == 7
        assert attachment.url.startswith(world.dc.url)
        async with aiohttp.ClientSession() as session, session.get(attachment.url) as resp:
            assert await resp.read() == b"minutes"


async def test_uploads_are_payload_json_and_files_n_parts_named_by_their_attachments_entry(
        world: World) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        channel = client.get_channel(int(world.general["id"]))
        assert isinstance(channel, discord.TextChannel)
        await channel.send("two", files=[discord.File(io.BytesIO(b"a"), "a.txt"),
                                         discord.File(io.BytesIO(b"bb"), "b.txt")])
    [call] = [c for c in world.dc.calls if c.method == "POST" and c.path.endswith("/messages")]
    assert [f["field"] for f in call.json["files"]] == ["files[0]", "files[1]"]
    assert call.json["attachments"] == [{"id": 0, "filename": "a.txt"},
                                        {"id": 1, "filename": "b.txt"}]
    form = aiohttp.FormData()
    form.add_field("payload_json", '{"content": "x", "attachments": '
                   '[{"id": 0, "filename": "renamed.pdf"}]}', content_type="application/json")
    form.add_field("files[0]", b"%PDF", filename="original.pdf",
                   content_type="application/octet-stream")
    status, body, _ = await raw(world, "POST", f"/channels/{world.general['id']}/messages",
                                data=form)
    assert status == 200
    [attachment] = body["attachments"]
    assert {k: attachment[k] for k in ("filename", "size", "content_type")} == {
        "filename": "renamed.pdf", "size": 4, "content_type": "application/pdf"}
    assert {"id", "url", "proxy_url"} <= set(attachment)  # AttachmentResponse's required fields


async def test_user_started_forum_post_reaches_thread_create_and_on_message(
    world: World,
) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        thread = world.dc.user_starts_thread(
            world.forum["id"], world.alice, "Idea: shared notes", content="What if..."
        )
        await world.dc.wait_for(lambda: client.threads_created and client.messages)
        assert client.threads_created[0].id == int(thread["id"])
        assert client.threads_created[0].parent_id == int(world.forum["id"])
        assert client.messages[0].channel.id == int(thread["id"])
        assert client.messages[0].content == "What if..."


async def test_webhook_username_containing_discord_is_rejected(world: World) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        channel = client.get_channel(int(world.general["id"]))
        assert isinstance(channel, discord.TextChannel)
        webhook = await channel.create_webhook(name="bridge")
        with pytest.raises(discord.HTTPException) as error:
            await webhook.send("x", username="Discord Admin", wait=True)
        assert error.value.status == 400 and error.value.code == 50035


async def test_missing_manage_webhooks_gives_forbidden(world: World) -> None:
    world.dc.set_bot_permissions(world.guild["id"], Permissions.BOT_DEFAULT & ~Permissions.MANAGE_WEBHOOKS)
    client = RecordingClient()
    async with running(client, world.token):
        channel = client.get_channel(int(world.general["id"]))
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.Forbidden) as error:
            await channel.create_webhook(name="bridge")
        assert error.value.code == 50013 and error.value.text == "Missing Permissions"
        assert world.dc.webhooks(world.general["id"]) == []


# ---------------------------------------------------------- slash commands


def add_commands(client: RecordingClient, guild_id: int, release: asyncio.Event) -> None:
    guild = discord.Object(guild_id)

    @client.tree.command(name="status", description="Show bridge status", guild=guild)
    @app_commands.describe(verbose="More detail")
    async def status(interaction: discord.Interaction, verbose: bool = False) -> None:
        text = "bridge ok (verbose)" if verbose else "bridge ok"
        await interaction.response.send_message(text, ephemeral=True)

    @client.tree.command(name="close", description="Close the topic", guild=guild)
    @app_commands.default_permissions(manage_threads=True)
    async def close(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.edit_original_response(content="topic closed")
        await interaction.followup.send("archived", ephemeral=True)

    @client.tree.command(name="slow", description="Answers late", guild=guild)
    async def slow(interaction: discord.Interaction) -> None:
        await release.wait()
        await interaction.response.send_message("too late")


async def test_synced_slash_command_is_invoked_and_ephemeral_reply_captured(
    world: World,
) -> None:
    client = RecordingClient()
    add_commands(client, world.guild_id, asyncio.Event())
    async with running(client, world.token):
        synced = await client.tree.sync(guild=discord.Object(world.guild_id))
        assert {c.name for c in synced} == {"status", "close", "slow"}
        registered = {c["name"]: c for c in world.dc.commands(world.guild["id"])}
        assert registered["close"]["default_member_permissions"] == str(Permissions.MANAGE_THREADS)
        handle = world.dc.invoke_command(
            world.alice, world.guild["id"], world.general["id"], "status", {"verbose": True}
        )
        reply = await handle.response(timeout=5)
        assert (reply.type, reply.content, reply.ephemeral) == (4, "bridge ok (verbose)", True)
        assert handle.original is not None and handle.original["flags"] & 64
        assert world.dc.channel_messages(world.general["id"]) == []  # ephemeral: nobody sees it
        with pytest.raises(PermissionError):
            world.dc.invoke_command(world.alice, world.guild["id"], world.general["id"], "close")


async def test_deferred_command_edits_original_and_sends_followup(world: World) -> None:
    moderator_role = world.dc.add_role(world.guild["id"], "mod", Permissions.MANAGE_THREADS)
    mod = world.dc.add_member(world.guild["id"], "mod", roles=[moderator_role["id"]])
    client = RecordingClient()
    add_commands(client, world.guild_id, asyncio.Event())
    async with running(client, world.token):
        await client.tree.sync(guild=discord.Object(world.guild_id))
        handle = world.dc.invoke_command(mod, world.guild["id"], world.general["id"], "close")
        assert (await handle.response()).type == 5
        original = await handle.wait_for_original(lambda m: m["content"] == "topic closed")
        assert original["flags"] & 128 == 0  # no longer "thinking"
        (followup,) = await handle.wait_for_followups(1)
        assert followup["content"] == "archived" and followup["flags"] & 64
        visible = world.dc.channel_messages(world.general["id"])
        assert [m["content"] for m in visible] == ["topic closed"]


async def test_interaction_answered_after_three_seconds_is_unknown(world: World) -> None:
    now = [1000.0]
    async with fake_world(clock=lambda: now[0]) as w:
        release = asyncio.Event()
        client = RecordingClient()
        add_commands(client, w.guild_id, release)
        async with running(client, w.token):
            await client.tree.sync(guild=discord.Object(w.guild_id))
            handle = w.dc.invoke_command(w.alice, w.guild["id"], w.general["id"], "slow")
            now[0] += 3.5
            release.set()
            await w.dc.wait_for(lambda: client.app_command_errors)
            original = client.app_command_errors[0].__cause__
            assert isinstance(original, discord.NotFound) and original.code == 10062
            assert handle.callback is None


# ------------------------------------------------------------ rate limits


async def test_429_with_retry_after_is_retried_by_discord_py(world: World) -> None:
    world.dc.fail_next(
        "POST",
        r"^/channels/\d+/messages$",
        429,
        {"message": "You are being rate limited.", "retry_after": 0.2, "global": False},
    )
    client = RecordingClient()
    async with running(client, world.token):
        channel = client.get_channel(int(world.general["id"]))
        assert isinstance(channel, discord.TextChannel)
        await channel.send("eventually")
        statuses = [c.status for c in world.dc.calls_to("POST", r"/channels/\d+/messages$")]
        assert statuses == [429, 200]
        assert world.dc.stats.too_many_requests == 1
        assert [m["content"] for m in world.dc.channel_messages(world.general["id"])] == ["eventually"]


async def test_enforced_limits_answer_429_with_discord_headers() -> None:
    limits = RateLimitConfig(channel_messages=RateLimitRule(2, 5.0))
    async with fake_world(enforce_rate_limits=True, rate_limits=limits) as w:
        path = f"/channels/{w.general['id']}/messages"
        statuses = []
        for n in range(3):
            status, body, headers = await raw(w, "POST", path, json={"content": str(n)})
            statuses.append(status)
        assert statuses == [200, 200, 429]
        assert body["message"] == "You are being rate limited." and body["global"] is False
        assert 0 < body["retry_after"] <= 5.0
        assert headers["X-RateLimit-Scope"] == "user" and headers["Retry-After"] == "5"
        assert headers["X-RateLimit-Limit"] == "2" and headers["X-RateLimit-Remaining"] == "0"
        assert headers["X-RateLimit-Bucket"] and headers["Via"]
        assert w.dc.stats.too_many_requests == 1


async def test_webhook_executions_are_limited_per_webhook() -> None:
    limits = RateLimitConfig(webhook_execute=RateLimitRule(2, 5.0))
    async with fake_world(enforce_rate_limits=True, rate_limits=limits) as w:
        webhook = w.dc.world.create_webhook(w.general["id"], w.dc.world.default_bot(), "bridge")
        path = f"/webhooks/{webhook['id']}/{webhook['token']}?wait=true"
        statuses = [
            (await raw(w, "POST", path, json={"content": str(n), "username": "x"}))[0] for n in range(3)
        ]
        assert statuses == [200, 200, 429]


async def test_discord_py_paces_itself_from_rate_limit_headers() -> None:
    limits = RateLimitConfig(channel_messages=RateLimitRule(2, 0.3))
    async with fake_world(enforce_rate_limits=True, rate_limits=limits) as w:
        client = RecordingClient()
        async with running(client, w.token):
            channel = client.get_channel(int(w.general["id"]))
            assert isinstance(channel, discord.TextChannel)
            for n in range(5):
                await channel.send(f"burst {n}")
            assert len(w.dc.channel_messages(w.general["id"])) == 5
            assert w.dc.stats.too_many_requests == 0


# ----------------------------------------------------------------- resume


@pytest.mark.parametrize("close_code", [4000, None], ids=["close-frame", "tcp-abort"])
async def test_forced_disconnect_resumes_and_replays_missed_message_once(
    world: World, close_code: int | None
) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        await world.dc.disconnect_gateway(code=close_code)
        missed = world.dc.user_sends(world.general["id"], world.alice, "said while you were away")
        await world.dc.wait_for(lambda: world.dc.stats.resumes == 1 and world.dc.gateway_connected)
        after = world.dc.user_sends(world.general["id"], world.alice, "and after")
        await world.dc.wait_for(lambda: any(m.id == int(after["id"]) for m in client.messages))
        assert client.contents() == ["said while you were away", "and after"]
        assert client.messages[0].id == int(missed["id"])
        assert world.dc.stats.identifies == 1 and world.dc.stats.replayed >= 1


async def test_unresumable_disconnect_makes_discord_py_identify_again(world: World) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        await world.dc.disconnect_gateway(code=4000, resumable=False)
        await world.dc.wait_for(lambda: world.dc.stats.identifies == 2 and world.dc.gateway_connected)
        assert world.dc.stats.invalid_sessions == 1
        world.dc.user_sends(world.general["id"], world.alice, "back again")
        await world.dc.wait_for(lambda: client.messages)
        assert client.contents() == ["back again"]


async def test_op7_reconnect_makes_discord_py_resume_without_identifying_again(
    world: World,
) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        world.dc.send_reconnect()
        await world.dc.wait_for(lambda: world.dc.stats.resumes == 1)
        await world.dc.wait_for_ready()
        world.dc.user_sends(world.general["id"], world.alice, "after the reconnect")
        await world.dc.wait_for(lambda: client.messages)
        assert client.contents() == ["after the reconnect"]
        assert world.dc.stats.identifies == 1


async def test_op9_invalid_session_makes_discord_py_identify_afresh(world: World) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        world.dc.invalidate_sessions(resumable=False)
        await world.dc.wait_for(lambda: world.dc.stats.identifies == 2)
        await world.dc.wait_for_ready()
        assert world.dc.stats.invalid_sessions == 1 and world.dc.stats.resumes == 0
        world.dc.user_sends(world.general["id"], world.alice, "still here")
        await world.dc.wait_for(lambda: client.messages)
        assert client.contents() == ["still here"]


# ------------------------------------------------------- people and threads


async def test_a_member_given_a_role_carries_it_on_her_next_message(world: World) -> None:
    facilitators = world.dc.add_role(world.guild["id"], "Facilitator", Permissions.MANAGE_THREADS)
    client = RecordingClient()
    async with running(client, world.token):
        world.dc.user_sends(world.general["id"], world.alice, "before")
        world.dc.set_member_roles(world.guild["id"], world.alice, [facilitators["id"]])
        world.dc.user_sends(world.general["id"], world.alice, "after")
        await world.dc.wait_for(lambda: len(client.messages) == 2)
        before, after = client.messages
        assert isinstance(before.author, discord.Member) and isinstance(after.author, discord.Member)
        assert [r.name for r in before.author.roles] == ["@everyone"]
        assert [r.name for r in after.author.roles] == ["@everyone", "Facilitator"]
        assert after.author.guild_permissions.manage_threads


async def test_a_moderator_locking_a_thread_by_hand_reaches_discord_py(world: World) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        started = world.dc.user_starts_thread(world.general["id"], world.alice, "Side talk")
        await world.dc.wait_for(lambda: client.get_channel(int(started["id"])) is not None)
        world.dc.set_thread_state(started["id"], archived=True, locked=True)
        thread = client.get_channel(int(started["id"]))
        assert isinstance(thread, discord.Thread)
        await world.dc.wait_for(lambda: thread.locked and thread.archived)
        assert world.dc.channel(started["id"])["thread_metadata"]["locked"] is True


async def test_uploads_over_the_guild_limit_are_refused_with_40005(world: World) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        channel = client.get_channel(int(world.general["id"]))
        assert isinstance(channel, discord.TextChannel)
        webhook = await channel.create_webhook(name="bridge")
        big = discord.File(io.BytesIO(b"v" * (10 * 1024 * 1024 + 1)), "clip.mp4")
        with pytest.raises(discord.HTTPException) as error:
            await webhook.send("too big", file=big, username="Jessica", wait=True)
        assert (error.value.status, error.value.code) == (413, 40005)
        eleven = [discord.File(io.BytesIO(b"x"), f"f{i}.txt") for i in range(11)]
        with pytest.raises(discord.HTTPException) as error:
            await channel.send("eleven", files=eleven)
        assert error.value.code == 50035
        photos = [discord.File(io.BytesIO(b"\x89PNG"), f"p{i}.png") for i in range(2)]
        sent = await webhook.send("two", files=photos, username="Jessica", wait=True)
        assert [a.content_type for a in sent.attachments] == ["image/png", "image/png"]


@pytest.mark.parametrize("username", ["Discord Admin", "disc\u200bord fan", "CLYDE",
                                      "Clyd\u2060e", "everyone", "Groundsphere", "Therese · Telegram",
                                      "Every\u200bone"])
async def test_webhook_usernames_discord_refuses_are_refused(world: World, username: str) -> None:
    client = RecordingClient()
    async with running(client, world.token):
        channel = client.get_channel(int(world.general["id"]))
        assert isinstance(channel, discord.TextChannel)
        webhook = await channel.create_webhook(name="bridge")
        with pytest.raises(discord.HTTPException) as error:
            await webhook.send("x", username=username, wait=True)
        assert error.value.status == 400 and error.value.code == 50035
        assert "In username:" in error.value.text
        sent = await webhook.send("x", username="Brittany Landorf · Telegram", wait=True)
        assert sent.author.name == "Brittany Landorf · Telegram"


async def test_pinning_needs_manage_messages_as_on_discord(world: World) -> None:
    w = world
    client = RecordingClient()
    async with running(client, w.token):
        channel = client.get_channel(int(w.general["id"]))
        assert isinstance(channel, discord.TextChannel)
        message = await channel.send("pin me")
        await message.pin()
        assert w.dc.channel_messages(w.general["id"])[-1]["pinned"] is True
        w.dc.set_bot_permissions(w.guild["id"], Permissions.ALL & ~Permissions.MANAGE_MESSAGES
                                 & ~Permissions.ADMINISTRATOR)
        other = await channel.send("not this one")
        with pytest.raises(discord.Forbidden) as refused:
            await other.pin()
        assert refused.value.code == 50013
    status, _, _ = await raw(w, "PUT", f"/channels/{w.general['id']}/pins/{other.id}")
    assert status == 403
