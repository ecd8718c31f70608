"""Run a probe in a forked child and in its parent, in a fresh single-threaded interpreter.

Forking the test process itself is unsafe (it runs threads: servers, Sentry workers), so the
fork happens in a subprocess that runs ``setup`` (which defines ``probe() -> str``), forks, and
reports what ``probe()`` returned in the child, then in the parent.
"""

from __future__ import annotations

import subprocess
import sys

_TEMPLATE = """
import os
{setup}
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write_end, probe().encode())
    os._exit(0)
os.close(write_end)
child = os.read(read_end, 4096).decode()
os.waitpid(pid, 0)
print(child)
print(probe())
"""


def probe_child_and_parent(setup: str) -> tuple[str, str]:
    """Return ``probe()``'s value in a freshly forked child, then in its parent afterwards."""
    script = _TEMPLATE.format(setup=setup)
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    child, parent = output.stdout.splitlines()
    return child, parent
