"""End to end through gRPC only: the cross-device journey, idempotency and report rebuilds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from common.wire import to_timestamp
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import launcher
from services.reporting import server as reporting_server
from tests.conftest import Storage

PROPERTY = "shop"
DEADLINE = 10.0
NOW = datetime.now(UTC).replace(microsecond=0)


class System:
    """The four services started in-process on the test's storage, and clients for them."""

    def __init__(self, storage: Storage) -> None:
        self.env = {"CONVTRACK_DATA_DIR": str(storage.data_dir)}
        if storage.database_url:
            self.env["CONVTRACK_DATABASE_URL"] = storage.database_url
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


@pytest.fixture
def system(storage: Storage) -> Iterator[System]:
    started = System(storage)
    try:
        yield started
    finally:
        started.close()


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


def test_a_cross_device_journey_is_credited_by_last_click_and_linear(system: System) -> None:
    ids = system.track(*cross_device_journey())
    system.sync()

    # Identity joined both devices through the user id.
    laptop = system.identity.ResolveIdentity(
        identity_pb2.ResolveIdentityRequest(
            property_id=PROPERTY,
            identifier=common_pb2.Identifier(
                type=common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID, value="laptop-cookie"
            ),
        ),
        timeout=DEADLINE,
    )
    by_email = system.identity.ResolveIdentity(
        identity_pb2.ResolveIdentityRequest(
            property_id=PROPERTY,
            identifier=common_pb2.Identifier(
                type=common_pb2.IDENTIFIER_TYPE_EMAIL, value="ana@example.com"
            ),
        ),
        timeout=DEADLINE,
    )
    assert laptop.person_id == by_email.person_id

    # Attribution credits email under last click, half each under linear.
    attribution = system.attribution.GetAttribution(
        attribution_pb2.GetAttributionRequest(conversion_id=ids[4]), timeout=DEADLINE
    ).attribution
    credits = {
        m.model: sorted((c.channel, round(c.fraction, 9)) for c in m.credits)
        for m in attribution.models
    }
    assert credits == {
        "last_click": [("email", 1.0)],
        "linear": [("email", 0.5), ("paid_search", 0.5)],
    }
    assert [t.channel for t in attribution.journey] == ["paid_search", "email"]

    # The report by channel shows exactly that, with the value in the reporting currency
    # (USD; 120 EUR at the bundled reference rate of 1.105 is 132.60 USD).
    assert system.report("last_click") == {"email": (1.0, 132, 600_000_000)}
    assert system.report("linear") == {
        "email": (0.5, 66, 300_000_000),
        "paid_search": (0.5, 66, 300_000_000),
    }

    # The model comparison puts both side by side, in the first model's order.
    comparison = system.reporting.CompareModels(
        reporting_pb2.CompareModelsRequest(
            property_id=PROPERTY, models=["last_click", "linear"], conversion_name="purchase"
        ),
        timeout=DEADLINE,
    )
    assert [
        (row.group, [(f.model, f.conversions) for f in row.figures]) for row in comparison.rows
    ] == [
        ("email", [("last_click", 1.0), ("linear", 0.5)]),
        ("paid_search", [("last_click", 0.0), ("linear", 0.5)]),
    ]


def test_a_batch_sent_twice_or_retried_after_a_timeout_counts_once(system: System) -> None:
    journey = cross_device_journey()
    system.track(*journey)
    system.track(*journey)
    try:
        system.ingest.TrackEvents(ingest_pb2.TrackEventsRequest(events=journey), timeout=0.0005)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    system.track(*journey)
    resent_order = event(
        "phone-purchase-resent",
        27,
        identity=ingest_pb2.Identity(anonymous_id="phone-cookie"),
        conversion=ingest_pb2.Conversion(
            name="purchase",
            order_id="order-1001",
            value=common_pb2.Money(currency_code="EUR", units=120),
        ),
    )
    response = system.ingest.TrackEvents(
        ingest_pb2.TrackEventsRequest(events=[resent_order]), timeout=DEADLINE
    )
    assert response.verdicts[0].verdict == ingest_pb2.VERDICT_DUPLICATE
    system.sync()

    assert system.report("last_click") == {"email": (1.0, 132, 600_000_000)}
    assert sum(c for c, _, _ in system.report("linear").values()) == 1.0


def test_rebuilding_the_report_views_gives_identical_reports(system: System) -> None:
    system.track(*cross_device_journey())
    unattributed = event(
        "direct-signup",
        1,
        identity=ingest_pb2.Identity(anonymous_id="stranger"),
        conversion=ingest_pb2.Conversion(name="sign_up"),
    )
    system.track(unattributed)
    system.sync()
    before = {
        (model, group_by): system.report(model, group_by=group_by)
        for model in ("last_click", "linear")
        for group_by in (reporting_pb2.GROUP_BY_CHANNEL, reporting_pb2.GROUP_BY_CAMPAIGN)
    }
    assert before[("last_click", reporting_pb2.GROUP_BY_CHANNEL)]["(none)"][0] == 1.0

    reporting_server.rebuild_reports(reporting_server.ReportingSettings.from_env(system.env))
    system.sync()

    after = {key: system.report(key[0], group_by=key[1]) for key in before}
    assert after == before
