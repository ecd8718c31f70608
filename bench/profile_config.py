"""Where the time goes: one configuration under cProfile (or pyinstrument), sequential requests.

Builds the configuration in this process (lines to a temp file), verifies it, warms it up, then
profiles ``--requests`` sequential requests and prints the top ``--top`` functions by own time
(``tottime``). Usage::

    python bench/profile_config.py                          # asgi_obs, 20000 requests, top 20
    python bench/profile_config.py --config common --sort cumulative
    python bench/profile_config.py --sort cumulative --only asgi_obs
    python bench/profile_config.py --pyinstrument           # call tree instead (pip install pyinstrument)

Profiling inflates the cost of small Python functions: use it to see where the time goes,
``overhead.py`` to see how much there is.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
from collections.abc import Sequence

import _harness
import configs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="asgi_obs", choices=list(configs.CONFIGS))
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative ...)")
    parser.add_argument("--only", help="a regex on file:line(function), e.g. asgi_obs")
    parser.add_argument("--pyinstrument", action="store_true", help="a pyinstrument call tree instead")
    args = parser.parse_args(argv)

    config = configs.CONFIGS[args.config]
    with tempfile.NamedTemporaryFile(prefix="bench-profile-", suffix=".log") as tmp:
        app = config.build(tmp.name)
        loop = asyncio.new_event_loop()
        loop.run_until_complete(_harness.verify(app, config, tmp.name))
        loop.run_until_complete(_harness.run_sequential(app, 2000))
        print(f"{config.name} ({config.title}): {args.requests} sequential requests\n")
        if args.pyinstrument:
            from pyinstrument import Profiler

            with Profiler(interval=0.0001) as sampler:
                loop.run_until_complete(_harness.run_sequential(app, args.requests))
            print(sampler.output_text(unicode=True, color=False, show_all=False))
        else:
            tracer = cProfile.Profile()
            tracer.enable()
            loop.run_until_complete(_harness.run_sequential(app, args.requests))
            tracer.disable()
            out = io.StringIO()
            restrictions = [args.only, args.top] if args.only else [args.top]
            pstats.Stats(tracer, stream=out).sort_stats(args.sort).print_stats(*restrictions)
            print(out.getvalue())
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
