"""Cost of delivering one log line, µs/line: how asgi_obs writes against ``StreamHandler``'s way.

One 300-byte line (an access record's size) written ``--lines`` times to a pipe drained by a
thread, and to a regular file, by:

* ``stream.write + flush``: what ``logging.StreamHandler`` does (text buffer, then a write);
* ``asgi_obs, unlocked``: the sink asgi_obs uses for files and terminals (flush of the empty
  text buffer, one ``os.write``);
* ``asgi_obs, pipe (flock)``: the sink asgi_obs uses for a pipe or socket: the same under an
  exclusive ``flock`` on the pipe's lock file, so several processes never tear a line;
* ``asgi_obs, enqueue``: ``enqueue=True``: the caller's cost only (append to the bounded queue;
  the writer thread does the rest).

CPU time of the writing thread, median of ``--repeat`` interleaved runs. Usage::

    python bench/delivery.py [--lines 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence

from _harness import fmt, markdown_table

from asgi_obs._delivery import Sink, _FdSink, make_sink
from asgi_obs._enqueue import QueuedSink

LINE = '{"message":"GET /users/5 200",' + '"x":"' + "a" * 260 + '"}'


def _drained_pipe() -> tuple[object, Callable[[], None]]:
    read_fd, write_fd = os.pipe()
    stream = os.fdopen(write_fd, "w", encoding="utf-8")

    def drain() -> None:
        while os.read(read_fd, 1 << 16):
            pass

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()

    def close() -> None:
        stream.close()
        thread.join()
        os.close(read_fd)

    return stream, close


def _time(write: Callable[[str], None], n: int) -> float:
    start = time.thread_time_ns()
    for _ in range(n):
        write(LINE)
    return (time.thread_time_ns() - start) / n / 1000


def _plain(stream: object) -> Callable[[str], None]:
    def write(text: str) -> None:
        stream.write(text + "\n")  # type: ignore[attr-defined]
        stream.flush()  # type: ignore[attr-defined]

    return write


def _runs(n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    pipe, close_pipe = _drained_pipe()
    with tempfile.TemporaryFile("w", encoding="utf-8") as file:
        out["pipe: stream.write + flush"] = _time(_plain(pipe), n)
        locked = make_sink(pipe)  # type: ignore[arg-type]
        assert isinstance(locked, _FdSink) and locked._lock is not None
        unlocked = _FdSink(pipe, pipe.fileno(), None)  # type: ignore[attr-defined, arg-type]
        out["pipe: asgi_obs, unlocked os.write"] = _time(unlocked.write, n)
        out["pipe: asgi_obs (flock + os.write)"] = _time(locked.write, n)
        queued = QueuedSink(make_sink(pipe), str)  # type: ignore[arg-type]
        out["pipe: asgi_obs enqueue (caller)"] = _time(queued.write, n)
        queued.close()
        out["file: stream.write + flush"] = _time(_plain(file), n)
        sink: Sink = make_sink(file)
        out["file: asgi_obs (os.write)"] = _time(sink.write, n)
        locked.close()
    close_pipe()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    _runs(min(args.lines, 2000))  # warm-up
    samples: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for name, value in _runs(args.lines).items():
            samples.setdefault(name, []).append(value)
    base = statistics.median(samples["pipe: stream.write + flush"])
    rows = [
        [name, fmt(statistics.median(values), 2), f"{fmt(statistics.median(values) / base, 2)}x"]
        for name, values in samples.items()
    ]
    print(f"{args.lines} lines of {len(LINE) + 1} bytes x {args.repeat} runs, median CPU µs/line")
    print(markdown_table(["how", "µs/line", "x pipe StreamHandler"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
