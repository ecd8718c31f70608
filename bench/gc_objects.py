"""GC-tracked objects each in-flight request keeps alive, per configuration.

Usage (from the repository root)::

    python bench/gc_objects.py            # bare_starlette, asgi_obs, asgi_obs_no_access, common, floor
    python bench/gc_objects.py --configs asgi_obs,floor --inflight 2000

Each configuration runs in its own process: ``--inflight`` requests are started and held at
``http.response.start`` (their ``send`` waits), the live GC-tracked objects are counted
(``gc.get_objects()`` after a collection) and compared with the count before. The cyclic
garbage collector walks these objects, so at high concurrency fewer of them means a flatter
cost per request.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = "bare_starlette,asgi_obs,asgi_obs_no_access,common,floor"


def _measure(name: str, inflight: int) -> float:
    sys.path.insert(0, HERE)
    import _harness
    import configs

    async def main() -> float:
        gate = asyncio.Event()

        async def held_send(message: configs.Message) -> None:
            if message["type"] == "http.response.start":
                await gate.wait()

        with tempfile.TemporaryDirectory() as folder:
            app = configs.CONFIGS[name].build(os.path.join(folder, "log.jsonl"))
            for _ in range(200):  # warm: caches, pools, first-request checks
                await app(_harness.new_scope(), _harness.receive, _harness.send_nothing)
            gc.collect()
            before = len(gc.get_objects())
            tasks = [
                asyncio.ensure_future(app(_harness.new_scope(), _harness.receive, held_send))
                for _ in range(inflight)
            ]
            await asyncio.sleep(0.05)  # every request is now waiting in its send
            gc.collect()
            during = len(gc.get_objects())
            gate.set()
            await asyncio.gather(*tasks)
            return (during - before) / inflight

    return asyncio.run(main())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", default=DEFAULT)
    parser.add_argument("--inflight", type=int, default=1000)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(f"{_measure(args.one, args.inflight):.1f}")
        return 0
    print(f"GC-tracked objects per in-flight request ({args.inflight} in flight, each row its own process)")
    values = {}
    for name in args.configs.split(","):
        argv = [sys.executable, __file__, "--one", name, "--inflight", str(args.inflight)]
        values[name] = float(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    bare = values.get("bare_starlette")
    for name, value in values.items():
        extra = (
            f"  (+{value - bare:.1f} over bare_starlette)"
            if bare is not None and name != "bare_starlette"
            else ""
        )
        print(f"  {name:20s} {value:6.1f}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
