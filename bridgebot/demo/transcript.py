"""What each sandbox platform shows, read from the fakes' recorded state.

The demo prints what people on Telegram and Discord would see, not what bridgebot
thinks it sent: the lines come from ``FakeTelegram.chat_messages`` and
``FakeDiscord.channel_messages``, so a message that never arrived is never shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bridgebot.sandbox.discord import FakeDiscord
from bridgebot.sandbox.telegram import FakeTelegram

EXCERPT = 110


# The fields of a Telegram message that carry a file.
_TG_FILES = ("photo", "document", "video", "animation", "audio", "voice", "video_note", "sticker")

def excerpt(text: str, limit: int = EXCERPT) -> str:
    """One line: whitespace collapsed, cut at ``limit`` characters with an ellipsis."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@dataclass
class Seen:
    """One message as a person sees it: where, who, what it answers, and the text."""

    platform: str
    where: str
    author: str
    text: str
    answers: tuple[str, str] | None = None  # (author, text) of the message it replies to

    def line(self) -> str:
        reply = ""
        if self.answers:
            reply = f' ↩ {self.answers[0]} "{excerpt(self.answers[1], 32)}"'
        return f"  {self.platform:<8} │ {self.where} │ {self.author}{reply}: {excerpt(self.text)}"

    def full(self) -> str:
        reply = ""
        if self.answers:
            reply = f'\n  (in reply to {self.answers[0]}: "{excerpt(self.answers[1], 60)}")'
        return f"[{self.where}] {self.author}{reply}\n{self.text}\n"


def _telegram_name(message: dict) -> str:
    sender = message.get("from", {})
    return f"{sender.get('first_name', '')} {sender.get('last_name', '')}".strip() or "someone"


def _discord_name(message: dict) -> str:
    author = message["author"]
    name = author.get("global_name") or author["username"]
    return f"{name} (webhook)" if message.get("webhook_id") else name


@dataclass
class Transcript:
    """Collects new messages from both fakes since the last look, oldest first."""

    tg: FakeTelegram
    dc: FakeDiscord
    tg_chat_id: int
    tg_title: str
    dc_channel_id: str
    dc_channel_name: str
    telegram: list[Seen] = field(default_factory=list)
    discord: list[Seen] = field(default_factory=list)
    _tg_seen: set[int] = field(default_factory=set)
    _dc_seen: set[str] = field(default_factory=set)

    def news(self) -> list[Seen]:
        """Messages that appeared on either platform since the previous call."""
        fresh = self._telegram_news() + self._discord_news()
        for seen in fresh:
            (self.telegram if seen.platform == "Telegram" else self.discord).append(seen)
        return fresh

    def _telegram_news(self) -> list[Seen]:
        out = []
        for message in self.tg.chat_messages(self.tg_chat_id, include_service=False):
            kinds = [k for k in _TG_FILES if k in message]
            if message["message_id"] in self._tg_seen or ("text" not in message and not kinds):
                continue
            self._tg_seen.add(message["message_id"])
            answered = message.get("reply_to_message")
            text = message.get("text") or message.get("caption") or ""
            if kinds:
                text = f"[{kinds[0]}] {text}".strip()
            out.append(Seen("Telegram", self.tg_title, _telegram_name(message), text,
                            (_telegram_name(answered), answered.get("text", ""))
                            if answered else None))
        return out

    def _discord_news(self) -> list[Seen]:
        out = []
        places = [(self.dc_channel_id, f"#{self.dc_channel_name}")]
        places += [(t["id"], f"#{self.dc_channel_name} › {excerpt(t['name'], 28)}")
                   for t in self.dc.threads(self.dc_channel_id)]
        for channel_id, where in places:
            for message in self.dc.channel_messages(channel_id):
                if message["id"] in self._dc_seen:
                    continue
                self._dc_seen.add(message["id"])
                answered = message.get("referenced_message")
                content = message.get("content", "")
                for attachment in message.get("attachments") or []:
                    content += f"\n[file: {attachment['filename']}]"
                out.append(Seen("Discord", where, _discord_name(message), content,
                                (_discord_name(answered), answered.get("content", ""))
                                if answered else None))
        return out
