"""Attribution's reading of ingest's log: the dimensions a touchpoint, and an unconsented
conversion's own pseudo-touchpoint, carry."""

from __future__ import annotations

from datetime import UTC, datetime

from common.wire import to_timestamp
from convtrack.ingest.v1 import ingest_pb2
from services.attribution.domainmodel import ConversionSeen, TouchpointSeen
from services.attribution.upstream import ingest_input

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _envelope(consent: ingest_pb2.RecordedConsent) -> ingest_pb2.RecordedEnvelope:
    envelope = ingest_pb2.RecordedEnvelope(
        record_id="r-1",
        property_id="shop",
        event_id="e-1",
        device=ingest_pb2.Device(browser="Chrome Mobile", device_type="mobile"),
        network=ingest_pb2.NetworkSignals(geo_country="DE"),
        consent=consent,
    )
    envelope.occurred_at.CopyFrom(to_timestamp(AT))
    return envelope


def test_a_touchpoint_carries_every_dimension_and_its_advertising_consent() -> None:
    entry = ingest_pb2.LogEntry(
        touchpoint_recorded=ingest_pb2.TouchpointRecorded(
            envelope=_envelope(
                ingest_pb2.RecordedConsent(advertising=ingest_pb2.CONSENT_STATE_DENIED)
            ),
            channel="paid_search",
            source="google",
            medium="cpc",
            campaign="spring",
            term="shoes",
            content="ad-b",
            landing_url="https://shop.example/sale/shoes?utm_source=google#top",
        )
    )
    seen = ingest_input(entry)
    assert isinstance(seen, TouchpointSeen)
    touch = seen.touch
    assert (touch.term, touch.content, touch.device_type, touch.browser) == (
        "shoes",
        "ad-b",
        "mobile",
        "Chrome Mobile",
    )
    assert (touch.country, touch.landing_page, touch.advertising_denied) == (
        "DE",
        "/sale/shoes",
        True,
    )


def test_an_unconsented_conversion_is_its_own_touchpoint_with_its_device_and_country() -> None:
    entry = ingest_pb2.LogEntry(
        conversion_recorded=ingest_pb2.ConversionRecorded(
            envelope=_envelope(
                ingest_pb2.RecordedConsent(analytics=ingest_pb2.CONSENT_STATE_DENIED)
            ),
            name="purchase",
            channel="organic_search",
            source="google",
            medium="organic",
        )
    )
    seen = ingest_input(entry)
    assert isinstance(seen, ConversionSeen)
    assert seen.unconsented
    own = seen.own_touch
    assert own is not None
    assert (own.channel, own.device_type, own.browser, own.country) == (
        "organic_search",
        "mobile",
        "Chrome Mobile",
        "DE",
    )
