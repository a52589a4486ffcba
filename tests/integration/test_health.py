"""Readiness means something: a consumer is ready once it caught up, a service whose store is
down is not; liveness stays SERVING while the process works."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.channels import open_channel
from common.follower import Follower
from common.health import LIVENESS
from common.server import RunningService
from common.upstream import ingest_log
from services.identity import server as identity_server
from services.identity.upstream import observation_of
from services.ingest import server as ingest_server
from services.launcher import free_loopback_port
from tests.conftest import Storage
from tests.integration.private_postgres import PrivatePostgres
from tests.integration.test_postgres_outage import private_postgres  # noqa: F401 (fixture)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# Generous on a loaded machine; each wait ends as soon as the status is reached.
STATUS_TIMEOUT = 60.0
# How long a status must hold to count as held (readiness re-evaluates twice a second).
HOLD_SECONDS = 3.0


def status_of(address: str, name: str) -> int:
    with grpc.insecure_channel(address) as channel:
        request = health_pb2.HealthCheckRequest(service=name)
        status: int = health_pb2_grpc.HealthStub(channel).Check(request, timeout=5.0).status
        return status


def wait_for_status(address: str, name: str, wanted: int, timeout: float = STATUS_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while (status := status_of(address, name)) != wanted:
        assert time.monotonic() < deadline, f"{name} at {address} still {status}"
        time.sleep(0.2)


def holds(address: str, name: str, wanted: int, seconds: float = HOLD_SECONDS) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if status_of(address, name) != wanted:
            return False
        time.sleep(0.2)
    return True


def start_identity(storage: Storage, ingest_addr: str) -> RunningService:
    return identity_server.start(
        identity_server.IdentitySettings(
            listen="127.0.0.1:0",
            database_url=storage.database_url,
            data_dir=storage.data_dir,
            ingest_addr=ingest_addr,
            matching_interval=timedelta(0),
        )
    )


def start_ingest(storage: Storage, listen: str, identity_addr: str) -> RunningService:
    return ingest_server.start(
        ingest_server.IngestSettings(
            listen=listen,
            database_url=storage.database_url,
            data_dir=storage.data_dir,
            identity_addr=identity_addr,
        )
    )


def test_a_consumer_is_ready_only_once_it_caught_up_and_ingest_and_identity_start_either_way(
    storage: Storage,
) -> None:
    ingest_listen = f"127.0.0.1:{free_loopback_port()}"
    running: list[RunningService] = []
    try:
        # Identity first: its upstream is not up, so it has not caught up: not ready, alive.
        identity = start_identity(storage, ingest_listen)
        running.append(identity)
        identity_addr = f"127.0.0.1:{identity.port}"
        assert holds(identity_addr, identity_server.SERVICE_NAME, NOT_SERVING)
        assert status_of(identity_addr, "") == NOT_SERVING
        assert status_of(identity_addr, LIVENESS) == SERVING

        # Ingest follows identity's log for erasures, yet its readiness waits for no one.
        ingest = start_ingest(storage, ingest_listen, identity_addr)
        running.append(ingest)
        wait_for_status(ingest_listen, ingest_server.SERVICE_NAME, SERVING)
        assert status_of(ingest_listen, LIVENESS) == SERVING
        # With ingest up (and its log empty), identity catches up and becomes ready.
        wait_for_status(identity_addr, identity_server.SERVICE_NAME, SERVING)
        assert status_of(identity_addr, LIVENESS) == SERVING

        # Stopping says NOT_SERVING on every name, liveness too.
        ingest.server.set_stopping()
        assert status_of(ingest_listen, ingest_server.SERVICE_NAME) == NOT_SERVING
        assert status_of(ingest_listen, LIVENESS) == NOT_SERVING
    finally:
        for service in reversed(running):
            service.stop(grace=1.0)


def test_ingest_is_ready_while_identity_is_not_up(storage: Storage) -> None:
    ingest_listen = f"127.0.0.1:{free_loopback_port()}"
    missing_identity = f"127.0.0.1:{free_loopback_port()}"
    ingest = start_ingest(storage, ingest_listen, missing_identity)
    try:
        wait_for_status(ingest_listen, ingest_server.SERVICE_NAME, SERVING)
    finally:
        ingest.stop(grace=1.0)


@pytest.mark.postgres
def test_readiness_follows_the_store_down_and_up_while_liveness_serves(
    private_postgres: PrivatePostgres,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    ingest = ingest_server.start(
        ingest_server.IngestSettings(
            listen="127.0.0.1:0", database_url=private_postgres.url, data_dir=tmp_path
        )
    )
    address = f"127.0.0.1:{ingest.port}"
    try:
        wait_for_status(address, ingest_server.SERVICE_NAME, SERVING)
        private_postgres.stop()
        wait_for_status(address, ingest_server.SERVICE_NAME, NOT_SERVING)
        assert status_of(address, LIVENESS) == SERVING
        private_postgres.start()
        wait_for_status(address, ingest_server.SERVICE_NAME, SERVING)
        assert status_of(address, LIVENESS) == SERVING
    finally:
        ingest.stop(grace=1.0)


def test_an_upstream_not_up_yet_is_logged_as_one_concise_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Sink:
        def position(self, upstream: str) -> int:
            return 0

        def process_page(self, upstream: str, entries: object, after: int | None = None) -> None:
            raise AssertionError("nothing can be read from an upstream that is not up")

    channel = open_channel(f"127.0.0.1:{free_loopback_port()}")
    follower = Follower(ingest_log(channel, observation_of), Sink(), lock=threading.Lock())
    caplog.set_level(logging.INFO, logger="common.follower")
    follower.start()
    try:
        deadline = time.monotonic() + STATUS_TIMEOUT
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        follower.stop()
        channel.close()
    records = [r for r in caplog.records if r.name == "common.follower"]
    assert records
    for record in records:
        message = record.getMessage()
        assert "\n" not in message, message
        assert not record.exc_info
        assert "following ingest failed" in message
        assert "UNAVAILABLE" in message
