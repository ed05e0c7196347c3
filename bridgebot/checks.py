"""``bridgebot check-config``: is every bridged chat ready, and if not, what to change.

Most set-up mistakes only show once the bot is running (a bot that cannot post, a
forum where it cannot create topics, a Discord channel without Manage Webhooks).
This asks each configured platform (its registry record's ``check``, which uses the
same library as its adapter) what the bot may do in every bridged chat and prints a
table: one row per check, ``ok`` or ``FIX`` with what to change. Exit 0 when
everything is fine, 1 when something needs fixing, 2 for a configuration error
(settings the bot cannot run with).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from bridgebot.adapters.platform import Finding
from bridgebot.logs import hide_secrets, redact
from bridgebot.settings import Settings
from bridgebot.store import files_folder
from bridgebot.store.files import FilesUnusable, check_unchanged
from bridgebot.store.postgres import redacted

__all__ = ["EXIT_CONFIG", "EXIT_FIX", "EXIT_OK", "Finding", "render_table", "run_checks"]

EXIT_OK, EXIT_FIX, EXIT_CONFIG = 0, 1, 2
PLATFORM_TIMEOUT = 30.0
Out = Callable[[str], None]


# -- offline ---------------------------------------------------------------------------


def config_errors(settings: Settings) -> list[str]:
    """Settings that cannot work at all: a bridge naming a platform without a token, a
    files folder this user cannot write or make (``bridgebot run`` would stop on it too).
    Read only: a missing files folder is not made (``describe`` says run will make it)."""
    problems = []
    folder = files_folder(settings.database, settings.files_dir)
    if folder is not None:
        try:
            check_unchanged(folder)
        except FilesUnusable as err:
            problems.append(f"files_dir: the folder {err.folder} cannot be written ({err.reason})")
    for bridge in settings.bridges:
        for platform in settings.platforms:
            if (platform.settings is not None and bridge.chat_ids(platform)
                    and settings.section(platform.name) is None):
                problems.append(f"bridge {bridge.name} links {platform.display_name} "
                                f"{platform.chats_noun} but {platform.required_keys()} is not set")
    return problems


def describe(settings: Settings, out: Out) -> None:
    """What the settings link, as ``check-config`` has always printed it."""
    out(f"database: {redacted(str(settings.database))}")
    if (folder := files_folder(settings.database, settings.files_dir)) is not None:
        out(f"files: {folder}")  # every worker and serve must show the same folder
        if not folder.is_dir():  # check-config makes nothing (config_errors: can run make it?)
            out("  not there yet: `bridgebot run` makes it at start")
    for platform in settings.platforms:
        if platform.settings is not None:
            state = "configured" if settings.section(platform.name) else "not configured"
            out(f"{platform.name}: {state}")
    if not settings.bridges:
        out("bridges: none — add [[bridges]] entries to link chats")
    for bridge in settings.bridges:
        linked = ", ".join(str(c) for c in bridge.to_bridge().channels) or "no chats"
        out(f"bridge {bridge.name}: {linked}")


# -- the command --------------------------------------------------------------------------


def render_table(findings: Sequence[Finding]) -> list[str]:
    """Aligned rows: platform, where, check, ok/FIX and the detail."""
    header = Finding("platform", "where", "check", True, "")
    rows = [header, *findings]
    w_where = min(40, max(len(f.where) for f in rows))
    w_check = max(len(f.check) for f in rows)
    lines = []
    for f in rows:
        result = "result" if f is header else ("ok" if f.ok else "FIX")
        where = f.where if len(f.where) <= w_where else f.where[: w_where - 1] + "…"
        line = f"{f.platform:<9} {where:<{w_where}}  {f.check:<{w_check}}  {result:<6} {f.detail}"
        lines.append(redact(line.rstrip()))
    return lines


async def run_checks(settings: Settings, out: Out = print) -> int:
    """Print what is linked, then the table; return the exit code."""
    hide_secrets(settings.secrets())
    describe(settings, out)
    errors = config_errors(settings)
    if errors:
        for problem in errors:
            out(f"  ! {problem}")
        return EXIT_CONFIG
    out("configuration is valid")
    findings: list[Finding] = []
    for platform, section in settings.configured():
        if platform.check is not None:
            chats = [c for b in settings.bridges for c in b.chat_ids(platform)]
            findings += await _bounded(platform.name, platform.check(section, chats))
    if not findings:
        out("No platform is configured, so there is nothing to connect to "
            "(`bridgebot shell` and `bridgebot demo` need none).")
        return EXIT_OK
    out("")
    for line in render_table(findings):
        out(line)
    to_fix = sum(1 for f in findings if not f.ok)
    out("")
    if to_fix:
        out(f"{to_fix} of {len(findings)} checks need fixing (rows marked FIX).")
        return EXIT_FIX
    out(f"All {len(findings)} checks passed.")
    return EXIT_OK


async def _bounded(platform: str, work: Awaitable[list[Finding]]) -> list[Finding]:
    """A platform that does not answer is a row to fix, not a hang."""
    try:
        async with asyncio.timeout(PLATFORM_TIMEOUT):
            return await work
    except TimeoutError:
        return [Finding(platform, "bot", "token", False,
                        f"no answer within {PLATFORM_TIMEOUT:.0f} s: check the network and the "
                        "API address in the settings")]
