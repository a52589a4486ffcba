"""Stopping, killing and restarting the services mid-stream changes no report and loses nothing."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc
import psycopg
import pytest

from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import launcher
from services.sample_data import SampleConfig, batches, generate_sample
from tests.conftest import Storage
from tests.e2e.processes import ServiceCluster

pytestmark = pytest.mark.timeout(300)

PROPERTY = "demo-shop"
MODELS = ("last_click", "linear")
CONVERSION_NAMES = ("purchase", "sign_up")  # a report counts one name
BATCH_SIZE = 200
CALL_TIMEOUT = 30.0
SYNC_TIMEOUT = 120.0

Report = dict[str, object]


@dataclass
class Sent:
    """What ingest said about every event sent to it, call after call."""

    accepted: list[str] = field(default_factory=list)
    accepted_conversions: int = 0
    duplicates: int = 0
    rejected: int = 0

    def track(
        self, stub: ingest_pb2_grpc.IngestServiceStub, batch: Sequence[ingest_pb2.Event]
    ) -> ingest_pb2.TrackEventsResponse:
        """Sends one batch and records the verdicts.

        No `sent_at`: ingest would shift each batch's timestamps by its own measured clock
        skew, so two runs would not see bit-identical times.
        """
        response = stub.TrackEvents(
            ingest_pb2.TrackEventsRequest(events=batch), timeout=CALL_TIMEOUT
        )
        assert len(response.verdicts) == len(batch)
        for verdict in response.verdicts:
            if verdict.verdict == ingest_pb2.VERDICT_ACCEPTED:
                self.accepted.append(verdict.record_id)
                if batch[verdict.index].WhichOneof("kind") == "conversion":
                    self.accepted_conversions += 1
            elif verdict.verdict == ingest_pb2.VERDICT_DUPLICATE:
                self.duplicates += 1
            else:
                self.rejected += 1
        return response


def send(address: str, sent: Sent, chunks: Sequence[Sequence[ingest_pb2.Event]]) -> None:
    """Sends the batches one after the other to ingest."""
    with grpc.insecure_channel(address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        for batch in chunks:
            sent.track(stub, batch)


def fetch_reports(address: str, property_id: str = PROPERTY) -> dict[tuple[str, str], Report]:
    """Every report the test compares, by (conversion name, model), as plain values."""
    reports: dict[tuple[str, str], Report] = {}
    with grpc.insecure_channel(address) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        for name in CONVERSION_NAMES:
            for model in MODELS:
                response = stub.GetConversionReport(
                    reporting_pb2.GetConversionReportRequest(
                        property_id=property_id,
                        model=model,
                        group_by=reporting_pb2.GROUP_BY_CHANNEL,
                        conversion_name=name,
                    ),
                    timeout=CALL_TIMEOUT,
                )
                reports[(name, model)] = {
                    "rows": {
                        row.group: (
                            row.conversions,
                            (row.value.currency_code, row.value.units, row.value.nanos),
                            row.share,
                        )
                        for row in response.rows
                    },
                    "order": [row.group for row in response.rows],
                    "total_conversions": response.total_conversions,
                    "total_value": (
                        response.total_value.currency_code,
                        response.total_value.units,
                        response.total_value.nanos,
                    ),
                }
    return reports


def approx_floats(value: object) -> object:
    """The value with every float inside it compared with a relative tolerance of 1e-9."""
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9)
    if isinstance(value, dict):
        return {k: approx_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(approx_floats(v) for v in value)
    return value


def ingest_log_record_ids(address: str) -> list[str]:
    """The record id of every entry in ingest's log, in log order, read over gRPC."""
    record_ids: list[str] = []
    after = 0
    with grpc.insecure_channel(address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        while True:
            entries = stub.ListEvents(
                ingest_pb2.ListEventsRequest(after=after, limit=1000), timeout=CALL_TIMEOUT
            ).entries
            if not entries:
                return record_ids
            for entry in entries:
                kind = entry.WhichOneof("event")
                assert kind is not None, f"log entry {entry.position} has no event"
                record_ids.append(getattr(entry, kind).envelope.record_id)
            after = entries[-1].position


def attribution_lag(address: str, ingest_address: str) -> tuple[int, int]:
    """(ingest's log head, attribution's position in it)."""
    with (
        grpc.insecure_channel(address) as channel,
        grpc.insecure_channel(ingest_address) as ingest_channel,
    ):
        head = (
            ingest_pb2_grpc.IngestServiceStub(ingest_channel)
            .GetLogHead(ingest_pb2.GetLogHeadRequest(), timeout=CALL_TIMEOUT)
            .position
        )
        status = attribution_pb2_grpc.AttributionServiceStub(channel).GetSyncStatus(
            attribution_pb2.GetSyncStatusRequest(), timeout=CALL_TIMEOUT
        )
        at = {u.upstream: u.position for u in status.upstreams}
        return head, at.get("ingest", 0)


def wait_while_attribution_works(cluster: ServiceCluster, pending_for: float = 0.3) -> str:
    """Waits until attribution is mid-backlog: seen moving through ingest's log but not at its
    head, or behind it for `pending_for` seconds (its page is then most likely in flight)."""
    addresses = cluster.addresses
    started = time.monotonic()
    head, first = attribution_lag(addresses.attribution, addresses.ingest)
    while True:
        head, at = attribution_lag(addresses.attribution, addresses.ingest)
        if at >= head:
            return f"attribution already caught up at {at} of {head}"
        if at > first:
            return f"attribution moving, at {at} of {head}"
        if time.monotonic() - started >= pending_for:
            return f"attribution behind, at {at} of {head}"
        time.sleep(0.01)


@pytest.fixture
def reference_env(
    storage: Storage, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[dict[str, str]]:
    """Storage for the reference run, apart from the test's: its own data dir or database."""
    env = {"CONVTRACK_DATA_DIR": str(tmp_path / "reference-data")}
    if storage.backend != "postgres":
        yield env
        return
    admin_url: str = request.getfixturevalue("postgres_admin_url")
    name = f"convtrack_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {
            **env,
            "CONVTRACK_DATABASE_URL": f"{admin_url.rsplit('/', 1)[0]}/{name}",
            "CONVTRACK_ALLOW_GENERATED_SECRETS": "1",
        }
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reference_run(
    env: dict[str, str], chunks: Sequence[Sequence[ingest_pb2.Event]]
) -> tuple[Sent, dict[tuple[str, str], Report]]:
    """All batches through the four services in one process, never interrupted."""
    sent = Sent()
    running, addresses = launcher.start_all(env, any_port=True)
    try:
        send(addresses.ingest, sent, chunks)
        launcher.wait_for_sync(addresses, timeout=SYNC_TIMEOUT)
        return sent, fetch_reports(addresses.reporting)
    finally:
        launcher.stop_all(running)


def test_reports_survive_sigterm_and_sigkill_restarts_mid_stream(
    storage: Storage, reference_env: dict[str, str], tmp_path: Path
) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()

    # A seeded sample of a few thousand events, in batches of 200.
    events = generate_sample(SampleConfig(end=datetime.now(UTC), visitors=300, seed=11))
    chunks = list(batches(events, BATCH_SIZE))
    assert len(chunks) >= 8, f"sample too small: {len(events)} events"
    half = len(chunks) // 2
    first, few, rest = chunks[:half], chunks[half : half + 2], chunks[half + 2 :]

    # The reference: the same sample, never interrupted, in one process.
    reference_sent, expected = reference_run(reference_env, chunks)
    timings["reference"] = time.monotonic() - started

    storage_env = {"CONVTRACK_DATA_DIR": str(storage.data_dir)}
    if storage.database_url:
        storage_env["CONVTRACK_DATABASE_URL"] = storage.database_url
    sent = Sent()
    with ServiceCluster(storage_env, tmp_path / "logs") as cluster:
        addresses = cluster.addresses
        phase = time.monotonic()
        cluster.start()
        timings["first start"] = time.monotonic() - phase

        # The first half, then SIGTERM to all four while the consumers are still catching up.
        send(addresses.ingest, sent, first)
        head, at = attribution_lag(addresses.attribution, addresses.ingest)
        print(f"SIGTERM with attribution at {at} of ingest's {head}")
        phase = time.monotonic()
        exits = cluster.stop(signum=signal.SIGTERM)
        timings["graceful stop"] = time.monotonic() - phase
        assert exits == dict.fromkeys(exits, 0), f"graceful shutdown exit codes: {exits}"

        # Restart all four, send a few more, then SIGKILL attribution mid-work, and identity.
        phase = time.monotonic()
        cluster.start()
        timings["restart"] = time.monotonic() - phase
        send(addresses.ingest, sent, few)
        print(f"SIGKILL with {wait_while_attribution_works(cluster)}")
        exits = cluster.stop(["attribution", "identity"], signum=signal.SIGKILL)
        assert exits == {"attribution": -signal.SIGKILL, "identity": -signal.SIGKILL}
        cluster.start(["identity", "attribution"])

        # The rest, plus two earlier batches again: retries must be stored once.
        retried = Sent()
        send(addresses.ingest, sent, rest)
        send(addresses.ingest, retried, [first[0], few[-1]])
        assert retried.accepted == [], "a retried event was accepted a second time"
        assert retried.duplicates + retried.rejected == len(first[0]) + len(few[-1])

        phase = time.monotonic()
        launcher.wait_for_sync(addresses, timeout=SYNC_TIMEOUT)
        timings["final sync"] = time.monotonic() - phase
        actual = fetch_reports(addresses.reporting)
        logged = ingest_log_record_ids(addresses.ingest)

        exits = cluster.stop(signum=signal.SIGTERM)
        assert exits == dict.fromkeys(exits, 0), f"graceful shutdown exit codes: {exits}"
    timings["total"] = time.monotonic() - started
    print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))

    # Every accepted event is in ingest's log exactly once, and the same as in the reference.
    assert len(sent.accepted) == len(set(sent.accepted)), "an event was accepted twice"
    assert len(logged) == len(set(sent.accepted))
    assert sorted(logged) == sorted(sent.accepted)
    assert sorted(sent.accepted) == sorted(reference_sent.accepted)
    assert (sent.duplicates, sent.rejected) == (reference_sent.duplicates, reference_sent.rejected)

    # The reports are those of the uninterrupted run, and count every accepted conversion.
    assert sent.accepted_conversions > 0
    assert all(report["rows"] for report in expected.values()), expected
    assert actual == approx_floats(expected)
    for model in MODELS:
        totals = [actual[(name, model)]["total_conversions"] for name in CONVERSION_NAMES]
        counted = sum(total for total in totals if isinstance(total, float))
        assert counted == pytest.approx(sent.accepted_conversions, rel=1e-9)
