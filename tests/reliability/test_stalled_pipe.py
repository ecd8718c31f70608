"""A stdout pipe nobody reads for a while: with enqueue the service goes on; without, it stalls."""

from __future__ import annotations

import json
import threading
import time

import pytest

from ..servers import free_port
from .harness import get, uvicorn

BIG = 40_000  # characters per record: the 64 KiB pipe is full after two


@pytest.mark.server
def test_enqueue_keeps_serving_and_counts_drops_exactly() -> None:
    """LOG_ENQUEUE=1, stalled reader: 150 requests and /health answered; drops reported exactly."""
    port = free_port()
    with uvicorn(port, env={"LOG_ENQUEUE": "1"}, paused=True) as reader:
        statuses = [get(port, f"/work?seq={seq}&size={BIG}&kind=big") for seq in range(150)]
        statuses += [get(port, "/health") for _ in range(10)]
        assert statuses == [200] * 160  # answered while nobody read stdout
        reader.resume()
        deadline = time.monotonic() + 30  # the writer catches up, then reports
        while b'"dropped_lines"' not in reader.data and time.monotonic() < deadline:
            time.sleep(0.05)
    lines = [json.loads(raw) for raw in reader.lines()]
    app = [line for line in lines if line["logger"] in ("reliability", "asgi_obs.access")]
    dropped = sum(line["dropped_lines"] for line in lines if line["logger"] == "asgi_obs.output")
    assert dropped > 0
    assert len(app) + dropped == 150 * 2 + 10  # each /work: its record + access; each /health: access


@pytest.mark.server
def test_without_enqueue_a_stalled_reader_stalls_the_service() -> None:
    """Default (blocking): with stdout unread, /health hangs until the pipe is read (documented)."""
    port = free_port()
    with uvicorn(port, paused=True) as reader:
        results: list[int] = []
        filler = threading.Thread(
            target=lambda: results.extend(get(port, f"/work?seq={s}&size={BIG}&kind=big") for s in range(4))
        )
        filler.start()
        time.sleep(0.5)
        with pytest.raises(TimeoutError):
            get(port, "/health", timeout=2.0)  # the event loop is blocked in write()
        reader.resume()  # reading releases it: nothing was lost
        assert get(port, "/health") == 200
        filler.join(timeout=20)
        assert results == [200] * 4
    lines = [json.loads(raw) for raw in reader.lines()]
    assert sorted(line["seq"] for line in lines if line["logger"] == "reliability") == [0, 1, 2, 3]
