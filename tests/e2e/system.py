"""The whole system started in-process for end-to-end tests, and the events they send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc

from common.money import ExchangeRates, Money
from common.wire import to_timestamp
from convtrack.attribution.v1 import attribution_pb2_grpc
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import launcher
from tests.conftest import Storage

PROPERTY = "shop"
DEADLINE = 10.0
NOW = datetime.now(UTC).replace(microsecond=0)


def purchase_value_in_usd() -> Money:
    """The journey's purchase, 120 EUR 28 hours ago, at the bundled rates of its UTC date."""
    purchased_on = (NOW - timedelta(hours=28)).date()
    return ExchangeRates.reference().convert(Money("EUR", 120, 0), "USD", purchased_on)


class System:
    """The four services started in-process on the test's storage, and clients for them."""

    def __init__(self, storage: Storage) -> None:
        self.env = {"CONVTRACK_DATA_DIR": str(storage.data_dir)}
        if storage.database_url:
            self.env["CONVTRACK_DATABASE_URL"] = storage.database_url
            self.env["CONVTRACK_ALLOW_GENERATED_SECRETS"] = "1"
        self._start()
        self._channels = [
            grpc.insecure_channel(getattr(self.addresses, name)) for name in launcher.SERVICES
        ]
        self.ingest = ingest_pb2_grpc.IngestServiceStub(self._channels[0])
        self.identity = identity_pb2_grpc.IdentityServiceStub(self._channels[1])
        self.attribution = attribution_pb2_grpc.AttributionServiceStub(self._channels[2])
        self.reporting = reporting_pb2_grpc.ReportingServiceStub(self._channels[3])

    def _start(self) -> None:
        self.running, self.addresses = launcher.start_all(self.env, any_port=True)

    def track(self, *events: ingest_pb2.Event, timeout: float = DEADLINE) -> list[str]:
        response = self.ingest.TrackEvents(
            ingest_pb2.TrackEventsRequest(events=events), timeout=timeout
        )
        assert response.rejected_count == 0, response
        return [v.record_id for v in response.verdicts]

    def sync(self) -> None:
        launcher.wait_for_sync(self.addresses, timeout=60)

    def report(self, model: str, **query: object) -> dict[str, tuple[float, int, int]]:
        response = self.reporting.GetConversionReport(
            reporting_pb2.GetConversionReportRequest(
                property_id=PROPERTY,
                model=model,
                **query,  # type: ignore[arg-type]
            ),
            timeout=DEADLINE,
        )
        return {r.group: (r.conversions, r.value.units, r.value.nanos) for r in response.rows}

    def close(self) -> None:
        for channel in self._channels:
            channel.close()
        launcher.stop_all(self.running)


def event(event_id: str, hours_ago: float, **fields: object) -> ingest_pb2.Event:
    return ingest_pb2.Event(
        property_id=PROPERTY,
        event_id=event_id,
        timestamp=to_timestamp(NOW - timedelta(hours=hours_ago)),
        **fields,  # type: ignore[arg-type]
    )


def cross_device_journey() -> list[ingest_pb2.Event]:
    """A paid-search click on a laptop, an email click on a phone, logins on both, a purchase
    of 120.00 EUR on the phone."""
    laptop = ingest_pb2.Identity(anonymous_id="laptop-cookie")
    phone = ingest_pb2.Identity(anonymous_id="phone-cookie")
    return [
        event(
            "laptop-ad-click",
            72,
            identity=laptop,
            touchpoint=ingest_pb2.Touchpoint(
                type=ingest_pb2.TOUCHPOINT_TYPE_CLICK,
                landing_url="https://shop.example.com/boots?gclid=Cj0KCQ",
            ),
        ),
        event(
            "phone-email-click",
            30,
            identity=phone,
            touchpoint=ingest_pb2.Touchpoint(
                type=ingest_pb2.TOUCHPOINT_TYPE_CLICK,
                landing_url="https://shop.example.com/boots?utm_source=newsletter"
                "&utm_medium=email&utm_campaign=autumn",
            ),
        ),
        event(
            "laptop-login",
            71,
            identity=ingest_pb2.Identity(anonymous_id="laptop-cookie", user_id="user-42"),
            identify=ingest_pb2.Identify(),
        ),
        event(
            "phone-login",
            29,
            identity=ingest_pb2.Identity(
                anonymous_id="phone-cookie", user_id="user-42", email="Ana@Example.com"
            ),
            identify=ingest_pb2.Identify(),
        ),
        event(
            "phone-purchase",
            28,
            identity=phone,
            conversion=ingest_pb2.Conversion(
                name="purchase",
                order_id="order-1001",
                value=common_pb2.Money(currency_code="EUR", units=120),
            ),
        ),
    ]
