"""``/export``: the current archive of a topic, as an HTML page, handed to the facilitator
privately, so that a facilitator without server access can keep or share it.

The page is the one ``bridgebot export --format html`` writes, with authors named as the
bridge names them in the chats. The platform sends it (:attr:`CommandContext.send_file`):
Telegram as a document in the private chat with the bot, Discord as an ephemeral attachment.
Where the platform cannot reach the person privately (on Telegram, someone who never started
the bot), the answer says how to allow it, and nothing is posted in the group.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from bridgebot.core import errors
from bridgebot.core.export import load_archive, to_html
from bridgebot.core.models import Author, ChannelRef
from bridgebot.core.names import mode_of
from bridgebot.core.privacy import shown_archive
from bridgebot.core.service import Discussions
from bridgebot.i18n import N_, translator

# (file name, content, caption) -> whether it reached the person privately.
FileSender = Callable[[str, bytes, str], Awaitable[bool]]

NOT_HERE = N_("This platform cannot send you a file. An operator can run `bridgebot export` for "
              "you.")
START_FIRST = N_("I cannot write to you privately yet. Open a private chat with me (tap my name, "
                 "then Start), then send /export again.")


def file_name(topic_id: int, title: str) -> str:
    """``topic-3-engaging-allies.html``: ASCII, short, safe on every system."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-")
    return f"topic-{topic_id}-{slug}.html" if slug else f"topic-{topic_id}.html"


async def export_command(core: Discussions, actor: Author, where: ChannelRef,
                         send_file: FileSender | None, *, platform_admin: bool = False,
                         reply_to: str | None = None, lang: str | None = None) -> str:
    """Send the topic's archive page to ``actor`` and say where it went, in ``lang``."""
    if not await core.is_facilitator(actor, platform_admin):
        raise errors.NotFacilitator("export")
    t = translator(lang or core.chat_language(where))
    topic = await core.topic_here(where, reply_to)
    if send_file is None:
        return t(NOT_HERE)
    languages = {name: bridge.language for name, bridge in core.bridges.items()}
    archive = await load_archive(core.store, topic.id, core.platforms, languages)
    assert archive is not None  # topic_here just found it
    archive = await shown_archive(core.privacy, archive, mode_of(core.bridges, topic.bridge))
    page = to_html(archive).encode("utf-8")
    caption = t("The archive of “{title}” as of now.", title=topic.title)
    if not await send_file(file_name(topic.id, topic.title), page, caption):
        return t(START_FIRST)
    return t("The archive of “{title}” was sent to you privately.", title=topic.title)
