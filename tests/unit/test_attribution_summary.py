"""Bounded attributions: long journeys are summarised, credits stay exact, entries stay small."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any
from uuid import NAMESPACE_DNS, uuid5

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from services.attribution.application import AttributionApplication
from services.attribution.domainmodel import (
    Conversion,
    PersonChanged,
    TouchpointSeen,
    touch_to_dict,
)
from services.attribution.models import Credit, JourneyTouch, named_model
from services.attribution.rules import NAMED_RULES
from services.attribution.servicer import log_entry
from services.attribution.summary import (
    DETAILED_JOURNEY_LIMIT,
    JOURNEY_ENDS,
    MAX_CREDIT_GROUPS,
    MAX_ROLLED_UP_GROUPS,
    OTHER,
    group_credits,
    max_entry_bytes,
)
from tests.unit.test_attribution import PROP, T0, Feed, conversion

ALL_RULES = [named_model(name) for name in NAMED_RULES]
CONSERVING = [m.name for m in ALL_RULES if m.conserves_credit]
VALUE = 100_000_000
CHANNELS = ("paid_search", "email", "display", "affiliate")


def long_touch(
    visitor: str, index: int, campaign: str = "", source: str = "", name: str = ""
) -> TouchpointSeen:
    """The index-th of a visitor's touchpoints, one a minute, 30 days before T0 onwards."""
    record_id = str(uuid5(NAMESPACE_DNS, name or f"{visitor}-{index}"))
    channel = CHANNELS[index % len(CHANNELS)]
    return TouchpointSeen(
        property_id=PROP,
        record_id=record_id,
        identifiers=(visitor,),
        touch=JourneyTouch(
            record_id,
            T0 - timedelta(days=29) + timedelta(minutes=index),
            channel,
            source or channel,
            "m",
            campaign or f"campaign-{index % 7}",
        ),
        is_bot=False,
    )


def feed_with(models: list[Any] | None = None) -> Feed:
    feed = Feed()
    feed.app = AttributionApplication(models=models or ALL_RULES)
    return feed


def latest(feed: Feed, name: str) -> Any:
    return feed.app.latest_attribution(uuid5(NAMESPACE_DNS, name))


def stored_bytes(app: AttributionApplication, event: Any) -> int:
    return len(app.mapper.to_stored_event(event).state)


def test_a_journey_of_at_most_100_touchpoints_is_carried_whole_touchpoint_by_touchpoint() -> None:
    feed = feed_with()
    feed.send("ingest", *(long_touch("anon:a", i) for i in range(DETAILED_JOURNEY_LIMIT)))
    feed.send("ingest", conversion("c1", "anon:a", T0, VALUE))

    attributed = latest(feed, "c1")
    assert attributed.journey_length == DETAILED_JOURNEY_LIMIT
    assert len(attributed.journey) == DETAILED_JOURNEY_LIMIT
    assert not attributed.credits_grouped
    linear = attributed.credits["linear"]
    assert [c["touchpoint_id"] for c in linear] == [t["touchpoint_id"] for t in attributed.journey]
    assert {c["touchpoint_count"] for c in linear} == {1}
    assert {c["value_micros"] for c in linear} == {VALUE // DETAILED_JOURNEY_LIMIT}


def test_a_longer_journey_is_summarised_and_its_credits_stay_exact_under_every_model() -> None:
    feed = feed_with()
    feed.send("ingest", *(long_touch("anon:a", i) for i in range(10_000)))
    feed.send("ingest", conversion("c1", "anon:a", T0, VALUE))

    attributed = latest(feed, "c1")
    assert attributed.journey_length == 10_000
    assert attributed.credits_grouped
    first_and_last = [long_touch("anon:a", i).record_id for i in range(JOURNEY_ENDS)] + [
        long_touch("anon:a", i).record_id for i in range(10_000 - JOURNEY_ENDS, 10_000)
    ]
    assert [t["touchpoint_id"] for t in attributed.journey] == first_and_last
    for model in CONSERVING:
        credits = attributed.credits[model]
        assert sum(c["value_micros"] for c in credits) == VALUE, model
        assert sum(c["fraction"] for c in credits) == pytest.approx(1.0), model
        keys = [(c["channel"], c["source"], c["medium"], c["campaign"]) for c in credits]
        assert len(keys) == len(set(keys)) <= len(CHANNELS) * 7
        assert {c["touchpoint_id"] for c in credits} == {""}
    linear = attributed.credits["linear"]
    assert sum(c["touchpoint_count"] for c in linear) == 10_000
    # Linear gives each touchpoint 10,000 micros: a group has that times its size.
    assert all(c["value_micros"] == 10_000 * c["touchpoint_count"] for c in linear)
    participation = Counter[str]()
    for c in attributed.credits["participation"]:
        participation[c["channel"]] += c["value_micros"]
    assert participation == dict.fromkeys(CHANNELS, VALUE)


def test_a_change_in_the_middle_of_a_long_journey_reattributes_and_no_change_does_not() -> None:
    feed = feed_with([named_model("linear")])
    feed.send("ingest", *(long_touch("anon:a", i) for i in range(500)))
    feed.send("ingest", conversion("c1", "anon:a", T0, VALUE))
    assert feed.revision("c1") == 1

    # Identity links the visitor to a person: the journey is the same, no new attribution.
    feed.send("identity", PersonChanged(PROP, str(uuid5(NAMESPACE_DNS, "p")), ("anon:a",)))
    assert feed.revision("c1") == 1

    # A late touchpoint between the kept first and last touchpoints changes the journey.
    late = long_touch("anon:a", 250, name="late")
    feed.send("ingest", late)
    assert feed.revision("c1") == 2
    attributed = latest(feed, "c1")
    assert attributed.journey_length == 501
    assert late.record_id not in {t["touchpoint_id"] for t in attributed.journey}


def test_credits_beyond_100_groups_roll_up_per_campaign_then_source_then_channel() -> None:
    # 300 campaigns under 120 sources of one channel, each touchpoint on its own landing
    # page, and a second channel.
    credits = [
        Credit(
            f"t{i}",
            "email",
            f"source-{i % 120}",
            "m",
            f"campaign-{i}",
            1 / 301,
            1_000 + i,
            landing_page=f"/p{i}",
        )
        for i in range(300)
    ]
    credits.append(Credit("t300", "display", "dsp", "m", "banner", 1 / 301, 7))

    grouped = group_credits(credits)

    exact = [c for c in grouped if c.landing_page != OTHER]
    by_campaign = [c for c in grouped if c.landing_page == OTHER and c.campaign != OTHER]
    by_source = [c for c in grouped if c.campaign == OTHER and c.source != OTHER]
    by_channel = [c for c in grouped if c.source == OTHER]
    # Kept whole, every dimension exact: the 100 largest.
    assert len(exact) == MAX_CREDIT_GROUPS
    assert {(c.campaign, c.landing_page) for c in exact} == {
        (f"campaign-{i}", f"/p{i}") for i in range(200, 300)
    }
    # Then per campaign, the other dimensions "(other)": the next 50 largest.
    assert {c.campaign for c in by_campaign} == {f"campaign-{i}" for i in range(150, 200)}
    assert {c.term for c in by_campaign} == {OTHER}
    # Then per source, the 50 largest of the rest (campaigns 0 to 149): sources 0 to 29 (two
    # touchpoints each) and 100 to 119 (one each); per channel: sources 30 to 99 and display.
    assert len(by_source) == MAX_ROLLED_UP_GROUPS
    assert {c.source for c in by_source} == {f"source-{i}" for i in [*range(30), *range(100, 120)]}
    assert [(c.channel, c.touchpoint_count) for c in by_channel] == [("email", 70), ("display", 1)]
    assert sum(c.value_micros for c in grouped) == sum(c.value_micros for c in credits)
    assert sum(c.touchpoint_count for c in grouped) == 301


def test_grouped_credits_keep_every_dimension_of_their_touchpoints() -> None:
    credits = [
        Credit(f"t{i}", "email", "news", "email", "spring", 1 / 150, 10, **details)
        for i, details in enumerate(
            [{"device_type": "mobile", "country": "DE"}] * 100
            + [{"device_type": "desktop", "country": "FR", "landing_page": "/a"}] * 50
        )
    ]

    grouped = group_credits(credits)

    assert [(c.device_type, c.country, c.landing_page, c.touchpoint_count) for c in grouped] == [
        ("mobile", "DE", "", 100),
        ("desktop", "FR", "/a", 50),
    ]


@pytest.mark.parametrize(
    ("journey_length", "text_repeats", "grouped"),
    [(DETAILED_JOURNEY_LIMIT, 8, False), (DETAILED_JOURNEY_LIMIT, 80, True), (10_000, 80, True)],
)
def test_the_stored_event_and_its_log_entry_stay_under_the_bound_with_long_texts(
    journey_length: int, text_repeats: int, grouped: bool
) -> None:
    # Every touchpoint has its own long campaign and source, with multi-byte and
    # control characters (escaped when stored), under every rule-based model.
    feed = feed_with()
    text = 'é\x01"ü' * text_repeats
    feed.send(
        "ingest",
        *(
            long_touch("anon:a", i, campaign=f"{i}{text}", source=f"{i}{text}")
            for i in range(journey_length)
        ),
    )
    feed.send("ingest", conversion("c1", "anon:a", T0, VALUE))

    attributed = latest(feed, "c1")
    bound = max_entry_bytes(len(ALL_RULES))
    assert attributed.journey_length == journey_length
    assert attributed.credits_grouped == grouped
    assert stored_bytes(feed.app, attributed) < bound
    assert log_entry(1, attributed).ByteSize() < bound
    for model in CONSERVING:
        assert sum(c["value_micros"] for c in attributed.credits[model]) == VALUE, model


def test_an_attribution_stored_before_the_bound_is_read_summarised() -> None:
    feed = feed_with([named_model("linear")])
    feed.send("ingest", conversion("c1", "anon:a", T0, VALUE))
    conversion_id = uuid5(NAMESPACE_DNS, "c1")
    # An attribution as stored before: the whole journey, a credit per touchpoint.
    touches = [long_touch("anon:a", i) for i in range(10_000)]
    old_state = {
        "originator_id": conversion_id,
        "originator_version": 3,
        "timestamp": T0,
        "property_id": PROP,
        "event_id": "c1",
        "name": "purchase",
        "occurred_at": T0,
        "currency_code": "EUR",
        "value_micros": VALUE,
        "reporting_currency_code": "EUR",
        "reporting_value_micros": VALUE,
        "revision": 2,
        "journey": [touch_to_dict(t.touch) for t in touches],
        "credits": {
            "linear": [
                {
                    "touchpoint_id": t.record_id,
                    "channel": t.touch.channel,
                    "source": t.touch.source,
                    "medium": t.touch.medium,
                    "campaign": t.touch.campaign,
                    "fraction": 1 / 10_000,
                    "value_micros": VALUE // 10_000,
                }
                for t in touches
            ]
        },
        "model_versions": {"linear": 0},
        "non_conserving": [],
        "trace_parent": "",
    }
    feed.app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=conversion_id,
                originator_version=3,
                topic=get_topic(Conversion.Attributed),
                state=feed.app.mapper.transcoder.encode(old_state),
            )
        ]
    )

    attributed = feed.app.latest_attribution(conversion_id)
    assert attributed.revision == 2  # type: ignore[attr-defined]
    assert attributed.credits_grouped  # type: ignore[attr-defined]
    assert attributed.journey_length == 10_000  # type: ignore[attr-defined]
    credits = attributed.credits["linear"]  # type: ignore[attr-defined]
    assert sum(c["value_micros"] for c in credits) == VALUE
    assert sum(c["touchpoint_count"] for c in credits) == 10_000
    assert log_entry(1, attributed).ByteSize() < max_entry_bytes(1)
    # The conversion knows its journey by digest: the same touchpoints arriving now do
    # not attribute it again.
    feed.app.discard_cached_state()
    feed.send("ingest", *touches)
    assert feed.revision("c1") == 2
