"""The console adapter: chat "rooms" that live in memory and print to a terminal.

It is a real adapter (the relay delivers to it exactly as to Telegram or Discord),
so ``bridgebot shell`` shows mirroring without any token, and tests use it as the
in-process fake of a platform (errbot's ``text`` backend plays the same role).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bridgebot.adapters.registry import display_name
from bridgebot.core.attachments import as_lines, lines_for
from bridgebot.core.errors import DeliveryError
from bridgebot.core.models import (
    Action,
    Attachment,
    Author,
    ChannelRef,
    Delivery,
    DeliveryResult,
    IncomingMessage,
    ReceiveOutcome,
)
from bridgebot.core.ratelimit import PlatformLimits
from bridgebot.core.richtext.spans import Span, plain_with_urls
from bridgebot.core.service import Discussions
from bridgebot.core.text import split_text
from bridgebot.i18n import Translator, translator

PLATFORM = "console"


@dataclass
class Shown:
    """A message as it appears in a console room."""

    message_id: str
    room: str
    author: str
    text: str
    reply_to: str | None = None
    thread_id: str | None = None
    deleted: bool = False


RUN_CURSOR = "console.runs"  # how many times a console adapter started on this database

class ConsoleAdapter:
    """Rooms in memory; every message shown is printed through ``out``."""

    platform = PLATFORM

    def __init__(self, out: Callable[[str], None] | None = None, limit: int = 4000,
                 limits: PlatformLimits | None = None) -> None:
        self.out = out or (lambda line: None)
        self.limit = limit
        if limits is not None:  # a rate budget, for trying out (and testing) the relay's
            self.limits = limits
        self.core: Discussions | None = None
        self.rooms: dict[str, list[Shown]] = defaultdict(list)
        self.thread_of_room: dict[str, str] = {}
        self.locked_threads: set[str] = set()
        self._ids = itertools.count(1)
        self._run_prefix = "m"
        self._faults: list[DeliveryError] = []

    # -- Adapter -----------------------------------------------------------------

    async def start(self, core: Discussions) -> None:
        """Message ids must differ from every earlier run's (the message map remembers them
        all): the first run says "m1", "m2", the n-th "m<n>.1", "m<n>.2"."""
        self.core = core
        run = int(await core.intake_cursor(RUN_CURSOR) or 0) + 1
        await core.save_intake_cursor(RUN_CURSOR, str(run))
        self._run_prefix = "m" if run == 1 else f"m{run}."
        for place, _ in await core.open_threads(PLATFORM):  # rooms keep their open topic
            if place.thread_id is not None:
                self.thread_of_room.setdefault(place.chat_id, place.thread_id)

    async def stop(self) -> None:
        self.core = None

    def fail_next(self, error: DeliveryError) -> None:
        """Make the next delivery fail with ``error`` (for relay tests)."""
        self._faults.append(error)

    def _new_id(self) -> str:
        return f"{self._run_prefix}{next(self._ids)}"

    def _show(self, room: str, author: str, text: str, reply_to: str | None = None,
              thread_id: str | None = None) -> Shown:
        shown = Shown(self._new_id(), room, author, text, reply_to, thread_id)
        self.rooms[room].append(shown)
        answer = f" ↩ {reply_to}" if reply_to else ""
        self.out(f"[{room} {shown.message_id}] {author}{answer}: {text}")
        return shown

    def _room_translator(self, target: ChannelRef) -> Translator:
        """The bot writes into a room in the room's language (its bridge's setting)."""
        return translator(self.core.chat_language(target) if self.core else None)

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        if self._faults:
            raise self._faults.pop(0)
        delivery = as_lines(delivery)  # files cross here as lines naming them
        room = delivery.target.chat_id
        topic = delivery.topic
        t = self._room_translator(delivery.target)
        if delivery.action is Action.OPEN_TOPIC:
            thread = f"topic-{topic.id}"
            text = t("Topic #{id}: {title}", id=topic.id, title=topic.title)
            if topic.chat_introduction:
                text += f"\n{topic.chat_introduction}"
            shown = self._show(room, "bridgebot", text, thread_id=thread)
            self.thread_of_room[room] = thread
            return DeliveryResult((shown.message_id,), thread)
        if delivery.action is Action.PROMPT and delivery.prompt:
            head = t("Question {position}", position=delivery.prompt.position)
            shown = self._show(room, "bridgebot", f"{head}: {delivery.prompt.question}",
                               delivery.reply_to, delivery.target.thread_id)
            return DeliveryResult((shown.message_id,))
        if delivery.action is Action.POST and delivery.post:
            post = delivery.post
            platform = display_name(post.author_platform)
            author = f"{post.author_name} · {platform}"
            head = f"#{post.number} " + (f"{post.subject}\n" if post.subject else "")
            ids = []
            for i, piece in enumerate(split_text(head + plain_with_urls(post.text, post.spans), self.limit)):
                shown = self._show(room, author, piece, delivery.reply_to if i == 0 else None,
                                   delivery.target.thread_id)
                ids.append(shown.message_id)
            return DeliveryResult(tuple(ids))
        if delivery.action is Action.NOTICE and delivery.notice:
            ids = [self._show(room, "bridgebot", piece, delivery.reply_to if i == 0 else None,
                              delivery.target.thread_id).message_id
                   for i, piece in enumerate(split_text(delivery.notice, self.limit))]
            return DeliveryResult(tuple(ids))
        return DeliveryResult()

    # -- optional capabilities -------------------------------------------------

    @staticmethod
    def _line(delivery: Delivery) -> str:
        post = delivery.post
        assert post is not None
        platform = display_name(post.author_platform)
        return (f"{post.author_name} · {platform} · #{post.number}: "
                f"{plain_with_urls(post.text, post.spans)}")

    def combinable(self, deliveries: Sequence[Delivery]) -> int:
        length = count = 0
        for delivery in deliveries:
            length += len(self._line(delivery)) + (1 if count else 0)
            if length > self.limit:
                break
            count += 1
        return count

    async def deliver_combined(self, deliveries: Sequence[Delivery]) -> DeliveryResult:
        """Several queued posts in one message, one line each with its author."""
        target = deliveries[0].target
        shown = self._show(target.chat_id, "bridgebot", "\n".join(map(self._line, deliveries)),
                           thread_id=target.thread_id)
        return DeliveryResult((shown.message_id,))

    async def edit(self, delivery: Delivery) -> None:
        t = self._room_translator(delivery.target)
        if delivery.post is None:  # a reworded question
            assert delivery.prompt is not None
            head = t("Question {position}", position=delivery.prompt.position)
            text = f"{head}: {delivery.prompt.question}"
        elif delivery.post.is_opening:  # a new introduction
            topic = delivery.topic
            text = t("Topic #{id}: {title}", id=topic.id, title=topic.title)
            text += f"\n{topic.chat_introduction}" if topic.chat_introduction else ""
        else:
            post = delivery.post
            text = f"#{post.number} {plain_with_urls(post.text, post.spans)}"
        combined = {message_id: "\n".join(self._line(replace(delivery, post=post))
                                          for post, _ in copy.parts)
                    for copy in delivery.combined for message_id in copy.message_ids[:1]}
        for shown in self.rooms[delivery.target.chat_id]:
            if shown.message_id in delivery.message_ids:
                shown.text = text
            elif shown.message_id in combined:  # the whole message again, the others' posts kept
                shown.text = combined[shown.message_id]
            else:
                continue
            self.out(f"[{shown.room} {shown.message_id}] (edited) {shown.text}")

    async def hide(self, delivery: Delivery) -> None:
        for shown in self.rooms[delivery.target.chat_id]:
            if shown.message_id in delivery.message_ids:
                shown.deleted = True
                self.out(f"[{shown.room} {shown.message_id}] (removed by a facilitator)")

    async def rewrite(self, delivery: Delivery) -> None:
        """The bot's own lines of a topic shown again with the texts as they are now."""
        topic = delivery.topic
        t = self._room_translator(delivery.target)
        for bot_text in delivery.rewrites:
            if bot_text.kind == "topic":
                text = t("Topic #{id}: {title}", id=topic.id, title=topic.title)
                if topic.chat_introduction:
                    text += f"\n{topic.chat_introduction}"
            elif bot_text.kind == "prompt" and bot_text.prompt is not None:
                head = t("Question {position}", position=bot_text.prompt.position)
                text = f"{head}: {bot_text.prompt.question}"
            elif bot_text.kind == "lock":
                text = (t("Topic locked: {reason}", reason=topic.lock_reason) if topic.lock_reason
                        else t("Topic locked"))
            elif bot_text.kind == "unlock":
                text = t("Topic “{title}” is open again.", title=topic.title)
            elif bot_text.kind == "notice" and bot_text.text:
                text = bot_text.text
            else:
                continue
            for shown in self.rooms[delivery.target.chat_id]:
                if shown.message_id in bot_text.message_ids:
                    shown.text = text if shown.message_id == bot_text.message_ids[0] else "…"
                    self.out(f"[{shown.room} {shown.message_id}] (edited) {shown.text}")

    async def set_locked(self, delivery: Delivery, locked: bool) -> DeliveryResult:
        room = delivery.target.chat_id
        topic = delivery.topic
        t = self._room_translator(delivery.target)
        if locked:
            text = (t("Topic locked: {reason}", reason=topic.lock_reason) if topic.lock_reason
                    else t("Topic locked"))
            shown = self._show(room, "bridgebot", text, thread_id=delivery.target.thread_id)
            if delivery.target.thread_id:
                self.locked_threads.add(delivery.target.thread_id)
            return DeliveryResult((shown.message_id,))
        self.locked_threads.discard(delivery.target.thread_id or "")
        shown = self._show(room, "bridgebot", t("Topic “{title}” is open again.", title=topic.title),
                           thread_id=delivery.target.thread_id)
        return DeliveryResult((shown.message_id,))

    # -- people typing in a room ------------------------------------------------

    async def say(self, room: str, author: Author, text: str,
                  reply_to: str | None = None, attachments: tuple[Attachment, ...] = (),
                  spans: Sequence[Span] = ()) -> tuple[Shown, ReceiveOutcome]:
        """A person writes in ``room`` (in its current topic, or replying to a message),
        with files already stored (``Discussions.files``); ``spans`` format ``text`` as a
        platform's message would (core/richtext)."""
        assert self.core is not None, "adapter not started"
        thread = self.thread_of_room.get(room)
        shown_text = "\n\n".join(x for x in (text, lines_for(attachments)) if x)
        shown = self._show(room, author.display_name, shown_text, reply_to, thread)
        outcome = await self.core.receive(IncomingMessage(
            where=ChannelRef(PLATFORM, room, thread), message_id=shown.message_id,
            author=author, text=text, sent_at=datetime.now(UTC), reply_to_message_id=reply_to,
            attachments=attachments, spans=tuple(spans),
        ))
        return shown, outcome

    def visible(self, room: str) -> list[Shown]:
        return [s for s in self.rooms[room] if not s.deleted]
