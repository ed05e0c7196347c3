"""``bridgebot check-config``: is every bridged chat ready, and if not, what to change.

Most set-up mistakes only show once the bot is running (a bot that cannot post, a
forum where it cannot create topics, a Discord channel without Manage Webhooks, a
mistyped database password). This looks at the database (read only:
:mod:`bridgebot.store.look`) and asks each configured platform (its registry record's
``check``, which uses the same library as its adapter) what the bot may do in every
bridged chat, and prints a table: one row per check, ``ok``, ``FIX`` with what to
change, or ``later`` (not checkable before the first run: a Matrix room's power levels).
Exit 0 when everything is fine, 1 when something needs fixing, 2 for a configuration error
(settings the bot cannot run with).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from bridgebot.adapters.platform import Finding
from bridgebot.logs import hide_secrets, redact
from bridgebot.settings import Settings
from bridgebot.store import files_folder
from bridgebot.store.files import FilesUnusable, look_unchanged
from bridgebot.store.look import look_at_database
from bridgebot.store.postgres import is_postgres, password, redacted

__all__ = ["EXIT_CONFIG", "EXIT_FIX", "EXIT_OK", "Finding", "render_table", "run_checks"]

EXIT_OK, EXIT_FIX, EXIT_CONFIG = 0, 1, 2
PLATFORM_TIMEOUT = 30.0
# How long the files folder may take to answer (a network mount): run's own check allows
# 10 s (runtime.FILES_CHECK_SECONDS), an operator waiting at a terminal a little less.
FILES_LOOK_SECONDS = 5.0
# How long the database may take to answer (connect and read its version; a file on a
# network mount): a few seconds, as for the files folder.
DATABASE_SECONDS = 5.0
Out = Callable[[str], None]


# -- offline ---------------------------------------------------------------------------


async def look_at_files(settings: Settings) -> tuple[bool | None, str | None]:
    """Whether the files folder is there already (None: no folder, or it failed), and why
    it cannot serve (``bridgebot run`` would stop on it too), or None.

    Read only (a missing folder is not made: run makes it) and bounded by
    :data:`FILES_LOOK_SECONDS`, like run's own check: a folder on a hung network mount is
    one line, not a check that never ends."""
    folder = files_folder(settings.database, settings.files_dir)
    if folder is None:
        return None, None
    try:
        return await look_unchanged(folder, FILES_LOOK_SECONDS), None
    except FilesUnusable as err:
        if err.reason.startswith("it did not answer"):
            return None, (f"files_dir: the folder {err.folder} did not answer within "
                          f"{FILES_LOOK_SECONDS:g} s (a network mount that hangs?): fix the mount "
                          "or set files_dir to another folder")
        return None, f"files_dir: the folder {err.folder} cannot be written ({err.reason})"


def config_errors(settings: Settings) -> list[str]:
    """Settings that cannot work at all: a bridge naming a platform without a token
    (the files folder: :func:`look_at_files`)."""
    problems = []
    for bridge in settings.bridges:
        for platform in settings.platforms:
            if (platform.settings is not None and bridge.chat_ids(platform)
                    and settings.section(platform.name) is None):
                problems.append(f"bridge {bridge.name} links {platform.display_name} "
                                f"{platform.chats_noun} but {platform.required_keys()} is not set")
    return problems


def describe(settings: Settings, out: Out, *, files_there: bool | None = None) -> None:
    """What the settings link, as ``check-config`` has always printed it; ``files_there``
    is :func:`look_at_files`'s answer (describing touches no disk: a hung mount)."""
    out(f"database: {redacted(str(settings.database))}")
    if (folder := files_folder(settings.database, settings.files_dir)) is not None:
        out(f"files: {folder}")  # every worker and serve must show the same folder
        if files_there is False:  # check-config makes nothing (look_at_files: can run make it?)
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
    """Aligned rows: platform, where, check, ok/later/FIX and the detail."""
    header = Finding("platform", "where", "check", True, "")
    rows = [header, *findings]
    w_where = min(40, max(len(f.where) for f in rows))
    w_check = max(len(f.check) for f in rows)
    lines = []
    for f in rows:
        result = "result" if f is header else ("FIX" if not f.ok else "later" if f.later else "ok")
        where = f.where if len(f.where) <= w_where else f.where[: w_where - 1] + "…"
        line = f"{f.platform:<9} {where:<{w_where}}  {f.check:<{w_check}}  {result:<6} {f.detail}"
        lines.append(redact(line.rstrip()))
    return lines


async def look_at_db(settings: Settings) -> Finding:
    """The database's row: whether ``run`` can use it and what it will do to it (create,
    migrate, refuse), asked without changing it and within :data:`DATABASE_SECONDS`."""
    look = await look_at_database(settings.database, DATABASE_SECONDS)
    return Finding("database", look.where, look.check, look.ok, look.detail)


async def run_checks(settings: Settings, out: Out = print) -> int:
    """Print what is linked, then the table; return the exit code."""
    hide_secrets(settings.secrets())
    if is_postgres(settings.database):  # the address is no secret, its password is
        hide_secrets([password(str(settings.database))])
    files_there, files_problem = await look_at_files(settings)
    describe(settings, out, files_there=files_there)
    errors = ([files_problem] if files_problem else []) + config_errors(settings)
    if errors:
        for problem in errors:
            out(f"  ! {problem}")
        return EXIT_CONFIG
    out("configuration is valid")
    findings = [await look_at_db(settings)]
    platforms = 0
    for platform, section in settings.configured():
        if platform.check is not None:
            chats = [c for b in settings.bridges for c in b.chat_ids(platform)]
            findings += await _bounded(platform.name, platform.check(section, chats))
            platforms += 1
    out("")
    for line in render_table(findings):
        out(line)
    to_fix = sum(1 for f in findings if not f.ok)
    out("")
    if not platforms:
        out("No platform is configured, so there is no platform to ask "
            "(`bridgebot shell` and `bridgebot demo` need none).")
    if to_fix:
        out(f"{to_fix} of {len(findings)} checks need fixing (rows marked FIX).")
        return EXIT_FIX
    if later := sum(1 for f in findings if f.later):
        out(f"{len(findings) - later} of {len(findings)} checks passed; {later} can only be "
            "made once `bridgebot run` has joined (rows marked later): run check-config again "
            "then.")
        return EXIT_OK
    out("The 1 check passed." if len(findings) == 1 else f"All {len(findings)} checks passed.")
    return EXIT_OK


async def _bounded(platform: str, work: Awaitable[list[Finding]]) -> list[Finding]:
    """A platform that does not answer is a row to fix, not a hang."""
    try:
        async with asyncio.timeout(PLATFORM_TIMEOUT):
            return await work
    except TimeoutError:
        return [Finding(platform, "bot", "token", False,
                        f"no answer within {PLATFORM_TIMEOUT:g} s: check the network and the "
                        "API address in the settings")]
