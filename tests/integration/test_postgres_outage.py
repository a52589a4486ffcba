"""PostgreSQL stopped mid-load: no acknowledged event is lost, and every failed call says
UNAVAILABLE (without the database's address), so clients retry; consumers resume after it."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from common.grpc_errors import retry_delay_of
from common.server import RunningService
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.identity import server as identity_server
from services.ingest import server as ingest_server
from tests.conftest import REQUIRE_POSTGRES
from tests.integration.helpers_ingest import envelope, log_head, page_view, read_log, track
from tests.integration.private_postgres import PrivatePostgres, PrivatePostgresUnavailableError

pytestmark = pytest.mark.postgres

CLIENTS = 3
BATCH = 40
# Shorter than the outage, so that calls must fail while the database is down (with a
# 10 s deadline ingest would wait the 5 s out and answer), and must fail before it ends.
DEADLINE = 4.0
OUTAGE_SECONDS = 5.0
WARM_UP_CALLS = 3
RECOVERY_CALLS_PER_CLIENT = 2
PHASE_TIMEOUT = 30.0
DUPLICATE = ingest_pb2.VERDICT_DUPLICATE
READ_DEADLINE = 10.0
# Long enough that a pool backing off exponentially (1, 2, 4, 8, 16 s between attempts) would
# make its next attempt well after the restart: the first call after it waited in vain.
LONG_OUTAGE_SECONDS = 18.0


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test's own, which it may stop and restart."""
    try:
        cluster = PrivatePostgres()
    except PrivatePostgresUnavailableError as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (CONVTRACK_REQUIRE_POSTGRES) but: {error}")
        pytest.skip(f"cannot run a private PostgreSQL cluster: {error}")
    try:
        yield cluster
    finally:
        cluster.remove()


@dataclass(frozen=True)
class FailedCall:
    """A TrackEvents call that failed: its status and retry hint."""

    code: grpc.StatusCode
    details: str
    retry_delay: timedelta | None
    seconds: float


@dataclass
class LoadClient:
    """Sends batches of new events until told to stop; retries a failed batch until stored."""

    number: int
    stub: ingest_pb2_grpc.IngestServiceStub
    stop_sending: threading.Event
    give_up_at: float
    sent: list[str] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    stored_by_failed_calls: list[str] = field(default_factory=list)
    failures: list[FailedCall] = field(default_factory=list)
    successes: list[float] = field(default_factory=list)
    crash: BaseException | None = None

    def run(self) -> None:
        try:
            batch = 0
            while not self.stop_sending.is_set():
                self._store(batch)
                batch += 1
        except BaseException as error:  # the test reports it
            self.crash = error

    def _store(self, batch: int) -> None:
        ids = [f"c{self.number}-b{batch}-e{k}" for k in range(BATCH)]
        self.sent.extend(ids)
        request = ingest_pb2.TrackEventsRequest(
            events=[
                page_view(event_id, identity=ingest_pb2.Identity(anonymous_id=f"anon-{k % 7}"))
                for k, event_id in enumerate(ids)
            ]
        )
        retried = False
        while True:
            started = time.monotonic()
            try:
                response = self.stub.TrackEvents(request, timeout=DEADLINE)
            except grpc.RpcError as error:
                delay = retry_delay_of(error)
                self.failures.append(
                    FailedCall(
                        error.code(), error.details() or "", delay, time.monotonic() - started
                    )
                )
                if time.monotonic() > self.give_up_at:
                    raise
                time.sleep(delay.total_seconds() if delay else 1.0)
                retried = True
                continue
            assert response.rejected_count == 0, response
            self.acknowledged.extend(ids)
            if retried:
                self.stored_by_failed_calls.extend(
                    v.event_id for v in response.verdicts if v.verdict == DUPLICATE
                )
            self.successes.append(time.monotonic())
            return


def wait_until(condition: Callable[[], bool], what: str, timeout: float = PHASE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def identity_position(stub: identity_pb2_grpc.IdentityServiceStub) -> int:
    response = stub.GetSyncStatus(identity_pb2.GetSyncStatusRequest(), timeout=DEADLINE)
    return {u.upstream: u.position for u in response.upstreams}.get("ingest", 0)


def test_postgres_stopped_mid_load_fails_calls_unavailable_and_loses_no_acknowledged_event(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    url = private_postgres.url
    ingest = ingest_server.start(
        ingest_server.IngestSettings(
            listen="127.0.0.1:0", database_url=url, data_dir=tmp_path, identity_addr=""
        )
    )
    services: list[RunningService] = [ingest]
    channels = [grpc.insecure_channel(f"127.0.0.1:{ingest.port}")]
    try:
        services.append(
            identity_server.start(
                identity_server.IdentitySettings(
                    listen="127.0.0.1:0",
                    database_url=url,
                    data_dir=tmp_path,
                    ingest_addr=f"127.0.0.1:{ingest.port}",
                    matching_interval=timedelta(0),
                )
            )
        )
        channels.append(grpc.insecure_channel(f"127.0.0.1:{services[1].port}"))
        stub = ingest_pb2_grpc.IngestServiceStub(channels[0])
        identity = identity_pb2_grpc.IdentityServiceStub(channels[1])
        stop_sending = threading.Event()
        clients = [
            LoadClient(n, stub, stop_sending, time.monotonic() + 4 * PHASE_TIMEOUT)
            for n in range(CLIENTS)
        ]
        threads = [threading.Thread(target=c.run, name=f"load-{c.number}") for c in clients]
        for thread in threads:
            thread.start()

        wait_until(lambda: sum(len(c.successes) for c in clients) >= WARM_UP_CALLS, "warm-up")
        private_postgres.stop()
        stopped_at = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        private_postgres.start()
        restarted_at = time.monotonic()
        wait_until(
            lambda: all(
                sum(s > restarted_at for s in c.successes) >= RECOVERY_CALLS_PER_CLIENT
                for c in clients
            ),
            "every client to store batches again after the restart",
        )
        recovered_after = max(min(s for s in c.successes if s > restarted_at) for c in clients)
        stop_sending.set()
        for thread in threads:
            thread.join(PHASE_TIMEOUT)

        assert [c.crash for c in clients] == [None] * CLIENTS
        failures = [f for c in clients for f in c.failures]
        assert failures, "no call failed while PostgreSQL was down: the outage was not tested"
        assert {f.code for f in failures} == {grpc.StatusCode.UNAVAILABLE}, Counter(
            (f.code, f.details) for f in failures
        )
        for failure in failures:
            assert failure.retry_delay is not None
            for leak in ("127.0.0.1", str(private_postgres.port), "psycopg", "SELECT", "INSERT"):
                assert leak not in failure.details, failure.details

        logged = Counter(envelope(entry).event_id for entry in read_log(stub))
        sent = [event_id for c in clients for event_id in c.sent]
        acknowledged = [event_id for c in clients for event_id in c.acknowledged]
        assert sorted(acknowledged) == sorted(sent)
        assert [event_id for event_id, count in logged.items() if count != 1] == []
        assert set(logged) == set(sent)

        head = log_head(stub)
        wait_until(lambda: identity_position(identity) >= head, "identity to catch up")
        print(
            f"outage {OUTAGE_SECONDS:.0f}s: {len(failures)} failed calls "
            f"(longest {max(f.seconds for f in failures):.1f}s), "
            f"{sum(len(c.stored_by_failed_calls) for c in clients)} events stored by failed "
            f"calls, first batch stored {recovered_after - restarted_at:.1f}s after restart "
            f"({restarted_at - stopped_at:.1f}s stop), {len(sent)} events"
        )
    finally:
        for channel in channels:
            channel.close()
        for service in reversed(services):
            service.stop(0)


def failed_call_of(call: Callable[[], object]) -> tuple[grpc.StatusCode, float]:
    """The status code of a call that must fail, and the seconds it took."""
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), time.monotonic() - started


def test_reads_in_an_outage_answer_unavailable_in_time_and_calls_after_a_restart_succeed(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    ingest = ingest_server.start(
        ingest_server.IngestSettings(
            listen="127.0.0.1:0",
            database_url=private_postgres.url,
            data_dir=tmp_path,
            identity_addr="",
        )
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{ingest.port}") as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            before = [track(stub, [page_view(f"before-{n}")]) for n in range(3)]
            private_postgres.stop()
            private_postgres.start()
            after_idle_restart = [track(stub, [page_view(f"after-{n}")]) for n in range(3)]
            private_postgres.stop()
            stopped_at = time.monotonic()
            head_in_outage = failed_call_of(
                lambda: stub.GetLogHead(ingest_pb2.GetLogHeadRequest(), timeout=READ_DEADLINE)
            )
            page_in_outage = failed_call_of(
                lambda: stub.ListEvents(ingest_pb2.ListEventsRequest(), timeout=READ_DEADLINE)
            )
            time.sleep(max(0.0, LONG_OUTAGE_SECONDS - (time.monotonic() - stopped_at)))
            private_postgres.start()
            head_after = log_head(stub)
    finally:
        ingest.stop(0)
    assert [r.accepted_count for r in before + after_idle_restart] == [1] * 6
    assert [head_in_outage[0], page_in_outage[0]] == [grpc.StatusCode.UNAVAILABLE] * 2
    assert head_in_outage[1] < READ_DEADLINE and page_in_outage[1] < READ_DEADLINE
    assert head_after >= 6
