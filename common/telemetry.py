"""OpenTelemetry set-up: an explicit tracer provider per process, never a global instrumentor."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)


def build_tracer_provider(
    service_name: str, exporters: Sequence[SpanExporter] | None = None
) -> TracerProvider:
    """A tracer provider for one service.

    Without explicit exporters, `CONVTRACK_TRACES=console` prints spans; otherwise spans
    are created (so trace context propagates between services) but not exported.
    """
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    chosen = list(exporters or [])
    if not chosen and os.environ.get("CONVTRACK_TRACES", "").lower() == "console":
        chosen.append(ConsoleSpanExporter())
    for exporter in chosen:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def configure_logging(level: str | None = None) -> None:
    """Structured-ish stdlib logging for the service processes (key=value lines)."""
    logging.basicConfig(
        level=(level or os.environ.get("CONVTRACK_LOG_LEVEL", "INFO")).upper(),
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
    )
