"""Logging for convtrack's processes on stderr: key=value lines, or one JSON object per line."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime

from common.settings import SettingsError, env_str

TEXT_FORMAT = "ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s"
LOG_FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the current span's
    trace_id and span_id (when in a span) and the exception text (when any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(current_span_ids())
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def current_span_ids() -> dict[str, str]:
    """The current span's `trace_id` and `span_id` in hex, or nothing outside a span."""
    # Imported here: `convtrack --help` and the offline commands configure logging too, and
    # must stay light.
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {
        "trace_id": trace.format_trace_id(context.trace_id),
        "span_id": trace.format_span_id(context.span_id),
    }


def log_format(env: Mapping[str, str]) -> str:
    """`CONVTRACK_LOG_FORMAT`: `text` (key=value lines, the default) or `json`."""
    chosen = env_str(env, "CONVTRACK_LOG_FORMAT", "text").lower()
    if chosen not in LOG_FORMATS:
        raise SettingsError(f"CONVTRACK_LOG_FORMAT must be text or json, not {chosen!r}")
    return chosen


def configure_logging(level: str | None = None, env: Mapping[str, str] | None = None) -> None:
    """Stdlib logging for the service processes, on stderr, at `level` or
    `CONVTRACK_LOG_LEVEL` (INFO), in the format `CONVTRACK_LOG_FORMAT` chooses."""
    env = os.environ if env is None else env
    handler = logging.StreamHandler()
    if log_format(env) == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(
        level=(level or env_str(env, "CONVTRACK_LOG_LEVEL", "INFO")).upper(), handlers=[handler]
    )
