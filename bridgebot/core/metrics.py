"""Counters of what happened since start, and the mirror-latency histogram, for ``/metrics``.

What the database already knows (posts, pending and dead deliveries) is read from
the store when scraped, so it survives restarts; this holds only what leaves no row
behind, such as a platform answering 429, and how long posts took to reach each
platform. The relay records these; the health endpoint only reads them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, Histogram

Outcome = Literal["delivered", "combined", "rate_limited", "retried", "dead"]
# From a chat's quick answer to a backlog drained over minutes (Discord's 30 a minute).
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


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
    # The same outcomes per target platform: (platform, outcome) -> count.
    outcomes: Counter[tuple[str, Outcome]] = field(default_factory=Counter)
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True),
                                        repr=False)

    def __post_init__(self) -> None:
        self.mirror_latency = Histogram(
            "bridgebot_mirror_latency_seconds",
            "Seconds from a post being accepted to its copy confirmed by a target platform.",
            ["platform"], buckets=LATENCY_BUCKETS, registry=self.registry)

    def count(self, outcome: Outcome, platform: str, n: int = 1) -> None:
        setattr(self, outcome, getattr(self, outcome) + n)
        self.outcomes[(platform, outcome)] += n

    def observe_latency(self, platform: str, seconds: float) -> None:
        self.mirror_latency.labels(platform).observe(max(0.0, seconds))
