"""Adding a platform is its package plus one registry line.

The toy platform (tests/toy_platform) is registered by the single line in the ``toy``
fixture; nothing else changes, and it appears in settings, CLI choices, check-config,
``bridgebot run``, /healthz, exports and privacy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridgebot.adapters import registry
from bridgebot.adapters.build import build_adapters
from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.cli import build_parser, load_archive, main
from bridgebot.core import errors
from bridgebot.core.export import to_markdown
from bridgebot.core.models import Author, ChannelRef
from bridgebot.core.privacy import alias_command, anonymized_archive
from bridgebot.core.service import Bridge
from bridgebot.health import adapter_problem
from bridgebot.runtime import Runtime
from bridgebot.settings import ConfigError, load_settings

from . import toy_platform
from .auxil.world import FACILITATOR, FORUM, LOUNGE
from .test_discussion_rules import open_topic

TOKEN = "toy-secret-token-123"
HALL = ChannelRef("toy", "hall")


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "PLATFORMS", (*registry.PLATFORMS, toy_platform.PLATFORM))


def write_config(folder: Path, text: str) -> Path:
    path = folder / "bridgebot.toml"
    path.write_text(text, encoding="utf-8")
    return path


CONFIG = f"""
facilitators = ["toy:bob"]
[toy]
token = "{TOKEN}"
facilitators = ["ann"]
[[bridges]]
name = "allies"
console_rooms = ["forum"]
toy_rooms = ["hall", "closed"]
chat_languages = {{ hall = "es" }}
"""


def test_settings_read_a_registered_platform_section_and_its_chats(tmp_path, monkeypatch):
    config = write_config(tmp_path, CONFIG)
    with pytest.raises(ConfigError, match=r"toy \(.*\): is not a known setting"):
        load_settings(config)  # not registered yet
    monkeypatch.setattr(registry, "PLATFORMS", (*registry.PLATFORMS, toy_platform.PLATFORM))
    monkeypatch.setenv("BRIDGEBOT_TOY__SERVER", "https://other.example")
    settings = load_settings(config)
    section = settings.section("toy")
    assert isinstance(section, toy_platform.ToySettings)
    assert section.server == "https://other.example"  # the environment, nested as for any platform
    bridge = settings.all_bridges()[0]
    assert bridge.channels == (FORUM, HALL, ChannelRef("toy", "closed"))
    assert bridge.chat_languages == {HALL: "es"}
    assert ("toy", "bob") in settings.facilitator_pairs()
    assert ("toy", "ann") in settings.facilitator_pairs()
    assert TOKEN in [s.get_secret_value() for s in settings.secrets()]
    with pytest.raises(ConfigError, match="toy_rooms"):
        load_settings(config, bridges=[{"name": "a", "toy_rooms": [["not", "an", "id"]]}])


def test_the_cli_offers_a_registered_platform(monkeypatch):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["forget", "--platform", "toy", "--user", "7"])
    monkeypatch.setattr(registry, "PLATFORMS", (*registry.PLATFORMS, toy_platform.PLATFORM))
    args = build_parser().parse_args(["forget", "--platform", "toy", "--user", "7"])
    assert args.platform == "toy"


def test_a_platforms_own_subcommand_gets_its_section(tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path, CONFIG)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["toy-whoami"])
    monkeypatch.setattr(registry, "PLATFORMS", (*registry.PLATFORMS, toy_platform.PLATFORM))
    assert main(["--config", str(config), "toy-whoami", "--room", "closed"]) == 0
    assert capsys.readouterr().out == "toy server https://toy.example, room closed\n"
    monkeypatch.chdir(tmp_path)  # no .env either
    assert main(["toy-whoami"]) == 2  # no [toy] section: the command is told so


def test_check_config_runs_the_platforms_check_and_hides_its_token(toy, tmp_path, capsys):
    config = write_config(tmp_path, CONFIG)
    assert main(["--config", str(config), "check-config"]) == 1
    out = capsys.readouterr().out
    assert "toy: configured" in out and "bridge allies: console:forum, toy:hall, toy:closed" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("toy ")]
    assert rows == [["toy", "room", "hall", "bot", "can", "post", "ok", "member"],
                    ["toy", "room", "closed", "bot", "can", "post", "FIX",
                     "invite", "the", "bot", "to", "the", "room"]]
    assert TOKEN not in out


def test_check_config_says_which_setting_a_linked_platform_lacks(toy, tmp_path, capsys):
    config = write_config(tmp_path, '[[bridges]]\nname = "allies"\ntoy_rooms = ["hall"]\n')
    assert main(["--config", str(config), "check-config"]) == 2
    assert ("bridge allies links Toy rooms but toy.token (BRIDGEBOT_TOY__TOKEN) is not set"
            in capsys.readouterr().out)


def test_run_builds_the_platforms_adapter_from_its_section(toy, tmp_path):
    settings = load_settings(write_config(tmp_path, CONFIG))
    [adapter] = build_adapters(settings)
    assert isinstance(adapter, toy_platform.ToyAdapter)
    assert adapter.settings is settings.section("toy")


async def test_a_post_from_the_platform_is_named_by_its_record_everywhere(toy, db_setting):
    console, toy_adapter = ConsoleAdapter(), toy_platform.ToyAdapter(
        toy_platform.ToySettings(token=TOKEN))
    runtime = Runtime(db_setting, [Bridge("allies", (FORUM, LOUNGE, HALL))],
                      facilitators=[("console", FACILITATOR.user_id)])
    runtime.add_adapter(console)
    runtime.add_adapter(toy_adapter)
    async with runtime:
        assert adapter_problem(toy_adapter) is None
        topic = await open_topic(runtime)
        ann = Author("toy", "ann", "Ann Example")
        await toy_adapter.say("hall", ann, "Write to me: https://toy.example/u/ann_e")
        await runtime.drain()
        assert [s.author for s in console.visible("lounge")][-1] == "Ann Example · Toy"
        archive = await load_archive(runtime.store, topic.id)
        assert "Ann Example · Toy · " in to_markdown(archive)
        published = to_markdown(await anonymized_archive(runtime.core.privacy, archive,
                                                         runtime.platforms))
        assert "toy.example/u/ann_e" not in published and "[link removed]" in published
        with pytest.raises(errors.InvalidInput, match="could be mistaken"):
            await alias_command(runtime.core, ann, HALL, "toy USER")
    assert adapter_problem(toy_adapter) == "toy: not connected (stopped)"
