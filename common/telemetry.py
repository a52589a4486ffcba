"""OpenTelemetry set-up: explicit tracer and meter providers per service, never global
instrumentors; trace context carried through the logs as W3C traceparent strings."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.trace import Link, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


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


def build_meter_provider(
    service_name: str, readers: Sequence[MetricReader] | None = None
) -> MeterProvider:
    """A meter provider for one service; `CONVTRACK_METRICS=console` prints metrics every
    minute when no reader is given."""
    chosen = list(readers or [])
    if not chosen and os.environ.get("CONVTRACK_METRICS", "").lower() == "console":
        chosen.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    return MeterProvider(
        resource=Resource.create({"service.name": service_name}), metric_readers=chosen
    )


@dataclass(frozen=True)
class Telemetry:
    """A service's tracer and meter providers, passed explicitly to what it builds."""

    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None

    @classmethod
    def for_service(cls, service_name: str) -> Telemetry:
        """Providers configured from the environment (see the builders above)."""
        return cls(build_tracer_provider(service_name), build_meter_provider(service_name))

    def tracer(self, name: str) -> Tracer | None:
        """A tracer, or None without a tracer provider."""
        return self.tracer_provider.get_tracer(name) if self.tracer_provider else None

    def meter(self, name: str) -> Meter | None:
        """A meter, or None without a meter provider."""
        return self.meter_provider.get_meter(name) if self.meter_provider else None

    def shutdown(self) -> None:
        """Flushes and stops the providers."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def current_trace_parent() -> str:
    """The W3C traceparent of the current span, or "" when there is none."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent", "")


def links_to(trace_parents: Sequence[str]) -> list[Link]:
    """Span links to the distinct, valid traceparents (work done for those traces)."""
    links = []
    for trace_parent in dict.fromkeys(t for t in trace_parents if t):
        context = trace.get_current_span(
            _PROPAGATOR.extract({"traceparent": trace_parent})
        ).get_span_context()
        if context.is_valid:
            links.append(Link(context))
    return links
