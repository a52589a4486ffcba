"""The four services started as a local deployment on SQLite or PostgreSQL, with stubs to them:
the system the report integration tests send their scenarios to."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import grpc
import pytest

from common.server import RunningService
from convtrack.identity.v1 import identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2_grpc
from services import launcher
from services.reporting.server import ReportingSettings
from tests.conftest import fresh_postgres_database

DEADLINE = 30.0
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""The params of a module-scoped `system` fixture: once per backend."""


@dataclass
class FourServices:
    """Ingest, identity, attribution and reporting, running, with stubs to them."""

    backend: str
    env: dict[str, str]
    running: list[RunningService]
    addresses: launcher.Addresses
    ingest: ingest_pb2_grpc.IngestServiceStub
    identity: identity_pb2_grpc.IdentityServiceStub
    reporting: reporting_pb2_grpc.ReportingServiceStub

    def settings(self) -> ReportingSettings:
        """Reporting's settings, to open its views."""
        return ReportingSettings.from_env(self.env)

    def track(self, events: list[ingest_pb2.Event]) -> ingest_pb2.TrackEventsResponse:
        """Sends the events to ingest."""
        request = ingest_pb2.TrackEventsRequest(events=events)
        return self.ingest.TrackEvents(request, timeout=DEADLINE)  # type: ignore[no-any-return]

    def sync(self) -> None:
        """Waits until identity, attribution and reporting have caught up."""
        launcher.wait_for_sync(self.addresses, timeout=60)


@contextmanager
def four_services(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[FourServices]:
    """The four services on the backend `request.param` names ("sqlite" or "postgres", a
    fresh database), data under a temporary folder called `name`; stopped on leaving."""
    env = {"CONVTRACK_DATA_DIR": str(tmp_path_factory.mktemp(name) / "data")}
    with ExitStack() as cleanup:
        if request.param == "postgres":
            admin_url = request.getfixturevalue("postgres_admin_url")
            env["CONVTRACK_DATABASE_URL"] = cleanup.enter_context(
                fresh_postgres_database(admin_url)
            )
            env["INGEST_VAULT_SECRET"] = secrets.token_hex(32)
        running, addresses = launcher.start_all(env, any_port=True)
        cleanup.callback(launcher.stop_all, running)
        ingest_channel = cleanup.enter_context(grpc.insecure_channel(addresses.ingest))
        identity_channel = cleanup.enter_context(grpc.insecure_channel(addresses.identity))
        reporting_channel = cleanup.enter_context(grpc.insecure_channel(addresses.reporting))
        yield FourServices(
            request.param,
            dict(env),
            running,
            addresses,
            ingest_pb2_grpc.IngestServiceStub(ingest_channel),
            identity_pb2_grpc.IdentityServiceStub(identity_channel),
            reporting_pb2_grpc.ReportingServiceStub(reporting_channel),
        )
