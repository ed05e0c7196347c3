"""The bot in its readers' language: gettext catalogs, chosen per reader or per chat.

Every sentence bridgebot itself writes (help, refusals, status lines, notices, headings)
is an English *message id* looked up in ``bridgebot/locale/<lang>/LC_MESSAGES/bridgebot.mo``,
read with the standard library's :mod:`gettext`, so Babel (and its locale data) is a
development tool only. The ``.po`` files are the source; the ``.mo`` beside each is compiled
from it with ``pybabel compile`` and committed, and ``tests/test_i18n.py`` fails when one is
stale (README "Languages").

How to write a translatable sentence (``pybabel extract`` finds these keywords, see README):

* ``t = translator(locale)`` then ``t("Topic #{number} is open.", number=7)``; plurals with
  ``t.ngettext("{n} post", "{n} posts", n)`` (``n`` is passed to the message for you).
* ``translate(locale, message, **params)`` for a one-off sentence.
* ``N_("...")`` marks a message where it is defined (a constant, an error) without translating
  it yet; translate it later with ``t(message, **params)``. Rule errors
  (:class:`bridgebot.core.errors.RuleError`) keep their ``N_`` message and parameters and are
  rendered in the reader's language with ``err.render(locale)``.

Placeholders use ``str.format`` names (``{title}``). A translation that is missing, fuzzy or
broken (a placeholder it does not know) falls back to the English sentence, never to a key.

Right-to-left languages (Arabic): Telegram has no ``dir`` attribute, so the text carries
Unicode directional marks. Each translated line starts with RIGHT-TO-LEFT MARK (:data:`RLM`);
each substituted value (a name, a title, a number) is wrapped in FIRST STRONG ISOLATE …
POP DIRECTIONAL ISOLATE (:data:`FSI` … :data:`PDI`) so it keeps its own direction; commands
and post numbers written in the sentence itself ("/help", "#{number}") are wrapped in
LEFT-TO-RIGHT ISOLATE … PDI (:data:`LRI`).
"""

from __future__ import annotations

import functools
import gettext as _stdlib_gettext
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DOMAIN = "bridgebot"
DEFAULT_LANGUAGE = "en"
# Shipped languages; English is the source language (no catalog needed).
LANGUAGES: tuple[str, ...] = ("en", "ar", "es", "fr", "ru")
RTL_LANGUAGES = frozenset({"ar"})
LOCALE_DIR = Path(__file__).parent / "locale"

RLM = "\u200f"  # RIGHT-TO-LEFT MARK: makes a line's paragraph direction right-to-left
LRI = "\u2066"  # LEFT-TO-RIGHT ISOLATE: an embedded command or "#12" stays left-to-right
FSI = "\u2068"  # FIRST STRONG ISOLATE: a name or title keeps the direction of its own letters
PDI = "\u2069"  # POP DIRECTIONAL ISOLATE: ends LRI / FSI

# In a right-to-left sentence, "/status" or "#{number}" would otherwise be flipped ("status/").
# A command keeps its argument ("/unhide 5", "/reply N") in the same left-to-right run, and a
# `code span` (a terminal command, Discord markdown) stays whole, backticks included.
_LTR_TOKEN = re.compile(r"(`[^`\n]+`|(?<![\w/])/[a-z][a-z_]*(?:@\w+)?(?: (?:\{\w+\}|N\b|#?\d+))?"
                        r"|#\{\w+\}|#\d+|#N\b)")
_NAMED_FIELD = re.compile(r"\{(\w+)\}")


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it (translated where it is shown)."""
    return message


def normalize_locale(code: str | None) -> str | None:
    """The shipped language for a platform's code ("pt-br" → None, "es-ES" → "es"), or None.

    Telegram sends IETF tags ("ru", "pt-br"), Discord its own list ("es-ES", "fr", "zh-TW");
    only the base language matters for the catalogs shipped here.
    """
    if not code or not isinstance(code, str):
        return None
    return _shipped_base(code)


_SUBTAG = re.compile(r"[-_@.]")


@functools.lru_cache(maxsize=256)  # a handful of codes, asked several times for every post
def _shipped_base(code: str) -> str | None:
    base = _SUBTAG.split(code.strip().lower(), maxsplit=1)[0]
    return base if base in LANGUAGES else None


def resolve_locale(*candidates: str | None) -> str:
    """The first candidate that is a shipped language, else English.

    Pass the reader's own locale first and the chat's default after it: an unknown or
    unsupported reader locale then falls back to the chat default, then to English.
    """
    for code in candidates:
        lang = normalize_locale(code)
        if lang:
            return lang
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class _Catalog:
    messages: Mapping[str, str]
    plurals: Mapping[str, tuple[str, ...]]
    plural_index: Callable[[int], int]


def read_mo(path: Path) -> _Catalog:
    """A compiled catalog: its translated sentences, complete plurals and plural rule.

    ``pybabel compile`` leaves fuzzy entries out; an empty string or an incomplete plural
    is skipped here too, so such a sentence falls back to English."""
    with path.open("rb") as fp:
        compiled = _stdlib_gettext.GNUTranslations(fp)
    entries: dict[Any, str] = compiled._catalog  # type: ignore[attr-defined]
    messages = {k: v for k, v in entries.items() if isinstance(k, str) and k and v}
    forms: dict[str, dict[int, str]] = {}
    for key, value in entries.items():
        if isinstance(key, tuple):
            forms.setdefault(key[0], {})[key[1]] = value
    plurals = {}
    for msgid, found in forms.items():
        ordered = tuple(found.get(i, "") for i in range(max(found) + 1))
        if all(ordered):
            plurals[msgid] = ordered
    return _Catalog(messages, plurals, compiled.plural)  # type: ignore[attr-defined]


def _read_catalog(lang: str) -> _Catalog | None:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if not path.exists():
        return None
    return read_mo(path)


@functools.cache
def _catalog(lang: str) -> _Catalog | None:
    try:
        return _read_catalog(lang)
    except Exception:  # a broken catalog must never silence the bot: English instead
        log.exception("cannot read the %s message catalog; using English", lang)
        return None


def catalog_messages(lang: str) -> tuple[Mapping[str, str], Mapping[str, tuple[str, ...]]]:
    """The translated singular and plural messages of ``lang`` (for tests and tools)."""
    cat = _catalog(lang)
    return (cat.messages, cat.plurals) if cat else ({}, {})


def _format(template: str, params: Mapping[str, Any]) -> str:
    return template.format(**params) if params else template


def _isolate(value: Any) -> Any:
    text = str(value)
    if not text or "\n" in text:  # isolates end at a line break; multi-line blocks stay as they are
        return value
    return f"{FSI}{text}{PDI}"


def _rtl(template: str, params: Mapping[str, Any]) -> str:
    """Format an RTL template: LRI around commands and numbers, FSI around values, RLM per line."""
    marked = _LTR_TOKEN.sub(lambda m: f"{LRI}{m.group(1)}{PDI}", template)
    text = _format(marked, {k: _isolate(v) for k, v in params.items()})
    return "\n".join(line if not line or line.startswith(RLM) else RLM + line
                     for line in text.split("\n"))


@dataclass(frozen=True)
class Translator:
    """Sentences in one language; call it like ``t("Hello {name}", name=...)``."""

    locale: str = DEFAULT_LANGUAGE
    _cat: _Catalog | None = field(default=None, repr=False, compare=False)

    @property
    def rtl(self) -> bool:
        return self.locale in RTL_LANGUAGES

    def __call__(self, message: str, /, **params: Any) -> str:
        return self.gettext(message, **params)

    def gettext(self, message: str, /, **params: Any) -> str:
        """``message`` translated and formatted; English when missing or broken."""
        translated = self._cat.messages.get(message) if self._cat else None
        return self._render(message, translated, params)

    def ngettext(self, singular: str, plural: str, n: int, /, **params: Any) -> str:
        """The plural form for ``n`` (Russian has three); ``{n}`` is available in the message."""
        params.setdefault("n", n)
        english = singular if n == 1 else plural
        translated = None
        if self._cat is not None:
            forms = self._cat.plurals.get(singular)
            if forms:
                index = self._cat.plural_index(n)
                translated = forms[index] if 0 <= index < len(forms) else None
        return self._render(english, translated, params)

    def _render(self, english: str, translated: str | None, params: dict[str, Any]) -> str:
        if translated:
            try:
                return _rtl(translated, params) if self.rtl else _format(translated, params)
            except (KeyError, IndexError, ValueError):
                log.warning("%s translation of %r has a broken placeholder", self.locale, english)
        return _format(english, params)


def translator(locale: str | None = None, default: str | None = None) -> Translator:
    """The :class:`Translator` for ``locale`` (falling back to ``default``, then English)."""
    return _translator(resolve_locale(locale, default))


@functools.cache
def _translator(lang: str) -> Translator:  # keyed by shipped language, so the cache stays tiny
    return Translator(lang, _catalog(lang) if lang != DEFAULT_LANGUAGE else None)


def translate(locale: str | None, message: str, /, **params: Any) -> str:
    """``message`` in ``locale``: shorthand for ``translator(locale)(message, **params)``."""
    return translator(locale)(message, **params)


def placeholders(message: str) -> set[str]:
    """The ``{name}`` fields of a message (catalog checks compare them across languages)."""
    return set(_NAMED_FIELD.findall(message))
