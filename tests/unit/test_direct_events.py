"""Events written directly (`common.direct_events`) are the library's own, byte for byte, and
replay to the aggregate that was changed in memory."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import StoredEvent

from common.direct_events import EventWriter, transcoded
from services.attribution.domainmodel import Person, ReportingIdentity, Visitor

TOUCH: dict[str, Any] = {
    "touchpoint_id": "t-1",
    "occurred_at": datetime(2026, 3, 2, 9, 0, 0, 1, tzinfo=UTC),
    "channel": "paid_search",
    "source": "google",
    "medium": "cpc",
    "campaign": "spring ☀",
    "touch_type": "click",
    "advertising_denied": False,
}


def popo_app(**env: str) -> Application:
    return Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo", **env})


def replayed(app: Application, stored: list[StoredEvent]) -> Any:
    aggregate = None
    for event in stored:
        aggregate = app.mapper.to_domain_event(event).mutate(aggregate)
    return aggregate


def state_of(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def test_written_events_are_what_the_library_stores_for_them() -> None:
    app = popo_app()
    writer = EventWriter(app.mapper)
    person_id = uuid4()
    visitor, created = writer.create(Visitor, uuid4(), property_id="shop", identifier="anon:a")
    stored = [
        created,
        writer.trigger(visitor, Visitor.TouchpointAdded, touchpoint=dict(TOUCH)),
        writer.trigger(visitor, Visitor.LinkedToPerson, person_id=person_id),
        writer.trigger(visitor, Visitor.LinkedToPerson, person_id=None),
    ]
    for event in stored:
        # Decoded by the library and mapped again by it: the very same bytes.
        assert app.mapper.to_stored_event(app.mapper.to_domain_event(event)) == event
    assert [e.originator_version for e in stored] == [1, 2, 3, 4]
    assert stored[1].topic == "services.attribution.domainmodel:Visitor.TouchpointAdded"


def test_written_events_replay_to_the_aggregate_changed_in_memory() -> None:
    app = popo_app()
    writer = EventWriter(app.mapper)
    person, created = writer.create(Person, uuid4(), property_id="shop")
    stored = [
        created,
        writer.trigger(person, Person.IdentifiersAdded, identifiers=["anon:a", "user:u"]),
        writer.trigger(person, Person.IdentifiersRemoved, identifiers=["anon:a"]),
    ]
    assert person.identifiers == ["user:u"]
    assert person.version == 3
    assert state_of(replayed(app, stored)) == state_of(person)


def test_the_same_changes_through_the_aggregate_give_the_same_state() -> None:
    app = popo_app()
    writer = EventWriter(app.mapper)
    visitor_id = uuid4()
    direct, _ = writer.create(Visitor, visitor_id, property_id="shop", identifier="anon:a")
    writer.trigger(direct, Visitor.TouchpointAdded, touchpoint=dict(TOUCH))
    library = Visitor(
        id=visitor_id, property_id="shop", identifier="anon:a", person_id=None, touchpoint=None
    )
    library.add_touchpoint(touchpoint=dict(TOUCH))
    timestamps = ("_created_on", "_modified_on")
    assert {k: v for k, v in state_of(direct).items() if k not in timestamps} == {
        k: v for k, v in state_of(library).items() if k not in timestamps
    }


def test_encrypted_events_are_written_with_the_applications_cipher() -> None:
    app = popo_app(
        CIPHER_TOPIC="eventsourcing.cryptography:AESCipher", CIPHER_KEY=AESCipher.create_key(16)
    )
    assert EventWriter.supports(app.mapper)
    writer = EventWriter(app.mapper)
    _, created = writer.create(Visitor, uuid4(), property_id="shop", identifier="anon:a")
    assert b"anon:a" not in created.state
    assert replayed(app, [created]).identifier == "anon:a"


def test_subclasses_are_written_as_the_library_writes_them() -> None:
    app = popo_app()
    writer = EventWriter(app.mapper)
    visitor, _ = writer.create(Visitor, uuid4(), property_id="shop", identifier="anon:a")
    touch = {**TOUCH, "touch_type": ReportingIdentity.BLENDED, "campaign": OrderedDict(a=[1])}
    event = writer.trigger(visitor, Visitor.TouchpointAdded, touchpoint=touch)
    assert app.mapper.to_stored_event(app.mapper.to_domain_event(event)).state == event.state
    assert b'"campaign":{"a":[1]},"touch_type":"blended"' in event.state


def test_values_without_a_transcoding_are_refused() -> None:
    with pytest.raises(TypeError):
        transcoded({"amount": object()})
