"""Traces link a conversion's work across services through the logs; metrics count events."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from common.telemetry import Telemetry
from convtrack.ingest.v1 import ingest_pb2
from services import launcher
from tests.conftest import Storage
from tests.e2e.system import DEADLINE, System, cross_device_journey


class TracedSystem(System):
    """The four services with in-memory span exporters and an in-memory metric reader."""

    def __init__(self, storage: Storage) -> None:
        self.spans = InMemorySpanExporter()
        self.metrics = {name: InMemoryMetricReader() for name in launcher.SERVICES}

        def telemetry_for(name: str) -> Telemetry:
            tracer_provider = TracerProvider()
            tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
            return Telemetry(tracer_provider, MeterProvider(metric_readers=[self.metrics[name]]))

        self._telemetry_for = telemetry_for
        super().__init__(storage)

    def _start(self) -> None:
        self.running, self.addresses = launcher.start_all(
            self.env, any_port=True, telemetry_for=self._telemetry_for
        )


def points_of(reader: InMemoryMetricReader) -> dict[tuple[str, tuple[object, ...]], float]:
    data = reader.get_metrics_data()
    return {
        (metric.name, tuple(sorted(point.attributes.items()))): point.value
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    }


def linked_traces(span: ReadableSpan) -> set[int]:
    return {link.context.trace_id for link in span.links}


def test_a_conversion_trace_links_ingest_identity_attribution_and_reporting(
    storage: Storage,
) -> None:
    system = TracedSystem(storage)
    try:
        system.track(*cross_device_journey())
        system.sync()
        spans = system.spans.get_finished_spans()
        track = [s for s in spans if s.name.endswith("IngestService/TrackEvents")]
        assert len(track) == 1
        ingest_trace = track[0].context.trace_id

        ingest_pages = [s for s in spans if s.name == "process ingest page"]
        assert len(ingest_pages) >= 2
        assert all(ingest_trace in linked_traces(s) for s in ingest_pages)

        # Attribution's pages on identity's log link to identity's work on ingest's log.
        identity_pages = [s for s in spans if s.name == "process identity page"]
        assert identity_pages
        ingest_page_traces = {s.context.trace_id for s in ingest_pages}
        assert any(linked_traces(s) & ingest_page_traces for s in identity_pages)

        attribution_traces = {s.context.trace_id for s in ingest_pages}
        reporting_pages = [s for s in spans if s.name == "process attribution page"]
        assert reporting_pages
        assert any(linked_traces(s) & attribution_traces for s in reporting_pages)

        response = system.ingest.TrackEvents(
            ingest_pb2.TrackEventsRequest(events=[ingest_pb2.Event(event_id="no-property")]),
            timeout=DEADLINE,
        )
        assert response.rejected_count == 1
        ingest = points_of(system.metrics["ingest"])
        assert ingest[("convtrack.ingest.events", (("verdict", "accepted"),))] == 5
        assert ingest[("convtrack.ingest.events", (("verdict", "rejected"),))] == 1
        assert ingest[("convtrack.ingest.rejections", (("field", "property_id"),))] == 1
        identity = points_of(system.metrics["identity"])
        assert identity[("convtrack.consumer.entries", (("upstream", "ingest"),))] >= 5
        assert identity[("convtrack.consumer.lag", (("upstream", "ingest"),))] == 0
    finally:
        system.close()
