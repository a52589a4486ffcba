"""Identity's stored events outlive moves of the resolution code, on SQLite and PostgreSQL: they
name only domain-model classes, and a decision is stored as plain values under its class name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.persistence import StoredEvent

from common.follower import UpstreamEntry
from common.storage import database_for
from services.identity.application import IdentityApplication, PlainIdentifiers
from services.identity.domainmodel import IdentityGraph, Observation, graph_id
from services.identity.resolution import (
    Evidence,
    IdentifierMarkedShared,
    IdentifiersLinked,
    IdentityRules,
    KindRule,
    MergeRefused,
    ObservationIgnored,
    PersonCreated,
    PersonForgotten,
    PersonsMerged,
    PersonSplit,
    ProbabilisticLinkAdded,
    ProbabilisticLinkRemoved,
    ResolutionState,
    decision_from_dict,
)
from tests.conftest import Storage

PROPERTY = "shop"
GRAPH_TOPIC = "services.identity.domainmodel:IdentityGraph"
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
STAMP = b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-03-02T09:00:00.000001+00:00"}'

# A graph as the code before the resolution package was split stored it (captured from it).
STARTED = STAMP + b',"originator_topic":"' + GRAPH_TOPIC.encode() + b'","property_id":"shop"}'
RULES_CONFIGURED = STAMP + (
    b',"rules":{"kinds":{'
    b'"anon":{"priority":5,"max_per_person":null,"max_persons":2,'
    b'"duplicate_records":false,"keeps_devices_apart":false},'
    b'"crm":{"priority":2,"max_per_person":1,"max_persons":null,'
    b'"duplicate_records":true,"keeps_devices_apart":false},'
    b'"email":{"priority":3,"max_per_person":1,"max_persons":1,'
    b'"duplicate_records":false,"keeps_devices_apart":true},'
    b'"phone":{"priority":4,"max_per_person":1,"max_persons":1,'
    b'"duplicate_records":false,"keeps_devices_apart":false},'
    b'"user":{"priority":1,"max_per_person":1,"max_persons":null,'
    b'"duplicate_records":false,"keeps_devices_apart":false}},'
    b'"blocked_values":["null","undefined"],"max_persons_per_identifier":3,'
    b'"fanout_window_seconds":2592000.0,"min_probabilistic_weight":0.0}}'
)
STORED_DECISIONS = [
    (
        b"PersonCreated",
        b'{"person_id":"p1","identifiers":["anon:a","user:u"],'
        b'"evidence":{"obs_id":"r1","identifiers":["anon:a","user:u"]}}',
    ),
    (
        b"PersonCreated",
        b'{"person_id":"p2","identifiers":["anon:b"],'
        b'"evidence":{"obs_id":"r2","identifiers":["anon:b"]}}',
    ),
    (
        b"IdentifiersLinked",
        b'{"person_id":"p1","identifiers":["email:e"],'
        b'"evidence":{"obs_id":"r3","identifiers":["user:u","email:e"]},'
        b'"joined":["user:u","email:e"]}',
    ),
    (
        b"PersonsMerged",
        b'{"survivor":"p1","merged":"p2","identifiers":["anon:b"],'
        b'"evidence":{"obs_id":"r4","identifiers":["anon:b","user:u"]},'
        b'"joined":["anon:b","user:u"]}',
    ),
    (
        b"PersonSplit",
        b'{"person_id":"p1","parts":[["p3",["anon:b"]]],'
        b'"evidence":{"obs_id":"split-1","identifiers":[]}}',
    ),
    (
        b"MergeRefused",
        b'{"observation":{"obs_id":"split-1","identifiers":[]},"persons":["p1","p3"],'
        b'"reason":"split by request","dropped_identifier":"","ts":null}',
    ),
    (
        b"PersonCreated",
        b'{"person_id":"p4","identifiers":["user:v"],'
        b'"evidence":{"obs_id":"r5","identifiers":["anon:a","user:v"]}}',
    ),
    (
        b"MergeRefused",
        b'{"observation":{"obs_id":"r5","identifiers":["anon:a","user:v"]},"persons":["p4","p1"],'
        b'"reason":"a person would have 2 user identifiers (at most 1)",'
        b'"dropped_identifier":"user:v",'
        b'"ts":{"_type_":"datetime_iso","_data_":"2026-03-01T12:30:00+00:00"}}',
    ),
    (
        b"IdentifierMarkedShared",
        b'{"identifier":"anon:a","persons_seen":["p1","p4"],'
        b'"evidence":{"obs_id":"r6","identifiers":["anon:a","user:w"]}}',
    ),
    (
        b"ObservationIgnored",
        b'{"identifier":"anon:undefined","reason":"blocked value","obs_id":"r7"}',
    ),
    (
        b"ProbabilisticLinkAdded",
        b'{"a":"user:u","b":"user:v","weight":9.5,"evidence":[["ip",4.5],["ua",5.0]]}',
    ),
    (
        b"ProbabilisticLinkAdded",
        b'{"a":"email:e","b":"anon:b","weight":3.25,"evidence":[]}',
    ),
    (
        b"ProbabilisticLinkRemoved",
        b'{"a":"email:e","b":"anon:b","reason":"not proposed by the latest matching run"}',
    ),
    (
        b"PersonForgotten",
        b'{"person_id":"p4","identifiers":["user:v"],'
        b'"evidence":{"obs_id":"forget-1","identifiers":[]}}',
    ),
]

# The same graph in today's types.
RULES = IdentityRules(
    kinds={  # the defaults of that time (a person had one email and one phone)
        "anon": KindRule(priority=5, max_per_person=None, max_persons=2),
        "crm": KindRule(priority=2, max_per_person=1, duplicate_records=True),
        "email": KindRule(priority=3, max_per_person=1, max_persons=1, keeps_devices_apart=True),
        "phone": KindRule(priority=4, max_per_person=1, max_persons=1),
        "user": KindRule(priority=1, max_per_person=1),
    },
    blocked_values=frozenset({"undefined", "null"}),
    max_persons_per_identifier=3,
)
DECISIONS = [
    PersonCreated("p1", ("anon:a", "user:u"), Evidence("r1", ("anon:a", "user:u"))),
    PersonCreated("p2", ("anon:b",), Evidence("r2", ("anon:b",))),
    IdentifiersLinked(
        "p1", ("email:e",), Evidence("r3", ("user:u", "email:e")), ("user:u", "email:e")
    ),
    PersonsMerged(
        "p1", "p2", ("anon:b",), Evidence("r4", ("anon:b", "user:u")), ("anon:b", "user:u")
    ),
    PersonSplit("p1", (("p3", ("anon:b",)),), Evidence("split-1", ())),
    MergeRefused(Evidence("split-1", ()), ("p1", "p3"), "split by request", ""),
    PersonCreated("p4", ("user:v",), Evidence("r5", ("anon:a", "user:v"))),
    MergeRefused(
        Evidence("r5", ("anon:a", "user:v")),
        ("p4", "p1"),
        "a person would have 2 user identifiers (at most 1)",
        "user:v",
        datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
    ),
    IdentifierMarkedShared("anon:a", ("p1", "p4"), Evidence("r6", ("anon:a", "user:w"))),
    ObservationIgnored("anon:undefined", "blocked value", "r7"),
    ProbabilisticLinkAdded("user:u", "user:v", 9.5, (("ip", 4.5), ("ua", 5.0))),
    ProbabilisticLinkAdded("email:e", "anon:b", 3.25),
    ProbabilisticLinkRemoved("email:e", "anon:b", "not proposed by the latest matching run"),
    PersonForgotten("p4", ("user:v",), Evidence("forget-1", ())),
]


def open_identity_store(storage: Storage) -> IdentityApplication:
    database = database_for("identity", storage.database_url, storage.data_dir)
    database.ensure_schema()
    return IdentityApplication(identifiers=PlainIdentifiers(), env=database.eventsourcing_env())


def stored_graph() -> list[StoredEvent]:
    decided = [
        STAMP + b',"property_id":"shop","kind":"' + kind + b'","decision":' + decision
        for kind, decision in STORED_DECISIONS
    ]
    rows = [
        ("Started", STARTED),
        ("RulesConfigured", RULES_CONFIGURED),
        *(("Decided", state + b',"trace_parent":"' + TRACE.encode() + b'"}') for state in decided),
    ]
    return [
        StoredEvent(graph_id(PROPERTY), version, f"{GRAPH_TOPIC}.{name}", state)
        for version, (name, state) in enumerate(rows, start=1)
    ]


def test_a_graph_stored_before_the_resolution_split_loads_unchanged(storage: Storage) -> None:
    writer = open_identity_store(storage)
    writer.recorder.insert_events(stored_graph())
    writer.close()

    app = open_identity_store(storage)
    try:
        graph = app.repository.get(graph_id(PROPERTY))
        logged = [record.event for record in app.read_log(0)]
    finally:
        app.close()

    expected = ResolutionState(PROPERTY)
    for decision in DECISIONS:
        expected.apply(decision)
    assert isinstance(graph, IdentityGraph)
    assert graph.rules == RULES
    assert graph.state == expected
    assert graph.state.person_by_identifier["anon:b"] == "p3"
    assert graph.state.shared == {"anon:a"}
    assert "user:v" not in graph.state.person_by_identifier
    decided: list[Any] = [event for event in logged if isinstance(event, IdentityGraph.Decided)]
    assert [decision_from_dict(e.kind, e.decision) for e in decided] == DECISIONS
    assert {e.trace_parent for e in decided} == {TRACE}


def test_stored_identity_events_name_only_domain_model_classes(storage: Storage) -> None:
    app = open_identity_store(storage)
    try:
        app.configure_rules(PROPERTY, RULES)
        start = datetime(2026, 3, 1, tzinfo=UTC)
        seen_together = [
            ("anon:a", "user:u"),
            ("anon:a", "user:v"),
            ("anon:a", "user:w"),
            ("anon:a", "user:x"),
            ("anon:b", "user:u"),
            ("anon:undefined", "email:e"),
            ("email:e", "anon:c", "anon:d"),
        ]
        app.process_page(
            "ingest",
            [
                UpstreamEntry(n, Observation(PROPERTY, f"r{n}", ids, start + timedelta(minutes=n)))
                for n, ids in enumerate(seen_together, start=1)
            ],
        )
        person = app.resolve(PROPERTY, "user:u").person_id
        app.split_person(PROPERTY, person, ["anon:b"], "not the same person")
        app.unlink_identifier(PROPERTY, "user:w", "shared login")
        app.forget_person(PROPERTY, app.resolve(PROPERTY, "email:e").person_id, "erasure")
        stored = app.recorder.select_notifications(start=0, limit=1000)
        events: list[Any] = [app.mapper.to_domain_event(n) for n in stored]
        kinds = {e.kind for e in events if type(e) is IdentityGraph.Decided}
    finally:
        app.close()

    assert {n.topic for n in stored} == {
        f"{GRAPH_TOPIC}.{name}" for name in ("Started", "RulesConfigured", "Decided")
    }
    assert not [n for n in stored if b"services.identity.resolution" in n.state]
    assert kinds >= {
        "PersonCreated",
        "IdentifiersLinked",
        "MergeRefused",
        "IdentifierMarkedShared",
        "PersonSplit",
        "ObservationIgnored",
        "PersonForgotten",
    }
