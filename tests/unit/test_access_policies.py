"""Every service's policy table covers exactly its RPCs (read from the descriptors), names
fields that exist, and lets the peer services call what they call."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from common.authorisation import (
    AccessPolicy,
    PolicyError,
    Rule,
    denial,
    property_values,
    scoped,
)
from common.callers import Caller, Scope
from convtrack.attribution.v1 import attribution_pb2
from convtrack.ingest.v1 import ingest_pb2
from services import launcher
from services.attribution import access as attribution_access
from services.identity import access as identity_access
from services.ingest import access as ingest_access
from services.reporting import access as reporting_access

POLICIES: dict[str, Callable[[], AccessPolicy]] = {
    "ingest": ingest_access.policy,
    "identity": identity_access.policy,
    "attribution": attribution_access.policy,
    "reporting": reporting_access.policy,
}
RULES = {
    "ingest": ingest_access.RULES,
    "identity": identity_access.RULES,
    "attribution": attribution_access.RULES,
    "reporting": reporting_access.RULES,
}
PEER = {name: Caller(peer=name, properties=None) for name in launcher.SERVICES}
ADMIN = Caller(key_id="admin", properties=None, scopes=frozenset({Scope.ADMIN}))


@pytest.mark.parametrize("service", launcher.SERVICES)
def test_every_rpc_of_the_descriptor_has_a_rule(service: str) -> None:
    policy = POLICIES[service]()
    methods = {f"/{policy.service.full_name}/{m.name}" for m in policy.service.methods}
    assert set(policy.rules) == methods


@pytest.mark.parametrize("service", launcher.SERVICES)
def test_a_service_missing_a_rule_refuses_to_start(service: str) -> None:
    descriptor = POLICIES[service]().service
    for method in descriptor.methods:
        rules = {name: rule for name, rule in RULES[service].items() if name != method.name}
        with pytest.raises(PolicyError, match=f"{method.name} has no access rule"):
            AccessPolicy(descriptor, rules)


def test_a_rule_for_a_field_that_does_not_exist_is_refused() -> None:
    descriptor = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"]
    rules = dict(ingest_access.RULES, TrackEvents=scoped(Scope.INGEST_WRITE, "property_id"))
    with pytest.raises(PolicyError, match="no field 'property_id'"):
        AccessPolicy(descriptor, rules)
    rules = dict(ingest_access.RULES, TrackEvents=scoped(Scope.INGEST_WRITE, "events.property_id"))
    with pytest.raises(PolicyError, match=r"\[\*\]"):
        AccessPolicy(descriptor, rules)


def test_log_reads_are_for_the_services_that_follow_the_log_only() -> None:
    for producer in ("ingest", "identity", "attribution"):
        followers = {name for name, ups in launcher.PEERS.items() if producer in ups}
        for rpc in ("ListEvents", "GetLogHead"):
            rule = RULES[producer][rpc]
            assert set(rule.peers) == followers, (producer, rpc)
        assert RULES[producer]["ListEvents"].scope is None, "internal: no key may call it"


def test_log_positions_are_for_peers_and_operators_with_an_admin_key() -> None:
    property_admin = Caller(key_id="p", properties=frozenset({"shop"}), scopes=frozenset(Scope))
    for service, rules in RULES.items():
        for rpc in ("GetLogHead", "GetSyncStatus"):
            if rpc not in rules:
                continue
            request = attribution_pb2.GetSyncStatusRequest()
            assert denial(rules[rpc], rpc, ADMIN, request) is None, (service, rpc)
            assert denial(rules[rpc], rpc, property_admin, request) is not None, (service, rpc)
            for peer in rules[rpc].peers:
                assert denial(rules[rpc], rpc, PEER[peer], request) is None, (service, rpc)


def test_only_identity_may_reveal_identifiers() -> None:
    rule = ingest_access.RULES["RevealIdentifiers"]
    request = ingest_pb2.RevealIdentifiersRequest(property_id="shop")
    assert denial(rule, "RevealIdentifiers", PEER["identity"], request) is None
    for name in ("attribution", "reporting"):
        assert denial(rule, "RevealIdentifiers", PEER[name], request) is not None
    assert denial(rule, "RevealIdentifiers", ADMIN, request) is not None


def test_every_other_service_may_read_the_key_ring() -> None:
    rule = ingest_access.RULES["GetKeyRing"]
    for name in ("identity", "attribution", "reporting"):
        assert denial(rule, "GetKeyRing", PEER[name], ingest_pb2.GetKeyRingRequest()) is None
    assert denial(rule, "GetKeyRing", ADMIN, ingest_pb2.GetKeyRingRequest()) is not None


def test_identity_may_pseudonymise_as_a_peer() -> None:
    rule = ingest_access.RULES["PseudonymiseIdentifiers"]
    request = ingest_pb2.PseudonymiseIdentifiersRequest(property_id="shop")
    assert denial(rule, "PseudonymiseIdentifiers", PEER["identity"], request) is None


def test_every_event_of_a_batch_must_be_of_the_keys_property() -> None:
    rule = ingest_access.RULES["TrackEvents"]
    key = Caller(key_id="k", properties=frozenset({"shop"}), scopes=frozenset({Scope.INGEST_WRITE}))
    ours = ingest_pb2.TrackEventsRequest(events=[ingest_pb2.Event(property_id="shop")] * 2)
    mixed = ingest_pb2.TrackEventsRequest(
        events=[ingest_pb2.Event(property_id="shop"), ingest_pb2.Event(property_id="rival")]
    )
    assert property_values(mixed, "events[*].property_id") == {"shop", "rival"}
    assert denial(rule, "TrackEvents", key, ours) is None
    reason = denial(rule, "TrackEvents", key, mixed)
    assert reason is not None and "rival" not in reason


def test_configuration_without_a_property_needs_an_admin_key() -> None:
    rule: Rule = attribution_access.RULES["ConfigureModels"]
    property_admin = Caller(
        key_id="k", properties=frozenset({"shop"}), scopes=frozenset({Scope.ATTRIBUTION_ADMIN})
    )
    request = attribution_pb2.ConfigureModelsRequest()
    assert denial(rule, "ConfigureModels", property_admin, request) is not None
    assert denial(rule, "ConfigureModels", ADMIN, request) is None


def test_a_propertys_attribution_settings_need_its_key_and_the_default_an_admin_key() -> None:
    property_admin = Caller(
        key_id="k", properties=frozenset({"shop"}), scopes=frozenset({Scope.ATTRIBUTION_ADMIN})
    )
    every_property_attribution_admin = Caller(
        key_id="a", properties=None, scopes=frozenset({Scope.ATTRIBUTION_ADMIN})
    )
    for name, request_type in (
        ("ConfigureModels", attribution_pb2.ConfigureModelsRequest),
        ("SetReportingIdentity", attribution_pb2.SetReportingIdentityRequest),
    ):
        rule: Rule = attribution_access.RULES[name]
        assert denial(rule, name, property_admin, request_type(property_id="shop")) is None
        assert denial(rule, name, property_admin, request_type(property_id="rival")) is not None
        default = request_type(property_id="*")
        for caller in (property_admin, every_property_attribution_admin):
            reason = denial(rule, name, caller, default)
            assert reason is not None and "admin key" in reason, (name, caller)
        assert denial(rule, name, ADMIN, default) is None


def test_spend_rows_must_all_be_of_the_keys_property() -> None:
    rule = ingest_access.RULES["RecordSpend"]
    key = Caller(key_id="k", properties=frozenset({"shop"}), scopes=frozenset({Scope.INGEST_WRITE}))
    ours = ingest_pb2.RecordSpendRequest(rows=[ingest_pb2.SpendRow(property_id="shop")])
    mixed = ingest_pb2.RecordSpendRequest(
        rows=[ingest_pb2.SpendRow(property_id="shop"), ingest_pb2.SpendRow(property_id="rival")]
    )
    assert denial(rule, "RecordSpend", key, ours) is None
    assert denial(rule, "RecordSpend", key, mixed) is not None
