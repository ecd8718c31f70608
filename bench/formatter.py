"""Cost of one JSON log record: asgi_obs' formatter against python-json-logger's, µs/record.

One typical record (a message, three ``extra=`` fields, ``request_id`` and ``trace_id``), measured
two ways:

* formatter only: ``formatter.format(record)`` on a ready ``LogRecord``;
* full call: ``logger.info("user logged in", extra={...})`` inside a request context, through the
  root logger's ``StreamHandler`` (which flushes every record) into a temp file. The asgi_obs rows
  use ``init_structured_logging(stream=..., use_orjson=...)`` (its filters included); the
  python-json-logger rows a ``StreamHandler`` with a one-line filter copying the two ids from the
  ContextVars onto the record.

Each measurement is repeated ``--repeat`` times, interleaved with the order rotated; the median
is printed. One sample line per row follows the table, so the outputs can be compared.

A second table gives ``format()`` per schema preset (``CustomJsonFormatter(schema=...)``, orjson)
next to the default, for the same typical record and for an access record as the access layer
writes it (the formatter's fast path). Usage::

    python bench/formatter.py [--records 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from _harness import fmt, markdown_table, median
from pythonjsonlogger.json import JsonFormatter

import asgi_obs
from asgi_obs._emit import emit_record
from asgi_obs.fields import SCHEMAS

EXTRA = {"user_id": 42, "plan": "pro", "elapsed_ms": 12.5}
REQUEST_ID = "9f1c2b7a4e5d4c3b8a7f6e5d4c3b2a19"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PJL_FORMAT = "%(levelname)s %(name)s %(message)s"


class _IdsFilter(logging.Filter):
    """The ids onto the record, as ``CorrelationIdFilter`` does for asgi-correlation-id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = asgi_obs.request_id_var.get()
        record.trace_id = asgi_obs.trace_id_var.get()
        return True


@dataclass(frozen=True)
class Candidate:
    """One formatter, and how to install it as the root handler writing to ``stream``."""

    name: str
    formatter: Callable[[], logging.Formatter]
    asgi_obs_orjson: bool | None  # None: a python-json-logger formatter

    def install(self, stream: IO[str]) -> None:
        if self.asgi_obs_orjson is not None:
            asgi_obs.init_structured_logging("INFO", stream=stream, use_orjson=self.asgi_obs_orjson)
            return
        handler = logging.StreamHandler(stream)
        handler.addFilter(_IdsFilter())
        handler.setFormatter(self.formatter())
        root = logging.getLogger()
        for old in root.handlers[:]:
            root.removeHandler(old)
        root.addHandler(handler)
        root.setLevel(logging.INFO)


def _orjson_formatter() -> logging.Formatter:
    from pythonjsonlogger.orjson import OrjsonFormatter

    return OrjsonFormatter(PJL_FORMAT, timestamp=True)


CANDIDATES = [
    Candidate(
        "asgi_obs CustomJsonFormatter, stdlib json",
        lambda: asgi_obs.CustomJsonFormatter(use_orjson=False),
        False,
    ),
    Candidate(
        "asgi_obs CustomJsonFormatter, orjson", lambda: asgi_obs.CustomJsonFormatter(use_orjson=True), True
    ),
    Candidate("python-json-logger JsonFormatter", lambda: JsonFormatter(PJL_FORMAT, timestamp=True), None),
    Candidate("python-json-logger OrjsonFormatter", _orjson_formatter, None),
]


def typical_record() -> logging.LogRecord:
    """The record ``logger.info("user logged in", extra=EXTRA)`` makes, ids already attached."""
    logger = logging.getLogger("app")
    record = logger.makeRecord("app", logging.INFO, __file__, 1, "user logged in", (), None, extra=EXTRA)
    record.request_id = REQUEST_ID
    record.trace_id = TRACE_ID
    return record


ACCESS_FIELDS: dict[str, Any] = {
    "method": "GET",
    "path": "/users/5",
    "route": "/users/{user_id}",
    "status": 200,
    "duration_ms": 1.234,
    "request_bytes": 0,
    "response_bytes": 512,
    "client_ip": "127.0.0.1",
    "user_agent": "bench/1.0",
    "http_version": "1.1",
    "outcome": "success",
}


class _Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        self.record = record


def access_record() -> logging.LogRecord:
    """The access record as the access layer writes it (a ``LayerRecord``), ids attached."""
    logger = logging.getLogger("bench.access")
    keep = _Keep()
    logger.handlers[:] = [keep]
    logger.propagate = False
    emit_record(logger, logging.INFO, "GET /users/5 200", dict(ACCESS_FIELDS), kind="access")
    record = keep.record
    record.__dict__["request_id"] = REQUEST_ID  # as emit_record does inside a request
    record.__dict__["trace_id"] = TRACE_ID
    return record


def time_access(formatter: logging.Formatter, n: int) -> float:
    """µs per ``formatter.format(record)`` of a fresh access record (the fast path)."""
    record = access_record()
    attrs = record.__dict__
    start = time.perf_counter_ns()
    for _ in range(n):
        attrs.pop("message", None)  # format() adds it; a fresh record has none
        formatter.format(record)
    return (time.perf_counter_ns() - start) / n / 1000


def schema_table(n: int, repeat: int) -> None:
    """format() µs per schema preset, typical and access record, median of ``repeat`` runs."""
    formatters = {name: asgi_obs.CustomJsonFormatter(use_orjson=True, schema=name) for name in SCHEMAS}
    timings: dict[str, dict[str, list[float]]] = {name: {"typical": [], "access": []} for name in SCHEMAS}
    for formatter in formatters.values():  # warm-up
        time_format(formatter, min(n, 1000))
        time_access(formatter, min(n, 1000))
    for rep in range(repeat):
        order = list(SCHEMAS[rep % len(SCHEMAS) :] + SCHEMAS[: rep % len(SCHEMAS)])
        for name in order:
            timings[name]["typical"].append(time_format(formatters[name], n))
            timings[name]["access"].append(time_access(formatters[name], n))
    base = {kind: median(timings["default"][kind]) for kind in ("typical", "access")}
    rows = []
    for name in SCHEMAS:
        typical, access = median(timings[name]["typical"]), median(timings[name]["access"])
        rows.append(
            [
                name,
                fmt(typical, 2),
                f"{fmt(typical / base['typical'], 2)}x",
                fmt(access, 2),
                f"{fmt(access / base['access'], 2)}x",
            ]
        )
    print("\nschema presets (CustomJsonFormatter(schema=...), orjson), median µs/record")
    header = ["schema", "typical format() µs", "x default", "access record format() µs", "x default"]
    print(markdown_table(header, rows))
    print("\nsample access lines per schema:")
    for name, formatter in formatters.items():
        print(f"  {name}:\n    {formatter.format(access_record())}")


def time_format(formatter: logging.Formatter, n: int) -> float:
    """µs per ``formatter.format(record)``."""
    record = typical_record()
    start = time.perf_counter_ns()
    for _ in range(n):
        formatter.format(record)
    return (time.perf_counter_ns() - start) / n / 1000


def time_logger(candidate: Candidate, n: int, path: str) -> float:
    """µs per ``logger.info(...)`` through the installed handler into the file at ``path``."""
    with open(path, "w", encoding="utf-8") as stream:
        candidate.install(stream)
        logger = logging.getLogger("app")
        rid = asgi_obs.request_id_var.set(REQUEST_ID)
        tid = asgi_obs.trace_id_var.set(TRACE_ID)
        try:
            start = time.perf_counter_ns()
            for _ in range(n):
                logger.info("user logged in", extra=EXTRA)
            elapsed = time.perf_counter_ns() - start
        finally:
            asgi_obs.trace_id_var.reset(tid)
            asgi_obs.request_id_var.reset(rid)
            logging.getLogger().handlers.clear()
    return elapsed / n / 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20000, help="records per measurement")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved repetitions")
    args = parser.parse_args(argv)

    formatters = [c.formatter() for c in CANDIDATES]
    results: dict[str, dict[str, list[float]]] = {c.name: {"format": [], "logger": []} for c in CANDIDATES}
    with tempfile.NamedTemporaryFile(prefix="bench-formatter-", suffix=".log") as tmp:
        for formatter, candidate in zip(formatters, CANDIDATES, strict=True):  # warm-up
            time_format(formatter, min(args.records, 1000))
            time_logger(candidate, min(args.records, 1000), tmp.name)
        for rep in range(args.repeat):
            order = list(range(len(CANDIDATES)))
            order = order[rep % len(order) :] + order[: rep % len(order)]
            for i in order:
                results[CANDIDATES[i].name]["format"].append(time_format(formatters[i], args.records))
                results[CANDIDATES[i].name]["logger"].append(
                    time_logger(CANDIDATES[i], args.records, tmp.name)
                )

    base = results[CANDIDATES[2].name]
    rows = []
    for candidate in CANDIDATES:
        fmt_us, log_us = median(results[candidate.name]["format"]), median(results[candidate.name]["logger"])
        rows.append(
            [
                candidate.name,
                fmt(fmt_us, 2),
                f"{fmt(fmt_us / median(base['format']), 2)}x",
                fmt(log_us, 2),
                f"{fmt(log_us / median(base['logger']), 2)}x",
            ]
        )
    print(f"{args.records} records x {args.repeat} interleaved repetitions, median µs/record")
    header = ["formatter", "format() µs", "x pjl Json", "logger.info() to file µs", "x pjl Json"]
    print(markdown_table(header, rows))
    print("\nsample lines (formatter only):")
    for formatter, candidate in zip(formatters, CANDIDATES, strict=True):
        print(f"  {candidate.name}:\n    {formatter.format(typical_record())}")
    schema_table(args.records, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
