"""What crosses the bridge: each bridge's rule for authors' names, and people's own aliases."""

from __future__ import annotations

import pytest

from bridgebot.settings import ConfigError, load_settings

from ..auxil.world import FACILITATOR, FORUM, LOUNGE, person

BRITTANY = person("Brittany Landorf")
JESSICA = person("Jessica Okafor")
ROSE = person("Rose Mbeki")


def authors(rooms, room) -> list[str]:
    return [s.author for s in rooms.room_mirrors(room)]


async def test_pseudonyms_are_numbered_by_first_post_and_stay_the_same_within_a_topic(rooms):
    r = await rooms(authors="pseudonym")
    await r.open_topic()
    await r.say(BRITTANY, "An example from Jordan.", FORUM)
    await r.say(JESSICA, "One from Nigeria.", LOUNGE)
    await r.say(BRITTANY, "And a second thought.", FORUM)
    assert authors(r, LOUNGE) == ["Participant 1 · console", "Participant 1 · console"]
    assert authors(r, FORUM) == ["Participant 2 · console"]
    # A new topic numbers its own participants from 1, by their first post there.
    await r.open_topic("Second topic")
    await r.say(JESSICA, "First here.", LOUNGE)
    await r.say(BRITTANY, "Second here.", FORUM)
    assert authors(r, FORUM)[-1] == "Participant 1 · console"
    assert authors(r, LOUNGE)[-1] == "Participant 2 · console"
    shown = " ".join(s.author + s.text for s in r.console.visible("forum") + r.console.visible("lounge")
                     if " · " in s.author)
    assert "Brittany" not in shown and "Jessica" not in shown


async def test_first_name_mode_shows_only_the_first_name(rooms):
    r = await rooms(authors="first_name")
    await r.open_topic()
    await r.say(BRITTANY, "An example from Jordan.", FORUM)
    assert authors(r, LOUNGE) == ["Brittany · console"]


@pytest.mark.parametrize("mode", ["display_name", "first_name", "pseudonym"])
async def test_an_alias_replaces_the_name_on_the_other_chats_in_every_mode(rooms, mode):
    r = await rooms(authors=mode)
    await r.open_topic()
    answer = await r.command(BRITTANY, "/alias Desert Rose")
    assert "“Desert Rose”" in answer, answer
    await r.say(BRITTANY, "An example from Jordan.", FORUM)
    assert authors(r, LOUNGE) == ["Desert Rose · console"]
    assert "Desert Rose" in await r.command(BRITTANY, "/alias")
    assert "gone" in await r.command(BRITTANY, "/alias off")
    await r.say(BRITTANY, "Without the alias.", FORUM)
    expected = {"display_name": "Brittany Landorf", "first_name": "Brittany",
                "pseudonym": "Participant 1"}[mode]
    assert authors(r, LOUNGE)[-1] == f"{expected} · console"


async def test_an_alias_must_be_unique_on_the_bridge_and_well_formed(rooms):
    r = await rooms()
    await r.open_topic()
    await r.say(JESSICA, "Hello from Nigeria.", LOUNGE)
    assert "“Desert Rose”" in await r.command(BRITTANY, "/alias Desert Rose")
    # The same alias, differently cased or accented, belongs to Brittany already.
    taken = await r.command(ROSE, "/alias  désert   ROSE ")
    assert "already taken" in taken, taken
    assert "someone else" in await r.command(ROSE, "/alias jessica okafor")
    assert "mistaken for a pseudonym" in await r.command(ROSE, "/alias Participant 3")
    assert "mistaken for a pseudonym" in await r.command(ROSE, "/alias Former participant 1")
    assert "letters, digits" in await r.command(ROSE, "/alias @rose_m")
    assert "letters, digits" in await r.command(ROSE, "/alias https://t.me/rose")
    assert "2 to 32 characters" in await r.command(ROSE, "/alias R")
    assert "2 to 32 characters" in await r.command(ROSE, "/alias " + "R" * 33)
    assert "no alias" in await r.command(ROSE, "/alias")
    # Nothing above was saved: Rose may still choose a free name, and Brittany keeps hers.
    assert "“Rose M.”" in await r.command(ROSE, "/alias Rose M.")
    assert await r.runtime.core.privacy.alias_of("allies", "console", BRITTANY.user_id) == "Desert Rose"
    # Brittany may change her own alias, even to a spelling of the one she has.
    assert "“Desert rose”" in await r.command(BRITTANY, "/alias Desert rose")


async def test_digests_catchup_and_status_name_authors_as_the_bridge_does(rooms):
    r = await rooms(authors="pseudonym")
    await r.open_topic()
    await r.say(BRITTANY, "Engaging allies in Jordan\n\nAn example from Jordan.", FORUM)
    await r.say(JESSICA, "Thanks, this helps!", LOUNGE,
                reply_to=next(s.message_id for s in r.room_mirrors(LOUNGE)))
    digest = await r.command(FACILITATOR, "/digest", admin=True)
    assert "Digest" in digest
    notices = [s.text for s in r.console.visible("lounge") if s.author == "bridgebot"]
    catchup = await r.command(ROSE, "/catchup")
    status = await r.command(ROSE, "/status")
    everything = "\n".join([*notices, catchup, status])
    assert "Participant 1" in everything and "Participant 2" in everything
    for name in ("Brittany", "Landorf", "Jessica", "Okafor"):
        assert name not in everything


def test_an_unknown_authors_rule_is_one_clear_line(tmp_path):
    config = tmp_path / "b.toml"
    config.write_text("[[bridges]]\nname = 'a'\nauthors = 'nicknames'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bridges\.0\.authors \(.*b\.toml\): expected one of "
                                          r'"display_name", "first_name", "pseudonym"'):
        load_settings(config)
    config.write_text("[[bridges]]\nname = 'a'\nretention_days = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bridges\.0\.retention_days"):
        load_settings(config)


@pytest.mark.parametrize("alias", [
    "Kristin Antin.",  # the facilitator plus a period
    "Kristіn Antin",  # Cyrillic і
    "KRISTIN-ANTIN",
    "Раrticipant 3",  # Cyrillic Р and а
    "The Facilitator",
    "Jеssica Okafor",  # Cyrillic е
])
async def test_an_alias_cannot_impersonate_by_look_alike_letters_or_punctuation(rooms, alias):
    r = await rooms()
    await r.open_topic()
    await r.say(JESSICA, "Hello from Nigeria.", LOUNGE)
    answer = await r.command(ROSE, f"/alias {alias}")
    assert "someone else" in answer or "mistaken for" in answer, answer
    assert await r.runtime.core.privacy.alias_of("allies", "console", ROSE.user_id) is None


async def test_two_aliases_that_look_alike_cannot_both_be_taken(rooms):
    r = await rooms()
    await r.open_topic()
    assert "“Desert Rose”" in await r.command(BRITTANY, "/alias Desert Rose")
    assert "already taken" in await r.command(ROSE, "/alias Dеsеrt Rоsе")  # Cyrillic е, о


def test_a_post_shown_under_its_bridge_name_is_the_same_post_otherwise():
    """``Post.named`` (the archive page's fast rename) equals ``dataclasses.replace``."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from bridgebot.core.models import Post
    from bridgebot.core.richtext.spans import Kind, Span

    post = Post(id=7, topic_id=1, number=3, author_name="Brittany Landorf", author_platform="telegram",
                author_id="4242", text="An example from Jordan.", subject="Re: allies", parent_id=2,
                prompt_id=1, created_at=datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
                edited_at=datetime(2026, 12, 2, 9, 5, tzinfo=UTC), spans=(Span(Kind.BOLD, 3, 10),))
    shown = post.named("Participant 2", "")
    assert shown == replace(post, author_name="Participant 2", author_id="")
    assert post.author_name == "Brittany Landorf" and post.author_id == "4242"  # untouched
    assert post.named("Brittany Landorf", "4242") is post
