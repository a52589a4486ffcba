"""Identity's domain: one identity graph per property, whose events are the resolver's decisions."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, DomainEvent, event

from services.identity.observations import ObservationRecord
from services.identity.resolution import (
    Decision,
    IdentityRules,
    ResolutionState,
    decision_from_dict,
    decision_to_dict,
    rules_from_dict,
    rules_to_dict,
)

GRAPH_NAMESPACE = uuid5(NAMESPACE_URL, "https://convtrack.dev/ns/identity-graph")


@dataclass(frozen=True, slots=True)
class Observation:
    """Identifiers seen together on one ingested event (keys like "anon:abc" or their
    pseudonyms), with the event's weak signals for probabilistic matching (IP and network as
    pseudonyms, the parsed user agent, the city)."""

    property_id: str
    record_id: str
    identifiers: tuple[str, ...]
    occurred_at: datetime | None = None
    ip: str = ""
    ip_network: str = ""
    ua_family: str = ""
    ua_device: str = ""
    geo_city: str = ""

    def record(self) -> ObservationRecord:
        """The observation as the resolver and the matcher take it."""
        return ObservationRecord(
            obs_id=self.record_id,
            identifiers=self.identifiers,
            ts=self.occurred_at,
            ip=self.ip,
            ip_network=self.ip_network,
            ua_family=self.ua_family,
            ua_device=self.ua_device,
            geo_city=self.geo_city,
        )


@dataclass(frozen=True, slots=True)
class MatchingCheck:
    """A matching run's check of itself: its expected precision against the target, and
    whether its links were accepted (`reason` says why not)."""

    expected_precision: float
    model_precision: float
    held_out_precision: float | None
    held_out_recall: float | None
    target: float
    passed: bool
    reason: str


@lru_cache(maxsize=1024)
def graph_id(property_id: str) -> UUID:
    """The id of a property's identity graph."""
    return uuid5(GRAPH_NAMESPACE, property_id)


class IdentityGraph(Aggregate):
    """A property's identity graph. Each event is one decision of the guarded resolver (with
    its evidence); the graph's state is the fold of them, so a graph rebuilt from the log equals
    the live one."""

    Decided: ClassVar[type[DomainEvent]]
    RulesConfigured: ClassVar[type[DomainEvent]]
    MatchingChecked: ClassVar[type[DomainEvent]]

    @event("Started")
    def __init__(self, *, id: UUID, property_id: str) -> None:
        self.property_id = property_id
        self.state = ResolutionState(property_id)
        self.rules: IdentityRules | None = None
        self.matching_check: MatchingCheck | None = None

    def configure_rules(self, rules: IdentityRules) -> None:
        """Sets the property's own resolution rules; they decide observations from now on
        (decisions already made stay)."""
        self._rules_configured(rules=rules_to_dict(rules))

    @event("RulesConfigured")
    def _rules_configured(self, *, rules: dict[str, Any]) -> None:
        self.rules = rules_from_dict(rules)

    def check_matching(self, check: MatchingCheck) -> None:
        """Records a matching run's verdict on itself (the latest one is kept)."""
        self._matching_checked(check=asdict(check))

    @event("MatchingChecked")
    def _matching_checked(self, *, check: dict[str, Any]) -> None:
        self.matching_check = MatchingCheck(**check)

    def record(self, decision: Decision, trace_parent: str = "") -> None:
        """Records a decision (with the W3C traceparent of the work that made it) and applies
        it to the state."""
        kind, stored = decision_to_dict(decision)
        self._decided(
            property_id=self.property_id,
            kind=kind,
            decision=stored,
            trace_parent=trace_parent,
        )

    @event("Decided")
    def _decided(
        self, *, property_id: str, kind: str, decision: dict[str, Any], trace_parent: str
    ) -> None:
        self.state.apply(decision_from_dict(kind, decision))
