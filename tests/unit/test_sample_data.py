"""Unit tests for the seeded sample traffic generator."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest

from convtrack.ingest.v1 import ingest_pb2
from services.sample_data import SampleConfig, batches, generate_sample, summarise

END = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@cache
def _default_sample() -> tuple[ingest_pb2.Event, ...]:
    return tuple(generate_sample(SampleConfig(end=END)))


def _small(seed: int = 7) -> list[ingest_pb2.Event]:
    return generate_sample(SampleConfig(end=END, visitors=300, seed=seed))


def test_the_same_seed_gives_identical_output() -> None:
    first = _small()
    second = _small()

    assert [e.SerializeToString() for e in first] == [e.SerializeToString() for e in second]


def test_different_seeds_give_different_output() -> None:
    assert [e.SerializeToString() for e in _small(1)] != [e.SerializeToString() for e in _small(2)]


def test_default_config_produces_thousands_of_events() -> None:
    events = _default_sample()

    summary = summarise(events)

    assert summary.events == len(events) > 5_000
    assert summary.touchpoints > 3_000
    assert summary.page_views > 0
    assert summary.identifies > 0
    assert summary.anonymous_ids > 3_000


def test_at_least_five_traffic_shapes_are_present() -> None:
    touchpoints = [e.touchpoint for e in _default_sample() if e.WhichOneof("kind") == "touchpoint"]

    def present(predicate: Callable[[ingest_pb2.Touchpoint], bool]) -> bool:
        return any(predicate(t) for t in touchpoints)

    assert present(lambda t: "gclid=" in t.landing_url and "utm_medium=cpc" in t.landing_url)
    assert present(lambda t: "fbclid=" in t.landing_url and "utm_source=facebook" in t.landing_url)
    assert present(lambda t: "utm_medium=email" in t.landing_url)
    assert present(lambda t: t.referrer == "https://www.google.com/" and "?" not in t.landing_url)
    assert present(lambda t: t.referrer == "" and "?" not in t.landing_url)
    assert present(lambda t: t.referrer.startswith(("https://t.co/", "https://www.instagram.com/")))


def test_touchpoints_are_clicks_for_campaigns_and_visits_otherwise() -> None:
    for event in _default_sample():
        if event.WhichOneof("kind") != "touchpoint":
            continue
        tagged = "utm_medium=" in event.touchpoint.landing_url
        expected = ingest_pb2.TOUCHPOINT_TYPE_CLICK if tagged else ingest_pb2.TOUCHPOINT_TYPE_VISIT
        assert event.touchpoint.type == expected
        assert event.touchpoint.landing_url.startswith("https://shop.example.com/")


def test_purchases_use_at_least_two_currencies_with_realistic_values() -> None:
    purchases = [
        e.conversion
        for e in _default_sample()
        if e.WhichOneof("kind") == "conversion" and e.conversion.name == "purchase"
    ]

    assert len({p.value.currency_code for p in purchases}) >= 2
    for purchase in purchases:
        assert 20 <= purchase.value.units < 300
        assert 0 <= purchase.value.nanos < 1_000_000_000
        assert purchase.value.nanos % 10_000_000 == 0
        assert purchase.order_id.startswith("order-")


def test_about_five_percent_of_visitors_purchase() -> None:
    orders = {
        e.conversion.order_id
        for e in _default_sample()
        if e.WhichOneof("kind") == "conversion" and e.conversion.name == "purchase"
    }

    assert 0.03 * 3000 < len(orders) < 0.07 * 3000


def test_a_few_purchases_are_sent_twice_with_the_same_order_id() -> None:
    by_order: dict[str, list[str]] = defaultdict(list)
    for event in _default_sample():
        if event.WhichOneof("kind") == "conversion" and event.conversion.order_id:
            by_order[event.conversion.order_id].append(event.event_id)

    repeated = [ids for ids in by_order.values() if len(ids) > 1]

    assert 1 <= len(repeated) <= 0.05 * len(by_order)
    assert all(len(set(ids)) == len(ids) for ids in repeated)


def test_multi_device_persons_identify_on_two_anonymous_ids_sharing_a_user_id() -> None:
    devices_by_user: dict[str, set[str]] = defaultdict(set)
    for event in _default_sample():
        if event.WhichOneof("kind") == "identify":
            assert event.identity.anonymous_id
            assert event.identity.user_id
            devices_by_user[event.identity.user_id].add(event.identity.anonymous_id)

    multi_device = [user for user, devices in devices_by_user.items() if len(devices) == 2]

    assert len(multi_device) > 0.1 * 3000
    assert any(len(devices) == 1 for devices in devices_by_user.values())


def test_some_identify_calls_carry_an_email() -> None:
    emails = [
        e.identity.email
        for e in _default_sample()
        if e.WhichOneof("kind") == "identify" and e.identity.email
    ]

    assert emails
    assert all(email.endswith("@example.org") for email in emails)


def test_some_visitors_are_bots() -> None:
    agents = {e.identity.anonymous_id: e.context.user_agent for e in _default_sample()}

    bots = [agent for agent in agents.values() if "bot" in agent.lower()]

    assert 0 < len(bots) < 0.03 * len(agents)


def test_events_are_sorted_by_time_and_inside_the_window() -> None:
    events = _default_sample()
    lowest = END - timedelta(days=28)
    highest = END - timedelta(minutes=1)

    times = [e.timestamp.ToDatetime(tzinfo=UTC) for e in events]

    assert times == sorted(times)
    assert all(lowest <= t <= highest for t in times)


def test_every_event_is_complete_and_has_a_unique_id() -> None:
    events = _default_sample()

    assert len({e.event_id for e in events}) == len(events)
    for event in events:
        assert event.property_id == "demo-shop"
        assert event.WhichOneof("kind") is not None
        assert event.identity.anonymous_id
        assert event.context.user_agent
        assert event.context.page_url.startswith("https://shop.example.com/")


def test_a_short_window_keeps_events_inside_it() -> None:
    events = generate_sample(SampleConfig(end=END, visitors=200, days=1, seed=3))

    times = [e.timestamp.ToDatetime(tzinfo=UTC) for e in events]

    assert all(END - timedelta(days=1) <= t <= END - timedelta(minutes=1) for t in times)


def test_batches_split_events_in_order() -> None:
    events = _small()

    chunks = list(batches(events, size=100))

    assert all(len(chunk) <= 100 for chunk in chunks)
    assert [e.event_id for chunk in chunks for e in chunk] == [e.event_id for e in events]


def test_a_naive_end_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SampleConfig(end=datetime(2025, 6, 1, 12, 0))
