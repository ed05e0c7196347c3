"""The seed discussion as a script: who opens, asks, replies and locks, in order.

``allies.toml`` was made from ``shared/seed/discussion-topic.txt``; the demo and the
tests replay it so that what they show is a real facilitated discussion.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class ScriptedPost:
    author: str
    platform: str
    subject: str
    text: str
    reply_to: int | None  # 1-based index into the script's posts
    prompt: int | None  # 1-based guiding question

    @property
    def message(self) -> str:
        """The post as a person would type it: a subject line, a blank line, the body.

        Replies carry no subject of their own: the archive titles them "Re: ...".
        """
        if self.reply_to is not None and self.subject.startswith("Re: "):
            return self.text
        return f"{self.subject}\n\n{self.text}"


@dataclass(frozen=True)
class SeedScript:
    title: str
    facilitator: str
    facilitator_platform: str
    introduction: str
    questions: list[str]
    posts: list[ScriptedPost]
    late_reply: ScriptedPost


def load_seed(name: str = "allies.toml") -> SeedScript:
    data = tomllib.loads(resources.files("bridgebot.demo").joinpath(name).read_text("utf-8"))
    posts = [
        ScriptedPost(p["author"], p["platform"], p["subject"], p["text"], p.get("reply_to"),
                     p.get("prompt"))
        for p in data["posts"]
    ]
    late = data["late_reply"]
    return SeedScript(
        title=data["title"],
        facilitator=data["facilitator"],
        facilitator_platform=data["facilitator_platform"],
        introduction=data["introduction"].strip(),
        questions=list(data["questions"]),
        posts=posts,
        late_reply=ScriptedPost(late["author"], late["platform"], "", late["text"], None, None),
    )
