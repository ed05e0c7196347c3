"""The ``bridgebot`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import logging
import shutil
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridgebot.adapters import registry
from bridgebot.adapters.platform import PlatformCommand
from bridgebot.cli_backup import add_backup_arguments, add_restore_arguments, cmd_backup, cmd_restore
from bridgebot.cli_db import add_db_arguments, cmd_db
from bridgebot.cli_table import table
from bridgebot.cli_topics import add_serve_arguments, add_topic_arguments, cmd_serve, cmd_topic
from bridgebot.core import errors, export
from bridgebot.core.export import FORMATS, Archive
from bridgebot.core.platforms import Platforms
from bridgebot.core.ports import FilePort
from bridgebot.logs import FORMATS as LOG_FORMATS
from bridgebot.logs import hide_secrets, setup_logging
from bridgebot.settings import ConfigError, Settings, load_settings
from bridgebot.store.backup import DatabaseInUse
from bridgebot.store.db import DatabaseUnusable
from bridgebot.store.files import FilesUnusable
from bridgebot.store.migrations import SchemaTooNew

if TYPE_CHECKING:
    from bridgebot.core.ports import DiscussionPort
    from bridgebot.runtime import Runtime

log = logging.getLogger("bridgebot")

EXIT_CONFIG = 2


def _runtime(settings: Settings) -> Runtime:
    from bridgebot.runtime import from_settings

    return from_settings(settings)


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bridgebot.adapters.build import build_adapters
    from bridgebot.runtime import settle_heap

    adapters = build_adapters(settings)
    if not adapters:
        tokens = " and/or ".join(p.required_keys() for p in settings.platforms if p.settings)
        print(
            f"Nothing to run: no platform is configured. Set {tokens}, and "
            "link chats in [[bridges]] (see config/bridgebot.example.toml). "
            "To try bridgebot without any platform, use `bridgebot demo` or `bridgebot shell`.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    runtime = _runtime(settings)
    for adapter in adapters:
        runtime.add_adapter(adapter)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    health = None
    if settings.health is not None:  # up first: it answers 503 while the platforms connect
        from bridgebot.health import HealthServer

        health = HealthServer(runtime, settings.health.listen, settings.health.port)
        await health.start()
    try:
        # A platform unreachable at start is retried until it answers (runtime.py); a stop
        # signal meanwhile ends the wait. A refusal retrying cannot fix is one line, exit 2.
        starting = asyncio.create_task(runtime.start(), name="start")
        stopping = asyncio.create_task(stop.wait(), name="stop signal")
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            log.info("stopped before every platform was connected")
            return 0
        stopping.cancel()
        try:
            starting.result()
        except errors.PermanentError as err:
            print(f"bridgebot: {err}", file=sys.stderr)
            return EXIT_CONFIG
        settle_heap()
        log.info("bridgebot is running; Ctrl-C stops it")
        try:
            await stop.wait()
        finally:
            log.info("stopping: finishing deliveries in flight")
            await runtime.stop()
    finally:
        if health is not None:
            await health.stop()
    return 0


async def cmd_shell(settings: Settings, args: argparse.Namespace) -> int:
    from bridgebot.adapters.console.adapter import ConsoleAdapter
    from bridgebot.adapters.console.shell import Shell, stdin_lines

    if not any(b.chat_ids(registry.platform("console")) for b in settings.bridges):
        from bridgebot.settings import bridge_settings

        settings.bridges.append(bridge_settings(settings, name="console",
                                                console_rooms=["forum", "lounge"]))
        print("(no console rooms configured: using a bridge with rooms 'forum' and 'lounge')")
    runtime = _runtime(settings)
    console = ConsoleAdapter(out=print)
    runtime.add_adapter(console)
    await runtime.start()
    try:
        await Shell(runtime, console, print).run(stdin_lines())
    finally:
        await runtime.stop()
    return 0


async def _with_store(settings: Settings, work: Callable[[Runtime], Awaitable[int]]) -> int:
    from bridgebot.runtime import with_database

    return await with_database(settings, work, existing=True)  # none of them makes one


async def cmd_topics(settings: Settings, args: argparse.Namespace) -> int:
    async def work(runtime) -> int:
        topics = await runtime.store.topics()
        if not topics:
            print("No topics yet. Open one with /newtopic from a chat, or in `bridgebot shell`.")
            return 0
        rows = []
        for topic in topics:
            stats = await runtime.store.stats(topic.id, None)
            last = ""
            if stats.last_post_at:
                last = f"{stats.last_post_author}, {stats.last_post_at:%Y-%m-%d %H:%M}"
            rows.append((topic.id, topic.status.value, stats.posts, last, topic.title))
        print(table(("id", "status", "posts", "last post", "title"), rows, right=(0, 2)))
        return 0

    return await _with_store(settings, work)


async def load_archive(store: DiscussionPort, topic_id: int,
                       platforms: Platforms | None = None,
                       languages: Mapping[str, str] | None = None) -> Archive | None:
    """A topic's archive, bylines naming ``platforms`` (default: the registered ones), in
    its bridge's language (``languages`` by bridge name)."""
    chosen = platforms if platforms is not None else registry.core_platforms()
    return await export.load_archive(store, topic_id, chosen, languages)


async def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    async def work(runtime) -> int:
        archive = await load_archive(runtime.store, args.topic, runtime.platforms,
                                     {b.name: b.language for b in settings.bridges})
        if archive is None:
            print(f"There is no topic {args.topic}; `bridgebot topics` lists them.",
                  file=sys.stderr)
            return 1
        if args.anonymize:
            from bridgebot.core.privacy import anonymized_archive

            archive = await anonymized_archive(runtime.core.privacy, archive, runtime.platforms)
            print("Anonymized: every author is “Participant N”; names written in the texts are "
                  "replaced where they spell a participant's full name or alias (a first name alone "
                  "is not caught), and profile links and @handles are removed. Read it before "
                  "publishing.", file=sys.stderr)
        text = FORMATS[args.format](archive)
        if args.output:
            await asyncio.to_thread(Path(args.output).write_text, text, encoding="utf-8")
            print(f"Wrote {args.output}")
            copied = await asyncio.to_thread(copy_files, archive, runtime.core.files,
                                             Path(args.output).parent)
            if copied and args.format != "json":
                print(f"Wrote {copied} files under {Path(args.output).parent / 'files'} "
                      "(the page links them there)")
        else:
            sys.stdout.write(text)
        return 0

    return await _with_store(settings, work)


def copy_files(archive: Archive, files: FilePort | None, folder: Path) -> int:
    """The topic's stored files beside an export, where its links point
    (``files/ab/<sha256>``, the data directory's layout). Return how many were written."""
    written = 0
    for post in archive.posts:
        for attachment in post.attachments:
            source = files.path(attachment) if files is not None else None
            if source is None:
                continue
            target = folder / "files" / attachment.sha256[:2] / attachment.sha256
            if target.exists() and target.samefile(source):
                continue  # exported beside the database: the page finds the store itself
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            written += 1
    return written


async def cmd_forget(settings: Settings, args: argparse.Namespace) -> int:
    """Erase one person on their request, as /forgetme does (exit 1 when nobody has that id)."""
    from bridgebot.core.privacy import forget_person

    async def work(runtime) -> int:
        report = await forget_person(runtime.core, args.platform, args.user)
        if report is None:
            print(f"No participant {args.platform}:{args.user} is known to this bridgebot, so nothing "
                  "was changed. Use the platform's numeric user id (a person already forgotten "
                  "cannot be found again).", file=sys.stderr)
            return 1
        edited = ", ".join(f"{p} {n}" for p, n in sorted(report.copies_edited.items())) or "none"
        combined = ", ".join(f"{p} {n}" for p, n in sorted(report.copies_combined.items())) or "none"
        print(f"Forgot {args.platform}:{args.user}; they are now “{report.anonymous_name}”.")
        print(f"  posts erased (text replaced, place kept): {report.posts_erased} "
              f"in {len(report.topic_ids)} topic(s)")
        print(f"  copies queued for editing: {edited} (the running bot edits them; "
              "`bridgebot outbox` lists what waits)")
        print(f"  copies inside combined messages, rewritten without their posts: {combined}")
        print(f"  others' posts where their name was replaced: {report.others_posts_renamed}")
        print(f"  others' replies whose quote of their words is shown again: {report.replies_quoting}")
        print(f"  digest messages already posted that name them: {report.digests_naming}; "
              f"topics whose bot messages (topic, questions, lock notices, digests) are "
              f"rewritten: {len(report.bot_texts_in)}")
        print(f"  topics they opened (title and introduction kept): {report.topics_opened}")
        print("  alias, reading marks and lock notices deleted; their user id is now a random token")
        return 0

    return await _with_store(settings, work)


async def cmd_check_config(settings: Settings, args: argparse.Namespace) -> int:
    """Ask each platform whether the bot can work in every bridged chat (see checks.py)."""
    from bridgebot.checks import run_checks

    return await run_checks(settings)


async def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """The seed discussion across sandbox Telegram and Discord: no token, no network."""
    from bridgebot.demo.run import DemoError, run_demo

    try:
        await run_demo(args.data, keep_running=args.keep_running, matrix=args.matrix)
    except DemoError as err:
        print(f"bridgebot: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except TimeoutError:
        print("bridgebot: the demo stalled (a platform did not answer in time); run it again "
              "with -v to see where", file=sys.stderr)
        return 1
    return 0


async def cmd_outbox(settings: Settings, args: argparse.Namespace) -> int:
    """List deliveries waiting or failed for good; retry or drop one by id."""
    from bridgebot.core.models import DeliveryState

    async def work(runtime) -> int:
        store = runtime.store
        if args.action in ("retry", "drop"):
            if args.id is None:
                print(f"Usage: bridgebot outbox {args.action} ID", file=sys.stderr)
                return EXIT_CONFIG
            changed = await (store.revive(args.id) if args.action == "retry" else store.drop(args.id))
            if not changed:
                wanted = "dead" if args.action == "retry" else "pending or dead"
                print(f"Delivery {args.id} is not a {wanted} delivery; `bridgebot outbox` lists them.",
                      file=sys.stderr)
                return 1
            done = "will be retried by the running bot" if args.action == "retry" else "was dropped"
            print(f"Delivery {args.id} {done}.")
            return 0
        states = {"pending": [DeliveryState.PENDING], "dead": [DeliveryState.DEAD],
                  "all": [DeliveryState.PENDING, DeliveryState.DEAD]}[args.state]
        entries = await store.outbox(states)
        if not entries:
            print(await _nothing_listed(store, args.state))
            return 0
        print(table(("id", "state", "tries", "action", "target", "reason"),
                    [(e.id, e.state.value, e.attempts, e.action.value, e.target, e.last_error or "")
                     for e in entries], right=(0, 2)))
        return 0

    return await _with_store(settings, work)


async def _nothing_listed(store, state: str) -> str:
    """What an empty ``outbox`` listing means, exactly: the other state may still hold rows."""
    from bridgebot.core.models import DeliveryState

    pending = len(await store.outbox([DeliveryState.PENDING])) if state != "pending" else 0
    dead = len(await store.outbox([DeliveryState.DEAD])) if state != "dead" else 0
    if state == "all":
        return "Nothing waiting and nothing failed: every delivery went through."
    if state == "dead":
        more = (f" {pending} still waiting to be sent: `bridgebot outbox --state pending`."
                if pending else " Nothing is waiting either.")
        return "No delivery failed for good." + more
    more = (f" {dead} failed for good: `bridgebot outbox --state dead`." if dead
            else " Nothing failed for good either.")
    return "No delivery is waiting." + more


COMMANDS: dict[str, tuple[Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]], str]] = {
    "outbox": (cmd_outbox, "list pending and dead deliveries; retry or drop one"),
    "run": (cmd_run, "start every configured platform adapter and the relay"),
    "shell": (cmd_shell, "run a discussion in the terminal (no tokens needed); reads stdin"),
    "topics": (cmd_topics, "list topics: id, status, posts, last post, title"),
    "export": (cmd_export, "write a topic's archive as markdown, html or json"),
    "forget": (cmd_forget, "erase one person's posts and name on their request (as /forgetme does)"),
    "check-config": (cmd_check_config,
                     "validate the settings, then ask each platform what the bot may do in every "
                     "bridged chat"),
    "demo": (cmd_demo, "replay a whole discussion across sandbox Telegram and Discord (offline)"),
    "topic": (cmd_topic, "validate or publish a topic file (schedule included); list the schedule"),
    "serve": (cmd_serve, "serve every topic's archive as web pages (default http://127.0.0.1:8081/)"),
    "backup": (cmd_backup, "write a consistent backup of the database and stored files, even while "
               "the bot runs"),
    "restore": (cmd_restore, "replace the database with a backup (refused while a bot runs on it)"),
    "db": (cmd_db, "copy a SQLite database into an empty PostgreSQL one (db copy --from … --to …)"),
}


def version() -> str:
    try:
        return importlib.metadata.version("bridgebot")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree without installing
        return "unknown (not installed)"


def _add_global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--config", type=Path, default=default(None),
                        help="TOML settings file (or BRIDGEBOT_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False),
                        help="log debug details (never message texts or names: see --log-content)")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default=default("text"),
                        help="text for people, json for log collectors (one object per line)")
    parser.add_argument("--log-content", action="store_true", default=default(False),
                        help="let message texts and people's names into the logs, for debugging a "
                        "problem on a test bridge; never on a live discussion")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridgebot",
        description="Carry facilitated forum-style discussions into Discord and Telegram.",
    )
    parser.add_argument("--version", action="version", version=f"bridgebot {version()}")
    _add_global_options(parser, defaults=True)
    # The same options after the command too (`bridgebot run --config x.toml`); there they only
    # override what was given before it.
    after = argparse.ArgumentParser(add_help=False)
    _add_global_options(after, defaults=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".",
                           parents=[after])
        if name == "outbox":
            p.add_argument("action", nargs="?", choices=["list", "retry", "drop"], default="list")
            p.add_argument("id", nargs="?", type=int, help="delivery id (for retry and drop)")
            p.add_argument("--state", choices=["pending", "dead", "all"], default="all")
        if name == "export":
            p.add_argument("topic", type=int, help="topic id (see `bridgebot topics`)")
            p.add_argument("--format", choices=sorted(FORMATS), default="markdown")
            p.add_argument("-o", "--output", help="write to this file instead of stdout")
            p.add_argument("--anonymize", action="store_true",
                           help="for publication: every author as “Participant N”, their names in "
                           "the texts and links to profiles removed")
        if name == "forget":
            p.add_argument("--platform", required=True,
                           choices=[platform.name for platform in registry.platforms()])
            p.add_argument("--user", required=True, metavar="ID",
                           help="the person's user id on that platform")
        if name == "topic":
            add_topic_arguments(p)
        if name == "serve":
            add_serve_arguments(p)
        if name == "backup":
            add_backup_arguments(p)
        if name == "restore":
            add_restore_arguments(p)
        if name == "db":
            add_db_arguments(p)
        if name == "demo":
            p.add_argument("--data", type=Path, metavar="DIR",
                           help="folder for the database and the export (default: a new temp dir)")
            p.add_argument("--keep-running", action="store_true",
                           help="leave the sandbox servers up afterwards, until Ctrl-C")
            p.add_argument("--matrix", action=argparse.BooleanOptionalAction, default=None,
                           help="also bridge a room of a local Synapse: on by default when "
                                "matrix-synapse is installed, --no-matrix leaves it out")
    for platform in registry.platforms():
        for command in platform.commands:
            p = sub.add_parser(command.name, help=command.summary,
                               description=command.summary[0].upper() + command.summary[1:] + ".")
            if command.arguments is not None:
                command.arguments(p)
    return parser


def _platform_command(name: str) -> tuple[str, PlatformCommand] | None:
    for platform in registry.platforms():
        for command in platform.commands:
            if command.name == name:
                return platform.name, command
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet = args.command in ("shell", "topics", "export", "demo", "outbox", "topic", "forget", "backup",
                             "restore", "db")
    setup_logging(logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO,
                  args.log_format, log_content=args.log_content)
    if not args.verbose:  # a line per request is for debugging (and filtered even then: logs.py)
        for noisy in ("httpx", "aiosqlite", "discord.gateway", "discord.http"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = load_settings(args.config)
    except ConfigError as err:
        print(f"bridgebot: {err}", file=sys.stderr)
        return EXIT_CONFIG
    hide_secrets(settings.secrets())
    if (own := _platform_command(args.command)) is not None:
        return own[1].run(getattr(settings, own[0], None), args)
    handler, _ = COMMANDS[args.command]
    try:
        return asyncio.run(handler(settings, args))
    except (SchemaTooNew, DatabaseUnusable, FilesUnusable) as err:
        print(f"bridgebot: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except DatabaseInUse as err:  # a restore holds the database
        print(f"bridgebot: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
