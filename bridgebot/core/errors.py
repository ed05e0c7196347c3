"""Typed errors: discussion rules broken by a person, and delivery failures by kind.

Rule errors carry a polite sentence meant for the person who tried; delivery errors
tell the relay whether to wait, retry, or give up (discord.py's ``http.py`` and PTB's
rate limiter make the same three-way split).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bridgebot.i18n import N_, Translator, translator


class RuleError(Exception):
    """A request the discussion rules refuse; shown to the person in their language.

    The English message id and its parameters are kept (not a finished sentence) so the
    adapter that answers can render it in the reader's language with :meth:`render`;
    ``str(err)`` is the English sentence, for logs and English readers.
    """

    def __init__(self, message: str = "", /, **params: Any) -> None:
        self.message = message
        self.params = params
        super().__init__(self.render(None))

    def render(self, locale: str | Translator | None) -> str:
        """The sentence in ``locale`` (a language code or a translator); English if unknown."""
        t = locale if isinstance(locale, Translator) else translator(locale)
        return t(self.message, **self.params)


class NotFacilitator(RuleError):
    """``refusal``: the command's own sentence (an ``N_`` id with ``{command}``), for a
    command that is not about a discussion (``/chatid``)."""

    def __init__(self, command: str, refusal: str | None = None) -> None:
        super().__init__(
            refusal or N_("Sorry, /{command} is for facilitators of this discussion. "
                          "You can take part by replying to the topic or to any post."),
            command=command,
        )


class TopicLocked(RuleError):
    def __init__(self, title: str, reason: str | None = None) -> None:
        if reason:
            super().__init__(
                N_("The topic “{title}” is locked ({reason}): it no longer accepts posts. "
                   "Its archive stays readable."),
                title=title, reason=reason,
            )
        else:
            super().__init__(
                N_("The topic “{title}” is locked: it no longer accepts posts. "
                   "Its archive stays readable."),
                title=title,
            )


class EditLocked(RuleError):
    def __init__(self, title: str) -> None:
        super().__init__(
            N_("The topic “{title}” is locked, so edits no longer change your post: the "
               "archive keeps it as it was when the topic was locked."),
            title=title,
        )


class NoTopicHere(RuleError):
    def __init__(self) -> None:
        super().__init__(
            N_("There is no topic here yet. A facilitator can open one with /newtopic <title>.")
        )


class WhichTopic(RuleError):
    """A command in a chat where several topics are open, with nothing saying which one:
    asked instead of guessed (a wrong guess locked the wrong topic)."""

    def __init__(self, topics: str, example: str | None) -> None:
        if example is None:
            super().__init__(
                N_("Several topics are open here, so I did not guess which one you mean:\n"
                   "{topics}\nSend the command in reply to the topic's message, or inside its "
                   "thread."),
                topics=topics,
            )
            return
        super().__init__(
            N_("Several topics are open here, so I did not guess which one you mean:\n{topics}\n"
               "Send the command in reply to the topic's message (or inside its thread), or give "
               "the topic's number: {example}"),
            topics=topics, example=example,
        )


class UnknownTopic(RuleError):
    def __init__(self, ref: object) -> None:
        super().__init__(N_("There is no topic {ref}. `bridgebot topics` lists them."), ref=ref)


class UnknownPost(RuleError):
    def __init__(self, number: int) -> None:
        super().__init__(N_("This topic has no post #{number}."), number=number)


class NotBridged(RuleError):
    def __init__(self, where: object) -> None:
        super().__init__(
            N_("This chat ({where}) is not part of any bridge. An operator can link it "
               "in the [[bridges]] section of the configuration."),
            where=where,
        )


class InvalidInput(RuleError):
    """Malformed or oversized input; the message says what to fix.

    Give the message as an ``N_()``-marked id with ``{name}`` parameters so it can be
    translated; a ready-made string still works (it is shown as written, in English).
    """


class LockedTopicRefuses(InvalidInput):
    """A facilitator's addition (a question, a digest) that a locked topic refuses: the
    scheduler skips such a step instead of failing it."""


class DeliveryError(Exception):
    """A delivery failed; subclasses say whether trying again can help."""


class RateLimited(DeliveryError):
    def __init__(self, retry_after: float, detail: str = "rate limited") -> None:
        super().__init__(f"{detail} (retry after {retry_after:g}s)")
        self.retry_after = retry_after


class TransientError(DeliveryError):
    """A 5xx, a timeout, a dropped connection: worth retrying with backoff."""


class MaybeSent(TransientError):
    """No answer in time: the platform may have taken the message all the same. Sent
    again at most once, since a second copy is the price of not losing it."""


class PermanentError(DeliveryError):
    """The target is gone or forbids us; retrying will never help."""


def log_failed(log: logging.Logger, err: BaseException, what: str,
               is_failure: Callable[[BaseException], bool]) -> None:
    """Log that ``what`` failed with ``err``: one warning line when it is the database
    failing (``is_failure``: a server gone, a file locked or full), which the background
    loops meet at every attempt until it is back, so a traceback each time buried the line
    that matters; any other error (a bug) with its traceback."""
    if is_failure(err):
        log.warning("%s failed: database unavailable (%s); it is tried again", what,
                    " ".join(str(err).split())[:200] or type(err).__name__)
    else:
        log.error("%s failed", what, exc_info=err)
