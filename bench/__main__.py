"""``python -m bench``: bridgebot's benchmarks against their targets, with a results table.

    python -m bench                      # everything, 3.5 to 4 minutes on 2 cores
    python -m bench --quick              # smaller runs, under a minute: a smoke test
    python -m bench.whatif               # experiments: what would close the gaps (1.5 min)
    python -m bench --only ingest,latency
    python -m bench --markdown results.md --json results.json
    python -m bench --median-of run1.json run2.json run3.json --markdown medians.md

Benchmarks: ``topics`` (the headline shapes: one Discord forum channel and one Telegram
forum group with 10 open topics, shipped budgets, sandboxes enforcing the published limits:
a 100-post burst and a steady 2 posts/s), ``archive`` (export, topic and index pages and
private /status and /catchup at 100,000 posts in 10 topics), ``ingest`` (durable posts/s against plain
sqlite3), ``latency`` (mirror latency at a steady 20 posts/s over 50 separate chats with the
budgets off: the old shape, a comparison only), ``burst`` (300 replies in one topic drained
against the platforms' limits), ``scale`` (100,000 posts: /status latency, RSS and startup of
``bridgebot run``; ``memory``, ``status`` and ``startup`` are aliases), ``media`` (a 5 MB photo
Telegram→Discord, and ``bridgebot run``'s memory while five 20 MB files cross). All traffic
goes to the sandbox fakes on 127.0.0.1; every benchmark stops by itself. This is not
part of the test suite (pytest's testpaths is ``tests``): figures depend on the
machine and its load, which are printed with them. The exit status is 1 when a
target was missed, 0 otherwise. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from bench import archive, burst, ingest, latency, media, scale, topics
from bench.common import Row, load_average, machine, median

BENCHMARKS: dict[str, Callable[[bool], Awaitable[list[Row] | tuple[list[Row], str]]]] = {
    "topics": topics.run,
    "archive": archive.run,
    "ingest": ingest.run,
    "latency": latency.run,
    "burst": burst.run,
    "scale": scale.run,
    "media": media.run,
}
ALIASES = {"memory": "scale", "status": "scale", "startup": "scale"}


def _selected(only: str | None) -> list[str]:
    if not only:
        return list(BENCHMARKS)
    names: list[str] = []
    for raw in only.split(","):
        name = ALIASES.get(raw.strip(), raw.strip())
        if name not in BENCHMARKS:
            raise SystemExit(f"unknown benchmark {raw!r}; choose from "
                             f"{', '.join([*BENCHMARKS, *ALIASES])}")
        if name not in names:
            names.append(name)
    return names


def _met(row: Row) -> str:
    return "" if row.met is None else ("yes" if row.met else "NO")


def table(rows: Sequence[Row]) -> str:
    """A plain-text table: what was measured, the figure, its target, whether it was met."""
    header = ("bench", "measure", "value", "target", "met", "note")
    lines = [(r.bench, r.measure, f"{r.shown()} {r.unit}".strip(), r.target, _met(r), r.note)
             for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=False)]
    widths[-1] = 0  # the note runs on
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    out += [fmt.format(*line).rstrip() for line in lines]
    return "\n".join(out)


def markdown(rows: Sequence[Row], info: dict[str, str], extra: Sequence[str]) -> str:
    out = ["| bench | measure | value | target | met | note |", "| --- | --- | --- | --- | --- | --- |"]
    out += [f"| {r.bench} | {r.measure} | {r.shown()} {r.unit} | {r.target} | {_met(r)} | {r.note} |"
            for r in rows]
    out += ["", *(f"- {k}: {v}" for k, v in info.items()), ""]
    for text in extra:
        out += ["```", text, "```", ""]
    return "\n".join(out)


def _meets(target: str, value: float) -> bool | None:
    """Whether ``value`` meets a target written as "≤ 20 ms" or "≥ 1.0x"."""
    match = re.match(r"\s*([≤≥])\s*([\d.]+)", target)
    if match is None:
        return None
    limit = float(match.group(2))
    return value <= limit if match.group(1) == "≤" else value >= limit


def medians(files: Sequence[Path]) -> tuple[list[Row], dict[str, str]]:
    """Each figure's median over several ``--json`` results (odd counts pick a real run,
    whose note is kept). A target counts as met when the median meets it and no run
    failed one of the benchmark's other conditions (durability, order, lost posts)."""
    runs = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    order: list[tuple[str, str]] = []
    values: dict[tuple[str, str], list[dict]] = {}
    for run in runs:
        for row in run["rows"]:
            key = (row["bench"], row["measure"])
            if key not in values:
                order.append(key)
                values[key] = []
            values[key].append(row)
    out: list[Row] = []
    for key in order:
        rows = sorted(values[key], key=lambda r: r["value"])
        mid = rows[(len(rows) - 1) // 2] if len(rows) % 2 else None
        value = mid["value"] if mid else median([r["value"] for r in rows])
        first = rows[0]
        met = _meets(first["target"], value) if first["target"] else None
        if met and any(r["met"] is False and _meets(r["target"], r["value"]) for r in rows):
            met = False
        note = (mid or first)["note"]
        samples = [r["value"] for r in values[key]]
        if len(samples) > 1:
            shown = ", ".join(Row("", "", v, first["unit"]).shown() for v in samples)
            note = f"runs: {shown}" + (f"; {note}" if note else "")
        out.append(Row(key[0], key[1], value, first["unit"], first["target"], met, note, samples))
    info = dict(runs[0]["machine"])
    for name in ("load average at start", "load average at end", "wall time"):
        info[name] = " | ".join(run["machine"].get(name, "?") for run in runs)
    info["runs"] = f"{len(runs)} (medians shown)"
    return out, info


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (under a minute)")
    parser.add_argument("--only", help="comma-separated: " + ", ".join([*BENCHMARKS, *ALIASES]))
    parser.add_argument("--markdown", type=Path, help="also write the results as markdown here")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON here")
    parser.add_argument("--median-of", nargs="+", type=Path, metavar="JSON",
                        help="run nothing: print the medians of earlier --json results")
    args = parser.parse_args(argv)
    if args.median_of:
        rows, info = medians(args.median_of)
        for key, value in info.items():
            print(f"{key}: {value}")
        print()
        print(table(rows))
        if args.markdown:
            args.markdown.write_text(markdown(rows, info, []), encoding="utf-8")
        return 1 if any(r.met is False for r in rows) else 0
    names = _selected(args.only)
    info = machine()
    info["load average at start"] = load_average()
    info["mode"] = "quick" if args.quick else "full"
    for key, value in info.items():
        print(f"{key}: {value}")
    rows: list[Row] = []
    extra: list[str] = []
    started = time.monotonic()
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        began = time.monotonic()
        result = await BENCHMARKS[name](args.quick)
        if isinstance(result, tuple):
            result, text = result
            extra.append(text)
        rows += result
        print(f"  {name} took {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    info["load average at end"] = load_average()
    info["wall time"] = f"{time.monotonic() - started:.0f} s"
    print()
    print(table(rows))
    for text in extra:
        print()
        print(text)
    print()
    print(f"load average at end: {info['load average at end']}; wall time {info['wall time']}")
    if args.markdown:
        args.markdown.write_text(markdown(rows, info, extra), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": [asdict(r) for r in rows]},
                                        indent=2, ensure_ascii=False), encoding="utf-8")
    missed = [r for r in rows if r.met is False]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
