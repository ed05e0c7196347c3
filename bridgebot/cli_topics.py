"""``bridgebot topic validate|publish|schedule`` and ``bridgebot serve``.

Facilitators prepare a discussion in a topic file and publish it from any machine
that reaches the database (``docker compose exec bridgebot bridgebot topic publish ...``);
the running bot carries the plan out. Kept apart from ``cli.py`` so the command
table there stays a table.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bridgebot.core import errors
from bridgebot.core.plan import Plan, PlanItem
from bridgebot.core.schedule import publish
from bridgebot.core.topicfile import TopicFile, TopicFileError, describe_plan, load_topic_file
from bridgebot.settings import Settings

if TYPE_CHECKING:
    from bridgebot.runtime import Runtime

EXIT_INVALID = 1


def add_topic_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="topic_action", required=True, metavar="ACTION")
    validate = sub.add_parser("validate", help="check a topic file and show its plan",
                              description="Check a topic file: every problem with its line.")
    validate.add_argument("file", help="the topic file (TOML), e.g. config/topics/allies.toml")
    pub = sub.add_parser("publish", help="record a topic file's plan for the running bot",
                         description="Check a topic file and record its plan; the running bot "
                         "opens the topic, posts the questions and locks it on schedule.")
    pub.add_argument("file", help="the topic file (TOML)")
    sub.add_parser("schedule", help="list published plans and what is done or still to come",
                   description="List published topic plans, step by step.")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8081,
                        help="port (default 8081; 8080 is the health endpoint's)")
    parser.add_argument("--anonymize", action="store_true",
                        help="every author as “Participant N”, names in texts and profile links "
                        "removed (otherwise authors are named as each bridge's `authors` says)")


def _bridges(settings: Settings) -> list[str] | None:
    names = [b.name for b in settings.bridges]
    return names or None


def _check(settings: Settings, path: str) -> TopicFile | None:
    """The checked topic file (warnings printed), or None after printing every problem."""
    try:
        topic, warnings = load_topic_file(path, bridges=_bridges(settings), now=datetime.now(UTC))
    except TopicFileError as err:
        print(f"{path} has problems; nothing was published:" if err.problems else path,
              file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem.render(err.source)}", file=sys.stderr)
        return None
    for warning in warnings:
        print(f"  {warning.render(path)}")
    return topic


async def cmd_topic(settings: Settings, args: argparse.Namespace) -> int:
    if args.topic_action == "schedule":
        return await _with_runtime(settings, _list_schedule, existing=True)
    topic = _check(settings, args.file)
    if topic is None:
        return EXIT_INVALID
    if args.topic_action == "validate":
        print(f"{args.file} is valid.")
        if _bridges(settings) is None:
            print("  (no bridges are configured here, so the bridge name was not checked)")
        print("\n".join(describe_plan(topic)))
        return 0

    async def work(runtime: Runtime) -> int:
        try:
            result = await publish(runtime.core, topic, datetime.now(UTC))
        except errors.RuleError as err:
            print(f"bridgebot: {err}", file=sys.stderr)
            return EXIT_INVALID
        print("\n".join(describe_plan(topic)))
        if result.replaced:
            print(f"Replaced the earlier publish of “{result.plan.name}”: "
                  f"{result.kept_done} step(s) already carried out were kept.")
        if result.plan.topic_id is not None:
            print(f"The topic is already open (topic #{result.plan.topic_id}): a new title or "
                  "introduction does not change it; the steps still to come follow this file.")
        print("Published. The running bot (`bridgebot run`) carries it out; it looks for new "
              "plans every few seconds. `bridgebot topic schedule` shows progress.")
        return 0

    return await _with_runtime(settings, work)


async def _with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[int]], *,
                        existing: bool = False) -> int:
    """``publish`` may make the database (a plan before the first run), ``serve`` may
    start before the bot; ``schedule`` only reads (``existing``: see with_database)."""
    from bridgebot.runtime import with_database

    return await with_database(settings, work, existing=existing)


async def _list_schedule(runtime: Runtime) -> int:
    store = runtime.core.facilitation
    plans = await store.plans()
    if not plans:
        print("No topic files published yet: `bridgebot topic publish FILE`.")
        return 0
    for plan in plans:
        opened = f"topic #{plan.topic_id}" if plan.topic_id else "not opened yet"
        print(f"{plan.name}: “{plan.title}” on bridge {plan.bridge} ({opened}; {plan.source})")
        for item in await store.items(plan.id):
            print(f"  {_describe_item(plan, item)}")
    return 0


def _describe_item(plan: Plan, item: PlanItem) -> str:
    zone = ZoneInfo(plan.timezone)
    due = item.due_at.astimezone(zone)
    what = f"question {item.position}" if item.position else item.kind.value
    state = f"done: {item.outcome}" if item.is_done else "to come"
    return f"{due:%Y-%m-%d %H:%M} {due.tzname():<5} {what:<12} {state}"


async def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """The archive pages of every topic, until Ctrl-C."""
    from bridgebot.web.archive import ArchiveServer

    async def work(runtime: Runtime) -> int:
        from bridgebot.core.names import AuthorMode
        from bridgebot.core.privacy import archive_presenter

        modes = {b.name: AuthorMode(b.authors) for b in settings.bridges}
        server = ArchiveServer(runtime.store, platforms=runtime.platforms, present=archive_presenter(
            runtime.core.privacy, modes, platforms=runtime.platforms, anonymize=args.anonymize),
            languages={b.name: b.language for b in settings.bridges}, files=runtime.core.files)
        try:
            port = await server.start(args.listen, args.port)
        except OSError as err:
            print(f"bridgebot: cannot listen on {args.listen}:{args.port}: {err.strerror or err}",
                  file=sys.stderr)
            return EXIT_INVALID
        print(f"Archive pages on http://{args.listen}:{port}/ — Ctrl-C stops.")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await server.stop()
        return 0

    return await _with_runtime(settings, work)
