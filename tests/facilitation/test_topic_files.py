"""Topic files: checked with every problem's line and key, planned in the file's time zone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridgebot.cli import main
from bridgebot.core.plan import ItemKind
from bridgebot.core.topicfile import TopicFileError, load_topic_file, parse_topic_text
from bridgebot.demo.script import load_seed
from bridgebot.store import open_database

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "topics" / "allies.toml"
NOW = datetime(2026, 12, 1, tzinfo=UTC)

GOOD = """\
title = "Engaging allies"
bridge = "allies"
facilitator = "Kristin Antin"
introduction = \"\"\"
Share your examples.
Even ones that = failed.\"\"\"
questions = [
    "Who were your allies?",
    "What was the impact?",
]

[schedule]
timezone = "Europe/Amsterdam"
opens = 2027-03-22T09:00:00
prompts = [2027-03-22T09:00:00, "2027-03-23 09:00"]
digests = [2027-03-24T12:00:00]
locks = 2027-03-26T17:00:00
lock_reason = "Thank you!"
"""


def problems_of(text: str, **kwargs) -> list[str]:
    with pytest.raises(TopicFileError) as caught:
        parse_topic_text(text, source="t.toml", now=NOW, **kwargs)
    return [p.render("t.toml") for p in caught.value.problems]


def test_the_shipped_example_is_the_seed_discussion_with_a_week_long_schedule():
    topic, warnings = load_topic_file(EXAMPLE, bridges={"allies"}, now=NOW)
    seed = load_seed()
    assert warnings == []
    assert (topic.title, topic.introduction, list(topic.questions)) == (
        seed.title, seed.introduction, seed.questions)
    assert topic.facilitator == "Kristin Antin" and topic.bridge == "allies"
    plan = topic.plan(NOW)
    kinds = [i.kind for i in plan.items]
    assert kinds == [ItemKind.OPEN, ItemKind.PROMPT, ItemKind.PROMPT, ItemKind.PROMPT,
                     ItemKind.DIGEST, ItemKind.LOCK]
    # 09:00 in Chicago during daylight saving time is 14:00 UTC.
    assert plan.items[0].due_at.astimezone(UTC) == datetime(2027, 3, 22, 14, 0, tzinfo=UTC)
    assert plan.items[-1].due_at.astimezone(UTC) == datetime(2027, 3, 26, 22, 0, tzinfo=UTC)


def test_times_are_read_in_the_zone_the_file_names():
    topic, _ = parse_topic_text(GOOD, source="t.toml", now=NOW)
    items = topic.plan(NOW).items
    # Amsterdam is still on winter time (UTC+1) on 22 March 2027.
    assert items[0].due_at.astimezone(UTC) == datetime(2027, 3, 22, 8, 0, tzinfo=UTC)
    assert items[2].due_at.astimezone(UTC) == datetime(2027, 3, 23, 8, 0, tzinfo=UTC)
    assert items[-1].text == "Thank you!"
    assert topic.introduction == "Share your examples.\nEven ones that = failed."


def test_without_a_schedule_everything_is_due_at_publication():
    text = GOOD.split("[schedule]")[0]
    topic, _ = parse_topic_text(text, source="t.toml", now=NOW)
    plan = topic.plan(NOW)
    assert [(i.kind, i.due_at) for i in plan.items] == [
        (ItemKind.OPEN, NOW), (ItemKind.PROMPT, NOW), (ItemKind.PROMPT, NOW)]
    assert plan.timezone == "UTC"


def test_a_syntax_error_names_the_line_and_column():
    bad = GOOD.replace('bridge = "allies"', "bridge = allies")
    assert problems_of(bad) == ["t.toml:2:10: not valid TOML: Invalid value"]


def test_every_problem_of_a_file_is_reported_with_its_line_and_key():
    bad = (GOOD.replace("facilitator =", "facilitatr =")
               .replace('"What was the impact?"', '""')
               .replace("Europe/Amsterdam", "Europe/Atlantis")
               .replace("locks = 2027-03-26T17:00:00", "locks = 2027-03-26"))
    assert problems_of(bad, bridges={"allies"}) == [
        "t.toml:3: facilitatr: is not a known key (known: name, title, bridge, facilitator, "
        "introduction, questions, schedule); check the spelling",
        "t.toml:9: questions[2]: is empty",
        't.toml:13: schedule.timezone: "Europe/Atlantis" is not a known time zone: use an IANA '
        'name such as "Europe/Berlin", "America/Chicago" or "UTC"',
        "t.toml:17: schedule.locks: 2027-03-26 is a date without a time of day: write "
        "2027-03-26T09:00:00",
        "t.toml: facilitator: is missing: add it to the file",
    ]


def test_schedule_order_problems_point_at_the_offending_element():
    bad = GOOD.replace('prompts = [2027-03-22T09:00:00, "2027-03-23 09:00"]',
                       'prompts = [\n  2027-03-23T09:00:00,\n  2027-03-22T10:00:00,\n]')
    bad = bad.replace("digests = [2027-03-24T12:00:00]", "digests = [2027-03-21T12:00:00]")
    assert problems_of(bad) == [
        "t.toml:17: schedule.prompts[2]: 2027-03-22 10:00 is before question 1's time "
        "(2027-03-23 09:00): questions go out in order",
        "t.toml:19: schedule.digests[1]: 2027-03-21 12:00 is before the topic opens "
        "(2027-03-22 09:00)",
    ]


def test_a_bridge_that_is_not_configured_and_a_wrong_count_of_prompt_times_are_refused():
    bad = GOOD.replace('prompts = [2027-03-22T09:00:00, "2027-03-23 09:00"]',
                       "prompts = [2027-03-22T09:00:00]")
    assert problems_of(bad, bridges={"climate"}) == [
        't.toml:2: bridge: "allies" is not a configured bridge (configured: climate)',
        "t.toml:15: schedule.prompts: has 1 time(s) for 2 question(s): give one time per "
        "question, in the same order",
    ]


def test_an_hour_skipped_by_daylight_saving_time_is_refused():
    bad = GOOD.replace("opens = 2027-03-22T09:00:00", "opens = 2027-03-28T02:30:00")
    assert problems_of(bad)[0] == (
        "t.toml:14: schedule.opens: 2027-03-28 02:30 does not exist in Europe/Amsterdam "
        "(the clocks skip that hour): pick another time")


def test_a_lock_time_already_past_is_a_warning_not_an_error():
    _, warnings = parse_topic_text(GOOD, source="t.toml", now=datetime(2027, 6, 1, tzinfo=UTC))
    assert [w.render("t.toml") for w in warnings] == [
        "t.toml:17: warning: schedule.locks: 2027-03-26 17:00 is already past: the topic "
        "would open and lock at once"]


def test_topic_validate_prints_the_plan_or_the_problems(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["topic", "validate", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "is valid" in out
    assert "question 2  Tue 2027-03-23 09:00 CDT" in out
    assert "locks       Fri 2027-03-26 17:00 CDT" in out
    broken = tmp_path / "broken.toml"
    broken.write_text(GOOD.replace('title = "Engaging allies"', "title = 7"), encoding="utf-8")
    assert main(["topic", "validate", str(broken)]) == 1
    err = capsys.readouterr().err
    assert f"{broken}:1: title: must be text in quotes, not a number" in err
    assert main(["topic", "validate", str(tmp_path / "missing.toml")]) == 1
    assert "there is no such file" in capsys.readouterr().err


async def made(database: Path | str) -> None:
    db = open_database(database)
    await db.open()
    await db.close()


def test_topic_publish_records_the_plan_and_refuses_a_broken_file(tmp_path, db_setting, capsys,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRIDGEBOT_DATABASE", str(db_setting))
    monkeypatch.setenv("BRIDGEBOT_BRIDGES", '[{"name": "allies", "console_rooms": ["forum"]}]')
    asyncio.run(made(db_setting))  # the running bot's (`topic schedule` makes none)
    broken = tmp_path / "broken.toml"
    broken.write_text(GOOD.replace('bridge = "allies"', 'bridge = "climate"'), encoding="utf-8")
    assert main(["topic", "publish", str(broken)]) == 1
    assert "nothing was published" in capsys.readouterr().err
    assert main(["topic", "schedule"]) == 0
    assert "No topic files published yet" in capsys.readouterr().out
    assert main(["topic", "publish", str(EXAMPLE)]) == 0
    assert "Published." in capsys.readouterr().out
    assert main(["topic", "schedule"]) == 0
    listing = capsys.readouterr().out
    assert "allies: “How have you engaged allies" in listing and "not opened yet" in listing
    assert "2027-03-24 09:00 CDT   question 3   to come" in listing
    # Publishing again replaces what is to come, and says so.
    assert main(["topic", "publish", str(EXAMPLE)]) == 0
    assert "Replaced the earlier publish of “allies”: 0 step(s)" in capsys.readouterr().out
