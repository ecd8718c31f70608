"""ECS, as Elastic's ``ecs-logging`` writes it: nested objects, ``@timestamp``, ``log.level``."""

from __future__ import annotations

import logging
from typing import Any

from ._common import TOP, Converter, exception_of, put, span_id_of, to_ns

__all__ = ["ECS_VERSION", "ecs_converter"]

#: The ECS version written in ``ecs.version``. ``ecs-logging`` writes 1.6.0, but
#: ``http.request.id`` only exists since ECS 1.10; every field written here is in ECS 8.x.
ECS_VERSION = "8.11.0"


# Each vocabulary field goes into one ECS object (an index into the objects built per record)
# under one leaf name; the objects are nested at the end (see _ecs). Quicker than walking a
# dotted path per field, which made the access record 4x the default's cost.
_HTTP, _REQ, _REQ_BODY, _RESP, _RESP_BODY, _URL, _CLIENT, _UA, _EVENT, _ERROR = range(10)
_ECS_SLOTS: dict[str, tuple[int, str]] = {
    "method": (_REQ, "method"),
    "path": (_URL, "path"),
    "query": (_URL, "query"),
    "status": (_RESP, "status_code"),
    "duration_ms": (_EVENT, "duration"),  # converted to ns
    "request_bytes": (_REQ_BODY, "bytes"),
    "response_bytes": (_RESP_BODY, "bytes"),
    "client_ip": (_CLIENT, "ip"),
    "user_agent": (_UA, "original"),
    "http_version": (_HTTP, "version"),
    "outcome": (_EVENT, "outcome"),  # mapped to success/failure/unknown
    "error_type": (_ERROR, "type"),
    "error_message": (_ERROR, "message"),
}
_ECS_TOP_OBJECTS = (
    ("http", _HTTP),
    ("url", _URL),
    ("client", _CLIENT),
    ("user_agent", _UA),
    ("event", _EVENT),
)
# ECS allows success/failure/unknown; from the server's point of view a 4xx is a success (as
# Elastic APM records server transactions). The detailed outcome stays in ``outcome``.
_ECS_OUTCOME = {
    "success": "success",
    "client_error": "success",
    "server_error": "failure",
    "aborted": "failure",
    "disconnect": "unknown",
}


def ecs_converter(service: dict[str, str]) -> Converter:
    def convert(data: dict[str, Any], record: logging.LogRecord) -> dict[str, Any]:
        ts = data["timestamp"]
        out: dict[str, Any] = {
            "@timestamp": ts[:23] + "Z",  # ecs-logging's format: milliseconds, Zulu
            "log.level": data["level"].lower(),
            "message": data["message"],
            "ecs.version": ECS_VERSION,  # ecs-logging keeps this one key dotted
            "log": {"logger": data["logger"]},
        }
        if service:
            out["service"] = dict(service)
        trace_id = data["trace_id"]
        if trace_id is not None:
            out["trace"] = {"id": trace_id}
            span_id = span_id_of(trace_id)
            if span_id is not None:
                out["span"] = {"id": span_id}
        objects: list[dict[str, Any]] = [{}, {}, {}, {}, {}, {}, {}, {}, {}, {}]
        if data["request_id"] is not None:
            objects[_REQ]["id"] = data["request_id"]
        others = []
        for key, value in data.items():
            if value is None or key in TOP:
                continue
            slot = _ECS_SLOTS.get(key)
            if slot is None:
                others.append((key, value))
            elif key == "duration_ms":
                objects[_EVENT]["duration"] = to_ns(value)
            elif key == "outcome":
                objects[_EVENT]["outcome"] = _ECS_OUTCOME.get(value, "unknown")
                others.append((key, value))  # the detailed outcome, as a custom field
            else:
                objects[slot[0]][slot[1]] = value
        trace_text = data.get("exc_info") or data.get("stack_info")
        if trace_text is not None:
            error = objects[_ERROR]
            error_type, error_message = exception_of(record)
            if error_type is not None:
                error.setdefault("type", error_type)
                error.setdefault("message", error_message)
            error["stack_trace"] = trace_text
        if objects[_REQ_BODY]:
            objects[_REQ]["body"] = objects[_REQ_BODY]
        if objects[_RESP_BODY]:
            objects[_RESP]["body"] = objects[_RESP_BODY]
        if objects[_REQ]:
            objects[_HTTP]["request"] = objects[_REQ]
        if objects[_RESP]:
            objects[_HTTP]["response"] = objects[_RESP]
        for name, index in _ECS_TOP_OBJECTS:
            if objects[index]:
                out[name] = objects[index]
        if objects[_ERROR]:
            out["error"] = objects[_ERROR]
        for key, value in others:
            if type(key) is str and "." in key:
                put(out, tuple(key.split(".")), value)  # dotted names nested, as ecs-logging does
            elif key in out:
                out[f"{key}_"] = value  # named like an ECS object ("http", "log" ...): kept aside
            else:
                out[key] = value
        return out

    return convert
