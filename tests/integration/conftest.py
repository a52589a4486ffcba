"""The four services in one process for a whole test module, on each backend, seeded with the
end-to-end tests' cross-device journey: for tests that only ask (or are refused), so they need
not start their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import grpc
import pytest

from common.server import RunningService
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2_grpc
from services import launcher
from tests.conftest import fresh_postgres_database
from tests.e2e.system import PROPERTY as SEED_PROPERTY
from tests.e2e.system import cross_device_journey

SEED_DEADLINE = 15.0


@dataclass
class SharedSystem:
    """The running services, a channel to each, and ids that exist in them."""

    backend: str
    running: list[RunningService]
    addresses: launcher.Addresses
    channels: dict[str, grpc.Channel]
    conversion_id: str = ""
    person_id: str = ""
    job_id: str = ""
    known_ids: list[str] = field(default_factory=list)

    @property
    def ingest(self) -> ingest_pb2_grpc.IngestServiceStub:
        return ingest_pb2_grpc.IngestServiceStub(self.channels["ingest"])

    @property
    def identity(self) -> identity_pb2_grpc.IdentityServiceStub:
        return identity_pb2_grpc.IdentityServiceStub(self.channels["identity"])

    @property
    def attribution(self) -> attribution_pb2_grpc.AttributionServiceStub:
        return attribution_pb2_grpc.AttributionServiceStub(self.channels["attribution"])

    @property
    def reporting(self) -> reporting_pb2_grpc.ReportingServiceStub:
        return reporting_pb2_grpc.ReportingServiceStub(self.channels["reporting"])


def _seed(system: SharedSystem) -> None:
    tracked = system.ingest.TrackEvents(
        ingest_pb2.TrackEventsRequest(events=cross_device_journey()), timeout=SEED_DEADLINE
    )
    assert tracked.rejected_count == 0, tracked
    launcher.wait_for_sync(system.addresses, timeout=60)
    resolved = system.identity.ResolveIdentity(
        identity_pb2.ResolveIdentityRequest(
            property_id=SEED_PROPERTY,
            identifier=common_pb2.Identifier(
                type=common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID, value="phone-cookie"
            ),
        ),
        timeout=SEED_DEADLINE,
    )
    job = system.attribution.StartReattribution(
        attribution_pb2.StartReattributionRequest(), timeout=SEED_DEADLINE
    )
    system.conversion_id = tracked.verdicts[-1].record_id
    system.person_id = resolved.person_id
    system.job_id = job.job_id
    system.known_ids = [
        *(v.record_id for v in tracked.verdicts),
        resolved.person_id,
        job.job_id,
        *(i.value for i in resolved.identifiers),
    ]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def shared_system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedSystem]:
    """The four services for the whole module, on SQLite and on PostgreSQL, seeded."""
    env = {"CONVTRACK_DATA_DIR": str(tmp_path_factory.mktemp("system") / "data")}
    with ExitStack() as cleanup:
        if request.param == "postgres":
            admin_url = request.getfixturevalue("postgres_admin_url")
            env["CONVTRACK_DATABASE_URL"] = cleanup.enter_context(
                fresh_postgres_database(admin_url)
            )
            env["CONVTRACK_ALLOW_GENERATED_SECRETS"] = "1"
        running, addresses = launcher.start_all(env, any_port=True)
        cleanup.callback(launcher.stop_all, running)
        channels = {
            name: grpc.insecure_channel(getattr(addresses, name)) for name in launcher.SERVICES
        }
        for channel in channels.values():
            cleanup.callback(channel.close)
        system = SharedSystem(request.param, running, addresses, channels)
        _seed(system)
        yield system
