"""Small input cases that used to vanish without a word (issue 13)."""

from __future__ import annotations

from pathlib import Path

from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.adapters.console.shell import Shell
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime

from .conftest import FORUM, LOUNGE


async def shell_session(db: Path | str, lines: list[str]) -> list[str]:
    out: list[str] = []
    console = ConsoleAdapter()
    runtime = Runtime(db, [Bridge("allies", (FORUM, LOUNGE))])
    runtime.add_adapter(console)
    await runtime.start()
    try:
        shell = Shell(runtime, console, out.append)
        for line in lines:
            await shell.handle(line)
    finally:
        await runtime.stop()
    return out


async def test_a_second_shell_run_on_the_same_database_posts_every_message(db_setting):
    db = db_setting
    await shell_session(db, ["/facilitator kristin", "/newtopic Engaging allies",
                             "/as brittany", "First run, first post"])
    out = await shell_session(db, ["/as jessica", "Second run, first post",
                                   "Second run, second post"])
    assert not [line for line in out if "not posted" in line], out
    runtime = Runtime(db, [Bridge("allies", (FORUM, LOUNGE))])
    await runtime.start()
    try:
        texts = [p.text for p in await runtime.store.posts(1)]
    finally:
        await runtime.stop()
    assert texts[-3:] == ["First run, first post", "Second run, first post", "Second run, second post"]


async def test_a_message_of_only_zero_width_characters_is_not_a_post(db_setting):
    db = db_setting
    out = await shell_session(db, ["/facilitator kristin", "/newtopic Engaging allies",
                                   "/as brittany", "\u200b\u200b", "\u200d\ufeff \u2060",
                                   "\u0007\u200b", "Visible"])
    assert len([line for line in out if "not posted (empty message)" in line]) == 3, out
    runtime = Runtime(db, [Bridge("allies", (FORUM, LOUNGE))])
    await runtime.start()
    try:
        assert [p.text for p in await runtime.store.posts(1)][1:] == ["Visible"]
    finally:
        await runtime.stop()


async def test_a_command_for_another_bot_is_neither_run_nor_a_post(bridged):
    w = bridged
    w.tg.user_sends(w.group["id"], w.brittany.tg, "/status@otherbot", reply_to=w.root["message_id"])
    w.tg.user_sends(w.group["id"], w.brittany.tg, "A real post", reply_to=w.root["message_id"])
    await w.until(lambda: any("A real post" in m["content"] for m in w.discord_mirrors()))
    assert [p.text for p in await w.runtime.store.posts(1)][1:] == ["A real post"]
    assert not any("otherbot" in m["content"] for m in w.discord_mirrors())
