"""What the core knows about a platform, handed to it by the runtime.

The core never imports an adapter; yet exports print "Telegram", an alias must not
pass for "Discord user", and an export for publication removes links to people's
profiles. Each platform package (``bridgebot/adapters/<platform>/``) states these
facts in its registry record, which *is* a :class:`PlatformInfo`; the runtime gives
the core the :class:`Platforms` built from the registry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

from bridgebot.core.attachments import FileLimits
from bridgebot.core.models import ChannelRef

# The rest of a link once its platform part matched; a sentence's punctuation is not part of it.
REST_OF_URL = r"[^\s)>\]]*[^\s)>\].,;:!?'\"]"


@dataclass(frozen=True, kw_only=True)
class PlatformInfo:
    """A platform as the core sees it."""

    # The id in ChannelRef, participants and settings ("telegram").
    name: str
    # How people read it in bylines and exports ("Telegram").
    display_name: str
    # Regexes for the start of a link that leads to a person or a private place there
    # (``t\.me/``); the rest of the URL is matched by the core.
    profile_links: tuple[str, ...] = ()
    # Names the platform gives someone who has none ("Telegram user"): no one may take one
    # as an alias, and forgetting a person never replaces them in others' texts.
    reserved_names: tuple[str, ...] = ()
    # An edited copy keeps the author's name shown above it (Discord's webhook messages), so
    # forgetting someone cannot take their name off the copies there; /forgetme says so.
    edits_keep_names: bool = False
    # What a bot may upload there in one message; None: files do not cross as files (they
    # become lines), so no file is too large for it.
    file_limits: FileLimits | None = None


class Platforms:
    """The platforms a bridgebot runs with, looked up by name."""

    def __init__(self, infos: Iterable[PlatformInfo] = ()) -> None:
        self._by_name = {info.name: info for info in infos}
        self._limits_of: dict[str, Callable[[ChannelRef], FileLimits | None]] = {}

    def use_file_limits(self, platform: str,
                        limits_of: Callable[[ChannelRef], FileLimits | None]) -> None:
        """A running adapter knows more than its registry record: a boosted Discord server
        takes 50 or 100 MiB, not 10. ``limits_of(chat)`` says so; None: the record's."""
        self._limits_of[platform] = limits_of

    def file_limits(self, target: ChannelRef) -> FileLimits | None:
        """What a bot may upload in one message to ``target``; None: files become lines."""
        info = self._by_name.get(target.platform)
        if info is None or info.file_limits is None:
            return None
        limits_of = self._limits_of.get(target.platform)
        return (limits_of(target) if limits_of is not None else None) or info.file_limits

    def __iter__(self) -> Iterator[PlatformInfo]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def info(self, platform: str) -> PlatformInfo | None:
        return self._by_name.get(platform)

    def display_name(self, platform: str) -> str:
        """"Telegram" for "telegram"; an unknown platform shows as it is stored."""
        info = self._by_name.get(platform)
        return info.display_name if info is not None else platform

    @cached_property
    def display_names(self) -> dict[str, str]:
        return {name: info.display_name for name, info in self._by_name.items()}

    @cached_property
    def reserved_names(self) -> frozenset[str]:
        """Every platform's fallback names, casefolded."""
        return frozenset(n.casefold() for info in self for n in info.reserved_names)

    @cached_property
    def profile_links(self) -> re.Pattern[str] | None:
        """One pattern for every link to a person or private place on any platform."""
        starts = [start for info in self for start in info.profile_links]
        if not starts:
            return None
        return re.compile("|".join(f"(?:{start}){REST_OF_URL}" for start in starts), re.IGNORECASE)
