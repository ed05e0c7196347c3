"""Settings errors: one line naming the key, where the value came from, and the form expected."""

from __future__ import annotations

import logging
from pathlib import Path

import discord
import pytest

from bridgebot.adapters.discord.checks import DISCORD_NEEDS
from bridgebot.settings import load_settings

from ..test_settings_and_cli import bridgebot

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:AAE-a-real-looking-token-value-xyz"


@pytest.mark.parametrize(("env", "toml", "expected"), [
    ({"BRIDGEBOT_DISCORD__GUILDS": "abc", "BRIDGEBOT_DISCORD__TOKEN": TOKEN}, "",
     "bad setting: discord.guilds (environment variable BRIDGEBOT_DISCORD__GUILDS): expected a JSON "
     "list of whole numbers, e.g. [123456789012345678]"),
    ({"BRIDGEBOT_DISCORD__GUILDS": '["abc"]', "BRIDGEBOT_DISCORD__TOKEN": TOKEN}, "",
     "bad setting discord.guilds.0 (environment variable BRIDGEBOT_DISCORD__GUILDS): expected a "
     "whole number"),
    ({}, "[health]\nport = 'eighty'\n",
     "bad setting health.port ({toml}): expected a whole number"),
    ({}, "[telegram]\nmode = 'polling'\n",
     "bad setting telegram.token ({toml}): is required but not set"),
    ({"BRIDGEBOT_TELEGRAM__TOKEN": TOKEN}, "[telegram]\nmode = 'webhook'\n",
     'bad setting telegram ({toml}): mode = "webhook" needs a [telegram.webhook] section with '
     "public_url and secret_token"),
    ({}, "[[bridges]]\nname = 'allies'\ntelegram_chats = 'x'\n",
     "bad setting bridges.0.telegram_chats ({toml}): expected a list of whole numbers, e.g. "
     "[123456789012345678]"),
    ({"BRIDGEBOT_HEALTH__PORT": "0"}, "",
     "bad setting health.port (environment variable BRIDGEBOT_HEALTH__PORT): should be greater than or "
     "equal to 1"),
])
def test_each_source_is_named_with_the_key_and_the_form_expected(tmp_path, env, toml, expected):
    args = ["check-config"]
    config = tmp_path / "bridgebot.toml"
    if toml:
        config.write_text(toml, encoding="utf-8")
        args = ["--config", str(config), "check-config"]
    done = bridgebot(*args, cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"bridgebot: {expected.format(toml=config)}"]
    assert TOKEN not in done.stderr


def test_a_dotenv_value_is_named_with_its_file(tmp_path):
    (tmp_path / ".env").write_text("BRIDGEBOT_HEALTH__PORT=eighty\n", encoding="utf-8")
    done = bridgebot("check-config", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"bridgebot: bad setting health.port (BRIDGEBOT_HEALTH__PORT in "
                                   f"{tmp_path / '.env'}): expected a whole number")


def test_a_placeholder_token_counts_as_not_set_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    for key in [k for k in __import__("os").environ if k.startswith("BRIDGEBOT_")]:
        monkeypatch.delenv(key)
    config = tmp_path / "bridgebot.toml"
    config.write_text((ROOT / "config" / "bridgebot.example.toml").read_text(encoding="utf-8"),
                      encoding="utf-8")
    caplog.set_level(logging.WARNING)
    settings = load_settings(config)
    assert settings.section("telegram") is None and settings.section("discord") is None
    warned = [r.getMessage() for r in caplog.records]
    assert any("telegram.token" in w and "placeholder" in w and "BRIDGEBOT_TELEGRAM__TOKEN" in w
               for w in warned), warned
    monkeypatch.setenv("BRIDGEBOT_TELEGRAM__TOKEN", TOKEN)
    assert load_settings(config).section("telegram") is not None


def test_run_with_only_placeholders_calls_no_platform(tmp_path):
    config = tmp_path / "bridgebot.toml"
    config.write_text((ROOT / "config" / "bridgebot.example.toml").read_text(encoding="utf-8"),
                      encoding="utf-8")
    done = bridgebot("--config", str(config), "run", cwd=tmp_path)
    assert done.returncode == 2
    assert "placeholder" in done.stderr and "Nothing to run" in done.stderr


@pytest.mark.sqlite_only("what is checked is where --config may stand, not the store: the SQLite "
                        "file the config names, in the answer, proves the config was read")
def test_options_work_before_and_after_the_command(tmp_path):
    config = tmp_path / "elsewhere.toml"
    config.write_text(f'database = "{tmp_path / "x.sqlite3"}"\n', encoding="utf-8")
    before = bridgebot("--config", str(config), "topics", cwd=tmp_path)
    after = bridgebot("topics", "--config", str(config), cwd=tmp_path)
    assert before.returncode == after.returncode == 2
    assert before.stderr == after.stderr == \
        f"bridgebot: there is no database at {tmp_path / 'x.sqlite3'} (set `database` or " \
        "BRIDGEBOT_DATABASE)\n"


@pytest.mark.sqlite_only("a SQLite file that is not there: PostgreSQL has no file to miss")
def test_reading_commands_refuse_a_database_that_is_not_there_and_make_none(tmp_path):
    """Run from another folder, or with a mistyped path, a command that reads what is there
    says there is no database instead of making an empty one to answer "no topics yet"."""
    env = {"BRIDGEBOT_DATABASE": "data/bridgebot.sqlite3"}
    for command in (["topics"], ["outbox"], ["outbox", "drop", "3"], ["export", "1"],
                    ["forget", "--platform", "telegram", "--user", "42"],
                    ["topic", "schedule"]):
        done = bridgebot(*command, cwd=tmp_path, env=env)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert done.stderr == "bridgebot: there is no database at data/bridgebot.sqlite3 (set " \
            "`database` or BRIDGEBOT_DATABASE)\n", command
        assert list(tmp_path.iterdir()) == [], command


def test_version_and_python_m_bridgebot(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "bridgebot", "--version"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("bridgebot ")


def test_the_documented_invite_link_grants_what_the_checks_require():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    import re

    link = re.search(r"discord\.com/oauth2/authorize\?[^`\s]*permissions=(\d+)", readme)
    assert link
    granted = discord.Permissions(int(link[1]))
    listed = " ".join(readme.split("OAuth2 → URL Generator")[1][:900].split())
    for flag, name, _ in DISCORD_NEEDS:
        assert getattr(granted, flag), f"the invite link lacks {name}"
        assert name in listed, f"README's list lacks {name}"
    assert granted.use_application_commands
    assert not granted.administrator


def _model_defaults() -> dict[str, str]:
    """Every leaf setting of the model with its default as README writes it."""
    from typing import get_args, get_origin

    from pydantic import BaseModel

    from bridgebot.adapters import registry
    from bridgebot.settings import settings_class
    from bridgebot.settings_errors import _unwrap

    found: dict[str, str] = {}

    def shown(field) -> str:
        if field.is_required():
            return "required"
        value = field.default_factory() if field.default_factory else field.default
        if value is None:
            return "unset"
        if isinstance(value, str | Path):
            return f'`"{value}"`'
        return f"`{value!r}`".replace("'", '"')

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            kind = _unwrap(field.annotation)
            items = get_args(kind)
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                walk(kind, f"{prefix}{name}.")
            elif (get_origin(kind) is list and items and isinstance(items[0], type)
                  and issubclass(items[0], BaseModel)):
                walk(items[0], f"{prefix}{name}[].")
            else:
                found[f"{prefix}{name}"] = shown(field)

    walk(settings_class(registry.platforms()), "")
    return found


def test_readme_and_the_settings_model_agree_on_every_default():
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = re.compile(r"^\| `([\w.\[\]]+)` \| ([^|]+) \|", re.M)
    documented = {m[1]: m[2].strip() for m in row.finditer(readme)}
    model = _model_defaults()
    assert documented == model
