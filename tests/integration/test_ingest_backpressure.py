"""Backpressure and the duplicate window: with the store blocked, ingest refuses what it may
not hold (RESOURCE_EXHAUSTED with a retry delay, at once) instead of queueing without bound,
and what it accepted is durable once the store is free; an event id is recognised as long as
its event is in the store, across restarts and replicas."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from common.grpc_errors import retry_delay_of
from common.server import GrpcServer, RunningService
from common.settings import SettingsError
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.commands.import_events import ImportTally, send_events
from services.ingest.api_keys import ApiKeys
from services.ingest.application import IngestApplication
from services.ingest.server import SERVICE_NAME, IngestSettings, build_application, start
from services.ingest.servicer import IngestServicer
from tests.conftest import Storage
from tests.integration.helpers_ingest import (
    conversion,
    page_view,
    read_log,
    track,
    wait_until,
    writes_blocked,
)

Stub = ingest_pb2_grpc.IngestServiceStub
ACCEPTED = ingest_pb2.VERDICT_ACCEPTED
DUPLICATE = ingest_pb2.VERDICT_DUPLICATE
BATCH = 100
MAX_QUEUED = 300
ADMITTED_CALLS = MAX_QUEUED // BATCH
EXCESS_CALLS = 5
DEADLINE = 30.0
# Refused calls must answer long before their deadline: a call queued behind the blocked
# store would wait ~29 s (its deadline less the answer margin).
REFUSED_WITHIN = 10.0


def _settings(storage: Storage, **overrides: object) -> IngestSettings:
    return IngestSettings(
        listen="127.0.0.1:0",
        database_url=storage.database_url,
        data_dir=storage.data_dir,
        **overrides,  # type: ignore[arg-type]
    )


@dataclass
class ServedIngest:
    """An ingest application served over gRPC, with the application at hand."""

    app: IngestApplication
    server: GrpcServer
    stub: Stub


@pytest.fixture
def served(storage: Storage) -> Iterator[ServedIngest]:
    app = build_application(_settings(storage, max_queued_events=MAX_QUEUED))
    servicer = IngestServicer(app, ApiKeys(app))
    server = GrpcServer(
        listen="127.0.0.1:0",
        service_names=[SERVICE_NAME],
        register=lambda s: ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, s),
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield ServedIngest(app, server, Stub(channel))
    finally:
        server.stop(0)
        app.close()


@dataclass
class CallResult:
    """How one TrackEvents call ended, and how long it took."""

    event_ids: list[str]
    seconds: float
    response: ingest_pb2.TrackEventsResponse | None = None
    error: grpc.RpcError | None = None


def call_in_thread(stub: Stub, event_ids: list[str], results: list[CallResult]) -> threading.Thread:
    def run() -> None:
        started = time.monotonic()
        try:
            response = track(stub, [page_view(e) for e in event_ids], timeout=DEADLINE)
            results.append(CallResult(event_ids, time.monotonic() - started, response=response))
        except grpc.RpcError as error:
            results.append(CallResult(event_ids, time.monotonic() - started, error=error))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_blocked_store_makes_the_excess_calls_answer_resource_exhausted_at_once(
    storage: Storage, served: ServedIngest
) -> None:
    # The first call commits the identifiers' keys, so that later calls only wait to write.
    assert track(served.stub, [page_view("warm-up")]).accepted_count == 1
    admitted: list[CallResult] = []
    excess: list[CallResult] = []
    with writes_blocked(storage):
        threads = [
            call_in_thread(served.stub, [f"in-{c}-{n}" for n in range(BATCH)], admitted)
            for c in range(ADMITTED_CALLS)
        ]
        wait_until(lambda: served.app.writer.queued_items == MAX_QUEUED)
        excess_threads = [
            call_in_thread(served.stub, [f"over-{c}-{n}" for n in range(BATCH)], excess)
            for c in range(EXCESS_CALLS)
        ]
        for thread in excess_threads:
            thread.join(DEADLINE + 5)
        assert not admitted, "an admitted call finished while the store was blocked"
    for thread in threads:
        thread.join(DEADLINE + 5)

    assert len(excess) == EXCESS_CALLS
    for refused in excess:
        assert refused.error is not None
        assert refused.error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert retry_delay_of(refused.error) is not None
        assert refused.seconds < REFUSED_WITHIN
    assert all(r.response is not None and r.response.accepted_count == BATCH for r in admitted)
    assert served.app.writer.peak_queued_items == MAX_QUEUED
    assert served.app.writer.refused_items == EXCESS_CALLS * BATCH
    assert served.app.writer.queued_items == 0
    logged = {entry.page_view_recorded.envelope.event_id for entry in read_log(served.stub)}
    assert logged == {"warm-up"} | {e for r in admitted for e in r.event_ids}


@contextmanager
def ingest_on(storage: Storage) -> Iterator[Stub]:
    """An ingest server on the storage, stopped on leaving."""
    service: RunningService = start(_settings(storage))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield Stub(channel)
    finally:
        service.stop(0)


def test_an_event_sent_again_after_a_restart_is_a_duplicate(storage: Storage) -> None:
    first = [page_view("seen-once"), conversion("bought", order_id="order-1")]
    with ingest_on(storage) as stub:
        assert track(stub, first).accepted_count == 2
    with ingest_on(storage) as stub:
        again = track(stub, [*first, conversion("bought-again", order_id="order-1")])
    assert [v.verdict for v in again.verdicts] == [DUPLICATE] * 3


@pytest.mark.postgres
def test_an_event_sent_again_to_another_replica_is_a_duplicate(
    postgres_database: str, tmp_path: Path
) -> None:
    storage = Storage("postgres", postgres_database, tmp_path / "data")
    first = [page_view("seen-once"), conversion("bought", order_id="order-1")]
    with ingest_on(storage) as replica_a, ingest_on(storage) as replica_b:
        assert track(replica_a, first).accepted_count == 2
        again = track(replica_b, [*first, conversion("bought-again", order_id="order-1")])
        assert [v.verdict for v in again.verdicts] == [DUPLICATE] * 3
        assert track(replica_a, [page_view("new")]).accepted_count == 1


def test_calls_over_the_concurrent_call_limit_are_refused_at_once(storage: Storage) -> None:
    limit = 2
    service = start(_settings(storage, max_concurrent_calls=limit))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = Stub(channel)
            assert track(stub, [page_view("warm-up")]).accepted_count == 1
            waiting: list[CallResult] = []
            with writes_blocked(storage):
                threads = [
                    call_in_thread(stub, [f"in-{c}-{n}" for n in range(BATCH)], waiting)
                    for c in range(limit)
                ]
                refused = first_refusal(stub, waiting)
            for thread in threads:
                thread.join(DEADLINE + 5)
    finally:
        service.stop(0)
    assert refused.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(waiting) == limit
    # grpcio counts a call until its completion is processed, so a call sent just after the
    # warm-up may itself be the one refused; every other call waited and was stored.
    accepted = [r for r in waiting if r.response is not None]
    assert accepted
    assert all(r.response.accepted_count == BATCH for r in accepted if r.response is not None)
    assert all(r.error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED for r in waiting if r.error)


def first_refusal(
    stub: Stub, waiting: list[CallResult], within: float = REFUSED_WITHIN
) -> grpc.RpcError:
    """The first refusal, of one of the waiting calls or of a cheap read sent again and again
    (answered at once while the calls in progress are under the limit)."""
    give_up = time.monotonic() + within
    while time.monotonic() < give_up:
        refused = [r.error for r in list(waiting) if r.error is not None]
        if refused:
            return refused[0]
        try:
            stub.GetLogHead(ingest_pb2.GetLogHeadRequest(), timeout=2.0)
        except grpc.RpcError as error:
            return error
        time.sleep(0.05)
    raise AssertionError(f"no call was refused within {within}s")


def test_the_queue_bounds_are_read_from_the_environment_and_checked() -> None:
    settings = IngestSettings.from_env(
        {"INGEST_MAX_QUEUED_EVENTS": "5000", "INGEST_MAX_CONCURRENT_CALLS": "8"}
    )
    assert (settings.max_queued_events, settings.max_concurrent_calls) == (5000, 8)
    with pytest.raises(SettingsError, match="INGEST_MAX_QUEUED_EVENTS 999 is below one full"):
        IngestSettings.from_env({"INGEST_MAX_QUEUED_EVENTS": "999"})
    with pytest.raises(SettingsError, match="INGEST_MAX_CONCURRENT_CALLS must be at least 1"):
        IngestSettings.from_env({"INGEST_MAX_CONCURRENT_CALLS": "0"})


def test_a_backfill_import_waits_out_a_busy_ingest_instead_of_failing(
    storage: Storage, served: ServedIngest
) -> None:
    assert track(served.stub, [page_view("warm-up")]).accepted_count == 1
    admitted: list[CallResult] = []
    lines = io.StringIO(
        "".join(
            json_format.MessageToJson(page_view(f"import-{n}"), indent=None) + "\n"
            for n in range(BATCH)
        )
    )
    tallies: list[ImportTally] = []
    failures: list[BaseException] = []

    def run_import() -> None:
        try:
            tallies.append(send_events(f"127.0.0.1:{served.server.port}", lines, batch_size=BATCH))
        except BaseException as error:
            failures.append(error)

    with writes_blocked(storage):
        threads = [
            call_in_thread(served.stub, [f"in-{c}-{n}" for n in range(BATCH)], admitted)
            for c in range(ADMITTED_CALLS)
        ]
        wait_until(lambda: served.app.writer.queued_items == MAX_QUEUED)
        importer = threading.Thread(target=run_import)
        importer.start()
        wait_until(lambda: served.app.writer.refused_items >= BATCH)
    importer.join(DEADLINE + 5)
    for thread in threads:
        thread.join(DEADLINE + 5)

    assert not failures, failures
    assert tallies and tallies[0].accepted == BATCH
    logged = {entry.page_view_recorded.envelope.event_id for entry in read_log(served.stub)}
    assert {f"import-{n}" for n in range(BATCH)} <= logged
