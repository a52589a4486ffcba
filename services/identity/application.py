"""Identity's use cases: resolve the identifiers of each ingested event, answer queries."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import uuid4

from common.eventlog import TrackingApplication, UnitOfWork
from common.follower import UpstreamEntry
from common.identifiers import placeholder_reason
from common.telemetry import current_trace_parent
from services.identity.domainmodel import (
    IdentityGraph,
    MatchingCheck,
    Observation,
    graph_id,
)
from services.identity.matching import Matcher, ObservationSource, ProposedLinks
from services.identity.observations import ObservationRecord
from services.identity.resolution import (
    Decision,
    Evidence,
    IdentifierMarkedShared,
    IdentifiersLinked,
    IdentityRules,
    MergeRefused,
    PersonCreated,
    PersonsMerged,
    PersonSplit,
    ProbabilisticLinkAdded,
    ProbabilisticLinkRemoved,
    ResolutionError,
    blended_identifiers,
    decide,
    decide_forget,
    decide_matching,
    decide_revalidation,
    decide_split,
    decide_unlink,
    decision_from_dict,
    decision_to_dict,
)

DEFAULT_MATCHING_WINDOW = timedelta(days=90)
DEFAULT_MIN_EXPECTED_PRECISION = 0.95
PRECISION_DIGITS = 6

logger = logging.getLogger(__name__)


class IdentifierVault(Protocol):
    """Where identifiers become pseudonyms and back (ingest's vault, over gRPC)."""

    def pseudonymise(self, property_id: str, identifiers: Sequence[str]) -> dict[str, str]:
        """Each identifier's pseudonym; placeholder values are left out."""
        ...

    def reveal(self, property_id: str, pseudonyms: Sequence[str]) -> dict[str, str]:
        """The identifiers behind pseudonyms; forgotten ones are left out."""
        ...


class PlainIdentifiers:
    """Identifiers used as they are: for offline resolution and tests, where there is no
    vault (placeholders are still refused)."""

    def pseudonymise(self, property_id: str, identifiers: Sequence[str]) -> dict[str, str]:
        """Every real identifier stands for itself."""
        return {i: i for i in identifiers if placeholder_reason(i.partition(":")[2]) is None}

    def reveal(self, property_id: str, pseudonyms: Sequence[str]) -> dict[str, str]:
        """Every pseudonym is the identifier."""
        return {p: p for p in pseudonyms}


class IdentityError(Exception):
    """Base of identity's errors."""


class UnknownIdentifierError(IdentityError):
    """The identifier has not been seen in the property."""


class UnknownPersonError(IdentityError):
    """No such person in the property."""


class MatchingNotConfiguredError(IdentityError):
    """Probabilistic matching has no observation source or matcher in this deployment."""


@dataclass(frozen=True, slots=True)
class MatchingRun:
    """What one property's probabilistic matching run did."""

    property_id: str
    observations: int
    candidate_pairs: int
    links_proposed: int
    links_accepted: int
    links_added: int
    links_removed: int
    seconds: float
    check: MatchingCheck


@dataclass(frozen=True, slots=True)
class ExplanationStep:
    """One decision about a person, when it was made."""

    decided_at: datetime
    decision: Decision


@dataclass(frozen=True, slots=True)
class Explanation:
    """A person's identifiers and the decisions that shaped it."""

    person_id: str
    identifiers: tuple[str, ...]
    steps: tuple[ExplanationStep, ...]
    matching_check: MatchingCheck | None = None
    """The property's latest matching run verdict, for a person with probabilistic links."""


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
        self,
        *,
        identifiers: IdentifierVault,
        rules: IdentityRules | None = None,
        observations: ObservationSource | None = None,
        matcher: Matcher | None = None,
        matching_window: timedelta = DEFAULT_MATCHING_WINDOW,
        min_expected_precision: float = DEFAULT_MIN_EXPECTED_PRECISION,
        env: dict[str, str] | None = None,
    ) -> None:
        """`identifiers` turns the identifiers people ask about into the pseudonyms the graph
        holds, and back (ingest's vault in the service; `PlainIdentifiers` offline).
        Probabilistic matching runs read `observations` of the last `matching_window` and
        score them with `matcher`; without both, matching is off. A run whose expected
        precision is below `min_expected_precision` accepts no links."""
        super().__init__(env=env)
        self._identifiers = identifiers
        self._observations = observations
        self._matcher = matcher
        self.matching_window = matching_window
        self.min_expected_precision = min_expected_precision
        self.rules = rules or IdentityRules()
        self.lock = threading.Lock()
        self._stopping = threading.Event()
        self._schedule: threading.Thread | None = None

    def process_page(
        self,
        upstream: str,
        entries: Sequence[UpstreamEntry[Observation | None]],
        after: int | None = None,
    ) -> None:
        """Resolves a page of ingest events; saves the decisions with the position."""
        unit = self.unit_of_work()
        try:
            changed: dict[str, IdentityGraph] = {}
            trace_parent = current_trace_parent()
            for entry in entries:
                if entry.value is not None and entry.value.identifiers:
                    graph = self._observe(unit, entry.value, trace_parent)
                    changed[graph.property_id] = graph
            for graph in changed.values():
                self._revalidate_links(unit, graph)
            self.save_tracked(upstream, entries[-1].position, unit)
        except BaseException:
            self.discard_cached_state()
            raise

    def resolve(self, property_id: str, identifier: str, blended: bool = False) -> ResolvedPerson:
        """The person an identifier belongs to now, with all its identifiers; `blended` adds
        the identifiers accepted probabilistic links join to it."""
        pseudonym = self._pseudonyms(property_id, [identifier])[0]
        with self.lock:
            graph = self.unit_of_work().get(IdentityGraph, graph_id(property_id))
            person = graph.state.person_by_identifier.get(pseudonym) if graph else None
            if graph is None or person is None:
                raise UnknownIdentifierError(f"{identifier} has not been seen in {property_id}")
            if blended:
                members = blended_identifiers(graph.state, self._rules(graph), person)
            else:
                members = list(graph.state.identifiers_by_person[person])
        return ResolvedPerson(person, self._revealed(property_id, members))

    def run_matching(
        self, property_id: str | None = None, now: datetime | None = None
    ) -> list[MatchingRun]:
        """Runs probabilistic matching for one property (or every property with observations
        in the window): proposes links from the window's observations, then records the links
        the guards accept in place of the current ones (a property named here with no
        observations in the window loses its links)."""
        if self._observations is None or self._matcher is None:
            raise MatchingNotConfiguredError("probabilistic matching is not configured")
        since = (now or datetime.now(UTC)) - self.matching_window
        by_property: dict[str, list[ObservationRecord]] = {}
        if property_id is not None:
            by_property[property_id] = []
        for observation in self._observations.observations(since):
            if property_id is None or observation.property_id == property_id:
                by_property.setdefault(observation.property_id, []).append(observation.record())
        return [self._match(prop, records) for prop, records in sorted(by_property.items())]

    def match_every(self, interval: timedelta) -> None:
        """Runs matching for every property each `interval` in the background, until closed."""

        def loop() -> None:
            while not self._stopping.wait(interval.total_seconds()):
                try:
                    self.run_matching()
                except Exception as error:  # the schedule survives a failed run
                    logger.warning("scheduled probabilistic matching failed: %s", error)

        self._schedule = threading.Thread(target=loop, name="identity-matching", daemon=True)
        self._schedule.start()

    def close(self) -> None:
        """Stops the matching schedule, then closes the store."""
        self._stopping.set()
        if self._schedule is not None:
            self._schedule.join(timeout=30)
        super().close()

    def _match(self, property_id: str, records: list[ObservationRecord]) -> MatchingRun:
        assert self._matcher is not None
        started = time.perf_counter()
        proposed = self._matcher.propose(records)
        check = self._check(proposed)
        decisions: list[Decision] = []

        def decide_run(graph: IdentityGraph) -> list[Decision]:
            if graph.matching_check != check:
                graph.check_matching(check)
            if check.passed:
                decisions.extend(decide_matching(graph.state, self._rules(graph), proposed.links))
            return decisions

        with self.lock:
            graph = self._change(property_id, decide_run)
            accepted = len(graph.state.probabilistic_links)
        return MatchingRun(
            property_id=property_id,
            observations=len(records),
            candidate_pairs=proposed.candidate_pairs,
            links_proposed=len(proposed.links),
            links_accepted=accepted,
            links_added=sum(isinstance(d, ProbabilisticLinkAdded) for d in decisions),
            links_removed=sum(isinstance(d, ProbabilisticLinkRemoved) for d in decisions),
            seconds=time.perf_counter() - started,
            check=check,
        )

    def _check(self, proposed: ProposedLinks) -> MatchingCheck:
        """The run's verdict on itself: its expected precision against the target."""
        estimate = proposed.precision
        expected = round(estimate.expected_precision, PRECISION_DIGITS)
        passed = expected >= self.min_expected_precision
        reason = ""
        if not passed:
            source = (
                "the held-out known pairs"
                if estimate.held_out_precision is not None
                and estimate.held_out_precision < estimate.model_precision
                else "the fitted model"
            )
            reason = (
                f"expected precision {expected:.4f} (from {source}) is below the target "
                f"{self.min_expected_precision:.4f}: this run accepted no links, "
                "links from earlier runs stay"
            )
        return MatchingCheck(
            expected_precision=expected,
            model_precision=round(estimate.model_precision, PRECISION_DIGITS),
            held_out_precision=_rounded(estimate.held_out_precision),
            held_out_recall=_rounded(estimate.held_out_recall),
            target=self.min_expected_precision,
            passed=passed,
            reason=reason,
        )

    def forget_person(self, property_id: str, person_id: str, note: str) -> None:
        """Forgets a person (right to erasure): it leaves the graph, and ingest, following
        this log, destroys the keys of its identifiers."""
        evidence = Evidence(f"forget:{uuid4()}" + (f" ({note})" if note else ""), ())
        with self.lock:
            self._change(property_id, lambda g: decide_forget(g.state, person_id, evidence))

    def link_identifiers(self, property_id: str, identifiers: Sequence[str], note: str) -> str:
        """Links identifiers a trusted backend says belong together (the same guards apply);
        returns the person they resolve to."""
        if len(set(identifiers)) < 2:
            raise IdentityError("linking needs at least two different identifiers")
        identifiers = self._pseudonyms(property_id, identifiers)
        record = ObservationRecord(
            obs_id=f"link:{uuid4()}" + (f" ({note})" if note else ""),
            identifiers=tuple(identifiers),
            ts=datetime.now(UTC),
        )
        with self.lock:
            graph = self._change(property_id, lambda g: decide(g.state, self._rules(g), record))
            return graph.state.person_by_identifier[identifiers[0]]

    def unlink_identifier(self, property_id: str, identifier: str, note: str) -> None:
        """Detaches an identifier from its person for good; what only it held together splits."""
        identifier = self._pseudonyms(property_id, [identifier])[0]
        evidence = Evidence(f"unlink:{uuid4()}" + (f" ({note})" if note else ""), (identifier,))
        with self.lock:
            self._change(property_id, lambda g: decide_unlink(g.state, identifier, evidence))

    def split_person(
        self, property_id: str, person_id: str, identifiers: Sequence[str], note: str
    ) -> str:
        """Moves identifiers off a person into a new one, kept apart from now on; returns the
        new person's id."""
        identifiers = self._pseudonyms(property_id, identifiers)
        evidence = Evidence(f"split:{uuid4()}" + (f" ({note})" if note else ""), tuple(identifiers))
        with self.lock:
            graph = self._change(
                property_id, lambda g: decide_split(g.state, person_id, identifiers, evidence)
            )
            return graph.state.person_by_identifier[identifiers[0]]

    def configure_rules(self, property_id: str, rules: IdentityRules) -> None:
        """Sets a property's resolution rules; they decide its observations from now on."""
        with self.lock:
            unit = self.unit_of_work()
            try:
                graph = self._graph(unit, property_id)
                graph.configure_rules(rules)
                unit.collect(graph)
                self.save_unit(unit)
            except BaseException:
                self.discard_cached_state()
                raise

    def rules_for(self, property_id: str) -> tuple[IdentityRules, bool]:
        """The rules a property resolves with, and whether they were configured for it."""
        with self.lock:
            graph = self.unit_of_work().get(IdentityGraph, graph_id(property_id))
            if graph is None or graph.rules is None:
                return self.rules, False
            return graph.rules, True

    def explain(self, property_id: str, person_id: str) -> Explanation:
        """The person's identifiers and every decision that linked, merged, split or kept
        them apart, with its evidence, oldest first."""
        with self.lock:
            graph = self.unit_of_work().get(IdentityGraph, graph_id(property_id))
            if graph is None:
                raise UnknownPersonError(f"no person {person_id} in {property_id}")
            person = graph.state.current_person(person_id)
            members = graph.state.identifiers_by_person.get(person)
            if members is None:
                raise UnknownPersonError(f"no person {person_id} in {property_id}")
            identifiers = tuple(sorted(members))
            matching_check = graph.matching_check
        relevant = {person, person_id, *identifiers}
        steps = []
        for stored in self.events.get(graph_id(property_id)):
            if isinstance(stored, IdentityGraph.Decided):
                decided: Any = stored
                decision = decision_from_dict(decided.kind, decided.decision)
                if _mentions(decision, relevant):
                    steps.append(ExplanationStep(decided.timestamp, decision))
        if not any(isinstance(step.decision, ProbabilisticLinkAdded) for step in steps):
            matching_check = None
        return Explanation(
            person, self._revealed(property_id, identifiers), tuple(steps), matching_check
        )

    def _pseudonyms(self, property_id: str, identifiers: Sequence[str]) -> list[str]:
        """The pseudonyms the graph knows these identifiers by (raises for placeholders)."""
        pseudonyms = self._identifiers.pseudonymise(property_id, identifiers)
        missing = [i for i in identifiers if i not in pseudonyms]
        if missing:
            raise UnknownIdentifierError(f"{', '.join(missing)} can never be resolved")
        return [pseudonyms[i] for i in identifiers]

    def _revealed(self, property_id: str, pseudonyms: Sequence[str]) -> tuple[str, ...]:
        """The identifiers behind pseudonyms (a pseudonym stays when ingest cannot tell)."""
        revealed = self._identifiers.reveal(property_id, pseudonyms)
        return tuple(sorted(revealed.get(p, p) for p in pseudonyms))

    def _observe(
        self, unit: UnitOfWork, observation: Observation, trace_parent: str
    ) -> IdentityGraph:
        graph = self._graph(unit, observation.property_id)
        for decision in decide(graph.state, self._rules(graph), observation.record()):
            _record(unit, graph, decision, trace_parent)
        return graph

    def _revalidate_links(self, unit: UnitOfWork, graph: IdentityGraph) -> None:
        """Removes probabilistic links the guards refuse after the page's decisions."""
        trace_parent = current_trace_parent()
        for decision in decide_revalidation(graph.state, self._rules(graph)):
            _record(unit, graph, decision, trace_parent)

    def _rules(self, graph: IdentityGraph) -> IdentityRules:
        return graph.rules if graph.rules is not None else self.rules

    def _graph(self, unit: UnitOfWork, property_id: str) -> IdentityGraph:
        graph = unit.get(IdentityGraph, graph_id(property_id))
        if graph is None:
            graph = IdentityGraph(id=graph_id(property_id), property_id=property_id)
            unit.add(graph)
        return graph

    def _change(
        self, property_id: str, decide_change: Callable[[IdentityGraph], list[Decision]]
    ) -> IdentityGraph:
        """Records a command's decisions on a property's graph and saves them (the caller
        holds the lock); resolver errors become IdentityError."""
        unit = self.unit_of_work()
        try:
            graph = self._graph(unit, property_id)
            for decision in decide_change(graph):
                graph.record(decision, current_trace_parent())
            self._revalidate_links(unit, graph)
            unit.collect(graph)
            self.save_unit(unit)
        except ResolutionError as error:
            self.discard_cached_state()
            raise IdentityError(str(error)) from error
        except BaseException:
            self.discard_cached_state()
            raise
        return graph


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, PRECISION_DIGITS)


def _mentions(decision: Decision, relevant: set[str]) -> bool:
    """Whether a decision concerns any of these persons or identifiers."""
    if isinstance(decision, PersonCreated | IdentifiersLinked):
        return decision.person_id in relevant or bool(relevant & set(decision.identifiers))
    if isinstance(decision, PersonsMerged):
        return bool({decision.survivor, decision.merged} & relevant)
    if isinstance(decision, PersonSplit):
        parts = {p for p, _ in decision.parts}
        return decision.person_id in relevant or bool(parts & relevant)
    if isinstance(decision, MergeRefused):
        return bool(set(decision.persons) & relevant)
    if isinstance(decision, IdentifierMarkedShared):
        return decision.identifier in relevant
    if isinstance(decision, ProbabilisticLinkAdded | ProbabilisticLinkRemoved):
        return bool({decision.a, decision.b} & relevant)
    return False


def _record(unit: UnitOfWork, graph: IdentityGraph, decision: Decision, trace_parent: str) -> None:
    """Records a decision on the graph as `IdentityGraph.record` does, its event written
    directly by the unit (no event object per decision)."""
    kind, stored = decision_to_dict(decision)
    unit.trigger(
        graph,
        IdentityGraph.Decided,
        property_id=graph.property_id,
        kind=kind,
        decision=stored,
        trace_parent=trace_parent,
    )
