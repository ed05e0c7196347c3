"""The ``bridgebot`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bridgebot.core.export import FORMATS, Archive
from bridgebot.settings import ConfigError, Settings, load_settings
from bridgebot.store.migrations import SchemaTooNew

log = logging.getLogger("bridgebot")

EXIT_CONFIG = 2


def _runtime(settings: Settings):
    from bridgebot.runtime import Runtime

    return Runtime(
        settings.database, settings.all_bridges(), facilitators=settings.facilitator_pairs(),
        help_text=settings.help_text,
    )


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bridgebot.adapters.build import build_adapters

    adapters = build_adapters(settings)
    if not adapters:
        print(
            "Nothing to run: no platform is configured. Set telegram.token "
            "(BRIDGEBOT_TELEGRAM__TOKEN) and/or discord.token (BRIDGEBOT_DISCORD__TOKEN), and "
            "link chats in [[bridges]] (see config/bridgebot.example.toml). "
            "To try bridgebot without any platform, use `bridgebot shell`.",
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
    await runtime.start()
    log.info("bridgebot is running; Ctrl-C stops it")
    try:
        await stop.wait()
    finally:
        log.info("stopping: finishing deliveries in flight")
        await runtime.stop()
    return 0


async def cmd_shell(settings: Settings, args: argparse.Namespace) -> int:
    from bridgebot.adapters.console.adapter import ConsoleAdapter
    from bridgebot.adapters.console.shell import Shell, stdin_lines

    if not any(b.console_rooms for b in settings.bridges):
        from bridgebot.settings import BridgeSettings

        settings.bridges.append(BridgeSettings(name="console", console_rooms=["forum", "lounge"]))
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


async def _with_store(settings: Settings, work: Callable[..., Awaitable[int]]) -> int:
    runtime = _runtime(settings)
    await runtime.open()
    try:
        return await work(runtime)
    finally:
        await runtime.db.close()


async def cmd_topics(settings: Settings, args: argparse.Namespace) -> int:
    async def work(runtime) -> int:
        topics = await runtime.store.topics()
        if not topics:
            print("No topics yet. Open one with /newtopic from a chat, or in `bridgebot shell`.")
            return 0
        print(f"{'id':>4}  {'status':<7} {'posts':>5}  {'last post':<34} title")
        for topic in topics:
            stats = await runtime.store.stats(topic.id, None)
            last = ""
            if stats.last_post_at:
                last = f"{stats.last_post_author}, {stats.last_post_at:%Y-%m-%d %H:%M}"
            print(f"{topic.id:>4}  {topic.status.value:<7} {stats.posts:>5}  {last[:34]:<34} "
                  f"{topic.title}")
        return 0

    return await _with_store(settings, work)


async def load_archive(store, topic_id: int) -> Archive | None:
    topic = await store.topic(topic_id)
    if topic is None:
        return None
    return Archive(topic, await store.prompts(topic_id), await store.posts(topic_id))


async def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    async def work(runtime) -> int:
        archive = await load_archive(runtime.store, args.topic)
        if archive is None:
            print(f"There is no topic {args.topic}; `bridgebot topics` lists them.",
                  file=sys.stderr)
            return 1
        text = FORMATS[args.format](archive)
        if args.output:
            await asyncio.to_thread(Path(args.output).write_text, text, encoding="utf-8")
            print(f"Wrote {args.output}")
        else:
            sys.stdout.write(text)
        return 0

    return await _with_store(settings, work)


async def cmd_check_config(settings: Settings, args: argparse.Namespace) -> int:
    print(f"database: {settings.database}")
    print(f"telegram: {'configured' if settings.telegram else 'not configured'}")
    print(f"discord: {'configured' if settings.discord else 'not configured'}")
    if not settings.bridges:
        print("bridges: none — add [[bridges]] entries to link chats")
    for bridge in settings.bridges:
        linked = ", ".join(str(c) for c in bridge.to_bridge().channels) or "no chats"
        print(f"bridge {bridge.name}: {linked}")
        if bridge.telegram_chats and not settings.telegram:
            print(f"  ! bridge {bridge.name} links Telegram chats but telegram.token is not set")
        if bridge.discord_channels and not settings.discord:
            print(f"  ! bridge {bridge.name} links Discord channels but discord.token is not set")
    print("configuration is valid")
    return 0


COMMANDS: dict[str, tuple[Callable[[Settings, argparse.Namespace], Awaitable[int]], str]] = {
    "run": (cmd_run, "start every configured platform adapter and the relay"),
    "shell": (cmd_shell, "run a discussion in the terminal (no tokens needed); reads stdin"),
    "topics": (cmd_topics, "list topics: id, status, posts, last post, title"),
    "export": (cmd_export, "write a topic's archive as markdown, html or json"),
    "check-config": (cmd_check_config, "validate the settings and show what is linked"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridgebot",
        description="Carry facilitated forum-style discussions into Discord and Telegram.",
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (or BRIDGEBOT_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")
        if name == "export":
            p.add_argument("topic", type=int, help="topic id (see `bridgebot topics`)")
            p.add_argument("--format", choices=sorted(FORMATS), default="markdown")
            p.add_argument("-o", "--output", help="write to this file instead of stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet = args.command in ("shell", "topics", "export")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "aiosqlite", "discord.gateway", "discord.http"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = load_settings(args.config)
    except ConfigError as err:
        print(f"bridgebot: {err}", file=sys.stderr)
        return EXIT_CONFIG
    handler, _ = COMMANDS[args.command]
    try:
        return asyncio.run(handler(settings, args))
    except SchemaTooNew as err:
        print(f"bridgebot: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
