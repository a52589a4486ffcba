"""Offline resolvers (`convtrack identity resolve-file`, the benchmark): guarded and naive."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.identity.observations import ObservationRecord
from services.identity.resolution import Decision, IdentityRules, ResolutionState, decide
from services.identity.resolution.person_ids import person_id_for
from services.identity.resolution.probabilistic_links import (
    decide_link,
    deterministic_clusters,
    probabilistic_clusters,
)


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


__all__ = ["NaiveResolver", "Resolver"]
