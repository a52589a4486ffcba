"""Log reads keep worker threads that write calls cannot take: with ingest's store blocked and
more TrackEvents calls sent than the server has worker threads, the followers' ListEvents and
GetLogHead are still answered, before any write call finishes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
import pytest

from common.admission import AdmissionLimit
from common.grpc_errors import retry_delay_of
from common.server import SERVER_WORKERS, GrpcServer
from common.settings import SettingsError
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.api_keys import ApiKeys
from services.ingest.application import IngestApplication
from services.ingest.server import (
    DEFAULT_MAX_RUNNING_WRITES,
    SERVICE_NAME,
    IngestSettings,
    build_application,
    write_admission,
)
from services.ingest.servicer import IngestServicer
from tests.conftest import Storage
from tests.integration.helpers_ingest import page_view, track, wait_until, writes_blocked

Stub = ingest_pb2_grpc.IngestServiceStub
BATCH = 10
CALLS = SERVER_WORKERS + 2
WRITE_DEADLINE = 60.0
# Generous: a read answered at all while the store is blocked is the point, not its speed.
READ_DEADLINE = 15.0


@dataclass
class Served:
    """Ingest served over gRPC as its composition root composes it, with the app at hand."""

    app: IngestApplication
    admission: AdmissionLimit
    stub: Stub


@pytest.fixture
def served(storage: Storage) -> Iterator[Served]:
    settings = IngestSettings(
        listen="127.0.0.1:0", database_url=storage.database_url, data_dir=storage.data_dir
    )
    app = build_application(settings)
    servicer = IngestServicer(app, ApiKeys(app))
    admission = write_admission(settings)
    server = GrpcServer(
        listen="127.0.0.1:0",
        service_names=[SERVICE_NAME],
        register=lambda s: ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, s),
        interceptors=[admission],
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield Served(app, admission, Stub(channel))
    finally:
        server.stop(0)
        app.close()


@dataclass
class Outcomes:
    """How the write calls ended, as they end."""

    answered: list[ingest_pb2.TrackEventsResponse] = field(default_factory=list)
    refused: list[grpc.RpcError] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> tuple[int, int]:
        with self.lock:
            return len(self.answered), len(self.refused)


def send_in_thread(stub: Stub, call: int, outcomes: Outcomes) -> threading.Thread:
    def run() -> None:
        events = [page_view(f"write-{call}-{n}") for n in range(BATCH)]
        try:
            response = track(stub, events, timeout=WRITE_DEADLINE)
            with outcomes.lock:
                outcomes.answered.append(response)
        except grpc.RpcError as error:
            with outcomes.lock:
                outcomes.refused.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_log_reads_are_answered_while_write_calls_wait_for_a_blocked_store(
    storage: Storage, served: Served
) -> None:
    # The warm-up commits the identifier's key, so that later calls only wait to write.
    assert track(served.stub, [page_view("warm-up")]).accepted_count == 1
    outcomes = Outcomes()
    with writes_blocked(storage):
        threads = [send_in_thread(served.stub, call, outcomes) for call in range(CALLS)]

        # Every call has either been refused, or holds its events in the writer's queue: the
        # writes hold as many worker threads as they ever will.
        def settled() -> bool:
            held_calls = served.app.writer.queued_items // BATCH
            return held_calls + outcomes.count()[1] == CALLS or held_calls == SERVER_WORKERS

        wait_until(settled)
        page = served.stub.ListEvents(
            ingest_pb2.ListEventsRequest(after=0, limit=10), timeout=READ_DEADLINE
        )
        head = served.stub.GetLogHead(ingest_pb2.GetLogHeadRequest(), timeout=READ_DEADLINE)
        answered_while_blocked = outcomes.count()[0]
        running_while_blocked = served.admission.running
    for thread in threads:
        thread.join(WRITE_DEADLINE + 5)

    assert [e.page_view_recorded.envelope.event_id for e in page.entries] == ["warm-up"]
    assert head.position == page.entries[0].position
    assert answered_while_blocked == 0, "a write call finished while the store was blocked"
    assert running_while_blocked == DEFAULT_MAX_RUNNING_WRITES
    assert (served.admission.running, served.admission.refused) == (
        0,
        CALLS - DEFAULT_MAX_RUNNING_WRITES,
    )
    assert len(outcomes.answered) == DEFAULT_MAX_RUNNING_WRITES
    assert all(r.accepted_count == BATCH for r in outcomes.answered)
    assert len(outcomes.refused) == CALLS - DEFAULT_MAX_RUNNING_WRITES
    for error in outcomes.refused:
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert retry_delay_of(error) is not None


def test_the_running_writes_bound_is_read_from_the_environment_and_checked() -> None:
    assert IngestSettings.from_env({"INGEST_MAX_RUNNING_WRITES": "3"}).max_running_writes == 3
    assert IngestSettings.from_env({}).max_running_writes == DEFAULT_MAX_RUNNING_WRITES
    for value in ("0", str(SERVER_WORKERS)):
        with pytest.raises(SettingsError, match="INGEST_MAX_RUNNING_WRITES must be between"):
            IngestSettings.from_env({"INGEST_MAX_RUNNING_WRITES": value})
