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
    # A photo sent with the post (its file name; the demo draws a small picture for it).
    photo: str | None = None

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
                     p.get("prompt"), p.get("photo"))
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


def demo_photo(caption: str) -> bytes:
    """A small picture drawn for the demo (a JPEG, with made-up camera EXIF and a GPS
    position, which the bridge removes before relaying or storing it)."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 300), (34, 85, 120))
    draw = ImageDraw.Draw(image)
    for i in range(8):
        draw.ellipse((30 + i * 52, 150 - i * 6, 90 + i * 52, 210 - i * 6),
                     fill=(240 - i * 12, 180 + i * 6, 90 + i * 10))
    draw.rectangle((0, 230, 480, 300), fill=(20, 40, 60))
    draw.text((16, 250), caption, fill=(255, 255, 255))
    exif = Image.Exif()
    exif[0x010F] = "DemoCam"
    exif[0x8825] = {1: "N", 2: (55.0, 45.0, 0.0), 3: "E", 4: (37.0, 37.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()
