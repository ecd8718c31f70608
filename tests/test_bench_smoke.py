"""The benchmark scripts still run: tiny counts, as subprocesses, on what the test extras install.

The test environment has no asgi-correlation-id and no psutil, so only the configurations that
need neither are run (``--configs``); the numbers of such a run mean nothing, the point is that
every row is built, verified, timed and reported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
# Every configuration whose packages come with the test extras (starlette, orjson, sentry-sdk).
AVAILABLE = "bare_raw,bare_starlette,asgi_obs,asgi_obs_no_access,asgi_obs_raw,floor"


def run_bench(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_overhead_quick_run_prints_the_table_and_targets() -> None:
    """A quick run verifies and times every available row, and prints the table and the targets."""
    result = run_bench("overhead.py", "--quick", "--configs", AVAILABLE)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in AVAILABLE.split(","):
        assert f"| {name}: " in result.stdout
    assert "REFUSED" not in result.stdout
    assert "Targets (ratio of median overheads" in result.stdout
    assert "access log on:  asgi_obs / floor = " in result.stdout
    assert "n/a (needs rows asgi_obs and common)" in result.stdout


def test_overhead_refuses_a_row_that_writes_two_lines_per_request() -> None:
    """A configuration writing two access lines per request is refused, not timed."""
    result = run_bench("overhead.py", "--quick", "--configs", "selftest_refused")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "REFUSED selftest_refused: verification failed: expected 70 access lines" in result.stdout


def test_formatter_bench_prints_every_formatter() -> None:
    """The formatter benchmark runs with a tiny count and reports the four formatters."""
    result = run_bench("formatter.py", "--records", "200", "--repeat", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("CustomJsonFormatter, stdlib json", "CustomJsonFormatter, orjson", "OrjsonFormatter"):
        assert f"| asgi_obs {name}" in result.stdout or f"| python-json-logger {name}" in result.stdout


def test_delivery_bench_prints_every_row() -> None:
    """bench/delivery.py runs with tiny counts and prints a row per way of writing a line."""
    result = run_bench("delivery.py", "--lines", "200", "--repeat", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    for row in ("pipe: stream.write + flush", "pipe: asgi_obs (flock + os.write)", "pipe: asgi_obs enqueue"):
        assert f"| {row}" in result.stdout


def test_sentry_outage_bench_quick_run_prints_every_row() -> None:
    """bench/sentry_outage.py --quick serves every Sentry mode, answers all, prints the ratios."""
    result = run_bench("sentry_outage.py", "--quick")
    assert result.returncode == 0, result.stdout + result.stderr
    for row in ("ok", "closed", "error", "hang", "closed/stock"):
        assert f"| {row} | " in result.stdout
    assert "WRONG ANSWER" not in result.stdout
    assert "urllib3.connectionpool" in result.stdout  # the stock row's retry lines are counted
