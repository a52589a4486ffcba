"""Deterministic identity resolution as a pure decider: decide(state, rules, obs), state.apply."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from common.identifiers import ALL_ZERO_ID, PLACEHOLDER_VALUES
from services.identity.observations import IdentifierKind, ObservationRecord

PERSON_NAMESPACE = uuid5(NAMESPACE_URL, "https://convtrack.dev/ns/person")
SHARED_NAMESPACE = uuid5(NAMESPACE_URL, "https://convtrack.dev/ns/shared-identifier")


class ResolutionError(Exception):
    """Base of the resolution core's errors."""


class UnknownIdentifierError(ResolutionError):
    """The identifier has not been resolved to any person."""


@dataclass(frozen=True, slots=True)
class KindRule:
    """How one identifier kind takes part in resolution.

    `priority`: 1 is the strongest; in a refused merge the identifier with the largest number
    is dropped. `max_per_person`: at most this many identifiers of the kind per person (None:
    unlimited). `max_persons`: the kind's fan-out limit (None: the rules' default).
    `duplicate_records`: identifiers of the kind name records that can be entered twice for
    one person (CRM records with a typo); a probabilistic link between two of them says they
    are duplicates, so the pair counts once against `max_per_person`.
    `keeps_devices_apart`: the kind never vouches for a device on its own: in an observation
    whose strongest identifier is of this kind, the anonymous ids (cookies) are not joined to
    anyone (a shared mailbox: the email identifies the mailbox, not who clicked).
    """

    priority: int
    max_per_person: int | None = None
    max_persons: int | None = None
    duplicate_records: bool = False
    keeps_devices_apart: bool = False


DEFAULT_KINDS: Mapping[str, KindRule] = MappingProxyType(
    {
        IdentifierKind.USER.value: KindRule(priority=1, max_per_person=1),
        IdentifierKind.CRM.value: KindRule(priority=2, max_per_person=1, duplicate_records=True),
        IdentifierKind.EMAIL.value: KindRule(priority=3, max_per_person=1, max_persons=1),
        IdentifierKind.PHONE.value: KindRule(priority=4, max_per_person=1, max_persons=1),
        IdentifierKind.ANONYMOUS.value: KindRule(priority=5, max_per_person=None, max_persons=2),
    }
)

DEFAULT_BLOCKED_VALUES: frozenset[str] = PLACEHOLDER_VALUES
_LOWEST = 1 << 30


@dataclass(frozen=True, slots=True)
class IdentityRules:
    """A property's resolution rules: kinds, blocked values, fan-out limit, link threshold.

    An identifier seen with more than its kind's `max_persons` (default
    `max_persons_per_identifier`) distinct persons within `fanout_window` is marked shared.
    Values are compared trimmed and case-insensitively; all-zero ids are always blocked.
    """

    kinds: Mapping[str, KindRule] = field(default_factory=lambda: DEFAULT_KINDS)
    blocked_values: frozenset[str] = DEFAULT_BLOCKED_VALUES
    max_persons_per_identifier: int = 5
    fanout_window: timedelta = timedelta(days=30)
    min_probabilistic_weight: float = 0.0

    def rule(self, kind: str) -> KindRule | None:
        """The rule of a kind, None when the kind is not resolved in this property."""
        return self.kinds.get(kind)

    def fanout_limit(self, kind: str) -> int:
        """How many distinct persons an identifier of `kind` may be seen with."""
        rule = self.kinds.get(kind)
        if rule is None or rule.max_persons is None:
            return self.max_persons_per_identifier
        return rule.max_persons

    def blocked_reason(self, identifier: str) -> str | None:
        """Why an identifier never takes part in resolution, or None when it may."""
        kind, sep, value = identifier.partition(":")
        if not sep:
            return "not a typed identifier (expected '<kind>:<value>')"
        if kind not in self.kinds:
            return f"identifier kind {kind!r} is not resolved"
        value = value.strip().lower()
        if value in self.blocked_values:
            return "blocked value"
        if ALL_ZERO_ID.fullmatch(value):
            return "all-zero id"
        return None


def link_key(a: str, b: str) -> tuple[str, str]:
    """The key of a probabilistic link between two identifiers (either order)."""
    return (a, b) if a <= b else (b, a)


def rules_to_dict(rules: IdentityRules) -> dict[str, Any]:
    """A property's rules as plain values (for the event that stores them)."""
    return {
        "kinds": {
            kind: {
                "priority": rule.priority,
                "max_per_person": rule.max_per_person,
                "max_persons": rule.max_persons,
                "duplicate_records": rule.duplicate_records,
                "keeps_devices_apart": rule.keeps_devices_apart,
            }
            for kind, rule in sorted(rules.kinds.items())
        },
        "blocked_values": sorted(rules.blocked_values),
        "max_persons_per_identifier": rules.max_persons_per_identifier,
        "fanout_window_seconds": rules.fanout_window.total_seconds(),
        "min_probabilistic_weight": rules.min_probabilistic_weight,
    }


def rules_from_dict(data: Mapping[str, Any]) -> IdentityRules:
    """The inverse of `rules_to_dict`."""
    return IdentityRules(
        kinds=MappingProxyType(
            {
                kind: KindRule(
                    priority=int(rule["priority"]),
                    max_per_person=rule["max_per_person"],
                    max_persons=rule["max_persons"],
                    duplicate_records=bool(rule["duplicate_records"]),
                    keeps_devices_apart=bool(rule.get("keeps_devices_apart", False)),
                )
                for kind, rule in data["kinds"].items()
            }
        ),
        blocked_values=frozenset(data["blocked_values"]),
        max_persons_per_identifier=int(data["max_persons_per_identifier"]),
        fanout_window=timedelta(seconds=float(data["fanout_window_seconds"])),
        min_probabilistic_weight=float(data["min_probabilistic_weight"]),
    )


def kind_of(identifier: str) -> str:
    """The kind prefix of an identifier key ("email" for "email:<sha256>")."""
    return identifier.partition(":")[0]


def person_id_for(property_id: str, first_identifier: str) -> str:
    """A new person's id, from the identifier it was first seen with (same as the service)."""
    return str(uuid5(PERSON_NAMESPACE, f"{property_id}\x1f{first_identifier}"))


def split_person_id(property_id: str, first_identifier: str, obs_id: str) -> str:
    """The id of a part split off a person, from its oldest identifier and the observation."""
    return str(uuid5(PERSON_NAMESPACE, f"{property_id}\x1f{first_identifier}\x1fsplit\x1f{obs_id}"))


def shared_person_id(property_id: str, identifier: str) -> str:
    """The id a shared identifier resolves to once detached from the person it joined."""
    return str(uuid5(SHARED_NAMESPACE, f"{property_id}\x1f{identifier}"))


# --- decisions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Evidence:
    """Which observation, and which identifiers it carried."""

    obs_id: str
    identifiers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PersonCreated:
    """A new person, from identifiers that belonged to nobody."""

    person_id: str
    identifiers: tuple[str, ...]
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class IdentifiersLinked:
    """New identifiers joined an existing person; `joined`: the identifiers linked through."""

    person_id: str
    identifiers: tuple[str, ...]
    evidence: Evidence
    joined: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PersonsMerged:
    """The younger person `merged` joined the older `survivor`, bringing `identifiers`.

    `joined`: the observation's identifiers that were joined (the link's edge in the graph).
    """

    survivor: str
    merged: str
    identifiers: tuple[str, ...]
    evidence: Evidence
    joined: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MergeRefused:
    """Joining the observation's persons would break `reason`'s limit; an identifier was dropped.

    `persons` are the distinct persons the observation's identifiers belong to afterwards: the
    refusal keeps them apart, and they count towards the dropped identifier's fan-out.
    """

    observation: Evidence
    persons: tuple[str, ...]
    reason: str
    dropped_identifier: str
    ts: datetime | None = None


@dataclass(frozen=True, slots=True)
class IdentifierMarkedShared:
    """The identifier was seen with too many persons: it is detached and stops joining."""

    identifier: str
    persons_seen: tuple[str, ...]
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class PersonSplit:
    """A person fell apart once a shared identifier stopped joining it: `parts` left it.

    Each part is (new person id, identifiers) and was connected to the rest only through the
    shared identifier; the person keeps the part holding its oldest identifier.
    """

    person_id: str
    parts: tuple[tuple[str, tuple[str, ...]], ...]
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class ObservationIgnored:
    """An identifier of an observation was not used (blocked value, unknown kind)."""

    identifier: str
    reason: str
    obs_id: str = ""


@dataclass(frozen=True, slots=True)
class PersonForgotten:
    """A person was forgotten (right to erasure): its identifiers belong to nobody."""

    person_id: str
    identifiers: tuple[str, ...]
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class ProbabilisticLinkAdded:
    """A scored link between two identifiers, kept apart from deterministic links.

    `weight` is the match weight (log2 Bayes factor), `evidence` the weight per signal. A
    link between the same two identifiers replaces the earlier one.
    """

    a: str
    b: str
    weight: float
    evidence: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class ProbabilisticLinkRemoved:
    """A probabilistic link no longer holds: a new matching run dropped it, or the guards
    refuse it now (its persons were kept apart, or it would break a limit)."""

    a: str
    b: str
    reason: str


Decision = (
    PersonCreated
    | IdentifiersLinked
    | PersonsMerged
    | MergeRefused
    | IdentifierMarkedShared
    | PersonSplit
    | ObservationIgnored
    | ProbabilisticLinkAdded
    | ProbabilisticLinkRemoved
    | PersonForgotten
)


# --- state -----------------------------------------------------------------------------------


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
            self._add_person(decision.person_id, decision.identifiers)
            if len(decision.identifiers) > 1:
                self.groups[decision.person_id].append(decision.identifiers)
        elif isinstance(decision, IdentifiersLinked):
            self._link(decision.person_id, decision.identifiers)
            self._group(decision.person_id, decision.joined)
        elif isinstance(decision, PersonsMerged):
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
        for person in decision.persons:
            self.kept_apart.setdefault(person, set()).update(
                other for other in decision.persons if other != person
            )
        identifier = decision.dropped_identifier
        if identifier in self.person_by_identifier and identifier not in self.shared:
            seen = self.fanout.setdefault(identifier, {})
            for person in decision.persons:
                seen[person] = decision.ts

    def _mark_shared(self, identifier: str) -> None:
        self.shared.add(identifier)
        self.fanout.pop(identifier, None)
        owner = self.person_by_identifier.get(identifier)
        if owner is not None:
            self.identifiers_by_person[owner].remove(identifier)
            self.kind_counts[owner][kind_of(identifier)] -= 1
        detached = shared_person_id(self.property_id, identifier)
        self._add_person(detached, (identifier,))

    def _split(self, person_id: str, parts: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
        members = self.identifiers_by_person[person_id]
        counts = self.kind_counts[person_id]
        leaving = {identifier for _, identifiers in parts for identifier in identifiers}
        self.identifiers_by_person[person_id] = [i for i in members if i not in leaving]
        for identifier in leaving:
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
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResolutionState):
            return NotImplemented
        return self.snapshot() == other.snapshot()

    __hash__ = None  # type: ignore[assignment]


# --- decide ----------------------------------------------------------------------------------


def decide(state: ResolutionState, rules: IdentityRules, obs: ObservationRecord) -> list[Decision]:
    """What observing `obs` decides, given the state (pure: the state is not changed).

    Blocked identifiers are ignored; shared identifiers do not join. When joining the persons of
    the observation would exceed a kind's max-per-person limit, the merge is refused and the
    lowest-priority identifier taking part in the conflict is dropped, then the join is retried.
    The older person survives a merge. A dropped identifier counts as seen with every person
    the observation touched; one seen with too many persons is marked shared, detached, and the
    person it alone held together is split.
    """
    decisions: list[Decision] = []
    identifiers = tuple(dict.fromkeys(obs.identifiers))
    owner_of = state.person_by_identifier
    joining: list[str] = []
    persons: set[str] = set()
    new = False
    for identifier in identifiers:
        person = owner_of.get(identifier)
        if person is None:
            reason = rules.blocked_reason(identifier)
            if reason is not None:
                decisions.append(ObservationIgnored(identifier, reason, obs.obs_id))
                continue
            new = True
        elif identifier in state.shared:
            continue
        else:
            persons.add(person)
        joining.append(identifier)
    evidence = Evidence(obs.obs_id, identifiers)
    if _devices_kept_apart(rules, joining):
        for device in [i for i in joining if kind_of(i) == IdentifierKind.ANONYMOUS.value]:
            joining.remove(device)
            if device not in owner_of:
                person = person_id_for(state.property_id, device)
                decisions.append(PersonCreated(person, (device,), evidence))
        new = any(i not in owner_of for i in joining)
        persons = {owner_of[i] for i in joining if i in owner_of}
    if not new and len(persons) <= 1:
        return decisions
    dropped: list[tuple[str, str]] = []
    while True:
        conflict = _conflict(state, rules, joining)
        if conflict is not None:
            kind, count, limit = conflict
            victim = _victim(state, rules, joining, kind)
            reason = f"a person would have {count} {kind} identifiers (at most {limit})"
        else:
            apart = _kept_apart(state, joining)
            if apart is None:
                break
            victim = _lowest_priority(state, rules, joining, apart)
            reason = "the persons were kept apart (split or refused before)"
        joining.remove(victim)
        dropped.append((victim, reason))
    final_of: dict[str, str] = {}
    decisions.extend(_join(state, joining, evidence, final_of))
    for victim, _ in dropped:
        owner = owner_of.get(victim)
        if owner is None:
            person = person_id_for(state.property_id, victim)
            decisions.append(PersonCreated(person, (victim,), evidence))
            final_of[victim] = person
        else:
            final_of[victim] = final_of.get(owner, owner)
    if not dropped:
        return decisions
    kept_apart = tuple(dict.fromkeys(final_of[i] for i in (*joining, *(v for v, _ in dropped))))
    for victim, reason in dropped:
        decisions.append(MergeRefused(evidence, kept_apart, reason, victim, obs.ts))
    marks = _fanout(state, rules, obs, evidence, [v for v, _ in dropped], final_of, kept_apart)
    if marks:
        involved = {owner_of[i] for i in identifiers if i in owner_of and i not in state.shared}
        shadow = state.shadow(involved)
        for decision in decisions:
            shadow.apply(decision)
        for mark in marks:
            owner = shadow.person_by_identifier[mark.identifier]
            decisions.append(mark)
            shadow.apply(mark)
            split = _split(shadow, owner, evidence)
            if split is not None:
                decisions.append(split)
                shadow.apply(split)
    return decisions


def _devices_kept_apart(rules: IdentityRules, joining: list[str]) -> bool:
    """Whether the strongest kind of the join keeps its devices apart (see `KindRule`)."""
    ranked = [(rules.kinds[kind_of(i)].priority, kind_of(i)) for i in joining]
    return bool(ranked) and rules.kinds[min(ranked)[1]].keeps_devices_apart


def _split(state: ResolutionState, person: str, evidence: Evidence) -> PersonSplit | None:
    """The parts of a person no longer connected to its oldest identifier, if any."""
    components = state.components(person)
    if len(components) <= 1:
        return None
    parts = tuple(
        (split_person_id(state.property_id, part[0], evidence.obs_id), tuple(part))
        for part in components[1:]
    )
    return PersonSplit(person, parts, evidence)


def _conflict(
    state: ResolutionState, rules: IdentityRules, joining: list[str]
) -> tuple[str, int, int] | None:
    """The first kind (by priority) whose limit the join would break: (kind, count, limit)."""
    owner_of = state.person_by_identifier
    totals: dict[str, int] = {}
    counted: set[str] = set()
    for identifier in joining:
        person = owner_of.get(identifier)
        if person is None:
            kind = kind_of(identifier)
            totals[kind] = totals.get(kind, 0) + 1
        elif person not in counted:
            counted.add(person)
            for kind, count in state.kind_counts[person].items():
                totals[kind] = totals.get(kind, 0) + count
    worst: tuple[int, str, int, int] | None = None
    for kind, count in totals.items():
        rule = rules.kinds.get(kind)
        if rule is not None and rule.max_per_person is not None and count > rule.max_per_person:
            candidate = (rule.priority, kind, count, rule.max_per_person)
            if worst is None or candidate < worst:
                worst = candidate
    return None if worst is None else worst[1:]


def _kept_apart(state: ResolutionState, joining: list[str]) -> tuple[str, str] | None:
    """Two persons of the join that were kept apart (a split or an earlier refusal), if any."""
    owner_of = state.person_by_identifier
    persons = list(dict.fromkeys(owner_of[i] for i in joining if i in owner_of))
    for index, person in enumerate(persons):
        apart = state.kept_apart.get(person, set())
        for other in persons[index + 1 :]:
            if other in apart:
                return person, other
    return None


def _lowest_priority(
    state: ResolutionState, rules: IdentityRules, joining: list[str], persons: tuple[str, str]
) -> str:
    """The lowest-priority identifier of the join that belongs to one of these persons."""
    owner_of = state.person_by_identifier
    candidates = [
        (rules.kinds[kind_of(i)].priority if kind_of(i) in rules.kinds else _LOWEST, p, i)
        for p, i in enumerate(joining)
        if owner_of.get(i) in persons
    ]
    return max(candidates)[2]


def _victim(state: ResolutionState, rules: IdentityRules, joining: list[str], kind: str) -> str:
    """The lowest-priority identifier of the join that brings identifiers of `kind`.

    Ties drop new identifiers before known ones, then the later one in the observation.
    """
    owner_of = state.person_by_identifier
    best: tuple[int, int, int] | None = None
    victim = joining[-1]
    for position, identifier in enumerate(joining):
        person = owner_of.get(identifier)
        if person is None:
            if kind_of(identifier) != kind:
                continue
        elif not state.kind_counts[person].get(kind):
            continue
        rule = rules.kinds.get(kind_of(identifier))
        key = (rule.priority if rule is not None else _LOWEST, person is None, position)
        if best is None or key > best:
            best, victim = key, identifier
    return victim


def _join(
    state: ResolutionState, joining: list[str], evidence: Evidence, final_of: dict[str, str]
) -> list[Decision]:
    """Creates, links and merges so that the joining identifiers form one person."""
    owner_of = state.person_by_identifier
    persons = list(dict.fromkeys(owner_of[i] for i in joining if i in owner_of))
    new = tuple(i for i in joining if i not in owner_of)
    decisions: list[Decision] = []
    joined = tuple(joining)
    if not persons:
        if not new:
            return decisions
        survivor = person_id_for(state.property_id, new[0])
        decisions.append(PersonCreated(survivor, new, evidence))
    else:
        persons.sort(key=state.created_seq.__getitem__)
        survivor = persons[0]
        for younger in persons[1:]:
            moved = tuple(state.identifiers_by_person[younger])
            decisions.append(PersonsMerged(survivor, younger, moved, evidence, joined))
            final_of[younger] = survivor
        if new:
            decisions.append(IdentifiersLinked(survivor, new, evidence, joined))
    for identifier in joining:
        final_of[identifier] = survivor
    final_of[survivor] = survivor
    return decisions


def _fanout(
    state: ResolutionState,
    rules: IdentityRules,
    obs: ObservationRecord,
    evidence: Evidence,
    dropped: list[str],
    final_of: dict[str, str],
    kept_apart: tuple[str, ...],
) -> list[IdentifierMarkedShared]:
    """Marks shared the dropped identifiers that refusals have now seen with too many persons.

    A dropped identifier is seen with every person the refused observation touched; the
    identifiers that stayed are not counted (the refusal blamed the dropped one).
    """
    decisions: list[IdentifierMarkedShared] = []
    horizon = None if obs.ts is None else obs.ts - rules.fanout_window
    for identifier in dropped:
        if identifier in state.shared:
            continue
        seen: dict[str, datetime | None] = dict(state.fanout.get(identifier, {}))
        for person in kept_apart:
            seen[person] = obs.ts
        recent: set[str] = set()
        for person, ts in seen.items():
            if horizon is not None and ts is not None and not _not_before(ts, horizon):
                continue
            current = state.current_person(person)
            recent.add(final_of.get(current, current))
        if len(recent) > rules.fanout_limit(kind_of(identifier)):
            decisions.append(IdentifierMarkedShared(identifier, tuple(sorted(recent)), evidence))
    return decisions


def _not_before(ts: datetime, horizon: datetime) -> bool:
    try:
        return ts >= horizon
    except TypeError:  # naive against aware: compare as if both were UTC
        return ts.replace(tzinfo=None) >= horizon.replace(tzinfo=None)


def decide_link(
    state: ResolutionState,
    a: str,
    b: str,
    weight: float,
    evidence: Mapping[str, float] | Iterable[tuple[str, float]] = (),
) -> list[Decision]:
    """Records a probabilistic link between two known identifiers (used by `clusters`)."""
    for identifier in (a, b):
        if identifier not in state.person_by_identifier:
            raise UnknownIdentifierError(f"{identifier} has not been resolved")
    items = evidence.items() if isinstance(evidence, Mapping) else evidence
    signals = tuple((str(name), float(value)) for name, value in items)
    return [ProbabilisticLinkAdded(a, b, float(weight), signals)]


def decide_unlink(state: ResolutionState, identifier: str, evidence: Evidence) -> list[Decision]:
    """Detaches an identifier from its person for good: like a shared identifier, it stops
    joining persons (so replaying the same observations cannot merge them again), and the
    parts of the person that only it held together split off."""
    owner = state.person_by_identifier.get(identifier)
    if owner is None:
        raise UnknownIdentifierError(f"{identifier} has not been resolved")
    if identifier in state.shared:
        return []
    shadow = state.shadow([owner])
    mark = IdentifierMarkedShared(identifier, (owner,), evidence)
    shadow.apply(mark)
    split = _split(shadow, owner, evidence)
    return [mark] if split is None else [mark, split]


def decide_forget(state: ResolutionState, person: str, evidence: Evidence) -> list[Decision]:
    """Forgets a person and all its identifiers."""
    person = state.current_person(person)
    members = state.identifiers_by_person.get(person)
    if members is None:
        raise UnknownIdentifierError(f"no person {person}")
    return [PersonForgotten(person, tuple(members), evidence)]


def decide_split(
    state: ResolutionState, person: str, identifiers: Sequence[str], evidence: Evidence
) -> list[Decision]:
    """Moves some of a person's identifiers into a new person and keeps the two apart from now
    on (a later observation that would join them is refused)."""
    person = state.current_person(person)
    members = state.identifiers_by_person.get(person)
    if members is None:
        raise UnknownIdentifierError(f"no person {person}")
    leaving = tuple(dict.fromkeys(identifiers))
    foreign = [i for i in leaving if i not in members]
    if foreign:
        raise ResolutionError(f"{', '.join(foreign)} do not belong to person {person}")
    if not leaving or len(leaving) == len(members):
        raise ResolutionError("a split must leave identifiers on both sides")
    new_person = split_person_id(state.property_id, leaving[0], evidence.obs_id)
    return [
        PersonSplit(person, ((new_person, leaving),), evidence),
        MergeRefused(evidence, (person, new_person), "split by request", ""),
    ]


def deterministic_clusters(state: ResolutionState) -> dict[str, str]:
    """Identifier → person, deterministic links only."""
    return dict(state.person_by_identifier)


def probabilistic_clusters(
    state: ResolutionState, rules: IdentityRules, min_weight: float | None = None
) -> dict[str, str]:
    """Identifier → person with probabilistic links on top of the deterministic persons
    (the "deterministic + probabilistic" reporting identity); see `accepted_links`."""
    threshold = rules.min_probabilistic_weight if min_weight is None else min_weight
    _, root_of = _accept(state, rules, state.probabilistic_links.values(), threshold)
    return {
        identifier: root_of(person) for identifier, person in state.person_by_identifier.items()
    }


def accepted_links(
    state: ResolutionState,
    rules: IdentityRules,
    links: Iterable[ProbabilisticLinkAdded],
    min_weight: float | None = None,
) -> list[ProbabilisticLinkAdded]:
    """The links the guards accept, strongest first.

    A link is skipped when it is below the threshold, touches an unknown or shared identifier,
    joins persons that a refusal or a split kept apart, or would break a kind's limit (a link
    between two records of a `duplicate_records` kind counts them as one). A link inside a
    group already joined is kept.
    """
    threshold = rules.min_probabilistic_weight if min_weight is None else min_weight
    return _accept(state, rules, links, threshold)[0]


def _accept(
    state: ResolutionState,
    rules: IdentityRules,
    links: Iterable[ProbabilisticLinkAdded],
    threshold: float,
) -> tuple[list[ProbabilisticLinkAdded], Callable[[str], str]]:
    """Greedy acceptance of links over the deterministic persons; the accepted links and the
    person → group root function of the resulting groups."""
    parent: dict[str, str] = {}
    counts: dict[str, dict[str, int]] = {}
    apart: dict[str, set[str]] = {}

    def find(person: str) -> str:
        root = person
        while parent.get(root, root) != root:
            root = parent[root]
        while person != root:
            parent[person], person = root, parent[person]
        return root

    def component(person: str) -> str:
        root = find(person)
        if root not in counts:
            counts[root] = dict(state.kind_counts.get(person, {}))
            apart[root] = {state.current_person(p) for p in state.kept_apart.get(person, ())}
        return root

    accepted: list[ProbabilisticLinkAdded] = []
    owner_of = state.person_by_identifier
    for link in sorted(links, key=lambda link: (-link.weight, link.a, link.b)):
        if link.weight < threshold or link.a in state.shared or link.b in state.shared:
            continue
        if link.a not in owner_of or link.b not in owner_of:
            continue
        first, second = component(owner_of[link.a]), component(owner_of[link.b])
        if first == second:
            accepted.append(link)
            continue
        if {find(p) for p in apart[first]} & {second} or {find(p) for p in apart[second]} & {first}:
            continue
        merged = dict(counts[first])
        for kind, count in counts[second].items():
            merged[kind] = merged.get(kind, 0) + count
        kind = kind_of(link.a)
        rule = rules.kinds.get(kind)
        if rule is not None and rule.duplicate_records and kind_of(link.b) == kind:
            merged[kind] -= 1
        if any(
            (rule := rules.kinds.get(kind)) is not None
            and rule.max_per_person is not None
            and count > rule.max_per_person
            for kind, count in merged.items()
        ):
            continue
        survivor, younger = sorted((first, second), key=state.created_seq.__getitem__)
        parent[younger] = survivor
        counts[survivor] = merged
        apart[survivor] |= apart.pop(younger)
        del counts[younger]
        accepted.append(link)
    return accepted, find


def decide_matching(
    state: ResolutionState,
    rules: IdentityRules,
    proposed: Iterable[ProbabilisticLinkAdded],
    reason: str = "not proposed by the latest matching run",
) -> list[Decision]:
    """What a matching run's proposed links decide: the links the guards accept replace the
    current ones (added when new or re-weighted, removed when no longer proposed)."""
    accepted = {link_key(x.a, x.b): x for x in accepted_links(state, rules, proposed)}
    decisions: list[Decision] = [
        ProbabilisticLinkRemoved(link.a, link.b, reason)
        for key, link in sorted(state.probabilistic_links.items())
        if key not in accepted
    ]
    for key, link in sorted(accepted.items()):
        current = state.probabilistic_links.get(key)
        if current is None or current.weight != link.weight or current.evidence != link.evidence:
            decisions.append(link)
    return decisions


def decide_revalidation(state: ResolutionState, rules: IdentityRules) -> list[Decision]:
    """Removes the links the guards refuse now that deterministic decisions changed the
    persons (they may come back at the next matching run if they pass then)."""
    if not state.probabilistic_links:
        return []
    kept = {
        link_key(x.a, x.b) for x in accepted_links(state, rules, state.probabilistic_links.values())
    }
    return [
        ProbabilisticLinkRemoved(link.a, link.b, "refused by the guards after a change")
        for key, link in sorted(state.probabilistic_links.items())
        if key not in kept
    ]


def blended_identifiers(state: ResolutionState, rules: IdentityRules, person: str) -> list[str]:
    """A person's identifiers with those its accepted probabilistic links join to it."""
    members = state.identifiers_by_person.get(person)
    if not members:
        return []
    clusters = probabilistic_clusters(state, rules)
    root = clusters[members[0]]
    return sorted(identifier for identifier, r in clusters.items() if r == root)


# --- convenience wrappers --------------------------------------------------------------------


class Resolver:
    """Decide and apply in one step; keeps the log of decisions it applied."""

    def __init__(
        self, rules: IdentityRules | None = None, property_id: str = "", keep_log: bool = True
    ) -> None:
        self.rules = rules if rules is not None else IdentityRules()
        self.state = ResolutionState(property_id)
        self.log: list[Decision] = []
        self._keep_log = keep_log

    def observe(self, obs: ObservationRecord) -> list[Decision]:
        """Resolves one observation; returns the decisions it made (already applied)."""
        decisions = decide(self.state, self.rules, obs)
        self._apply(decisions)
        return decisions

    def add_probabilistic_link(
        self,
        a: str,
        b: str,
        weight: float,
        evidence: Mapping[str, float] | Iterable[tuple[str, float]] = (),
    ) -> list[Decision]:
        """Records a scored link between two resolved identifiers, apart from deterministic ones."""
        decisions = decide_link(self.state, a, b, weight, evidence)
        self._apply(decisions)
        return decisions

    def person_of(self, identifier: str) -> str | None:
        """The person an identifier resolves to now (deterministic links), None if unseen."""
        return self.state.person_by_identifier.get(identifier)

    def clusters(
        self, include_probabilistic: bool = False, min_weight: float | None = None
    ) -> dict[str, str]:
        """Identifier → person; with probabilistic links when asked."""
        if include_probabilistic:
            return probabilistic_clusters(self.state, self.rules, min_weight)
        return deterministic_clusters(self.state)

    def _apply(self, decisions: list[Decision]) -> None:
        apply = self.state.apply
        for decision in decisions:
            apply(decision)
        if self._keep_log:
            self.log.extend(decisions)


class NaiveResolver:
    """The baseline: connected components of identifiers seen together (no guards)."""

    def __init__(self, property_id: str = "") -> None:
        self.property_id = property_id
        self._parent: dict[str, str] = {}
        self._order: dict[str, int] = {}

    def observe(self, obs: ObservationRecord) -> None:
        """Joins every identifier of the observation."""
        parent, order = self._parent, self._order
        roots: list[str] = []
        for identifier in obs.identifiers:
            if identifier not in parent:
                parent[identifier] = identifier
                order[identifier] = len(order)
                roots.append(identifier)
            else:
                roots.append(self._find(identifier))
        if len(roots) > 1:
            oldest = min(roots, key=order.__getitem__)
            for root in roots:
                parent[root] = oldest

    def person_of(self, identifier: str) -> str | None:
        """The component's person id (from its first-seen identifier), None if unseen."""
        if identifier not in self._parent:
            return None
        return person_id_for(self.property_id, self._find(identifier))

    def clusters(self) -> dict[str, str]:
        """Identifier → person id of its component."""
        ids: dict[str, str] = {}
        result: dict[str, str] = {}
        for identifier in self._parent:
            root = self._find(identifier)
            person = ids.get(root)
            if person is None:
                person = ids[root] = person_id_for(self.property_id, root)
            result[identifier] = person
        return result

    def _find(self, identifier: str) -> str:
        parent = self._parent
        root = identifier
        while parent[root] != root:
            root = parent[root]
        while parent[identifier] != root:
            parent[identifier], identifier = root, parent[identifier]
        return root


__all__ = [
    "DEFAULT_BLOCKED_VALUES",
    "DEFAULT_KINDS",
    "Decision",
    "Evidence",
    "IdentifierMarkedShared",
    "IdentifiersLinked",
    "IdentityRules",
    "KindRule",
    "MergeRefused",
    "NaiveResolver",
    "ObservationIgnored",
    "PersonCreated",
    "PersonSplit",
    "PersonsMerged",
    "ProbabilisticLinkAdded",
    "ProbabilisticLinkRemoved",
    "ResolutionError",
    "ResolutionState",
    "Resolver",
    "UnknownIdentifierError",
    "accepted_links",
    "blended_identifiers",
    "decide",
    "decide_link",
    "decide_matching",
    "decide_revalidation",
    "deterministic_clusters",
    "kind_of",
    "link_key",
    "person_id_for",
    "probabilistic_clusters",
    "rules_from_dict",
    "rules_to_dict",
    "shared_person_id",
    "split_person_id",
]
