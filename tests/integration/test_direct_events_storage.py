"""A unit of work with events written directly saves them with the consumer's position in one
transaction, in the order they happened, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from common.eventlog import TrackingApplication
from common.storage import database_for
from services.attribution.domainmodel import Person, Visitor
from tests.conftest import Storage

TOUCH = {
    "touchpoint_id": "t-1",
    "occurred_at": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    "channel": "email",
    "source": "newsletter",
    "medium": "email",
    "campaign": "march",
    "touch_type": "click",
    "advertising_denied": False,
}


def open_store(storage: Storage) -> TrackingApplication:
    database = database_for("attribution", storage.database_url, storage.data_dir)
    database.ensure_schema()
    return TrackingApplication(env=database.eventsourcing_env())


def test_direct_and_library_events_commit_with_the_position_in_order(storage: Storage) -> None:
    app = open_store(storage)
    unit = app.unit_of_work()
    visitor = unit.create(Visitor, uuid4(), property_id="shop", identifier="anon:a")
    unit.trigger(visitor, Visitor.TouchpointAdded, touchpoint=dict(TOUCH))
    person = Person(id=uuid4(), property_id="shop", identifiers=[])  # through the library
    unit.add(person)
    person.add_identifiers(identifiers=["anon:a"])
    unit.collect(person)
    unit.trigger(visitor, Visitor.LinkedToPerson, person_id=person.id)
    app.save_tracked("ingest", 7, unit)
    app.close()

    reopened = open_store(storage)
    assert reopened.position("ingest") == 7
    topics = [
        n.topic.rsplit(":", 1)[1]
        for n in reopened.recorder.select_notifications(start=None, limit=10)
    ]
    assert topics == [
        "Visitor.Seen",
        "Visitor.TouchpointAdded",
        "Person.Seen",
        "Person.IdentifiersAdded",
        "Visitor.LinkedToPerson",
    ]
    loaded = reopened.repository.get(visitor.id)
    assert isinstance(loaded, Visitor)
    assert (loaded.version, loaded.touchpoints, loaded.person_id) == (3, [TOUCH], person.id)
    reopened.close()


def test_a_page_whose_position_is_recorded_writes_nothing(storage: Storage) -> None:
    app = open_store(storage)
    first = app.unit_of_work()
    first.create(Visitor, uuid4(), property_id="shop", identifier="anon:a")
    app.save_tracked("ingest", 7, first)
    head = app.log_head()

    again = app.unit_of_work()
    again.create(Visitor, uuid4(), property_id="shop", identifier="anon:b")
    with pytest.raises(IntegrityError):
        app.save_tracked("ingest", 7, again)
    assert app.log_head() == head
    assert app.position("ingest") == 7
    app.close()


def test_ids_learned_absent_are_the_unstored_and_cached_ones_are_not_queried(
    storage: Storage,
) -> None:
    database = database_for("attribution", storage.database_url, storage.data_dir)
    database.ensure_schema()
    env = {**database.eventsourcing_env(), "AGGREGATE_CACHE_MAXSIZE": "100"}
    app = TrackingApplication(env=env)
    unit = app.unit_of_work()
    cached = unit.create(Visitor, uuid4(), property_id="shop", identifier="anon:a").id
    stored = unit.create(Visitor, uuid4(), property_id="shop", identifier="anon:b").id
    app.save_tracked("ingest", 1, unit)
    app.close()

    reopened = TrackingApplication(env=env)
    reopened.repository.get(cached)  # now in the aggregate cache; `stored` is not
    new = uuid4()
    queried: list[list[UUID]] = []

    def stored_ids(ids: list[UUID]) -> set[UUID]:
        queried.append(list(ids))
        return reopened.stored_ids(ids)

    unit = reopened.unit_of_work()
    unit.learn_absent([cached, stored, new, new], stored_ids)
    assert queried == [[stored, new]]
    assert new in reopened.absent_ids and stored not in reopened.absent_ids
    assert unit.get(Visitor, new) is None and unit.get(Visitor, stored) is not None
    reopened.close()
