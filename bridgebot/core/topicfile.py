"""Topic files: a facilitator prepares a discussion in TOML, bridgebot checks and plans it.

A topic file holds what the facilitator would otherwise type on day one (title,
introduction, guiding questions) and, optionally, when each step happens::

    title = "How have you engaged allies perceived as non traditional?"
    bridge = "allies"
    facilitator = "Kristin Antin"
    introduction = \"\"\"We'll use this discussion topic to explore ...\"\"\"
    questions = ["Share examples ...", "What challenges did you face?", "What was the impact?"]

    [schedule]
    timezone = "America/Chicago"
    opens = 2027-03-22T09:00:00
    prompts = [2027-03-22T09:00:00, 2027-03-23T09:00:00, 2027-03-24T09:00:00]
    digests = [2027-03-25T09:00:00]
    locks = 2027-03-26T17:00:00
    lock_reason = "Thank you all for sharing."

Every problem is reported as ``FILE:LINE: key: what is wrong``, all of them at once,
so a facilitator fixes the file in one go; nothing is published from a file with an
error.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridgebot.core.plan import ItemKind, ItemSpec, PlanSpec
from bridgebot.core.service import PROMPT_MAX, REASON_MAX, TEXT_MAX, TITLE_MAX
from bridgebot.core.tomlspots import KeySpot, locate_keys

TOP_KEYS = ("name", "title", "bridge", "facilitator", "introduction", "questions", "schedule")
SCHEDULE_KEYS = ("timezone", "opens", "prompts", "digests", "locks", "lock_reason")
NAME_MAX = 100
QUESTIONS_MAX = 50
_SYNTAX_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a topic file; warnings do not stop a publish."""

    line: int | None
    key: str
    message: str
    warning: bool = False
    column: int | None = None

    def render(self, source: str) -> str:
        where = source if self.line is None else f"{source}:{self.line}"
        if self.column is not None:
            where += f":{self.column}"
        kind = "warning: " if self.warning else ""
        key = f"{self.key}: " if self.key else ""
        return f"{where}: {kind}{key}{self.message}"


@dataclass(frozen=True)
class Schedule:
    """When each step happens; every time is timezone-aware."""

    timezone: str
    opens: datetime
    prompts: tuple[datetime, ...]
    digests: tuple[datetime, ...]
    locks: datetime | None
    lock_reason: str | None


@dataclass(frozen=True)
class TopicFile:
    source: str
    name: str
    title: str
    bridge: str
    facilitator: str
    introduction: str
    questions: tuple[str, ...]
    schedule: Schedule | None

    def plan(self, now: datetime) -> PlanSpec:
        """The dated items to record; without a schedule everything is due ``now``."""
        sched = self.schedule
        opens = sched.opens if sched else now
        items = [ItemSpec(ItemKind.OPEN, opens)]
        for number, question in enumerate(self.questions, start=1):
            due = sched.prompts[number - 1] if sched and sched.prompts else opens
            items.append(ItemSpec(ItemKind.PROMPT, due, number, question))
        if sched:
            items += [ItemSpec(ItemKind.DIGEST, d) for d in sched.digests]
            if sched.locks is not None:
                items.append(ItemSpec(ItemKind.LOCK, sched.locks, text=sched.lock_reason))
        return PlanSpec(
            name=self.name, bridge=self.bridge, title=self.title, introduction=self.introduction,
            facilitator=self.facilitator, timezone=sched.timezone if sched else "UTC",
            source=self.source, items=tuple(items),
        )


class TopicFileError(Exception):
    """A topic file has errors; ``problems`` lists them (warnings included)."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(p.render(source) for p in problems))


def load_topic_file(
    path: Path | str, *, bridges: Collection[str] | None = None, now: datetime | None = None,
) -> tuple[TopicFile, list[Problem]]:
    """Read and check a topic file: (topic file, warnings), or :class:`TopicFileError`.

    ``bridges`` are the configured bridge names (None: not checked); ``now`` lets the
    checks notice a lock time already past.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TopicFileError(str(path), [Problem(None, "", "there is no such file")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise TopicFileError(str(path), [Problem(None, "", f"cannot be read: {err}")]) from None
    return parse_topic_text(text, source=str(path), default_name=path.stem, bridges=bridges,
                            now=now)


def parse_topic_text(
    text: str, *, source: str, default_name: str = "topic", bridges: Collection[str] | None = None,
    now: datetime | None = None,
) -> tuple[TopicFile, list[Problem]]:
    """Like :func:`load_topic_file`, for text already read."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise TopicFileError(source, [_syntax_problem(err)]) from None
    checker = _Checker(data, locate_keys(text), bridges, now or datetime.now(UTC))
    topic = checker.check(source, default_name)
    problems = sorted(checker.problems, key=lambda p: (p.line is None, p.line or 0))
    if topic is None or any(not p.warning for p in problems):
        raise TopicFileError(source, problems)
    return topic, problems


def _syntax_problem(err: tomllib.TOMLDecodeError) -> Problem:
    message = str(err)
    found = _SYNTAX_AT.search(message)
    if found is None:
        return Problem(None, "", f"not valid TOML: {message}")
    return Problem(int(found[1]), "", f"not valid TOML: {message[: found.start()]}",
                   column=int(found[2]))


class _Checker:
    """Collects every problem of a parsed topic file, each with the key's line."""

    def __init__(self, data: dict[str, Any], spots: dict[str, KeySpot],
                 bridges: Collection[str] | None, now: datetime) -> None:
        self.data = data
        self.spots = spots
        self.bridges = bridges
        self.now = now
        self.problems: list[Problem] = []

    def line(self, key: str, index: int | None = None) -> int | None:
        spot = self.spots.get(key)
        if spot is None:
            parent = key.rpartition(".")[0]
            return self.line(parent) if parent else None
        if index is not None and index < len(spot.elements):
            return spot.elements[index]
        return spot.line

    def problem(self, key: str, message: str, index: int | None = None, *,
                warning: bool = False) -> None:
        shown = f"{key}[{index + 1}]" if index is not None else key
        self.problems.append(Problem(self.line(key, index), shown, message, warning))

    # -- values ------------------------------------------------------------------

    def text(self, table: dict[str, Any], key: str, full: str, limit: int, *,
             required: bool = True, one_line: bool = False) -> str | None:
        if key not in table:
            if required:
                self.problems.append(Problem(None, full, "is missing: add it to the file"))
            return None
        value = table[key]
        if not isinstance(value, str):
            self.problem(full, f"must be text in quotes, not {_kind(value)}")
            return None
        value = value.strip()
        if required and not value:
            self.problem(full, "is empty")
            return None
        if one_line and "\n" in value:
            self.problem(full, "must be a single line")
            return None
        if len(value) > limit:
            self.problem(full, f"is too long ({len(value)} characters; the limit is {limit})")
            return None
        return value

    def unknown(self, table: dict[str, Any], known: tuple[str, ...], prefix: str) -> None:
        for key in table:
            if key not in known:
                self.problem(f"{prefix}{key}", f"is not a known key (known: {', '.join(known)}); "
                             "check the spelling")

    # -- the file ----------------------------------------------------------------

    def check(self, source: str, default_name: str) -> TopicFile | None:
        data = self.data
        self.unknown(data, TOP_KEYS, "")
        name = self.text(data, "name", "name", NAME_MAX, required=False, one_line=True)
        if name is None:
            name = default_name
        elif not _NAME.fullmatch(name):
            self.problem("name", "use letters, digits, '-', '_' or '.' (it names the plan)")
        title = self.text(data, "title", "title", TITLE_MAX, one_line=True)
        bridge = self.text(data, "bridge", "bridge", NAME_MAX, one_line=True)
        if bridge and self.bridges is not None and bridge not in self.bridges:
            known = ", ".join(sorted(self.bridges)) or "none"
            self.problem("bridge", f'"{bridge}" is not a configured bridge (configured: {known})')
        facilitator = self.text(data, "facilitator", "facilitator", NAME_MAX, one_line=True)
        introduction = self.text(data, "introduction", "introduction", TEXT_MAX)
        questions = self.questions()
        schedule = None
        if "schedule" in data:
            if isinstance(data["schedule"], dict):
                raw = data.get("questions")
                schedule = self.schedule(data["schedule"], len(raw) if isinstance(raw, list) else 0)
            else:
                self.problem("schedule", "must be a table: write [schedule] on a line of its own")
        if title is None or bridge is None or facilitator is None or introduction is None:
            return None
        return TopicFile(source, name, title, bridge, facilitator, introduction,
                         tuple(questions), schedule)

    def questions(self) -> list[str]:
        raw = self.data.get("questions", [])
        if not isinstance(raw, list):
            self.problem("questions", f"must be a list of questions in quotes, not {_kind(raw)}")
            return []
        if len(raw) > QUESTIONS_MAX:
            self.problem("questions", f"has {len(raw)} questions; at most {QUESTIONS_MAX}")
        out = []
        for i, question in enumerate(raw):
            if not isinstance(question, str):
                self.problem("questions", f"must be text in quotes, not {_kind(question)}", i)
            elif not question.strip():
                self.problem("questions", "is empty", i)
            elif len(question.strip()) > PROMPT_MAX:
                self.problem("questions", f"is too long ({len(question.strip())} characters; "
                             f"the limit is {PROMPT_MAX})", i)
            else:
                out.append(question.strip())
        return out

    # -- the schedule ------------------------------------------------------------

    def schedule(self, table: dict[str, Any], question_count: int) -> Schedule | None:
        self.unknown(table, SCHEDULE_KEYS, "schedule.")
        zone_name = table.get("timezone")
        zone: ZoneInfo | None = None
        if zone_name is not None:
            zone = self.zone(zone_name)
        before = len(self.problems)
        opens = self.when(table, "opens", zone, zone_name)
        if "opens" not in table:
            self.problems.append(Problem(self.line("schedule"), "schedule.opens",
                                         "is missing: say when the topic opens"))
        prompts = self.times(table, "prompts", zone, zone_name)
        digests = self.times(table, "digests", zone, zone_name)
        locks = self.when(table, "locks", zone, zone_name) if "locks" in table else None
        reason = self.text(table, "lock_reason", "schedule.lock_reason", REASON_MAX, required=False)
        raw_prompts = table.get("prompts")
        if isinstance(raw_prompts, list) and len(raw_prompts) != question_count:
            self.problem("schedule.prompts", f"has {len(raw_prompts)} time(s) for {question_count} "
                         "question(s): give one time per question, in the same order")
        self.order(opens, prompts, digests, locks)
        if locks is not None and locks <= self.now:
            self.problem("schedule.locks", f"{_show(locks, zone)} is already past: the topic "
                         "would open and lock at once", warning=True)
        if opens is None or any(not p.warning for p in self.problems[before:]):
            return None
        return Schedule(str(zone_name or "UTC"), opens, tuple(prompts), tuple(digests), locks,
                        reason or None)

    def zone(self, name: object) -> ZoneInfo | None:
        if not isinstance(name, str) or not name.strip():
            self.problem("schedule.timezone", 'must be a time zone name in quotes, e.g. "Europe/Berlin"')
            return None
        try:
            return ZoneInfo(name.strip())
        except (ZoneInfoNotFoundError, ValueError):
            self.problem("schedule.timezone", f'"{name}" is not a known time zone: use an IANA '
                         'name such as "Europe/Berlin", "America/Chicago" or "UTC"')
            return None

    def times(self, table: dict[str, Any], key: str, zone: ZoneInfo | None,
              zone_name: object) -> list[datetime]:
        raw = table.get(key, [])
        if not isinstance(raw, list):
            self.problem(f"schedule.{key}", f"must be a list of times in [brackets], not {_kind(raw)}")
            return []
        out = []
        for i, value in enumerate(raw):
            when = self.moment(value, f"schedule.{key}", zone, zone_name, i)
            if when is not None:
                out.append(when)
        return out

    def when(self, table: dict[str, Any], key: str, zone: ZoneInfo | None,
             zone_name: object) -> datetime | None:
        if key not in table:
            return None
        return self.moment(table[key], f"schedule.{key}", zone, zone_name)

    def moment(self, value: object, key: str, zone: ZoneInfo | None, zone_name: object,
               index: int | None = None) -> datetime | None:
        """A TOML date-time (or "YYYY-MM-DD HH:MM" text) as an aware datetime."""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                self.problem(key, f'"{value}" is not a time: write 2027-03-22T09:00:00 '
                             'or "2027-03-22 09:00"', index)
                return None
        if isinstance(value, date) and not isinstance(value, datetime):
            self.problem(key, f"{value} is a date without a time of day: write {value}T09:00:00",
                         index)
            return None
        if isinstance(value, time) or not isinstance(value, datetime):
            self.problem(key, f"must be a date and time such as 2027-03-22T09:00:00, not "
                         f"{_kind(value)}", index)
            return None
        if value.tzinfo is not None:
            return value
        if zone is None:
            if zone_name is None:
                self.problem(key, "has no time zone: add timezone = \"Area/City\" to [schedule] "
                             "(or write the offset, e.g. 2027-03-22T09:00:00+01:00)", index)
            return None
        aware = value.replace(tzinfo=zone)
        if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
            self.problem(key, f"{value:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks "
                         "skip that hour): pick another time", index)
            return None
        if value.replace(tzinfo=zone, fold=1).utcoffset() != aware.utcoffset():
            self.problem(key, f"{value:%Y-%m-%d %H:%M} happens twice in {zone.key} (the clocks go "
                         "back): the first one is used", index, warning=True)
        return aware

    def order(self, opens: datetime | None, prompts: list[datetime], digests: list[datetime],
              locks: datetime | None) -> None:
        """Opens, then the questions in order, digests and the lock in between; what could
        not be read is left out of the comparisons (its own problem is already reported)."""
        known = [t for t in (opens, locks, *prompts, *digests) if t is not None]
        zone = known[0].tzinfo if known else None
        previous: datetime | None = None
        for i, due in enumerate(prompts):
            if opens is not None and due < opens:
                self.problem("schedule.prompts", f"{_show(due, zone)} is before the topic opens "
                             f"({_show(opens, zone)})", i)
            elif previous is not None and due < previous:
                self.problem("schedule.prompts", f"{_show(due, zone)} is before question {i}'s "
                             f"time ({_show(previous, zone)}): questions go out in order", i)
            previous = due if previous is None else max(previous, due)
        for i, due in enumerate(digests):
            if opens is not None and due < opens:
                self.problem("schedule.digests", f"{_show(due, zone)} is before the topic opens "
                             f"({_show(opens, zone)})", i)
            elif locks is not None and due > locks:
                self.problem("schedule.digests", f"{_show(due, zone)} is after the topic locks "
                             f"({_show(locks, zone)})", i)
        if locks is not None:
            if opens is not None and locks <= opens:
                self.problem("schedule.locks", f"{_show(locks, zone)} is not after the topic opens "
                             f"({_show(opens, zone)})")
            elif prompts and max(prompts) > locks:
                self.problem("schedule.locks", f"{_show(locks, zone)} is before the last question "
                             f"goes out ({_show(max(prompts), zone)})")


def _show(value: datetime, zone: object) -> str:
    """A time as the facilitator wrote it: in the file's zone, to the minute."""
    shown = value.astimezone(zone) if isinstance(zone, ZoneInfo) else value
    return f"{shown:%Y-%m-%d %H:%M}"


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime):
        return "a date-time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, time):
        return "a time"
    return type(value).__name__


def describe_plan(topic: TopicFile) -> list[str]:
    """Lines telling the facilitator what will happen when, in the file's time zone."""
    sched = topic.schedule
    if sched is None:
        lines = [f"“{topic.title}” opens on bridge {topic.bridge} as soon as the bot runs, "
                 f"with {len(topic.questions)} question(s); no lock is scheduled."]
        return lines
    zone = ZoneInfo(sched.timezone)

    def at(value: datetime) -> str:
        local = value.astimezone(zone)
        return f"{local:%a %Y-%m-%d %H:%M} {local.tzname()}"

    lines = [f"“{topic.title}” on bridge {topic.bridge}, facilitated by {topic.facilitator}:",
             f"  opens       {at(sched.opens)}"]
    for number, question in enumerate(topic.questions, start=1):
        due = sched.prompts[number - 1] if sched.prompts else sched.opens
        lines.append(f"  question {number:<2} {at(due)}  {_short(question)}")
    lines += [f"  digest      {at(d)}" for d in sched.digests]
    if sched.locks is not None:
        lines.append(f"  locks       {at(sched.locks)}")
    return lines


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"

