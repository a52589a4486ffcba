"""`CONVTRACK_LOG_FORMAT=json` writes one JSON object per line, with the span's ids."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.logs import log_format
from common.settings import SettingsError

REPO_ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import logging
from opentelemetry.sdk.trace import TracerProvider
from common.logs import configure_logging

configure_logging()
log = logging.getLogger("convtrack.example")
log.info("outside a span")
tracer = TracerProvider().get_tracer("example")
with tracer.start_as_current_span("work") as span:
    context = span.get_span_context()
    print(format(context.trace_id, "032x"), format(context.span_id, "016x"))
    log.warning("inside a span: %s", "multi\\nline")
try:
    raise ValueError("bad value")
except ValueError:
    log.exception("failed")
"""


def run_logging(log_format_value: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVTRACK_", "OTEL_"))}
    env["CONVTRACK_LOG_FORMAT"] = log_format_value
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_json_logs_are_one_object_per_line_with_trace_and_span_ids() -> None:
    result = run_logging("json")
    trace_id, span_id = result.stdout.split()
    lines = result.stderr.splitlines()
    assert len(lines) == 3, result.stderr
    outside, inside, failed = (json.loads(line) for line in lines)

    assert outside["level"] == "INFO"
    assert outside["logger"] == "convtrack.example"
    assert outside["message"] == "outside a span"
    assert outside["time"].endswith("+00:00")
    assert "trace_id" not in outside and "span_id" not in outside

    assert inside["level"] == "WARNING"
    assert inside["message"] == "inside a span: multi\nline"
    assert (inside["trace_id"], inside["span_id"]) == (trace_id, span_id)

    assert failed["message"] == "failed"
    assert "Traceback" in failed["exception"]
    assert "ValueError: bad value" in failed["exception"]


def test_text_logs_stay_key_value_lines() -> None:
    result = run_logging("text")
    assert "level=INFO logger=convtrack.example msg=outside a span" in result.stderr


def test_an_unknown_log_format_is_a_settings_error() -> None:
    assert log_format({}) == "text"
    with pytest.raises(SettingsError, match="CONVTRACK_LOG_FORMAT"):
        log_format({"CONVTRACK_LOG_FORMAT": "xml"})
