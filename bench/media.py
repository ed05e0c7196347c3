"""Files crossing: a 5 MB photo from Telegram to Discord (p50 and p99 over 20 sends), and
the memory of ``bridgebot run`` while five 20 MB files cross at once, from Discord to
Telegram and from Telegram to a boosted Discord server (target: under 150 MB, i.e. files
are not held many times over).

Latency runs the real adapters in this process against the fakes, rate budgets off, from
``user_sends_photo`` (the update is queued for the bot's long poll) to the fake Discord
recording the webhook execution that carries the upload: getFile, the download, metadata
removal (Pillow decodes and writes the photo again), hashing, storing, the commit, the
relay, the multipart upload; the fakes share the loop, so their own work is inside.

Memory runs ``bridgebot run`` as a subprocess (bench/scale.py's settings) and samples its
VmRSS every 20 ms while the five files cross; VmHWM is its peak. The fakes hold every file
in their own process, outside the figure.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Row, percentile, quiet_logs, sandbox, wait_until
from bench.latency import WEBHOOK_EXECUTE, _open_topics
from bench.scale import MARKS, _memory, write_config
from bridgebot.core.ratelimit import PlatformLimits
from bridgebot.runtime import Runtime
from bridgebot.sandbox.clients import discord_adapter, telegram_adapter

PHOTO_MB = 5
SENDS = 20
FILES = 5
FILE_MB = 20
RSS_TARGET_MB = 150.0


def photo_of(megabytes: float) -> bytes:
    """A JPEG of about ``megabytes`` (noise compresses badly, as a phone photo does)."""
    from PIL import Image

    side = int((megabytes * 1_000_000 / 0.75) ** 0.5)  # noise at quality 92: ~1.3 B/pixel
    while True:
        size = (side, side * 3 // 4)
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=92)
        if out.tell() >= megabytes * 1_000_000 * 0.95:
            return out.getvalue()
        side = int(side * 1.1)


async def photo_latency(sends: int) -> tuple[list[float], int]:
    photo = photo_of(PHOTO_MB)
    async with sandbox(people=2) as world:
        with tempfile.TemporaryDirectory() as tmp:
            runtime = Runtime(Path(tmp) / "bench.sqlite3", [world.bridge])
            runtime.add_adapter(telegram_adapter(world.tg, world.tg_token, limits=PlatformLimits()))
            runtime.add_adapter(discord_adapter(world.dc, world.dc_token, world.guild["id"],
                                                limits=PlatformLimits()))
            await runtime.start()
            latencies = []
            try:
                places = await _open_topics(world, runtime, 1)
                for i in range(sends):
                    seen = len(world.dc.calls)
                    started = time.monotonic()
                    world.tg.user_sends_photo(world.group["id"], world.tg_people[i % 2],
                                              f"Photo {i}", data=photo,
                                              reply_to=places.tg_root[1])

                    def crossed(seen: int = seen) -> object:
                        return next((c for c in world.dc.calls[seen:] if c.method == "POST"
                                     and WEBHOOK_EXECUTE.match(c.path)
                                     and (c.json or {}).get("files")), None)

                    call = await wait_until(crossed, 60, f"photo {i} on Discord")
                    latencies.append((call.at - started) * 1000)  # type: ignore[attr-defined]
            finally:
                await runtime.stop()
    return latencies, len(photo)


async def files_memory(count: int, size_mb: int, *, from_telegram: bool = False
                       ) -> tuple[float, float, float, float]:
    """(RSS at rest, highest sampled RSS, VmHWM, seconds) of ``bridgebot run`` while
    ``count`` files of ``size_mb`` MB cross from Discord to Telegram (``from_telegram``:
    from Telegram to a Discord server boosted to tier 2, which takes 50 MiB a message)."""
    data = [os.urandom(size_mb * 1_000_000) for _ in range(count)]
    async with sandbox(people=count) as world:
        if from_telegram:
            world.dc.set_premium_tier(world.guild["id"], 2)
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp), world, Path(tmp) / "bench.sqlite3")
            env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")}
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bridgebot.cli", "--config", str(config), "run",
                cwd=tmp, env=env, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
            log: list[str] = []

            async def read() -> None:
                assert proc.stdout is not None
                async for raw in proc.stdout:
                    log.append(raw.decode(errors="replace"))

            reader = asyncio.create_task(read())
            try:
                await wait_until(lambda: any(MARKS["running"] in line for line in log), 120,
                                 "bridgebot run ready")
                world.tg.user_sends(world.group["id"], world.facilitator,
                                    "/newtopic Reports\nShare the reports.")
                threads = await wait_until(lambda: world.dc.threads(world.channel["id"]), 60,
                                           "the topic's thread")
                await asyncio.sleep(1.0)
                rest, _ = _memory(proc.pid)
                started = time.monotonic()
                root = next(m["message_id"] for m in world.tg.chat_messages(world.group["id"])
                            if m.get("from", {}).get("is_bot") and "Reports" in m.get("text", ""))
                for i, blob in enumerate(data):
                    if from_telegram:
                        world.tg.user_sends_document(
                            world.group["id"], world.tg_people[i], f"report-{i}.pdf",
                            data=blob, caption=f"Report {i}", reply_to=root)
                    else:
                        world.dc.user_sends(threads[0]["id"], world.dc_people[i], f"Report {i}",
                                            attachments=[(f"report-{i}.pdf", blob,
                                                          "application/pdf")])
                peak = rest

                def done() -> bool:
                    if from_telegram:
                        uploads = [c for c in world.dc.calls if c.method == "POST"
                                   and WEBHOOK_EXECUTE.match(c.path) and c.status == 200
                                   and (c.json or {}).get("files")]
                        return len(uploads) >= count
                    sent = [c for c in world.tg.calls_to("sendDocument") if c.status == 200]
                    return len(sent) >= count

                async with asyncio.timeout(300):
                    while not done():
                        peak = max(peak, _memory(proc.pid)[0])
                        await asyncio.sleep(0.02)
                took = time.monotonic() - started
                _, hwm = _memory(proc.pid)
                return rest, peak, hwm, took
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
                reader.cancel()


async def run(quick: bool) -> list[Row]:
    with quiet_logs():
        latencies, size = await photo_latency(5 if quick else SENDS)
        rest, peak, hwm, took = await files_memory(2 if quick else FILES, FILE_MB)
        _, tg_peak, tg_hwm, tg_took = await files_memory(2 if quick else FILES, FILE_MB,
                                                         from_telegram=True)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    note = f"{size / 1e6:.1f} MB JPEG, {len(latencies)} sends"
    return [  # the issue asks for the photo's figures, without a target
        Row("media", "5 MB photo Telegram→Discord p50", p50, "ms", "", None, note, latencies),
        Row("media", "5 MB photo Telegram→Discord p99", p99, "ms", "", None, note),
        Row("media", "RSS of bridgebot run at rest", rest, "MB", "", None, "VmRSS"),
        Row("media", f"RSS while {FILE_MB} MB files cross (highest sample)", peak, "MB",
            f"< {RSS_TARGET_MB:.0f} MB", peak < RSS_TARGET_MB,
            f"{2 if quick else FILES} files Discord→Telegram in {took:.1f} s"),
        Row("media", "VmHWM (peak RSS) of bridgebot run", hwm, "MB", f"< {RSS_TARGET_MB:.0f} MB",
            hwm < RSS_TARGET_MB, "the process's own peak"),
        Row("media", f"RSS while {FILE_MB} MB files cross T→D (highest)", tg_peak, "MB",
            f"< {RSS_TARGET_MB:.0f} MB", tg_peak < RSS_TARGET_MB,
            f"{2 if quick else FILES} files Telegram→Discord (tier-2 server) in {tg_took:.1f} s"),
        Row("media", "VmHWM (peak RSS) of bridgebot run, T→D", tg_hwm, "MB",
            f"< {RSS_TARGET_MB:.0f} MB", tg_hwm < RSS_TARGET_MB, "the process's own peak"),
    ]


if __name__ == "__main__":
    for row in asyncio.run(run("--quick" in sys.argv)):
        print(f"{row.measure:<50} {row.shown():>8} {row.unit:<3} {row.target:<10} "
              f"{'' if row.met is None else ('yes' if row.met else 'NO'):<4} {row.note}")
