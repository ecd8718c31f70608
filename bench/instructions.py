"""Instructions per request under valgrind's cachegrind: a measure the VM's speed cannot move.

Usage (from the repository root; needs ``valgrind``, e.g. ``apt-get install -y valgrind``)::

    python bench/instructions.py                       # asgi_obs, asgi_obs_no_access, common, ...
    python bench/instructions.py --configs asgi_obs,common --requests 5000

Each configuration of ``configs.py`` runs in its own process under cachegrind twice, with
``--warmup`` and ``--warmup + --requests`` sequential requests; the difference divided by
``--requests`` is the instruction count of one request, start-up excluded. ``PYTHONHASHSEED=0``
makes the runs repeatable to a few instructions. Overheads are over the row's bare app; the
ratios are the README's "x common" and "x floor".
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

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = "asgi_obs,asgi_obs_raw,asgi_obs_no_access,common,cid_only,floor,bare_starlette,bare_raw"


def _serve(name: str, n: int) -> None:
    sys.path.insert(0, HERE)
    import _harness
    import configs

    with tempfile.TemporaryDirectory() as folder:  # the rows that log write to a real file
        app = configs.CONFIGS[name].build(os.path.join(folder, "log.jsonl"))
        loop = asyncio.new_event_loop()
        loop.run_until_complete(_harness.run_sequential(app, n))


def _instructions(name: str, n: int) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    argv = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    argv += [sys.executable, __file__, "--serve", name, str(n)]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stderr
    match = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if match is None:
        raise SystemExit(f"no instruction count from cachegrind for {name}:\n{out}")
    return int(match.group(1).replace(",", ""))


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
    if shutil.which("valgrind") is None:
        print("valgrind not found: apt-get install -y valgrind (nothing measured)")
        return 1
    per_request = {}
    for name in args.configs.split(","):
        low = _instructions(name, args.warmup)
        high = _instructions(name, args.warmup + args.requests)
        per_request[name] = (high - low) // args.requests
        print(f"{name:20s} {per_request[name]:>9,d} instructions/request", flush=True)
    bare = {"asgi_obs_raw": "bare_raw"}

    def overhead(name: str) -> int | None:
        base = bare.get(name, "bare_starlette")
        if name not in per_request or base not in per_request:
            return None
        return per_request[name] - per_request[base]

    common, floor, cid = overhead("common"), overhead("floor"), overhead("cid_only")
    for name in ("asgi_obs", "asgi_obs_no_access"):
        mine = overhead(name)
        if mine is None:
            continue
        parts = [f"{name}: overhead {mine:,d}"]
        if common:
            parts.append(f"x common {mine / common:.3f}")
        if floor:
            parts.append(f"x floor {mine / floor:.3f}")
        if cid and name == "asgi_obs_no_access":
            parts.append(f"x asgi-correlation-id alone {mine / cid:.3f}")
        print("  " + ", ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
