"""The records the layers write: genuine LogRecords, with every standard attribute right."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import pytest

from asgi_obs._emit import emit_record


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
        emit_record(logger, logging.INFO, "timed", {"field": 1})
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


_FORK_SCRIPT = """
import logging, os
from asgi_obs._emit import emit_record
seen = []
class Keep(logging.Handler):
    def emit(self, record):
        seen.append(record.process)
logger = logging.getLogger("fork")
logger.addHandler(Keep())
logger.setLevel(logging.INFO)
emit_record(logger, logging.INFO, "parent", {})
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    emit_record(logger, logging.INFO, "child", {})
    os.write(write_end, f"{seen[-1]} {os.getpid()}".encode())
    os._exit(0)
os.close(write_end)
print(os.read(read_end, 100).decode())
os.waitpid(pid, 0)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_worker_records_carry_its_own_process_id() -> None:
    """Records are built from per-process prototypes: a forked worker's say its own pid."""
    # In a fresh single-threaded interpreter: forking this (multi-threaded) one is unsafe.
    output = subprocess.run([sys.executable, "-c", _FORK_SCRIPT], capture_output=True, text=True, check=True)
    recorded, actual = output.stdout.split()
    assert recorded == actual
