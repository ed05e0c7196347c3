"""Typed errors: discussion rules broken by a person, and delivery failures by kind.

Rule errors carry a polite sentence meant for the person who tried; delivery errors
tell the relay whether to wait, retry, or give up (discord.py's ``http.py`` and PTB's
rate limiter make the same three-way split).
"""

from __future__ import annotations


class RuleError(Exception):
    """A request the discussion rules refuse; ``str(err)`` is shown to the person."""


class NotFacilitator(RuleError):
    def __init__(self, command: str) -> None:
        super().__init__(
            f"Sorry, /{command} is for facilitators of this discussion. "
            "You can take part by replying to the topic or to any post."
        )


class TopicLocked(RuleError):
    def __init__(self, title: str, reason: str | None = None) -> None:
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"The topic “{title}” is locked{why}: it no longer accepts posts. "
            "Its archive stays readable."
        )


class NoTopicHere(RuleError):
    def __init__(self) -> None:
        super().__init__(
            "There is no topic here yet. A facilitator can open one with /newtopic <title>."
        )


class UnknownTopic(RuleError):
    def __init__(self, ref: object) -> None:
        super().__init__(f"There is no topic {ref}. `bridgebot topics` lists them.")


class UnknownPost(RuleError):
    def __init__(self, number: int) -> None:
        super().__init__(f"This topic has no post #{number}.")


class NotBridged(RuleError):
    def __init__(self, where: object) -> None:
        super().__init__(
            f"This chat ({where}) is not part of any bridge. An operator can link it "
            "in the [[bridges]] section of the configuration."
        )


class InvalidInput(RuleError):
    """Malformed or oversized input; the message says what to fix."""


class DeliveryError(Exception):
    """A delivery failed; subclasses say whether trying again can help."""


class RateLimited(DeliveryError):
    def __init__(self, retry_after: float, detail: str = "rate limited") -> None:
        super().__init__(f"{detail} (retry after {retry_after:g}s)")
        self.retry_after = retry_after


class TransientError(DeliveryError):
    """A 5xx, a timeout, a dropped connection: worth retrying with backoff."""


class PermanentError(DeliveryError):
    """The target is gone or forbids us; retrying will never help."""
