"""The Matrix adapter: bridgebot as an application service (mautrix-python) on a homeserver.

Intake: the homeserver PUTs transactions of room events to the appservice. A transaction
is answered 200 only after every event in it was handled and committed; a failure
answers 500 and the homeserver sends it again later. Handled transaction ids are
recorded (the last few, in a cursor) so a resent one is acknowledged without work,
and each message is recorded once by its event id (the message map's UNIQUE key)
whichever way it arrives. After downtime the adapter also reads each bridged room
forward from the last event it knew.

Delivery: a topic is a bot message that roots a thread (``m.thread``); questions,
notices and mirrored posts go into that thread. Each participant from another platform
posts through their own ghost user ("Jessica (Telegram)", no avatar), which answers the
parent natively with ``m.in_reply_to``. Every send carries a transaction id made from the
outbox row, so a retry after a crash is not shown twice.

Facilitators are room members with power level 50 (moderator) or more, or the
``facilitators`` listed in settings; commands are typed as ``!name`` or ``/name``.
Encrypted rooms are refused: the log and ``check-config`` say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Any, TypeVar, cast

import aiohttp
from aiohttp import web
from mautrix.api import Method, Path
from mautrix.appservice import AppService, ASStateStore, IntentAPI
from mautrix.client.state_store import MemoryStateStore
from mautrix.errors import (
    IntentError,
    MatrixConnectionError,
    MatrixError,
    MatrixRequestError,
    MForbidden,
    MLimitExceeded,
    MNotFound,
)
from mautrix.types import (
    JSON,
    EventContent,
    EventID,
    EventType,
    RoomID,
    SerializerError,
    StateEvent,
    UserID,
)

from bridgebot.adapters.matrix import media, render, richtext
from bridgebot.adapters.matrix.settings import MatrixSettings
from bridgebot.core import errors
from bridgebot.core.attachments import split_fitting, with_lines
from bridgebot.core.commandkit import ANSWERED_PRIVATELY, SORRY, answer_privately, answer_topic
from bridgebot.core.commands import COMMANDS, CommandContext, lock_notice, parse_command, run_command
from bridgebot.core.models import (
    Action,
    Attachment,
    Author,
    ChannelRef,
    Delivery,
    DeliveryResult,
    IncomingMessage,
)
from bridgebot.core.ratelimit import PlatformLimits, RateBudget, Window
from bridgebot.core.richtext.spans import Span
from bridgebot.core.service import Discussions
from bridgebot.i18n import Translator, translator

log = logging.getLogger(__name__)
_T = TypeVar("_T")

PLATFORM = "matrix"
MODERATOR = 50  # Element's "Moderator": the power level that makes a facilitator
TXN_CURSOR = "matrix.transactions"  # the last transaction ids handled, as a JSON list
TXN_REMEMBERED = 64
# Seconds a transaction's post waits for a database that refuses the write before the
# homeserver is answered 500 (and sends the transaction again later), as a Telegram webhook
# is; without a bound the homeserver's request would wait as long as the database is down.
TRANSACTION_PATIENCE = 10.0
# Command events already run, recorded before running them (a JSON list): after a crash the
# homeserver's resent transaction or the catch-up brings the event again, and /newtopic
# must not open a second topic. At most once: a crash between the record and the command
# leaves it undone, and the person types it again.
COMMAND_CURSOR = "matrix.commands"
COMMANDS_REMEMBERED = 256
ROOM_CURSOR = "matrix.room."  # + room id: the last event of that room the bot handled
SEEN_REMEMBERED = 4096
CATCH_UP_PAGE = 100
HTML = "org.matrix.custom.html"
_MEDIA = {"m.image": "[image]", "m.video": "[video]", "m.audio": "[audio]", "m.file": "[file]",
          "m.location": "[location]", "m.sticker": "[sticker]"}


def message_link(where: ChannelRef, message_id: str) -> str | None:
    """A matrix.to link: opens the event in the reader's own client."""
    if where.platform != PLATFORM:
        return None
    return f"https://matrix.to/#/{where.chat_id}/{message_id}"


def classify(err: Exception, where: str) -> errors.DeliveryError:
    """Rate-limited, transient or permanent, with the room and the homeserver's reason."""
    if isinstance(err, MLimitExceeded):
        retry_ms = getattr(err, "retry_after_ms", None) or 1000
        return errors.RateLimited(float(retry_ms) / 1000, f"Matrix {where}: rate limited")
    if isinstance(err, MatrixRequestError):
        reason = f"Matrix {where}: {err.errcode or err.http_status} {err.message or ''}".strip()
        if err.http_status >= 500 or err.http_status in (0, 408):
            return errors.TransientError(reason)
        return errors.PermanentError(reason)
    if isinstance(err, IntentError):
        cause = err.__cause__ or err
        return errors.PermanentError(f"Matrix {where}: {cause}")
    if isinstance(err, MatrixConnectionError | aiohttp.ClientError | asyncio.TimeoutError):
        return errors.TransientError(f"Matrix {where}: {type(err).__name__} {err}")
    return errors.TransientError(f"Matrix {where}: {err}")


class _StateStore(MemoryStateStore, ASStateStore):
    """Room state the appservice learns (members, power levels), kept in memory."""

    def __init__(self) -> None:
        MemoryStateStore.__init__(self)
        ASStateStore.__init__(self)


class _AppService(AppService):
    """mautrix's appservice, with transactions answered only after they were handled.

    mautrix hands events to background tasks and acknowledges at once; a crash would
    then lose what was acknowledged. Here the handler runs first and a failure answers
    500, so the homeserver retries.
    """

    def __init__(self, *args: Any, on_transaction: Any, **kwargs: Any) -> None:
        self._on_transaction = on_transaction
        self.taking = True  # False once intake stopped for shutdown: transactions come again
        super().__init__(*args, **kwargs)

    async def _http_handle_transaction(self, request: web.Request) -> web.Response:
        if not self._check_token(request):
            return web.json_response({"errcode": "M_FORBIDDEN", "error": "Invalid auth token"},
                                     status=403)
        if not self.taking:
            return web.json_response({"errcode": "M_UNKNOWN", "error": "shutting down, send "
                                      "it again later"}, status=503)
        txn_id = request.match_info["transaction_id"]
        try:
            body = await request.json()
            events = list(body.get("events") or [])
        except (ValueError, AttributeError, TypeError):
            return web.json_response({"errcode": "M_NOT_JSON", "error": "not a transaction"},
                                     status=400)
        try:
            await self._on_transaction(txn_id, events)
        except Exception:
            log.exception("matrix transaction %s failed; the homeserver will send it again", txn_id)
            return web.json_response({"errcode": "M_UNKNOWN", "error": "try again"}, status=500)
        return web.json_response({})


class MatrixAdapter:
    """Matrix through mautrix's appservice API; the relay keeps sends inside ``limits``."""

    platform = PLATFORM
    # Synapse exempts appservice users from message rate limits ("rate_limited: false" in
    # the registration); these keep a room readable and the homeserver unhurried.
    limits = PlatformLimits(
        per_target=(Window(10, 1.0),),
        per_platform=(Window(50, 1.0),),
        max_length=render.LIMIT,
    )

    def __init__(self, settings: MatrixSettings, *, limits: PlatformLimits | None = None) -> None:
        self.settings = settings
        if limits is not None:
            self.limits = limits
        # Answers go through a send budget; the runtime replaces this one with the process's,
        # shared with the relay.
        self.budget = RateBudget({PLATFORM: self.limits})
        self.core: Discussions | None = None
        self.service: _AppService | None = None
        self.encrypted: set[str] = set()
        self._txns: list[str] = []
        self.patience = TRANSACTION_PATIENCE
        self._commands_run: list[str] = []
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._names: dict[str, str] = {}  # ghost user id -> display name it has
        self._warned_encrypted: set[str] = set()
        self._late: set[asyncio.Task[None]] = set()  # answers sent when ready (_answer_later)
        self._direct: dict[str, str] = {}  # person -> the bot's direct room with them
        self.file_limits = media.FILE_LIMITS  # the homeserver's m.upload.size once started

    # -- lifecycle ---------------------------------------------------------------

    @property
    def bot(self) -> IntentAPI:
        assert self.service is not None, "adapter not started"
        return self.service.intent

    async def start(self, core: Discussions) -> None:
        self.core = core
        s = self.settings
        self.service = _AppService(
            server=s.homeserver, domain=s.server_name, as_token=s.as_token.get_secret_value(),
            hs_token=s.hs_token.get_secret_value(), bot_localpart=s.bot_localpart,
            id=s.appservice_id, state_store=_StateStore(), on_transaction=self._on_transaction,
            log=logging.getLogger("bridgebot.adapters.matrix.mautrix"),
        )
        saved = await core.store.cursor(TXN_CURSOR)
        self._txns = json.loads(saved) if saved else []
        ran = await core.store.cursor(COMMAND_CURSOR)
        self._commands_run = json.loads(ran) if ran else []
        await self.service.start(s.listen, s.port)
        try:
            await self.bot.ensure_registered()
            whoami = await self.bot.whoami()
        except MatrixRequestError as err:
            await self.service.stop()
            raise errors.PermanentError(
                f"the Matrix homeserver refused the appservice ({err.errcode}): is the "
                "registration file installed and are matrix.as_token / hs_token the same?"
            ) from None
        except (MatrixError, aiohttp.ClientError, OSError) as err:
            await self.service.stop()
            raise errors.TransientError(f"cannot reach the Matrix homeserver: {err}") from None
        try:
            config = await self.bot.get_media_repo_config()
            self.file_limits = media.limits(config.upload_size)
        except (MatrixError, aiohttp.ClientError) as err:
            log.warning("matrix: could not read the homeserver's upload limit (%s); assuming %d "
                        "bytes", err, media.FILE_LIMITS.per_file)
        rooms = [c.chat_id for c in core.channels(PLATFORM)]
        log.info("matrix connected as %s; bridging rooms %s", whoami.user_id,
                 ", ".join(rooms) or "none")
        for room in rooms:
            await self._enter(RoomID(room))
        await self.catch_up()

    async def stop_intake(self) -> None:
        """Answer the homeserver's transactions "send it again later" while the relay
        delivers what is due; the appservice's client stays open for that."""
        if self.service is not None:
            self.service.taking = False

    async def stop(self) -> None:
        for task in list(self._late):  # late answers wait for the relay, which has stopped
            task.cancel()
        if self.service is not None:
            await self.service.stop()
            self.service = None

    def health_problem(self) -> str | None:
        """Why this adapter is not up (for ``/healthz``), or None: the appservice listens and
        the homeserver accepted its token at start."""
        if self.service is None or self.service.runner is None:
            return "matrix: not connected (the appservice is not listening)"
        return None

    async def _enter(self, room: RoomID) -> None:
        """Join a bridged room (the bot must have been invited) and check its encryption."""
        try:
            await self.bot.join_room_by_id(room)
            await self.bot.state_store.joined(room, self.bot.mxid)
        except MatrixRequestError as err:
            log.error("matrix room %s: the bot %s cannot join (%s): invite it to the room",
                      room, self.bot.mxid, err.errcode)
            return
        try:
            await self.bot.get_state_event(room, EventType.ROOM_ENCRYPTION)
        except MNotFound:
            return
        except MatrixRequestError as err:
            log.warning("matrix room %s: could not read its encryption state: %s", room, err)
            return
        self._refuse_encrypted(room)

    def _refuse_encrypted(self, room: str) -> None:
        self.encrypted.add(room)
        if room not in self._warned_encrypted:
            self._warned_encrypted.add(room)
            log.error("matrix room %s is end-to-end encrypted: bridgebot cannot read or write "
                      "there and does not bridge it; bridge an unencrypted room instead", room)

    # -- intake ------------------------------------------------------------------

    async def _on_transaction(self, txn_id: str, events: list[dict[str, Any]]) -> None:
        assert self.core is not None
        if txn_id in self._txns:
            return  # sent again after our answer was lost: already handled
        for raw in events:
            await self._on_event(raw, self.patience)
        self._txns = [*self._txns, txn_id][-TXN_REMEMBERED:]
        await self.core.store.save_cursor(TXN_CURSOR, json.dumps(self._txns))

    def _is_ours(self, user_id: str) -> bool:
        s = self.settings
        local, _, server = user_id[1:].partition(":")
        return server == s.server_name and (
            local == s.bot_localpart or local.startswith(s.ghost_prefix))

    async def _on_event(self, raw: dict[str, Any], patience: float | None = None) -> None:
        """Handle one room event once, whether a transaction or the catch-up brought it.
        ``patience``: how long a post waits for a refusing database before the failure is
        raised (a transaction's, answered 500); the catch-up waits as long as it takes."""
        assert self.core is not None and self.service is not None
        event_id = str(raw.get("event_id", ""))
        if event_id in self._seen:
            return
        room = str(raw.get("room_id", ""))
        kind = raw.get("type")
        if "state_key" in raw:
            with contextlib.suppress(SerializerError, KeyError, ValueError, TypeError):
                await self.bot.state_store.update_state(StateEvent.deserialize(cast(JSON, raw)))
        where = ChannelRef(PLATFORM, room)
        sender = str(raw.get("sender", ""))
        carried = False  # the room's cursor was committed with a post
        if kind == "m.room.member" and raw.get("state_key") == self.bot.mxid:
            if (raw.get("content") or {}).get("membership") == "invite":
                if self.core.is_bridged(where):
                    await self._enter(RoomID(room))
                else:
                    log.info("matrix: invited to room %s, which no bridge lists", room)
        elif not self.core.is_bridged(where) or self._is_ours(sender):
            pass
        elif kind == "m.room.encryption" or kind == "m.room.encrypted":
            self._refuse_encrypted(room)
        elif kind == "m.room.message":
            if await self._on_message(raw, room, sender, patience):
                carried = True
        elif kind == "m.room.redaction":
            redacts = raw.get("redacts") or (raw.get("content") or {}).get("redacts")
            if redacts:
                await self.core.removed(where, str(redacts))
        self._seen[event_id] = None
        while len(self._seen) > SEEN_REMEMBERED:
            self._seen.popitem(last=False)
        if event_id and not carried and self.core.is_bridged(where) and not self._is_ours(sender):
            # People's events only: catch-up starting a little earlier skips our own again.
            await self.core.store.save_cursor(ROOM_CURSOR + room, event_id)

    async def _author(self, room: str, user_id: str) -> Author:
        """The sender's display name in the room; their user id never crosses the bridge."""
        name = None
        member = await self.bot.state_store.get_member(RoomID(room), UserID(user_id))
        if member is not None and member.displayname:
            name = member.displayname
        else:
            with contextlib.suppress(MatrixError, aiohttp.ClientError):
                info = await self.bot.get_room_member_info(RoomID(room), UserID(user_id))
                name = info.displayname if info else None
        return Author(PLATFORM, user_id, (name or "").strip() or "Matrix user")

    async def _on_message(self, raw: dict[str, Any], room: str, sender: str,
                          patience: float | None = None) -> bool:
        """Hand a person's message to the core; True when a new post committed the cursor."""
        assert self.core is not None
        body = raw.get("content") or {}
        relates = body.get("m.relates_to") or {}
        event_id = str(raw["event_id"])
        sent_at = datetime.fromtimestamp(int(raw.get("origin_server_ts", 0)) / 1000, UTC)
        if relates.get("rel_type") == "m.replace":
            new = body.get("m.new_content") or {}
            original = relates.get("event_id")
            text, spans = message_content(new)
            if original and text.strip() and not text.startswith(("/", "!")):
                with contextlib.suppress(errors.RuleError):  # an emptied or too long edit
                    await self.core.edit(ChannelRef(PLATFORM, room), str(original), text, sent_at,
                                         spans)
            return False
        thread = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
        where = ChannelRef(PLATFORM, room, str(thread) if thread else None)
        reply = (relates.get("m.in_reply_to") or {}).get("event_id")
        if relates.get("is_falling_back"):
            reply = None  # a thread client's fallback, not a reply the person chose
        author = await self._author(room, sender)
        text, spans = message_content(body)
        attachments: tuple[Attachment, ...] = ()
        if body.get("msgtype") in media.MSGTYPES and self.core.is_bridged(where):
            attachments = (await media.fetch(self.bot, self.core.files, body, self.file_limits),)
        command = None
        if body.get("msgtype") in ("m.text", "m.notice") and text[:1] in ("/", "!"):
            command = parse_command("/" + text[1:])
        if command is not None:
            await self._command(raw, where, author, *command, reply_to=reply)
            return False
        outcome = await self.core.receive(IncomingMessage(
            where=where, message_id=event_id, author=author, text=text, sent_at=sent_at,
            reply_to_message_id=str(reply) if reply else None,
            cursor=(ROOM_CURSOR + room, event_id), spans=spans, attachments=attachments,
        ), patience=patience)
        if outcome.answer:
            await self._answer(room, thread, event_id, outcome.answer)
        return outcome.post is not None and not outcome.duplicate

    async def _is_moderator(self, room: str, user_id: str) -> bool:
        """Power level >= 50; in room version 12 the room's creators rank above everyone."""
        store = self.bot.state_store
        try:
            levels = await self.bot.get_power_levels(RoomID(room), ensure_joined=False)
            create = await store.get_create(RoomID(room))
            if create is None:
                event = await self.bot.get_state_event(RoomID(room), EventType.ROOM_CREATE,
                                                       format="event")
                if isinstance(event, StateEvent):
                    create = event
                    await store.set_create(event)
        except (MatrixError, aiohttp.ClientError) as err:
            log.warning("matrix room %s: could not read power levels: %s", room, err)
            return False
        return levels.get_user_level(UserID(user_id), create) >= MODERATOR

    async def _command(self, raw: dict[str, Any], where: ChannelRef, author: Author, name: str,
                       args: str, *, reply_to: str | None) -> None:
        """What Matrix alone knows (the sender's power level) goes into the context; the
        command table does the rest, as on every platform."""
        assert self.core is not None
        event_id = str(raw["event_id"])
        if event_id in self._commands_run:
            log.info("matrix command event %s was run before a restart; not run again", event_id)
            return
        ran = [*self._commands_run, event_id][-COMMANDS_REMEMBERED:]
        # Committed before the command runs; if it cannot be, the transaction fails and the
        # homeserver sends it again.
        await self.core.store.save_cursor(COMMAND_CURSOR, json.dumps(ran))
        self._commands_run = ran
        command = COMMANDS.find(name)
        admin = False
        if command is not None and command.needs_rights and self.core.is_bridged(where):
            admin = (author.user_id in self.settings.facilitators
                     or await self._is_moderator(where.chat_id, author.user_id))
        event_id = str(raw["event_id"])

        def later(answer: Awaitable[str]) -> None:
            """An answer that takes a while (/forgetme confirm waits for the copies' edits) is
            sent in the background: the homeserver's transaction is answered meanwhile."""
            async def send() -> None:
                try:
                    await self._answer(where.chat_id, where.thread_id, event_id, await answer)
                except Exception:
                    log.exception("a late answer in matrix room %s could not be sent", where.chat_id)

            task = asyncio.create_task(send(), name="matrix-late-answer")
            self._late.add(task)
            task.add_done_callback(self._late.discard)

        ctx = CommandContext(author, where, platform_admin=admin, message_id=event_id,
                             reply_to=reply_to, link=message_link, answer_later=later)
        if answer_privately(self.core, ctx, command):
            await self._command_privately(ctx, event_id, name, args)
            return
        answer = await run_command(self.core, ctx, name, args)
        if answer:
            await self._answer(where.chat_id, where.thread_id, event_id, answer)

    async def _command_privately(self, ctx: CommandContext, event_id: str, name: str,
                                 args: str) -> None:
        """Run a discreet command typed in a room of a pseudonym bridge and answer in a
        direct room with the person (the bot invites them); the room only reads a sentence
        that is the same whatever the answer was. Without a direct room nothing is run."""
        assert self.core is not None
        where = ctx.where
        t = self.core.translator_for(ctx.locale, where)
        direct = await self._direct_room(ctx.actor.user_id)
        if direct is None:
            await self._answer(where.chat_id, where.thread_id, event_id, t(SORRY))
            return
        answer = await run_command(self.core, ctx, name, args)
        if answer:
            await self._answer(direct, None, None, answer)
        await self._answer(where.chat_id, where.thread_id, event_id, t(ANSWERED_PRIVATELY))

    async def _direct_room(self, user_id: str) -> str | None:
        """The bot's direct room with a person, created (and the person invited) on first
        need; None when the homeserver refuses."""
        if user_id not in self._direct:
            try:
                room = await self.bot.create_room(invitees=[UserID(user_id)], is_direct=True)
            except (MatrixError, aiohttp.ClientError, OSError) as err:
                log.warning("could not open a direct matrix room for an answer: %s", err)
                return None
            self._direct[user_id] = str(room)
        return self._direct[user_id]

    async def _answer(self, room: str, thread: str | None, event_id: str | None,
                      text: str) -> None:
        """Answer one person with a notice replying to their message, inside the room's send
        budget (a 429 is waited out and the answer sent again); failures are logged. An
        answer about a topic is remembered where it was sent: a reply to it is a post."""
        topic_id = answer_topic(text)
        for piece in render.notice_contents(text):
            body = render.in_thread(piece, thread, event_id)

            async def send(body: render.Content = body) -> None:
                try:
                    sent = await self.bot.send_message_event(RoomID(room), EventType.ROOM_MESSAGE,
                                                             as_content(body))
                    if topic_id is not None and self.core is not None:
                        await self.core.note_answer(ChannelRef(PLATFORM, room, thread), topic_id,
                                                    [str(sent)])
                except Exception as err:
                    raise classify(err, f"room {room}") from err

            await self.budget.send(ChannelRef(PLATFORM, room), send)

    async def catch_up(self) -> None:
        """Read each bridged room forward from the last event handled before downtime."""
        assert self.core is not None
        for channel in self.core.channels(PLATFORM):
            room = RoomID(channel.chat_id)
            last = await self.core.store.cursor(ROOM_CURSOR + room)
            if not last or room in self.encrypted:
                continue
            try:
                rooms = Path.v3.rooms[room]
                context = await self.bot.api.request(Method.GET, rooms.context[EventID(last)],
                                                     query_params={"limit": "0"})
                token = context.get("end")
                while token:
                    page = await self.bot.api.request(Method.GET, rooms.messages, query_params={
                        "from": token, "dir": "f", "limit": str(CATCH_UP_PAGE)})
                    events = page.get("chunk") or []
                    for raw in events:
                        await self._on_event({"room_id": room, **raw})
                    if not events or page.get("end") in (None, token):
                        break
                    token = page["end"]
            except (MatrixError, aiohttp.ClientError) as err:
                log.warning("matrix room %s: catch-up failed: %s", room, err)

    # -- delivery ----------------------------------------------------------------

    def _ghost(self, delivery: Delivery) -> IntentAPI:
        """The author's ghost on this bridge: an opaque id (a keyed hash, so no platform id
        can be read back from it); a separate ghost per bridge keeps bridges unlinkable."""
        assert self.core is not None and delivery.post is not None
        post = delivery.post
        bridge = self.core.bridge_of(delivery.target.chat).name
        key = self.settings.hs_token.get_secret_value().encode()
        who = f"{bridge}\0{post.author_platform}\0{post.author_id}".encode()
        digest = hmac.new(key, who, hashlib.sha256).hexdigest()[:24]
        user = UserID(f"@{self.settings.ghost_prefix}{digest}:{self.settings.server_name}")
        return self.bot.user(user)

    async def _prepare_ghost(self, ghost: IntentAPI, name: str, room: RoomID) -> None:
        await ghost.ensure_registered()
        if self._names.get(ghost.mxid) != name:
            current = await ghost.get_displayname(ghost.mxid)
            if current != name:
                await ghost.set_displayname(name)
            self._names[ghost.mxid] = name
        await ghost.ensure_joined(room)

    def _chat_translator(self, target: ChannelRef) -> Translator:
        return translator(self.core.chat_language(target) if self.core else None)

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        target = delivery.target
        if target.chat_id in self.encrypted:
            raise errors.PermanentError(
                f"Matrix room {target.chat_id} is end-to-end encrypted; bridgebot does not "
                "bridge encrypted rooms")
        try:
            return await self._deliver(delivery)
        except errors.DeliveryError:
            raise
        except Exception as err:  # mautrix and aiohttp errors, sorted for the relay
            raise classify(err, f"room {target.chat_id}") from err

    async def _deliver(self, delivery: Delivery) -> DeliveryResult:
        target = delivery.target
        uploads: list[tuple[Attachment, FilePath]] = []
        if delivery.post is not None and delivery.post.attachments:
            uploads, delivery = self._files_of(delivery)
        t = self._chat_translator(target)
        room = RoomID(target.chat_id)
        sender = self.bot
        if delivery.action is Action.OPEN_TOPIC:
            ids = await self._send(sender, room, None, None, render.topic_contents(delivery.topic, t),
                                   delivery)
            return DeliveryResult(ids, ids[0])
        if delivery.action is Action.PROMPT and delivery.prompt is not None:
            pieces = render.prompt_contents(delivery.prompt, t)
        elif delivery.action is Action.POST and delivery.post is not None:
            quoted = delivery.parent if not delivery.reply_is_parent else None
            pieces = render.post_contents(delivery.post, quoted)
            sender = self._ghost(delivery)
            await self._prepare_ghost(sender, render.ghost_name(delivery.post), room)
        elif delivery.action is Action.NOTICE and delivery.notice:
            pieces = render.notice_contents(delivery.notice)
        else:
            return DeliveryResult()
        if sender is self.bot:
            ids = await self._send(sender, room, target.thread_id, delivery.reply_to, pieces,
                                   delivery)
        else:
            ids = await self._as_member(sender, room, lambda: self._send(
                sender, room, target.thread_id, delivery.reply_to, pieces, delivery))
            if uploads:
                ids += await self._as_member(sender, room, lambda: self._send_files(
                    sender, room, target.thread_id, ids[-1], uploads, delivery))
        return DeliveryResult(ids)

    def _files_of(self, delivery: Delivery) -> tuple[list[tuple[Attachment, FilePath]], Delivery]:
        """The files that go as uploads, and the delivery whose post has a line for each
        one that cannot (larger than the homeserver takes, one too many, not stored)."""
        assert delivery.post is not None
        post = delivery.post
        fit, _ = split_fitting(post.attachments, self.file_limits)
        files = self.core.files if self.core is not None else None
        paths = [(a, p) for a in fit if files is not None and (p := files.path(a)) is not None]
        going = {id(a) for a, _ in paths}
        left = [a for a in post.attachments if id(a) not in going]
        shown = replace(with_lines(post, left) if left else post, attachments=())
        return paths, replace(delivery, post=shown)

    async def _send_files(self, sender: IntentAPI, room: RoomID, thread: str | None,
                          after: str, uploads: Sequence[tuple[Attachment, FilePath]],
                          delivery: Delivery) -> tuple[str, ...]:
        """Each file as its own event after the post's text, answering it, in the thread;
        the transaction ids make a retry after a crash show nothing twice (an upload may
        be repeated, which only stores the bytes again)."""
        ids: list[str] = []
        for i, (attachment, path) in enumerate(uploads):
            content = await media.upload(sender, attachment, path)
            body = render.in_thread(content, thread, ids[-1] if ids else after)
            event_id = await sender.send_message_event(
                room, EventType.ROOM_MESSAGE, as_content(body), txn_id=f"bridgebot.{delivery.id}.f{i}")
            ids.append(str(event_id))
        return tuple(ids)

    async def _as_member(self, ghost: IntentAPI, room: RoomID,
                         send: Callable[[], Awaitable[_T]]) -> _T:
        """Send as a ghost; if the room refuses it because it is no longer a member (kicked,
        or it left, and the kick's event has not reached the state store yet), invite it
        back with the bot and join, then send again. The transaction ids stay the same, so
        nothing is shown twice."""
        try:
            return await send()
        except MForbidden:
            log.info("matrix room %s: a ghost is no longer a member; inviting it back", room)
            await ghost.ensure_joined(room, ignore_cache=True)
            return await send()

    async def _send(self, sender: IntentAPI, room: RoomID, thread: str | None, reply_to: str | None,
                    pieces: Sequence[render.Content], delivery: Delivery) -> tuple[str, ...]:
        """Send pieces in order, each with a transaction id the homeserver deduplicates:
        the same outbox row sent again after a crash is not shown twice."""
        ids: list[str] = []
        for i, piece in enumerate(pieces):
            answer_to = reply_to if not ids else ids[-1]
            body = render.in_thread(piece, thread, answer_to)
            event_id = await sender.send_message_event(
                room, EventType.ROOM_MESSAGE, as_content(body), txn_id=f"bridgebot.{delivery.id}.{i}")
            ids.append(str(event_id))
        return tuple(ids)

    async def edit(self, delivery: Delivery) -> None:
        """The author's ghost replaces its message(s) (``m.replace``); the bot replaces its
        own for a reworded question or a new introduction."""
        if delivery.target.chat_id in self.encrypted:
            raise errors.PermanentError(f"Matrix room {delivery.target.chat_id} is encrypted")
        room = RoomID(delivery.target.chat_id)
        if delivery.post is None or delivery.post.is_opening:
            t = self._chat_translator(delivery.target)
            own = (render.prompt_contents(delivery.prompt, t) if delivery.prompt is not None
                   and delivery.post is None else render.topic_contents(delivery.topic, t))
            try:
                for i, (message_id, piece) in enumerate(zip(delivery.message_ids, own,
                                                            strict=False)):
                    await self.bot.send_message_event(
                        room, EventType.ROOM_MESSAGE,
                        as_content(render.replacement(message_id, piece)),
                        txn_id=f"bridgebot.{delivery.id}.{i}")
            except Exception as err:
                raise classify(err, f"room {room}") from err
            return
        assert delivery.post is not None
        quoted = delivery.parent if not delivery.reply_is_parent else None
        pieces = render.post_contents(delivery.post, quoted)
        ids = delivery.message_ids
        if len(pieces) > len(ids):  # the edit grew: keep the message count, cut the end
            pieces = pieces[: len(ids)]
        try:
            ghost = self._ghost(delivery)
            await self._prepare_ghost(ghost, render.ghost_name(delivery.post), room)

            erased = delivery.post.erased

            async def replace() -> None:
                for i, (message_id, piece) in enumerate(zip(ids, pieces, strict=False)):
                    await ghost.send_message_event(
                        room, EventType.ROOM_MESSAGE,
                        as_content(render.replacement(message_id, piece)),
                        txn_id=f"bridgebot.{delivery.id}.{i}")
                if erased:
                    # An edit keeps the original event, words and all, on the homeserver (and
                    # in clients' edit history): an erased post's original events are redacted
                    # too, so the room shows them removed and the server prunes their content.
                    for message_id in ids:
                        with contextlib.suppress(MNotFound):
                            await ghost.redact(room, EventID(message_id), reason="erased")

            await self._as_member(ghost, room, replace)
        except Exception as err:
            raise classify(err, f"room {room}") from err

    async def rewrite(self, delivery: Delivery) -> None:
        """The bot's own events of a topic here, replaced (``m.replace``) with the texts as
        they are now (a forgotten person's name replaced): the thread root, questions, lock
        notices and digests."""
        if delivery.target.chat_id in self.encrypted:
            raise errors.PermanentError(f"Matrix room {delivery.target.chat_id} is encrypted")
        room = RoomID(delivery.target.chat_id)
        t = self._chat_translator(delivery.target)
        topic = delivery.topic
        n = 0
        try:
            for shown in delivery.rewrites:
                if shown.kind == "topic":
                    contents = render.topic_contents(topic, t)
                elif shown.kind == "prompt" and shown.prompt is not None:
                    contents = render.prompt_contents(shown.prompt, t)
                elif shown.kind in ("lock", "unlock"):
                    locked = shown.kind == "lock"
                    contents = render.notice_contents(lock_notice(
                        t, topic.title, locked, topic.lock_reason if locked else None))
                elif shown.kind == "notice" and shown.text:
                    contents = render.notice_contents(shown.text)
                else:
                    continue
                for message_id, piece in zip(shown.message_ids, contents, strict=False):
                    await self.bot.send_message_event(
                        room, EventType.ROOM_MESSAGE, as_content(render.replacement(message_id, piece)),
                        txn_id=f"bridgebot.{delivery.id}.r{n}")
                    n += 1
        except errors.DeliveryError:
            raise
        except Exception as err:
            raise classify(err, f"room {room}") from err

    async def hide(self, delivery: Delivery) -> None:
        """Redact the post's events here: our mirrors (by whoever of ours sent them) and the
        author's original when a facilitator hid it (that needs the room's redact level)."""
        room = RoomID(delivery.target.chat_id)
        refused: list[tuple[str, str]] = []
        for message_id in delivery.message_ids:
            try:
                event = await self.bot.get_event(room, EventID(message_id))
                sender = str(event.sender)
                if getattr(event, "unsigned", None) and getattr(event.unsigned, "redacted_because", None):
                    continue  # already redacted
                who = self.bot if sender == self.bot.mxid or not self._is_ours(sender) \
                    else self.bot.user(UserID(sender))
                await who.redact(room, EventID(message_id), reason="hidden by a facilitator")
            except MNotFound:
                continue
            except (MForbidden, IntentError) as err:
                log.warning("matrix refused to redact %s in %s: %s", message_id, room, err)
                refused.append((message_id, str(err)))
            except Exception as err:
                raise classify(err, f"room {room}") from err
        if not refused:
            return
        number = delivery.post.number if delivery.post else "?"
        t = self._chat_translator(delivery.target)
        notice = t(
            "A facilitator hid this post #{number} from the discussion, but I am not allowed "
            "to delete messages in this chat. An admin can delete it, or make me an admin "
            "with the right to delete messages.", number=number)
        with contextlib.suppress(Exception):
            await self._answer(room, delivery.target.thread_id, refused[0][0], notice)
        raise errors.PermanentError(
            f"Matrix room {room}: could not redact {', '.join(m for m, _ in refused)} of hidden "
            f"post #{number}; the bot needs the power level to redact others' events")

    async def set_locked(self, delivery: Delivery, locked: bool) -> DeliveryResult:
        """Say so in the thread. Matrix threads cannot be closed: the core refuses late posts,
        and the bot changes no power levels it was not given."""
        target = delivery.target
        topic = delivery.topic
        text = lock_notice(self._chat_translator(target), topic.title, locked, topic.lock_reason)
        try:
            ids = await self._send(self.bot, RoomID(target.chat_id), target.thread_id,
                                   delivery.reply_to, render.notice_contents(text), delivery)
        except Exception as err:
            raise classify(err, f"room {target.chat_id}") from err
        return DeliveryResult(ids)


def as_content(body: render.Content) -> EventContent:
    """mautrix sends plain JSON dicts as they are; its annotations name only its classes."""
    return cast(EventContent, body)


def message_content(content: dict[str, Any]) -> tuple[str, tuple[Span, ...]]:
    """The text of a message and its formatting: ``formatted_body`` read into spans when
    the event carries HTML (its reply fallback dropped), else :func:`message_text`. A file's
    event (or the new content of its edit) is its caption: the file itself is the post's."""
    if content.get("msgtype") in media.MSGTYPES:
        return media.caption_of(content), ()
    html = content.get("formatted_body")
    if (content.get("format") == HTML and isinstance(html, str) and html.strip()
            and content.get("msgtype") in ("m.text", "m.notice", "m.emote", None)):
        text, spans = richtext.parse(html)
        if text.strip():
            return text, spans
    return message_text(content), ()


def message_text(content: dict[str, Any]) -> str:
    """The plain text of a message: ``body`` without a reply fallback; media as a placeholder
    (with its caption) so nothing silently vanishes."""
    kind = content.get("msgtype")
    body = str(content.get("body") or "")
    if kind in _MEDIA:
        caption = body if content.get("filename") and body != content.get("filename") else ""
        return f"{_MEDIA[kind]} {caption}".strip()
    if "<mx-reply>" in str(content.get("formatted_body") or "") or body.startswith("> <@"):
        lines = body.split("\n")
        while lines and lines[0].startswith(">"):
            lines.pop(0)
        body = "\n".join(lines).lstrip("\n")
    return body
