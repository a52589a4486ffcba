"""End to end through gRPC: identity's guards keep shared devices and bad ids from merging
people, and attribution follows."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from common.grpc_errors import bad_request_of
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2
from tests.e2e.system import DEADLINE, PROPERTY, System, event


def login(event_id: str, hours_ago: float, anonymous_id: str, user_id: str) -> ingest_pb2.Event:
    return event(
        event_id,
        hours_ago,
        identity=ingest_pb2.Identity(anonymous_id=anonymous_id, user_id=user_id),
        identify=ingest_pb2.Identify(),
    )


def person_of(system: System, kind: int, value: str) -> identity_pb2.ResolveIdentityResponse:
    return system.identity.ResolveIdentity(
        identity_pb2.ResolveIdentityRequest(
            property_id=PROPERTY, identifier=common_pb2.Identifier(type=kind, value=value)
        ),
        timeout=DEADLINE,
    )


def test_people_logging_in_on_one_kiosk_stay_apart(system: System) -> None:
    system.track(
        login("alice-kiosk", 5, "kiosk-cookie", "alice"),
        login("bob-kiosk", 4, "kiosk-cookie", "bob"),
        login("carol-kiosk", 3, "kiosk-cookie", "carol"),
        login("alice-home", 2, "alice-laptop", "alice"),
    )
    system.sync()
    user = common_pb2.IDENTIFIER_TYPE_USER_ID
    alice, bob, carol = (person_of(system, user, name) for name in ("alice", "bob", "carol"))
    assert len({alice.person_id, bob.person_id, carol.person_id}) == 3
    assert {i.value for i in alice.identifiers} == {"alice-laptop", "alice"}
    kiosk = person_of(system, common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID, "kiosk-cookie")
    assert kiosk.person_id not in {alice.person_id, bob.person_id, carol.person_id}

    # The identity log says why: a refused merge and the kiosk marked shared.
    entries = system.identity.ListEvents(
        identity_pb2.ListEventsRequest(after=0, limit=1000), timeout=DEADLINE
    ).entries
    kinds = {e.WhichOneof("event") for e in entries}
    assert {"merge_refused", "identifier_marked_shared"} <= kinds


def test_placeholder_ids_like_undefined_never_join_people(system: System) -> None:
    system.track(
        login("a", 3, "undefined", "dana"),
        login("b", 2, "undefined", "erin"),
    )
    system.sync()
    user = common_pb2.IDENTIFIER_TYPE_USER_ID
    assert person_of(system, user, "dana").person_id != person_of(system, user, "erin").person_id
    with pytest.raises(grpc.RpcError) as unknown:
        person_of(system, common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID, "undefined")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def anon(value: str) -> common_pb2.Identifier:
    return common_pb2.Identifier(type=common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID, value=value)


def test_a_wrong_link_can_be_explained_and_undone_and_attribution_follows(
    system: System,
) -> None:
    # A purchase on the phone, an email click on the laptop; a CRM import links them.
    system.track(
        event(
            "laptop-email-click",
            30,
            identity=ingest_pb2.Identity(anonymous_id="laptop"),
            touchpoint=ingest_pb2.Touchpoint(
                landing_url="https://shop.example.com/?utm_source=news&utm_medium=email"
            ),
        ),
        event(
            "phone-buy",
            20,
            identity=ingest_pb2.Identity(anonymous_id="phone"),
            conversion=ingest_pb2.Conversion(name="purchase"),
        ),
    )
    system.sync()
    linked = system.identity.LinkIdentifiers(
        identity_pb2.LinkIdentifiersRequest(
            property_id=PROPERTY, identifiers=[anon("laptop"), anon("phone")], note="CRM import"
        ),
        timeout=DEADLINE,
    )
    system.sync()
    assert system.report("last_click") == {"email": (1.0, 0, 0)}

    # The explanation shows the link and its evidence.
    explained = system.identity.ExplainPerson(
        identity_pb2.ExplainPersonRequest(property_id=PROPERTY, person_id=linked.person_id),
        timeout=DEADLINE,
    )
    assert {i.value for i in explained.identifiers} == {"laptop", "phone"}
    notes = [
        getattr(d, d.WhichOneof("event")).evidence_record_id
        for d in explained.decisions
        if d.WhichOneof("event") in ("identifiers_linked", "persons_merged")
    ]
    assert any("CRM import" in note for note in notes)

    # The link was wrong: split the laptop off. The purchase is unattributed again.
    split = system.identity.SplitPerson(
        identity_pb2.SplitPersonRequest(
            property_id=PROPERTY,
            person_id=linked.person_id,
            identifiers=[anon("laptop")],
            note="different people",
        ),
        timeout=DEADLINE,
    )
    assert split.new_person_id != linked.person_id
    system.sync()
    assert system.report("last_click") == {"(none)": (1.0, 0, 0)}

    # Unknown identifiers and persons are reported as such.
    with pytest.raises(grpc.RpcError) as unknown:
        system.identity.UnlinkIdentifier(
            identity_pb2.UnlinkIdentifierRequest(property_id=PROPERTY, identifier=anon("nobody")),
            timeout=DEADLINE,
        )
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_property_configures_its_own_rules_over_grpc(system: System) -> None:
    defaults = system.identity.GetRules(
        identity_pb2.GetRulesRequest(property_id=PROPERTY), timeout=DEADLINE
    )
    assert not defaults.configured
    assert defaults.rules.kinds[0].kind == common_pb2.IDENTIFIER_TYPE_USER_ID
    user = common_pb2.IDENTIFIER_TYPE_USER_ID
    email = next(
        k for k in defaults.rules.kinds if k.kind == common_pb2.IDENTIFIER_TYPE_EMAIL_SHA256
    )
    assert (email.max_per_person, email.max_unvouched, email.names_person) == (3, 1, True)

    rules = identity_pb2.ResolutionRules()
    rules.CopyFrom(defaults.rules)
    for kind in rules.kinds:
        if kind.kind == user:
            kind.max_per_person = 2
    system.identity.ConfigureRules(
        identity_pb2.ConfigureRulesRequest(property_id=PROPERTY, rules=rules), timeout=DEADLINE
    )
    stored = system.identity.GetRules(
        identity_pb2.GetRulesRequest(property_id=PROPERTY), timeout=DEADLINE
    )
    assert stored.configured and stored.rules == rules

    system.track(login("work", 3, "cat-laptop", "cat"), login("home", 2, "cat-laptop", "cat-2"))
    system.sync()
    assert person_of(system, user, "cat").person_id == person_of(system, user, "cat-2").person_id

    bad = identity_pb2.ResolutionRules()
    bad.CopyFrom(rules)
    bad.kinds[1].priority = bad.kinds[0].priority
    bad.kinds.add(kind=common_pb2.IDENTIFIER_TYPE_EMAIL, priority=9)
    bad.fanout_window.FromTimedelta(timedelta(minutes=5))
    with pytest.raises(grpc.RpcError) as refused:
        system.identity.ConfigureRules(
            identity_pb2.ConfigureRulesRequest(property_id=PROPERTY, rules=bad),
            timeout=DEADLINE,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {p.field for p in bad_request_of(refused.value)} == {
        "rules.kinds[1].priority",
        f"rules.kinds[{len(bad.kinds) - 1}].kind",
        "rules.fanout_window",
    }
