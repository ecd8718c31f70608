"""What a Sentry outage costs the requests: latency with Sentry down, erroring or hanging.

Real uvicorn servers on 127.0.0.1 serve the same app (``_outage_app.py``: ``build_stack`` over a
raw ASGI app, ``init_structured_logging()`` to a file, ``init_sentry()`` from ``SENTRY_DSN``),
each pointed at a different Sentry:

* ``ok``: a loopback envelope sink answering 200 (the baseline of every ratio);
* ``closed``: a free port nobody listens on (connection refused);
* ``error``: a sink answering 500;
* ``hang``: a sink holding every connection open (10 s, then 200);
* ``closed/stock`` (``--stock closed``, the default; any modes, comma-separated): the same Sentry,
  with ``init_sentry(transport=sentry_sdk.transport.HttpTransport)``, sentry-sdk's own transport
  instead of asgi_obs' ``QuietHttpTransport``: the "before" row.

The sinks run in their own process at a low CPU priority (nice 10) and only count what they get
(``_outage_sink.py``): a real Sentry's work is on another host. Every ``--fail-every``-th request is
``GET /fail`` (an exception: a 500 and one Sentry event), the others ``GET /ok``. The client
(asyncio, ``--concurrency`` keep-alive connections) sends ``--rounds`` batches of ``--requests``
to each server, interleaved with the order rotated each round, one server at a time. Printed per
server: p50/p90 latency of successes and failures, and the **median over rounds of the ratio to
``ok`` in the same round** (drift and neighbours' load cancel); CPU per request of the server's
main (event loop) thread and of its other threads (sentry-sdk's worker); what it wrote besides
its own records (lines per logger, stderr bytes); events the sink received. Every response is
checked (status, ``x-request-id``); a wrong one makes the exit status 1. Usage::

    python bench/sentry_outage.py            # 5 servers x 20 rounds x 250 requests, ~1.5 min
    python bench/sentry_outage.py --quick    # a smoke run: the numbers mean nothing
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
MODES = ("ok", "closed", "error", "hang")
QUANTILES = (("ok", 0.5), ("ok", 0.9), ("fail", 0.5), ("fail", 0.9))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def thread_cpu_ns(pid: int) -> tuple[int, int]:
    """On-CPU nanoseconds of the process's main thread and of all its other threads."""
    main = other = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                ns = int(fh.read().split()[0])
        except (OSError, ValueError):
            continue  # a thread that just ended
        if int(tid) == pid:
            main += ns
        else:
            other += ns
    return main, other


@dataclass
class Server:
    mode: str
    dsn: str
    port: int
    proc: subprocess.Popen[bytes]
    out_path: str
    err_path: str
    stock: bool = False
    rounds: list[dict[str, list[float]]] = field(default_factory=list)  # per round: "ok"/"fail" ms
    main_cpu_ns: int = 0
    other_cpu_ns: int = 0
    timed: int = 0
    bad: Counter[str] = field(default_factory=Counter)


def start_server(mode: str, dsn: str, tmp: str, extra_env: dict[str, str], stock: bool) -> Server:
    port = free_port()
    name = f"{mode}-stock" if stock else mode
    out_path, err_path = os.path.join(tmp, f"{name}.out"), os.path.join(tmp, f"{name}.err")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOG_", "SENTRY_", "OUTAGE_"))}
    env.update({"SENTRY_DSN": dsn, "PYTHONPATH": ROOT, **extra_env})
    if stock:
        env["OUTAGE_STOCK_TRANSPORT"] = "1"
    argv = [sys.executable, "-m", "uvicorn", "--app-dir", BENCH_DIR, "_outage_app:app"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--lifespan", "off", "--no-access-log"]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=ROOT)
    server = Server(f"{mode}/stock" if stock else mode, dsn, port, proc, out_path, err_path, stock)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return server
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    stop(server)
    with open(err_path) as fh:
        raise SystemExit(f"server {mode} did not start; stderr: {fh.read()[-2000:]}")


def stop(server: Server) -> None:
    if server.proc.poll() is None:
        os.kill(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=10)


async def one_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
) -> tuple[int, bool]:
    """One keep-alive GET; the status and whether an ``x-request-id`` header came back."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: outage-bench\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    headers = {k.lower(): v for k, v in headers.items()}
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, bool(headers.get("x-request-id"))


async def batch(server: Server, n: int, concurrency: int, fail_every: int, record: bool) -> None:
    """``n`` requests over ``concurrency`` connections pulling from one shared sequence."""
    indices = iter(range(n))
    times: dict[str, list[float]] = {"ok": [], "fail": []}
    if record:
        server.rounds.append(times)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            for i in indices:
                fail = i % fail_every == 0
                start = time.perf_counter()
                status, has_id = await one_request(reader, writer, "/fail" if fail else "/ok")
                elapsed = (time.perf_counter() - start) * 1000
                if status != (500 if fail else 200) or not has_id:
                    server.bad[f"status {status}, id {has_id}"] += 1
                times["fail" if fail else "ok"].append(elapsed)
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(connection() for _ in range(concurrency)))


def quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def pooled(server: Server, kind: str, q: float) -> float:
    return quantile([ms for times in server.rounds for ms in times[kind]], q)


def paired_ratio(server: Server, base: Server, kind: str, q: float) -> float:
    """Median over rounds of (this server's quantile / the baseline's, same round)."""
    ratios = []
    for mine, theirs in zip(server.rounds, base.rounds, strict=True):
        ref = quantile(theirs[kind], q)
        if ref:
            ratios.append(quantile(mine[kind], q) / ref)
    return statistics.median(ratios) if ratios else 0.0


def log_census(server: Server) -> tuple[Counter[str], int, int]:
    """Lines the server wrote per logger, non-JSON lines, stderr bytes."""
    loggers: Counter[str] = Counter()
    non_json = 0
    with open(server.out_path, "rb") as fh:
        for raw in fh:
            try:
                loggers[json.loads(raw)["logger"]] += 1
            except (ValueError, KeyError, TypeError):
                non_json += 1
    return loggers, non_json, os.path.getsize(server.err_path)


def run(args: argparse.Namespace) -> int:
    extra_env = dict(item.split("=", 1) for item in args.env)
    sink_proc = subprocess.Popen(
        [sys.executable, os.path.join(BENCH_DIR, "_outage_sink.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert sink_proc.stdin is not None and sink_proc.stdout is not None
    ports = json.loads(sink_proc.stdout.readline())
    ports["closed"] = free_port()  # nobody listens there: connection refused
    servers: list[Server] = []
    tmp = tempfile.mkdtemp(prefix="sentry-outage-")
    try:
        stock = [m for m in args.stock.split(",") if m]
        for mode, use_stock in [(m, False) for m in MODES] + [(m, True) for m in stock]:
            dsn = f"http://public@127.0.0.1:{ports[mode]}/1"
            servers.append(start_server(mode, dsn, tmp, extra_env, use_stock))
        loop = asyncio.new_event_loop()
        for server in servers:  # verification + warm-up, untimed
            loop.run_until_complete(batch(server, args.warmup, args.concurrency, args.fail_every, False))
        for rnd in range(args.rounds):
            order = servers[rnd % len(servers) :] + servers[: rnd % len(servers)]
            for server in order:
                before = thread_cpu_ns(server.proc.pid)
                loop.run_until_complete(batch(server, args.requests, args.concurrency, args.fail_every, True))
                time.sleep(args.settle)  # the worker's backlog is charged to this server, not the next
                after = thread_cpu_ns(server.proc.pid)
                server.main_cpu_ns += after[0] - before[0]
                server.other_cpu_ns += after[1] - before[1]
                server.timed += args.requests
        loop.close()
    finally:
        for server in servers:
            stop(server)
        sink_proc.stdin.close()
        tail = sink_proc.stdout.readline()
        sink_proc.wait(timeout=30)
    received = json.loads(tail) if tail else {}
    report(servers, received, args)
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if any(server.bad for server in servers) else 0


def report(servers: list[Server], received: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"# Sentry outage: {args.rounds} rounds x {args.requests} requests per server, "
        f"concurrency {args.concurrency}, 1 in {args.fail_every} fails; sentry-sdk {sentry_version()}"
    )
    print("# ratios: median over rounds of (server / ok sink, same round)")
    print()
    base = servers[0]
    print(
        "| sentry | ok p50 ms | ok p90 ms | fail p50 ms | fail p90 ms | ok p50 x | ok p90 x | "
        "fail p50 x | fail p90 x | main CPU µs/req | other threads µs/req |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in servers:
        row = [pooled(s, kind, q) for kind, q in QUANTILES]
        ratios = [paired_ratio(s, base, kind, q) for kind, q in QUANTILES]
        cpu = [s.main_cpu_ns / s.timed / 1000, s.other_cpu_ns / s.timed / 1000] if s.timed else [0.0, 0.0]
        print(
            f"| {s.mode} | "
            + " | ".join(f"{x:.2f}" for x in row + ratios)
            + " | "
            + " | ".join(f"{x:.0f}" for x in cpu)
            + " |"
        )
    print()
    print("| sentry | answered wrongly | lines by logger | non-JSON lines | stderr bytes |")
    print("|---|---|---|---|---|")
    for s in servers:
        loggers, non_json, err_bytes = log_census(s)
        lines = ", ".join(f"{k}: {v}" for k, v in sorted(loggers.items())) or "none"
        print(f"| {s.mode} | {sum(s.bad.values())} | {lines} | {non_json} | {err_bytes} |")
    print()
    failures = sum(1 for i in range(args.warmup) if i % args.fail_every == 0)
    failures += args.rounds * sum(1 for i in range(args.requests) if i % args.fail_every == 0)
    print(
        f"Envelopes received per sink (each server captured {failures} events): "
        + ", ".join(f"{mode} {received.get(mode, '?')}" for mode in ("ok", "error", "hang"))
    )
    for s in servers:
        for reason, count in s.bad.items():
            print(f"WRONG ANSWER {s.mode}: {reason} x{count}")


def sentry_version() -> str:
    try:
        import sentry_sdk

        return str(sentry_sdk.VERSION)
    except ImportError:
        return "not installed"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=250, help="requests per server per round")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--fail-every", type=int, default=4, help="every Nth request fails")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--settle", type=float, default=0.2, help="seconds after each batch")
    parser.add_argument("--stock", default="closed", help="modes also run with sentry-sdk's transport")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for every server")
    parser.add_argument("--quick", action="store_true", help="2 rounds x 40 requests: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds, args.warmup, args.settle = 40, 2, 8, 0.05
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
