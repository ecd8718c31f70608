"""Google Cloud Logging structured logging: ``severity``, ``httpRequest``, trace, Error Reporting."""

from __future__ import annotations

import logging
from typing import Any

from ._common import TOP, Converter, span_id_of

__all__ = ["gcp_converter", "gcp_latency", "gcp_severity"]

_GCP_ERROR_TYPE = "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent"


_GCP_HTTP = {
    "method": "requestMethod",
    "status": "status",
    "user_agent": "userAgent",
    "client_ip": "remoteIp",
}
_GCP_DROPPED = frozenset({"path", "query", "duration_ms", "request_bytes", "response_bytes", "http_version"})


def gcp_severity(levelno: int) -> str:
    """Cloud Logging's LogSeverity for a level number (custom levels rounded down)."""
    if levelno >= logging.CRITICAL:
        return "CRITICAL"
    if levelno >= logging.ERROR:
        return "ERROR"
    if levelno >= logging.WARNING:
        return "WARNING"
    if levelno >= logging.INFO:
        return "INFO"
    return "DEBUG" if levelno > logging.NOTSET else "DEFAULT"


def gcp_latency(duration_ms: float) -> str:
    """A protobuf Duration in JSON: seconds with a fraction, ``"0.123s"``."""
    text = f"{duration_ms / 1000:.6f}".rstrip("0").rstrip(".")
    return text + "s"


def gcp_converter(service: dict[str, str], project: str | None) -> Converter:
    trace_prefix = f"projects/{project}/traces/" if project else ""
    context = {"service": service["name"]} if "name" in service else None
    if context is not None and "version" in service:
        context["version"] = service["version"]
    labels = {"environment": service["environment"]} if "environment" in service else None

    def convert(data: dict[str, Any], record: logging.LogRecord) -> dict[str, Any]:
        out: dict[str, Any] = {
            "time": data["timestamp"][:26] + "Z",
            "severity": gcp_severity(record.levelno),
            "message": data["message"],
            "logger": data["logger"],
        }
        trace_id = data["trace_id"]
        if trace_id is not None:
            out["logging.googleapis.com/trace"] = trace_prefix + trace_id
            span_id = span_id_of(trace_id)
            if span_id is not None:
                out["logging.googleapis.com/spanId"] = span_id
        if data["request_id"] is not None:
            out["request_id"] = data["request_id"]
        if "status" in data and "method" in data:
            out["httpRequest"] = _http_request(data)
        for key, value in data.items():
            if value is not None and key not in TOP and key not in _GCP_HTTP and key not in _GCP_DROPPED:
                out[key] = value
        if context is not None:
            out["serviceContext"] = dict(context)  # Error Reporting groups by it
        if labels:
            out["logging.googleapis.com/labels"] = dict(labels)
        trace_text = data.get("exc_info") or data.get("stack_info")
        if trace_text is not None:
            out["stack_trace"] = trace_text  # Error Reporting reads stack_trace first
        elif record.levelno >= logging.ERROR:
            out["@type"] = _GCP_ERROR_TYPE  # reported even without a stack trace
        return out

    return convert


def _http_request(data: dict[str, Any]) -> dict[str, Any]:
    http: dict[str, Any] = {}
    for key, name in _GCP_HTTP.items():
        value = data.get(key)
        if value is not None:
            http[name] = value
    path = data.get("path")
    if path is not None:
        query = data.get("query")
        http["requestUrl"] = f"{path}?{query}" if query else path
    duration = data.get("duration_ms")
    if isinstance(duration, (int, float)):
        http["latency"] = gcp_latency(duration)
    version = data.get("http_version")
    if version is not None:
        http["protocol"] = f"HTTP/{version}"
    for key, name in (("request_bytes", "requestSize"), ("response_bytes", "responseSize")):
        size = data.get(key)
        if size is not None:
            http[name] = str(size)  # int64 fields are strings in the API's JSON
    return http
