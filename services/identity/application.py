"""Identity's use cases: resolve the identifiers of each ingested event, answer queries."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from common.eventlog import TrackingApplication, UnitOfWork
from common.follower import UpstreamEntry
from services.identity.domainmodel import IdentityGraph, Observation, graph_id
from services.identity.observations import ObservationRecord
from services.identity.resolution import IdentityRules, decide


class IdentityError(Exception):
    """Base of identity's errors."""


class UnknownIdentifierError(IdentityError):
    """The identifier has not been seen in the property."""


@dataclass(frozen=True, slots=True)
class ResolvedPerson:
    """A person and every identifier linked to it (deterministic links)."""

    person_id: str
    identifiers: tuple[str, ...]


class IdentityApplication(TrackingApplication):
    """The identity graphs, fed by ingest's log; its notification log is identity's log.

    Each observation goes through the guarded resolver (blocked values, per-kind limits,
    shared identifiers, splits); its decisions are the graph's events. `lock` serialises
    processing and queries: cached graphs are shared, not copied.
    """

    name = "identity"
    env = {
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }

    def __init__(
        self, rules: IdentityRules | None = None, env: dict[str, str] | None = None
    ) -> None:
        super().__init__(env=env)
        self.rules = rules or IdentityRules()
        self.lock = threading.Lock()

    def process_page(
        self,
        upstream: str,
        entries: Sequence[UpstreamEntry[Observation | None]],
        after: int | None = None,
    ) -> None:
        """Resolves a page of ingest events; saves the decisions with the position."""
        unit = self.unit_of_work()
        try:
            for entry in entries:
                if entry.value is not None and entry.value.identifiers:
                    self._observe(unit, entry.value)
            self.save_tracked(upstream, entries[-1].position, unit)
        except BaseException:
            self.discard_cached_state()
            raise

    def resolve(self, property_id: str, identifier: str) -> ResolvedPerson:
        """The person an identifier belongs to now, with all its identifiers."""
        with self.lock:
            graph = self.unit_of_work().get(IdentityGraph, graph_id(property_id))
            person = graph.state.person_by_identifier.get(identifier) if graph else None
            if graph is None or person is None:
                raise UnknownIdentifierError(f"{identifier} has not been seen in {property_id}")
            return ResolvedPerson(person, tuple(sorted(graph.state.identifiers_by_person[person])))

    def _observe(self, unit: UnitOfWork, observation: Observation) -> None:
        graph = unit.get(IdentityGraph, graph_id(observation.property_id))
        if graph is None:
            graph = IdentityGraph(
                id=graph_id(observation.property_id), property_id=observation.property_id
            )
            unit.add(graph)
        record = ObservationRecord(
            obs_id=observation.record_id,
            identifiers=observation.identifiers,
            ts=observation.occurred_at,
        )
        for decision in decide(graph.state, self.rules, record):
            graph.record(decision)
        unit.collect(graph)
