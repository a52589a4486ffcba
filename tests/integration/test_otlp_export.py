"""With the standard OTEL_* variables set, the services export their spans over OTLP/gRPC:
an OTLP receiver started here gets one conversion's path, linked across services."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from opentelemetry.proto.trace.v1 import trace_pb2

from common.settings import SettingsError
from common.telemetry import selected_exporters
from tests.conftest import Storage
from tests.e2e.system import System, cross_device_journey


class TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP trace receiver that keeps every span it is sent, with its service's name."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, trace_pb2.Span]] = []
        self.resources: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def Export(  # noqa: N802 (the OTLP method name)
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.ServicerContext,
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._lock:
            for resource_spans in request.resource_spans:
                attributes = {
                    a.key: a.value.string_value for a in resource_spans.resource.attributes
                }
                self.resources.append(attributes)
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend(
                        (attributes["service.name"], span) for span in scope_spans.spans
                    )
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[TraceReceiver]:
    """A receiver on a free port, and the OTEL_* variables pointing the services at it."""
    servicer = TraceReceiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    try:
        yield servicer
    finally:
        server.stop(1).wait(5)


def test_a_conversions_spans_arrive_over_otlp_with_their_links(
    storage: Storage, receiver: TraceReceiver
) -> None:
    system = System(storage)
    try:
        system.track(*cross_device_journey())
        system.sync()
    finally:
        system.close()  # flushes every service's spans

    spans = receiver.spans
    assert {r["deployment.environment"] for r in receiver.resources} == {"test"}
    track = [s for name, s in spans if s.name.endswith("IngestService/TrackEvents")]
    assert len(track) == 1
    assert {name for name, s in spans if s is track[0]} == {"convtrack-ingest"}
    ingest_trace = track[0].trace_id

    def pages(upstream: str) -> list[tuple[str, trace_pb2.Span]]:
        return [(name, s) for name, s in spans if s.name == f"process {upstream} page"]

    ingest_pages = pages("ingest")
    assert {name for name, _ in ingest_pages} >= {"convtrack-identity", "convtrack-attribution"}
    assert all(ingest_trace in {link.trace_id for link in s.links} for _, s in ingest_pages)

    ingest_page_traces = {s.trace_id for _, s in ingest_pages}
    identity_pages = pages("identity")
    assert any({link.trace_id for link in s.links} & ingest_page_traces for _, s in identity_pages)
    attribution_pages = pages("attribution")
    assert {name for name, _ in attribution_pages} == {"convtrack-reporting"}
    assert any(
        {link.trace_id for link in s.links} & ingest_page_traces for _, s in attribution_pages
    )
    assert not any("Health" in s.name for _, s in spans)


def test_exporters_are_chosen_by_the_otel_variables() -> None:
    assert selected_exporters({}, "traces") == []
    assert selected_exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, "traces") == [
        "otlp"
    ]
    assert (
        selected_exporters(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_METRICS_EXPORTER": "none"},
            "metrics",
        )
        == []
    )
    assert selected_exporters({"OTEL_TRACES_EXPORTER": "console,otlp"}, "traces") == [
        "console",
        "otlp",
    ]
    assert selected_exporters({"CONVTRACK_METRICS": "console"}, "metrics") == ["console"]
    with pytest.raises(SettingsError, match="OTEL_TRACES_EXPORTER 'zipkin'"):
        selected_exporters({"OTEL_TRACES_EXPORTER": "zipkin"}, "traces")
    with pytest.raises(SettingsError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        selected_exporters(
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            "traces",
        )
