"""The deterministic resolution core: guards, decisions, replay, probabilistic links, metrics."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.identity_bench import STRICT_RULES, pairwise_metrics
from bench.identity_synth import generate
from services.identity.observations import ObservationRecord
from services.identity.offline_resolvers import NaiveResolver, Resolver
from services.identity.resolution import (
    DEFAULT_KINDS,
    IdentifierMarkedShared,
    IdentityRules,
    MergeRefused,
    ObservationIgnored,
    PersonsMerged,
    PersonSplit,
    ResolutionState,
    decide,
    shared_person_id,
)
from services.identity.resolution.decisions import decision_from_dict, decision_to_dict

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class Feed:
    """A resolver fed numbered observations an hour apart."""

    def __init__(self, rules: IdentityRules | None = None) -> None:
        self.resolver = Resolver(rules)
        self.count = 0

    def see(self, *identifiers: str) -> list[object]:
        self.count += 1
        obs = ObservationRecord(f"o{self.count}", identifiers, ts=T0 + timedelta(hours=self.count))
        return list(self.resolver.observe(obs))

    def record(self, *identifiers: str, born: str = "") -> list[object]:
        """A CRM record's observation, with the date of birth it gives."""
        self.count += 1
        obs = ObservationRecord(
            f"o{self.count}",
            identifiers,
            ts=T0 + timedelta(hours=self.count),
            source="crm",
            date_of_birth=born,
        )
        return list(self.resolver.observe(obs))

    def person(self, identifier: str) -> str | None:
        return self.resolver.person_of(identifier)


def test_blocked_values_never_join() -> None:
    feed = Feed()
    empty_hash = hashlib.sha256(b"").hexdigest()
    placeholders = (
        "user:undefined",
        "user:NULL",
        "user: ",
        "anon:00000000-0000-0000-0000-000000000000",
        f"email:{empty_hash}",
        f"email:{empty_hash.upper()}",
        "user:Anonymous",
        "user:0",
    )
    for n, placeholder in enumerate(placeholders):
        decisions = feed.see(f"anon:device{n}", placeholder)
        assert ObservationIgnored(placeholder, decisions[0].reason, f"o{n + 1}") in decisions  # type: ignore[attr-defined]
    persons = {feed.person(f"anon:device{n}") for n in range(len(placeholders))}
    assert len(persons) == len(placeholders)
    assert all(feed.person(p) is None for p in placeholders)


def test_two_user_ids_refuse_a_merge_and_drop_the_lowest_priority_identifier() -> None:
    feed = Feed()
    feed.see("anon:tablet", "user:alice")
    decisions = feed.see("anon:tablet", "user:bob", "email:bob")
    refusals = [d for d in decisions if isinstance(d, MergeRefused)]
    assert [r.dropped_identifier for r in refusals] == ["anon:tablet"]
    assert "user" in refusals[0].reason
    assert feed.person("anon:tablet") == feed.person("user:alice")
    assert feed.person("user:bob") == feed.person("email:bob") != feed.person("user:alice")


def test_an_observation_with_two_new_user_ids_keeps_them_apart() -> None:
    feed = Feed()
    feed.see("user:1", "user:2", "anon:x")
    assert feed.person("user:1") == feed.person("anon:x")
    assert feed.person("user:2") not in (None, feed.person("user:1"))


def test_fan_out_marks_a_kiosk_device_shared() -> None:
    feed = Feed()
    feed.see("anon:kiosk", "user:u0")
    marked: list[IdentifierMarkedShared] = []
    for n in range(1, 6):
        marked += [
            d
            for d in feed.see("anon:kiosk", f"user:u{n}", f"email:e{n}")
            if isinstance(d, IdentifierMarkedShared)
        ]
    assert [m.identifier for m in marked] == ["anon:kiosk"]
    assert len(marked[0].persons_seen) == 3
    assert feed.person("anon:kiosk") == shared_person_id("", "anon:kiosk")
    assert len({feed.person(f"user:u{n}") for n in range(6)}) == 6
    feed.see("anon:kiosk", "anon:later-visitor")
    assert feed.person("anon:later-visitor") != feed.person("anon:kiosk")


def test_fan_out_only_counts_persons_within_the_window() -> None:
    rules = IdentityRules(fanout_window=timedelta(minutes=30))
    feed = Feed(rules)
    feed.see("anon:kiosk", "user:u0")
    for n in range(1, 6):
        decisions = feed.see("anon:kiosk", f"user:u{n}")
        assert not any(isinstance(d, IdentifierMarkedShared) for d in decisions)


def test_a_shared_email_splits_off_the_devices_it_alone_joined() -> None:
    feed = Feed()
    feed.see("anon:a-phone", "user:alice", "email:couple")
    feed.see("anon:b-laptop", "email:couple")
    assert feed.person("anon:b-laptop") == feed.person("user:alice")
    decisions = feed.see("anon:b-phone", "user:bob", "email:couple")
    assert any(isinstance(d, IdentifierMarkedShared) for d in decisions)
    assert any(isinstance(d, PersonSplit) for d in decisions)
    assert feed.person("anon:b-laptop") != feed.person("user:alice")
    assert feed.person("anon:a-phone") == feed.person("user:alice")


def test_survivor_is_the_older_person() -> None:
    feed = Feed()
    feed.see("anon:laptop")
    older = feed.person("anon:laptop")
    feed.see("anon:phone")
    decisions = feed.see("anon:phone", "anon:laptop")
    merges = [d for d in decisions if isinstance(d, PersonsMerged)]
    assert [(m.survivor, m.merged) for m in merges] == [(older, merges[0].merged)]
    assert feed.person("anon:phone") == feed.person("anon:laptop") == older
    assert feed.resolver.state.current_person(merges[0].merged) == older


def test_person_ids_are_stable_and_deterministic() -> None:
    first, second = Feed(), Feed()
    for feed in (first, second):
        feed.see("anon:a", "email:x")
        feed.see("anon:b", "user:1")
        feed.see("anon:a", "anon:b")
    assert first.resolver.clusters() == second.resolver.clusters()


def test_decide_does_not_change_the_state() -> None:
    feed = Feed()
    feed.see("anon:tablet", "user:alice")
    before = feed.resolver.state.snapshot()
    decide(
        feed.resolver.state,
        feed.resolver.rules,
        ObservationRecord("x", ("anon:tablet", "user:bob", "anon:new")),
    )
    assert feed.resolver.state.snapshot() == before


def test_replaying_the_decisions_into_a_fresh_state_gives_the_same_state() -> None:
    data = generate(300, seed=7)
    live = Resolver()
    for obs in data.observations:
        live.observe(obs)
    rebuilt = ResolutionState()
    for decision in live.log:
        rebuilt.apply(decision)
    assert rebuilt == live.state
    assert any(isinstance(d, PersonSplit) for d in live.log)


IDENTIFIERS = st.sampled_from(
    [f"user:{n}" for n in range(3)]
    + [f"crm:{n}" for n in range(2)]
    + [f"email:{c}" for c in "abc"]
    + [f"phone:{c}" for c in "pq"]
    + [f"anon:{c}" for c in "vwxyz"]
    + ["user:undefined"]
)
OBSERVATIONS = st.lists(st.lists(IDENTIFIERS, min_size=1, max_size=4), max_size=30)


@settings(max_examples=150, deadline=None)
@given(OBSERVATIONS, st.integers(min_value=1, max_value=3))
def test_no_observation_sequence_violates_max_per_person_limits(
    sequence: list[list[str]], fanout: int
) -> None:
    rules = IdentityRules(max_persons_per_identifier=fanout)
    resolver = Resolver(rules)
    for n, identifiers in enumerate(sequence):
        resolver.observe(
            ObservationRecord(f"o{n}", tuple(identifiers), ts=T0 + timedelta(minutes=n))
        )
        for members in resolver.state.identifiers_by_person.values():
            for kind, rule in rules.kinds.items():
                if rule.max_per_person is not None:
                    assert (
                        sum(1 for i in members if i.startswith(kind + ":")) <= rule.max_per_person
                    )
    rebuilt = ResolutionState()
    for decision in resolver.log:
        rebuilt.apply(decision)
    assert rebuilt == resolver.state
    for identifier, person in resolver.state.person_by_identifier.items():
        assert identifier in resolver.state.identifiers_by_person[person]


def test_probabilistic_links_are_kept_apart_from_deterministic_clusters() -> None:
    feed = Feed()
    feed.see("anon:crm-typo")
    feed.see("anon:cookie", "email:x")
    feed.resolver.add_probabilistic_link("anon:crm-typo", "anon:cookie", 9.5, {"name": 6.0})
    deterministic = feed.resolver.clusters()
    combined = feed.resolver.clusters(include_probabilistic=True)
    assert deterministic["anon:crm-typo"] != deterministic["anon:cookie"]
    assert combined["anon:crm-typo"] == combined["anon:cookie"] == combined["email:x"]


def test_probabilistic_links_never_override_a_refusal_or_a_limit() -> None:
    feed = Feed()
    feed.see("anon:tablet", "user:alice")
    feed.see("anon:tablet", "user:bob")
    feed.see("anon:bob-phone", "user:bob")
    feed.see("anon:carol", "user:carol")
    link = feed.resolver.add_probabilistic_link
    link("anon:tablet", "anon:bob-phone", 20.0)
    link("anon:carol", "anon:tablet", 15.0)
    combined = feed.resolver.clusters(include_probabilistic=True)
    assert len({combined[f"user:{name}"] for name in ("alice", "bob", "carol")}) == 3


def test_probabilistic_links_below_the_threshold_are_not_used() -> None:
    feed = Feed(IdentityRules(min_probabilistic_weight=5.0))
    feed.see("anon:a")
    feed.see("anon:b")
    feed.resolver.add_probabilistic_link("anon:a", "anon:b", 4.9)
    combined = feed.resolver.clusters(include_probabilistic=True)
    assert combined["anon:a"] != combined["anon:b"]


def test_the_naive_resolver_joins_everything_seen_together() -> None:
    naive = NaiveResolver()
    naive.observe(ObservationRecord("1", ("anon:a", "user:undefined")))
    naive.observe(ObservationRecord("2", ("anon:b", "user:undefined")))
    assert naive.person_of("anon:a") == naive.person_of("anon:b")
    assert naive.person_of("anon:c") is None


def test_the_benchmark_metrics_count_pairs_and_over_merged_clusters() -> None:
    truth = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "c1": "C"}
    clusters = {"a1": "x", "a2": "x", "b1": "x", "a3": "y", "b2": "z", "c1": "w"}
    metrics = pairwise_metrics(clusters, truth)
    # predicted pairs: x has 3 -> 3 pairs, of which (a1, a2) is true; true pairs: A 3 + B 1 = 4
    assert metrics.precision == 1 / 3
    assert metrics.recall == 1 / 4
    assert abs(metrics.f1 - 2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4)) < 1e-12
    assert metrics.over_merged == 1
    perfect = pairwise_metrics(truth, truth)
    assert (perfect.precision, perfect.recall, perfect.over_merged) == (1.0, 1.0, 0)


def test_the_synthetic_generator_is_deterministic_for_a_seed() -> None:
    first, second = generate(100, seed=3), generate(100, seed=3)
    assert first.observations == second.observations
    assert first.truth == second.truth
    assert not set(first.truth) & set(first.unowned)


def test_an_email_that_keeps_devices_apart_joins_cookies_only_through_a_login() -> None:
    strict = IdentityRules(
        kinds={**DEFAULT_KINDS, "email": replace(DEFAULT_KINDS["email"], keeps_devices_apart=True)}
    )
    feed = Feed(strict)
    feed.see("anon:ann-phone", "user:ann", "email:shared-mailbox")
    feed.see("anon:bob-tablet", "email:shared-mailbox")
    feed.see("anon:ann-laptop", "user:ann")
    assert (
        feed.person("anon:ann-phone") == feed.person("user:ann") == feed.person("anon:ann-laptop")
    )
    assert feed.person("email:shared-mailbox") == feed.person("user:ann")
    assert feed.person("anon:bob-tablet") not in (None, feed.person("user:ann"))

    default = Feed()
    default.see("anon:ann-phone", "user:ann", "email:shared-mailbox")
    default.see("anon:bob-tablet", "email:shared-mailbox")
    assert default.person("anon:bob-tablet") == default.person("user:ann")


def test_the_bench_s_strict_rules_leave_no_over_merged_cluster() -> None:
    data = generate(600, seed=4)
    resolver = Resolver(STRICT_RULES, keep_log=False)
    for obs in data.observations:
        resolver.observe(obs)
    metrics = pairwise_metrics(resolver.clusters(), data.truth)
    assert metrics.over_merged == 0
    assert metrics.precision == 1.0 and metrics.recall > 0.2


def test_a_login_brings_a_person_a_second_and_third_email_but_not_a_fourth() -> None:
    feed = Feed()
    for email in ("email:personal", "email:work", "email:old", "email:fourth"):
        feed.see("user:ann", email)
    ann = feed.person("user:ann")
    assert feed.person("email:personal") == feed.person("email:work") == ann
    assert feed.person("email:old") == ann
    assert feed.person("email:fourth") != ann


def test_a_second_email_seen_only_with_a_cookie_joins_nobody() -> None:
    feed = Feed()
    feed.see("anon:laptop", "user:ann", "email:ann")
    decisions = feed.see("anon:laptop", "email:family")
    refusals = [d for d in decisions if isinstance(d, MergeRefused)]
    assert feed.person("email:family") != feed.person("user:ann")
    assert feed.person("anon:laptop") == feed.person("user:ann")
    assert "without a stronger identifier in the observation" in refusals[0].reason


def test_a_person_s_second_phone_needs_a_stronger_identifier_and_a_third_is_refused() -> None:
    feed = Feed()
    feed.see("anon:phone", "email:ann", "phone:1")
    feed.see("anon:phone", "phone:2")
    assert feed.person("phone:2") != feed.person("email:ann")
    feed.see("email:ann", "phone:2")
    feed.see("email:ann", "phone:3")
    assert feed.person("phone:1") == feed.person("phone:2") == feed.person("email:ann")
    assert feed.person("phone:3") != feed.person("email:ann")


def test_an_email_seen_with_two_logins_is_shared_and_joins_nobody_after() -> None:
    feed = Feed()
    feed.see("user:ann", "email:ann", "email:family")
    decisions = feed.see("user:bob", "email:family")
    assert [d.identifier for d in decisions if isinstance(d, IdentifierMarkedShared)] == [
        "email:family"
    ]
    feed.see("anon:tablet", "email:family")
    assert feed.person("anon:tablet") not in (feed.person("user:ann"), feed.person("user:bob"))


def test_a_probabilistic_link_never_joins_two_identified_persons() -> None:
    feed = Feed()
    feed.see("anon:ann-phone", "user:ann")
    feed.see("anon:bob-phone", "email:bob")
    feed.see("anon:tablet")
    link = feed.resolver.add_probabilistic_link
    link("anon:ann-phone", "anon:bob-phone", 30.0)
    link("anon:tablet", "anon:bob-phone", 20.0)
    combined = feed.resolver.clusters(include_probabilistic=True)
    assert combined["user:ann"] != combined["email:bob"]
    assert combined["anon:tablet"] == combined["email:bob"]


def test_a_probabilistic_link_between_duplicate_crm_records_joins_their_emails() -> None:
    feed = Feed()
    feed.see("crm:1", "email:ann-personal")
    feed.see("crm:2", "email:ann-work")
    feed.resolver.add_probabilistic_link("crm:1", "crm:2", 25.0)
    combined = feed.resolver.clusters(include_probabilistic=True)
    assert combined["email:ann-personal"] == combined["email:ann-work"]


def test_a_second_crm_record_with_the_persons_email_stays_apart_without_splitting_the_person() -> (
    None
):
    feed = Feed()
    feed.see("crm:1", "email:ann", "phone:ann")
    feed.see("anon:ann-laptop", "email:ann")
    decisions = feed.see("crm:2", "email:ann", "phone:ann")
    refusals = [d for d in decisions if isinstance(d, MergeRefused)]
    assert [r.dropped_identifier for r in refusals] == ["crm:2"]
    assert not refusals[0].keeps_apart
    assert not [d for d in decisions if isinstance(d, IdentifierMarkedShared | PersonSplit)]
    assert feed.person("crm:1") == feed.person("email:ann") == feed.person("anon:ann-laptop")
    assert feed.person("phone:ann") == feed.person("crm:1")
    assert feed.person("crm:2") != feed.person("crm:1")


def test_a_second_crm_record_with_the_persons_date_of_birth_joins_as_a_duplicate() -> None:
    feed = Feed()
    feed.record("crm:1", "email:ann", "phone:ann", born="1990-04-01")
    feed.see("anon:ann-laptop", "email:ann")
    decisions = feed.record("crm:2", "email:ann-work", "phone:ann", born="1990-04-01")
    assert not [d for d in decisions if isinstance(d, MergeRefused)]
    assert feed.person("crm:2") == feed.person("crm:1") == feed.person("email:ann-work")
    person = feed.person("crm:1") or ""
    assert feed.resolver.state.kind_counts[person]["crm"] == 1
    feed.record("crm:3", "phone:ann", born="1990-04-01")
    assert feed.person("crm:3") == feed.person("crm:1")


def test_a_record_with_another_date_of_birth_on_the_persons_email_is_still_refused() -> None:
    feed = Feed()
    feed.record("crm:ann", "email:family", born="1990-04-01")
    feed.record("crm:ann-again", "email:family", born="1990-04-01")
    decisions = feed.record("crm:bob", "email:family", born="1988-11-30")
    assert [d.dropped_identifier for d in decisions if isinstance(d, MergeRefused)] == ["crm:bob"]
    assert feed.person("crm:bob") != feed.person("crm:ann")
    assert feed.person("crm:ann-again") == feed.person("crm:ann")


def test_a_record_that_leaves_out_the_date_of_birth_joins_a_record_that_gives_it() -> None:
    feed = Feed()
    feed.record("crm:1", "email:ann", born="1990-04-01")
    decisions = feed.record("crm:2", "email:ann")
    assert not [d for d in decisions if isinstance(d, MergeRefused)]
    assert feed.person("crm:2") == feed.person("crm:1")
    feed.record("crm:3", "email:bob")
    feed.record("crm:4", "email:bob", born="1985-07-12")
    assert feed.person("crm:4") == feed.person("crm:3")
    for record in ("crm:1", "crm:3"):
        person = feed.person(record) or ""
        assert feed.resolver.state.kind_counts[person]["crm"] == 1


def test_records_that_give_no_date_of_birth_are_not_taken_for_duplicates() -> None:
    feed = Feed()
    feed.record("crm:1", "email:ann")
    feed.record("crm:2", "email:ann")
    assert feed.person("crm:2") != feed.person("crm:1")


def test_a_record_with_another_date_than_a_persons_dated_record_is_refused() -> None:
    feed = Feed()
    feed.record("crm:ann", "email:family", born="1990-04-01")
    feed.record("crm:ann-again", "email:family")
    decisions = feed.record("crm:bob", "email:family", born="1988-11-30")
    assert [d.dropped_identifier for d in decisions if isinstance(d, MergeRefused)] == ["crm:bob"]
    assert feed.person("crm:ann-again") == feed.person("crm:ann") != feed.person("crm:bob")


def test_two_persons_whose_records_give_one_date_of_birth_join_when_a_login_shows_them() -> None:
    feed = Feed()
    feed.record("crm:1", "email:ann", born="1990-04-01")
    feed.record("crm:2", "email:ann-work")
    assert feed.person("crm:2") != feed.person("crm:1")
    decisions = feed.see("user:ann", "email:ann", "email:ann-work")
    assert not [d for d in decisions if isinstance(d, MergeRefused)]
    assert feed.person("crm:2") == feed.person("crm:1") == feed.person("user:ann")
    person = feed.person("crm:1") or ""
    assert feed.resolver.state.kind_counts[person]["crm"] == 1
    state = ResolutionState()
    for decision in feed.resolver.log:
        state.apply(decision_from_dict(*decision_to_dict(decision)))
    assert state == feed.resolver.state and state.duplicates == {"crm:2"}


def test_two_persons_whose_records_give_two_dates_of_birth_stay_apart() -> None:
    feed = Feed()
    feed.record("crm:ann", "email:ann", born="1990-04-01")
    feed.record("crm:bob", "email:bob", born="1988-11-30")
    decisions = feed.see("user:ann", "email:ann", "email:bob")
    assert [d for d in decisions if isinstance(d, MergeRefused)]
    assert feed.person("crm:bob") != feed.person("crm:ann")


def test_records_joined_as_duplicates_replay_to_the_same_state() -> None:
    feed = Feed()
    feed.record("crm:1", "email:ann", born="1990-04-01")
    feed.record("crm:2", "email:ann", born="1990-04-01")
    feed.see("anon:a", "email:ann", "email:ann-work", "user:ann")
    feed.record("crm:3", "email:ann-work", born="1990-04-01")
    state = ResolutionState()
    for decision in feed.resolver.log:
        kind, data = decision_to_dict(decision)
        state.apply(decision_from_dict(kind, data))
    assert state == feed.resolver.state
    assert state.duplicates == {"crm:2", "crm:3"}


def test_a_probabilistic_link_joins_a_crm_record_refused_as_a_persons_second() -> None:
    feed = Feed()
    feed.see("crm:1", "email:ann")
    feed.see("crm:2", "email:ann")
    feed.resolver.add_probabilistic_link("crm:1", "crm:2", 25.0)
    combined = feed.resolver.clusters(include_probabilistic=True)
    assert combined["crm:2"] == combined["email:ann"]


def test_two_crm_records_of_different_persons_still_keep_a_shared_mailbox_from_joining() -> None:
    feed = Feed()
    feed.see("crm:ann", "email:family")
    feed.see("crm:bob", "email:family")
    assert feed.person("crm:ann") != feed.person("crm:bob")


def test_a_second_email_typed_with_the_persons_known_phone_joins_the_person() -> None:
    feed = Feed()
    feed.see("anon:ann-phone", "user:ann", "email:ann", "phone:ann")
    feed.see("anon:ann-phone", "phone:ann")
    decisions = feed.see("anon:ann-tablet", "email:ann-work", "phone:ann")
    assert not [d for d in decisions if isinstance(d, MergeRefused)]
    assert not [d for d in decisions if isinstance(d, IdentifierMarkedShared | PersonSplit)]
    person = feed.person("user:ann")
    assert feed.person("email:ann-work") == feed.person("anon:ann-tablet") == person
    feed.see("anon:ann-laptop", "phone:ann")
    assert feed.person("anon:ann-laptop") == person


def test_a_second_email_typed_with_a_new_phone_on_the_persons_cookie_stays_apart() -> None:
    feed = Feed()
    feed.see("anon:ann-laptop", "email:ann")
    decisions = feed.see("anon:ann-laptop", "email:family", "phone:new")
    assert [d.dropped_identifier for d in decisions if isinstance(d, MergeRefused)] == [
        "anon:ann-laptop"
    ]
    assert feed.person("email:family") != feed.person("email:ann")


def test_a_phone_typed_with_its_own_persons_email_on_another_persons_cookie_vouches_nothing() -> (
    None
):
    feed = Feed()
    feed.see("anon:ann-laptop", "email:ann")
    feed.see("email:bob", "phone:bob")
    decisions = feed.see("anon:ann-laptop", "email:bob", "phone:bob")
    assert [d.dropped_identifier for d in decisions if isinstance(d, MergeRefused)] == [
        "anon:ann-laptop"
    ]
    assert feed.person("email:bob") != feed.person("email:ann")


def test_an_email_typed_with_another_persons_email_on_a_cookie_is_still_marked_shared() -> None:
    feed = Feed()
    feed.see("anon:ann-laptop", "user:ann", "email:ann", "email:family")
    decisions = feed.see("anon:bob-phone", "email:bob")
    decisions = feed.see("anon:bob-phone", "email:family")
    assert [d.identifier for d in decisions if isinstance(d, IdentifierMarkedShared)] == [
        "email:family"
    ]
