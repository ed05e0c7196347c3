"""Build the platform adapters the settings ask for, through the platform registry."""

from __future__ import annotations

from bridgebot.core.adapter import Adapter
from bridgebot.settings import Settings


def build_adapters(settings: Settings) -> list[Adapter]:
    """One adapter per platform whose settings section is present (console has none)."""
    return [platform.build(section) for platform, section in settings.configured()
            if platform.build is not None]
