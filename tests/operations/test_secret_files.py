"""Docker secrets: any setting as ``BRIDGEBOT_…_FILE``; mistakes named in one line, never the value."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridgebot.settings import PLACEHOLDER, ConfigError, load_settings

from ..test_settings_and_cli import bridgebot

TOKEN = "123456:AAE-a-token-read-from-a-secret-file"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in list(__import__("os").environ):
        if key.startswith("BRIDGEBOT_"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_a_token_comes_from_the_file_a_file_variable_names(clean_env, tmp_path):
    secret = tmp_path / "telegram_token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")  # `echo` adds a newline: it is not the token's
    clean_env.setenv("BRIDGEBOT_TELEGRAM__TOKEN_FILE", str(secret))
    guilds = tmp_path / "guilds"
    guilds.write_text("[42, 43]", encoding="utf-8")
    clean_env.setenv("BRIDGEBOT_DISCORD__TOKEN", "MTA4NzY1NDMyMTA5ODc2NTQzMg.GhIjKl.a-discord-token")
    clean_env.setenv("BRIDGEBOT_DISCORD__GUILDS_FILE", str(guilds))
    settings_ = load_settings()
    assert settings_.telegram.token.get_secret_value() == TOKEN
    assert settings_.discord.guilds == [42, 43]


@settings(max_examples=30, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60)
       .filter(lambda s: s.strip() and not s.endswith("\n"))
       .filter(lambda s: not PLACEHOLDER.fullmatch(s.strip())))  # those are "not set", on purpose
def test_whatever_the_file_holds_is_the_value_as_written(tmp_path_factory, value):
    import os

    folder = tmp_path_factory.mktemp("secret")
    (folder / "token").write_text(value + "\n", encoding="utf-8")
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("BRIDGEBOT_")}
    os.environ["BRIDGEBOT_DISCORD__TOKEN_FILE"] = str(folder / "token")
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        assert load_settings().discord.token.get_secret_value() == value
    finally:
        os.chdir(cwd)
        del os.environ["BRIDGEBOT_DISCORD__TOKEN_FILE"]
        os.environ.update(saved)


@pytest.mark.parametrize(("setup", "expected"), [
    ("missing", "BRIDGEBOT_TELEGRAM__TOKEN_FILE names {dir}/nothing-here, which cannot be read "
                "(No such file or directory)"),
    ("empty", "BRIDGEBOT_TELEGRAM__TOKEN_FILE names {dir}/empty, which is empty"),
    ("both", "both BRIDGEBOT_TELEGRAM__TOKEN and BRIDGEBOT_TELEGRAM__TOKEN_FILE are set; keep one"),
])
def test_a_file_variable_that_cannot_be_used_is_one_line_naming_it(tmp_path, setup, expected):
    env = {"BRIDGEBOT_TELEGRAM__TOKEN_FILE": str(tmp_path / "nothing-here")}
    if setup == "empty":
        (tmp_path / "empty").write_text("\n", encoding="utf-8")
        env["BRIDGEBOT_TELEGRAM__TOKEN_FILE"] = str(tmp_path / "empty")
    if setup == "both":
        (tmp_path / "token").write_text(TOKEN, encoding="utf-8")
        env = {"BRIDGEBOT_TELEGRAM__TOKEN_FILE": str(tmp_path / "token"),
               "BRIDGEBOT_TELEGRAM__TOKEN": TOKEN}
    done = bridgebot("check-config", cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"bridgebot: bad setting: {expected.format(dir=tmp_path)}"]
    assert TOKEN not in done.stderr + done.stdout


def test_the_error_type_is_a_configuration_error(clean_env, tmp_path):
    clean_env.setenv("BRIDGEBOT_DISCORD__TOKEN_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="BRIDGEBOT_DISCORD__TOKEN_FILE names"):
        load_settings()
