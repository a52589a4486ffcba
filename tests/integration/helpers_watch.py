"""The services on fixed loopback ports and the events that WatchConversions and relay tests
send: conversions of numbered visitors and late clicks that re-attribute them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc

from common.server import PortInUseError, RunningService
from common.wire import to_timestamp
from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services import launcher
from tests.conftest import Storage

PROPERTY = "shop"
OTHER = "rival-shop"
DEADLINE = 30.0
NOW = datetime.now(UTC).replace(microsecond=0)
PORT_ATTEMPTS = 5


def conversion(property_id: str, n: int) -> ingest_pb2.Event:
    """Visitor n's purchase two hours ago."""
    return ingest_pb2.Event(
        property_id=property_id,
        event_id=f"purchase-{n}",
        timestamp=to_timestamp(NOW - timedelta(hours=2)),
        identity=ingest_pb2.Identity(anonymous_id=f"visitor-{n}"),
        conversion=ingest_pb2.Conversion(
            name="sign_up" if n % 3 == 2 else "purchase",
            order_id=f"order-{n}",
            value=common_pb2.Money(currency_code="EUR", units=10 + n),
        ),
    )


def late_click(property_id: str, n: int) -> ingest_pb2.Event:
    """An email click of visitor n five hours ago, before the purchase: it re-attributes it."""
    return ingest_pb2.Event(
        property_id=property_id,
        event_id=f"click-{n}",
        timestamp=to_timestamp(NOW - timedelta(hours=5)),
        identity=ingest_pb2.Identity(anonymous_id=f"visitor-{n}"),
        touchpoint=ingest_pb2.Touchpoint(
            type=ingest_pb2.TOUCHPOINT_TYPE_CLICK,
            landing_url="https://shop.example/?utm_source=news&utm_medium=email",
        ),
    )


@dataclass
class System:
    """The four services on fixed loopback ports (so attribution can restart on its own)."""

    env: dict[str, str]
    running: list[RunningService]
    addresses: launcher.Addresses
    conversions: dict[str, str]  # record id -> property

    def track(self, *events: ingest_pb2.Event) -> None:
        with grpc.insecure_channel(self.addresses.ingest) as channel:
            response = ingest_pb2_grpc.IngestServiceStub(channel).TrackEvents(
                ingest_pb2.TrackEventsRequest(events=events), timeout=DEADLINE
            )
        assert response.rejected_count == 0, response
        for event, verdict in zip(events, response.verdicts, strict=True):
            if event.HasField("conversion"):
                self.conversions[verdict.record_id] = event.property_id

    def sync(self) -> None:
        launcher.wait_for_sync(self.addresses, timeout=120)

    def stop_attribution(self) -> None:
        self.running[2].stop()

    def start_attribution(self) -> None:
        self.running[2] = launcher.start_one("attribution", self.env)

    def sent(self, property_id: str = PROPERTY) -> set[str]:
        return {c for c, p in self.conversions.items() if p == property_id}


def environment(storage: Storage) -> dict[str, str]:
    env = {"CONVTRACK_DATA_DIR": str(storage.data_dir)}
    if storage.database_url:
        env["CONVTRACK_DATABASE_URL"] = storage.database_url
        env["CONVTRACK_ALLOW_GENERATED_SECRETS"] = "1"
    return {**env, **launcher.loopback_ports(env)}


@contextmanager
def started_system(storage: Storage) -> Iterator[System]:
    """The four services on the test's storage, stopped on leaving."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        env = environment(storage)
        try:
            running, addresses = launcher.start_all(env)
            break
        except PortInUseError:  # another process took a chosen port in the meantime
            if attempt == PORT_ATTEMPTS:
                raise
    try:
        yield System(env, running, addresses, {})
    finally:
        launcher.stop_all(running, grace=0)
