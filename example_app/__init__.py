"""A small Starlette service instrumented with asgi_obs.

``python -m example_app`` serves it on 127.0.0.1:8000 (``HOST``/``PORT`` override);
``python -m example_app demo`` runs it against a local Sentry sink and shows what it logs and
reports. Start reading at ``main.py``, then ``routes.py``.
"""
