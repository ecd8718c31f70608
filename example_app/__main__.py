"""``python -m example_app`` serves the app; ``python -m example_app demo`` shows it at work."""

from __future__ import annotations

import sys

USAGE = """usage: python -m example_app [demo]

  (no argument)  serve on HOST:PORT (default 127.0.0.1:8000), JSON log lines on stdout;
                 SENTRY_DSN, LOG_LEVEL honoured
  demo           start the app and a local Sentry sink, call every route, print the log
                 lines by request id and a table of Sentry events per request"""


def main(argv: list[str]) -> int:
    if not argv:
        from .main import serve

        serve()
        return 0
    if argv == ["demo"]:
        from .demo import run

        return run()
    print(USAGE, file=sys.stdout if argv[0] in ("-h", "--help") else sys.stderr)
    return 0 if argv[0] in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
