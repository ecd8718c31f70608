"""Instructions per request under valgrind's cachegrind: a measure the VM's speed cannot move.

Usage (from the repository root; needs ``valgrind``, e.g. ``apt-get install -y valgrind``)::

    python bench/instructions.py                       # asgi_obs, asgi_obs_no_access, common, ...
    python bench/instructions.py --configs asgi_obs,common --requests 5000

Each configuration of ``configs.py`` runs in its own process under cachegrind twice, with
``--warmup`` and ``--warmup + --requests`` sequential requests; the difference divided by
``--requests`` is the instruction count of one request, start-up excluded. ``PYTHONHASHSEED=0``
makes the runs repeatable to a few instructions.

Repeatable is not layout-independent: a ContextVar's hash comes from its address, so an
unrelated change that moves objects in memory can reshape the context's HAMT and move a row
by ~3,000 instructions (seen: removing an unused function moved ``asgi_obs_no_access`` by
3,400). Compare rows measured from one build, and read differences under ~3% with care.
(``gc.freeze()`` after start-up was tried to steady the collector's share: it made full
collections more frequent, +4,000 per request, and was dropped.) Overheads are over the
row's bare app; the targets are ``overhead.py``'s, here as ratios of instruction counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile

from overhead import TARGETS

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = (
    "asgi_obs,asgi_obs_raw,asgi_obs_no_access,asgi_obs_sentry,common,common_raw,cid_only,floor,floor_raw,"
    "sentry_common,bare_starlette,bare_raw"
)


def _serve(name: str, n: int) -> None:
    sys.path.insert(0, HERE)
    import _harness
    import configs

    with tempfile.TemporaryDirectory() as folder:  # the rows that log write to a real file
        app = configs.CONFIGS[name].build(os.path.join(folder, "log.jsonl"))
        loop = asyncio.new_event_loop()
        loop.run_until_complete(_harness.run_sequential(app, n))


def count(script: str, *args: str) -> int:
    """Instructions ``python script args...`` executes under cachegrind (``PYTHONHASHSEED=0``)."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    argv = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    argv += [sys.executable, script, *args]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stderr
    match = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if match is None:
        raise SystemExit(f"no instruction count from cachegrind for {script} {args}:\n{out}")
    return int(match.group(1).replace(",", ""))


def valgrind_missing() -> bool:
    """Say so (and tell how to install it) when valgrind is not on the PATH."""
    if shutil.which("valgrind") is None:
        print("valgrind not found: apt-get install -y valgrind (nothing measured)")
        return True
    return False


def _instructions(name: str, n: int) -> int:
    return count(__file__, "--serve", name, str(n))


def _overhead(per_request: dict[str, int], name: str) -> int | None:
    """Instructions of ``name`` over its baseline row (both measured), else ``None``."""
    sys.path.insert(0, HERE)
    import configs

    base = configs.CONFIGS[name].baseline
    if name not in per_request or base not in per_request:
        return None
    return per_request[name] - per_request[base]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", default=DEFAULT)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve[0], int(args.serve[1]))
        return 0
    if valgrind_missing():
        return 1
    per_request = {}
    for name in args.configs.split(","):
        low = _instructions(name, args.warmup)
        high = _instructions(name, args.warmup + args.requests)
        per_request[name] = (high - low) // args.requests
        print(f"{name:20s} {per_request[name]:>9,d} instructions/request", flush=True)
    print("Targets (ratio of overheads in instructions/request over each row's bare app):")
    for target in TARGETS:
        num, den = _overhead(per_request, target.numerator), _overhead(per_request, target.denominator)
        if num is None or den is None:
            continue
        ratio = num / den if den > 0 else float("inf")
        verdict = "PASS" if target.passes(ratio) else "FAIL"
        sign = "<" if target.strict else "≤"
        print(
            f"  {target.label} = {num:,d} / {den:,d} = {ratio:.3f}  target {sign} {target.limit}  {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
