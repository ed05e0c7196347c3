"""What a started process made is left out of the garbage collector's full collections
(``runtime.settle_heap``), once per process: exporting or serving a long topic then no
longer walks the ~90,000 startup objects every second time. Run in a child process, as
freezing is for a whole process (and would keep the test session's objects for good)."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import gc
from bridgebot.runtime import settle_heap

assert gc.get_freeze_count() == 0
settle_heap()
frozen = gc.get_freeze_count()
made_later = [[n] for n in range(1000)]
settle_heap()  # a second call (another command in the same process) freezes nothing more
assert gc.get_freeze_count() == frozen, (gc.get_freeze_count(), frozen)
print(frozen)
"""


def test_startup_objects_are_frozen_once_per_process():
    child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                           timeout=60)
    assert child.returncode == 0, child.stderr
    assert int(child.stdout) > 10_000  # bridgebot's modules and what they import
