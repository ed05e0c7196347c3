"""The fake Telegram Bot API, driven through the real python-telegram-bot client.

Every test talks to :class:`FakeTelegram` over HTTP with PTB's own ``Bot``/``Application``,
pointed at it like a self-hosted Bot API server, so a passing test means PTB accepts the
fake's wire format (requests, JSON shapes, error mapping) as it would Telegram's.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    ReplyParameters,
    Update,
)
from telegram.error import BadRequest, ChatMigrated, Conflict, Forbidden, RetryAfter
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bridgebot.sandbox.telegram import FakeTelegram
from bridgebot.sandbox.telegram.state import parse_html


class FakeClock:
    """A monotonic clock the test moves by hand, so flood control needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_bot(tg: FakeTelegram, token: str) -> Bot:
    """A PTB bot pointed at the fake the way one points it at a self-hosted Bot API."""
    return Bot(token, base_url=f"{tg.url}/bot", base_file_url=f"{tg.url}/file/bot")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    token = tg.add_bot(username="bridgebot_test_bot", first_name="Bridge Bot")
    async with make_bot(tg, token) as ptb_bot:
        yield ptb_bot


async def test_get_me_describes_the_registered_bot(tg: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()

    assert me.username == "bridgebot_test_bot"
    assert me.first_name == "Bridge Bot"
    assert me.is_bot is True
    assert me.id == int(bot.token.split(":")[0])
    assert tg.calls_to("getme")[-1].status == 200


async def test_html_message_is_stored_as_plain_text_with_entities(
    tg: FakeTelegram, bot: Bot
) -> None:
    chat = tg.add_chat("Discussion")
    html = '<b>Bold</b> 😀 <i>it &amp; more</i> <a href="example.com/x">link</a>'

    sent = await bot.send_message(chat["id"], html, parse_mode="HTML")

    assert sent.text == "Bold 😀 it & more link"
    stored = tg.chat_messages(chat["id"])[-1]
    assert stored["text"] == "Bold 😀 it & more link"
    # Offsets are UTF-16 code units: the emoji counts twice.
    assert stored["entities"] == [
        {"offset": 0, "length": 4, "type": "bold"},
        {"offset": 8, "length": 9, "type": "italic"},
        {"offset": 18, "length": 4, "type": "text_link", "url": "http://example.com/x"},
    ]
    assert tg.calls_to("sendMessage")[-1].params["text"] == html  # the raw HTML is recorded


@pytest.mark.parametrize(
    ("html", "detail"),
    [
        ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<p>paragraph</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ],
)
async def test_malformed_html_is_refused_like_telegram_does(
    tg: FakeTelegram, bot: Bot, html: str, detail: str
) -> None:
    chat = tg.add_chat("Discussion")

    with pytest.raises(BadRequest, match=r"(?i)can't parse entities") as caught:
        await bot.send_message(chat["id"], html, parse_mode="HTML")

    call = tg.calls_to("sendMessage")[-1]
    assert call.status == 400
    assert call.response["description"] == f"Bad Request: can't parse entities: {detail}"
    assert caught.value.message.lower().endswith(detail.lower())  # PTB re-capitalises
    assert tg.chat_messages(chat["id"]) == []


def test_html_parser_keeps_what_telegram_keeps() -> None:
    assert parse_html("Tom & Jerry &copy; a > b")[0] == "Tom & Jerry &copy; a > b"
    text, spans = parse_html('<pre><code class="language-python">x = 1</code></pre>')
    assert text == "x = 1"
    assert [(s.type, s.extra) for s in spans] == [("pre", {"language": "python"})]


async def test_text_limits_match_the_bot_api(tg: FakeTelegram, bot: Bot) -> None:
    chat = tg.add_chat("Discussion")

    await bot.send_message(chat["id"], "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(chat["id"], "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(chat["id"], "<b> </b>", parse_mode="HTML")


async def test_forum_topics_open_close_and_carry_thread_messages(
    tg: FakeTelegram, bot: Bot
) -> None:
    chat = tg.add_chat("Forum", is_forum=True)
    alice = tg.add_user("Alice", username="alice")

    topic = await bot.create_forum_topic(chat["id"], "Session 1")
    sent = await bot.send_message(chat["id"], "Welcome", message_thread_id=topic.message_thread_id)
    said = tg.user_sends(chat["id"], alice, "Hello", thread_id=topic.message_thread_id)

    assert sent.message_thread_id == topic.message_thread_id
    assert sent.is_topic_message is True
    assert sent.reply_to_message is not None
    assert sent.reply_to_message.forum_topic_created.name == "Session 1"
    assert said["reply_to_message"]["message_id"] == topic.message_thread_id
    texts = [m.get("text") for m in tg.chat_messages(chat["id"], topic.message_thread_id)]
    assert texts == [None, "Welcome", "Hello"]  # creation service message first

    assert await bot.close_forum_topic(chat["id"], topic.message_thread_id) is True
    assert tg.topics(chat["id"])[0]["is_closed"] is True
    tg.set_member(chat["id"], bot.id, "administrator", can_manage_topics=False)
    with pytest.raises(BadRequest, match=r"(?i)topic_closed"):
        await bot.send_message(chat["id"], "late", message_thread_id=topic.message_thread_id)

    tg.set_member(chat["id"], bot.id, "administrator", can_manage_topics=True)
    assert await bot.reopen_forum_topic(chat["id"], topic.message_thread_id) is True
    await bot.send_message(chat["id"], "again", message_thread_id=topic.message_thread_id)
    assert tg.topics(chat["id"])[0]["is_closed"] is False
    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.send_message(chat["id"], "nowhere", message_thread_id=999)


async def test_reply_parameters_attach_the_replied_message(tg: FakeTelegram, bot: Bot) -> None:
    chat = tg.add_chat("Discussion")
    alice = tg.add_user("Alice")
    question = tg.user_sends(chat["id"], alice, "What is the agenda?")

    answer = await bot.send_message(
        chat["id"], "See the doc", reply_parameters=ReplyParameters(question["message_id"])
    )

    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "What is the agenda?"
    assert answer.reply_to_message.from_user.id == alice["id"]
    assert answer.message_thread_id == question["message_id"]  # reply threads in supergroups
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(chat["id"], "?", reply_parameters=ReplyParameters(4242))
    lenient = await bot.send_message(
        chat["id"],
        "sent anyway",
        reply_parameters=ReplyParameters(4242, allow_sending_without_reply=True),
    )
    assert lenient.reply_to_message is None


async def test_get_updates_forgets_updates_below_the_offset(tg: FakeTelegram, bot: Bot) -> None:
    chat = tg.add_chat("Discussion")  # queues my_chat_member for the bot
    alice = tg.add_user("Alice")
    for text in ("one", "two", "three"):
        tg.user_sends(chat["id"], alice, text)

    everything = await bot.get_updates()
    assert everything[0].my_chat_member is not None
    assert [u.message.text for u in everything[1:]] == ["one", "two", "three"]

    ids = [u.update_id for u in everything]
    assert [u.update_id for u in await bot.get_updates()] == ids  # nothing confirmed yet
    rest = await bot.get_updates(offset=ids[2])
    assert [u.message.text for u in rest] == ["two", "three"]
    assert [u.update_id for u in await bot.get_updates()] == ids[2:]  # older ones are gone
    assert await bot.get_updates(offset=ids[-1] + 1) == ()


async def test_long_poll_wakes_as_soon_as_an_update_arrives(tg: FakeTelegram, bot: Bot) -> None:
    chat = tg.add_chat("Discussion")
    alice = tg.add_user("Alice")
    await bot.get_updates(offset=-1)
    confirmed = (await bot.get_updates())[-1].update_id + 1

    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(offset=confirmed, timeout=10))
    await asyncio.sleep(0.05)
    tg.user_sends(chat["id"], alice, "ping")
    updates = await asyncio.wait_for(poll, 3)

    assert [u.message.text for u in updates] == ["ping"]
    assert loop.time() - started < 2


async def test_webhook_pushes_updates_with_the_secret_header() -> None:
    received: list[tuple[str | None, dict]] = []
    statuses = iter([500])  # the first delivery fails, Telegram retries

    async def receive(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response(status=next(statuses, 200))

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        async with FakeTelegram(webhook_retry_delay=0.05) as tg:
            token = tg.add_bot()
            async with make_bot(tg, token) as bot:
                chat = tg.add_chat("Discussion")
                alice = tg.add_user("Alice")
                assert await bot.set_webhook(hook_url, secret_token="s3cret-token") is True
                tg.user_sends(chat["id"], alice, "via webhook")

                await tg.wait_for(lambda: len(received) >= 3)  # 1st update twice, then the message
                await tg.wait_for(lambda: tg.pending_updates() == [])
                with pytest.raises(Conflict, match=r"(?i)webhook is active"):
                    await bot.get_updates()
                info = await bot.get_webhook_info()
    finally:
        await runner.cleanup()

    assert {secret for secret, _ in received} == {"s3cret-token"}
    assert "my_chat_member" in received[0][1]
    assert received[-1][1]["message"]["text"] == "via webhook"
    assert [d.status for d in tg.webhook_deliveries] == [500, 200, 200]
    assert info.url == hook_url
    assert info.pending_update_count == 0
    assert "500" in (info.last_error_message or "")


async def test_injected_429_surfaces_as_retry_after(
    tg: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB's future-proof RetryAfter.retry_after
    chat = tg.add_chat("Discussion")
    tg.fail_next("sendMessage", retry_after=7)

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(chat["id"], "hello")
    await bot.send_message(chat["id"], "hello again")

    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    assert tg.calls_to("sendMessage")[0].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    assert [m["text"] for m in tg.chat_messages(chat["id"])] == ["hello again"]
    assert tg.stats.too_many_requests == 1
    assert tg.stats.injected_failures == 1


async def test_flood_control_answers_429_and_counts_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    clock = FakeClock()
    async with FakeTelegram(enforce_rate_limits=True, clock=clock) as tg:
        async with make_bot(tg, tg.add_bot()) as bot:
            chat = tg.add_chat("Discussion")
            for n in range(3):  # a short burst is tolerated
                await bot.send_message(chat["id"], f"burst {n}")
            with pytest.raises(RetryAfter) as burst:
                await bot.send_message(chat["id"], "one too many")
            assert burst.value.retry_after == dtm.timedelta(seconds=1)

            clock.advance(1.0)
            await bot.send_message(chat["id"], "after waiting")
            for n in range(16):  # one per second is fine until 20 in a minute
                clock.advance(1.0)
                await bot.send_message(chat["id"], f"steady {n}")
            clock.advance(1.0)
            with pytest.raises(RetryAfter) as group:
                await bot.send_message(chat["id"], "the 21st in a minute")

    assert group.value.retry_after == dtm.timedelta(seconds=42)
    assert tg.stats.too_many_requests == 2
    assert len(tg.chat_messages(chat["id"])) == 20


async def test_set_my_commands_keeps_scope_and_language(tg: FakeTelegram, bot: Bot) -> None:
    scope = BotCommandScopeAllChatAdministrators()
    commands = [BotCommand("close", "Close the session"), BotCommand("summary", "Summarise")]

    assert await bot.set_my_commands(commands, scope=scope, language_code="de") is True

    assert tg.commands("all_chat_administrators", "de") == [
        {"command": "close", "description": "Close the session"},
        {"command": "summary", "description": "Summarise"},
    ]
    assert tg.commands("all_chat_administrators") == []
    assert tg.commands() == []
    assert await bot.get_my_commands(scope=scope, language_code="de") == tuple(commands)
    assert await bot.delete_my_commands(scope=scope, language_code="de") is True
    assert tg.commands("all_chat_administrators", "de") == []
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad Command", "x")])


async def test_application_polling_hands_a_user_message_to_its_handler(
    tg: FakeTelegram,
) -> None:
    token = tg.add_bot()
    chat = tg.add_chat("Discussion")
    alice = tg.add_user("Alice", username="alice")
    app = (
        Application.builder()
        .token(token)
        .base_url(f"{tg.url}/bot")
        .base_file_url(f"{tg.url}/file/bot")
        .build()
    )
    seen: list[str] = []

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        seen.append(update.effective_message.text or "")
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=2)
        tg.user_sends(chat["id"], alice, "hello bridge")
        await tg.wait_for(lambda: any(m.get("text") == "echo: hello bridge"
                                      for m in tg.chat_messages(chat["id"])))
        await app.updater.stop()
        await app.stop()

    assert seen == ["hello bridge"]
    reply = tg.chat_messages(chat["id"])[-1]
    assert reply["reply_to_message"]["text"] == "hello bridge"
    assert tg.calls_to("deleteWebhook")  # PTB makes sure no webhook is set before polling


async def test_kicked_bot_and_deleted_chats_answer_like_telegram(
    tg: FakeTelegram, bot: Bot
) -> None:
    supergroup = tg.add_chat("Supergroup")
    group = tg.add_chat("Old group", kind="group")
    gone = tg.add_chat("Gone")
    left = tg.add_chat("Left behind")
    tg.remove_bot(supergroup["id"])
    tg.remove_bot(group["id"])
    tg.delete_chat(gone["id"])
    assert await bot.leave_chat(left["id"]) is True

    with pytest.raises(Forbidden, match=r"(?i)bot was kicked from the supergroup chat"):
        await bot.send_message(supergroup["id"], "hi")
    with pytest.raises(Forbidden, match=r"(?i)bot was kicked from the group chat"):
        await bot.send_message(group["id"], "hi")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(gone["id"], "hi")
    with pytest.raises(Forbidden, match=r"(?i)bot is not a member of the supergroup chat"):
        await bot.send_chat_action(left["id"], "typing")
    statuses = [u.my_chat_member.new_chat_member.status for u in await bot.get_updates()]
    assert statuses[-3:] == ["kicked", "kicked", "left"]


async def test_upgraded_group_points_to_its_supergroup(tg: FakeTelegram, bot: Bot) -> None:
    group = tg.add_chat("Small group", kind="group")
    supergroup = tg.upgrade_to_supergroup(group["id"])

    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(group["id"], "hello")
    await bot.send_message(supergroup["id"], "hello")

    assert caught.value.new_chat_id == supergroup["id"]
    assert str(supergroup["id"]).startswith("-100")


async def test_bot_uploads_arrive_as_media_messages(tg: FakeTelegram, bot: Bot) -> None:
    chat = tg.add_chat("Discussion")

    photo = await bot.send_photo(
        chat["id"], b"\x89PNG fake", caption="<b>Board</b> photo", parse_mode="HTML"
    )
    document = await bot.send_document(chat["id"], b"a,b\n1,2\n", filename="votes.csv")
    again = await bot.send_photo(chat["id"], photo.photo[-1].file_id)  # resend by file_id

    assert photo.caption == "Board photo"
    assert photo.caption_entities[0].type == "bold"
    assert document.document.file_name == "votes.csv"
    assert again.photo[-1].file_id == photo.photo[-1].file_id
    upload = tg.calls_to("sendDocument")[-1].params["document"]
    assert upload["file_name"] == "votes.csv"
    assert upload["size"] == 8
    downloaded = await (await bot.get_file(document.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == b"a,b\n1,2\n"
    with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
        await bot.send_photo(chat["id"], b"x", caption="c" * 1025)


async def test_edits_and_deletions_fail_like_telegram(tg: FakeTelegram, bot: Bot) -> None:
    chat = tg.add_chat("Discussion", bot_status="member")
    alice = tg.add_user("Alice")
    own = await bot.send_message(chat["id"], "<b>draft</b>", parse_mode="HTML")
    theirs = tg.user_sends(chat["id"], alice, "mine")

    edited = await bot.edit_message_text("<b>final</b>", chat["id"], own.message_id,
                                         parse_mode="HTML")
    assert edited.text == "final"
    assert edited.edit_date is not None
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("<b>final</b>", chat["id"], own.message_id, parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat["id"], 999)
    with pytest.raises(BadRequest, match=r"(?i)message can't be edited"):
        await bot.edit_message_text("x", chat["id"], theirs["message_id"])
    with pytest.raises(BadRequest, match=r"(?i)message can't be deleted"):
        await bot.delete_message(chat["id"], theirs["message_id"])  # not an admin

    assert await bot.delete_message(chat["id"], own.message_id) is True
    assert [m["text"] for m in tg.chat_messages(chat["id"])] == ["mine"]
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(chat["id"], own.message_id)


async def test_raw_requests_get_bot_api_envelopes(tg: FakeTelegram) -> None:
    token = tg.add_bot()
    chat = tg.add_chat("Discussion")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{tg.url}/bot123:nope/getMe") as unknown_token:
            assert unknown_token.status == 401
            assert await unknown_token.json() == {
                "ok": False, "error_code": 401, "description": "Unauthorized"
            }  # fmt: skip
        async with http.post(f"{tg.url}/bot{token}/sendTelepathy") as unknown_method:
            assert unknown_method.status == 404
            assert (await unknown_method.json())["description"] == "Not Found"
        json_body = {"chat_id": chat["id"], "text": "123"}
        async with http.post(f"{tg.url}/bot{token}/SENDMESSAGE", json=json_body) as sent:
            assert (await sent.json())["result"]["text"] == "123"  # stays a string
        query = {"chat_id": str(chat["id"]), "text": "true"}
        async with http.get(f"{tg.url}/bot{token}/sendmessage", params=query) as via_get:
            assert (await via_get.json())["result"]["text"] == "true"

    assert [c.method for c in tg.calls] == ["getMe", "sendTelepathy", "sendMessage", "sendMessage"]


async def test_driver_messages_parse_as_ptb_updates(
    tg: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    chat = tg.add_chat("Discussion")
    alice = tg.add_user("Alice", "Liddell", username="alice")
    first = tg.user_sends(chat["id"], alice, "/summary@bridgebot_test_bot ask @bobby")
    tg.user_sends(chat["id"], alice, "a reply", reply_to=first["message_id"])
    tg.user_edits(chat["id"], first["message_id"], "/summary now")
    photo = tg.user_sends_photo(chat["id"], alice, caption="the whiteboard", data=b"JPEGDATA")
    tg.user_sends_document(chat["id"], alice, "minutes.pdf", data=b"%PDF")
    tg.user_sends_voice(chat["id"], alice, duration=4)
    tg.user_sends_sticker(chat["id"], alice, "🎉")

    updates = (await bot.get_updates())[1:]  # skip my_chat_member

    command, reply, edit, picture, document, voice, sticker = (u for u in updates)
    assert [e.type for e in command.message.entities] == ["bot_command", "mention"]
    assert reply.message.reply_to_message.message_id == first["message_id"]
    assert edit.edited_message.text == "/summary now"
    assert edit.edited_message.edit_date is not None
    assert picture.message.caption == "the whiteboard"
    assert picture.message.photo[-1].width == 1280
    assert document.message.document.file_name == "minutes.pdf"
    assert voice.message.voice.duration == dtm.timedelta(seconds=4)
    assert sticker.message.sticker.emoji == "🎉"

    file = await bot.get_file(photo["photo"][-1]["file_id"])
    assert bytes(await file.download_as_bytearray()) == b"JPEGDATA"


async def test_privacy_mode_hides_plain_group_chatter_from_a_non_admin_bot(
    tg: FakeTelegram, bot: Bot
) -> None:
    chat = tg.add_chat("Discussion", bot_status="member")
    alice = tg.add_user("Alice")
    await bot.get_updates(offset=-1)
    tg.user_sends(chat["id"], alice, "just chatting")
    tg.user_sends(chat["id"], alice, "/start")

    texts = [u.message.text for u in await bot.get_updates() if u.message]

    assert texts == ["/start"]


async def test_a_person_who_blocked_the_bot_cannot_be_written_to(tg: FakeTelegram, bot: Bot) -> None:
    alice = tg.add_user("Alice")
    tg.private_chat(alice)
    await bot.send_message(alice["id"], "Welcome")
    tg.user_blocks_bot(alice)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(alice["id"], "Are you there?")
    updates = await bot.get_updates()
    change = updates[-1].my_chat_member
    assert change is not None and change.chat.id == alice["id"]
    assert (change.old_chat_member.status, change.new_chat_member.status) == ("member", "kicked")
    assert [m["text"] for m in tg.chat_messages(alice["id"])] == ["Welcome"]


async def test_a_topic_a_member_opens_by_hand_reaches_the_bot_as_a_service_message(
    tg: FakeTelegram, bot: Bot
) -> None:
    forum = tg.add_chat("Allies forum", is_forum=True)
    alice = tg.add_user("Alice")
    topic = tg.user_creates_topic(forum["id"], alice, "Introductions")
    updates = await bot.get_updates()
    created = updates[-1].message
    assert created is not None and created.forum_topic_created is not None
    assert created.forum_topic_created.name == "Introductions"
    assert created.message_thread_id == topic["message_thread_id"] and created.is_topic_message
    assert created.from_user is not None and created.from_user.id == alice["id"]
    assert [t["name"] for t in tg.topics(forum["id"])] == ["Introductions"]


async def test_albums_videos_and_the_file_limits_follow_the_bot_api(tg: FakeTelegram, bot: Bot) -> None:
    from telegram import InputFile, InputMediaDocument, InputMediaPhoto

    chat = tg.add_chat("Discussion")
    album = await bot.send_media_group(chat["id"], [
        InputMediaPhoto(InputFile(b"\xff\xd8one", attach=True), caption="<b>Two</b>", parse_mode="HTML"),
        InputMediaPhoto(InputFile(b"\xff\xd8two", attach=True)),
    ])
    assert len(album) == 2 and album[0].media_group_id == album[1].media_group_id
    assert album[0].caption == "Two" and album[1].caption is None
    with pytest.raises(BadRequest, match=r"(?i)media_invalid"):
        await bot.send_media_group(chat["id"], [
            InputMediaPhoto(InputFile(b"\xff\xd8one", attach=True)),
            InputMediaDocument(InputFile(b"%PDF", attach=True, filename="a.pdf")),
        ])
    video = await bot.send_video(chat["id"], InputFile(b"\x00mp4", filename="march.mp4"),
                                 caption="The march")
    assert video.video.file_name == "march.mp4" and video.caption == "The march"
    voice = await bot.send_voice(chat["id"], b"OggS")
    audio = await bot.send_audio(chat["id"], InputFile(b"ID3", filename="song.mp3"))
    gif = await bot.send_animation(chat["id"], InputFile(b"GIF89a", filename="dance.gif"))
    assert voice.voice and audio.audio.file_name == "song.mp3" and gif.animation
    with pytest.raises(BadRequest, match=r"(?i)photo_invalid_dimensions"):
        await bot.send_photo(chat["id"], b"\xff" * (10 * 1000 * 1000 + 1))
    alice = tg.add_user("Alice")
    big = tg.user_sends_media(chat["id"], alice, "video", b"\x00" * (20 * 1000 * 1000 + 1),
                              file_name="long.mp4")
    assert big["video"]["file_size"] == 20 * 1000 * 1000 + 1
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(big["video"]["file_id"])
    photos = tg.user_sends_album(chat["id"], alice, [b"\xff\xd8a", b"\xff\xd8b", b"\xff\xd8c"], "Ours")
    assert len({p["media_group_id"] for p in photos}) == 1 and photos[0]["caption"] == "Ours"


async def test_an_album_items_caption_entities_and_get_file_s_download_path(
        tg: FakeTelegram, bot: Bot) -> None:
    from telegram import InputFile, InputMediaPhoto, MessageEntity

    chat = tg.add_chat("Discussion")
    album = await bot.send_media_group(chat["id"], [
        InputMediaPhoto(InputFile(b"\xff\xd8one", attach=True), caption="Bold words",
                        caption_entities=[MessageEntity("bold", 0, 4)]),
        InputMediaPhoto(InputFile(b"\xff\xd8two", attach=True)),
    ])
    assert [(e.type, e.offset, e.length) for e in album[0].caption_entities] == [("bold", 0, 4)]
    alice = tg.add_user("Alice")
    edge = tg.user_sends_document(chat["id"], alice, "edge.bin", mime_type="application/pdf",
                                  data=b"e" * (20 * 1000 * 1000))  # 20 MB: still fetched
    found = await bot.get_file(edge["document"]["file_id"])
    assert found.file_size == 20 * 1000 * 1000 and found.file_path
    assert len(await found.download_as_bytearray()) == 20 * 1000 * 1000
    path = found.file_path.split("/file/bot", 1)[1].split("/", 1)[1]  # after the token
    async with aiohttp.ClientSession() as session, \
            session.get(f"{tg.url}/file/botWRONG/{path}") as response:
        assert response.status == 401


async def test_pinning_needs_the_pin_right_in_groups_as_on_telegram(tg: FakeTelegram, bot: Bot) -> None:
    allowed = tg.add_chat("Allowed")
    refused = tg.add_chat("Refused", bot_rights={"can_pin_messages": False})
    mine = await bot.send_message(allowed["id"], "pin me")
    assert await bot.pin_chat_message(allowed["id"], mine.message_id, disable_notification=True)
    assert tg.pinned(allowed["id"]) == [mine.message_id]
    service = [m for m in tg.chat_messages(allowed["id"]) if "pinned_message" in m]
    assert service and service[0]["pinned_message"]["message_id"] == mine.message_id

    other = await bot.send_message(refused["id"], "pin me too")
    with pytest.raises(BadRequest, match=r"(?i)not enough rights to manage pinned messages"):
        await bot.pin_chat_message(refused["id"], other.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to pin not found"):
        await bot.pin_chat_message(allowed["id"], 9999)
    assert tg.pinned(refused["id"]) == []
    assert await bot.unpin_chat_message(allowed["id"], mine.message_id)
    assert tg.pinned(allowed["id"]) == []
