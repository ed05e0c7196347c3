"""Message catalogs: every sentence translated in every shipped language, safe fallbacks to
English, plural forms, right-to-left marks, and the language settings."""

from __future__ import annotations

import gettext
import io
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bridgebot import i18n
from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.core import errors
from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.models import ChannelRef
from bridgebot.core.service import Bridge, Discussions, counts_text
from bridgebot.i18n import FSI, LRI, PDI, RLM, translate, translator
from bridgebot.runtime import Runtime
from bridgebot.settings import ConfigError, load_settings

from .auxil.world import FACILITATOR, FORUM, LOUNGE, person

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "bridgebot" / "locale" / "bridgebot.pot"
SHIPPED = [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT_LANGUAGE]
# The keywords README's `pybabel extract` line uses (Babel's defaults plus -k ones).
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "t": None, "translate": (2,)}


def template_ids() -> set[str | tuple[str, str]]:
    with TEMPLATE.open("rb") as fp:
        return {m.id for m in read_po(fp) if m.id}


def test_the_template_holds_every_sentence_the_code_marks_for_translation():
    method_map = [("bridgebot/sandbox/**", "ignore"), ("bridgebot/demo/**", "ignore"),
                  ("bridgebot/**.py", "python")]
    found: set[str | tuple[str, str]] = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, keywords=KEYWORDS):
        found.add(message if isinstance(message, str) else tuple(message))
    missing = found - template_ids()
    assert not missing, f"run the pybabel extract/update lines in README; not in the template: {missing}"


@pytest.mark.parametrize("lang", SHIPPED)
def test_every_template_message_is_translated_with_its_placeholders(lang):
    singular, plural = i18n.catalog_messages(lang)
    with (ROOT / "bridgebot" / "locale" / lang / "LC_MESSAGES" / "bridgebot.po").open("rb") as fp:
        forms = read_po(fp).num_plurals
    problems = []
    for msgid in template_ids():
        if isinstance(msgid, tuple):
            translated = plural.get(msgid[0])
            if not translated or len(translated) != forms:
                problems.append(f"no complete plural for {msgid[0]!r}")
                continue
            allowed = i18n.placeholders(msgid[0]) | i18n.placeholders(msgid[1]) | {"n"}
            for form in translated:
                if not i18n.placeholders(form) <= allowed:
                    problems.append(f"{form!r} uses an unknown placeholder")
        else:
            translated = singular.get(msgid)
            if not translated:
                problems.append(f"untranslated: {msgid!r}")
            elif i18n.placeholders(translated) != i18n.placeholders(msgid):
                problems.append(f"placeholders differ: {msgid!r} -> {translated!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lang", SHIPPED)
def test_each_compiled_catalog_is_compiled_from_its_po_file(lang):
    """The bot reads the committed ``.mo`` with stdlib gettext; it must say what the ``.po`` says."""
    folder = ROOT / "bridgebot" / "locale" / lang / "LC_MESSAGES"
    with (folder / "bridgebot.po").open("rb") as fp:
        source = read_po(fp, locale=lang, domain="bridgebot")
    fresh = io.BytesIO()
    write_mo(fresh, source)
    fresh.seek(0)
    with (folder / "bridgebot.mo").open("rb") as fp:
        committed = gettext.GNUTranslations(fp)
    assert committed._catalog == gettext.GNUTranslations(fresh)._catalog, (
        f"{lang}: bridgebot.mo is stale; run `.venv/bin/pybabel compile -d bridgebot/locale -D bridgebot`")


def test_babel_is_not_needed_to_run_the_bot():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not [d for d in project["dependencies"] if d.lower().startswith("babel")]
    assert "babel" not in (ROOT / "bridgebot" / "i18n.py").read_text(encoding="utf-8").split('"""')[-1]


def test_a_missing_or_broken_translation_falls_back_to_english_never_to_a_key(monkeypatch):
    assert translate("ru", "A sentence nobody translated, for {name}.", name="Ana") == (
        "A sentence nobody translated, for Ana.")
    russian = translator("ru")
    broken = i18n._Catalog({**russian._cat.messages, "Posted as #{number}.": "Опубликовано {nomer}."},
                           russian._cat.plurals, russian._cat.plural_index)
    t = i18n.Translator("ru", broken)
    assert t("Posted as #{number}.", number=7) == "Posted as #7."
    assert t.ngettext("{n} apple", "{n} apples", 3) == "3 apples"
    # A catalog that cannot be read at all means English, not a crash.
    monkeypatch.setattr(i18n, "LOCALE_DIR", ROOT / "no-such-dir")
    i18n._catalog.cache_clear()
    try:
        assert i18n._catalog("ru") is None
    finally:
        i18n._catalog.cache_clear()


def test_platform_locale_codes_map_to_shipped_languages_or_fall_back():
    assert i18n.normalize_locale("es-ES") == "es"
    assert i18n.normalize_locale("es-419") == "es"
    assert i18n.normalize_locale("pt-br") is None
    assert i18n.normalize_locale("") is None
    assert i18n.resolve_locale("pt-br", "fr") == "fr"
    assert i18n.resolve_locale("de", None) == "en"
    assert i18n.resolve_locale("RU", "fr") == "ru"


async def test_an_unknown_reader_locale_uses_the_chat_default_then_the_bridge_then_english():
    arabic_room = ChannelRef("console", "majlis")
    bridge = Bridge("allies", (ChannelRef("console", "forum"), arabic_room), language="fr",
                    chat_languages={arabic_room: "ar"})
    nothing = SimpleNamespace(discussions=None, outbox=None, facilitation=None, privacy=None)
    core = Discussions(nothing, [bridge])  # type: ignore[arg-type]  # no queries
    assert core.reader_language("de", ChannelRef("console", "forum", "thread-1")) == "fr"
    assert core.reader_language("de", arabic_room) == "ar"
    assert core.reader_language("es-ES", arabic_room) == "es"
    assert core.reader_language("de", ChannelRef("console", "elsewhere")) == "en"


@pytest.mark.parametrize(("posts", "new", "expected"), [
    (1, 1, "1 сообщение / 1 новое"),
    (3, 2, "3 сообщения / 2 новых"),
    (9, 0, "9 сообщений / 0 новых"),
    (21, 11, "21 сообщение / 11 новых"),
])
def test_russian_counts_take_the_plural_form_of_each_number(posts, new, expected):
    assert counts_text(translator("ru"), posts, new) == expected


def test_english_counts_read_as_before():
    assert counts_text(translator("en"), 1, 0) == "1 post / 0 new"
    assert counts_text(translator(None), 9, 2) == "9 posts / 2 new"


def test_arabic_isolates_names_numbers_and_commands_inside_right_to_left_lines():
    text = translate("ar", "Post #{number} is already hidden.", number=12)
    assert text == f"{RLM}المشاركة {LRI}#{FSI}12{PDI}{PDI} مخفية بالفعل."
    text = errors.UnknownPost(5).render("ar")
    assert text.startswith(RLM) and f"{LRI}#{FSI}5{PDI}{PDI}" in text
    usage = translate("ar", "Usage: /reply N text — for example /reply 3 I agree.")
    assert f"{LRI}/reply N{PDI}" in usage and f"{LRI}/reply 3{PDI}" in usage
    unknown = errors.UnknownTopic(7).render("ar")
    assert f"{LRI}`bridgebot topics`{PDI}" in unknown and f"{FSI}7{PDI}" in unknown
    # Other languages carry no marks.
    assert not re.search("[\u200f\u2066-\u2069]", translate("ru", "Post #{number} is already hidden.",
                                                            number=12))


def test_rule_errors_are_english_as_text_and_translated_on_request():
    err = errors.NotFacilitator("lock")
    assert str(err).startswith("Sorry, /lock is for facilitators")
    assert err.render("fr").startswith("Désolé, /lock est réservé aux animateurs")
    assert errors.InvalidInput("Already formatted {braces} stay.").render("ru") == (
        "Already formatted {braces} stay.")


def test_a_language_bridgebot_does_not_speak_is_a_configuration_error(tmp_path):
    config = tmp_path / "bridgebot.toml"
    config.write_text("[[bridges]]\nname = 'a'\ntelegram_chats = [-100]\nlanguage = 'de'\n")
    with pytest.raises(ConfigError,
                       match=r"bridges\.0\.language \(.*bridgebot\.toml\): \"de\" is not a language"):
        load_settings(config)
    config.write_text("[[bridges]]\nname = 'a'\ntelegram_chats = [-100]\nlanguage = 'fr'\n"
                      "[bridges.chat_languages]\n'-100' = 'ar'\n")
    bridge = load_settings(config).all_bridges()[0]
    assert bridge.language == "fr"
    assert bridge.chat_languages == {ChannelRef("telegram", "-100"): "ar"}


async def test_a_digest_reaches_each_room_in_the_rooms_language(db_setting):
    console = ConsoleAdapter()
    bridge = Bridge("allies", (FORUM, LOUNGE), chat_languages={LOUNGE: "ru"})
    runtime = Runtime(db_setting, [bridge], facilitators=[("console", FACILITATOR.user_id)])
    runtime.add_adapter(console)
    async with runtime:
        ctx = CommandContext(FACILITATOR, FORUM)
        await run_command(runtime.core, ctx, "newtopic", "Engaging allies\nShare examples.")
        await run_command(runtime.core, ctx, "prompt", "Who were your allies?")
        await runtime.drain()
        assert console.visible("lounge")[-1].text == "Вопрос 1: Who were your allies?"
        question = console.visible("lounge")[-1].message_id
        for name in ("Brittany Landorf", "Jessica"):
            await console.say("lounge", person(name), f"An example from {name}.", reply_to=question)
        await runtime.drain()
        answer = await run_command(runtime.core, ctx, "digest", "")
        assert answer.startswith("Digest of “Engaging allies” posted") and "(2 new posts" in answer
        await runtime.drain()
        assert console.visible("forum")[-1].text.startswith(
            "📋 Digest: “Engaging allies”\n2 new posts since the last digest (3 in all).")
        assert console.visible("lounge")[-1].text == (
            "📋 Сводка: «Engaging allies»\n"
            "2 новых сообщения с прошлой сводки (всего 3).\n"
            "Новые сообщения по вопросам:\n"
            "• Вопрос 1 (Who were your allies?): 2\n"
            "Новые участники: Brittany Landorf, Jessica. Добро пожаловать!")
        # A Russian facilitator is answered in Russian wherever they are.
        russian = CommandContext(FACILITATOR, FORUM, locale="ru")
        assert await run_command(runtime.core, russian, "lock", "") == "Тема «Engaging allies» закрыта."
        await runtime.drain()
        assert console.visible("lounge")[-1].text == "Тема закрыта"
        assert console.visible("forum")[-1].text == "Topic locked"
