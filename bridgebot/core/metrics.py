"""Counters of what happened since start, for ``/metrics``.

What the database already knows (posts, pending and dead deliveries) is read from
the store when scraped, so it survives restarts; this holds only what leaves no row
behind, such as a platform answering 429. The relay increments these; the health
endpoint only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Metrics:
    """Process-lifetime counters shared by the relay and ``/metrics`` (``runtime.metrics``)."""

    delivered: int = 0  # deliveries confirmed by a platform
    combined: int = 0  # deliveries sent folded into one message with others (catching up)
    rate_limited: int = 0  # 429 / RetryAfter answers from any platform
    retried: int = 0  # deliveries put back for a later attempt after a transient error
    dead: int = 0  # deliveries buried after a permanent error, since start
    # Sends retried after the platform did not answer in time: each may have left one
    # copy the bridge does not know of (a send is retried so at most once).
    maybe_duplicated: int = 0
