"""Rate limits per API key over real servers: a flood from one key is refused with
RESOURCE_EXHAUSTED and a RetryInfo while another key's calls still pass, and a retry after
the delay passes."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from common.callers import Scope
from common.grpc_errors import retry_delay_of
from common.server import RunningService
from common.telemetry import Telemetry
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import launcher
from services.ingest.server import IngestSettings, offline_api_keys
from tests.integration.helpers_ingest import PROPERTY, page_view
from tests.integration.test_auth_matrix import store_key_set

DEADLINE = 10.0


@dataclass
class Limited:
    ingest: ingest_pb2_grpc.IngestServiceStub
    reporting: reporting_pb2_grpc.ReportingServiceStub
    flooder: str
    quiet: str
    local_ingest: ingest_pb2_grpc.IngestServiceStub
    spare: list[str]  # keys no other test spends


def _mint(data_dir: Path, count: int = 2) -> list[str]:
    api_keys, close = offline_api_keys(IngestSettings(data_dir=data_dir))
    try:
        scopes = [Scope.INGEST_WRITE, Scope.REPORTS_READ]
        now = datetime.now(UTC)
        return [
            api_keys.create(property_id=PROPERTY, scopes=scopes, now=now).token
            for _ in range(count)
        ]
    finally:
        close()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    data_dir = tmp_path_factory.mktemp("limits") / "data"
    flooder, quiet, *spare = _mint(data_dir, 4)
    env = {
        "CONVTRACK_DATA_DIR": str(data_dir),
        "CONVTRACK_AUTH": "keys",
        "INGEST_RATE_LIMIT": "10",
        "INGEST_RATE_BURST": "10",
        "REPORTING_RATE_LIMIT": "2",
        "REPORTING_RATE_BURST": "2",
    }
    running: list[RunningService] = []
    with ExitStack() as cleanup:
        cleanup.callback(lambda: launcher.stop_all(running))
        ingest = launcher.start_one("ingest", env, {"listen": "127.0.0.1:0", "identity_addr": ""})
        running.append(ingest)
        module, settings_class = launcher.server("reporting")
        reporting = module.start(
            replace(
                settings_class.from_env(env),
                listen="127.0.0.1:0",
                attribution_addr="127.0.0.1:1",
                ingest_addr=f"127.0.0.1:{ingest.port}",
            ),
            Telemetry(),
            key_set=lambda: store_key_set(data_dir),
        )
        running.append(reporting)
        # Authentication off: the local caller, not limited unless configured.
        local_env = {
            **env,
            "CONVTRACK_AUTH": "off",
            "CONVTRACK_DATA_DIR": str(data_dir.parent / "local"),
        }
        local = launcher.start_one(
            "ingest", local_env, {"listen": "127.0.0.1:0", "identity_addr": ""}
        )
        running.append(local)
        channels = [
            grpc.insecure_channel(f"127.0.0.1:{port}")
            for port in (ingest.port, reporting.port, local.port)
        ]
        for channel in channels:
            cleanup.callback(channel.close)
        yield Limited(
            ingest_pb2_grpc.IngestServiceStub(channels[0]),
            reporting_pb2_grpc.ReportingServiceStub(channels[1]),
            flooder,
            quiet,
            ingest_pb2_grpc.IngestServiceStub(channels[2]),
            spare,
        )


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def _track(
    stub: ingest_pb2_grpc.IngestServiceStub, token: str | None, count: int, tag: str
) -> None:
    request = ingest_pb2.TrackEventsRequest(events=[page_view(f"{tag}-{i}") for i in range(count)])
    stub.TrackEvents(request, timeout=DEADLINE, metadata=_bearer(token) if token else None)


def _exhausted(call: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()  # type: ignore[operator]
    error = raised.value
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, error
    return error


def test_an_event_flood_from_one_key_is_limited_while_another_key_passes(limited: Limited) -> None:
    _track(limited.ingest, limited.flooder, 10, "flood-a")
    error = _exhausted(lambda: _track(limited.ingest, limited.flooder, 4, "flood-b"))
    delay = retry_delay_of(error)
    assert delay is not None and 0 < delay.total_seconds() <= 0.4 + 1e-6
    assert "10 events per second" in (error.details() or "")

    _track(limited.ingest, limited.quiet, 10, "quiet-a")

    time.sleep(delay.total_seconds())
    _track(limited.ingest, limited.flooder, 4, "flood-b")


def test_a_query_flood_from_one_key_is_limited_while_another_key_passes(limited: Limited) -> None:
    def query(token: str) -> None:
        limited.reporting.ListDimensions(
            reporting_pb2.ListDimensionsRequest(), timeout=DEADLINE, metadata=_bearer(token)
        )

    query(limited.flooder)
    query(limited.flooder)
    error = _exhausted(lambda: query(limited.flooder))
    delay = retry_delay_of(error)
    assert delay is not None and 0 < delay.total_seconds() <= 0.5 + 1e-6
    assert "queries per second" in (error.details() or "")
    query(limited.quiet)
    time.sleep(delay.total_seconds())
    query(limited.flooder)


def test_another_keys_calls_pass_while_a_flood_is_being_refused(limited: Limited) -> None:
    """The flood runs in threads, on ingest and on reporting, while the other key calls both:
    the other key's calls all pass, and the flood is refused with RetryInfo meanwhile."""
    flooder, quiet = limited.spare
    refused = {"ingest": threading.Event(), "reporting": threading.Event()}
    stop = threading.Event()
    codes: list[grpc.StatusCode] = []

    def query(token: str) -> None:
        limited.reporting.ListDimensions(
            reporting_pb2.ListDimensionsRequest(), timeout=DEADLINE, metadata=_bearer(token)
        )

    def flood(service: str) -> None:
        sent = 0
        while not stop.is_set():
            sent += 1
            try:
                if service == "ingest":
                    _track(limited.ingest, flooder, 5, f"threaded-{sent}")
                else:
                    query(flooder)
            except grpc.RpcError as error:
                codes.append(error.code())
                if error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
                    assert retry_delay_of(error) is not None
                    refused[service].set()

    with ThreadPoolExecutor(4) as pool:
        floods = [pool.submit(flood, service) for service in [*refused, *refused]]
        try:
            for service, event in refused.items():
                assert event.wait(DEADLINE), f"the flood on {service} was never refused"
            # Within its own limits (2 queries, 10 events at once), while the flood goes on.
            for round_ in range(2):
                query(quiet)
                _track(limited.ingest, quiet, 5, f"meanwhile-{round_}")
            assert not any(f.done() for f in floods), "the flood stopped before the other key"
        finally:
            stop.set()
        for done in floods:
            done.result()
    assert set(codes) == {grpc.StatusCode.RESOURCE_EXHAUSTED}, codes


def test_the_local_caller_is_not_limited_when_authentication_is_off(limited: Limited) -> None:
    for round_ in range(3):
        _track(limited.local_ingest, None, 10, f"local-{round_}")


@dataclass
class Replicas:
    """Two ingest replicas on one PostgreSQL database, and fresh keys to spend."""

    first: ingest_pb2_grpc.IngestServiceStub
    second: ingest_pb2_grpc.IngestServiceStub
    stop_second: Callable[[], None]
    keys: Iterator[str]


@pytest.fixture
def replicas(postgres_database: str, tmp_path: Path) -> Iterator[Replicas]:
    env = {
        "CONVTRACK_DATA_DIR": str(tmp_path / "data"),
        "CONVTRACK_DATABASE_URL": postgres_database,
        "INGEST_VAULT_SECRET": secrets.token_hex(32),
        "CONVTRACK_AUTH": "keys",
        # The deployment's figures: bursts of 10 events, refilled so slowly (one event per
        # 50 s) that no test here sees a refill.
        "INGEST_RATE_LIMIT": "0.02",
        "INGEST_RATE_BURST": "10",
    }
    api_keys, close = offline_api_keys(IngestSettings.from_env(env))
    try:
        now = datetime.now(UTC)
        tokens = [
            api_keys.create(property_id=PROPERTY, scopes=[Scope.INGEST_WRITE], now=now).token
            for _ in range(40)
        ]
    finally:
        close()
    overrides = {"listen": "127.0.0.1:0", "identity_addr": ""}
    running: list[RunningService] = []
    with ExitStack() as cleanup:
        cleanup.callback(lambda: launcher.stop_all(running))
        for _ in range(2):
            running.append(launcher.start_one("ingest", env, overrides))
        stubs = []
        for service in running:
            channel = grpc.insecure_channel(f"127.0.0.1:{service.port}")
            cleanup.callback(channel.close)
            stubs.append(ingest_pb2_grpc.IngestServiceStub(channel))

        def stop_second() -> None:
            second = running.pop()
            second.stop()

        yield Replicas(stubs[0], stubs[1], stop_second, iter(tokens))


def _sees_replicas(stub: ingest_pb2_grpc.IngestServiceStub, token: str, tag: str) -> int:
    """How many replicas the server divides the limits among (1 or 2), from what a fresh
    key may send: half the burst (5 events) and nothing more with two replicas, the whole
    burst (10) with one."""
    _track(stub, token, 5, f"{tag}-a")
    try:
        _track(stub, token, 5, f"{tag}-b")
    except grpc.RpcError as error:
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, error
        return 2
    return 1


def _wait_until_seen(stub: ingest_pb2_grpc.IngestServiceStub, keys: Iterator[str], n: int) -> None:
    """Waits (spending a fresh key per look) until the replica divides its limits by `n`
    (replicas are counted every couple of seconds)."""
    for attempt in range(20):
        if _sees_replicas(stub, next(keys), f"probe-{n}-{attempt}-{time.monotonic_ns()}") == n:
            return
        time.sleep(0.5)
    raise AssertionError(f"the replica never divided its limits by {n}")


@pytest.mark.postgres
def test_a_keys_rate_is_the_deployments_however_many_replicas_serve_it(
    replicas: Replicas,
) -> None:
    # Both replicas counted each other: each allows half the deployment's burst.
    _wait_until_seen(replicas.first, replicas.keys, 2)
    _wait_until_seen(replicas.second, replicas.keys, 2)

    # A key whose calls are spread over the replicas gets the deployment's 10 events in all.
    flooder, quiet = next(replicas.keys), next(replicas.keys)
    _track(replicas.first, flooder, 5, "spread-a")
    _track(replicas.second, flooder, 5, "spread-b")
    for stub in (replicas.first, replicas.second):
        error = _exhausted(lambda stub=stub: _track(stub, flooder, 1, "spread-c"))  # type: ignore[misc]
        assert retry_delay_of(error) is not None
        assert "shared by 2 replicas" in (error.details() or "")
    # Meanwhile another key passes on both.
    _track(replicas.first, quiet, 5, "quiet-a")
    _track(replicas.second, quiet, 5, "quiet-b")

    # One replica left: it allows the whole burst again.
    replicas.stop_second()
    _wait_until_seen(replicas.first, replicas.keys, 1)
