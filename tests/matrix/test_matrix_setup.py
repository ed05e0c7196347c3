"""Setting Matrix up: the registration file, the [matrix] settings, check-config."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import aiohttp
import pytest
import yaml
from mautrix.api import HTTPAPI, Method
from mautrix.api import Path as MatrixPath
from mautrix.client import ClientAPI
from mautrix.errors import MNotFound
from mautrix.types import EventType, RoomCreatePreset, RoomID, UserID

from bridgebot.adapters.matrix.registration import registration
from bridgebot.adapters.matrix.synapse import LocalSynapse
from bridgebot.cli import main
from bridgebot.settings import ConfigError, load_settings

from ..test_check_config import bridgebot, rows
from .conftest import Person, _person


def matrix_env(s) -> dict[str, str]:
    return {"BRIDGEBOT_MATRIX__HOMESERVER": s.homeserver, "BRIDGEBOT_MATRIX__SERVER_NAME": s.server_name,
            "BRIDGEBOT_MATRIX__AS_TOKEN": s.as_token.get_secret_value(),
            "BRIDGEBOT_MATRIX__HS_TOKEN": s.hs_token.get_secret_value(),
            "BRIDGEBOT_MATRIX__PORT": str(s.port)}


def test_matrix_registration_writes_what_synapse_reads(tmp_path: Path, synapse: LocalSynapse,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in matrix_env(synapse.appservice).items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "bridgebot-registration.yaml"
    assert main(["matrix-registration", "-o", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds both tokens
    written = yaml.safe_load(out.read_text())
    assert written == registration(synapse.appservice)
    # The fixture's homeserver runs with the file this command writes, byte for byte.
    assert out.read_text() == (synapse.directory / "appservice.yaml").read_text()


def test_matrix_registration_without_settings_says_what_to_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["matrix-registration"]) == 2
    assert "matrix.as_token" in capsys.readouterr().err


def test_matrix_settings_and_rooms(tmp_path: Path) -> None:
    config = tmp_path / "bridgebot.toml"
    config.write_text('[matrix]\nhomeserver = "https://matrix.example.org"\nserver_name = "example.org"\n'
                      'as_token = "as-secret-1"\nhs_token = "hs-secret-2"\n'
                      'facilitators = ["@kristin:example.org"]\n\n'
                      '[[bridges]]\nname = "allies"\nmatrix_rooms = ["!abc:example.org"]\n')
    settings = load_settings(config)
    assert [str(c) for c in settings.all_bridges()[0].channels] == ["matrix:!abc:example.org"]
    assert ("matrix", "@kristin:example.org") in settings.facilitator_pairs()
    assert "secret" not in repr(settings.matrix)  # tokens are secrets
    config.write_text(config.read_text().replace('"@kristin:example.org"', '"kristin"'))
    with pytest.raises(ConfigError, match=r"matrix\.facilitators"):
        load_settings(config)


async def _membership(person: Person, room: str, user: str) -> str | None:
    """``user``'s membership in ``room`` as the homeserver has it (read by a member)."""
    try:
        member = await person.client.get_state_event(RoomID(room), EventType.ROOM_MEMBER,
                                                     state_key=user)
    except MNotFound:
        return None
    return str(member["membership"])


async def _summarized_as_encrypted(person: Person, room: str) -> None:
    """Wait until the room's summary says it is encrypted: Synapse takes that from its room
    statistics, which it brings up to date a moment after the room's events."""
    async with asyncio.timeout(20):
        while True:
            summary = await person.client.api.request(Method.GET,
                                                      MatrixPath.v1.room_summary[RoomID(room)])
            if summary.get("encryption"):
                return
            await asyncio.sleep(0.05)


async def test_check_config_names_the_power_levels_and_refuses_encrypted_rooms(
        tmp_path: Path, synapse: LocalSynapse) -> None:
    """check-config reads each room and joins none: the bot's membership is, by Synapse's
    account, what it was before (it used to join every room it was invited to)."""
    owner = await _person(synapse, "owner", "Owner")
    bot = synapse.appservice.bot_user_id
    joined = str(await owner.client.create_room(name="Joined", invitees=[bot], power_level_override={
        "redact": 100}))
    async with aiohttp.ClientSession() as session:  # the bot joined it before (a run)
        api = HTTPAPI(synapse.url, token=synapse.appservice.as_token.get_secret_value(),
                      client_session=session, as_user_id=UserID(bot))
        await ClientAPI(mxid=UserID(bot), api=api).join_room_by_id(RoomID(joined))
    invited = str(await owner.client.create_room(name="Invited", invitees=[bot]))
    secret = str(await owner.client.create_room(
        name="Secret", invitees=[bot], initial_state=[{
            "type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]))
    uninvited = str(await owner.client.create_room(name="Closed"))
    public = str(await owner.client.create_room(name="Open", preset=RoomCreatePreset.PUBLIC))
    every = (joined, invited, secret, uninvited, public)
    await _summarized_as_encrypted(owner, secret)
    before = [await _membership(owner, room, bot) for room in every]
    assert before == ["join", "invite", "invite", None, None]
    config = tmp_path / "bridgebot.toml"
    rooms = ", ".join(f'"{r}"' for r in every)
    config.write_text(f'[[bridges]]\nname = "allies"\nmatrix_rooms = [{rooms}]\n')
    env = matrix_env(synapse.appservice)
    try:
        code, out, err = await bridgebot("--config", str(config), "check-config", cwd=tmp_path, env=env)
        after = [await _membership(owner, room, bot) for room in every]
    finally:
        for room in every:
            await owner.client.leave_room(RoomID(room))
        await owner.client.api.session.close()
    assert after == before, "check-config joined no room"
    assert code == 1, out + err
    assert " ok " in rows(out, "registration")[0]
    joined, invited, secret, uninvited, public = (r[:20] for r in every)  # the table shortens ids
    redact = [r for r in rows(out, "can redact") if joined in r]
    assert redact and " FIX " in redact[0] and "needs power level 100" in redact[0]
    assert " ok " in next(r for r in rows(out, "can post") if joined in r)
    assert " ok " in next(r for r in rows(out, "bot is in the room") if joined in r)
    waiting = next(r for r in rows(out, "bot is in the room") if invited in r)
    assert " ok " in waiting and "not joined yet; `bridgebot run` will join it (invited: yes)" in waiting
    unread = next(r for r in rows(out, "power levels") if invited in r)
    assert "not read yet" in unread and " later " in unread, "not ok: not checked yet"
    assert not [r for r in rows(out, "can redact") if invited in r], "unknown before joining"
    encrypted = [r for r in rows(out, "not encrypted") if secret in r]
    assert encrypted and " FIX " in encrypted[0] and "end-to-end encrypted" in encrypted[0]
    assert " ok " in next(r for r in rows(out, "not encrypted") if invited in r)
    closed = [r for r in rows(out, "bot is in the room") if uninvited in r]
    assert closed and " FIX " in closed[0] and f"invite {bot}" in closed[0]
    anyone = next(r for r in rows(out, "bot is in the room") if public in r)
    assert " ok " in anyone and "(invited: no; anyone may join)" in anyone
    assert env["BRIDGEBOT_MATRIX__AS_TOKEN"] not in out + err


async def test_a_room_the_bot_is_only_invited_to_passes_with_what_is_left_for_later(
        tmp_path: Path, synapse: LocalSynapse) -> None:
    """Before the first run the bot is only invited: nothing is to fix, but its power levels
    cannot be read yet. The row says "later", and the summary says how many checks wait for
    the first run instead of that every check passed."""
    owner = await _person(synapse, "owner", "Owner")
    bot = synapse.appservice.bot_user_id
    invited = str(await owner.client.create_room(name="Invited later", invitees=[bot]))
    config = tmp_path / "bridgebot.toml"
    config.write_text(f'[[bridges]]\nname = "allies"\nmatrix_rooms = ["{invited}"]\n')
    try:
        code, out, err = await bridgebot("--config", str(config), "check-config", cwd=tmp_path,
                                         env=matrix_env(synapse.appservice))
    finally:
        await owner.client.leave_room(RoomID(invited))
        await owner.client.api.session.close()
    assert code == 0, out + err
    assert " later " in rows(out, "power levels")[0]
    last = out.strip().splitlines()[-1]
    assert last.startswith("4 of 5 checks passed; 1 can only be made once `bridgebot run` has "
                           "joined"), last
    assert "All" not in last


@pytest.mark.timeout(180)
@pytest.mark.sqlite_only(
    "`bridgebot demo` keeps its discussion in a fresh SQLite file in its --data folder, by design "
    "(offline, nothing to install)")
async def test_the_demo_with_matrix_shows_the_room_with_each_authors_ghost(tmp_path: Path):
    from bridgebot.adapters.matrix.synapse import synapse_installed
    from bridgebot.demo.run import run_demo

    from .conftest import _unavailable

    if not synapse_installed():
        _unavailable("Synapse is not installed (matrix-synapse, in the test extra)")
    lines: list[str] = []
    result = await run_demo(tmp_path / "demo", out=lines.append)  # Synapse is installed here
    assert result.status.startswith("9 posts")
    assert any(line.startswith("  Matrix homeserver") for line in lines)
    room = [line for line in lines if line.startswith("  Matrix ")
            and not line.startswith("  Matrix homeserver")]
    assert any("bridgebot: How have you engaged allies" in line for line in room), "the topic"
    assert any("Brittany Landorf (Telegram)" in line and "#2" in line for line in room)
    assert any("(Discord)" in line and "#3" in line for line in room)
    assert "Topic locked" in room[-1]
    assert (tmp_path / "demo" / "matrix-transcript.txt").is_file()
