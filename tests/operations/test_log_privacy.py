"""Logs an operator can keep: no message text or name at any level unless --log-content."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from bridgebot import logs
from bridgebot.demo.script import load_seed
from bridgebot.logs import keep_content_out

from ..test_demo import bridgebot


def fragments(text: str) -> list[str]:
    """Distinctive pieces of a text: each line's first 24 characters, when long enough."""
    return [line.strip()[:24] for line in text.splitlines() if len(line.strip()) >= 12]


@pytest.mark.sqlite_only(
    "`bridgebot demo` keeps its discussion in a fresh SQLite file in its --data folder, by design "
    "(offline, nothing to install)")
def test_a_debug_run_of_the_demo_logs_no_message_text_and_no_name(tmp_path: Path):
    seed = load_seed()
    result = bridgebot("-v", "demo", "--no-matrix", "--data", "demo", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stderr
    # Filtered, not silenced: the libraries' debug lines are there, without their payloads.
    assert re.search(r"DEBUG telegram\.ext\.ExtBot: Calling Bot API endpoint `sendMessage` with "
                     r"parameters `<hidden>`", log)
    assert "DEBUG discord." in log and "DEBUG aiosqlite" in log
    names = {seed.facilitator, seed.late_reply.author, *(p.author for p in seed.posts)}
    names |= {part for name in names for part in name.replace(",", " ").split() if len(part) >= 5
              and part[0].isupper()}
    texts = [seed.title, *seed.questions, *fragments(seed.introduction)]
    for post in [*seed.posts, seed.late_reply]:
        texts += [post.subject, *fragments(post.text)] if post.subject else fragments(post.text)
    leaked = [t for t in {*names, *texts} if t and t in log]
    assert not leaked, f"in the debug log: {leaked[:5]}"
    # The demo's own output (what each platform shows) still has them: the log is what is private.
    assert "Brittany Landorf" in result.stdout


def _record(name: str, msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    return logging.LogRecord(name, logging.DEBUG, __file__, 1, msg, args,
                             (type(exc), exc, None) if exc else None)


def test_library_records_keep_tokens_and_lose_payloads(monkeypatch):
    monkeypatch.setattr(logs, "_log_content", False)
    record = _record("telegram.ext.ExtBot", "Calling Bot API endpoint `%s` with parameters `%s`",
                     "sendMessage", {"chat_id": -100, "text": "Meet at 6 at the old library"})
    assert keep_content_out(record)
    assert record.getMessage() == "Calling Bot API endpoint `sendMessage` with parameters `<hidden>`"
    words = _record("discord.gateway", "Event from %s: %s", "Nadia Ali", 42)
    keep_content_out(words)
    assert words.getMessage() == "Event from <hidden>: 42"
    mine = _record("bridgebot.core.relay", "delivery %d to %s", 7, "console:lounge")
    keep_content_out(mine)
    assert mine.getMessage() == "delivery 7 to console:lounge"


def test_log_content_lets_library_payloads_through_for_a_test_bridge(monkeypatch):
    monkeypatch.setattr(logs, "_log_content", True)
    record = _record("telegram.ext.ExtBot", "parameters `%s`", {"text": "hello there"})
    keep_content_out(record)
    assert "hello there" in record.getMessage()


def test_a_discord_reconnect_is_one_warning_line_with_its_reason(monkeypatch):
    monkeypatch.setattr(logs, "_log_content", False)
    record = _record("discord.client", "Attempting a reconnect in %.2fs", 4.2,
                     exc=OSError("Connect call failed"))
    record.levelno, record.levelname = logging.ERROR, "ERROR"
    keep_content_out(record)
    assert record.levelname == "WARNING" and record.exc_info is None
    assert record.getMessage() == (
        "discord: connection lost (OSError: Connect call failed); reconnecting in 4s")
