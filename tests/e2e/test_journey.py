"""End to end through gRPC only: the cross-device journey, idempotency and report rebuilds."""

from __future__ import annotations

import grpc

from convtrack.attribution.v1 import attribution_pb2
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2
from services.reporting import server as reporting_server
from tests.e2e.system import (
    DEADLINE,
    PROPERTY,
    System,
    cross_device_journey,
    event,
    purchase_value_in_usd,
)


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
        if m.model in ("last_click", "linear")
    }
    assert credits == {
        "last_click": [("email", 1.0)],
        "linear": [("email", 0.5), ("paid_search", 0.5)],
    }
    assert [t.channel for t in attribution.journey] == ["paid_search", "email"]

    # The report by channel shows exactly that, with the value in the reporting currency
    # (USD; 120 EUR at the bundled ECB reference rate of the purchase's date).
    usd = purchase_value_in_usd().to_micros()
    assert system.report("last_click") == {"email": (1.0, *divmod(usd * 1000, 10**9))}
    assert system.report("linear") == {
        "email": (0.5, *divmod(usd * 500, 10**9)),
        "paid_search": (0.5, *divmod(usd * 500, 10**9)),
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
        # The client's timer fires, or ingest's wait for the group commit (half the time
        # left) ends first and it answers UNAVAILABLE (the batch may still be stored): both mean
        # send it again.
        assert error.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE)
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

    usd = purchase_value_in_usd().to_micros()
    assert system.report("last_click") == {"email": (1.0, *divmod(usd * 1000, 10**9))}
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
        (name, model, group_by): system.report(model, group_by=group_by, conversion_name=name)
        for name in ("purchase", "sign_up")
        for model in ("last_click", "linear")
        for group_by in (reporting_pb2.GROUP_BY_CHANNEL, reporting_pb2.GROUP_BY_CAMPAIGN)
    }
    assert before[("sign_up", "last_click", reporting_pb2.GROUP_BY_CHANNEL)]["(none)"][0] == 1.0

    reporting_server.rebuild_reports(reporting_server.ReportingSettings.from_env(system.env))
    system.sync()

    after = {key: system.report(key[1], group_by=key[2], conversion_name=key[0]) for key in before}
    assert after == before
