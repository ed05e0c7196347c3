"""Facilitation tests build their worlds with :func:`tests.auxil.world.allies` and move a clock."""

from __future__ import annotations

import pytest

from ..auxil.world import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()
