"""A stand-in attribution service (a real gRPC server that serves a fixed log), reporting
following it, and reporting's views migrated on a test's storage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc
from sqlalchemy import Engine

from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting.server import ReportingSettings, build_engine, migrate, start
from tests.conftest import Storage


class StandInAttribution(attribution_pb2_grpc.AttributionServiceServicer):
    """Serves a fixed log, the way attribution serves its own."""

    def __init__(self, entries: list[attribution_pb2.LogEntry]) -> None:
        self.entries = entries

    def ListEvents(  # noqa: N802 - the gRPC method name
        self, request: attribution_pb2.ListEventsRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.ListEventsResponse:
        after = [e for e in self.entries if e.position > request.after][: request.limit or 500]
        if not after:
            time.sleep(min(request.max_wait.ToTimedelta().total_seconds(), 0.2))
        return attribution_pb2.ListEventsResponse(entries=after)

    def GetAttribution(  # noqa: N802 - the gRPC method name
        self, request: attribution_pb2.GetAttributionRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.GetAttributionResponse:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in the stand-in")

    def GetLogHead(  # noqa: N802 - the gRPC method name
        self, request: attribution_pb2.GetLogHeadRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.GetLogHeadResponse:
        return attribution_pb2.GetLogHeadResponse(position=self.entries[-1].position)

    def GetSyncStatus(  # noqa: N802 - the gRPC method name
        self, request: attribution_pb2.GetSyncStatusRequest, context: grpc.ServicerContext
    ) -> attribution_pb2.GetSyncStatusResponse:
        return attribution_pb2.GetSyncStatusResponse()


@contextmanager
def serving_log(entries: list[attribution_pb2.LogEntry]) -> Iterator[str]:
    """The address of a stand-in attribution server on 127.0.0.1:0 serving `entries`."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    attribution_pb2_grpc.add_AttributionServiceServicer_to_server(
        StandInAttribution(entries), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0)


@contextmanager
def migrated_views(storage: Storage) -> Iterator[Engine]:
    """An engine on reporting's views, migrated, on the test's storage; disposed on leaving."""
    settings = ReportingSettings(database_url=storage.database_url, data_dir=storage.data_dir)
    migrate(settings)
    engine = build_engine(settings)
    try:
        yield engine
    finally:
        engine.dispose()


def wait_for_position(stub: reporting_pb2_grpc.ReportingServiceStub, position: int) -> None:
    """Waits until reporting has processed attribution's log up to `position`."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = stub.GetSyncStatus(reporting_pb2.GetSyncStatusRequest(), timeout=5)
        if {u.upstream: u.position for u in status.upstreams}.get("attribution") == position:
            return
        time.sleep(0.05)
    raise AssertionError(f"reporting did not reach position {position}")


@contextmanager
def serving_reporting(storage: Storage, attribution_addr: str) -> Iterator[str]:
    """The address of reporting on 127.0.0.1:0 following attribution at `attribution_addr`
    (no ingest, no identity), on the test's storage; stopped on leaving."""
    service = start(
        ReportingSettings(
            listen="127.0.0.1:0",
            database_url=storage.database_url,
            data_dir=storage.data_dir,
            attribution_addr=attribution_addr,
            ingest_addr="",
            identity_addr="",
        )
    )
    try:
        yield f"127.0.0.1:{service.port}"
    finally:
        service.stop(grace=1)
