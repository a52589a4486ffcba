"""The identity graph's in-memory state: the fold of the resolver's decisions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.identity.resolution.decisions import (
    Decision,
    IdentifierMarkedShared,
    IdentifiersLinked,
    MergeRefused,
    PersonCreated,
    PersonForgotten,
    PersonsMerged,
    PersonSplit,
    ProbabilisticLinkAdded,
    ProbabilisticLinkRemoved,
    link_key,
)
from services.identity.resolution.errors import ResolutionError
from services.identity.resolution.person_ids import shared_person_id
from services.identity.resolution.rules import kind_of


class ResolutionState:
    """The identity graph's in-memory indexes; `apply` (the fold of decisions) changes it."""

    def __init__(self, property_id: str = "") -> None:
        self.property_id = property_id
        self.person_by_identifier: dict[str, str] = {}
        self.identifiers_by_person: dict[str, list[str]] = {}
        self.kind_counts: dict[str, dict[str, int]] = {}
        self.groups: dict[str, list[tuple[str, ...]]] = {}
        self.created_seq: dict[str, int] = {}
        self.next_seq = 0
        self.merged_into: dict[str, str] = {}
        self.shared: set[str] = set()
        self.fanout: dict[str, dict[str, datetime | None]] = {}
        self.kept_apart: dict[str, set[str]] = {}
        self.probabilistic_links: dict[tuple[str, str], ProbabilisticLinkAdded] = {}
        self.birth_dates: dict[str, str] = {}
        self.duplicates: set[str] = set()
        self.applied = 0

    def current_person(self, person_id: str) -> str:
        """The person a (possibly merged-away) person id resolves to now."""
        seen = 0
        while person_id in self.merged_into:
            person_id = self.merged_into[person_id]
            seen += 1
            if seen > len(self.merged_into):
                raise ResolutionError(f"merge cycle at {person_id}")
        return person_id

    def apply(self, decision: Decision) -> None:
        """Evolves the state by one decision (the only way it changes)."""
        self.applied += 1
        if isinstance(decision, PersonCreated):
            self.birth_dates.update(decision.birth_dates)
            self._add_person(decision.person_id, decision.identifiers)
            if len(decision.identifiers) > 1:
                self.groups[decision.person_id].append(decision.identifiers)
        elif isinstance(decision, IdentifiersLinked):
            self.birth_dates.update(decision.birth_dates)
            self.duplicates.update(decision.duplicates)
            self._link(decision.person_id, decision.identifiers)
            self._group(decision.person_id, decision.joined)
        elif isinstance(decision, PersonsMerged):
            self.duplicates.update(decision.duplicates)
            self._merge(decision.survivor, decision.merged)
            self._group(decision.survivor, decision.joined)
        elif isinstance(decision, PersonSplit):
            self._split(decision.person_id, decision.parts)
        elif isinstance(decision, MergeRefused):
            self._refused(decision)
        elif isinstance(decision, IdentifierMarkedShared):
            self._mark_shared(decision.identifier)
        elif isinstance(decision, ProbabilisticLinkAdded):
            self.probabilistic_links[link_key(decision.a, decision.b)] = decision
        elif isinstance(decision, ProbabilisticLinkRemoved):
            self.probabilistic_links.pop(link_key(decision.a, decision.b), None)
        elif isinstance(decision, PersonForgotten):
            self._forget(decision.person_id, decision.identifiers)

    def _add_person(self, person_id: str, identifiers: Iterable[str]) -> None:
        if person_id in self.created_seq:
            raise ResolutionError(f"person {person_id} exists already")
        self.created_seq[person_id] = self.next_seq
        self.next_seq += 1
        self.identifiers_by_person[person_id] = []
        self.kind_counts[person_id] = {}
        self.groups[person_id] = []
        self._link(person_id, identifiers)

    def _group(self, person_id: str, joined: tuple[str, ...]) -> None:
        groups = self.groups[person_id]
        if len(joined) > 1 and (not groups or groups[-1] != joined):
            groups.append(joined)

    def _link(self, person_id: str, identifiers: Iterable[str]) -> None:
        members = self.identifiers_by_person[person_id]
        counts = self.kind_counts[person_id]
        for identifier in identifiers:
            self.person_by_identifier[identifier] = person_id
            members.append(identifier)
            if identifier not in self.duplicates:
                kind = kind_of(identifier)
                counts[kind] = counts.get(kind, 0) + 1

    def _merge(self, survivor: str, merged: str) -> None:
        moved = self.identifiers_by_person.pop(merged)
        del self.kind_counts[merged]
        self.groups[survivor].extend(self.groups.pop(merged))
        self._link(survivor, moved)
        self.merged_into[merged] = survivor
        apart = self.kept_apart.pop(merged, None)
        if apart:
            self.kept_apart.setdefault(survivor, set()).update(apart)

    def _refused(self, decision: MergeRefused) -> None:
        for person in decision.persons if decision.keeps_apart else ():
            self.kept_apart.setdefault(person, set()).update(
                other for other in decision.persons if other != person
            )
        identifier = decision.dropped_identifier
        if (
            decision.counts_for_fanout
            and identifier in self.person_by_identifier
            and identifier not in self.shared
        ):
            seen = self.fanout.setdefault(identifier, {})
            for person in decision.persons:
                seen[person] = decision.ts

    def _mark_shared(self, identifier: str) -> None:
        self.shared.add(identifier)
        self.fanout.pop(identifier, None)
        owner = self.person_by_identifier.get(identifier)
        if owner is not None:
            self.identifiers_by_person[owner].remove(identifier)
            if identifier not in self.duplicates:
                self.kind_counts[owner][kind_of(identifier)] -= 1
        self.duplicates.discard(identifier)
        detached = shared_person_id(self.property_id, identifier)
        self._add_person(detached, (identifier,))

    def _split(self, person_id: str, parts: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
        members = self.identifiers_by_person[person_id]
        counts = self.kind_counts[person_id]
        leaving = {identifier for _, identifiers in parts for identifier in identifiers}
        self.identifiers_by_person[person_id] = [i for i in members if i not in leaving]
        for identifier in leaving:
            if identifier not in self.duplicates:
                counts[kind_of(identifier)] -= 1
        for new_person, identifiers in parts:
            self._add_person(new_person, identifiers)
        groups = self.groups[person_id]
        self.groups[person_id] = []
        owner_of = self.person_by_identifier
        for group in groups:
            by_person: dict[str, list[str]] = {}
            for identifier in group:
                owner = owner_of.get(identifier)
                if owner is not None and identifier not in self.shared:
                    by_person.setdefault(owner, []).append(identifier)
            for owner, part in by_person.items():
                if len(part) > 1 and owner in self.groups:
                    self.groups[owner].append(tuple(part))

    def _forget(self, person_id: str, identifiers: tuple[str, ...]) -> None:
        gone = set(identifiers)
        for identifier in gone:
            self.person_by_identifier.pop(identifier, None)
            self.fanout.pop(identifier, None)
            self.shared.discard(identifier)
            self.birth_dates.pop(identifier, None)
            self.duplicates.discard(identifier)
        self.identifiers_by_person.pop(person_id, None)
        self.kind_counts.pop(person_id, None)
        self.groups.pop(person_id, None)
        self.kept_apart.pop(person_id, None)
        for apart in self.kept_apart.values():
            apart.discard(person_id)
        self.probabilistic_links = {
            key: link for key, link in self.probabilistic_links.items() if not set(key) & gone
        }

    def components(self, person_id: str) -> list[list[str]]:
        """The person's identifiers in groups connected by its links (oldest identifier first)."""
        members = self.identifiers_by_person[person_id]
        parent = {identifier: identifier for identifier in members}

        def find(identifier: str) -> str:
            while parent[identifier] != identifier:
                parent[identifier] = parent[parent[identifier]]
                identifier = parent[identifier]
            return identifier

        for group in self.groups[person_id]:
            inside = [identifier for identifier in group if identifier in parent]
            for other in inside[1:]:
                parent[find(other)] = find(inside[0])
        parts: dict[str, list[str]] = {}
        for identifier in members:
            parts.setdefault(find(identifier), []).append(identifier)
        return list(parts.values())

    def shadow(self, persons: Iterable[str]) -> ResolutionState:
        """A copy holding only these persons, for working out a decision without changing self."""
        copy = ResolutionState(self.property_id)
        copy.next_seq = self.next_seq
        copy.shared = set(self.shared)
        for person in persons:
            members = self.identifiers_by_person[person]
            copy.duplicates.update(i for i in members if i in self.duplicates)
            copy.identifiers_by_person[person] = list(members)
            copy.kind_counts[person] = dict(self.kind_counts[person])
            copy.groups[person] = list(self.groups[person])
            copy.created_seq[person] = self.created_seq[person]
            for identifier in members:
                copy.person_by_identifier[identifier] = person
        return copy

    def snapshot(self) -> dict[str, Any]:
        """Everything the state holds, as comparable plain values."""
        return {
            "property_id": self.property_id,
            "person_by_identifier": dict(self.person_by_identifier),
            "identifiers_by_person": {p: sorted(i) for p, i in self.identifiers_by_person.items()},
            "kind_counts": {
                p: {k: n for k, n in c.items() if n} for p, c in self.kind_counts.items()
            },
            "groups": {p: sorted(g) for p, g in self.groups.items() if g},
            "created_seq": dict(self.created_seq),
            "next_seq": self.next_seq,
            "merged_into": dict(self.merged_into),
            "shared": sorted(self.shared),
            "fanout": {i: dict(s) for i, s in self.fanout.items()},
            "kept_apart": {p: sorted(s) for p, s in self.kept_apart.items() if s},
            "probabilistic_links": dict(self.probabilistic_links),
            "birth_dates": dict(self.birth_dates),
            "duplicates": sorted(self.duplicates),
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResolutionState):
            return NotImplemented
        return self.snapshot() == other.snapshot()

    __hash__ = None  # type: ignore[assignment]


__all__ = ["ResolutionState"]
