"""`bridgebot check-config` asks each platform what the bot may do in every bridged chat."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bridgebot.checks import Finding, run_checks
from bridgebot.sandbox.discord import FakeDiscord, Permissions
from bridgebot.sandbox.telegram import FakeTelegram
from bridgebot.settings import load_settings

from .auxil.silent import silent_server


async def bridgebot(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the CLI without blocking the loop that serves the sandbox."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridgebot.cli", *args, cwd=cwd, env={**clean, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


def rows(out: str, check: str) -> list[str]:
    return [line for line in out.splitlines() if f"  {check}  " in line]


async def test_a_forum_without_admin_rights_and_a_channel_without_webhooks_are_to_fix(tmp_path):
    async with FakeTelegram() as tg, FakeDiscord() as dc:
        tg_token = tg.add_bot(username="allies_bridge_bot")
        forum = tg.add_chat("Allies forum", is_forum=True, bot_status="member")
        group = tg.add_chat("Allies group")
        dc_token = dc.add_bot("bridgebot")
        guild = dc.add_guild("New Tactics")
        channel = dc.add_text_channel(guild["id"], "allies")
        dc.set_bot_permissions(guild["id"], Permissions.BOT_DEFAULT & ~Permissions.MANAGE_WEBHOOKS)
        config = tmp_path / "bridgebot.toml"
        config.write_text(
            f'[telegram]\nbase_url = "{tg.url}"\n\n'
            f'[discord]\napi_base_url = "{dc.api_base}"\nguilds = [{guild["id"]}]\n\n'
            f'[[bridges]]\nname = "allies"\ntelegram_chats = [{forum["id"]}, {group["id"]}]\n'
            f'discord_channels = [{channel["id"]}]\n')
        env = {"BRIDGEBOT_TELEGRAM__TOKEN": tg_token, "BRIDGEBOT_DISCORD__TOKEN": dc_token}
        code, out, err = await bridgebot("--config", str(config), "check-config", cwd=tmp_path,
                                         env=env)
    assert code == 1, out + err
    assert "configuration is valid" in out  # the offline checks still come first
    forum_admin = [r for r in rows(out, "bot is admin") if "Allies forum" in r]
    assert forum_admin and " FIX " in forum_admin[0] and "Manage Topics" in forum_admin[0]
    group_admin = [r for r in rows(out, "bot is admin") if "Allies group" in r]
    assert group_admin and " ok " in group_admin[0]
    permissions = rows(out, "permissions")
    assert len(permissions) == 1 and " FIX " in permissions[0]
    assert "Manage Webhooks" in permissions[0] and "Manage Threads" not in permissions[0]
    assert " ok " in rows(out, "token")[0] and "@allies_bridge_bot" in rows(out, "token")[0]
    # Hiding a post deletes its original only where the bot is an admin allowed to delete.
    can_delete = rows(out, "can delete messages")
    assert [" FIX " in r for r in can_delete if "Allies forum" in r] == [True]
    assert [" ok " in r for r in can_delete if "Allies group" in r] == [True]
    assert "3 of 12 checks need fixing" in out  # 11 on the platforms, 1 the database
    assert tg_token not in out + err and dc_token not in out + err


async def test_everything_in_order_exits_0(tmp_path):
    async with FakeTelegram() as tg, FakeDiscord() as dc:
        tg_token = tg.add_bot()
        forum = tg.add_chat("Allies forum", is_forum=True)
        dc_token = dc.add_bot("bridgebot")
        guild = dc.add_guild("New Tactics")
        text = dc.add_text_channel(guild["id"], "allies")
        board = dc.add_forum_channel(guild["id"], "discussions")
        settings = load_settings(
            database=str(tmp_path / "bridgebot.sqlite3"),
            telegram={"token": tg_token, "base_url": tg.url},
            discord={"token": dc_token, "api_base_url": dc.api_base, "guilds": [int(guild["id"])]},
            bridges=[{"name": "allies", "telegram_chats": [forum["id"]],
                      "discord_channels": [int(text["id"]), int(board["id"])]}])
        lines: list[str] = []
        code = await run_checks(settings, lines.append)
    assert code == 0, "\n".join(lines)
    assert lines[-1] == "All 12 checks passed."  # 11 on the platforms, 1 the database
    assert any("can delete messages" in line and " ok " in line for line in lines)
    assert any("can manage topics" in line and " ok " in line for line in lines)
    assert any("forum channel" in line for line in lines)


async def test_a_channel_overwrite_that_denies_a_permission_is_reported(tmp_path):
    async with FakeDiscord() as dc:
        dc_token = dc.add_bot("bridgebot")
        guild = dc.add_guild("New Tactics")
        channel = dc.add_text_channel(guild["id"], "allies")
        # The server grants everything; only this channel takes threads away from everyone.
        dc.set_channel_overwrite(channel["id"], guild["id"],
                                 deny=Permissions.CREATE_PUBLIC_THREADS | Permissions.MANAGE_THREADS)
        settings = load_settings(
            discord={"token": dc_token, "api_base_url": dc.api_base},
            bridges=[{"name": "allies", "discord_channels": [int(channel["id"])]}])
        lines: list[str] = []
        code = await run_checks(settings, lines.append)
    assert code == 1
    row = next(line for line in lines if "  permissions  " in line)
    assert "Create Public Threads" in row and "Manage Threads" in row
    assert "Manage Webhooks" not in row


async def test_refused_tokens_and_unknown_chats_say_what_to_do(tmp_path):
    async with FakeTelegram() as tg, FakeDiscord() as dc:
        tg.add_bot()
        dc.add_bot("bridgebot")
        settings = load_settings(
            telegram={"token": "123456:not-the-real-token", "base_url": tg.url},
            discord={"token": "not.the.token", "api_base_url": dc.api_base},
            bridges=[{"name": "allies", "telegram_chats": [-100123], "discord_channels": [42]}])
        lines: list[str] = []
        code = await run_checks(settings, lines.append)
    assert code == 1
    table = "\n".join(lines)
    assert "@BotFather" in table and "developer portal" in table
    assert "not-the-real-token" not in table


async def test_a_bridge_naming_a_platform_without_a_token_is_a_config_error(tmp_path):
    code, out, err = await bridgebot("check-config", cwd=tmp_path, env={
        "BRIDGEBOT_BRIDGES": '[{"name": "allies", "telegram_chats": [-100123]}]'})
    assert code == 2
    assert "links Telegram chats but telegram.token" in out
    assert "Traceback" not in err


def test_the_table_lines_up_and_marks_what_to_fix():
    from bridgebot.checks import render_table

    lines = render_table([Finding("telegram", "chat -1", "bot can post", True, "member"),
                          Finding("discord", "#allies (1)", "permissions", False, "grant X")])
    assert lines[0].split() == ["platform", "where", "check", "result"]
    assert lines[2].split()[-3:] == ["FIX", "grant", "X"]
    assert len({line.index("ok") if " ok " in line else line.index("FIX") for line in lines[1:]}) == 1


async def test_a_bot_that_may_not_delete_messages_is_told_what_hide_needs(tmp_path):
    async with FakeDiscord() as dc:
        dc_token = dc.add_bot("bridgebot")
        guild = dc.add_guild("New Tactics")
        channel = dc.add_text_channel(guild["id"], "allies")
        dc.set_bot_permissions(guild["id"], Permissions.BOT_DEFAULT & ~Permissions.MANAGE_MESSAGES)
        settings = load_settings(
            discord={"token": dc_token, "api_base_url": dc.api_base},
            bridges=[{"name": "allies", "discord_channels": [int(channel["id"])]}])
        lines: list[str] = []
        code = await run_checks(settings, lines.append)
    assert code == 1
    row = next(line for line in lines if "  permissions  " in line)
    assert " FIX " in row and "Manage Messages" in row and "/hide" in row


async def test_a_bot_in_more_servers_than_one_gateway_shard_should_carry_is_told_to_shard():
    async with FakeDiscord() as dc:
        dc_token = dc.add_bot("bridgebot")
        servers = [dc.add_guild(f"Server {i}") for i in range(1001)]  # Discord: 1 per 1,000
        channel = dc.add_text_channel(servers[0]["id"], "allies")
        rows: dict[int, list[str]] = {}
        for count in (1, 2):
            settings = load_settings(
                discord={"token": dc_token, "api_base_url": dc.api_base, "shard_count": count},
                bridges=[{"name": "allies", "discord_channels": [int(channel["id"])]}])
            lines: list[str] = []
            await run_checks(settings, lines.append)
            rows[count] = [line for line in lines if "gateway shards" in line]
    assert len(rows[1]) == 1 and " FIX " in rows[1][0]
    assert "Discord advises 2 shards" in rows[1][0] and "discord.shard_count = 2" in rows[1][0]
    assert len(rows[2]) == 1 and " ok " in rows[2][0] and "2 shards (Discord advises 2)" in rows[2][0]


def everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


async def test_a_missing_files_folder_is_reported_and_left_for_run_to_make(tmp_path):
    """check-config is a look before starting: it makes no folder, but says whether the
    running bot could (and will)."""
    (tmp_path / "data").mkdir()
    before = everything_under(tmp_path)
    settings = load_settings(database=str(tmp_path / "data" / "bridgebot.sqlite3"))
    lines: list[str] = []
    assert await run_checks(settings, lines.append) == 0, lines
    at = lines.index(f"files: {tmp_path / 'data' / 'files'}")
    assert lines[at + 1] == "  not there yet: `bridgebot run` makes it at start"
    assert everything_under(tmp_path) == before, "the disk is as it was"

    shared = tmp_path / "shared" / "files"  # two folders to make: run makes both
    lines = []
    assert await run_checks(load_settings(files_dir=str(shared), database=str(
        tmp_path / "data" / "bridgebot.sqlite3")), lines.append) == 0, lines
    assert any("not there yet" in line for line in lines)
    assert everything_under(tmp_path) == before


async def test_an_existing_files_folder_is_proved_writable_and_left_as_it_was(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    settings = load_settings(files_dir=str(folder), database=str(tmp_path / "bridgebot.sqlite3"))
    lines: list[str] = []
    assert await run_checks(settings, lines.append) == 0, lines
    at = lines.index(f"files: {folder}")
    assert "not there yet" not in lines[at + 1]
    assert everything_under(tmp_path) == ["files"], "no tmp/ made, no probe left"


async def test_a_files_folder_that_cannot_be_made_is_a_config_error_and_nothing_is_made(tmp_path):
    (tmp_path / "data").write_text("a file where a folder should be")
    settings = load_settings(files_dir=str(tmp_path / "data" / "files"),
                             database=str(tmp_path / "bridgebot.sqlite3"))
    lines: list[str] = []
    assert await run_checks(settings, lines.append) == 2
    assert any(line.startswith("  ! files_dir: the folder") and "is not a folder" in line
               for line in lines), lines
    assert everything_under(tmp_path) == ["data"]


def test_a_files_folder_that_does_not_answer_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    """A folder on a hung network mount, where every look (a stat) blocks: check-config
    waits its FILES_LOOK_SECONDS for it, then says so in one line and exits 2, as for a
    folder it cannot write (it used to hang there for good)."""
    import threading

    from bridgebot import checks
    from bridgebot.cli import main

    folder = tmp_path / "mount" / "files"
    released = threading.Event()  # set at the end, so the abandoned look ends too
    is_dir = Path.is_dir

    def hung(self: Path, *args, **kwargs) -> bool:
        if self == folder or folder in self.parents:
            released.wait(15)
        return is_dir(self, *args, **kwargs)

    for key in [k for k in os.environ if k.startswith("BRIDGEBOT_")]:
        monkeypatch.delenv(key)
    config = tmp_path / "bridgebot.toml"
    config.write_text(f'database = "{tmp_path / "bridgebot.sqlite3"}"\nfiles_dir = "{folder}"\n')
    monkeypatch.setattr(Path, "is_dir", hung)
    monkeypatch.setattr(checks, "FILES_LOOK_SECONDS", 0.5, raising=False)
    try:
        code = main(["--config", str(config), "check-config"])
    finally:
        released.set()
    out = capsys.readouterr().out
    assert code == 2, out
    assert f"  ! files_dir: the folder {folder} did not answer within 0.5 s" in out.splitlines()[-1]
    assert f"files: {folder}" in out
    assert "configuration is valid" not in out


async def test_a_platform_that_never_answers_is_a_row_to_fix_not_a_hang(tmp_path, monkeypatch):
    """Each platform's questions are bounded (PLATFORM_TIMEOUT): a server that accepts the
    connection and never answers (a proxy or firewall that swallows requests) is one FIX
    row per platform, and the check ends."""
    from bridgebot import checks

    monkeypatch.setattr(checks, "PLATFORM_TIMEOUT", 0.5)
    lines: list[str] = []
    async with silent_server() as port:
        url = f"http://127.0.0.1:{port}"
        settings = load_settings(
            database=str(tmp_path / "bridgebot.sqlite3"),
            telegram={"token": "123456:ABCDEF", "base_url": url},
            discord={"token": "a.b.c", "api_base_url": f"{url}/api/v10"},
            matrix={"homeserver": url, "server_name": "example.org", "as_token": "as",
                    "hs_token": "hs"},
            bridges=[{"name": "allies", "telegram_chats": [-100123], "discord_channels": [42],
                      "matrix_rooms": ["!abc:example.org"]}])
        code = await run_checks(settings, lines.append)
    assert code == 1, lines
    silent_rows = [line.split()[0] for line in lines if "no answer within 0.5 s" in line]
    assert silent_rows == ["telegram", "discord", "matrix"], lines
