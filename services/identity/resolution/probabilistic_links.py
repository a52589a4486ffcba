"""Probabilistic links under the guards: which are accepted, what a matching run decides."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from services.identity.resolution.decisions import (
    Decision,
    ProbabilisticLinkAdded,
    ProbabilisticLinkRemoved,
    link_key,
)
from services.identity.resolution.errors import UnknownIdentifierError
from services.identity.resolution.rules import IdentityRules, kind_of
from services.identity.resolution.state import ResolutionState


def decide_link(
    state: ResolutionState,
    a: str,
    b: str,
    weight: float,
    evidence: Mapping[str, float] | Iterable[tuple[str, float]] = (),
) -> list[Decision]:
    """Records a probabilistic link between two known identifiers (offline `Resolver`)."""
    for identifier in (a, b):
        if identifier not in state.person_by_identifier:
            raise UnknownIdentifierError(f"{identifier} has not been resolved")
    items = evidence.items() if isinstance(evidence, Mapping) else evidence
    signals = tuple((str(name), float(value)) for name, value in items)
    return [ProbabilisticLinkAdded(a, b, float(weight), signals)]


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
    joins persons that a refusal or a split kept apart, would break a kind's limit (a link
    between two records of a `duplicate_records` kind counts them as one), or would join two
    groups that each hold an identifier of a `names_person` kind (two identified people who
    share weak signals are a household; a link between two duplicate records compares
    person-level fields, names and birth dates, so it may). A link inside a group already
    joined is kept.
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
        duplicates = rule is not None and rule.duplicate_records and kind_of(link.b) == kind
        if duplicates:
            merged[kind] -= 1
        if any(
            (rule := rules.kinds.get(kind)) is not None
            and rule.max_per_person is not None
            and count > rule.max_per_person
            for kind, count in merged.items()
        ):
            continue
        if (
            not duplicates
            and _names_person(rules, counts[first])
            and _names_person(rules, counts[second])
        ):
            continue
        survivor, younger = sorted((first, second), key=state.created_seq.__getitem__)
        parent[younger] = survivor
        counts[survivor] = merged
        apart[survivor] |= apart.pop(younger)
        del counts[younger]
        accepted.append(link)
    return accepted, find


def _names_person(rules: IdentityRules, kind_counts: Mapping[str, int]) -> bool:
    """Whether a group holds an identifier of a kind that names one person (`names_person`)."""
    return any(
        count > 0 and (rule := rules.kinds.get(kind)) is not None and rule.names_person
        for kind, count in kind_counts.items()
    )


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


__all__ = [
    "accepted_links",
    "blended_identifiers",
    "decide_link",
    "decide_matching",
    "decide_revalidation",
    "deterministic_clusters",
    "probabilistic_clusters",
]
