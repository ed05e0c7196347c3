"""Moderation: a facilitator hides a post from every chat, or shows it again.

A hidden post stays in the database (marked hidden, with who hid it) but leaves every
mirror, the original message where the bot may delete it, /status counts and the
archive. The post is named by its number (``/hide 5``) or by replying to any of its
messages (``/hide`` in reply, Discord's "Hide post" menu); both land here.
"""

from __future__ import annotations

from bridgebot.core import errors
from bridgebot.core.models import Author, ChannelRef, Post
from bridgebot.core.privacy import shown_posts
from bridgebot.core.service import Discussions
from bridgebot.i18n import N_, translator


async def find_post(
    core: Discussions, where: ChannelRef, number: int | None, reply_to: str | None,
    command: str = "hide",
) -> Post:
    """The post a moderation command is about: number N of the topic here, or the
    message the command answers (an original or any of its mirrors)."""
    if number is not None:
        topic = await core.topic_here(where, reply_to)
        post = await core.store.post_by_number(topic.id, number)
        if post is None:
            raise errors.UnknownPost(number)
        return post
    if reply_to is None:
        raise errors.InvalidInput(
            N_("Usage: /{command} N (the post's number, shown as #N), or /{command} in reply to the post."),
            command=command,
        )
    hit = await core.store.resolve_message(where.platform, where.chat_id, reply_to)
    post = await core.store.post(hit.post_id) if hit and hit.post_id else None
    if post is None:
        raise errors.InvalidInput(
            N_("The message you answered is not a post of a topic. Reply to a post with /{command}, "
               "or use /{command} N."),
            command=command,
        )
    return post


async def set_post_hidden(
    core: Discussions, actor: Author, where: ChannelRef, hidden: bool, *,
    number: int | None = None, reply_to: str | None = None, platform_admin: bool = False,
    lang: str | None = None,
) -> str:
    """Hide or unhide, and the sentence that tells the facilitator (in ``lang``) what will happen."""
    t = translator(lang)
    command = "hide" if hidden else "unhide"
    if not await core.is_facilitator(actor, platform_admin):
        raise errors.NotFacilitator(command)
    post = await find_post(core, where, number, reply_to, command)
    changed = await core.set_hidden(actor, where, post, hidden, platform_admin=platform_admin)
    post = (await shown_posts(core, [post]))[0]  # named as the bridge names authors
    n = post.number
    if hidden and not changed:
        return t("Post #{number} is already hidden.", number=n)
    if hidden:
        return t(
            "Post #{number} by {author} is hidden: it is being removed from every linked "
            "chat, its original message too where I am allowed to delete it (if I am not, I say "
            "so there). It stays in the records; /unhide {number} brings it back.",
            number=n, author=post.author_name,
        )
    if not changed:
        return t("Post #{number} is not hidden.", number=n)
    return t("Post #{number} by {author} is visible again: it is being posted again where it was "
             "removed.", number=n, author=post.author_name)
