"""Every kind of identity decision translates into a typed log entry (no entry can poison the
log that attribution and reporting follow)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from services.identity.domainmodel import IdentityGraph
from services.identity.resolution import (
    Evidence,
    IdentifierMarkedShared,
    IdentifiersLinked,
    MergeRefused,
    ObservationIgnored,
    PersonCreated,
    PersonsMerged,
    PersonSplit,
    ProbabilisticLinkAdded,
)
from services.identity.servicer import log_entry

EVIDENCE = Evidence("record-1", ("anon:a", "user:u"))


def test_every_decision_kind_has_a_log_entry() -> None:
    graph = IdentityGraph(id=uuid4(), property_id="shop")
    decisions = [
        PersonCreated("p1", ("anon:a",), EVIDENCE),
        PersonCreated("p2", ("anon:b",), EVIDENCE),
        IdentifiersLinked("p1", ("user:u",), EVIDENCE, ("anon:a", "user:u")),
        PersonsMerged("p1", "p2", ("anon:b",), EVIDENCE, ("anon:b", "user:u")),
        PersonSplit("p1", (("p3", ("anon:b",)),), EVIDENCE),
        MergeRefused(EVIDENCE, ("p1", "p3"), "split by request", ""),
        MergeRefused(EVIDENCE, ("p1", "p3"), "too many user ids", "anon:b", datetime.now(UTC)),
        IdentifierMarkedShared("anon:b", ("p1", "p3"), EVIDENCE),
        ObservationIgnored("anon:undefined", "blocked value", "record-1"),
        ProbabilisticLinkAdded("anon:a", "user:u", 12.5, (("ip", 7.0), ("ua", 5.5))),
    ]
    for decision in decisions:
        graph.record(decision)
    events = graph.collect_events()[1:]
    kinds = [log_entry(n, e).WhichOneof("event") for n, e in enumerate(events, start=1)]
    assert kinds == [
        "person_created",
        "person_created",
        "identifiers_linked",
        "persons_merged",
        "person_split",
        "merge_refused",
        "merge_refused",
        "identifier_marked_shared",
        None,
        "probabilistic_link_added",
    ]
