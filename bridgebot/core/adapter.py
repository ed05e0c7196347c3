"""The adapter interface: a small required core and optional capabilities beside it.

Like mautrix-go's ``NetworkAPI`` and matterbridge's ``Bridger``, every adapter must
start, stop and deliver; editing, hiding, locking, combining and finding what was
sent before a crash are separate protocols that an adapter implements only when its
platform can do them. The relay checks for a capability with ``isinstance`` and skips
what a platform cannot do. (Catching up after downtime is the adapter's own business,
done on start.)

Shutdown goes in two steps where an adapter can take them (:class:`CanStopIntake`): its
intake stops first, the relay then delivers what is due through the still open client,
and only then is the adapter stopped; nothing is handed to a closed client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bridgebot.core.models import Delivery, DeliveryResult

if TYPE_CHECKING:
    from bridgebot.core.service import Discussions


@runtime_checkable
class Adapter(Protocol):
    """Required of every platform adapter."""

    platform: str
    # Optional: ``limits: PlatformLimits`` (bridgebot.core.ratelimit) declares the
    # platform's published rate limits; the relay keeps every send inside them.
    # Optional: ``budget: RateBudget``: an adapter that sends outside the relay (answers to
    # one person) or more messages than a delivery returns (a forum topic's creation)
    # sends them through it; the runtime gives every adapter the process's one budget.

    async def start(self, core: Discussions) -> None:
        """Connect and begin handing events to ``core``; return once connected."""

    async def stop(self) -> None:
        """Stop taking events and disconnect."""

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        """Show a topic, prompt or post on ``delivery.target``.

        Raise :class:`~bridgebot.core.errors.DeliveryError` subclasses on failure.
        """


@runtime_checkable
class CanEdit(Protocol):
    async def edit(self, delivery: Delivery) -> DeliveryResult | None:
        """Replace the text of ``delivery.message_ids`` with ``delivery.post``.

        A post grown past them is continued in new messages, one shrunk leaves the extra
        ones deleted: the result then lists every message that shows the post, in order
        (None: the same messages as before)."""


@runtime_checkable
class CanRewrite(Protocol):
    async def rewrite(self, delivery: Delivery) -> None:
        """Show ``delivery.rewrites`` (the bot's own messages of a topic) with their texts as
        they are now: the topic, questions, lock notices and digests, after an erasure."""


@runtime_checkable
class CanHide(Protocol):
    async def hide(self, delivery: Delivery) -> None:
        """Remove ``delivery.message_ids`` (the bot's own mirror messages)."""


@runtime_checkable
class CanLock(Protocol):
    async def set_locked(self, delivery: Delivery, locked: bool) -> DeliveryResult:
        """Show the lock (notice, closed thread) or unlock on the target."""


@runtime_checkable
class CanReportHealth(Protocol):
    def health_problem(self) -> str | None:
        """Why the adapter is not up ("telegram: not connected (...)"), None when it is.
        Read by ``/healthz``; cheap and without I/O."""


@runtime_checkable
class CanCombine(Protocol):
    def combinable(self, deliveries: Sequence[Delivery]) -> int:
        """How many of ``deliveries`` (a prefix) fit one combined message."""

    async def deliver_combined(self, deliveries: Sequence[Delivery]) -> DeliveryResult:
        """Show several consecutive posts of one topic as one message, in order."""


@runtime_checkable
class CanReconcile(Protocol):
    async def find_sent(self, delivery: Delivery) -> DeliveryResult | None:
        """After a crash mid-send: the messages this delivery already produced, if any."""


@runtime_checkable
class CanStopIntake(Protocol):
    async def stop_intake(self) -> None:
        """Take no more events (stop polling, refuse webhook calls so the platform sends
        them again, ignore gateway messages a later catch-up reads) while the client stays
        open for sending; :meth:`Adapter.stop` follows once the relay has drained."""
