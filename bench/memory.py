"""Memory and flatness: does build_stack keep anything per request, does its cost grow with load?

1. Memory: ``build_stack`` (Starlette hello app, access log on, lines to a temp file) in this
   process; after a warm-up (``--warmup`` concurrent requests, as many sequential ones), three
   phases of ``--requests`` requests: in batches of 100 concurrent ones, sequential ones,
   concurrent ones again. The resident set size (psutil, else ``/proc/self/statm``) and the
   number of objects the garbage collector tracks are taken after a ``gc.collect()`` before and
   after each phase. Target: RSS growth < 1 MB per phase.
2. Flatness: per-request overhead of build_stack over the bare Starlette app at concurrency 1, 10,
   100 and 1000 (each configuration in its own process, ``--per-level`` requests per level and
   repetition, ``--repeat`` interleaved repetitions, median). It should stay flat: nothing in the
   stack is O(requests in flight).

Usage::

    python bench/memory.py [--requests 100000] [--per-level 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import sys
import tempfile
from collections.abc import Sequence

import _harness
import configs
from _harness import fmt, markdown_table, median

import asgi_obs

LEVELS = (1, 10, 100, 1000)
TARGET_MB = 1.0
_CHUNK = 10_000  # requests between truncations of the log file


def rss_bytes() -> int:
    """Resident set size of this process."""
    try:
        import psutil
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    return int(psutil.Process().memory_info().rss)


def _snapshot() -> tuple[int, int]:
    """RSS, then the number of gc-tracked objects (whose list must not count in the RSS)."""
    gc.collect()
    rss = rss_bytes()
    return rss, len(gc.get_objects())


async def _drive(app: configs.ASGIApp, requests: int, concurrent: bool, log_path: str) -> None:
    for done in range(0, requests, _CHUNK):
        chunk = min(_CHUNK, requests - done)
        if concurrent:
            await _harness.run_concurrent(app, max(chunk // 100, 1), 100)
        else:
            await _harness.run_sequential(app, chunk)
        os.truncate(log_path, 0)


def memory_phases(requests: int, warmup: int) -> list[list[str]]:
    """Run the phases in this process; return the table rows, each with its verdict."""
    with tempfile.NamedTemporaryFile(prefix="bench-memory-", suffix=".log") as tmp:
        app = configs.build_asgi_obs(tmp.name)
        loop = asyncio.new_event_loop()
        try:
            # A snapshot before the warm-up: its first list of every object (~1 MB) moves glibc's
            # mmap threshold, and the next such list would otherwise show as growth in phase 1.
            _snapshot()
            loop.run_until_complete(_drive(app, warmup, True, tmp.name))
            loop.run_until_complete(_drive(app, warmup, False, tmp.name))
            rows = []
            before = _snapshot()
            phases = [
                (f"{requests} requests, 100 concurrent", True),
                (f"{requests} requests, sequential", False),
                (f"{requests} more requests, 100 concurrent", True),
            ]
            for label, concurrent in phases:
                loop.run_until_complete(_drive(app, requests, concurrent, tmp.name))
                after = _snapshot()
                growth_mb = (after[0] - before[0]) / 2**20
                rows.append(
                    [
                        label,
                        f"{before[0] / 2**20:.1f}",
                        f"{after[0] / 2**20:.1f}",
                        f"{growth_mb:+.2f}",
                        f"{after[1] - before[1]:+d}",
                        "PASS" if growth_mb < TARGET_MB else "FAIL",
                    ]
                )
                before = after
        finally:
            loop.close()
            asgi_obs.init_structured_logging("INFO", stream=sys.stderr)  # release the temp file
    return rows


FLAT_TARGET = 1.15  # overhead at 1000 concurrent requests <= 1.15 x that at 100


def flatness(per_level: int, repeat: int) -> tuple[list[list[str]], float]:
    """Overhead of build_stack over bare Starlette at each concurrency level, in µs/request."""
    chosen = [configs.CONFIGS["bare_starlette"], configs.CONFIGS["asgi_obs"]]
    us: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as log_dir:
        workers = _harness.start_workers(chosen, log_dir, warmup=2000)
        try:
            refused = [f"{w.config.name}: {w.refused}" for w in workers if w.refused]
            if refused:
                raise SystemExit("refused: " + "; ".join(refused))
            for rep in range(repeat):
                for level in LEVELS:
                    for worker in workers if rep % 2 == 0 else workers[::-1]:
                        batches = max(per_level // level, 1)
                        value = worker.run(op="conc", batches=batches, size=level, chunks=5)
                        us.setdefault((worker.config.name, level), []).append(value)
        finally:
            for worker in workers:
                worker.stop()
    rows = []
    first = None
    overheads = {}
    for level in LEVELS:
        bare, obs = us[("bare_starlette", level)], us[("asgi_obs", level)]
        overhead = overheads[level] = median([o - b for o, b in zip(obs, bare, strict=True)])
        first = overhead if first is None else first
        rows.append(
            [str(level), fmt(median(bare)), fmt(median(obs)), fmt(overhead), f"{fmt(overhead / first, 2)}x"]
        )
    return rows, overheads[1000] / overheads[100]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100_000, help="requests per memory phase")
    parser.add_argument(
        "--warmup",
        type=int,
        default=10_000,
        help="concurrent, then sequential, requests before the first snapshot",
    )
    parser.add_argument("--per-level", type=int, default=20_000, help="requests per level and repetition")
    parser.add_argument(
        "--repeat", type=int, default=3, help="interleaved repetitions for the flatness table"
    )
    args = parser.parse_args(argv)

    print(f"1. RSS of build_stack (access log on) in-process, target growth < {TARGET_MB} MB per phase")
    rows = memory_phases(args.requests, args.warmup)
    header = ["phase (after warm-up)", "RSS before MB", "RSS after MB", "growth MB", "gc objects", "target"]
    print(markdown_table(header, rows), flush=True)
    print()
    print(f"2. overhead by concurrency ({args.per_level} requests per level, median of {args.repeat})")
    header = ["concurrency", "bare Starlette µs/req", "build_stack µs/req", "overhead µs", "vs concurrency 1"]
    flat_rows, growth = flatness(args.per_level, args.repeat)
    print(markdown_table(header, flat_rows))
    verdict = "PASS" if growth <= FLAT_TARGET else "FAIL"
    print(f"Target: overhead at 1000 concurrent / at 100 = {growth:.2f}  target ≤ {FLAT_TARGET}  {verdict}")
    return 1 if any(row[-1] == "FAIL" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
