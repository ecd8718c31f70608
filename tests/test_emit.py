"""The records the layers write: genuine LogRecords, with every standard attribute right."""

from __future__ import annotations

import logging
import os
import time

import pytest

from asgi_obs._emit import emit_record

from .forking import probe_child_and_parent


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_time_attributes_agree_with_logrecord() -> None:
    """created, msecs and relativeCreated mean what LogRecord.__init__ makes them mean."""
    logger = logging.getLogger("test.emit.time")
    keep = _Keep()
    logger.addHandler(keep)
    logger.propagate = False
    try:
        before = time.time()
        emit_record(logger, logging.INFO, "timed", {"field": 1}, kind="access")
        after = time.time()
    finally:
        logger.removeHandler(keep)
        logger.propagate = True
    (record,) = keep.records
    assert before - 0.001 <= record.created <= after + 0.001
    assert record.msecs == int(record.msecs)  # whole milliseconds, as a float
    assert -0.01 < (record.created - int(record.created)) * 1000 - record.msecs < 1.0  # float rounding
    start = logging._startTime  # type: ignore[attr-defined]
    start_s = start / 1e9 if isinstance(start, int) else start  # ns on Python 3.13+
    assert abs(record.relativeCreated - (record.created - start_s) * 1000) < 1.0
    assert (record.getMessage(), record.field, record.levelname) == ("timed", 1, "INFO")  # type: ignore[attr-defined]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_worker_records_carry_its_own_process_id() -> None:
    """Records are built from per-process prototypes: a forked worker's say its own pid."""
    setup = (
        "import logging\n"
        "from asgi_obs._emit import emit_record\n"
        "seen = []\n"
        "class Keep(logging.Handler):\n"
        "    def emit(self, record):\n"
        "        seen.append(record.process)\n"
        "logger = logging.getLogger('fork')\n"
        "logger.addHandler(Keep())\n"
        "logger.setLevel(logging.INFO)\n"
        "def probe():\n"
        "    emit_record(logger, logging.INFO, 'probe', {}, kind='access')\n"
        "    return f'{seen[-1]} {os.getpid()}'\n"
        "probe()  # the parent's prototype exists before the fork\n"
    )
    for reported in probe_child_and_parent(setup):
        recorded, actual = reported.split()
        assert recorded == actual
