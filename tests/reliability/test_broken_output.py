"""A broken stdout (reader gone, descriptor closed): one line on stderr, then a count."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import logging, os, sys
from asgi_obs import init_structured_logging
if sys.argv[1] == "epipe":  # a pipe whose reader is gone
    r, w = os.pipe(); os.close(r); os.dup2(w, 1)
init_structured_logging()
if sys.argv[1] == "closed":  # the descriptor closed under the handler
    os.close(1)
for i in range(50):
    logging.getLogger("app").info("line %d", i)
"""


# EPIPE: the reader exited; EBADF: stdout's descriptor was closed.
@pytest.mark.parametrize(("case", "error"), [("epipe", "BrokenPipeError"), ("closed", "OSError")])
def test_broken_stdout_one_line_then_a_count(case: str, error: str) -> None:
    """50 records on a broken stdout: one stderr line naming the error, then '50 log lines' lost."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, case], capture_output=True, text=True, timeout=30, check=False
    )
    ours = [line for line in result.stderr.splitlines() if line.startswith("asgi_obs:")]
    assert "--- Logging error ---" not in result.stderr
    assert len(ours) == 2, result.stderr
    assert "log output to <stdout> failed" in ours[0] and error in ours[0]
    assert ours[1].startswith("asgi_obs: 50 log lines were not written to <stdout>")
