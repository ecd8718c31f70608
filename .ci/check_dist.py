"""Check the built sdist and wheel: py.typed shipped, tests/example_app/bench left out.

Usage: python .ci/check_dist.py DIST_DIR  (run by the tox lint env after `python -m build`).
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path


def main(dist: Path) -> int:
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    wheel_names = zipfile.ZipFile(wheel).namelist()
    with tarfile.open(sdist) as archive:
        sdist_names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    problems = []
    for kind, names in (("wheel", wheel_names), ("sdist", sdist_names)):
        if "asgi_obs/py.typed" not in names:
            problems.append(f"{kind}: asgi_obs/py.typed missing")
        leaked = [n for n in names if n.split("/")[0] in ("tests", "example_app", "bench", ".ci")]
        if leaked:
            problems.append(f"{kind}: must not contain {leaked[:5]}")
    for problem in problems:
        print(problem)
    print(f"checked {wheel.name} ({len(wheel_names)} files), {sdist.name} ({len(sdist_names)} files)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
