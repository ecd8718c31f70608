"""OpenTelemetry: the log data model's fields (proto names), HTTP semantic-convention attributes."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from ._common import TOP, Converter, exception_of, span_id_of

__all__ = ["otel_converter", "otel_severity"]


_OTEL_NAMES = {
    "method": "http.request.method",
    "path": "url.path",
    "query": "url.query",
    "route": "http.route",
    "status": "http.response.status_code",
    "request_bytes": "http.request.body.size",
    "response_bytes": "http.response.body.size",
    "client_ip": "client.address",
    "user_agent": "user_agent.original",
    "http_version": "network.protocol.version",
    "error_type": "exception.type",
    "error_message": "exception.message",
}


def otel_severity(levelno: int) -> int:
    """The log data model's SeverityNumber: DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21."""
    if levelno < logging.DEBUG:
        return 1  # TRACE
    return min(5 + 4 * ((levelno - logging.DEBUG) // 10), 21)


def otel_converter(service: dict[str, str]) -> Converter:
    resource = {"service.name": service.get("name") or f"unknown_service:{os.path.basename(sys.executable)}"}
    if "version" in service:
        resource["service.version"] = service["version"]
    if "environment" in service:
        resource["deployment.environment.name"] = service["environment"]

    def convert(data: dict[str, Any], record: logging.LogRecord) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        if data["request_id"] is not None:
            attributes["request_id"] = data["request_id"]
        for key, value in data.items():
            if value is not None and key not in TOP:
                attributes[_OTEL_NAMES.get(key, key)] = value
        trace_text = data.get("exc_info") or data.get("stack_info")
        if trace_text is not None:
            error_type, error_message = exception_of(record)
            if error_type is not None:
                attributes["exception.type"] = error_type
                attributes["exception.message"] = error_message
            attributes["exception.stacktrace"] = trace_text
        out: dict[str, Any] = {
            # The proto's field name and unit: uint64 nanoseconds since the epoch.
            "time_unix_nano": round(record.created * 1e9),
            "severity_text": data["level"],
            "severity_number": otel_severity(record.levelno),
            "body": data["message"],
        }
        trace_id = data["trace_id"]
        if trace_id is not None:
            out["trace_id"] = trace_id
            span_id = span_id_of(trace_id)
            if span_id is not None:
                out["span_id"] = span_id
        out["attributes"] = attributes
        out["resource"] = dict(resource)
        out["scope"] = {"name": data["logger"]}  # the logging bridges' instrumentation scope
        return out

    return convert
