"""Unit tests for the seeded sample traffic generator."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest

from convtrack.ingest.v1 import ingest_pb2
from services.sample_data import (
    DEAL_CONVERSION,
    SampleConfig,
    batches,
    cross_device_purchases,
    generate_deals,
    generate_sample,
    sample_events,
    summarise,
)

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


def _deals(visitors: int = 300) -> tuple[list[ingest_pb2.Event], list[ingest_pb2.Event]]:
    config = SampleConfig(end=END, visitors=visitors)
    events = generate_sample(config)
    return events, generate_deals(config, events)


def test_the_deals_have_hand_checked_stages_values_a_refund_and_a_retraction() -> None:
    events, deals = _deals()

    forms = [e for e in deals if e.WhichOneof("kind") == "conversion"]
    outcomes = [e.outcome for e in deals if e.WhichOneof("kind") == "outcome"]
    reached: dict[str, set[str]] = defaultdict(set)
    for outcome in outcomes:
        if outcome.stage:
            reached[outcome.stage].add(outcome.order_id)
    won = {o.order_id: o.value.units for o in outcomes if o.stage == "won"}
    refunds = [(o.order_id, o.refund.units) for o in outcomes if o.HasField("refund")]
    retracted = [o.order_id for o in outcomes if o.retracted]

    assert [f.conversion.order_id for f in forms] == [f"deal-{n:04d}" for n in range(1, 9)]
    assert {f.conversion.name for f in forms} == {o.conversion_name for o in outcomes}
    assert {f.conversion.name for f in forms} == {DEAL_CONVERSION}
    assert all(not f.conversion.HasField("value") for f in forms)
    assert {stage: len(ids) for stage, ids in reached.items()} == {
        "lead": 8,
        "qualified": 6,
        "won": 4,
        "lost": 2,
    }
    assert reached["won"].isdisjoint(reached["lost"])
    assert sorted(won.values()) == [960, 1850, 2400, 4200]
    assert refunds == [("deal-0002", 300)] and "deal-0002" in won
    assert retracted == ["deal-0008"] and "deal-0008" not in reached["qualified"]
    # Each deal's form comes from a visitor who arrived with a touchpoint minutes before.
    arrivals = {
        e.identity.anonymous_id: e.timestamp.ToDatetime(tzinfo=UTC)
        for e in events
        if e.WhichOneof("kind") == "touchpoint"
    }
    for form in forms:
        assert form.identity.anonymous_id in arrivals
    # Outcomes follow their form, and stay inside the window.
    sent_at = {f.conversion.order_id: f.timestamp.ToDatetime(tzinfo=UTC) for f in forms}
    for event in deals:
        moment = event.timestamp.ToDatetime(tzinfo=UTC)
        assert moment <= END - timedelta(minutes=1)
        if event.WhichOneof("kind") == "outcome":
            assert moment > sent_at[event.outcome.order_id]


def test_the_whole_sample_holds_the_web_traffic_and_the_deals_in_time_order() -> None:
    config = SampleConfig(end=END, visitors=300)
    events, deals = _deals()

    whole = sample_events(config)

    assert sorted(e.event_id for e in whole) == sorted(e.event_id for e in [*events, *deals])
    assert len({e.event_id for e in whole}) == len(whole)
    times = [e.timestamp.ToDatetime(tzinfo=UTC) for e in whole]
    assert times == sorted(times)
    assert [e.SerializeToString() for e in generate_deals(config, events)] == [
        e.SerializeToString() for e in deals
    ]


def test_a_sample_without_visitors_has_no_deals() -> None:
    assert _deals(0) == ([], [])


def test_cross_device_purchases_are_by_persons_logged_in_on_two_devices_before() -> None:
    events = generate_sample(SampleConfig(end=END, visitors=400))
    by_id = {e.event_id: e for e in events}

    found = cross_device_purchases(events)

    assert found
    for event_id in found:
        purchase = by_id[event_id]
        assert purchase.conversion.name == "purchase" and purchase.identity.user_id
        logins = {
            e.identity.anonymous_id
            for e in events
            if e.WhichOneof("kind") == "identify"
            and e.identity.user_id == purchase.identity.user_id
            and e.timestamp.ToDatetime() <= purchase.timestamp.ToDatetime()
        }
        assert len(logins) >= 2
    # Purchases of one-device persons and resent orders are not among them.
    orders = [by_id[i].conversion.order_id for i in found]
    assert len(orders) == len(set(orders))
