"""Attribution's use cases: follow ingest and identity, (re-)attribute affected conversions."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import DomainEvent

from common.eventlog import TrackingApplication, UnitOfWork
from common.follower import UpstreamEntry
from services.attribution.domainmodel import (
    AttributionInput,
    Conversion,
    ConversionSeen,
    Person,
    PersonChanged,
    TouchpointSeen,
    Visitor,
    touch_from_dict,
    touch_to_dict,
    visitor_id,
)
from services.attribution.journeys import LookbackPolicy, journey_for
from services.attribution.models import (
    MODELS,
    Credit,
    UnknownModelError,
    credit,
)

MAX_MERGE_HOPS = 64


class AttributionError(Exception):
    """Base of attribution's errors."""


class UnknownConversionError(AttributionError):
    """Attribution has not seen the conversion (yet)."""


class AttributionApplication(TrackingApplication):
    """Credits conversions from journeys; its notification log is attribution's log.

    Journeys span every identifier identity links to the converting visitor. A touchpoint
    that arrives late, or an identity change, re-attributes the affected conversions as new
    `Conversion.Attributed` events; an attribution whose journey did not change is not
    repeated. `lock` serialises processing and queries (cached aggregates are shared).
    """

    name = "attribution"
    env = {
        "AGGREGATE_CACHE_MAXSIZE": "50000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }

    def __init__(
        self,
        *,
        models: Sequence[str] = ("last_click", "linear"),
        lookbacks: LookbackPolicy | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        unknown = [m for m in models if m not in MODELS]
        if unknown:
            raise UnknownModelError(f"unknown attribution models: {', '.join(unknown)}")
        super().__init__(env=env)
        self.models = list(models)
        self.lookbacks = lookbacks or LookbackPolicy()
        self.lock = threading.Lock()

    def process_page(
        self,
        upstream: str,
        entries: Sequence[UpstreamEntry[AttributionInput | None]],
        after: int | None = None,
    ) -> None:
        """Applies a page of ingest or identity events and re-attributes what they affect,
        saving everything with the upstream position in one transaction."""
        unit = UnitOfWork(self.repository)
        affected: dict[UUID, None] = {}
        try:
            for entry in entries:
                value = entry.value
                if isinstance(value, TouchpointSeen):
                    affected.update(dict.fromkeys(self._touchpoint(unit, value)))
                elif isinstance(value, ConversionSeen):
                    affected.update(dict.fromkeys(self._conversion(unit, value)))
                elif isinstance(value, PersonChanged):
                    affected.update(dict.fromkeys(self._person_changed(unit, value)))
            for conversion_id in affected:
                self._attribute(unit, conversion_id)
            self.save_tracked(upstream, entries[-1].position, unit)
        except BaseException:
            self.discard_cached_state()
            raise

    def latest_attribution(self, conversion_id: UUID) -> DomainEvent:
        """The conversion's latest `Conversion.Attributed` event."""
        for stored in self.events.get(conversion_id, desc=True):
            if isinstance(stored, Conversion.Attributed):
                return stored
        raise UnknownConversionError(f"conversion {conversion_id} has not been attributed")

    def _touchpoint(self, unit: UnitOfWork, seen: TouchpointSeen) -> list[UUID]:
        if seen.is_bot or not seen.identifiers:
            return []
        visitor = self._visitor(unit, seen.property_id, seen.identifiers[0])
        visitor.add_touchpoint(touchpoint=touch_to_dict(seen.touch))
        unit.collect(visitor)
        at = seen.touch.occurred_at
        return [
            c.id
            for c in self._conversions(
                unit, self._cluster(unit, seen.property_id, seen.identifiers)
            )
            if at <= c.occurred_at <= at + self.lookbacks.longest
        ]

    def _conversion(self, unit: UnitOfWork, seen: ConversionSeen) -> list[UUID]:
        conversion_id = UUID(seen.record_id)
        if not seen.identifiers or unit.get(Conversion, conversion_id) is not None:
            return []
        unit.add(
            Conversion(
                id=conversion_id,
                property_id=seen.property_id,
                event_id=seen.event_id,
                name=seen.name,
                occurred_at=seen.occurred_at,
                identifiers=list(seen.identifiers),
                currency_code=seen.currency_code,
                value_micros=seen.value_micros,
                reporting_currency_code=seen.reporting_currency_code,
                reporting_value_micros=seen.reporting_value_micros,
            )
        )
        visitor = self._visitor(unit, seen.property_id, seen.identifiers[0])
        visitor.add_conversion(conversion_id=conversion_id)
        unit.collect(visitor)
        cluster = self._cluster(unit, seen.property_id, seen.identifiers)
        later_same_name = [
            c.id
            for c in self._conversions(unit, cluster)
            if c.name == seen.name and c.id != conversion_id and c.occurred_at >= seen.occurred_at
        ]
        return [conversion_id, *later_same_name]

    def _person_changed(self, unit: UnitOfWork, changed: PersonChanged) -> list[UUID]:
        prop, person_id = changed.property_id, UUID(changed.person_id)
        person = unit.get(Person, person_id)
        if person is None:
            person = Person(id=person_id, property_id=prop)
            unit.add(person)
        person.add_identifiers(identifiers=list(changed.identifiers))
        unit.collect(person)
        if changed.merged_person_id:
            merged = unit.get(Person, UUID(changed.merged_person_id))
            if merged is None:
                merged = Person(id=UUID(changed.merged_person_id), property_id=prop)
                unit.add(merged)
            merged.merge_into(surviving_person_id=person_id)
            unit.collect(merged)
        for identifier in changed.identifiers:
            visitor = self._visitor(unit, prop, identifier)
            if visitor.person_id != person_id:
                visitor.link_to_person(person_id=person_id)
                unit.collect(visitor)
        cluster = self._cluster(unit, prop, tuple(person.identifiers))
        return [c.id for c in self._conversions(unit, cluster)]

    def _attribute(self, unit: UnitOfWork, conversion_id: UUID) -> None:
        conversion = unit.get(Conversion, conversion_id)
        if conversion is None:
            return
        visitors = self._cluster(unit, conversion.property_id, tuple(conversion.identifiers))
        touches = [touch_from_dict(t) for v in visitors for t in v.touchpoints]
        journey = journey_for(
            touches,
            conversion.occurred_at,
            self.lookbacks.for_conversion(conversion.name),
            after=_previous_conversion_at(conversion, self._conversions(unit, visitors)),
        )
        if not conversion.needs_attribution(journey, self.models):
            return
        credits: dict[str, list[Credit]] = {
            model: credit(model, journey, conversion.reporting_value_micros)
            for model in self.models
        }
        conversion.attribute(journey, credits)
        unit.collect(conversion)

    def _visitor(self, unit: UnitOfWork, property_id: str, identifier: str) -> Visitor:
        visitor = unit.get(Visitor, visitor_id(property_id, identifier))
        if visitor is None:
            visitor = Visitor(
                id=visitor_id(property_id, identifier),
                property_id=property_id,
                identifier=identifier,
            )
            unit.add(visitor)
        return visitor

    def _cluster(
        self, unit: UnitOfWork, property_id: str, identifiers: tuple[str, ...]
    ) -> list[Visitor]:
        """The visitors of every person the identifiers belong to (or just theirs)."""
        keys = set(identifiers)
        for identifier in identifiers:
            visitor = unit.get(Visitor, visitor_id(property_id, identifier))
            if visitor is not None and visitor.person_id is not None:
                keys.update(_current_person(unit, visitor.person_id).identifiers)
        found = (unit.get(Visitor, visitor_id(property_id, k)) for k in sorted(keys))
        return [v for v in found if v is not None]

    @staticmethod
    def _conversions(unit: UnitOfWork, visitors: Iterable[Visitor]) -> list[Conversion]:
        ids = dict.fromkeys(c for v in visitors for c in v.conversion_ids)
        found = (unit.get(Conversion, c) for c in ids)
        return [c for c in found if c is not None]


def _previous_conversion_at(
    conversion: Conversion, others: Iterable[Conversion]
) -> datetime | None:
    """When the person's previous conversion of the same name happened (ties by id)."""
    key = (conversion.occurred_at, str(conversion.id))
    earlier = [
        c.occurred_at
        for c in others
        if c.name == conversion.name and (c.occurred_at, str(c.id)) < key
    ]
    return max(earlier, default=None)


def _current_person(unit: UnitOfWork, person_id: UUID) -> Person:
    for _ in range(MAX_MERGE_HOPS):
        person = unit.get(Person, person_id)
        if person is None:
            raise AttributionError(f"person {person_id} is missing from the store")
        if person.merged_into is None:
            return person
        person_id = person.merged_into
    raise AttributionError(f"merge chain from {person_id} is longer than {MAX_MERGE_HOPS}")
