"""Identity resolution through its application API, on in-memory persistence."""

from __future__ import annotations

import pytest

from common.follower import UpstreamEntry
from services.identity.application import IdentityApplication, UnknownIdentifierError
from services.identity.domainmodel import Observation, Person

PROP = "shop"


class Feed:
    """Feeds observations the way the ingest follower does."""

    def __init__(self) -> None:
        self.app = IdentityApplication()
        self.position = 0

    def observe(self, *identifier_sets: tuple[str, ...]) -> None:
        entries = []
        for identifiers in identifier_sets:
            self.position += 1
            observation = Observation(PROP, f"record-{self.position}", identifiers)
            entries.append(UpstreamEntry(self.position, observation))
        self.app.process_page("ingest", entries)

    def person_of(self, identifier: str) -> Person:
        return self.app.resolve(PROP, identifier)


def test_identifiers_seen_together_belong_to_one_person() -> None:
    feed = Feed()
    feed.observe(("anon:laptop", "user:u1"))
    assert feed.person_of("anon:laptop").id == feed.person_of("user:u1").id
    assert sorted(feed.person_of("user:u1").identifiers) == ["anon:laptop", "user:u1"]


def test_two_devices_joined_by_a_user_id_merge_into_the_older_person() -> None:
    feed = Feed()
    feed.observe(("anon:laptop",))
    feed.observe(("anon:phone",))
    laptop_person = feed.person_of("anon:laptop").id
    feed.observe(("anon:laptop", "user:u1"), ("anon:phone", "user:u1"))
    survivor = feed.person_of("anon:phone")
    assert survivor.id == laptop_person
    assert sorted(survivor.identifiers) == ["anon:laptop", "anon:phone", "user:u1"]


def test_the_merged_away_person_resolves_to_the_survivor() -> None:
    feed = Feed()
    feed.observe(("anon:a",), ("anon:b",), ("anon:a", "anon:b"))
    assert feed.person_of("anon:b").id == feed.person_of("anon:a").id


def test_unknown_identifiers_are_not_found() -> None:
    feed = Feed()
    with pytest.raises(UnknownIdentifierError):
        feed.person_of("anon:nobody")


def test_the_log_lists_changes_in_causal_order_with_their_evidence() -> None:
    feed = Feed()
    feed.observe(("anon:a",), ("anon:b",), ("anon:a", "anon:b"))
    published = [
        r.event
        for r in feed.app.read_log(0, 100)
        if isinstance(r.event, Person.Created | Person.Merged | Person.IdentifiersLinked)
    ]
    assert [type(e).__name__ for e in published] == ["Created", "Created", "Merged"]
    assert published[2].evidence_record_id == "record-3"  # type: ignore[attr-defined]


def test_replaying_the_same_observations_gives_the_same_person_ids() -> None:
    first, second = Feed(), Feed()
    for feed in (first, second):
        feed.observe(("anon:a", "user:u"), ("anon:b",), ("anon:b", "user:u"))
    assert first.person_of("anon:b").id == second.person_of("anon:b").id
    assert first.app.position("ingest") == 3
