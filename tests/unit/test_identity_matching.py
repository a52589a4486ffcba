"""Probabilistic matching in identity: accepted links as decisions, revalidation, blended views."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bench.identity_synth import generate
from common.follower import UpstreamEntry
from common.settings import SettingsError
from services.attribution.domainmodel import ReportingIdentity
from services.attribution.server import AttributionSettings
from services.identity.application import (
    IdentityApplication,
    MatchingNotConfiguredError,
    PlainIdentifiers,
)
from services.identity.domainmodel import IdentityGraph, Observation, graph_id
from services.identity.matching import FellegiSunterMatcher
from services.identity.observations import ObservationRecord
from services.identity.offline_resolvers import Resolver
from services.identity.probabilistic import LinkerConfig, ProbabilisticLinker, parse_user_agent
from services.identity.probabilistic.selfcheck import estimate_precision
from services.identity.resolution import (
    IdentityRules,
    ProbabilisticLinkAdded,
    ProbabilisticLinkRemoved,
    accepted_links,
    decide_matching,
    decide_revalidation,
    probabilistic_clusters,
)
from services.identity.server import IdentitySettings

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _resolver(*observations: tuple[str, ...]) -> Resolver:
    resolver = Resolver()
    for n, identifiers in enumerate(observations):
        resolver.observe(ObservationRecord(f"o{n}", identifiers, ts=T0 + timedelta(hours=n)))
    return resolver


def _apply(resolver: Resolver, decisions: list[object]) -> None:
    for decision in decisions:
        resolver.state.apply(decision)  # type: ignore[arg-type]


def test_a_matching_run_records_the_accepted_links_and_removes_the_dropped_ones() -> None:
    resolver = _resolver(("anon:a", "user:alice"), ("anon:b",), ("anon:c",), ("anon:d",))
    state, rules = resolver.state, resolver.rules
    first = decide_matching(
        state,
        rules,
        [
            ProbabilisticLinkAdded("anon:a", "anon:b", 30.0, (("ip", 20.0), ("user_agent", 10.0))),
            ProbabilisticLinkAdded("anon:c", "anon:d", 25.0),
        ],
    )
    assert [type(d) for d in first] == [ProbabilisticLinkAdded, ProbabilisticLinkAdded]
    _apply(resolver, first)
    assert decide_matching(state, rules, list(state.probabilistic_links.values())) == []
    second = decide_matching(state, rules, [ProbabilisticLinkAdded("anon:b", "anon:a", 31.0)])
    assert (
        ProbabilisticLinkRemoved("anon:c", "anon:d", "not proposed by the latest matching run")
        in second
    )
    assert ProbabilisticLinkAdded("anon:b", "anon:a", 31.0) in second
    _apply(resolver, second)
    assert len(state.probabilistic_links) == 1
    clusters = probabilistic_clusters(state, rules)
    assert clusters["anon:b"] == clusters["user:alice"] != clusters["anon:c"]


def test_links_that_would_break_a_limit_are_never_accepted() -> None:
    resolver = _resolver(("anon:a", "user:alice"), ("anon:b", "user:bob"))
    link = ProbabilisticLinkAdded("anon:a", "anon:b", 40.0)
    assert accepted_links(resolver.state, resolver.rules, [link]) == []
    assert decide_matching(resolver.state, resolver.rules, [link]) == []


def test_two_crm_records_linked_as_duplicates_count_as_one() -> None:
    resolver = _resolver(("crm:c1", "user:alice"), ("crm:c1-typo",))
    duplicate = ProbabilisticLinkAdded("crm:c1", "crm:c1-typo", 35.0)
    assert accepted_links(resolver.state, resolver.rules, [duplicate]) == [duplicate]
    strict = IdentityRules(
        kinds={**resolver.rules.kinds, "crm": resolver.rules.kinds["crm"].__class__(2, 1)}
    )
    assert accepted_links(resolver.state, strict, [duplicate]) == []


def test_a_link_the_guards_refuse_after_a_later_observation_is_removed() -> None:
    resolver = _resolver(("anon:a", "user:alice"), ("anon:b",))
    _apply(
        resolver,
        decide_matching(
            resolver.state, resolver.rules, [ProbabilisticLinkAdded("anon:a", "anon:b", 30.0)]
        ),
    )
    assert decide_revalidation(resolver.state, resolver.rules) == []
    resolver.observe(ObservationRecord("later", ("anon:b", "user:bob"), ts=T0 + timedelta(days=1)))
    removal = decide_revalidation(resolver.state, resolver.rules)
    assert [(d.a, d.b) for d in removal if isinstance(d, ProbabilisticLinkRemoved)] == [
        ("anon:a", "anon:b")
    ]


class ListedObservations:
    """Observations held in a list (the port ingest's log fills in the service)."""

    def __init__(self, observations: list[Observation]) -> None:
        self.items = observations

    def observations(self, since: datetime) -> Iterator[Observation]:
        return iter([o for o in self.items if o.occurred_at is None or o.occurred_at >= since])


def _observations(persons: int) -> list[Observation]:
    """Synthetic observations as ingest's log would carry them: the user agent parsed."""
    observations = []
    for o in generate(persons, seed=3).observations:
        family, device = parse_user_agent(o.user_agent)
        observations.append(
            Observation(
                property_id="shop",
                record_id=o.obs_id,
                identifiers=o.identifiers,
                occurred_at=o.ts,
                ip=o.ip,
                geo_city=o.geo_city,
                ua_family=family,
                ua_device=device,
            )
        )
    return observations


@pytest.fixture(scope="module")
def matched() -> tuple[IdentityApplication, ListedObservations]:
    observations = _observations(400)
    source = ListedObservations(observations)
    app = IdentityApplication(
        identifiers=PlainIdentifiers(), observations=source, matcher=FellegiSunterMatcher()
    )
    app.process_page("ingest", [UpstreamEntry(n + 1, o) for n, o in enumerate(observations)])
    app.run_matching(now=datetime(2026, 4, 1, tzinfo=UTC))
    return app, source


def test_a_matching_run_links_devices_in_the_blended_view(
    matched: tuple[IdentityApplication, ListedObservations],
) -> None:
    app, _ = matched
    graph = app.repository.get(graph_id("shop"))
    links = list(graph.state.probabilistic_links.values())
    assert links, "400 synthetic persons have devices whose cookies churn: some must link"
    joined = [
        link
        for link in links
        if graph.state.person_by_identifier[link.a] != graph.state.person_by_identifier[link.b]
    ]
    assert joined
    link = joined[0]
    assert link.evidence and all(isinstance(w, float) for _, w in link.evidence)
    deterministic = app.resolve("shop", link.a)
    blended = app.resolve("shop", link.a, blended=True)
    assert link.b not in deterministic.identifiers
    assert link.b in blended.identifiers
    assert set(deterministic.identifiers) < set(blended.identifiers)
    explained = app.explain("shop", deterministic.person_id)
    assert any(
        isinstance(step.decision, ProbabilisticLinkAdded) and step.decision == link
        for step in explained.steps
    )


def test_the_same_run_again_changes_nothing_and_the_graph_replays_equal(
    matched: tuple[IdentityApplication, ListedObservations],
) -> None:
    app, _ = matched
    [run] = app.run_matching(now=datetime(2026, 4, 1, tzinfo=UTC))
    assert (run.links_added, run.links_removed) == (0, 0)
    assert run.links_accepted > 0 and run.links_proposed >= run.links_accepted
    live = app.repository.get(graph_id("shop"))
    rebuilt: IdentityGraph | None = None
    for stored in app.events.get(graph_id("shop")):
        rebuilt = stored.mutate(rebuilt)
    assert rebuilt is not None and rebuilt.state == live.state


def test_a_run_without_observations_in_the_window_removes_every_link() -> None:
    observations = _observations(200)
    app = IdentityApplication(
        identifiers=PlainIdentifiers(),
        observations=ListedObservations(observations),
        matcher=FellegiSunterMatcher(),
    )
    app.process_page("ingest", [UpstreamEntry(n + 1, o) for n, o in enumerate(observations)])
    [first] = app.run_matching("shop", now=datetime(2026, 4, 1, tzinfo=UTC))
    assert first.links_added > 0
    [later] = app.run_matching("shop", now=datetime(2027, 1, 1, tzinfo=UTC))
    assert later.observations == 0
    assert later.links_removed == first.links_accepted
    assert not app.repository.get(graph_id("shop")).state.probabilistic_links


def test_matching_without_a_source_is_refused() -> None:
    with pytest.raises(MatchingNotConfiguredError):
        IdentityApplication(identifiers=PlainIdentifiers()).run_matching()


def test_matching_settings_come_from_the_environment_and_bad_values_are_refused() -> None:
    settings = IdentitySettings.from_env(
        {
            "IDENTITY_MATCHING_INTERVAL_HOURS": "0",
            "IDENTITY_MATCHING_WINDOW_DAYS": "30",
            "IDENTITY_MIN_MATCH_PROBABILITY": "0.95",
        }
    )
    assert settings.matching_interval == timedelta(0)
    assert settings.matching_window == timedelta(days=30)
    assert settings.min_match_probability == 0.95
    assert IdentitySettings.from_env({}).matching_interval == timedelta(hours=6)
    for bad in ("1", "0.2", "high"):
        with pytest.raises(SettingsError, match="IDENTITY_MIN_MATCH_PROBABILITY"):
            IdentitySettings.from_env({"IDENTITY_MIN_MATCH_PROBABILITY": bad})
    assert AttributionSettings.from_env({}).reporting_identity is ReportingIdentity.DETERMINISTIC
    blended = AttributionSettings.from_env({"ATTRIBUTION_REPORTING_IDENTITY": "Blended"})
    assert blended.reporting_identity is ReportingIdentity.BLENDED
    with pytest.raises(SettingsError, match="ATTRIBUTION_REPORTING_IDENTITY"):
        AttributionSettings.from_env({"ATTRIBUTION_REPORTING_IDENTITY": "probabilistic"})


def test_a_confident_run_accepts_its_links_and_reports_its_expected_precision(
    matched: tuple[IdentityApplication, ListedObservations],
) -> None:
    app, _ = matched
    [run] = app.run_matching(now=datetime(2026, 4, 1, tzinfo=UTC))
    assert run.check.passed and run.check.reason == ""
    assert run.check.target == 0.95
    assert run.check.expected_precision >= 0.95
    assert run.check.expected_precision == min(
        run.check.model_precision, run.check.held_out_precision or 1.0
    )
    assert run.check.held_out_precision is not None and run.check.held_out_recall is not None
    assert run.links_accepted > 0
    graph = app.repository.get(graph_id("shop"))
    assert graph.matching_check == run.check


def test_a_run_below_the_precision_target_accepts_no_links_and_says_why() -> None:
    observations = _observations(200)
    app = IdentityApplication(
        identifiers=PlainIdentifiers(),
        observations=ListedObservations(observations),
        matcher=FellegiSunterMatcher(),
        min_expected_precision=0.9999,
    )
    app.process_page("ingest", [UpstreamEntry(n + 1, o) for n, o in enumerate(observations)])
    [run] = app.run_matching("shop", now=datetime(2026, 4, 1, tzinfo=UTC))
    assert run.links_proposed > 0
    assert (run.links_added, run.links_accepted) == (0, 0)
    assert not run.check.passed
    assert run.check.expected_precision < 0.9999
    assert "below the target 0.9999" in run.check.reason
    assert "accepted no links" in run.check.reason
    assert app.repository.get(graph_id("shop")).matching_check == run.check


def test_links_of_an_earlier_run_stay_when_a_later_run_misses_the_target() -> None:
    observations = _observations(200)
    app = IdentityApplication(
        identifiers=PlainIdentifiers(),
        observations=ListedObservations(observations),
        matcher=FellegiSunterMatcher(),
    )
    app.process_page("ingest", [UpstreamEntry(n + 1, o) for n, o in enumerate(observations)])
    [first] = app.run_matching("shop", now=datetime(2026, 4, 1, tzinfo=UTC))
    assert first.check.passed and first.links_added > 0
    app.min_expected_precision = 0.9999
    [refused] = app.run_matching("shop", now=datetime(2026, 4, 1, tzinfo=UTC))
    assert not refused.check.passed
    assert refused.links_removed == 0
    assert refused.links_accepted == first.links_accepted
    graph = app.repository.get(graph_id("shop"))
    link = next(iter(graph.state.probabilistic_links.values()))
    explained = app.explain("shop", graph.state.person_by_identifier[link.a])
    assert explained.matching_check == refused.check


def test_the_precision_estimate_is_the_same_for_the_same_seed() -> None:
    records = [o.record() for o in _observations(200)]
    first = FellegiSunterMatcher().propose(records).precision
    again = FellegiSunterMatcher().propose(records).precision
    assert first == again
    assert first.known_matches_held_out > 0 and first.known_non_matches > 0
    other_seed = FellegiSunterMatcher(ProbabilisticLinker(LinkerConfig(seed=7)))
    assert other_seed.propose(records).precision.known_matches_held_out != (
        first.known_matches_held_out
    )


def test_known_non_matches_above_the_threshold_pull_the_held_out_estimate_down() -> None:
    linker = ProbabilisticLinker()
    records = [
        ObservationRecord("o1", ("user:alice", "anon:a1"), ts=T0),
        ObservationRecord("o2", ("user:alice", "anon:a2"), ts=T0),
        ObservationRecord("o3", ("user:bob", "anon:b1"), ts=T0),
        ObservationRecord("o4", ("user:bob", "anon:b2"), ts=T0),
        ObservationRecord("o5", ("anon:x",), ts=T0),
        ObservationRecord("o6", ("anon:y",), ts=T0),
    ]
    prepared = linker.prepare(records)
    index = {p.identifier: i for i, p in enumerate(prepared.profiles)}
    pairs = [("anon:a1", "anon:b1"), ("anon:a2", "anon:b2"), ("anon:x", "anon:y")]
    a = np.array([index[x] for x, _ in pairs], dtype=np.int64)
    b = np.array([index[y] for _, y in pairs], dtype=np.int64)

    household = estimate_precision(linker, prepared, (a, b), np.array([0.995, 0.2, 0.999]), 0.0)
    assert (household.known_non_matches, household.known_non_matches_above_threshold) == (2, 1)
    assert household.model_precision == pytest.approx(0.997)
    # Half the known non-matches pass, so half of the 3 candidates not known to match would:
    # 1.5 false links among the 2 proposed.
    assert household.held_out_precision == pytest.approx(1 - 0.5 * 3 / 2)
    assert household.expected_precision == pytest.approx(0.25)

    clean = estimate_precision(linker, prepared, (a, b), np.array([0.2, 0.2, 0.999]), 0.0)
    assert clean.held_out_precision == 1.0 and clean.expected_precision == pytest.approx(0.999)
    assert clean.held_out_recall is None and clean.known_matches_held_out == 0


def test_the_precision_target_comes_from_the_environment_and_bad_values_are_refused() -> None:
    assert IdentitySettings.from_env({}).min_expected_precision == 0.95
    settings = IdentitySettings.from_env({"IDENTITY_MIN_EXPECTED_PRECISION": "0.99"})
    assert settings.min_expected_precision == 0.99
    for bad in ("1.5", "-0.1", "nan", "high"):
        with pytest.raises(SettingsError, match="IDENTITY_MIN_EXPECTED_PRECISION"):
            IdentitySettings.from_env({"IDENTITY_MIN_EXPECTED_PRECISION": bad})
