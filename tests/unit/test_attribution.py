"""Attribution through its application API, on in-memory persistence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_DNS, uuid5

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from hypothesis import given
from hypothesis import strategies as st

from common.direct_events import EventWriter
from common.follower import UpstreamEntry
from services.attribution.application import AttributionApplication
from services.attribution.domainmodel import (
    AttributionInput,
    Conversion,
    ConversionSeen,
    IdentifierShared,
    Person,
    PersonChanged,
    PersonSplitSeen,
    TouchpointSeen,
    Visitor,
    touch_to_dict,
    visitor_id,
)
from services.attribution.journeys import Lookback, journey_for
from services.attribution.models import JourneyTouch, UnknownModelError, credit, named_model
from services.attribution.rules import NAMED_RULES

PROP = "shop"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def touch(
    name: str, identifier: str, at: datetime, channel: str, bot: bool = False
) -> TouchpointSeen:
    return TouchpointSeen(
        property_id=PROP,
        record_id=str(uuid5(NAMESPACE_DNS, name)),
        identifiers=(identifier,),
        touch=JourneyTouch(str(uuid5(NAMESPACE_DNS, name)), at, channel, channel, "m", "c"),
        is_bot=bot,
    )


def conversion(name: str, identifier: str, at: datetime, value_micros: int = 0) -> ConversionSeen:
    return ConversionSeen(
        property_id=PROP,
        record_id=str(uuid5(NAMESPACE_DNS, name)),
        event_id=name,
        name="purchase",
        occurred_at=at,
        identifiers=(identifier,),
        currency_code="EUR" if value_micros else "",
        value_micros=value_micros,
        reporting_currency_code="EUR",
        reporting_value_micros=value_micros,
    )


class Feed:
    """Feeds plain inputs to the application the way followers do, one page per call."""

    def __init__(self) -> None:
        self.app = AttributionApplication()
        self.positions = {"ingest": 0, "identity": 0}

    def send(self, upstream: str, *values: AttributionInput) -> None:
        entries = []
        for value in values:
            self.positions[upstream] += 1
            entries.append(UpstreamEntry(self.positions[upstream], value))
        self.app.process_page(upstream, entries)

    def credits(self, conversion_name: str, model: str) -> dict[str, float]:
        latest = self.app.latest_attribution(uuid5(NAMESPACE_DNS, conversion_name))
        result: dict[str, float] = {}
        for c in latest.credits[model]:  # type: ignore[attr-defined]
            result[c["channel"]] = result.get(c["channel"], 0.0) + c["fraction"]
        return result

    def revision(self, conversion_name: str) -> int:
        return self.app.latest_attribution(uuid5(NAMESPACE_DNS, conversion_name)).revision  # type: ignore[attr-defined,no-any-return]


def test_last_click_credits_the_last_touch_and_linear_splits_evenly() -> None:
    feed = Feed()
    feed.send(
        "ingest",
        touch("t1", "anon:a", T0, "paid_search"),
        touch("t2", "anon:a", T0 + timedelta(hours=1), "email"),
        conversion("c1", "anon:a", T0 + timedelta(hours=2), 10_000_000),
    )
    assert feed.credits("c1", "last_click") == {"email": 1.0}
    assert feed.credits("c1", "linear") == {"paid_search": 0.5, "email": 0.5}
    assert feed.app.position("ingest") == 3


def test_conversion_without_touchpoints_is_credited_to_none() -> None:
    feed = Feed()
    feed.send("ingest", conversion("c1", "anon:a", T0))
    assert feed.credits("c1", "last_click") == {"(none)": 1.0}


def test_touchpoints_outside_the_window_after_the_conversion_or_from_bots_are_ignored() -> None:
    feed = Feed()
    feed.send(
        "ingest",
        touch("old", "anon:a", T0 - timedelta(days=31), "display"),
        touch("bot", "anon:a", T0 - timedelta(days=1), "referral", bot=True),
        touch("in", "anon:a", T0 - timedelta(days=29), "email"),
        touch("after", "anon:a", T0 + timedelta(minutes=1), "direct"),
        conversion("c1", "anon:a", T0),
    )
    assert feed.credits("c1", "linear") == {"email": 1.0}


def test_identity_merge_after_the_conversion_reattributes_with_the_other_device() -> None:
    feed = Feed()
    feed.send(
        "ingest",
        touch("laptop-click", "anon:laptop", T0, "paid_search"),
        touch("phone-email", "anon:phone", T0 + timedelta(days=1), "email"),
        conversion("c1", "anon:phone", T0 + timedelta(days=2), 100_000_000),
    )
    assert feed.credits("c1", "linear") == {"email": 1.0}
    person = str(uuid5(NAMESPACE_DNS, "person"))
    other = str(uuid5(NAMESPACE_DNS, "person-2"))
    feed.send(
        "identity",
        PersonChanged(PROP, person, ("anon:laptop", "user:u1")),
        PersonChanged(PROP, other, ("anon:phone",)),
        PersonChanged(PROP, person, ("anon:phone",), merged_person_id=other),
    )
    assert feed.credits("c1", "last_click") == {"email": 1.0}
    assert feed.credits("c1", "linear") == {"paid_search": 0.5, "email": 0.5}
    assert feed.revision("c1") == 2


def test_a_late_touchpoint_inside_the_window_reattributes_and_an_unchanged_journey_does_not() -> (
    None
):
    feed = Feed()
    feed.send("ingest", conversion("c1", "anon:a", T0))
    feed.send("ingest", touch("late", "anon:a", T0 - timedelta(hours=3), "organic_search"))
    assert feed.credits("c1", "last_click") == {"organic_search": 1.0}
    assert feed.revision("c1") == 2
    feed.send("ingest", touch("after", "anon:a", T0 + timedelta(hours=3), "direct"))
    feed.send("identity", PersonChanged(PROP, str(uuid5(NAMESPACE_DNS, "p")), ("anon:a",)))
    assert feed.revision("c1") == 2


def test_value_credits_add_up_to_the_value_exactly() -> None:
    feed = Feed()
    feed.send(
        "ingest",
        *(touch(f"t{i}", "anon:a", T0 + timedelta(minutes=i), "email") for i in range(3)),
        conversion("c1", "anon:a", T0 + timedelta(hours=1), 10_000_000),
    )
    latest = feed.app.latest_attribution(uuid5(NAMESPACE_DNS, "c1"))
    values = [c["value_micros"] for c in latest.credits["linear"]]  # type: ignore[attr-defined]
    assert sum(values) == 10_000_000
    assert sorted(values) == [3_333_333, 3_333_333, 3_333_334]


def test_a_conversion_seen_twice_is_recorded_once() -> None:
    feed = Feed()
    feed.send("ingest", conversion("c1", "anon:a", T0), conversion("c1", "anon:a", T0))
    events = list(feed.app.events.get(uuid5(NAMESPACE_DNS, "c1")))
    assert [type(e) for e in events] == [Conversion.Recorded, Conversion.Attributed]


def test_unknown_models_are_refused() -> None:
    with pytest.raises(UnknownModelError, match="unknown attribution model 'nope'"):
        named_model("nope")


CONSERVING_RULES = sorted(n for n, rule in NAMED_RULES.items() if rule.conserves_credit)


@given(
    st.lists(st.integers(min_value=0, max_value=10_000), min_size=0, max_size=12),
    st.integers(min_value=0, max_value=10**12),
    st.sampled_from(CONSERVING_RULES),
)
def test_every_model_conserves_credit_and_value(offsets: list[int], value: int, model: str) -> None:
    touches = [
        JourneyTouch(f"t{i}", T0 - timedelta(minutes=m), f"ch{i % 3}", "", "", "")
        for i, m in enumerate(offsets)
    ]
    credits = credit(named_model(model), journey_for(touches, T0, Lookback()), T0, value)
    assert credits is not None
    assert sum(c.fraction for c in credits) == pytest.approx(1.0)
    assert sum(c.value_micros for c in credits) == value


def test_participation_credits_every_channel_with_the_whole_conversion() -> None:
    touches = [
        JourneyTouch("t1", T0 - timedelta(hours=3), "email", "", "", ""),
        JourneyTouch("t2", T0 - timedelta(hours=2), "paid_search", "", "", ""),
        JourneyTouch("t3", T0 - timedelta(hours=1), "email", "", "", ""),
    ]
    credits = credit(named_model("participation"), touches, T0, 10_000_000)
    assert credits is not None
    per_channel: dict[str, float] = {}
    for c in credits:
        per_channel[c.channel] = per_channel.get(c.channel, 0.0) + c.fraction
    assert per_channel == {"email": 1.0, "paid_search": 1.0}


def test_a_data_driven_model_without_a_fit_does_not_credit_yet() -> None:
    assert credit(named_model("markov"), [], T0, 0) is None


def test_a_second_purchase_gets_only_the_touchpoints_since_the_first() -> None:
    feed = Feed()
    feed.send(
        "ingest",
        touch("t1", "anon:a", T0, "paid_search"),
        conversion("first", "anon:a", T0 + timedelta(hours=1)),
        touch("t2", "anon:a", T0 + timedelta(hours=2), "email"),
        conversion("second", "anon:a", T0 + timedelta(hours=3)),
    )
    assert feed.credits("second", "linear") == {"email": 1.0}
    assert feed.credits("first", "linear") == {"paid_search": 1.0}


def test_an_earlier_purchase_arriving_late_shortens_the_later_ones_journey() -> None:
    feed = Feed()
    feed.send(
        "ingest",
        touch("t1", "anon:a", T0, "paid_search"),
        touch("t2", "anon:a", T0 + timedelta(hours=2), "email"),
        conversion("second", "anon:a", T0 + timedelta(hours=3)),
    )
    assert feed.credits("second", "linear") == {"paid_search": 0.5, "email": 0.5}
    feed.send("ingest", conversion("first", "anon:a", T0 + timedelta(hours=1)))
    assert feed.credits("second", "linear") == {"email": 1.0}


def test_a_split_person_takes_its_touchpoints_out_of_the_others_journeys() -> None:
    feed = Feed()
    feed.send(
        "ingest",
        touch("kiosk-ad", "anon:kiosk", T0, "display"),
        touch("home-search", "anon:home", T0 + timedelta(hours=1), "organic_search"),
        conversion("c1", "anon:home", T0 + timedelta(hours=2)),
    )
    person = str(uuid5(NAMESPACE_DNS, "person"))
    feed.send("identity", PersonChanged(PROP, person, ("anon:home", "anon:kiosk")))
    assert feed.credits("c1", "linear") == {"display": 0.5, "organic_search": 0.5}
    kiosk_person = str(uuid5(NAMESPACE_DNS, "kiosk"))
    feed.send("identity", PersonSplitSeen(PROP, person, ((kiosk_person, ("anon:kiosk",)),)))
    assert feed.credits("c1", "linear") == {"organic_search": 1.0}


def test_a_shared_identifier_no_longer_joins_journeys() -> None:
    feed = Feed()
    feed.send(
        "ingest",
        touch("family-tablet-ad", "anon:tablet", T0, "paid_social"),
        conversion("c1", "user:u1", T0 + timedelta(hours=2)),
    )
    person = str(uuid5(NAMESPACE_DNS, "person"))
    feed.send("identity", PersonChanged(PROP, person, ("user:u1", "anon:tablet")))
    assert feed.credits("c1", "last_click") == {"paid_social": 1.0}
    shared = str(uuid5(NAMESPACE_DNS, "shared-tablet"))
    feed.send("identity", IdentifierShared(PROP, "anon:tablet", shared))
    assert feed.credits("c1", "last_click") == {"(none)": 1.0}


def test_a_visitor_created_later_in_the_page_joins_the_journeys_that_name_its_identifier() -> None:
    feed = Feed()
    both = ("anon:a", "anon:b")
    feed.send(
        "ingest", replace(conversion("c1", "anon:a", T0 + timedelta(hours=2)), identifiers=both)
    )
    # In one page: a touchpoint looks up the cluster of both identifiers while anon:b has no
    # visitor yet; then anon:b's first touchpoint creates it.
    feed.send(
        "ingest",
        replace(touch("search", "anon:a", T0, "paid_search"), identifiers=both),
        touch("mail", "anon:b", T0 + timedelta(hours=1), "email"),
    )
    assert feed.credits("c1", "linear") == {"paid_search": 0.5, "email": 0.5}


def test_identifiers_a_person_already_has_add_no_event_to_it() -> None:
    feed = Feed()
    person = uuid5(NAMESPACE_DNS, "person")
    feed.send("identity", PersonChanged(PROP, str(person), ("anon:a", "user:u1")))
    feed.send("identity", PersonChanged(PROP, str(person), ("user:u1",)))
    assert [type(e).__name__ for e in feed.app.events.get(person)] == ["Seen"]
    feed.send("identity", PersonChanged(PROP, str(person), ("user:u1", "anon:b")))
    events = list(feed.app.events.get(person))
    assert [type(e).__name__ for e in events] == ["Seen", "IdentifiersAdded"]
    assert events[-1].identifiers == ["user:u1", "anon:b"]  # type: ignore[attr-defined]


def test_persons_and_visitors_stored_before_they_were_created_linked_load_as_linked() -> None:
    # Before, a new person was stored as Seen then IdentifiersAdded, and a new visitor of a
    # person as Seen then LinkedToPerson; now each is one Seen event that carries them.
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    writer = EventWriter(app.mapper)
    person_id, visitor_id = uuid5(NAMESPACE_DNS, "p"), uuid5(NAMESPACE_DNS, "v")
    old_person, created = writer.create(Person, person_id, property_id=PROP)
    old_form = [created, writer.trigger(old_person, Person.IdentifiersAdded, identifiers=["a"])]
    new_person, new_form = writer.create(Person, person_id, property_id=PROP, identifiers=["a"])
    old_visitor, seen = writer.create(Visitor, visitor_id, property_id=PROP, identifier="a")
    old_visitor_form = [
        seen,
        writer.trigger(old_visitor, Visitor.LinkedToPerson, person_id=person_id),
    ]
    _, new_visitor_form = writer.create(
        Visitor, visitor_id, property_id=PROP, identifier="a", person_id=person_id
    )

    def replayed(stored: list[StoredEvent]) -> Any:
        aggregate = None
        for event in stored:
            aggregate = app.mapper.to_domain_event(event).mutate(aggregate)
        return aggregate

    assert replayed(old_form).identifiers == replayed([new_form]).identifiers == ["a"]
    assert new_person.identifiers == ["a"]
    old, new = replayed(old_visitor_form), replayed([new_visitor_form])
    assert old.person_id == new.person_id == person_id
    assert (
        (old.touchpoints, old.conversion_ids) == (new.touchpoints, new.conversion_ids) == ([], [])
    )


def test_visitors_stored_before_they_were_created_with_their_first_touchpoint_load_alike() -> None:
    # Before, a touchpoint's new visitor was stored as Seen then TouchpointAdded; now as one
    # Seen event that carries the touchpoint.
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    writer = EventWriter(app.mapper)
    visitor_id = uuid5(NAMESPACE_DNS, "v")
    first = touch_to_dict(touch("t1", "a", T0, "email").touch)
    old_visitor, seen = writer.create(
        Visitor, visitor_id, property_id=PROP, identifier="a", person_id=None
    )
    old_form = [seen, writer.trigger(old_visitor, Visitor.TouchpointAdded, touchpoint=first)]
    new_visitor, new_form = writer.create(
        Visitor, visitor_id, property_id=PROP, identifier="a", person_id=None, touchpoint=first
    )

    def replayed(stored: list[StoredEvent]) -> Any:
        aggregate = None
        for event in stored:
            aggregate = app.mapper.to_domain_event(event).mutate(aggregate)
        return aggregate

    old, new = replayed(old_form), replayed([new_form])
    assert old.touchpoints == new.touchpoints == new_visitor.touchpoints == [first]
    assert (old.person_id, old.conversion_ids) == (new.person_id, new.conversion_ids)


def test_a_touchpoints_new_visitor_is_stored_with_one_event_and_later_ones_add_one() -> None:
    feed = Feed()
    feed.send("ingest", touch("t1", "anon:a", T0, "email"))
    visitor = visitor_id(PROP, "anon:a")
    assert [type(e).__name__ for e in feed.app.events.get(visitor)] == ["Seen"]
    feed.send("ingest", touch("t2", "anon:a", T0 + timedelta(hours=1), "paid_search"))
    assert [type(e).__name__ for e in feed.app.events.get(visitor)] == ["Seen", "TouchpointAdded"]
    loaded = feed.app.repository.get(visitor)
    assert [t["channel"] for t in loaded.touchpoints] == ["email", "paid_search"]


def test_a_new_person_and_its_new_visitors_are_stored_with_one_event_each() -> None:
    feed = Feed()
    person = uuid5(NAMESPACE_DNS, "person")
    feed.send("identity", PersonChanged(PROP, str(person), ("anon:a", "user:u1")))
    assert [type(e).__name__ for e in feed.app.events.get(person)] == ["Seen"]
    visitor = feed.app.repository.get(visitor_id(PROP, "user:u1"))
    assert [type(e).__name__ for e in feed.app.events.get(visitor.id)] == ["Seen"]
    assert visitor.person_id == person
