"""`bridgebot demo`: the seed discussion across sandbox Telegram and Discord, offline."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from bridgebot.demo.run import run_demo
from bridgebot.demo.script import load_seed

pytestmark = pytest.mark.sqlite_only(
    "`bridgebot demo` keeps its discussion in a fresh SQLite file in its --data folder, by design "
    "(offline, nothing to install)")


def bridgebot(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")}
    return subprocess.run([sys.executable, "-m", "bridgebot.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def transcript(out: str, platform: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(f"  {platform}")]


def test_the_demo_replays_the_seed_discussion_across_both_platforms(tmp_path: Path):
    started = time.monotonic()
    result = bridgebot("demo", "--no-matrix", "--data", "demo", cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 45, f"the demo took {elapsed:.0f} s"
    assert "Traceback" not in result.stderr
    telegram, discord = transcript(result.stdout, "Telegram"), transcript(result.stdout, "Discord")
    # Posts written on Telegram appear on Discord under the author's name, and back.
    assert any("Brittany Landorf · Telegram" in line for line in discord)
    assert any("Practitioner, Sri Lanka · Telegram" in line for line in discord)
    assert any("Kristin Antin · Discord · #3" in line for line in telegram)
    assert any("Activist, Philippines · Discord" in line for line in telegram)
    # A reply to a reply: Jessica(2) on Discord answers Jessica's Telegram post natively.
    assert any("Jessica(2) ↩ Jessica · Telegram (webhook)" in line for line in discord)
    assert any("Jessica ↩ Bridge Bot \"Jessica(2) · Discord · #4" in line for line in telegram)
    # The late reply is refused on Telegram, and nothing of it reaches Discord.
    assert any("no longer accepts posts" in line or "is locked" in line for line in telegram)
    assert not any("example from Kenya" in line for line in discord)
    status = re.search(r"^Status: (.+)$", result.stdout, re.M)
    assert status and re.fullmatch(
        r"9 posts / 7 new · last post by Practitioner, Sri Lanka, .+ · locked", status[1]), status
    html_path = Path(re.search(r"^HTML export: (.+)$", result.stdout, re.M)[1])
    assert html_path.parent == (tmp_path / "demo").resolve()
    page = html_path.read_text(encoding="utf-8")
    assert '<li class="count">9 posts' in page
    # The questions stand where the seed's introduction introduces them ("Consider these
    # questions below: ... Share your thoughts"), and its addresses are links.
    seed = load_seed()
    assert (page.index("Consider these questions below") < page.index(html.escape(seed.questions[0]))
            < page.index("Share your thoughts") < page.index("<article"))
    assert ('<a href="http://www.aaas.org/oncallscientists" rel="nofollow ugc noopener">'
            in page)
    assert page.count("<article") == 8  # the topic's opening is post 1, not an article
    for scripted in load_seed().posts:
        if not scripted.subject.startswith("Re: "):
            assert f">{scripted.subject}<" in html.unescape(page)
    assert '<p class="locked">Topic locked</p>' in page
    discord_file = (tmp_path / "demo" / "discord-transcript.txt").read_text(encoding="utf-8")
    assert "Women Peacemakers Program · Telegram (webhook)" in discord_file
    # The seed's links cross intact, both ways: every address the seed holds is shown, as
    # written, on Telegram and on Discord.
    telegram_file = (tmp_path / "demo" / "telegram-transcript.txt").read_text(encoding="utf-8")
    addresses = {a for p in seed.posts for a in re.findall(r"(?:https?://|www\.)[^\s);]+", p.message)}
    assert len(addresses) == 4
    for address in addresses:
        assert address in telegram_file and address in discord_file, address
    # Kristin's photo crosses as a photo, shows inline in the archive, without its GPS.
    assert "[photo] Kristin Antin · Discord · #3" in telegram_file
    [image] = re.findall(r'<img src="(files/[0-9a-f]{2}/[0-9a-f]{64})" alt="roundtable.jpg"', page)
    with Image.open(tmp_path / "demo" / image) as stored:
        assert not stored.getexif().get_ifd(0x8825), "the demo photo kept its GPS position"


def test_the_demo_will_not_reuse_a_folder_that_holds_a_database(tmp_path: Path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "bridgebot.sqlite3").write_bytes(b"")
    result = bridgebot("demo", "--no-matrix", "--data", "demo", cwd=tmp_path, timeout=20)
    assert result.returncode == 2
    assert "already exists" in result.stderr and "--data" in result.stderr
    assert "Traceback" not in result.stderr


async def test_keep_running_leaves_the_sandbox_up_with_a_facilitator_on_telegram(tmp_path: Path):
    seed = dataclasses.replace(load_seed(), facilitator_platform="telegram")
    lines: list[str] = []
    stop = asyncio.Event()
    demo = asyncio.create_task(run_demo(tmp_path / "kept", keep_running=True, out=lines.append,
                                        matrix=False,
                                        seed=seed, stop=stop))
    async with asyncio.timeout(45):
        while not any("keeps running" in line for line in lines):
            assert not demo.done(), lines
            await asyncio.sleep(0.1)
    text = "\n".join(lines)
    # The facilitator typed the commands in the Telegram group this time.
    assert "▶ Kristin Antin opens the topic from Telegram with /newtopic" in text
    assert re.search(r"^  Telegram .*Kristin Antin.*: /newtopic", text, re.M)
    assert re.search(r"^Status: 9 posts / 7 new .* · locked$", text, re.M)
    api_base = re.search(r"Discord REST API +(\S+)", text)[1]
    async with aiohttp.ClientSession() as http, http.get(f"{api_base}/gateway") as answer:
        assert answer.status == 200 and "gateway" in (await answer.json())["url"]
    # The bots' tokens are printed too, so a client can be pointed at the sandbox.
    get_me = re.search(r"e\.g\. (\S+/bot\S+/getMe)", text)[1]
    discord_token = re.search(r"bot token (\S+) +server", text)[1]
    async with aiohttp.ClientSession() as http:
        async with http.get(get_me) as answer:
            assert (await answer.json())["result"]["username"] == "bridgebot_demo_bot"
        async with http.get(f"{api_base}/users/@me",
                            headers={"Authorization": f"Bot {discord_token}"}) as answer:
            assert answer.status == 200 and (await answer.json())["bot"] is True
    config = re.search(r"bridgebot --config (\S+) topics", text)[1]
    topics = await asyncio.to_thread(bridgebot, "--config", config, "topics", cwd=tmp_path)
    assert topics.returncode == 0 and "locked" in topics.stdout, topics.stderr
    stop.set()
    result = await asyncio.wait_for(demo, 20)
    assert result.status.startswith("9 posts") and result.html.is_file()


def test_demo_matrix_without_synapse_is_one_line_saying_how_to_get_it(tmp_path: Path, monkeypatch,
                                                                     capsys):
    import bridgebot.adapters.matrix.synapse as synapse
    from bridgebot.cli import main

    monkeypatch.setattr(synapse, "synapse_installed", lambda: False)
    assert main(["demo", "--matrix", "--data", str(tmp_path / "demo")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["bridgebot: bridgebot demo --matrix needs Synapse, which is not installed: "
                   "pip install -e '.[test]' (or '.[synapse]') brings matrix-synapse"]
    assert not (tmp_path / "demo" / "bridgebot.sqlite3").exists()


def test_the_demo_brings_matrix_in_exactly_when_synapse_is_installed(monkeypatch):
    import bridgebot.adapters.matrix.synapse as synapse
    from bridgebot.demo.matrix import wants_matrix

    monkeypatch.setattr(synapse, "synapse_installed", lambda: True)
    assert wants_matrix(None) and wants_matrix(True) and not wants_matrix(False)
    monkeypatch.setattr(synapse, "synapse_installed", lambda: False)
    assert not wants_matrix(None), "the plain demo never needs Synapse"
    assert wants_matrix(True), "asked for, it says how to get Synapse instead"
