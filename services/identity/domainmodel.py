"""Identity's domain: persons, their identifiers, and the observations that link them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, DomainEvent, event

PERSON_NAMESPACE = uuid5(NAMESPACE_URL, "https://convtrack.dev/ns/person")
IDENTIFIER_NAMESPACE = uuid5(NAMESPACE_URL, "https://convtrack.dev/ns/identifier")


@dataclass(frozen=True, slots=True)
class Observation:
    """Identifiers seen together on one ingested event (keys like "anon:abc")."""

    property_id: str
    record_id: str
    identifiers: tuple[str, ...]


def person_id_for(property_id: str, first_identifier: str) -> UUID:
    """A new person's id, derived from the identifier it was first seen with (replayable)."""
    return uuid5(PERSON_NAMESPACE, f"{property_id}\x1f{first_identifier}")


def identifier_link_id(property_id: str, identifier: str) -> UUID:
    """The id of the link that says which person an identifier belongs to."""
    return uuid5(IDENTIFIER_NAMESPACE, f"{property_id}\x1f{identifier}")


class Person(Aggregate):
    """A person: the identifiers known to be theirs. Merged-away persons point to the survivor."""

    IdentifiersLinked: ClassVar[type[DomainEvent]]
    Merged: ClassVar[type[DomainEvent]]
    MergedInto: ClassVar[type[DomainEvent]]

    @event("Created")
    def __init__(
        self, *, id: UUID, property_id: str, identifiers: list[str], evidence_record_id: str
    ) -> None:
        self.property_id = property_id
        self.identifiers = list(identifiers)
        self.merged_into: UUID | None = None

    @event("IdentifiersLinked")
    def link(self, *, property_id: str, identifiers: list[str], evidence_record_id: str) -> None:
        """Adds identifiers seen with this person's."""
        self.identifiers.extend(identifiers)

    @event("Merged")
    def absorb(
        self,
        *,
        property_id: str,
        merged_person_id: UUID,
        identifiers: list[str],
        evidence_record_id: str,
    ) -> None:
        """Takes over a younger person's identifiers: they were seen together with ours."""
        self.identifiers.extend(identifiers)

    @event("MergedInto")
    def merge_into(
        self, *, property_id: str, surviving_person_id: UUID, evidence_record_id: str
    ) -> None:
        """Marks this person as merged away; it resolves to the survivor from now on."""
        self.merged_into = surviving_person_id
        self.identifiers = []


class IdentifierLink(Aggregate):
    """Which person an identifier was first linked to (follow merges from there)."""

    @event("Assigned")
    def __init__(self, *, id: UUID, property_id: str, identifier: str, person_id: UUID) -> None:
        self.property_id = property_id
        self.identifier = identifier
        self.person_id = person_id
