"""Private /status: each of a person's discussions with its counts and its last author,
named as the topic's bridge names authors; open topics first, newest first, ten at most
(issue 15: the counts and names of all the topics are read at once)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bridgebot.core.models import TopicStatus
from bridgebot.core.reading import overview

from ..auxil.world import FACILITATOR, FORUM, LOUNGE, World, person

BRITTANY = person("Brittany Landorf")
JESSICA = person("Jessica Okafor")
ROSE = person("Rose Mbeki")
LATER = datetime(2027, 5, 1, 9, 0, tzinfo=UTC)
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"


async def rooms(build, **bridge) -> World:
    """The console forum and lounge on the "allies" bridge (``authors=...``)."""
    return await build(telegram=(), discord=(), console=("forum", "lounge"), **bridge)


def pattern(*topics: str) -> str:
    """The whole answer, a line per topic given (each a regular expression)."""
    return "\n".join([re.escape("Your discussions:"), *topics,
                      re.escape("/catchup lists the new posts with links to them.")])


async def test_private_status_counts_each_topic_and_names_its_last_author_as_its_bridge_does(build):
    r = await rooms(build, authors="pseudonym")
    await r.open_topic()  # topic 1
    await r.say(BRITTANY, "An example from Jordan.", FORUM)  # #2, Participant 1
    await r.say(JESSICA, "One from Nigeria.", LOUNGE)  # #3, Participant 2
    await r.open_topic("Second topic")  # topic 2
    await r.say(JESSICA, "First here.", LOUNGE)  # #2, Participant 1 in this topic
    await r.say(BRITTANY, "Second here.", FORUM)  # #3, hidden below: #2 is the last one shown
    assert "hidden" in (await r.command(FACILITATOR, "/hide 3", admin=True)).lower()
    store = r.runtime.store
    # A topic of a bridge Brittany has no part in, whose rule is display names.
    await store.create_topic("elsewhere", "Engaging donors", "", FACILITATOR, LATER, [])

    # Brittany's posts read what came before them and are never new to her.
    mine = await overview(r.runtime.core, BRITTANY)
    assert re.fullmatch(pattern(
        rf"• “Second topic” \(topic #2\): 2 posts / 0 new · open · last post by Participant 1, {WHEN}",
        rf"• “Engaging allies” \(topic #1\): 3 posts / 1 new · open · last post by Participant 2, {WHEN}",
    ), mine), mine
    for name in ("Brittany", "Jessica", "Okafor", "Landorf", "Kristin"):
        assert name not in mine

    # Rose never wrote nor read: everything visible is new to her, on the bridges she is
    # a member of; "elsewhere" shows display names, the facilitator's opening post there.
    assert await overview(r.runtime.core, ROSE) == (
        "You are not part of a discussion yet. Reply to a topic in a bridged group; "
        "then /status here shows what is new for you.")
    hers = await overview(r.runtime.core, ROSE, ["allies", "elsewhere"])
    assert re.fullmatch(pattern(
        rf"• “Engaging donors” \(topic #3\): 1 post / 1 new · open · last post by Kristin Antin, {WHEN}",
        rf"• “Second topic” \(topic #2\): 2 posts / 2 new · open · last post by Participant 1, {WHEN}",
        rf"• “Engaging allies” \(topic #1\): 3 posts / 3 new · open · last post by Participant 2, {WHEN}",
    ), hers), hers

    # Her /status moved no mark: the same answer again.
    assert await overview(r.runtime.core, ROSE, ["allies", "elsewhere"]) == hers


async def test_private_status_lists_ten_topics_open_ones_first_and_counts_the_rest(build):
    r = await rooms(build)
    store = r.runtime.store
    for n in range(1, 13):
        await store.create_topic("allies", f"Topic {n}", "", FACILITATOR, LATER, [])
    assert await store.set_status(12, TopicStatus.LOCKED, "Kristin Antin", None, LATER, [])
    await store.create_topic("elsewhere", "Not hers", "", FACILITATOR, LATER, [])

    lines = (await overview(r.runtime.core, ROSE, ["allies"])).splitlines()
    listed = [int(m[1]) for line in lines if (m := re.search(r"\(topic #(\d+)\)", line))]
    assert listed == [11, 10, 9, 8, 7, 6, 5, 4, 3, 2]  # topic 12 is locked: after the open ones
    assert lines[-2] == "…and 2 older ones."
    assert all("1 post / 1 new · open · last post by Kristin Antin" in line for line in lines[1:11])
