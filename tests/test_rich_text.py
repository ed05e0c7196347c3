"""Links, formatting and mentions cross as written; edits stay faithful (issue 14).

The real adapters against the sandboxes: Telegram entities (UTF-16 offsets) and Discord
markdown are read into the core's one rich-text form and written back as Telegram HTML or
Discord markdown, with every address kept and no mention able to ping.
"""

from __future__ import annotations

from typing import Any

import pytest

from bridgebot.cli import load_archive
from bridgebot.core import export, richtext
from bridgebot.core.names import AuthorMode
from bridgebot.core.privacy import archive_presenter
from bridgebot.core.richtext import Kind, Span
from bridgebot.sandbox.discord.state import DiscordAPIError

SEED_LINK = '<a href="https://www.newtactics.org/instructions">these online instructions</a>'


def styled(message: dict[str, Any], kind: str) -> list[str]:
    """The words of each ``kind`` entity of a Telegram message (offsets in UTF-16 units)."""
    units = message["text"].encode("utf-16-le")
    return [units[2 * e["offset"]:2 * (e["offset"] + e["length"])].decode("utf-16-le")
            for e in message.get("entities", []) if e["type"] == kind]


def links(message: dict[str, Any]) -> list[tuple[str, str]]:
    words = styled(message, "text_link")
    urls = [e["url"] for e in message.get("entities", []) if e["type"] == "text_link"]
    return list(zip(words, urls, strict=True))


async def test_a_telegram_text_link_and_bold_reach_discord_with_the_address_and_formatting(bridged):
    w = bridged
    w.tg.user_sends(w.group["id"], w.brittany.tg,
                    f"Please read 🙂 <b>first</b> {SEED_LINK}, then answer.",
                    reply_to=w.root["message_id"], parse_mode="HTML")
    mirrored = (await w.until(w.discord_mirrors))[0]
    content = mirrored["content"]
    assert "Please read 🙂 **first** [these online instructions]" \
           "(<https://www.newtactics.org/instructions>), then answer." in content
    assert mirrored["mentions"] == [] and not mirrored["mention_everyone"]


async def test_the_archive_keeps_the_formatting_and_the_link_of_a_telegram_post(bridged):
    w = bridged
    w.tg.user_sends(w.group["id"], w.brittany.tg, f"Please read <b>first</b> {SEED_LINK}.",
                    reply_to=w.root["message_id"], parse_mode="HTML")
    await w.until(w.discord_mirrors)
    archive = await load_archive(w.runtime.store, 1)
    page = export.to_html(archive)
    assert "<strong>first</strong>" in page
    assert ('<a href="https://www.newtactics.org/instructions" rel="nofollow ugc noopener">'
            "these online instructions</a>") in page
    assert "[these online instructions](https://www.newtactics.org/instructions)" in \
        export.to_markdown(archive)


async def test_discord_bold_and_a_masked_link_reach_telegram_as_formatting_with_the_link(bridged):
    w = bridged
    w.dc.user_sends(w.thread["id"], w.jessica.dc,
                    "Our 🎉 **open day** is on [the calendar](https://example.org/cal_2027) _soon_")
    copy = (await w.until(w.telegram_mirrors))[0]
    assert copy["text"].endswith("Our 🎉 open day is on the calendar soon")
    assert "open day" in styled(copy, "bold")
    assert links(copy) == [("the calendar", "https://example.org/cal_2027")]
    assert styled(copy, "italic") == ["soon"]


async def test_a_discord_mention_reaches_telegram_as_the_persons_name_never_an_id(bridged):
    w = bridged
    brittany = w.brittany.dc["id"]
    w.dc.user_sends(w.thread["id"], w.jessica.dc, f"Thanks <@{brittany}> and <@!{brittany}>!")
    copy = (await w.until(w.telegram_mirrors))[0]
    assert copy["text"].endswith("Thanks @Brittany Landorf and @Brittany Landorf!")
    assert brittany not in copy["text"]


async def test_in_a_pseudonym_bridge_a_mention_shows_the_persons_pseudonym(build):
    w = await build(open_topic=True, authors="pseudonym")
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "An example from Jordan.")
    await w.until(w.telegram_mirrors)
    w.dc.user_sends(w.thread["id"], w.jessica.dc,
                    f"Thanks <@{w.brittany.dc['id']}>, and <@{w.quiet.dc['id']}>")
    copy = await w.until(lambda: m[1] if len(m := w.telegram_mirrors()) == 2 else None)
    # Brittany posted here (Participant 1); Quinn has not, so has no number yet.
    assert copy["text"].endswith("Thanks @Participant 1, and @Participant")
    assert "Brittany" not in copy["text"] and "Quinn" not in copy["text"]


async def test_archive_pages_of_a_pseudonym_bridge_show_a_mention_as_the_pseudonym(build):
    w = await build(open_topic=True, authors="pseudonym")
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "An example from Jordan.")
    await w.until(w.telegram_mirrors)
    w.dc.user_sends(w.thread["id"], w.jessica.dc, f"Thanks <@{w.brittany.dc['id']}>!")
    await w.until(lambda: len(w.telegram_mirrors()) == 2)
    present = archive_presenter(w.runtime.core.privacy, {"allies": AuthorMode.PSEUDONYM},
                                platforms=w.runtime.platforms)
    page = export.to_html(await present(await load_archive(w.runtime.store, 1)))
    assert '<span class="mention">@Participant 1</span>' in page
    assert "Brittany" not in page


async def test_a_post_edited_from_1800_to_3600_characters_shows_all_of_it_then_shrinks_back(bridged):
    w = bridged
    words = "Allies who are not traditional still answer the call. "  # 55 characters
    short, long = (words * 33)[:1800].strip(), (words * 66)[:3600].strip()
    sent = w.tg.user_sends(w.group["id"], w.brittany.tg, short, reply_to=w.root["message_id"])
    await w.until(lambda: len(w.discord_mirrors()) == 1)
    w.tg.user_edits(w.group["id"], sent["message_id"], long)
    pieces = await w.until(lambda: m if len(m := w.discord_mirrors()) == 2 else None)
    shown = " ".join(p["content"].split("\n-# #")[0] for p in pieces)
    assert " ".join(long.split()) == " ".join(shown.split())
    assert all(len(p["content"]) <= 2000 for p in pieces)
    w.tg.user_edits(w.group["id"], sent["message_id"], short)
    left = await w.until(lambda: m if len(m := w.discord_mirrors()) == 1 else None)
    assert short in left[0]["content"]


async def test_a_discord_post_edited_longer_shows_all_of_it_on_telegram_with_its_formatting(bridged):
    w = bridged
    sent = w.dc.user_sends(w.thread["id"], w.jessica.dc, "A **short** one")
    await w.until(w.telegram_mirrors)
    longer = "A **longer** one, with [a link](https://example.org/x). " + "More words here. " * 100
    w.dc.user_edits(w.thread["id"], sent["id"], longer.strip())
    copy = await w.until(lambda: next((m for m in w.telegram_mirrors()
                                       if "longer" in m["text"]), None))
    assert copy["text"].endswith("More words here.")
    assert "longer" in styled(copy, "bold")
    assert links(copy) == [("a link", "https://example.org/x")]


async def test_an_edit_keeps_the_reply_quote_on_discord(bridged):
    w = bridged
    first = w.tg.user_sends(w.group["id"], w.brittany.tg, "An example from Jordan.",
                            reply_to=w.root["message_id"])
    await w.until(w.discord_mirrors)
    reply = w.tg.user_sends(w.group["id"], w.kristin.tg, "Which ministry?",
                            reply_to=first["message_id"])
    quoted = (await w.until(lambda: m if len(m := w.discord_mirrors()) == 2 else None))[1]
    assert "↪ Brittany Landorf" in quoted["content"]
    w.tg.user_edits(w.group["id"], reply["message_id"], "Which ministry was it?")
    edited = await w.until(lambda: next((m for m in w.discord_mirrors()
                                         if "was it" in m["content"]), None))
    assert "↪ Brittany Landorf" in edited["content"]


async def test_an_edit_after_the_lock_is_refused_and_the_author_told_once(bridged):
    w = bridged
    sent = w.tg.user_sends(w.group["id"], w.brittany.tg, "An example from Jordan.",
                           reply_to=w.root["message_id"])
    await w.until(w.discord_mirrors)
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/lock Thank you all", reply_to=w.root["message_id"])
    await w.until(lambda: any("Topic locked" in t for t in w.bot_texts()))
    w.tg.user_edits(w.group["id"], sent["message_id"], "An example from Amman, Jordan.")
    w.tg.user_edits(w.group["id"], sent["message_id"], "An example from Amman.")
    await w.settle()
    told = [c for c in w.sent(w.group) if "edits no longer change your post" in c.params["text"]]
    assert len(told) == 1
    assert "Amman" not in w.discord_mirrors()[0]["content"]
    posts = await w.runtime.store.posts(1)
    assert posts[-1].text == "An example from Jordan." and posts[-1].edited_at is None


async def test_a_telegram_text_mention_reaches_discord_under_the_name_the_bridge_shows(build):
    w = await build(open_topic=True, authors="pseudonym")
    w.tg.user_sends(w.group["id"], w.jessica.tg, "An example from Lagos.",
                    reply_to=w.root["message_id"])
    await w.until(w.discord_mirrors)
    w.tg.user_sends(w.group["id"], w.brittany.tg,
                    f'Thanks <a href="tg://user?id={w.jessica.tg["id"]}">Jessica Okafor</a>!',
                    reply_to=w.root["message_id"], parse_mode="HTML")
    copy = (await w.until(lambda: m[1] if len(m := w.discord_mirrors()) == 2 else None))
    assert "Thanks Participant 1!" in copy["content"]
    assert "Jessica" not in copy["content"] and str(w.jessica.tg["id"]) not in copy["content"]


async def test_a_discord_post_edited_from_1800_to_3600_characters_shows_all_of_it_everywhere(build):
    w = await build(open_topic=True, discord=("channel", "forum"))
    w.dc.give_nitro(w.jessica.dc)  # Nitro members write up to 4000 characters
    words = "Allies who are not traditional still answer the call. "
    short, long = (words * 33)[:1800].strip(), (words * 66)[:3600].strip()
    sent = w.dc.user_sends(w.thread["id"], w.jessica.dc, short)
    forum_thread = (await w.until(lambda: w.dc.threads(w.forum_channel["id"])))[0]
    await w.until(lambda: w.mirrors(forum_thread["id"]) and w.telegram_mirrors())
    w.dc.user_edits(w.thread["id"], sent["id"], f"**{long[:8]}**{long[8:]}")
    copy = await w.until(lambda: next((m for m in w.telegram_mirrors()
                                       if len(m["text"]) > len(long)), None))
    assert copy["text"].split("\n\n", 1)[1] == long  # one Telegram message holds all 3600
    assert long[:8] in styled(copy, "bold")
    pieces = await w.until(lambda: m if len(m := w.mirrors(forum_thread["id"])) == 2 else None)
    shown = " ".join(p["content"].split("\n-# #")[0] for p in pieces)
    assert " ".join(shown.replace("**", "").split()) == " ".join(long.split())


async def test_the_discord_sandbox_takes_4000_characters_from_nitro_members_only(bridged):
    w = bridged

    def refused(length: int) -> str:
        with pytest.raises(DiscordAPIError) as err:
            w.dc.user_sends(w.thread["id"], w.jessica.dc, "x" * length)
        assert err.value.code == 50035
        return err.value.errors["content"]["_errors"][0]["message"]

    assert refused(2001) == "Must be 2000 or fewer in length."
    w.dc.give_nitro(w.jessica.dc)
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "x" * 4000)
    assert refused(4001) == "Must be 4000 or fewer in length."


async def test_a_quoted_parent_shows_its_mentions_as_the_bridge_names_people(build):
    w = await build(open_topic=True, authors="pseudonym")
    w.tg.user_sends(w.group["id"], w.brittany.tg, "An example from Jordan.",
                    reply_to=w.root["message_id"])
    await w.until(w.discord_mirrors)
    thanks = w.tg.user_sends(
        w.group["id"], w.jessica.tg,
        f'Thanks <a href="tg://user?id={w.brittany.tg["id"]}">Brittany Landorf</a>!',
        reply_to=w.root["message_id"], parse_mode="HTML")
    await w.until(lambda: len(w.discord_mirrors()) == 2)
    w.tg.user_sends(w.group["id"], w.brittany.tg, "You are welcome.", reply_to=thanks["message_id"])
    answer = (await w.until(lambda: m[2] if len(m := w.discord_mirrors()) == 3 else None))
    assert "↪ Participant 2 (" in answer["content"] and "Thanks Participant 1!" in answer["content"]
    assert "Brittany" not in answer["content"]


async def test_a_discord_edit_after_the_lock_is_refused_and_its_author_told_once(bridged):
    w = bridged
    sent = w.dc.user_sends(w.thread["id"], w.jessica.dc, "An example from Lagos.")
    await w.until(w.telegram_mirrors)
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/lock", reply_to=w.root["message_id"])
    await w.until(lambda: w.dc.channel(w.thread["id"])["thread_metadata"]["locked"])
    w.dc.user_edits(w.thread["id"], sent["id"], "An example from Lagos, Nigeria.")
    told = await w.until(lambda: [m for m in w.dc.channel_messages(w.thread["id"])
                                  if "edits no longer change your post" in m["content"]])
    w.dc.user_edits(w.thread["id"], sent["id"], "An example from Abuja.")
    await w.settle()
    assert len([m for m in w.dc.channel_messages(w.thread["id"])
                if "edits no longer change your post" in m["content"]]) == 1
    assert told[0]["message_reference"]["message_id"] == sent["id"]
    assert all("Nigeria" not in m["text"] and "Abuja" not in m["text"] for m in w.telegram_mirrors())


async def test_reply_n_from_telegram_keeps_its_formatting_and_link(bridged):
    w = bridged
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "An example from Lagos.")
    await w.until(w.telegram_mirrors)
    w.tg.user_sends(w.group["id"], w.brittany.tg,
                    '/reply 2 <b>Yes</b>, see <a href="https://example.org/lagos">the report</a>',
                    parse_mode="HTML")
    copy = await w.until(lambda: next((m for m in w.discord_mirrors() if "report" in m["content"]),
                                      None))
    assert "**Yes**, see [the report](<https://example.org/lagos>)" in copy["content"]


async def test_discord_slash_reply_crosses_its_bold_and_masked_link_as_formatting(bridged):
    w = bridged
    answer = await w.slash(w.jessica.dc, "reply", number=1,
                           text="I **agree**, see [the plan](https://example.org/plan_2027)")
    assert "Posted as" in answer["content"], answer
    copy = (await w.until(w.telegram_mirrors))[0]
    assert copy["text"].endswith("I agree, see the plan")
    assert "**" not in copy["text"]
    assert "agree" in styled(copy, "bold")
    assert links(copy) == [("the plan", "https://example.org/plan_2027")]


EVERY_STYLE_HTML = ("<u>under</u> <s>struck</s> <tg-spoiler>hidden</tg-spoiler> <code>x = 1</code>\n"
                    '<pre><code class="language-py">print(1)\nprint(2)</code></pre>\n'
                    "<blockquote>A quoted line</blockquote>\nThe end")
EVERY_STYLE_MARKDOWN = ("__under__ ~~struck~~ ||hidden|| `x = 1`\n```py\nprint(1)\nprint(2)\n```\n"
                        "> A quoted line\nThe end")


async def test_every_telegram_style_reaches_discord_as_its_markdown(bridged):
    w = bridged
    w.tg.user_sends(w.group["id"], w.brittany.tg, EVERY_STYLE_HTML,
                    reply_to=w.root["message_id"], parse_mode="HTML")
    content = (await w.until(w.discord_mirrors))[0]["content"]
    assert EVERY_STYLE_MARKDOWN in content, content


async def test_every_discord_style_reaches_telegram_as_its_entity(bridged):
    w = bridged
    w.dc.user_sends(w.thread["id"], w.jessica.dc, EVERY_STYLE_MARKDOWN)
    copy = (await w.until(w.telegram_mirrors))[0]
    assert copy["text"].endswith("under struck hidden x = 1\nprint(1)\nprint(2)\nA quoted line\n"
                                 "The end")
    assert [styled(copy, kind) for kind in ("underline", "strikethrough", "spoiler", "code",
                                            "pre", "blockquote")] == [
        ["under"], ["struck"], ["hidden"], ["x = 1"], ["print(1)\nprint(2)"], ["A quoted line"]]
    [pre] = [e for e in copy["entities"] if e["type"] == "pre"]
    assert pre.get("language") == "py"


def test_the_archive_writes_code_blocks_and_quotes_as_blocks_and_every_style_it_can():
    from bridgebot.adapters.discord import markdown

    text, spans = markdown.parse("Before\n" + EVERY_STYLE_MARKDOWN.replace(
        "print(2)", "    return [a < b]"))
    page = str(richtext.to_html(text, spans))
    assert "<u>under</u> <s>struck</s> <span class=\"spoiler\">hidden</span> <code>x = 1</code>" \
        in page
    assert '<pre dir="ltr"><code class="language-py">print(1)\n    return [a &lt; b]</code></pre>' \
        in page
    assert '<blockquote dir="auto"><p dir="auto">A quoted line</p></blockquote>' in page
    assert "<code>print(1)</code>" not in page and 'class="quote"' not in page
    written = richtext.to_markdown(text, spans)
    assert "```py\nprint(1)\n    return [a < b]\n```\n> A quoted line\nThe end" in written, written
    assert "~~struck~~" in written and "`x = 1`" in written


def test_the_archive_quotes_every_line_of_a_quote_and_fences_only_whole_lines():
    text = "Said:\nfirst line\nsecond line\nand inline code here"
    spans = [Span(Kind.QUOTE, 6, 28), Span(Kind.PRE, 33, 39)]
    written = richtext.to_markdown(text, spans)
    assert written == "Said:\n> first line\n> second line\nand `inline` code here"
    page = str(richtext.to_html(text, spans))
    assert '<blockquote dir="auto"><p dir="auto">first line<br>\nsecond line</p></blockquote>' \
        in page and "and <code>inline</code> code here" in page
