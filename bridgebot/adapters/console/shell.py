"""``bridgebot shell``: run a whole discussion in the terminal, or from a script on stdin.

Lines are read one at a time. Shell lines choose who you are and where you type;
every other ``/command`` is the same command the platforms take; any other line is
a post in the current room's topic. After each line the relay is drained, so the
mirrored copies in the other rooms are printed right after what caused them.
"""

from __future__ import annotations

import asyncio
import mimetypes
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from bridgebot.adapters.console.adapter import PLATFORM, ConsoleAdapter
from bridgebot.core.commands import COMMANDS, CommandContext, parse_command, run_command
from bridgebot.core.models import Author, ChannelRef
from bridgebot.runtime import Runtime

SHELL_HELP = """\
Shell lines:
  /as NAME            act as participant NAME
  /facilitator NAME   act as NAME with facilitator rights
  /room ROOM          type in ROOM (one of the console rooms of your bridges)
  /file PATH [TEXT]   post the file at PATH (a photo, a PDF ...) with TEXT as its caption
  /quit               leave
End a line with a backslash to continue a message on the next line (a line holding
only a backslash is a blank line), e.g. a subject, a blank line, then the body.
Anything else starting with / is a bridgebot command (/help lists them);
any other line is a post in the current room's topic."""


class Shell:
    def __init__(self, runtime: Runtime, console: ConsoleAdapter,
                 out: Callable[[str], None]) -> None:
        self.runtime = runtime
        self.console = console
        self.out = out
        rooms = [c.chat_id for c in runtime.core.channels(PLATFORM)]
        self.rooms = rooms
        self.room = rooms[0] if rooms else None
        self.author = Author(PLATFORM, "guest", "guest")
        self.facilitator = False

    async def handle(self, line: str) -> bool:
        """Process one line; False when the shell should end."""
        line = line.rstrip("\n")
        if not line.strip():
            return True
        if self.room is None:
            self.out("No console rooms are configured: add console_rooms to a [[bridges]] entry.")
            return False
        parsed = parse_command(line)
        if parsed is not None:
            name, args = parsed
            if name == "quit":
                return False
            if name in ("as", "facilitator"):
                if not args:
                    self.out(f"Usage: /{name} NAME")
                    return True
                self.author = Author(PLATFORM, args, args)
                self.facilitator = name == "facilitator"
                role = "facilitator" if self.facilitator else "participant"
                self.out(f"You are {args} ({role}).")
                return True
            if name == "room":
                if args not in self.rooms:
                    self.out(f"There is no room {args!r}; rooms: {', '.join(self.rooms)}.")
                else:
                    self.room = args
                    self.out(f"You are in {args}.")
                return True
            if name == "file":
                await self._post_file(args)
                await self.runtime.drain()
                return True
            if name == "shellhelp":
                self.out(SHELL_HELP)
                return True
            thread = self.console.thread_of_room.get(self.room)
            ctx = CommandContext(self.author, ChannelRef(PLATFORM, self.room, thread),
                                 platform_admin=self.facilitator)
            answer = await run_command(self.runtime.core, ctx, name, args)
            if name in ("help", *COMMANDS.commands["help"].aliases):
                answer += "\n\n" + SHELL_HELP
            self.out(f"[{self.room}] bridgebot (to {self.author.display_name}): {answer}")
        else:
            _, outcome = await self.console.say(self.room, self.author, line)
            if outcome.answer:
                self.out(f"[{self.room}] bridgebot (to {self.author.display_name}): "
                         f"{outcome.answer}")
            elif outcome.duplicate:
                self.out(f"[{self.room}] bridgebot: not posted (this message was recorded before).")
            elif outcome.ignored_reason and not outcome.refused_locked:
                self.out(f"[{self.room}] bridgebot: not posted ({outcome.ignored_reason}).")
        await self.runtime.drain()
        return True

    async def _post_file(self, args: str) -> None:
        """``/file PATH [caption]``: the file is stored (image metadata removed) and posted."""
        assert self.room is not None
        raw, _, caption = args.strip().partition(" ")
        data = await asyncio.to_thread(_read, raw) if raw else None
        files = self.runtime.core.files
        if data is None or files is None:
            self.out(f"Usage: /file PATH [TEXT], with a readable file ({raw or 'no path'} is not one).")
            return
        name = Path(raw).name
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        kind = "photo" if mime in ("image/jpeg", "image/png", "image/webp") else \
            {"video": "video", "audio": "audio"}.get(mime.split("/")[0], "document")
        stored = await files.put(data, name, mime, kind)
        _, outcome = await self.console.say(self.room, self.author, caption.strip(),
                                            attachments=(stored,))
        if outcome.answer:
            self.out(f"[{self.room}] bridgebot (to {self.author.display_name}): {outcome.answer}")
        elif outcome.ignored_reason and not outcome.refused_locked:
            self.out(f"[{self.room}] bridgebot: not posted ({outcome.ignored_reason}).")

    async def run(self, lines: AsyncIterator[str]) -> None:
        self.out(f"bridgebot shell — rooms: {', '.join(self.rooms) or 'none'}. "
                 "Type /shellhelp for shell lines, /help for commands.")
        pending: list[str] = []
        async for raw in lines:
            line = raw.rstrip("\n")
            if line.endswith("\\"):
                pending.append(line[:-1].rstrip())
                continue
            if pending:
                line = "\n".join([*pending, line])
                pending.clear()
            if not await self.handle(line):
                return
        if pending and not await self.handle("\n".join(pending)):
            return


def _read(raw: str) -> bytes | None:
    """The bytes of the file a shell line names (``~`` expanded), or None."""
    path = Path(raw).expanduser()
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


async def stdin_lines() -> AsyncIterator[str]:
    """Lines from stdin without blocking the event loop."""
    import asyncio

    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line
