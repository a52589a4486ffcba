"""End to end through gRPC: journeys of 10,000 touchpoints keep every log entry small, the
credits exact, and reporting following attribution's log for every property."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from common.wire import to_timestamp
from convtrack.attribution.v1 import attribution_pb2
from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2
from services.attribution.summary import JOURNEY_ENDS, max_entry_bytes
from tests.conftest import Storage
from tests.e2e.system import DEADLINE, NOW, System

JOURNEY_LENGTH = 10_000
BATCH = 1_000
MODELS = ("first_click", "last_click", "linear", "position_based", "time_decay", "participation")
CONSERVING = tuple(m for m in MODELS if m != "participation")
VALUE_UNITS = 100
VALUE_MICROS = VALUE_UNITS * 1_000_000
TAGS = (("google", "cpc"), ("newsletter", "email"), ("partner", "affiliate"), ("dsp", "display"))


class LongJourneySystem(System):
    """The system with six models configured, so each attribution carries six credit lists."""

    def _start(self) -> None:
        self.env["ATTRIBUTION_MODELS"] = ",".join(MODELS)
        super()._start()


@pytest.fixture
def system(storage: Storage) -> Iterator[System]:
    started = LongJourneySystem(storage)
    try:
        yield started
    finally:
        started.close()


def campaign_of(visitor: str, index: int, distinct: bool) -> str:
    return f"{visitor}-{index}" if distinct else f"spring-{index % 7}"


def touchpoints(
    property_id: str, visitor: str, distinct_campaigns: bool = False
) -> Iterator[list[ingest_pb2.Event]]:
    """A visitor's 10,000 clicks over the last 20 days, in batches of 1,000, cycling through
    four sources; every campaign different when `distinct_campaigns`, else seven."""
    step = timedelta(days=20) / JOURNEY_LENGTH
    first = NOW - timedelta(days=20, hours=1)
    for start in range(0, JOURNEY_LENGTH, BATCH):
        batch = []
        for index in range(start, start + BATCH):
            source, medium = TAGS[index % len(TAGS)]
            batch.append(
                ingest_pb2.Event(
                    property_id=property_id,
                    event_id=f"{visitor}-touch-{index}",
                    timestamp=to_timestamp(first + step * index),
                    identity=ingest_pb2.Identity(anonymous_id=visitor),
                    touchpoint=ingest_pb2.Touchpoint(
                        type=ingest_pb2.TOUCHPOINT_TYPE_CLICK,
                        utm=ingest_pb2.Utm(
                            source=source,
                            medium=medium,
                            campaign=campaign_of(visitor, index, distinct_campaigns),
                        ),
                    ),
                )
            )
        yield batch


def purchase(property_id: str, visitor: str) -> ingest_pb2.Event:
    return ingest_pb2.Event(
        property_id=property_id,
        event_id=f"{visitor}-purchase",
        timestamp=to_timestamp(NOW - timedelta(minutes=30)),
        identity=ingest_pb2.Identity(anonymous_id=visitor),
        conversion=ingest_pb2.Conversion(
            name="purchase", value=common_pb2.Money(currency_code="USD", units=VALUE_UNITS)
        ),
    )


def report(
    system: System, property_id: str, model: str, group_by: int
) -> reporting_pb2.GetConversionReportResponse:
    return system.reporting.GetConversionReport(
        reporting_pb2.GetConversionReportRequest(
            property_id=property_id, model=model, group_by=group_by
        ),
        timeout=DEADLINE,
    )


def micros(money: common_pb2.Money) -> int:
    return money.units * 1_000_000 + money.nanos // 1_000


def attributed_entries(system: System) -> list[attribution_pb2.LogEntry]:
    """Every ConversionAttributed entry of attribution's log, read in small pages."""
    found, after = [], 0
    while True:
        page = system.attribution.ListEvents(
            attribution_pb2.ListEventsRequest(after=after, limit=1_000), timeout=DEADLINE
        ).entries
        if not page:
            return found
        found += [e for e in page if e.WhichOneof("event") == "conversion_attributed"]
        after = page[-1].position


def test_journeys_of_ten_thousand_touchpoints_keep_entries_bounded_and_reports_flowing(
    system: System,
) -> None:
    # Two long journeys in "shop-a", one in "shop-b" with a new campaign on every
    # touchpoint, each ending in a purchase of 100 USD.
    visitors = {("shop-a", "ana"): False, ("shop-a", "ben"): False, ("shop-b", "dee"): True}
    for (property_id, visitor), distinct in visitors.items():
        for batch in touchpoints(property_id, visitor, distinct):
            system.track(*batch, timeout=60)
    ids = system.track(*(purchase(p, v) for p, v in visitors))

    # Later, an ordinary conversion of an unrelated property.
    walker = ingest_pb2.Identity(anonymous_id="walker")
    system.track(
        ingest_pb2.Event(
            property_id="blog",
            event_id="walker-click",
            timestamp=to_timestamp(NOW - timedelta(minutes=40)),
            identity=walker,
            touchpoint=ingest_pb2.Touchpoint(
                utm=ingest_pb2.Utm(source="newsletter", medium="email", campaign="digest")
            ),
        ),
        purchase("blog", "walker"),
    )
    system.sync()

    # Reporting caught up with attribution's whole log: the unrelated conversion is there.
    blog = report(system, "blog", "linear", reporting_pb2.GROUP_BY_CAMPAIGN)
    assert [(r.group, r.conversions, micros(r.value)) for r in blog.rows] == [
        ("digest", 1.0, VALUE_MICROS)
    ]

    # Every attributed entry stays under the stated bound: 96 KiB + 64 KiB per model.
    bound = max_entry_bytes(len(MODELS))
    assert bound == (96 + 64 * len(MODELS)) * 1024
    entries = attributed_entries(system)
    assert len(entries) == 4
    assert max(e.ByteSize() for e in entries) < bound

    # Each long attribution counts its whole journey, lists its first and last touchpoints,
    # and its credits add up to the value exactly under every model.
    for conversion_id, (property_id, visitor) in zip(ids, visitors, strict=True):
        attribution = system.attribution.GetAttribution(
            attribution_pb2.GetAttributionRequest(conversion_id=conversion_id), timeout=DEADLINE
        ).attribution
        assert attribution.credits_grouped
        assert attribution.journey_length == JOURNEY_LENGTH
        assert len(attribution.journey) == 2 * JOURNEY_ENDS
        assert attribution.journey[0].campaign == campaign_of(
            visitor, 0, visitors[(property_id, visitor)]
        )
        credits = {m.model: m.credits for m in attribution.models}
        assert set(credits) == set(MODELS)
        for model in CONSERVING:
            assert sum(micros(c.value) for c in credits[model]) == VALUE_MICROS, model
            assert sum(c.touchpoint_count for c in credits[model]) <= JOURNEY_LENGTH
        assert sum(c.touchpoint_count for c in credits["linear"]) == JOURNEY_LENGTH
        by_channel = Counter[str]()
        for c in credits["participation"]:
            by_channel[c.channel] += micros(c.value)
        assert set(by_channel.values()) == {VALUE_MICROS}

    # Linear reports are exact: 10,000 micros per touchpoint, per campaign and per source.
    shop_a = report(system, "shop-a", "linear", reporting_pb2.GROUP_BY_CAMPAIGN)
    assert {r.group: micros(r.value) for r in shop_a.rows} == {
        f"spring-{k}": 2 * 10_000 * len(range(k, JOURNEY_LENGTH, 7)) for k in range(7)
    }
    assert shop_a.total_conversions == pytest.approx(2.0)
    assert micros(shop_a.total_value) == 2 * VALUE_MICROS
    shop_b = report(system, "shop-b", "linear", reporting_pb2.GROUP_BY_SOURCE)
    assert {r.group: micros(r.value) for r in shop_b.rows} == {
        source: VALUE_MICROS // len(TAGS) for source, _ in TAGS
    }
    # The journey with 10,000 campaigns keeps its 100 largest groups of every dimension, the
    # next 50 campaigns (other dimensions "(other)"), and rolls the rest up per source and
    # medium under campaign "(other)": sources stay exact (above), and totals.
    by_campaign = report(system, "shop-b", "linear", reporting_pb2.GROUP_BY_CAMPAIGN)
    groups = {r.group: micros(r.value) for r in by_campaign.rows}
    assert "(other)" in groups
    assert len(groups) == 100 + 50 + 1
    assert sum(groups.values()) == VALUE_MICROS
    assert micros(by_campaign.total_value) == VALUE_MICROS
