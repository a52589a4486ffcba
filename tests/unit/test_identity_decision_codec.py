"""Identity's decisions: one stored form, one log entry per type, one reading in attribution."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, get_args

import pytest

from convtrack.identity.v1 import identity_pb2
from services.attribution.upstream import (
    IDENTITY_TRANSLATIONS,
    IGNORED_IDENTITY_EVENTS,
    PersonChanged,
    identity_input,
)
from services.identity.domainmodel import IdentityGraph, graph_id
from services.identity.resolution import (
    Decision,
    Evidence,
    IdentifierMarkedShared,
    IdentifiersLinked,
    MergeRefused,
    ObservationIgnored,
    PersonCreated,
    PersonForgotten,
    PersonsMerged,
    PersonSplit,
    ProbabilisticLinkAdded,
    ProbabilisticLinkRemoved,
    decision_from_dict,
    decision_to_dict,
)
from services.identity.servicer import DECISION_ENCODERS, NOT_SERVED, log_entry

EVIDENCE = Evidence("obs-1", ("anon:a", "user:u"))
EXAMPLES: list[Any] = [
    PersonCreated("p1", ("anon:a",), EVIDENCE),
    IdentifiersLinked("p1", ("user:u",), EVIDENCE, joined=("anon:a",)),
    PersonsMerged("p1", "p2", ("anon:b",), EVIDENCE, joined=("user:u",)),
    MergeRefused(EVIDENCE, ("p1", "p2"), "user", "user:u", datetime(2026, 3, 1, tzinfo=UTC)),
    IdentifierMarkedShared("anon:kiosk", ("p1", "p2", "p3"), EVIDENCE),
    PersonSplit("p1", (("p4", ("anon:c", "anon:d")), ("p5", ("anon:e",))), EVIDENCE),
    ObservationIgnored("anon:undefined", "blocked value", "obs-2"),
    PersonForgotten("p1", ("anon:a", "user:u"), EVIDENCE),
    ProbabilisticLinkAdded("anon:a", "anon:b", 12.5, (("ip", 6.0), ("ua", 6.5))),
    ProbabilisticLinkRemoved("anon:a", "anon:b", "kept apart"),
]


def _as_stored(value: Any) -> Any:
    """What the event store gives back: tuples come back as lists."""
    if isinstance(value, dict):
        return {key: _as_stored(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_as_stored(item) for item in value]
    return value


@pytest.mark.parametrize("decision", EXAMPLES, ids=lambda d: type(d).__name__)
def test_the_stored_form_is_what_asdict_gives(decision: Decision) -> None:
    kind, stored = decision_to_dict(decision)
    assert kind == type(decision).__name__
    assert stored == asdict(decision)
    assert repr(stored) == repr(asdict(decision))  # tuples stay tuples, nested dicts alike


def test_every_decision_type_has_an_example_here() -> None:
    assert {type(example) for example in EXAMPLES} == set(get_args(Decision))


@pytest.mark.parametrize("decision", EXAMPLES, ids=lambda d: type(d).__name__)
def test_a_decision_read_back_from_its_stored_form_equals_itself(decision: Any) -> None:
    kind, stored = decision_to_dict(decision)

    assert decision_from_dict(kind, _as_stored(stored)) == decision


def test_a_stored_decision_without_a_later_field_takes_its_default() -> None:
    kind, stored = decision_to_dict(IdentifiersLinked("p1", ("user:u",), EVIDENCE))
    del stored["joined"]

    assert decision_from_dict(kind, _as_stored(stored)).joined == ()  # type: ignore[union-attr]


def test_an_unknown_stored_kind_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="PersonTeleported"):
        decision_from_dict("PersonTeleported", {})


def test_every_decision_type_is_served_in_the_log_or_said_not_to_be() -> None:
    decision_types = set(get_args(Decision))

    assert set(DECISION_ENCODERS) | NOT_SERVED == decision_types
    assert not set(DECISION_ENCODERS) & NOT_SERVED


def test_attribution_reads_or_ignores_every_event_identity_serves() -> None:
    served = {f.name for f in identity_pb2.LogEntry.DESCRIPTOR.oneofs_by_name["event"].fields}

    assert set(IDENTITY_TRANSLATIONS) | IGNORED_IDENTITY_EVENTS == served


def test_a_merge_travels_from_identitys_log_entry_to_attributions_person_change() -> None:
    graph = IdentityGraph(id=graph_id("shop"), property_id="shop")
    graph.record(PersonCreated("p1", ("user:u",), EVIDENCE))
    graph.record(PersonCreated("p2", ("anon:b",), EVIDENCE))
    graph.record(PersonsMerged("p1", "p2", ("anon:b",), EVIDENCE, joined=("user:u",)))
    merged = graph.collect_events()[-1]

    entry = log_entry(7, merged)

    assert entry.WhichOneof("event") == "persons_merged"
    assert identity_input(entry) == PersonChanged("shop", "p1", ("anon:b",), merged_person_id="p2")
