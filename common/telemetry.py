"""OpenTelemetry set-up: explicit tracer and meter providers per service, never global
instrumentors, exporters chosen by the standard `OTEL_*` variables; trace context carried
through the logs as W3C traceparent strings."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.trace import Link, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from common.settings import SettingsError, env_str

_PROPAGATOR = TraceContextTextMapPropagator()


def _otlp_span_exporter() -> SpanExporter:
    # Imported when chosen only: most processes export nothing.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _otlp_metric_exporter() -> MetricExporter:
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter()


SPAN_EXPORTERS: dict[str, Callable[[], SpanExporter]] = {
    "otlp": _otlp_span_exporter,
    "console": ConsoleSpanExporter,
}
METRIC_EXPORTERS: dict[str, Callable[[], MetricExporter]] = {
    "otlp": _otlp_metric_exporter,
    "console": ConsoleMetricExporter,
}


def selected_exporters(env: Mapping[str, str], signal: str) -> list[str]:
    """The exporter names chosen for `signal` (`traces` or `metrics`).

    `OTEL_<SIGNAL>_EXPORTER` (comma-separated: otlp, console, none) when set; otherwise otlp
    when an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or the per-signal one),
    console when `CONVTRACK_<SIGNAL>=console`, else none. OTLP goes over gRPC only.
    """
    upper = signal.upper()
    chooser = f"OTEL_{upper}_EXPORTER"
    raw = env_str(env, chooser)
    if raw:
        names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    elif env_str(env, "OTEL_EXPORTER_OTLP_ENDPOINT") or env_str(
        env, f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT"
    ):
        names = ["otlp"]
    elif env_str(env, f"CONVTRACK_{upper}").lower() == "console":
        names = ["console"]
    else:
        names = []
    known = SPAN_EXPORTERS if signal == "traces" else METRIC_EXPORTERS
    for name in names:
        if name != "none" and name not in known:
            raise SettingsError(f"{chooser} {name!r} is not one of {', '.join([*known, 'none'])}")
    if "otlp" in names:
        for key in ("OTEL_EXPORTER_OTLP_PROTOCOL", f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL"):
            protocol = env_str(env, key, "grpc")
            if protocol != "grpc":
                raise SettingsError(f"{key} {protocol!r} is not supported: use grpc")
    return [n for n in names if n != "none"]


def service_resource(service_name: str, env: Mapping[str, str]) -> Resource:
    """The resource of a service's telemetry: `OTEL_RESOURCE_ATTRIBUTES` and
    `OTEL_SERVICE_NAME` (read by the SDK), named `service_name` unless they name it."""
    attributes = env_str(env, "OTEL_RESOURCE_ATTRIBUTES")
    named = env_str(env, "OTEL_SERVICE_NAME") or any(
        item.partition("=")[0].strip() == SERVICE_NAME for item in attributes.split(",")
    )
    return Resource.create() if named else Resource.create({SERVICE_NAME: service_name})


def build_tracer_provider(
    service_name: str,
    exporters: Sequence[SpanExporter] | None = None,
    env: Mapping[str, str] | None = None,
) -> TracerProvider:
    """A tracer provider for one service.

    Without explicit exporters, the `OTEL_*` variables choose them (`selected_exporters`);
    with none chosen, spans are created (so trace context propagates between services) but
    not exported.
    """
    env = os.environ if env is None else env
    provider = TracerProvider(resource=service_resource(service_name, env))
    chosen = list(exporters or [SPAN_EXPORTERS[n]() for n in selected_exporters(env, "traces")])
    for exporter in chosen:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def build_meter_provider(
    service_name: str,
    readers: Sequence[MetricReader] | None = None,
    env: Mapping[str, str] | None = None,
) -> MeterProvider:
    """A meter provider for one service; without explicit readers, the `OTEL_*` variables
    choose exporters, read every `OTEL_METRIC_EXPORT_INTERVAL` milliseconds (60000)."""
    env = os.environ if env is None else env
    chosen = list(
        readers
        or [
            PeriodicExportingMetricReader(METRIC_EXPORTERS[n]())
            for n in selected_exporters(env, "metrics")
        ]
    )
    return MeterProvider(resource=service_resource(service_name, env), metric_readers=chosen)


@dataclass(frozen=True)
class Telemetry:
    """A service's tracer and meter providers, passed explicitly to what it builds."""

    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None

    @classmethod
    def for_service(cls, service_name: str) -> Telemetry:
        """Providers configured from the process environment (see the builders above)."""
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
