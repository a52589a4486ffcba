"""Rate limits per API key over real servers: a flood from one key is refused with
RESOURCE_EXHAUSTED and a RetryInfo while another key's calls still pass, and a retry after
the delay passes."""

from __future__ import annotations

import time
from collections.abc import Iterator
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


def _mint(data_dir: Path) -> tuple[str, str]:
    api_keys, close = offline_api_keys(IngestSettings(data_dir=data_dir))
    try:
        scopes = [Scope.INGEST_WRITE, Scope.REPORTS_READ]
        now = datetime.now(UTC)
        first, second = (
            api_keys.create(property_id=PROPERTY, scopes=scopes, now=now).token for _ in range(2)
        )
        return first, second
    finally:
        close()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    data_dir = tmp_path_factory.mktemp("limits") / "data"
    flooder, quiet = _mint(data_dir)
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


def test_the_local_caller_is_not_limited_when_authentication_is_off(limited: Limited) -> None:
    for round_ in range(3):
        _track(limited.local_ingest, None, 10, f"local-{round_}")
