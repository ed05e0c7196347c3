"""``bridgebot shell``: run a whole discussion in the terminal, or from a script on stdin.

Lines are read one at a time. Shell lines choose who you are and where you type;
every other ``/command`` is the same command the platforms take; any other line is
a post in the current room's topic. After each line the relay is drained, so the
mirrored copies in the other rooms are printed right after what caused them.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable

from bridgebot.adapters.console.adapter import PLATFORM, ConsoleAdapter
from bridgebot.core.commands import COMMANDS, CommandContext, parse_command, run_command
from bridgebot.core.models import Author, ChannelRef
from bridgebot.runtime import Runtime

SHELL_HELP = """\
Shell lines:
  /as NAME            act as participant NAME
  /facilitator NAME   act as NAME with facilitator rights
  /room ROOM          type in ROOM (one of the console rooms of your bridges)
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


async def stdin_lines() -> AsyncIterator[str]:
    """Lines from stdin without blocking the event loop."""
    import asyncio

    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line
