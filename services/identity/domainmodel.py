"""Identity's domain: one identity graph per property, whose events are the resolver's decisions."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, DomainEvent, event

from services.identity.observations import ObservationRecord
from services.identity.resolution import (
    Decision,
    Evidence,
    IdentifierMarkedShared,
    IdentifiersLinked,
    IdentityRules,
    MergeRefused,
    ObservationIgnored,
    PersonCreated,
    PersonForgotten,
    PersonsMerged,
    PersonSplit,
    ProbabilisticLinkAdded,
    ProbabilisticLinkRemoved,
    ResolutionState,
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


def graph_id(property_id: str) -> UUID:
    """The id of a property's identity graph."""
    return uuid5(GRAPH_NAMESPACE, property_id)


def _evidence(data: dict[str, Any]) -> Evidence:
    return Evidence(data["obs_id"], tuple(data["identifiers"]))


def decision_from_dict(kind: str, data: dict[str, Any]) -> Decision:
    """A decision from its stored form (the inverse of `dataclasses.asdict`)."""
    if kind == "PersonCreated":
        return PersonCreated(
            data["person_id"], tuple(data["identifiers"]), _evidence(data["evidence"])
        )
    if kind == "IdentifiersLinked":
        return IdentifiersLinked(
            data["person_id"],
            tuple(data["identifiers"]),
            _evidence(data["evidence"]),
            tuple(data["joined"]),
        )
    if kind == "PersonsMerged":
        return PersonsMerged(
            data["survivor"],
            data["merged"],
            tuple(data["identifiers"]),
            _evidence(data["evidence"]),
            tuple(data["joined"]),
        )
    if kind == "MergeRefused":
        return MergeRefused(
            _evidence(data["observation"]),
            tuple(data["persons"]),
            data["reason"],
            data["dropped_identifier"],
            data["ts"],
        )
    if kind == "IdentifierMarkedShared":
        return IdentifierMarkedShared(
            data["identifier"], tuple(data["persons_seen"]), _evidence(data["evidence"])
        )
    if kind == "PersonSplit":
        return PersonSplit(
            data["person_id"],
            tuple((person, tuple(ids)) for person, ids in data["parts"]),
            _evidence(data["evidence"]),
        )
    if kind == "ObservationIgnored":
        return ObservationIgnored(data["identifier"], data["reason"], data["obs_id"])
    if kind == "PersonForgotten":
        return PersonForgotten(
            data["person_id"], tuple(data["identifiers"]), _evidence(data["evidence"])
        )
    if kind == "ProbabilisticLinkAdded":
        return ProbabilisticLinkAdded(
            data["a"], data["b"], data["weight"], tuple((s, w) for s, w in data["evidence"])
        )
    if kind == "ProbabilisticLinkRemoved":
        return ProbabilisticLinkRemoved(data["a"], data["b"], data["reason"])
    raise ValueError(f"unknown identity decision {kind!r}")


class IdentityGraph(Aggregate):
    """A property's identity graph. Each event is one decision of the guarded resolver (with
    its evidence); the graph's state is the fold of them, so a graph rebuilt from the log equals
    the live one."""

    Decided: ClassVar[type[DomainEvent]]
    RulesConfigured: ClassVar[type[DomainEvent]]

    @event("Started")
    def __init__(self, *, id: UUID, property_id: str) -> None:
        self.property_id = property_id
        self.state = ResolutionState(property_id)
        self.rules: IdentityRules | None = None

    def configure_rules(self, rules: IdentityRules) -> None:
        """Sets the property's own resolution rules; they decide observations from now on
        (decisions already made stay)."""
        self._rules_configured(rules=rules_to_dict(rules))

    @event("RulesConfigured")
    def _rules_configured(self, *, rules: dict[str, Any]) -> None:
        self.rules = rules_from_dict(rules)

    def record(self, decision: Decision, trace_parent: str = "") -> None:
        """Records a decision (with the W3C traceparent of the work that made it) and applies
        it to the state."""
        self._decided(
            property_id=self.property_id,
            kind=type(decision).__name__,
            decision=asdict(decision),
            trace_parent=trace_parent,
        )

    @event("Decided")
    def _decided(
        self, *, property_id: str, kind: str, decision: dict[str, Any], trace_parent: str
    ) -> None:
        self.state.apply(decision_from_dict(kind, decision))
