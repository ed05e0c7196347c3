"""Facilitation tests build their worlds with :func:`tests.auxil.world.allies` and move a clock."""

from __future__ import annotations

import pytest

# START and Clock live in auxil/world.py; importing them from here keeps working.
from ..auxil.world import START, Clock  # noqa: F401


@pytest.fixture
def clock() -> Clock:
    return Clock()
