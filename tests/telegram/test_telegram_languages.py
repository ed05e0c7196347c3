"""The bot in its readers' language on Telegram: answers follow ``language_code``, chat
messages follow the chat's configured language, and the command menu exists per language."""

from __future__ import annotations

from bridgebot.i18n import FSI, LRI, PDI, RLM

from ..auxil.world import World
from .test_telegram_discussion import open_topic_with_two_prompts


def answers_to(w: World, chat: dict, user: dict) -> list[str]:
    """What the bot said in ``chat`` in reply to ``user``'s messages, in order."""
    return [c.params["text"] for c in w.sent(chat)
            if c.response["result"].get("reply_to_message", {}).get("from", {}).get("id") == user["id"]]


async def lock_and_reply(w: World, reader: dict) -> str:
    """The facilitator locks the topic; ``reader`` then replies to it in the plain group."""
    thread = await open_topic_with_two_prompts(w)
    root = w.message_id_of(w.group, "<b>Engaging allies</b>")
    w.tg.user_sends(w.forum["id"], w.kristin.tg, "/lock", thread_id=thread)
    await w.settle()
    w.tg.user_sends(w.group["id"], reader, "Am I too late?", reply_to=root)
    await w.settle()
    return answers_to(w, w.group, reader)[-1]


async def test_a_russian_reader_gets_help_and_the_lock_notice_in_russian(world):
    w = world
    ivan = w.tg.add_user("Иван", language_code="ru")
    w.tg.user_sends(w.group["id"], ivan, "/help")
    await w.settle()
    help_text = answers_to(w, w.group, ivan)[-1]
    assert help_text.startswith("Как участвовать:")
    assert "/reply N текст — ответ на сообщение номер N" in help_text

    notice = await lock_and_reply(w, ivan)
    assert notice == ("Тема «Engaging allies» закрыта: новые сообщения в неё больше не принимаются. "
                      "Архив темы остаётся доступным для чтения.")
    # The English-speaking facilitator's own answer stays English.
    assert answers_to(w, w.forum, w.kristin.tg)[-1] == "“Engaging allies” is now locked."


async def test_an_arabic_reader_gets_answers_marked_for_right_to_left(world):
    w = world
    layla = w.tg.add_user("ليلى", language_code="ar")
    w.tg.user_sends(w.group["id"], layla, "/help")
    await w.settle()
    help_text = answers_to(w, w.group, layla)[-1]
    lines = [line for line in help_text.split("\n") if line]
    # Every line is a right-to-left paragraph, even the ones that begin with "•" or "/".
    assert all(line.startswith(RLM) for line in lines), lines
    assert lines[0] == f"{RLM}كيف تشارك:"
    # Commands keep their left-to-right order ("/reply N", not "N reply/") inside Arabic text.
    assert f"{LRI}/reply N{PDI} نص" in help_text
    assert f"{LRI}/catchup{PDI}" in help_text

    notice = await lock_and_reply(w, layla)
    # The Latin title is isolated, so its punctuation does not jump around the Arabic quotes.
    assert notice == (f"{RLM}الموضوع «{FSI}Engaging allies{PDI}» مقفل: لم يعد يقبل مشاركات. "
                      "يبقى أرشيفه متاحًا للقراءة.")


async def test_an_unsupported_app_language_gets_the_chat_default_english_here(world):
    w = world
    ana = w.tg.add_user("Ana", language_code="pt-br")
    nobody = w.tg.add_user("Sem", language_code=None)
    w.tg.user_sends(w.group["id"], ana, "/help")
    w.tg.user_sends(w.group["id"], nobody, "/status")
    await w.settle()
    assert answers_to(w, w.group, ana)[-1].startswith("How to take part:")
    assert answers_to(w, w.group, nobody)[-1].startswith("There is no topic here yet.")


async def test_the_command_menu_is_registered_in_every_language_with_the_same_names(world):
    w = world
    english = w.tg.commands("default")
    assert {c["command"]: c["description"] for c in english}["help"] == "How to take part"
    expected = {"ru": "Как участвовать", "es": "Cómo participar", "fr": "Comment participer",
                "ar": f"{RLM}كيف تشارك"}
    for lang, help_description in expected.items():
        for scope, base in (("default", english),
                            ("all_chat_administrators", w.tg.commands("all_chat_administrators"))):
            menu = w.tg.commands(scope, lang)
            assert [c["command"] for c in menu] == [c["command"] for c in base], (scope, lang)
            descriptions = {c["command"]: c["description"] for c in menu}
            assert descriptions["help"] == help_description
            assert descriptions["status"] != dict((c["command"], c["description"]) for c in base)["status"]
    assert "lock" in {c["command"] for c in w.tg.commands("all_chat_administrators", "ru")}
    assert "lock" not in {c["command"] for c in w.tg.commands("default", "ru")}


async def test_what_the_bot_posts_into_a_chat_is_in_that_chats_language(spanish_group):
    w = spanish_group
    thread = await open_topic_with_two_prompts(w)
    group_texts = [c.params["text"] for c in w.sent(w.group)]
    assert group_texts[0].endswith("<i>Para participar, responde a este mensaje, a una pregunta o a "
                                   "cualquier mensaje. /help explica más.</i>")
    assert group_texts[1].startswith("❓ <b>Pregunta 1</b>")
    forum_texts = [m["text"] for m in w.bot_messages(w.forum, thread)]
    assert forum_texts[0].endswith("<i>Reply to this message, a question or any post to take part. "
                                   "/help explains more.</i>".replace("<i>", "").replace("</i>", ""))
    assert "❓ Question 1\n\nHow were these allies identified?" in forum_texts
    w.tg.user_sends(w.forum["id"], w.kristin.tg, "/lock Gracias", thread_id=thread)
    await w.settle()
    assert any(m["text"] == "🔒 Tema cerrado: Gracias. Gracias por participar; el archivo sigue "
               "disponible para leer." for m in w.bot_messages(w.group))
    assert any(m["text"].startswith("🔒 Topic locked: Gracias.") for m in w.bot_messages(w.forum, thread))
    # One person's answer follows their app (English), not the chat; an app language
    # bridgebot does not speak (pt-br) falls back to the chat's Spanish.
    w.tg.user_sends(w.group["id"], w.brittany.tg, "/status")
    w.tg.user_sends(w.group["id"], w.jessica.tg, "/status")
    await w.settle()
    assert answers_to(w, w.group, w.brittany.tg)[-1].startswith("“Engaging allies” (topic #1)\n1 post / ")
    assert answers_to(w, w.group, w.jessica.tg)[-1].startswith(
        "«Engaging allies» (tema #1)\n1 mensaje / 1 nuevo · último mensaje de Kristin Antin, ")
