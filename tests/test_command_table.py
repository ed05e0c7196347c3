"""The command table is the one list of chat commands: every platform offers exactly its
commands, and the same bad input gets the same answer sentence on Telegram, Discord and the
console (real adapters against the sandboxes, the real shell)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.adapters.console.shell import Shell
from bridgebot.core import errors
from bridgebot.core.commandkit import NUMBER_MAX, Command, CommandTable, Param
from bridgebot.core.commands import COMMANDS, CommandContext, run_command
from bridgebot.core.models import Author, ChannelRef
from bridgebot.core.service import TEXT_MAX
from bridgebot.runtime import Runtime
from bridgebot.sandbox.discord import Permissions

from .auxil.world import FACILITATOR, FORUM, World

DISCORD_OPTION_TYPES = {"number": 4, "line": 3, "text": 3, "flag": 5}
LOCKED = ("The topic “Engaging allies” is locked: it no longer accepts posts. "
          "Its archive stays readable.")
SORRY = "Sorry, something went wrong"


async def test_telegram_and_discord_offer_exactly_the_tables_commands(bridged: World):
    w = bridged
    menu = {c["command"]: c["description"] for c in w.tg.commands("all_chat_administrators")}
    assert list(menu) == [c.name for c in COMMANDS]
    assert menu == {c.name: c.description for c in COMMANDS}
    assert [c["command"] for c in w.tg.commands("default")] == [
        c.name for c in COMMANDS if not c.facilitator]
    slash = {c["name"]: c for c in w.dc.commands(w.guild["id"]) if c["type"] == 1}
    assert set(slash) == {c.name for c in COMMANDS}
    for command in COMMANDS:
        registered = slash[command.name]
        assert registered["description"] == command.description
        assert (registered["default_member_permissions"] is not None) == command.facilitator
        options = {o["name"]: (o["type"], o.get("required", False)) for o in registered["options"]}
        expected = {p.name: (DISCORD_OPTION_TYPES[p.kind], p.required or p.or_reply)
                    for p in command.params}
        if command.about is not None:  # which topic, where several could be meant
            expected["topic"] = (4, False)
        assert options == expected, command.name


async def test_the_console_takes_exactly_the_tables_commands(runtime: Runtime,
                                                             console: ConsoleAdapter):
    lines: list[str] = []
    shell = Shell(runtime, console, lines.append)
    await shell.handle("/facilitator kristin")
    for name in sorted(COMMANDS.names()):
        await shell.handle(f"/{name}")
        assert "I don't know" not in lines[-1], name
    await shell.handle("/frobnicate")
    assert lines[-1].endswith("I don't know /frobnicate. /help lists what I understand.")


def test_a_command_is_one_entry_and_its_function_must_match_its_parameters():
    table = CommandTable()

    @table.command("who", "Who takes part", Param("topic", "number", "The topic"))
    async def who(call, topic: int | None) -> str:
        return f"topic {topic}"

    assert table.find("who") == Command("who", "Who takes part", who,
                                        (Param("topic", "number", "The topic"),))
    with pytest.raises(TypeError, match="the table says"):
        @table.command("bad", "Bad", Param("text", "text", "Text"))
        async def bad(call, other: str) -> str:
            return other


# -- the same bad input, the same answer everywhere ----------------------------------


class Everywhere:
    """Ask the same command on Telegram, Discord and in the console; collect the answers."""

    def __init__(self, w: World, shell: Shell, lines: list[str]) -> None:
        self.w, self.shell, self.lines = w, shell, lines
        self.tg_admin = w.tg.add_user("Ana", "Admin")
        w.tg.set_member(w.group["id"], self.tg_admin["id"], "administrator")
        role = w.dc.add_role(w.guild["id"], "Facilitators", Permissions.MANAGE_THREADS)
        self.dc_admin = w.dc.add_member(w.guild["id"], "ana", global_name="Ana", roles=[role["id"]])

    async def telegram(self, text: str, *, facilitator: bool = False) -> str:
        w = self.w
        user = self.tg_admin if facilitator else w.brittany.tg
        sent = w.tg.user_sends(w.group["id"], user, text)

        def answers() -> list[str]:
            return [c.params["text"] for c in w.tg.calls_to("sendMessage") if c.status == 200
                    and c.response["result"].get("reply_to_message", {}).get("message_id")
                    == sent["message_id"]]
        return (await w.until(answers))[0]

    async def discord(self, name: str, *, facilitator: bool = False, **options) -> str:
        w = self.w
        user = self.dc_admin if facilitator else w.jessica.dc
        handle = w.dc.invoke_command(user, w.guild["id"], w.thread["id"], name, options)
        await handle.response(timeout=5)
        return (await handle.wait_for_followups(1))[0]["content"]

    async def console(self, text: str, *, facilitator: bool = False) -> str:
        await self.shell.handle("/facilitator kristin" if facilitator else "/as Dana")
        await self.shell.handle(text)
        return self.lines[-1].split("): ", 1)[1]


@pytest.fixture
async def everywhere(bridged: World, runtime: Runtime, console: ConsoleAdapter) -> Everywhere:
    lines: list[str] = []
    shell = Shell(runtime, console, lines.append)
    await shell.handle("/facilitator kristin")
    await shell.handle("/newtopic Engaging allies\nShare your examples.")
    assert any("“Engaging allies” is open" in line for line in lines), lines
    return Everywhere(bridged, shell, lines)


@pytest.mark.parametrize(("typed", "slash", "options", "facilitator", "expected"), [
    ("/reply 99999999999999999999 hi", "reply", {"number": 99999999999999999999, "text": "hi"},
     False, "This topic has no post #99999999999999999999."),
    (f"/reply {NUMBER_MAX + 1} hi", "reply", {"number": NUMBER_MAX + 1, "text": "hi"},
     False, f"This topic has no post #{NUMBER_MAX + 1}."),
    ("/reply -1 hi", "reply", {"number": -1, "text": "hi"},
     False, "Usage: /reply N text — for example /reply 3 I agree."),
    ("/reply 1", "reply", {"number": 1, "text": "   "},
     False, "Usage: /reply N text — for example /reply 3 I agree."),
    ("/reply 7 hi", "reply", {"number": 7, "text": "hi"}, False, "This topic has no post #7."),
    ("/hide -1", "hide", {"number": -1}, True, "Usage: /hide N — for example /hide 5 hides post #5."),
    ("/unhide 99999999999999999999", "unhide", {"number": 99999999999999999999}, True,
     "This topic has no post #99999999999999999999."),
    ("/hide 1", "hide", {"number": 1}, True,
     "The topic's opening post cannot be hidden; /lock the topic to close it."),
    ("/prompt", "prompt", {"question": " "}, True, "Usage: /prompt <question>"),
    ("/newtopic", "newtopic", {"title": " "}, True,
     "Usage: /newtopic <title>, with the introduction on the following lines."),
])
async def test_the_same_bad_input_gets_the_same_answer_on_every_platform(
        everywhere: Everywhere, caplog, typed, slash, options, facilitator, expected):
    e = everywhere
    answers = {
        "telegram": await e.telegram(typed, facilitator=facilitator),
        "discord": await e.discord(slash, facilitator=facilitator, **options),
        "console": await e.console(typed, facilitator=facilitator),
    }
    assert answers == dict.fromkeys(answers, expected)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("typed", "expected"), [
    ("/hide ³", "Usage: /hide N — for example /hide 5 hides post #5."),
    ("/unhide two", "Usage: /unhide N — for example /unhide 5 shows post #5 again."),
    ("/reply ³ hi", "Usage: /reply N text — for example /reply 3 I agree."),
    ("/reply #x hi", "Usage: /reply N text — for example /reply 3 I agree."),
    ("/hide 2 3", "Usage: /hide N — for example /hide 5 hides post #5."),
    ("/forgetme now", "Usage: /forgetme, then /forgetme confirm to confirm."),
])
async def test_numbers_that_are_not_numbers_get_the_usage_on_both_text_platforms(
        everywhere: Everywhere, caplog, typed, expected):
    """Discord's client only sends integers for a number; typed text can hold anything."""
    e = everywhere
    facilitator = not typed.startswith(("/reply", "/forgetme"))
    assert await e.telegram(typed, facilitator=facilitator) == expected
    assert await e.console(typed, facilitator=facilitator) == expected
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_reply_too_long_says_so_with_the_limit_on_discord_and_in_the_console(
        everywhere: Everywhere):
    """Telegram itself refuses messages over 4,096 characters, so only these two can carry
    40,001; the answer names the limit instead of calling the message empty."""
    e = everywhere
    text = "x" * (TEXT_MAX + 1)
    expected = (f"The message is too long ({TEXT_MAX + 1} characters; the limit is {TEXT_MAX}). "
                "Nothing was saved: please shorten it and send it again.")
    assert await e.discord("reply", number=1, text=text) == expected
    assert await e.console(f"/reply 1 {text}") == expected


async def test_every_reply_to_a_locked_topic_says_it_is_locked_on_every_platform(
        everywhere: Everywhere):
    e = everywhere
    assert "now locked" in await e.telegram("/lock", facilitator=True)
    assert "already locked" in await e.discord("lock", facilitator=True)
    assert "now locked" in await e.console("/lock", facilitator=True)
    for _ in range(2):  # the second answer too: it used to say "the message was empty"
        assert await e.telegram("/reply 1 Still there?") == LOCKED
        assert await e.discord("reply", number=1, text="Still there?") == LOCKED
        assert await e.console("/reply 1 Still there?") == LOCKED


async def test_outside_a_bridge_every_platform_refuses_the_same_way(bridged: World):
    w = bridged
    elsewhere = w.dc.add_text_channel(w.guild["id"], "elsewhere")
    handle = w.dc.invoke_command(w.jessica.dc, w.guild["id"], elsewhere["id"], "status", {})
    await handle.response(timeout=5)
    answer = (await handle.wait_for_followups(1))[0]["content"]
    assert answer == str(errors.NotBridged(ChannelRef("discord", elsewhere["id"])))
    other = w.tg.add_chat("Other group")
    sent = w.tg.user_sends(other["id"], w.brittany.tg, "/status")
    told = await w.until(lambda: [c.params["text"] for c in w.tg.calls_to("sendMessage")
                                  if c.response["result"].get("reply_to_message", {}).get(
                                      "message_id") == sent["message_id"]
                                  and c.params["chat_id"] == other["id"]])
    assert told[0] == str(errors.NotBridged(ChannelRef("telegram", str(other["id"]))))


# -- what people type, whatever it is -------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command=st.sampled_from(list(COMMANDS)), args=st.text())
def test_any_typed_arguments_are_read_or_answered_with_a_rule_error(command: Command, args: str):
    ctx = CommandContext(FACILITATOR, FORUM)
    try:
        values = command.check(command.parse(args, ctx), ctx)
    except errors.RuleError as err:
        assert str(err)
        return
    assert set(values) == {p.name for p in command.params}
    for param in command.params:
        value = values[param.name]
        if param.kind == "number":
            assert value is None or 0 <= value <= NUMBER_MAX
        elif param.kind == "flag":
            assert isinstance(value, bool)
        else:
            assert isinstance(value, str) and (value.strip() or not param.required)
            assert value == value.strip()
        if param.kind == "line":
            assert "\n" not in value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(number=st.text(alphabet=st.characters(categories=["Nd", "No", "Pd", "Sm"]), min_size=1,
                      max_size=25))
def test_any_number_typed_is_a_post_number_or_the_usage(number: str):
    """Digits of any script ("٣" is 3), superscripts ("³" is not a number), signs, huge."""
    reply = COMMANDS.commands["reply"]
    ctx = CommandContext(Author("console", "dana", "Dana"), FORUM)
    try:
        values = reply.check(reply.parse(f"{number} hi", ctx), ctx)
    except errors.UnknownPost as err:
        assert int(number) > NUMBER_MAX and f"#{int(number)}." in str(err)
        return
    except errors.InvalidInput as err:
        assert str(err).startswith("Usage: /reply N text")
        assert not number.isdecimal() or int(number) < 0
        return
    assert values == {"number": int(number), "text": "hi"}


async def test_a_command_that_fails_inside_answers_politely_and_logs_only_its_name(
        runtime: Runtime, caplog, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(runtime.core, "reply_to_number", broken)
    secret = "my private words"
    answer = await run_command(runtime.core, CommandContext(FACILITATOR, FORUM), "reply",
                               f"1 {secret}")
    assert answer.startswith(SORRY)
    errors_logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors_logged] == ["command /reply failed"]
    assert secret not in caplog.text


# -- long answers arrive whole ----------------------------------------------------------


async def test_a_long_catchup_arrives_whole_on_discord_in_several_messages(bridged: World):
    """Fifteen new posts with long subjects and a link each pass Discord's 2,000 characters:
    the list used to be cut there, while the read marker moved past every post."""
    w = bridged
    for n in range(15):
        w.tg.user_sends(w.group["id"], w.brittany.tg, f"{'Allies in the ministry, case ' * 2}{n}\n\n"
                        "What worked for us.", reply_to=w.root["message_id"])
    await w.until(lambda: len(w.discord_mirrors()) >= 15)
    handle = w.dc.invoke_command(w.jessica.dc, w.guild["id"], w.thread["id"], "catchup", {})
    await handle.response(timeout=5)
    pieces = [m["content"] for m in await handle.wait_for_followups(2)]
    assert all(len(piece) <= 2000 for piece in pieces)
    answer = "\n".join(pieces)
    assert [f"#{n} " in answer for n in range(1, 16)] == [True] * 15
    assert answer.endswith("…and 1 more: send /catchup again for the next ones.")


async def test_a_long_help_text_arrives_whole_on_telegram_and_discord(bridged: World):
    w = bridged
    sentence = "Please be kind and write in your own words; links to sources are welcome. "
    w.runtime.core.help_text = sentence * 80  # ~6,000 characters: over both platforms' limits
    ending = "it asks you to confirm first."
    sent = w.tg.user_sends(w.group["id"], w.brittany.tg, "/help")

    def on_telegram() -> list[str]:
        pieces = [c.params["text"] for c in w.tg.calls_to("sendMessage") if c.status == 200
                  and c.response["result"].get("reply_to_message", {}).get("message_id")
                  == sent["message_id"]]
        return pieces if pieces and pieces[-1].endswith(ending) else []

    handle = w.dc.invoke_command(w.jessica.dc, w.guild["id"], w.thread["id"], "help", {})
    first = await handle.response(timeout=5)

    def on_discord() -> list[str]:
        pieces = [first.content] + [m["content"] for m in handle.followups]
        return pieces if pieces[-1].endswith(ending) else []

    telegram, discord = await w.until(on_telegram), await w.until(on_discord)
    assert len(telegram) == 2 and all(len(p) <= 4096 for p in telegram)
    assert len(discord) == 4 and all(len(p) <= 2000 for p in discord)
    for pieces in (telegram, discord):
        assert " ".join(pieces).split()[:80 * len(sentence.split())] == (sentence * 80).split()
