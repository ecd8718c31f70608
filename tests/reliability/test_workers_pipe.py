"""Two uvicorn workers on one stdout pipe: every line whole, with a fast and a lagging reader."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from asgi_obs._delivery import PIPE_BUF

from ..servers import free_port
from .harness import get, uvicorn

TAG = re.compile(r"<(\d+)-(\d+)>")


def _path(seq: int) -> str:
    # Every third record is large (5-45 KB: over PIPE_BUF, under max_line_bytes even with a
    # traceback), every fifth a traceback.
    kind = "trace" if seq % 5 == 0 else "big" if seq % 3 == 0 else "small"
    size = 5_000 + (seq * 7919) % 40_000 if kind != "small" else 200
    return f"/work?seq={seq}&size={size}&kind={kind}"


def _run(requests: int, lag: float) -> tuple[int, list[int], set[int]]:
    """Serve ``requests`` over 2 workers; return (torn lines, seqs of the app records, pids)."""
    port = free_port()
    with uvicorn(port, workers=2, lag=lag) as reader:
        with ThreadPoolExecutor(max_workers=6) as pool:  # a bounded client: 6 requests in flight
            statuses = list(pool.map(lambda seq: get(port, _path(seq)), range(requests)))
        assert statuses == [200] * requests
    torn, seen, pids = 0, [], set()
    for raw in reader.lines():
        try:
            line = json.loads(raw)
        except ValueError:
            torn += 1
            continue
        if line.get("logger") == "reliability":
            # The payload is its own tag repeated: any byte of another record inside it shows.
            tag = f"<{line['pid']}-{line['seq']}>"
            payload = line["payload"]
            if payload != tag * (len(payload) // len(tag)) or TAG.sub("", payload):
                torn += 1
            seen.append(line["seq"])
            pids.add(line["pid"])
    return torn, sorted(seen), pids


@pytest.mark.server
def test_two_workers_fast_reader_no_torn_line() -> None:
    """2,000 requests on 2 workers, records up to 45 KB (> PIPE_BUF) and tracebacks: 0 torn lines."""
    assert PIPE_BUF < 5_000  # the large records are all over PIPE_BUF
    torn, seen, pids = _run(2_000, lag=0.0)
    assert torn == 0
    assert seen == list(range(2_000))  # nothing lost, nothing doubled
    assert len(pids) == 2  # both workers wrote


@pytest.mark.server
def test_two_workers_lagging_reader_no_torn_line() -> None:
    """1,000 requests on 2 workers with a reader that sleeps between small reads: 0 torn lines."""
    torn, seen, pids = _run(1_000, lag=0.002)
    assert torn == 0
    assert seen == list(range(1_000))
    assert len(pids) == 2
