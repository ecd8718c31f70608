"""In-process overhead of asgi_obs against the alternatives: µs per request, no HTTP involved.

Each configuration (see ``configs.py``) runs in its own fresh process, is verified (the id is
echoed, exactly one access line per request lands in a real file and carries that id), warmed
up, then timed on command: ``--repeat`` repetitions, interleaved across configurations with the
order rotated every repetition, each repetition timing ``--requests`` sequential requests and as
many requests in batches of ``--concurrency`` concurrent ones (the worker thread's CPU time,
``time.thread_time_ns``, around each of ``--chunks`` parts of the run; the median part counts,
so that a hiccup of the machine spoils a part, not the repetition). Reported per
configuration: the median µs/request over the repetitions, the median overhead over its
baseline (paired per repetition: both were timed seconds apart), and the project's target
ratios with PASS/FAIL. Usage::

    python bench/overhead.py                 # everything, ~2-3 minutes on 2 cores
    python bench/overhead.py --quick         # tiny counts, a smoke run
    python bench/overhead.py --configs asgi_obs,common,floor --repeat 9

Exit status: 1 when a configuration was refused (not installed, or failed verification),
2 with ``--check-targets`` when a target failed, 0 otherwise.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

import _harness
import configs
from _harness import fmt, median

MODES = ("seq", "conc")


@dataclass(frozen=True)
class Target:
    """``overhead(numerator) / overhead(denominator)`` must stay below ``limit``."""

    label: str
    numerator: str
    denominator: str
    limit: float
    strict: bool = False  # ``<`` instead of ``<=``

    def passes(self, ratio: float) -> bool:
        return ratio < self.limit if self.strict else ratio <= self.limit


TARGETS = [
    Target("access log on:  asgi_obs / common choice", "asgi_obs", "common", 0.3),
    Target("access log on:  asgi_obs / floor", "asgi_obs", "floor", 1.5),
    Target("access log on, raw app: asgi_obs / common choice", "asgi_obs_raw", "common_raw", 0.3),
    Target("access log on, raw app: asgi_obs / floor", "asgi_obs_raw", "floor_raw", 1.5),
    Target("access log off: asgi_obs / asgi-correlation-id alone", "asgi_obs_no_access", "cid_only", 0.55),
    Target(
        "Sentry active:  build_stack+Sentry / SentryAsgi+common",
        "asgi_obs_sentry",
        "sentry_common",
        1.0,
        True,
    ),
]


@dataclass
class Row:
    """The measurements of one configuration: µs/request per mode, one value per repetition."""

    config: configs.Config
    worker: _harness.Worker
    us: dict[str, list[float]]

    def overhead(self, rows: dict[str, Row], mode: str) -> float:
        """Median over repetitions of (this row - its baseline row), µs/request."""
        base = rows.get(self.config.baseline or "")
        if base is None:
            return float("nan") if self.config.baseline else 0.0
        pairs = zip(self.us[mode], base.us[mode], strict=True)
        return median([mine - theirs for mine, theirs in pairs if mine == mine and theirs == theirs])


def _with_baselines(chosen: list[configs.Config]) -> list[configs.Config]:
    names = {c.name for c in chosen}
    needed = [configs.CONFIGS[c.baseline] for c in chosen if c.baseline and c.baseline not in names]
    return list(dict.fromkeys([*needed, *chosen]))


_PACKAGES = ("starlette", "sentry-sdk", "asgi-correlation-id", "python-json-logger", "orjson")


def _versions() -> str:
    """The versions of the packages compared, and where asgi_obs is imported from."""
    found = []
    for package in _PACKAGES:
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{package} (not installed)")
    spec = importlib.util.find_spec("asgi_obs")
    where = os.path.dirname(os.path.dirname(spec.origin)) if spec and spec.origin else "not installed"
    git = ["git", "-C", where, "describe", "--always", "--dirty"]
    described = subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip()
    return ", ".join(found) + f"; asgi_obs from {where}" + (f" ({described})" if described else "")


def measure(rows: list[Row], *, repeat: int, requests: int, concurrency: int, chunks: int) -> None:
    """Time every row ``repeat`` times, interleaved, rotating the order each repetition."""
    batches = max(requests // concurrency, 1)
    for rep in range(repeat):
        shift = rep % len(rows)
        for row in rows[shift:] + rows[:shift]:
            row.us["seq"].append(row.worker.run(op="seq", n=requests, chunks=chunks))
            row.us["conc"].append(row.worker.run(op="conc", batches=batches, size=concurrency, chunks=chunks))
        print(f"  repetition {rep + 1}/{repeat} done", file=sys.stderr, flush=True)


def report(rows: list[Row], concurrency: int) -> list[str]:
    """Print the table and the targets; return the labels of the failed targets."""
    by_name = {row.config.name: row for row in rows}
    floor = by_name.get("floor")
    header = [
        "configuration",
        "seq µs/req",
        f"{concurrency}-conc µs/req",
        "seq overhead",
        "conc overhead",
        "over",
        "seq x bare",
        "overhead x floor (seq/conc)",
        "seq spread",
    ]
    table = []
    for row in rows:
        if row.worker.refused:
            table.append([f"{row.config.name}: {row.config.title}", "REFUSED", *["-"] * (len(header) - 2)])
            continue
        seq, conc = median(row.us["seq"]), median(row.us["conc"])
        ovh = {mode: row.overhead(by_name, mode) for mode in MODES}
        base = by_name.get(row.config.baseline or "")
        times_bare = seq / median(base.us["seq"]) if base else 1.0
        vs_floor = "-"
        if floor is not None and not floor.worker.refused and row.config.baseline == "bare_starlette":
            parts = [ovh[m] / floor.overhead(by_name, m) for m in MODES]
            vs_floor = f"{fmt(parts[0], 2)} / {fmt(parts[1], 2)}"
        values = [v for v in row.us["seq"] if v == v]
        spread = (max(values) - min(values)) / seq * 100 if values else float("nan")
        table.append(
            [
                f"{row.config.name}: {row.config.title}",
                fmt(seq),
                fmt(conc),
                fmt(ovh["seq"]),
                fmt(ovh["conc"]),
                row.config.baseline or "-",
                f"{fmt(times_bare, 2)}x",
                vs_floor,
                f"{fmt(spread, 0)}%",
            ]
        )
    print(_harness.markdown_table(header, table))
    print()
    print("overhead = median over repetitions of (row - its baseline row, timed in the same repetition)")
    print("seq spread = (max - min) / median of the row's sequential µs/request across repetitions")
    print()

    failed = []
    print("Targets (ratio of median overheads, CPU µs/request over each row's bare app):")
    for target in TARGETS:
        num, den = by_name.get(target.numerator), by_name.get(target.denominator)
        sign = "<" if target.strict else "≤"
        for mode in MODES:
            label = f"  [{mode:4}] {target.label}"
            if num is None or den is None or num.worker.refused or den.worker.refused:
                print(f"{label}: n/a (needs rows {target.numerator} and {target.denominator})")
                continue
            a, b = num.overhead(by_name, mode), den.overhead(by_name, mode)
            ratio = a / b if b > 0 else float("inf")
            verdict = "PASS" if target.passes(ratio) else "FAIL"
            if verdict == "FAIL":
                failed.append(f"{mode} {target.label}")
            print(f"{label} = {fmt(a)} / {fmt(b)} = {fmt(ratio, 2)}  target {sign} {target.limit}  {verdict}")
    for row in rows:
        if row.worker.refused:
            print(f"\nREFUSED {row.config.name}: {row.worker.refused}")
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10000, help="sequential requests per repetition")
    parser.add_argument("--concurrency", type=int, default=100, help="requests in flight per batch")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--warmup", type=int, default=2000, help="requests before timing")
    parser.add_argument("--chunks", type=int, default=5, help="timed parts per run (their median counts)")
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run, numbers meaningless")
    parser.add_argument("--configs", help=f"comma-separated subset of: {', '.join(configs.CONFIGS)}")
    parser.add_argument("--incoming-id", action="store_true", help="requests carry an X-Request-ID")
    parser.add_argument("--check-targets", action="store_true", help="exit 2 when a target fails")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.repeat, args.warmup, args.chunks = 200, 2, 100, 1

    chosen = _with_baselines(configs.select(args.configs))
    batches = max(args.requests // args.concurrency, 1)
    system = f"{platform.system()} {platform.machine()}"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {platform.python_version()} on {system}, {os.cpu_count()} CPUs, load average {load}")
    print(_versions())
    print(
        f"{len(chosen)} configurations, {args.repeat} repetitions of {args.requests} sequential requests"
        f" + {batches} batches of {args.concurrency} concurrent; warm-up {args.warmup};"
        f" incoming X-Request-ID: {'yes' if args.incoming_id else 'no (generated)'}",
        flush=True,
    )
    print()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as log_dir:
        workers = _harness.start_workers(chosen, log_dir, warmup=args.warmup, incoming_id=args.incoming_id)
        rows = [Row(w.config, w, {m: [] for m in MODES}) for w in workers]
        try:
            timed = [row for row in rows if not row.worker.refused]
            if timed:
                measure(
                    timed,
                    repeat=args.repeat,
                    requests=args.requests,
                    concurrency=args.concurrency,
                    chunks=args.chunks,
                )
        finally:
            for worker in workers:
                worker.stop()
    failed = report(rows, args.concurrency)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n(run took {time.monotonic() - started:.0f} s; load average now {load})")
    if any(row.worker.refused for row in rows):
        return 1
    return 2 if failed and args.check_targets else 0


if __name__ == "__main__":
    sys.exit(main())
