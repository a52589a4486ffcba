"""The four services in one process for a whole test module, on each backend, seeded with a
small journey: for tests that only ask (or are refused), so they need not start their own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc
import psycopg
import pytest

from common.server import RunningService
from common.wire import to_timestamp
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2_grpc
from services import launcher

SEED_PROPERTY = "shop"
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


def _seed_events() -> list[ingest_pb2.Event]:
    """An email click, a login and a purchase of 20 EUR by one cookie."""
    now = datetime.now(UTC)

    def event(event_id: str, hours_ago: int, **fields: object) -> ingest_pb2.Event:
        return ingest_pb2.Event(
            property_id=SEED_PROPERTY,
            event_id=event_id,
            timestamp=to_timestamp(now - timedelta(hours=hours_ago)),
            **fields,  # type: ignore[arg-type]
        )

    cookie = ingest_pb2.Identity(anonymous_id="cookie-1")
    return [
        event(
            "click",
            30,
            identity=cookie,
            touchpoint=ingest_pb2.Touchpoint(
                type=ingest_pb2.TOUCHPOINT_TYPE_CLICK,
                landing_url="https://shop.example/?utm_source=news&utm_medium=email",
            ),
        ),
        event(
            "login",
            29,
            identity=ingest_pb2.Identity(anonymous_id="cookie-1", user_id="user-1"),
            identify=ingest_pb2.Identify(),
        ),
        event(
            "purchase",
            28,
            identity=cookie,
            conversion=ingest_pb2.Conversion(
                name="purchase", value=common_pb2.Money(currency_code="EUR", units=20)
            ),
        ),
    ]


def _seed(system: SharedSystem) -> None:
    tracked = system.ingest.TrackEvents(
        ingest_pb2.TrackEventsRequest(events=_seed_events()), timeout=SEED_DEADLINE
    )
    assert tracked.rejected_count == 0, tracked
    launcher.wait_for_sync(system.addresses, timeout=60)
    resolved = system.identity.ResolveIdentity(
        identity_pb2.ResolveIdentityRequest(
            property_id=SEED_PROPERTY,
            identifier=common_pb2.Identifier(
                type=common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID, value="cookie-1"
            ),
        ),
        timeout=SEED_DEADLINE,
    )
    job = system.attribution.StartReattribution(
        attribution_pb2.StartReattributionRequest(), timeout=SEED_DEADLINE
    )
    system.conversion_id = tracked.verdicts[2].record_id
    system.person_id = resolved.person_id
    system.job_id = job.job_id
    system.known_ids = [
        *(v.record_id for v in tracked.verdicts),
        resolved.person_id,
        job.job_id,
        *(i.value for i in resolved.identifiers),
    ]


def _postgres_database(admin_url: str) -> Iterator[str]:
    name = f"convtrack_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def shared_system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedSystem]:
    """The four services for the whole module, on SQLite and on PostgreSQL, seeded."""
    env = {"CONVTRACK_DATA_DIR": str(tmp_path_factory.mktemp("system") / "data")}
    database = None
    if request.param == "postgres":
        database = _postgres_database(request.getfixturevalue("postgres_admin_url"))
        env["CONVTRACK_DATABASE_URL"] = next(database)
    running, addresses = launcher.start_all(env, any_port=True)
    channels = {name: grpc.insecure_channel(getattr(addresses, name)) for name in launcher.SERVICES}
    system = SharedSystem(request.param, running, addresses, channels)
    try:
        _seed(system)
        yield system
    finally:
        for channel in channels.values():
            channel.close()
        launcher.stop_all(running)
        if database is not None:
            database.close()
