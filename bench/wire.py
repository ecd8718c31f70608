"""Throughput over the wire: uvicorn (1 worker, httptools, uvloop) driven by ``wrk`` on 127.0.0.1.

Every configuration gets its own uvicorn process on a free port (``configs.create_from_env`` as
the ``--factory``, access lines to a temp file, ``--no-access-log``). Before timing, each server
is verified with two real requests (without and with an incoming ``X-Request-ID``): the id comes
back in the response header and exactly one access line per request lands in the file carrying
it. Then a short ``wrk`` warm-up per server, and ``--runs`` interleaved runs (order rotated) of
``wrk -t2 -c64 -d<seconds>`` per configuration; the median requests/s is reported, with the ratios
to bare Starlette and to the floor, and the check that the file got one line per response served.
Servers are stopped by their PID. Usage::

    python bench/wire.py                     # 4 configurations x 3 runs x 10 s, ~2.5 minutes
    python bench/wire.py --duration 5 --runs 5

On a 2-core machine wrk and the server share the CPUs: compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import uuid4

import configs
from _harness import fmt, markdown_table, median

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIGS = "bare_starlette,asgi_obs,common,floor"
TARGET = 0.9  # build_stack throughput >= 0.9 x the floor's


class Refused(Exception):
    """The server does not do the promised work; it is not timed."""


def free_port() -> int:
    """A port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """One configuration served by its own uvicorn process."""

    config: configs.Config
    log_dir: str
    port: int = field(default_factory=free_port)
    rps: list[float] = field(default_factory=list)
    line_checks: list[str] = field(default_factory=list)
    refused: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> str:
        return os.path.join(self.log_dir, f"{self.config.name}.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{configs.PATH}"

    def start(self) -> None:
        open(self.log_path, "w").close()
        env = {**os.environ, "BENCH_CONFIG": self.config.name, "BENCH_LOG": self.log_path}
        argv = [
            sys.executable, "-m", "uvicorn", "configs:create_from_env", "--factory",
            "--app-dir", BENCH_DIR, "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", "1", "--http", "httptools", "--loop", "uvloop",
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        with open(os.path.join(self.log_dir, f"{self.config.name}.server"), "wb") as output:
            self.proc = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)

    def wait_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise Refused(f"uvicorn exited with {self.proc.returncode}: {self.server_output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise Refused(f"uvicorn not listening after {timeout} s: {self.server_output()}")

    def server_output(self) -> str:
        with open(os.path.join(self.log_dir, f"{self.config.name}.server"), errors="replace") as f:
            return f.read()[-2000:]

    def lines(self) -> list[str]:
        with open(self.log_path, encoding="utf-8") as f:
            return f.read().splitlines()

    def verify(self) -> None:
        """Two requests: the id echoed, one access line each, carrying it; then empty the file."""
        incoming = uuid4().hex
        echoed = []
        for sent in (None, incoming):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            conn.request("GET", configs.PATH, headers={"X-Request-ID": sent} if sent else {})
            response = conn.getresponse()
            body = response.read()
            conn.close()
            if response.status != 200 or body != configs.BODY:
                raise Refused(f"expected 200 {configs.BODY!r}, got {response.status} {body!r}")
            values = response.headers.get_all("x-request-id") or []
            if self.config.echoes_id and (len(values) != 1 or (sent and values[0] != sent)):
                raise Refused(f"x-request-id {values!r} in the response (sent {sent!r})")
            echoed.append(values[0] if values else "")
        expected = 2 * self.config.access_lines
        deadline = time.monotonic() + 2  # the line may be written just after the response left
        while len(self.lines()) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = self.lines()
        if len(lines) != expected:
            raise Refused(f"expected {expected} access lines for 2 requests, found {len(lines)}")
        for request_id, line in zip(echoed, lines, strict=False):
            if request_id not in line:
                raise Refused(f"access line without the request's id {request_id!r}: {line[:200]!r}")
        os.truncate(self.log_path, 0)

    def stop(self) -> None:
        """SIGTERM by PID; SIGKILL when it has not exited after 10 seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def run_wrk(url: str, seconds: int, threads: int, connections: int) -> tuple[float, int, str]:
    """Run wrk; return (requests/s, responses counted, problems reported)."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", url]
    done = subprocess.run(argv, capture_output=True, text=True)
    output = done.stdout
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr or output}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    problems = re.findall(r"(Socket errors:.*|Non-2xx or 3xx responses:.*)", output)
    if rps is None or total is None:
        raise RuntimeError(f"cannot parse wrk output:\n{output}")
    return float(rps.group(1)), int(total.group(1)), "; ".join(problems)


def _settled_lines(server: Server) -> int:
    """The number of lines once the server has finished the requests wrk left in flight."""
    count, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < 0.3:
        time.sleep(0.05)
        now = len(server.lines())
        if now != count:
            count, stable_since = now, time.monotonic()
    return count


def _check_lines(server: Server, responses: int, connections: int) -> str:
    """One access line per response wrk counted (plus at most the requests cut off at the end)."""
    written = _settled_lines(server)
    os.truncate(server.log_path, 0)
    expected = server.config.access_lines * responses
    if server.config.access_lines == 0:
        return "ok" if written == 0 else f"{written} lines!"
    return "ok" if expected <= written <= expected + connections else f"{written} lines / {responses}!"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per configuration")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of wrk before timing")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="comma-separated configurations")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk   (or: brew install wrk)")
        return 1
    for module in ("uvicorn", "httptools", "uvloop"):
        if importlib.util.find_spec(module) is None:
            print(f"{module} is not installed: pip install 'uvicorn[standard]'")
            return 1

    chosen = configs.select(args.configs)
    print(
        f"uvicorn 1 worker, httptools, uvloop; wrk -t{args.threads} -c{args.connections}"
        f" -d{args.duration}s; {args.runs} interleaved runs; {os.cpu_count()} CPUs,"
        f" load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-wire-") as log_dir:
        servers = [Server(config, log_dir) for config in chosen]
        try:
            for server in servers:
                missing = server.config.missing()
                if missing:
                    server.refused = f"not installed: {', '.join(missing)}"
                    continue
                server.start()
            for server in servers:
                if server.refused:
                    continue
                try:
                    server.wait_listening()
                    server.verify()
                    run_wrk(server.url, args.warmup, args.threads, args.connections)
                    _settled_lines(server)
                    os.truncate(server.log_path, 0)
                except (Refused, RuntimeError) as exc:
                    server.refused = str(exc)
                    server.stop()
            timed = [s for s in servers if not s.refused]
            for run in range(args.runs):
                shift = run % max(len(timed), 1)
                for server in timed[shift:] + timed[:shift]:
                    rps, responses, problems = run_wrk(
                        server.url, args.duration, args.threads, args.connections
                    )
                    server.rps.append(rps)
                    check = _check_lines(server, responses, args.connections)
                    server.line_checks.append(check + (f" ({problems})" if problems else ""))
                print(f"  run {run + 1}/{args.runs} done", file=sys.stderr, flush=True)
        finally:
            for server in servers:
                server.stop()

    by_name = {s.config.name: s for s in servers if not s.refused}
    bare, floor = by_name.get("bare_starlette"), by_name.get("floor")
    rows = []
    for server in servers:
        if server.refused:
            rows.append([f"{server.config.name}: {server.config.title}", "REFUSED", "-", "-", "-", "-"])
            continue
        rps = median(server.rps)
        rows.append(
            [
                f"{server.config.name}: {server.config.title}",
                f"{rps:.0f}",
                " ".join(f"{r:.0f}" for r in server.rps),
                f"{fmt(rps / median(bare.rps), 2)}x" if bare else "-",
                f"{fmt(rps / median(floor.rps), 2)}x" if floor else "-",
                ", ".join(sorted(set(server.line_checks))),
            ]
        )
    header = ["configuration", "median req/s", "runs req/s", "x bare", "x floor", "one line per response"]
    print(markdown_table(header, rows))
    print()
    obs = by_name.get("asgi_obs")
    if obs and floor:
        ratio = median(obs.rps) / median(floor.rps)
        verdict = "PASS" if ratio >= TARGET else "FAIL"
        print(f"Target: build_stack req/s / floor req/s = {ratio:.2f}  target ≥ {TARGET}  {verdict}")
    else:
        print("Target: n/a (needs rows asgi_obs and floor)")
    for server in servers:
        if server.refused:
            print(f"\nREFUSED {server.config.name}: {server.refused}")
    bad = any(not check.startswith("ok") for s in servers for check in s.line_checks)
    return 1 if bad or any(s.refused for s in servers) else 0


if __name__ == "__main__":
    sys.exit(main())
