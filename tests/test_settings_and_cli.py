"""Settings give one clear line on a mistake; the CLI commands work from a clean directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridgebot.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent
SECRET = "123456:AAE-very-secret-token-value"


def bridgebot(*args: str, cwd: Path, env: dict[str, str] | None = None,
              stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bridgebot.cli", *args], cwd=cwd, env=clean, input=stdin,
        capture_output=True, text=True, timeout=60,
    )


def test_the_example_config_is_valid(monkeypatch):
    monkeypatch.setenv("BRIDGEBOT_TELEGRAM__TOKEN", SECRET)
    monkeypatch.setenv("BRIDGEBOT_DISCORD__TOKEN", SECRET)
    settings = load_settings(ROOT / "config" / "bridgebot.example.toml")
    assert settings.bridges and settings.bridges[0].name
    assert settings.telegram.token.get_secret_value() == SECRET
    assert SECRET not in repr(settings)


def test_environment_nests_with_double_underscores(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRIDGEBOT_DISCORD__TOKEN", SECRET)
    monkeypatch.setenv("BRIDGEBOT_DISCORD__GUILDS", "[42]")
    monkeypatch.setenv("BRIDGEBOT_DATABASE", "elsewhere.sqlite3")
    settings = load_settings()
    assert settings.discord.guilds == [42]
    assert str(settings.database) == "elsewhere.sqlite3"


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        ("[telegram]\nbase_url = 'x'\n", {},
         "bad setting telegram.token ({config}): is required but not set"),
        ("[[bridges]]\nname = 'a'\ntelegram_chats = ['not-a-number']\n", {},
         "bad setting bridges.0.telegram_chats.0 ({config}): expected a whole number"),
        ("[discord]\ntoken = 'x'\nguild = [1]\n", {},
         "bad setting discord.guild ({config}): is not a known setting (check the spelling"),
        ("this is = not toml [", {}, "is not valid TOML"),
        ("[telegram]\nmode = 'carrier-pigeon'\n", {"BRIDGEBOT_TELEGRAM__TOKEN": SECRET},
         'bad setting telegram.mode ({config}): expected one of "polling", "webhook"'),
    ],
)
def test_a_bad_setting_is_one_clear_line_with_exit_code_2(tmp_path, toml, env, expected):
    config = tmp_path / "bridgebot.toml"
    config.write_text(toml)
    result = bridgebot("--config", str(config), "check-config", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert expected.format(config=config) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr and SECRET not in result.stderr + result.stdout


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nowhere\.toml does not exist"):
        load_settings(tmp_path / "nowhere.toml")


def test_run_without_any_platform_explains_what_to_set(tmp_path):
    result = bridgebot("run", cwd=tmp_path)
    assert result.returncode == 2
    for hint in ("BRIDGEBOT_TELEGRAM__TOKEN", "BRIDGEBOT_DISCORD__TOKEN", "bridgebot shell"):
        assert hint in result.stderr


def test_every_command_explains_itself_in_help(tmp_path):
    for command in ("run", "shell", "topics", "export", "check-config"):
        result = bridgebot(command, "--help", cwd=tmp_path)
        assert result.returncode == 0 and "usage: bridgebot" in result.stdout
    assert list(tmp_path.iterdir()) == [], "asking for help makes nothing"


SCRIPT = """\
/facilitator Kristin Antin
/newtopic Engaging allies \\
Tell us about allies perceived as non traditional.
/prompt How were these allies identified?
/room lounge
/as Brittany Landorf
Engaging governmental allies in Jordan \\
\\
Hello everyone! An example from Jordan.
/room forum
/as Jessica
/reply 2 Thanks Brittany, this is useful.
/facilitator Kristin Antin
/lock
/as Late Comer
Is it still open?
/status
"""


def test_the_shell_runs_a_discussion_piped_on_stdin(tmp_path, db_setting):
    env = {"BRIDGEBOT_DATABASE": str(db_setting)}  # the test's store; else data/ under cwd
    result = bridgebot("shell", cwd=tmp_path, env=env, stdin=SCRIPT)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[forum m" in out and "Brittany Landorf · console: #2 Engaging governmental" in out
    assert "Jessica · console ↩" in out
    assert "is locked" in out and "no longer accepts posts" in out
    assert "3 posts / 3 new · last post by Jessica" in out
    topics = bridgebot("topics", cwd=tmp_path, env=env)
    assert "locked" in topics.stdout and "Engaging allies" in topics.stdout
    exported = bridgebot("export", "1", "--format", "html", "-o", "topic.html", cwd=tmp_path, env=env)
    assert exported.returncode == 0
    page = (tmp_path / "topic.html").read_text()
    assert "Engaging governmental allies in Jordan" in page and "Topic locked" in page
    assert bridgebot("export", "7", cwd=tmp_path, env=env).returncode == 1
