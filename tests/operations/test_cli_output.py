"""Terminal output says exactly what is there: tables never cut, empty listings never overclaim."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bridgebot.cli_table import table
from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime

from ..conftest import FACILITATOR, FORUM, LOUNGE
from ..test_settings_and_cli import bridgebot

cell = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=50)


@given(st.lists(st.tuples(cell, st.integers(), cell), min_size=1, max_size=8))
def test_a_table_shows_every_value_whole(rows):
    shown = table(("name", "number", "last"), rows, right=(1,)).splitlines()
    assert len(shown) == len(rows) + 1
    for line, row in zip(shown[1:], rows, strict=True):
        for value in row:
            assert str(value).strip() in line


async def _bridge_with_pending(database: Path | str, title: str) -> None:
    runtime = Runtime(database, [Bridge("allies", (FORUM, LOUNGE))],
                      facilitators=[("console", FACILITATOR.user_id)])
    await runtime.open()
    try:  # no relay runs: the topic's deliveries stay pending
        await run_command(runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic", title)
    finally:
        await runtime.db.close()


async def test_topics_shows_the_whole_last_post_date_and_title(tmp_path: Path, db_setting: Path | str):
    title = "How have you engaged allies perceived as non traditional, and what did it take?"
    await _bridge_with_pending(db_setting, title)
    env = {"BRIDGEBOT_DATABASE": str(db_setting)}
    out = bridgebot("topics", cwd=tmp_path, env=env).stdout
    header, row = out.splitlines()
    assert header.split() == ["id", "status", "posts", "last", "post", "title"]
    assert re.search(r"Kristin Antin, \d{4}-\d\d-\d\d \d\d:\d\d ", row), row
    assert row.endswith(title)


async def test_outbox_by_state_never_says_everything_went_through_when_something_waits(tmp_path: Path,
        db_setting: Path | str):
    await _bridge_with_pending(db_setting, "Allies")
    env = {"BRIDGEBOT_DATABASE": str(db_setting)}
    dead = bridgebot("outbox", "--state", "dead", cwd=tmp_path, env=env)
    assert dead.returncode == 0
    assert dead.stdout.strip() == ("No delivery failed for good. 2 still waiting to be sent: "
                                   "`bridgebot outbox --state pending`.")
    assert "went through" not in dead.stdout
    pending = bridgebot("outbox", "--state", "pending", cwd=tmp_path, env=env).stdout.splitlines()
    assert pending[0].split() == ["id", "state", "tries", "action", "target", "reason"]
    assert len(pending) == 3 and all("open_topic" in row for row in pending[1:])  # the topic, both rooms
    assert {row.split()[4] for row in pending[1:]} == {"console:forum", "console:lounge"}


async def test_an_empty_pending_list_names_what_failed_for_good(tmp_path: Path,
        db_setting: Path | str):
    await _bridge_with_pending(db_setting, "Allies")
    env = {"BRIDGEBOT_DATABASE": str(db_setting)}
    pending = bridgebot("outbox", "--state", "pending", cwd=tmp_path, env=env).stdout
    for row in pending.splitlines()[1:]:
        dropped = bridgebot("outbox", "drop", row.split()[0], cwd=tmp_path, env=env)
        assert dropped.returncode == 0, dropped.stderr
    assert bridgebot("outbox", "--state", "pending", cwd=tmp_path, env=env).stdout.strip() == (
        "No delivery is waiting. Nothing failed for good either.")
