"""A big topic exports whole: every post's subject worked out once (from its first words
only), any depth of replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bridgebot.core import export
from bridgebot.core.export import Archive, to_html, to_json, to_markdown
from bridgebot.core.models import Post, Topic, TopicStatus
from bridgebot.core.text import clip, short_subject

WHEN = datetime(2027, 3, 22, 13, 0, tzinfo=UTC)


def chain(replies: int) -> Archive:
    """The topic, one post with a subject, and ``replies`` replies each answering the last."""
    topic = Topic(1, "allies", "Engaging allies", "Share your examples.", TopicStatus.OPEN,
                  "Kristin Antin", WHEN)
    posts = [Post(1, 1, 1, "Kristin Antin", "telegram", "1", "", None, None, None, WHEN),
             Post(2, 1, 2, "Brittany Landorf", "telegram", "2", "An example from Jordan",
                  "Engaging governmental allies", None, None, WHEN)]
    for n in range(3, replies + 3):
        posts.append(Post(n, 1, n, "Jessica Okafor", "discord", "3", f"Reply {n}", None, n - 1,
                          None, WHEN + timedelta(seconds=n)))
    return Archive(topic, [], posts)


def test_a_thread_of_three_thousand_replies_exports_in_every_format():
    archive = chain(3000)
    markdown = to_markdown(archive)
    assert markdown.count("Re: Engaging governmental allies") == 3000, "one Re:, never Re: Re:"
    assert "Reply 3002" in to_html(archive) and "Reply 3002" in to_json(archive)


def test_each_subject_is_worked_out_once_for_a_whole_page(monkeypatch):
    calls = []
    real = export.short_subject
    monkeypatch.setattr(export, "short_subject",
                        lambda text, **kw: calls.append(text) or real(text, **kw))
    archive = chain(500)
    for _ in range(3):
        for post in archive.posts:
            archive.subject(post)
    assert len(calls) <= 1, "the opening post's subject, once; replies take their parent's"


@given(st.lists(st.sampled_from(["a", "é", "語", " ", "\n", "\t", "\u00a0", "\u3000", "\u2028",
                                 "word", "x" * 40])).map("".join),
       st.integers(min_value=-1, max_value=12), st.integers(min_value=0, max_value=120))
def test_an_untitled_posts_subject_is_its_first_words_however_long_the_post(text, words, chars):
    """Splitting off only the first words (not the whole post) gives the subject the
    forum gave: the first ``words`` words, single-spaced, "…" when there were more."""
    every = " ".join(text.split()).split(" ")
    expected = " ".join(every) if len(every) <= words else " ".join(every[:words]) + "…"
    assert short_subject(text, words=words, chars=chars) == clip(expected, chars)
