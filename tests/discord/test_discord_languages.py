"""The bot in its readers' language on Discord: ephemeral answers follow the interaction's
``locale``; slash commands keep their names and carry translated descriptions."""

from __future__ import annotations

from .test_discord_discussion import open_topic


async def command_in(w, user: dict, channel_id: str, name: str, locale: str, **options) -> dict:
    """``/name`` run by ``user`` whose Discord client is set to ``locale``; the ephemeral answer."""
    handle = w.dc.invoke_command(user, w.guild["id"], channel_id, name, options, locale=locale)
    await handle.response(timeout=5)
    followups = await handle.wait_for_followups(1)
    await w.runtime.drain()
    return followups[0]


async def test_a_french_user_gets_status_in_french_and_an_english_one_in_english(discord_world):
    w = discord_world
    text_thread, _ = await open_topic(w)
    french = await command_in(w, w.brittany.dc, text_thread["id"], "status", "fr")
    assert french["flags"] & 64, "answers to one person are ephemeral"
    # French typography: no-break spaces inside « » (and before : ; ! ?).
    assert french["content"].startswith(
        "«\u00a0Engaging allies\u00a0» (sujet #1)\n1 message / 1 nouveau · dernier message de "
        "Kristin Antin, ")
    assert french["content"].endswith(" · ouvert")
    english = await command_in(w, w.jessica.dc, text_thread["id"], "status", "en-US")
    assert english["content"].startswith("“Engaging allies” (topic #1)\n1 post / 1 new · last post by")


async def test_a_spanish_user_is_refused_a_facilitator_command_in_spanish(discord_world):
    w = discord_world
    text_thread, _ = await open_topic(w)
    w.dc.world.find_command(w.guild["id"], "lock")["default_member_permissions"] = None
    refusal = await command_in(w, w.brittany.dc, text_thread["id"], "lock", "es-ES")
    assert refusal["content"] == ("Lo siento, /lock es para quienes facilitan esta conversación. "
                                  "Puedes participar respondiendo al tema o a cualquier mensaje.")
    assert not (await w.runtime.store.topic(1)).is_locked


async def test_help_follows_the_client_locale_and_an_unknown_one_gets_the_bridge_default(discord_world):
    w = discord_world
    text_thread, _ = await open_topic(w)
    handle = w.dc.invoke_command(w.brittany.dc, w.guild["id"], text_thread["id"], "help", {},
                                 locale="de")
    answer = await handle.response(timeout=5)
    assert answer.ephemeral and answer.content.startswith("How to take part:")
    russian = w.dc.invoke_command(w.brittany.dc, w.guild["id"], text_thread["id"], "help", {},
                                  locale="ru")
    assert (await russian.response(timeout=5)).content.startswith("Как участвовать:")


async def test_slash_command_descriptions_are_localised_and_names_are_not(discord_world):
    w = discord_world
    commands = {c["name"]: c for c in w.dc.commands(w.guild["id"])}
    status = commands["status"]
    assert status["description"] == "How many posts, how many new for you"
    assert status["description_localizations"] == {
        "fr": "Combien de messages, dont combien de nouveaux pour vous",
        "es-ES": "Cuántos mensajes hay y cuántos son nuevos para ti",
        "es-419": "Cuántos mensajes hay y cuántos son nuevos para ti",
        "ru": "Сколько сообщений и сколько из них для вас новые",
    }
    for name, command in commands.items():
        if command["type"] == 1:
            assert not command["name_localizations"], name
            assert set(command["description_localizations"]) == {"fr", "es-ES", "es-419", "ru"}, name
    # Options keep their names too; their descriptions are translated.
    title = next(o for o in commands["newtopic"]["options"] if o["name"] == "title")
    assert title["description_localizations"]["ru"] == "Название темы"
    assert not title.get("name_localizations")
    # The message menu is a label, not something typed: it is translated.
    assert commands["Hide post"]["name_localizations"]["fr"] == "Masquer le message"
