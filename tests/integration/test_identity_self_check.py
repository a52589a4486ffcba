"""A matching run's check of itself over gRPC, with its verdict stored on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from dataclasses import replace
from datetime import timedelta

import grpc
import pytest

from common.follower import UpstreamEntry
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.application import IdentityApplication
from services.identity.domainmodel import graph_id
from services.identity.server import IdentitySettings, build_application
from services.identity.servicer import IdentityServicer
from tests.conftest import Storage
from tests.unit.test_identity_matching import ListedObservations, _observations

DEADLINE = 120


def _settings(storage: Storage) -> IdentitySettings:
    """The synthetic observations are months old: a window that still holds them."""
    return IdentitySettings(
        database_url=storage.database_url,
        data_dir=storage.data_dir,
        matching_window=timedelta(days=3650),
    )


@pytest.fixture
def served(
    storage: Storage,
) -> Iterator[tuple[IdentityApplication, identity_pb2_grpc.IdentityServiceStub]]:
    observations = _observations(200)
    app = build_application(
        replace(_settings(storage), min_expected_precision=0.9999),
        observations=ListedObservations(observations),
    )
    app.process_page("ingest", [UpstreamEntry(n + 1, o) for n, o in enumerate(observations)])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(
        IdentityServicer(app, lambda: {}), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield app, identity_pb2_grpc.IdentityServiceStub(channel)
    finally:
        channel.close()
        server.stop(None)
        app.close()


def _run(stub: identity_pb2_grpc.IdentityServiceStub) -> identity_pb2.MatchingRun:
    [run] = stub.RunMatching(
        identity_pb2.RunMatchingRequest(property_id="shop"), timeout=DEADLINE
    ).runs
    return run


def test_run_matching_reports_the_check_and_explain_shows_the_latest_verdict(
    served: tuple[IdentityApplication, identity_pb2_grpc.IdentityServiceStub], storage: Storage
) -> None:
    app, stub = served
    refused = _run(stub)
    assert refused.links_proposed > 0 and refused.links_accepted == 0
    assert not refused.check.passed and refused.check.target == 0.9999
    assert refused.check.expected_precision < 0.9999
    assert "below the target 0.9999" in refused.check.reason
    assert refused.check.HasField("held_out_precision")
    assert refused.check.HasField("held_out_recall")

    app.min_expected_precision = 0.95
    accepted = _run(stub)
    assert accepted.check.passed and accepted.check.reason == ""
    assert accepted.check.expected_precision >= 0.95 and accepted.links_accepted > 0

    graph = app.repository.get(graph_id("shop"))
    link = next(iter(graph.state.probabilistic_links.values()))
    explained = stub.ExplainPerson(
        identity_pb2.ExplainPersonRequest(
            property_id="shop", person_id=graph.state.person_by_identifier[link.a]
        ),
        timeout=DEADLINE,
    )
    assert explained.matching_check == accepted.check

    app.min_expected_precision = 0.9999
    again = _run(stub)
    assert not again.check.passed and again.links_removed == 0
    assert again.links_accepted == accepted.links_accepted
    explained = stub.ExplainPerson(
        identity_pb2.ExplainPersonRequest(
            property_id="shop", person_id=graph.state.person_by_identifier[link.a]
        ),
        timeout=DEADLINE,
    )
    assert explained.matching_check == again.check

    reopened = build_application(_settings(storage))
    try:
        stored = reopened.repository.get(graph_id("shop")).matching_check
        assert stored is not None and not stored.passed
        assert stored.expected_precision == again.check.expected_precision
    finally:
        reopened.close()
