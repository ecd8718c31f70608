"""Schema presets: the default record rewritten for Elastic (ECS), OpenTelemetry and Google Cloud.

``CustomJsonFormatter(schema=...)`` builds the default record dict (DESIGN §5) and, for a preset,
hands it with the ``LogRecord`` to the preset's converter, which returns the dict to encode: keys
renamed, nested, units and value formats changed. The converter is chosen and its constants
(service identity, the GCP project) are read once, when the formatter is built.

Fields named in :mod:`asgi_obs.fields` (``method``, ``status``, ``duration_ms`` ...) are mapped
wherever they appear; every other ``extra=``/``bind()`` field keeps its name (ECS: at the top
level, dotted names nested as ``ecs-logging`` does; OTel: in ``attributes``; GCP: in the
payload). ``None`` values are left out, as ``ecs-logging`` does.
"""

from __future__ import annotations

import os

from ..fields import SCHEMAS
from ._common import Converter, service_identity
from .ecs import ECS_VERSION, ecs_converter
from .gcp import gcp_converter
from .otel import otel_converter

__all__ = ["ECS_VERSION", "Converter", "converter_for", "service_identity"]


def converter_for(schema: str) -> Converter | None:
    """The converter of ``schema`` (``None`` for ``"default"``); ``ValueError`` naming ``schema``.

    Called once, when the formatter is built: the environment is read then.
    """
    if schema not in SCHEMAS:
        raise ValueError(f"schema={schema!r} is not a known schema; use one of {', '.join(SCHEMAS)}")
    if schema == "default":
        return None
    service = service_identity()
    if schema == "ecs":
        return ecs_converter(service)
    if schema == "otel":
        return otel_converter(service)
    return gcp_converter(service, (os.environ.get("GOOGLE_CLOUD_PROJECT") or "").strip() or None)
