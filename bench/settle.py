"""``python -m bench.settle``: what Discord's settling buys and costs (docs/benchmarks.md).

The headline shape of ``bench/topics.py`` (one Telegram forum group and one Discord forum
channel, 10 open topics, the shipped budgets, the sandboxes enforcing the published
limits), Telegram→Discord, with settling off (``PlatformLimits.settle = 0``) and as
shipped, for three traffic shapes: a 5 s burst (100 posts), a 15 s burst (300 posts), and
4 posts/s for 30 s (more than the webhook carries one by one, but each topic only every
2.5 s). Posts are spaced evenly over the shape's time. For each: messages used, the time
from the last post written until every post is visible, and each post's latency (p50,
p99). The shape's only change is on the benchmark's side (the adapter's limits in this
process), never in bridgebot's code. About five minutes on 2 cores.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

from bench import topics
from bench.common import percentile, quiet_logs, wait_until
from bridgebot.adapters.discord.adapter import DiscordAdapter

SHAPES = ((100, 5.0), (300, 15.0), (120, 30.0))  # posts, seconds


async def shape(posts: int, seconds: float) -> str:
    """One run of ``posts`` spread evenly over ``seconds``: a line of figures."""
    with tempfile.TemporaryDirectory(prefix="bench-settle-") as tmp, quiet_logs():
        async with topics.forum(Path(tmp)) as f:
            before, limited = len(f.shown(True)), f.too_many(True)
            counts = dict.fromkeys(range(topics.TOPICS), 0)
            written: dict[tuple[int, int], float] = {}
            started = time.monotonic()
            for i in range(posts):
                t = i % topics.TOPICS
                written[(t, counts[t])] = time.monotonic()
                f.write(True, t, i, f"t{t}p{counts[t]}x my view")
                counts[t] += 1
                delay = started + (i + 1) * seconds / posts - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            last = time.monotonic()
            await wait_until(lambda: len(topics._seen(f.shown(True)[before:])) >= posts, 300,
                             "not every post arrived", interval=0.1)
            messages = f.shown(True)[before:]
            seen = topics._seen(messages)
            latencies = [seen[k] - at for k, at in written.items()]
            return (f"{posts} posts over {seconds:g} s: {len(messages)} messages "
                    f"({posts / len(messages):.2f}x), {max(seen.values()) - last:.2f} s after "
                    f"the last, per post p50 {percentile(latencies, 50):.2f} s p99 "
                    f"{percentile(latencies, 99):.2f} s, 429s "
                    f"{f.too_many(True) - limited}, in order "
                    f"{topics._in_order(messages, counts)}")


async def run(repeat: int) -> None:
    shipped = DiscordAdapter.limits
    for label, limits in (("settling off", dataclasses.replace(shipped, settle=0.0)),
                          ("as shipped", shipped)):
        DiscordAdapter.limits = limits  # this process only
        try:
            for posts, seconds in SHAPES:
                for _ in range(repeat):
                    print(f"{label}: {await shape(posts, seconds)}", flush=True)
        finally:
            DiscordAdapter.limits = shipped


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    repeat = int(args[args.index("--repeat") + 1]) if "--repeat" in args else 1
    asyncio.run(run(repeat))


if __name__ == "__main__":
    main()
