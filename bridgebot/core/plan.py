"""What a published topic file becomes: a plan and its dated items.

A facilitated discussion runs on a plan (open on Monday, a new question each
morning, a digest, lock on Friday). ``bridgebot topic publish`` records the plan;
the running bot carries out each item when it is due. These types are shared by
the topic-file reader, the store and the scheduler, so they import nothing else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class ItemKind(enum.StrEnum):
    """What a scheduled item does; the order of the members is the order of items due at
    the same minute (open first, lock last)."""

    OPEN = "open"
    PROMPT = "prompt"
    DIGEST = "digest"
    LOCK = "lock"

    @property
    def rank(self) -> int:
        return list(ItemKind).index(self)


@dataclass(frozen=True)
class ItemSpec:
    """One dated step of a topic file's schedule; ``due_at`` is timezone-aware."""

    kind: ItemKind
    due_at: datetime
    position: int = 0  # the question's number, for prompts
    text: str | None = None  # the question, or the lock reason


@dataclass(frozen=True)
class PlanSpec:
    """A validated topic file, ready to be recorded."""

    name: str
    bridge: str
    title: str
    introduction: str
    facilitator: str
    timezone: str
    source: str
    items: tuple[ItemSpec, ...]


@dataclass(frozen=True)
class Plan:
    """A published topic file; ``topic_id`` is set once the topic has opened."""

    id: int
    name: str
    bridge: str
    title: str
    introduction: str
    facilitator: str
    timezone: str
    source: str
    topic_id: int | None
    published_at: datetime


@dataclass(frozen=True)
class PlanItem:
    """A scheduled step as recorded; ``done_at`` is set in the transaction that did it."""

    id: int
    plan_id: int
    kind: ItemKind
    position: int
    due_at: datetime
    text: str | None
    done_at: datetime | None
    outcome: str | None

    @property
    def is_done(self) -> bool:
        return self.done_at is not None


@dataclass(frozen=True)
class PublishResult:
    """What a publish recorded: the plan, and how many items were kept from before."""

    plan: Plan
    items: list[PlanItem]
    replaced: bool
    kept_done: int
