"""SQLite for facilitation (:class:`~bridgebot.core.ports.FacilitationPort`): published
topic plans and their items, digests, reader views.

Kept beside ``repo.py`` rather than in it so the discussion's core queries stay small.
The scheduler claims an item in a unit of work that also carries the topic, prompt,
digest or lock it creates (``within=``), so a scheduled item's "done" mark and what it
created commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from bridgebot.core.models import Action, ChannelRef
from bridgebot.core.plan import ItemKind, ItemSpec, Plan, PlanItem, PlanSpec, PublishResult
from bridgebot.core.ports import UnitOfWork
from bridgebot.store.repo import Store, _dt, _ts, _when, inserted_id
from bridgebot.store.sql import Queries, Row

_PLAN_COLUMNS = (
    "id, name, bridge, title, introduction, facilitator, timezone, source, topic_id, published_at"
)
_ITEM_COLUMNS = "id, plan_id, kind, position, due_at, text, done_at, outcome"


def due_text(value: datetime) -> str:
    """A due time as stored: UTC, whole seconds, one fixed width, so text order is time order."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat(timespec="seconds")


def _plan(row: Row) -> Plan:
    return Plan(id=row["id"], name=row["name"], bridge=row["bridge"], title=row["title"],
                introduction=row["introduction"], facilitator=row["facilitator"],
                timezone=row["timezone"], source=row["source"], topic_id=row["topic_id"],
                published_at=_when(row["published_at"]))


def _item(row: Row) -> PlanItem:
    return PlanItem(id=row["id"], plan_id=row["plan_id"], kind=ItemKind(row["kind"]),
                    position=row["position"], due_at=_when(row["due_at"]), text=row["text"],
                    done_at=_dt(row["done_at"]), outcome=row["outcome"])


class FacilitationStore(Queries):
    """Plans, schedule items, digests and the reader queries behind /status and /catchup."""

    # -- plans -------------------------------------------------------------------

    async def plan(self, plan_id: int) -> Plan | None:
        row = await self._one(f"SELECT {_PLAN_COLUMNS} FROM topic_plans WHERE id = ?", (plan_id,))
        return _plan(row) if row else None

    async def plan_named(self, name: str) -> Plan | None:
        row = await self._one(f"SELECT {_PLAN_COLUMNS} FROM topic_plans WHERE name = ?", (name,))
        return _plan(row) if row else None

    async def plans(self) -> list[Plan]:
        return [_plan(r) for r in await self._all(f"SELECT {_PLAN_COLUMNS} FROM topic_plans ORDER BY id")]

    async def items(self, plan_id: int) -> list[PlanItem]:
        rows = await self._all(
            f"SELECT {_ITEM_COLUMNS} FROM plan_items WHERE plan_id = ? ORDER BY due_at, id", (plan_id,)
        )
        return sorted((_item(r) for r in rows), key=lambda i: (i.due_at, i.kind.rank, i.position))

    async def save_plan(self, spec: PlanSpec, now: datetime) -> PublishResult:
        """Record a plan, or replace a plan of the same name.

        Replacing keeps what was already carried out (an opened topic, a question that
        went out, a past digest or lock) and swaps every item still to come.
        """
        async with self.db.tx() as tx:
            found = await tx.fetchrow("SELECT id FROM topic_plans WHERE name = ?", (spec.name,))
            fields = (spec.bridge, spec.title, spec.introduction, spec.facilitator, spec.timezone,
                      spec.source, _ts(now))
            done: set[tuple[str, int, str]] = set()
            if found is None:
                plan_id = await inserted_id(
                    tx,
                    "INSERT INTO topic_plans (bridge, title, introduction, facilitator, timezone, "
                    "source, published_at, name) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (*fields, spec.name),
                )
            else:
                plan_id = int(found[0])
                await tx.execute(
                    "UPDATE topic_plans SET bridge = ?, title = ?, introduction = ?, facilitator = ?, "
                    "timezone = ?, source = ?, published_at = ? WHERE id = ?",
                    (*fields, plan_id),
                )
                done = {(r[0], r[1], r[2]) for r in await tx.fetch(
                    "SELECT kind, position, due_at FROM plan_items WHERE plan_id = ? "
                    "AND done_at IS NOT NULL", (plan_id,),
                )}
                await tx.execute("DELETE FROM plan_items WHERE plan_id = ? AND done_at IS NULL",
                                 (plan_id,))
            fresh = [item for item in spec.items if not _already_done(item, done)]
            await tx.executemany(
                "INSERT INTO plan_items (plan_id, kind, position, due_at, text) VALUES (?, ?, ?, ?, ?)",
                [(plan_id, i.kind.value, i.position, due_text(i.due_at), i.text) for i in fresh],
            )
        plan = await self.plan(plan_id)
        assert plan is not None
        return PublishResult(plan, await self.items(plan_id), found is not None, len(done))

    async def due_items(self, now: datetime) -> list[tuple[Plan, PlanItem]]:
        """Items not yet done whose time has come, in the order they must happen."""
        rows = await self._all(
            f"SELECT {_ITEM_COLUMNS} FROM plan_items WHERE done_at IS NULL AND due_at <= ? "
            "ORDER BY due_at, id",
            (due_text(now),),
        )
        items = sorted((_item(r) for r in rows), key=lambda i: (i.due_at, i.kind.rank, i.position))
        plans: dict[int, Plan] = {}
        out = []
        for item in items:
            if item.plan_id not in plans:
                plan = await self.plan(item.plan_id)
                assert plan is not None
                plans[item.plan_id] = plan
            out.append((plans[item.plan_id], item))
        return out

    async def next_due(self, after: datetime) -> datetime | None:
        """The earliest time after ``after`` at which an item not yet done falls due."""
        row = await self._one(
            "SELECT MIN(due_at) FROM plan_items WHERE done_at IS NULL AND due_at > ?",
            (due_text(after),),
        )
        return _dt(row[0]) if row and row[0] else None

    async def claim(self, within: UnitOfWork, item_id: int, now: datetime, outcome: str) -> bool:
        """Mark an item done inside the caller's unit of work; False if it already was."""
        async with self.db.within(within) as tx:
            return await tx.execute(
                "UPDATE plan_items SET done_at = ?, outcome = ? WHERE id = ? AND done_at IS NULL",
                (_ts(now), outcome, item_id),
            ) == 1

    async def link_topic(self, within: UnitOfWork, plan_id: int, topic_id: int) -> None:
        async with self.db.within(within) as tx:
            await tx.execute("UPDATE topic_plans SET topic_id = ? WHERE id = ?", (topic_id, plan_id))

    # -- digests -----------------------------------------------------------------

    async def last_digest(self, topic_id: int) -> int:
        """The post number the previous digest of a topic counted up to (0: none yet)."""
        row = await self._one("SELECT MAX(upto_number) FROM digests WHERE topic_id = ?", (topic_id,))
        return int(row[0]) if row and row[0] is not None else 0

    async def record_digest(
        self, topic_id: int, upto_number: int, who: str, now: datetime, text: str,
        targets: Sequence[ChannelRef], *, within: UnitOfWork | None = None,
        texts: Mapping[ChannelRef, str] | None = None,
    ) -> None:
        """The digest and one NOTICE delivery carrying its text per target, together.

        ``texts`` gives a target its own text (the digest in that chat's language).
        """
        async with self.db.within(within) as tx:
            await tx.execute(
                "INSERT INTO digests (topic_id, upto_number, created_by, created_at) VALUES (?, ?, ?, ?)",
                (topic_id, upto_number, who, _ts(now)),
            )
            for target in targets:
                notice = (texts or {}).get(target, text)
                await Store._enqueue(tx, topic_id, Action.NOTICE, [target], now, notice=notice)

    # -- readers -----------------------------------------------------------------

    async def reader_bridges(self, platform: str, user_id: str) -> list[str]:
        """Bridges whose topics this person wrote in or read with /status or /catchup."""
        rows = await self._all(
            "SELECT DISTINCT t.bridge FROM topics t WHERE t.id IN ("
            "SELECT p.topic_id FROM posts p JOIN participants pa ON pa.id = p.participant_id "
            "WHERE pa.platform = ? AND pa.user_id = ? UNION "
            "SELECT r.topic_id FROM read_markers r JOIN participants pa ON pa.id = r.participant_id "
            "WHERE pa.platform = ? AND pa.user_id = ?) ORDER BY t.bridge",
            (platform, user_id, platform, user_id),
        )
        return [r[0] for r in rows]

    async def message_places(self, post_id: int) -> list[tuple[ChannelRef, str]]:
        """Where a post can be seen: per chat, its first message (the original first)."""
        rows = await self._all(
            "SELECT platform, chat_id, thread_id, message_id FROM message_map WHERE post_id = ? "
            "ORDER BY mirrored, part, id",
            (post_id,),
        )
        seen: set[tuple[str, str]] = set()
        places = []
        for platform, chat_id, thread_id, message_id in rows:
            if (platform, chat_id) in seen:
                continue
            seen.add((platform, chat_id))
            places.append((ChannelRef(platform, chat_id, thread_id), message_id))
        return places


def _already_done(item: ItemSpec, done: set[tuple[str, int, str]]) -> bool:
    """Whether a republished item was carried out before (digests are told apart by time)."""
    if item.kind is ItemKind.DIGEST:
        return (item.kind.value, item.position, due_text(item.due_at)) in done
    return any(kind == item.kind.value and position == item.position for kind, position, _ in done)
