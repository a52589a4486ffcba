"""Identity's use cases: link the identifiers of each ingested event, resolve identifiers."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from uuid import UUID

from common.eventlog import TrackingApplication, UnitOfWork
from common.follower import UpstreamEntry
from services.identity.domainmodel import (
    IdentifierLink,
    Observation,
    Person,
    identifier_link_id,
    person_id_for,
)

MAX_MERGE_HOPS = 64


class IdentityError(Exception):
    """Base of identity's errors."""


class UnknownIdentifierError(IdentityError):
    """The identifier has not been seen in the property."""


class IdentityApplication(TrackingApplication):
    """The identity graph, fed by ingest's log; its notification log is identity's log.

    `lock` serialises processing and queries: cached aggregates are shared, not copied.
    """

    name = "identity"
    env = {
        "AGGREGATE_CACHE_MAXSIZE": "50000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env=env)
        self.lock = threading.Lock()

    def process_page(
        self,
        upstream: str,
        entries: Sequence[UpstreamEntry[Observation | None]],
        after: int | None = None,
    ) -> None:
        """Links the identifiers of a page of ingest events; saves with the position."""
        unit = self.unit_of_work()
        try:
            for entry in entries:
                if entry.value is not None and entry.value.identifiers:
                    self._observe(unit, entry.value)
            self.save_tracked(upstream, entries[-1].position, unit)
        except BaseException:
            self.discard_cached_state()
            raise

    def resolve(self, property_id: str, identifier: str) -> Person:
        """The person an identifier belongs to now (after merges)."""
        with self.lock:
            unit = self.unit_of_work()
            link = unit.get(IdentifierLink, identifier_link_id(property_id, identifier))
            if link is None:
                raise UnknownIdentifierError(f"{identifier} has not been seen in {property_id}")
            return _current_person(unit, link.person_id)

    def _observe(self, unit: UnitOfWork, observation: Observation) -> None:
        prop, evidence = observation.property_id, observation.record_id
        identifiers = list(dict.fromkeys(observation.identifiers))
        persons: dict[UUID, Person] = {}
        unlinked: list[str] = []
        for identifier in identifiers:
            link = unit.get(IdentifierLink, identifier_link_id(prop, identifier))
            if link is None:
                unlinked.append(identifier)
            else:
                person = _current_person(unit, link.person_id)
                persons[person.id] = person
        if not persons:
            survivor = Person(
                id=person_id_for(prop, identifiers[0]),
                property_id=prop,
                identifiers=unlinked,
                evidence_record_id=evidence,
            )
            unit.add(survivor)
        else:
            ordered = sorted(persons.values(), key=lambda p: (p.created_on, str(p.id)))
            survivor = ordered[0]
            for younger in ordered[1:]:
                survivor.absorb(
                    property_id=prop,
                    merged_person_id=younger.id,
                    identifiers=list(younger.identifiers),
                    evidence_record_id=evidence,
                )
                younger.merge_into(
                    property_id=prop, surviving_person_id=survivor.id, evidence_record_id=evidence
                )
                unit.collect(survivor, younger)
            if unlinked:
                survivor.link(property_id=prop, identifiers=unlinked, evidence_record_id=evidence)
                unit.collect(survivor)
        for identifier in unlinked:
            unit.add(
                IdentifierLink(
                    id=identifier_link_id(prop, identifier),
                    property_id=prop,
                    identifier=identifier,
                    person_id=survivor.id,
                )
            )


def _current_person(unit: UnitOfWork, person_id: UUID) -> Person:
    for _ in range(MAX_MERGE_HOPS):
        person = unit.get(Person, person_id)
        if person is None:
            raise IdentityError(f"person {person_id} is missing from the store")
        if person.merged_into is None:
            return person
        person_id = person.merged_into
    raise IdentityError(f"merge chain from {person_id} is longer than {MAX_MERGE_HOPS}")
