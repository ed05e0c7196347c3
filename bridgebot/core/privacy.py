"""Safety for at-risk participants: what crosses the bridge, aliases, leaving, retention.

The people in these discussions are human-rights workers, some where taking part is
dangerous. A bridge copies their words and names onto another company's servers, so:

* **Names.** Each bridge chooses how authors appear in copies and in the bot's own
  messages (digests, /status, /catchup): their display name, their first name only, or a
  stable pseudonym per topic ("Participant 7", numbered by first post and stored). A
  person's own ``/alias`` replaces their name in every mode. The choice is made here, in
  the core, when a delivery is built, so every adapter and every render path (webhook
  usernames, Telegram headers, combined messages, reply quotes) shows the same name and
  nothing else: copies carry no user id at all.
* **Leaving.** ``/forgetme`` (asked twice) or ``bridgebot forget`` erases what the bot
  holds about a person and edits the copies it made; replies to them keep their place.
* **Publishing.** :func:`anonymized_archive` gives an export with pseudonyms and without
  profile links or handles, for a summary that can be published.
* **Retention.** :class:`PrivacyKeeper` erases the text of a locked topic's posts N days
  after it was locked, when a bridge sets ``retention_days``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from confusable_homoglyphs import confusables as _homoglyphs

from bridgebot.core import errors
from bridgebot.core.attachments import file_extension
from bridgebot.core.export import Archive
from bridgebot.core.models import Author, ChannelRef, Post, Topic
from bridgebot.core.names import (
    FACILITATOR_NAME,
    SOMEONE,
    AuthorMode,
    last_authors,
    mentions_named,
    mode_of,
    name_posts,
    pseudonym_name,
    shown_name,
)
from bridgebot.core.platforms import Platforms
from bridgebot.core.ports import ForgetReport, Identity, PrivacyPort
from bridgebot.core.richtext.spans import plain_with_urls
from bridgebot.core.text import name_pattern
from bridgebot.i18n import N_, Translator, translator

if TYPE_CHECKING:
    from bridgebot.core.service import Discussions

log = logging.getLogger(__name__)


# Stored in the database and shown to everyone alike, so written once, in English.
REMOVED_BY_AUTHOR = "[removed at the author's request]"
REMOVED_AFTER = "[removed after {days} days]"
FORMER_PARTICIPANT = "Former participant {n}"

FORGET_WINDOW = timedelta(minutes=10)  # between /forgetme and /forgetme confirm
ALIAS_MIN, ALIAS_MAX = 2, 32
ALIAS_PUNCTUATION = " .-_'’"
ALIAS_OFF = ("off", "none", "clear", "-")
# An alias must not pass for a pseudonym, a former participant, the bot or a role (nor
# for a platform's name for someone nameless, "Telegram user": PlatformInfo.reserved_names).
_RESERVED = re.compile(r"^(?:former\s+)?participant\b.*|^(?:the\s+)?facilitators?$|^bridge\s*bot$"
                       r"|^(?:admin|administrator|moderator)s?$",
                       re.IGNORECASE)
_CONFUSABLES: dict[str, list[dict[str, str]]] = _homoglyphs.confusables_data
RECHECK_SECONDS = 5.0
FORGET_PATIENCE = 30.0  # seconds the answer to /forgetme confirm waits for the copies' edits
RETENTION_EVERY = timedelta(days=1)


# -- names ---------------------------------------------------------------------------


def author_mode(core: Discussions, bridge: str) -> AuthorMode:
    """The bridge's ``authors`` setting (display names when the bridge is not configured)."""
    return mode_of(core.bridges, bridge)


async def shown_posts(core: Discussions, posts: Sequence[Post], *,
                      for_delivery: bool = False) -> list[Post]:
    """Copies of ``posts`` named as their bridge names authors (see :func:`name_posts`)."""
    return await name_posts(core.privacy, core.bridges, posts, for_delivery=for_delivery)


async def shown_last_authors(core: Discussions, topics: Iterable[Topic]) -> dict[int, str]:
    """Topic id -> the shown name of its newest visible post's author ("last post by …")."""
    return await last_authors(core.privacy, core.bridges, topics)


# -- aliases -------------------------------------------------------------------------


def alias_key(alias: str) -> str:
    """What makes two names "the same" to a reader: case, accents and punctuation folded,
    spaces collapsed, and every letter replaced by its look-alike prototype (a confusable
    skeleton, after Unicode TR39), so "Kristіn Antin" (Cyrillic і) or "Kristin Antin."
    is the facilitator's name and "Раrticipant 3" a pseudonym."""
    folded = unicodedata.normalize("NFKD", alias.casefold())
    bare = "".join(" " if c in ALIAS_PUNCTUATION else c for c in folded
                   if not unicodedata.combining(c))
    return " ".join(skeleton(skeleton(bare).casefold()).casefold().split())


def skeleton(text: str) -> str:
    """Each character as the representative of its confusable class (Unicode's
    confusables.txt, through the maintained ``confusable_homoglyphs`` data): the same
    representative for "O", "0" and Cyrillic "О", so look-alikes compare equal."""
    return "".join(_prototype(c) for c in text)


@functools.lru_cache(maxsize=4096)
def _prototype(char: str) -> str:
    seen = char
    for _ in range(4):  # the data pairs look-alikes; follow them to the smallest, stable
        candidates = {seen, *(h["c"] for h in _CONFUSABLES.get(seen, ()))}
        nearest = min(candidates, key=lambda c: (not c.isascii(), len(c), c))
        if nearest == seen:
            break
        seen = nearest
    return seen


def check_alias(raw: str, reserved: Collection[str] = ()) -> str:
    """The alias as it will be shown (spaces collapsed), or a polite refusal saying why.

    ``reserved``: the platforms' names for someone nameless, casefolded ("telegram user").
    """
    alias = " ".join(unicodedata.normalize("NFC", raw).split())
    if not ALIAS_MIN <= len(alias) <= ALIAS_MAX:
        raise errors.InvalidInput(
            N_("An alias is {min} to {max} characters long; “{alias}” has {length}. "
               "Nothing was changed."),
            min=ALIAS_MIN, max=ALIAS_MAX, alias=alias[:40], length=len(alias))
    allowed = all(c.isalnum() or unicodedata.category(c).startswith("M") or c in ALIAS_PUNCTUATION
                  for c in alias)
    if not allowed or not any(c.isalpha() for c in alias):
        raise errors.InvalidInput(
            N_("An alias may use letters, digits, spaces and . - _ ' and needs at least one "
               "letter (no @, links or symbols). Nothing was changed."))
    if _RESERVED.match(alias) or _looks_reserved(alias, reserved):
        raise errors.InvalidInput(
            N_("“{alias}” could be mistaken for a pseudonym, a role or the bot; please choose "
               "another alias."), alias=alias)
    return alias


_RESERVED_NAMES = ("facilitator", "facilitators", "the facilitator", "the facilitators",
                   "bridge bot", "bridgebot", "admin", "admins", "administrator",
                   "administrators", "moderator", "moderators")
_RESERVED_PREFIXES = ("participant", "former participant")


def _looks_reserved(alias: str, reserved: Collection[str]) -> bool:
    """A role, a pseudonym or a platform's nameless name, however it is spelled: look-alike
    letters and punctuation do not make "Раrticipant 3" or "Facilitator." another name."""
    key = alias_key(alias)
    if key in {alias_key(name) for name in (*_RESERVED_NAMES, *reserved)}:
        return True
    return any(key == p or key.startswith(p + " ") or (key.startswith(p) and key[len(p)].isdigit())
               for p in (alias_key(prefix) for prefix in _RESERVED_PREFIXES))


async def alias_bridges(core: Discussions, actor: Author, where: ChannelRef | None,
                        bridges: Iterable[str] = ()) -> list[str]:
    """The bridges an /alias applies to: the chat's, or (in a private chat with the bot)
    every bridge the person is part of."""
    if where is not None and core.is_bridged(where):
        return [core.bridge_of(where).name]
    names = set(bridges) | set(await core.facilitation.reader_bridges(actor.platform, actor.user_id))
    return sorted(n for n in names if n in core.bridges)


async def alias_command(core: Discussions, actor: Author, where: ChannelRef | None, args: str, *,
                        bridges: Iterable[str] = (), lang: str | None = None) -> str:
    """``/alias <name>``: choose the name the other chats see (unique on the bridge);
    ``/alias`` alone says what they see now; ``/alias off`` goes back to the bridge's rule."""
    t = translator(lang)
    names = await alias_bridges(core, actor, where, bridges)
    if not names:
        raise errors.InvalidInput(
            N_("Use /alias in a bridged chat (or here, once you have taken part in a discussion)."))
    wanted = args.strip()
    if not wanted:
        current = await core.privacy.alias_of(names[0], actor.platform, actor.user_id)
        if current:
            return t("On the other chats you appear as “{alias}” (your alias). /alias off shows "
                     "you as this bridge shows everyone again.", alias=current)
        return t("You have no alias: the other chats see you as this bridge shows everyone "
                 "({rule}). /alias <name> chooses a name of your own.",
                 rule=_rule(t, author_mode(core, names[0])))
    if wanted.casefold() in ALIAS_OFF:
        cleared = [await core.privacy.clear_alias(b, actor.platform, actor.user_id) for b in names]
        if not any(cleared):
            return t("You have no alias; nothing was changed.")
        return t("Your alias is gone: from your next post the other chats see you as this bridge "
                 "shows everyone ({rule}).", rule=_rule(t, author_mode(core, names[0])))
    alias = check_alias(wanted, core.platforms.reserved_names)
    key = alias_key(alias)
    for bridge in names:
        for platform, user_id, name in await core.privacy.names_in_bridge(bridge):
            if (platform, user_id) != (actor.platform, actor.user_id) and alias_key(name) == key:
                raise errors.InvalidInput(
                    N_("“{alias}” is the name of someone else in this discussion; please choose "
                       "another alias."), alias=alias)
    now = core.clock()
    for bridge in names:
        if not await core.privacy.set_alias(bridge, actor, alias, key, now):
            raise errors.InvalidInput(
                N_("The alias “{alias}” is already taken on this bridge; please choose another."),
                alias=alias)
    return t("Done: from your next post the other chats see you as “{alias}”. Posts already "
             "copied keep the name they were sent with. /alias off removes it.", alias=alias)


def _rule(t: Translator, mode: AuthorMode) -> str:
    if mode is AuthorMode.FIRST_NAME:
        return t("your first name")
    if mode is AuthorMode.PSEUDONYM:
        return t("a number per topic, like “Participant 3”")
    return t("your display name")


# -- leaving -------------------------------------------------------------------------


def generic_names(platforms: Platforms) -> frozenset[str]:
    """Names many people share ("Participant", "Telegram user"), casefolded: forgetting
    one person never replaces them in others' texts."""
    return frozenset({SOMEONE.casefold(), FACILITATOR_NAME.casefold()}) | platforms.reserved_names


async def forget_person(core: Discussions, platform: str, user_id: str) -> ForgetReport | None:
    """Erase one person everywhere bridgebot can reach (see :meth:`PrivacyStore.forget`);
    None when bridgebot holds nothing under that id. The copies are edited by the relay."""
    report = await core.privacy.forget(platform, user_id, core.clock(), REMOVED_BY_AUTHOR,
                                       FORMER_PARTICIPANT, generic_names(core.platforms))
    core.forget_requests.pop((platform, user_id), None)
    if report is not None:
        core.wake_relay()
        log.info("forgot a %s participant: %d posts erased, %d copies to edit", platform,
                 report.posts_erased, sum(report.copies_edited.values()))
    return report


@dataclass
class Carried:
    """What became of the deliveries that carry an erasure to the platforms."""

    edited: Counter[str] = field(default_factory=Counter)  # platform -> edits made
    waiting: Counter[str] = field(default_factory=Counter)  # platform -> still queued
    failed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (platform, reason)


async def carried_out(core: Discussions, report: ForgetReport,
                      patience: float = FORGET_PATIENCE) -> Carried:
    """Wait (up to ``patience`` seconds) until the relay has run every edit the erasure
    queued, then say which were made, which failed for good (with the platform's reason)
    and which still wait (rate limits)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        outcomes = await core.privacy.delivery_outcomes(report.deliveries)
        if loop.time() >= deadline or all(state != "pending" for _, state, _ in outcomes):
            break
        core.wake_relay()
        await asyncio.sleep(0.05)
    carried = Carried()
    for platform, state, error in outcomes:
        if state == "done":
            carried.edited[platform] += 1
        elif state == "dead":
            carried.failed[(platform, _reason(error))] += 1
        else:
            carried.waiting[platform] += 1
    return carried


def _reason(error: str | None) -> str:
    """A dead letter's reason, one short line."""
    text = " ".join((error or "unknown").split())
    return text if len(text) <= 200 else text[:199] + "…"


async def forgetme_command(core: Discussions, actor: Author, args: str, *, lang: str | None = None,
                           confirm: str = "/forgetme confirm",
                           later: Callable[[Awaitable[str]], None] | None = None,
                           patience: float = FORGET_PATIENCE) -> str:
    """``/forgetme``: first explain and ask; ``/forgetme confirm`` within ten minutes erases.

    ``confirm`` is how this platform spells the confirmation (Discord: an option). The
    answer to the confirmation comes once the copies were edited (or ``patience`` ran
    out), so that it says what was done; ``later`` (see ``CommandContext.answer_later``)
    takes it where intake must not wait, and the command then answers nothing at once.
    """
    t = translator(lang)
    key = (actor.platform, actor.user_id)
    word = args.strip().casefold()
    now = core.clock()
    for someone, when in list(core.forget_requests.items()):  # forget the forgotten questions
        if now - when > FORGET_WINDOW and someone != key:
            del core.forget_requests[someone]
    minutes = int(FORGET_WINDOW.total_seconds() // 60)
    if word not in ("", "confirm"):
        raise errors.InvalidInput(
            N_("Usage: /forgetme, then {command} to confirm."), command=confirm)
    if word == "":
        summary = await core.privacy.person(actor.platform, actor.user_id)
        if summary is None:
            return t("I hold nothing about you: you have not taken part in a bridged discussion, "
                     "so there is nothing to erase.")
        core.forget_requests[key] = core.clock()
        posts = t.ngettext("{n} post", "{n} posts", summary.posts)
        return t(
            "/forgetme erases what I hold about you:\n"
            "• the text of your {posts} is replaced by “{removed}”, in my records and in the copies "
            "I made on the other chats (edited where the platform lets me);\n"
            "• your name becomes “Former participant”, your user id a random token; your alias and "
            "reading marks are deleted; exports no longer show your name or words;\n"
            "• replies to your posts stay where they are.\n"
            "This cannot be undone. To go ahead, send {command} within {minutes} minutes.",
            posts=posts, removed=REMOVED_BY_AUTHOR, command=confirm, minutes=minutes)
    asked = core.forget_requests.get(key)
    if asked is None or core.clock() - asked > FORGET_WINDOW:
        core.forget_requests.pop(key, None)
        return t("Nothing was erased: send /forgetme first. It explains what will happen; then "
                 "{command} within {minutes} minutes confirms.", command=confirm, minutes=minutes)
    report = await forget_person(core, actor.platform, actor.user_id)
    if report is None:
        return t("I hold nothing about you any more: there is nothing to erase.")

    async def answer() -> str:
        return await describe_forgetting(core, report, t, await carried_out(core, report, patience))

    if later is not None:
        later(answer())
        return ""
    return await answer()


async def describe_forgetting(core: Discussions, report: ForgetReport, t: Translator,
                              carried: Carried | None = None) -> str:
    """What forgetting did and what it could not do, in the reader's language; with
    ``carried``, what became of the edits on the platforms."""
    lines = [t.ngettext(
        "Done: I have forgotten you. Your {n} post now reads “{removed}” in my records, and your "
        "name there is now “{name}”. Your alias and reading marks are deleted.",
        "Done: I have forgotten you. Your {n} posts now read “{removed}” in my records, and your "
        "name there is now “{name}”. Your alias and reading marks are deleted.",
        report.posts_erased, removed=REMOVED_BY_AUTHOR, name=report.anonymous_name)]
    if carried is None:
        edited = sum(report.copies_edited.values()) + sum(report.copies_combined.values())
        if edited:
            lines.append(t.ngettext("The copy on another chat is being edited.",
                                    "The {n} copies on the other chats are being edited.", edited))
    else:
        lines += _carried_lines(core, t, carried)
    combined = sum(report.copies_combined.values())
    if combined:
        lines.append(t.ngettext(
            "{n} copy went out inside a combined message with other people's posts: that "
            "message is rewritten without your post, theirs kept.",
            "{n} copies went out inside combined messages with other people's posts: those "
            "messages are rewritten without your posts, theirs kept.", combined))
    made = carried.edited if carried is not None else report.copies_edited + report.copies_combined
    stuck = [info.display_name for info in core.platforms
             if info.edits_keep_names and made.get(info.name)]
    if stuck and not report.had_alias:
        modes = {author_mode(core, topic.bridge) for topic in
                 [await core.store.topic(i) for i in sorted(report.topic_ids)] if topic is not None}
        if modes - {AuthorMode.PSEUDONYM}:
            lines += [t("On {platform} a bot cannot change the name shown above a message it "
                        "already sent: those copies now hold no words of yours, but your name "
                        "stays above them until a {platform} moderator deletes them.",
                        platform=platform) for platform in stuck]
    if report.topics_opened:
        lines.append(t("Topics you opened keep their title and introduction; your name is removed "
                       "from them."))
    lines.append(t("Your own messages in the chats are yours: delete them there if you wish. If you "
                   "write again, you start as a new participant."))
    return "\n".join(lines)


def _carried_lines(core: Discussions, t: Translator, carried: Carried) -> list[str]:
    """Sentences on the edits: made, failed for good (with the reason), still waiting."""
    shown = core.platforms.display_name
    lines = []
    edited = sum(carried.edited.values())
    if edited:
        lines.append(t.ngettext(
            "The copy on another chat was edited: it no longer holds your words.",
            "{n} copies on the other chats were edited: they no longer hold your words.",
            edited))
    for (platform, reason), n in sorted(carried.failed.items()):
        lines.append(t.ngettext(
            "{n} copy on {platform} could not be edited: {reason}. A moderator there can "
            "delete it.",
            "{n} copies on {platform} could not be edited: {reason}. A moderator there can "
            "delete them.", n, platform=shown(platform), reason=reason))
    for platform, n in sorted(carried.waiting.items()):
        lines.append(t.ngettext(
            "{n} copy on {platform} is still waiting to be edited ({platform} limits how fast "
            "I may send); it will be.",
            "{n} copies on {platform} are still waiting to be edited ({platform} limits how fast "
            "I may send); they will be.", n, platform=shown(platform)))
    return lines


# -- exports for publication -----------------------------------------------------------

# Links that lead to a person or a private place (profiles, jump links) are each platform's
# (PlatformInfo.profile_links, joined by Platforms.profile_links); handles and mentions are here.
_MENTIONS = re.compile(r"<@[!&]?\d+>|<#\d+>")
_HANDLES = re.compile(r"(?<![\w.@/])@[A-Za-z][A-Za-z0-9_.]{3,31}\b")
LINK_REMOVED = "[link removed]"
MENTION_REMOVED = "[mention removed]"


def _scrubber(names: dict[str, str]) -> re.Pattern[str] | None:
    """One pattern for every name (longest first, so "Jessica(2)" wins over "Jessica")."""
    usable = sorted((n for n in names if len(n.strip()) >= 3), key=len, reverse=True)
    if not usable:
        return None
    return re.compile("|".join(name_pattern(n).pattern for n in usable))


def scrub_text(text: str | None, names: dict[str, str], pattern: re.Pattern[str] | None,
               links: re.Pattern[str] | None) -> str | None:
    """Names replaced by their pseudonyms, profile ``links`` and handles removed."""
    if not text:
        return text
    if pattern is not None:
        text = pattern.sub(lambda m: names[m.group(0)], text)
    if links is not None:
        text = links.sub(LINK_REMOVED, text)
    text = _MENTIONS.sub(MENTION_REMOVED, text)
    return _HANDLES.sub(MENTION_REMOVED, text)


async def anonymized_archive(privacy: PrivacyPort, archive: Archive,
                             platforms: Platforms) -> Archive:
    """The archive with every author as "Participant N" (the topic's pseudonyms; the opener
    is "Facilitator"), their names replaced inside the texts as whole words, and links to
    profiles, @handles and mentions removed, so that it can be published.

    Names are caught where a text spells a participant's full display name or alias; a
    first name or nickname alone is not, so read the result before publishing it.
    """
    identities = await privacy.topic_identities(archive.topic.id)
    names: dict[str, str] = {}
    for known in sorted(identities.values(), key=lambda i: i.pseudonym is None):
        label = pseudonym_name(known.pseudonym) if known.pseudonym else FACILITATOR_NAME
        for name in (known.display_name, known.alias):
            if name:
                names.setdefault(name, label)
    topic = archive.topic
    for name in (topic.opened_by, topic.locked_by):
        if name:
            names.setdefault(name, FACILITATOR_NAME)
    pattern = _scrubber(names)

    def scrub(text: str | None) -> str | None:
        return scrub_text(text, names, pattern, platforms.profile_links)

    posts = []
    numbered = 0  # files are "attachment-N.ext" in the topic: a file name can name a person
    for post in archive.posts:
        identity = identities.get(post.id)
        author = FACILITATOR_NAME if post.is_opening or identity is None else (
            pseudonym_name(identity.pseudonym) if identity.pseudonym else FACILITATOR_NAME)
        files = []
        for attachment in post.attachments:
            numbered += 1
            files.append(replace(attachment,
                                 name=f"attachment-{numbered}{file_extension(attachment)}"))
        # Formatting goes: a link's address is written out, so that it is scrubbed too.
        text = scrub(plain_with_urls(post.text, post.spans)) or ""
        posts.append(replace(post, author_name=author, author_id="", text=text, spans=(),
                             subject=scrub(post.subject), hidden_by=None,
                             attachments=tuple(files)))
    topic = replace(topic, title=scrub(topic.title) or topic.title,
                    introduction=scrub(topic.introduction) or "", opened_by=FACILITATOR_NAME,
                    locked_by=FACILITATOR_NAME if topic.locked_by else None,
                    lock_reason=scrub(topic.lock_reason))
    prompts = [replace(p, question=scrub(p.question) or p.question) for p in archive.prompts]
    return replace(archive, topic=topic, prompts=prompts, posts=posts)


# An archive of at most this many posts (an index row, one page of a long topic) asks for
# those posts' authors only; a longer one (an export) asks for the whole topic's at once.
FEW_POSTS = 1000


async def shown_archive(privacy: PrivacyPort, archive: Archive, mode: AuthorMode) -> Archive:
    """The archive with authors named as the bridge names them in the chats (archive pages
    are another place the discussion goes; with pseudonyms on, they show pseudonyms)."""
    identities = (await privacy.identities(p.id for p in archive.posts)
                  if len(archive.posts) <= FEW_POSTS
                  else await privacy.topic_identities(archive.topic.id))
    known: dict[str, Identity | None] = {}  # mentioned people, named as the authors are
    topic_id = archive.topic.id
    # Only a post with spans can mention anyone: the others skip the call (a page of
    # 10,000 posts awaited it 10,000 times).
    posts = [(await mentions_named(privacy, mode, topic_id, p, known) if p.spans else p).named(
                 shown_name(identities.get(p.id), p, mode), "")
             for p in archive.posts]
    opener = next((p.author_name for p in posts if p.is_opening), None)
    topic = archive.topic
    if opener is not None:
        topic = replace(topic, opened_by=opener)
    return replace(archive, topic=topic, posts=posts)


def archive_presenter(privacy: PrivacyPort, modes: Mapping[str, AuthorMode], *,
                      platforms: Platforms,
                      anonymize: bool = False) -> Callable[[Archive], Awaitable[Archive]]:
    """How ``bridgebot serve`` names authors: as each bridge does (``modes`` by bridge name),
    or with pseudonyms everywhere (``anonymize``)."""

    async def present(archive: Archive) -> Archive:
        if anonymize:
            return await anonymized_archive(privacy, archive, platforms)
        return await shown_archive(privacy, archive,
                                   modes.get(archive.topic.bridge, AuthorMode.DISPLAY_NAME))

    return present


# -- retention -----------------------------------------------------------------------


class PrivacyKeeper:
    """The runtime's small background task for what no person asks for.

    Once on start and then daily, it erases the text of posts in topics locked more than
    ``retention_days`` ago, on bridges that set it (the posts, numbers and replies stay).
    Every few seconds it also wakes the relay when deliveries wait that another process
    queued (``bridgebot forget`` edits, ``bridgebot outbox retry``), since the relay is
    otherwise only woken by this process's own work. Time comes from the core's clock.
    """

    def __init__(self, core: Discussions, *, recheck: float = RECHECK_SECONDS,
                 every: timedelta = RETENTION_EVERY) -> None:
        self.core = core
        self.recheck = recheck
        self.every = every
        self.passes = 0
        self.passed = asyncio.Event()

    async def run(self) -> None:
        next_purge: datetime | None = None
        while True:
            now = self.core.clock()
            if next_purge is None or now >= next_purge:
                try:
                    await self.purge(now)
                    next_purge = now + self.every
                except Exception as err:  # a bug must not stop the keeper; it tries again tomorrow
                    if not self._unavailable(err, "erasing text past retention"):
                        log.exception("erasing text past retention failed")
                        next_purge = now + self.every
                self.passes += 1
                self.passed.set()
            try:
                if await self.core.privacy.has_pending():
                    self.core.wake_relay()
            except Exception as err:
                if not self._unavailable(err, "looking for waiting deliveries"):
                    log.exception("looking for waiting deliveries failed")
            await asyncio.sleep(self.recheck)

    def _unavailable(self, err: Exception, what: str) -> bool:
        """Whether ``err`` is the database failing (a server gone, say): then one warning
        line, as the relay and the intake say it, not a traceback every few seconds, and
        ``what`` is tried again at the next look (an erasure past retention too, not a day
        later)."""
        if not self.core.storage.is_failure(err):
            return False
        errors.log_failed(log, err, what, self.core.storage.is_failure)
        return True

    async def purge(self, now: datetime | None = None) -> int:
        """Erase what is past retention now; return how many posts were erased."""
        now = now or self.core.clock()
        erased = 0
        for bridge in self.core.bridges.values():
            days = getattr(bridge, "retention_days", None)
            if not days:
                continue
            cutoff = now - timedelta(days=days)
            due = [topic_id for topic_id, locked_at in await self.core.privacy.locked_topics(bridge.name)
                   if locked_at <= cutoff]
            count = await self.core.privacy.erase_topics(due, REMOVED_AFTER.format(days=days), now)
            if count:
                log.info("retention: erased the text of %d posts on bridge %s (locked over %d days)",
                         count, bridge.name, days)
            erased += count
        return erased
