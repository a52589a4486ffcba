"""Attribution and reporting sharded by property over replicas (processes on PostgreSQL): a
single-shard deployment moves to 2 shards without reprocessing, 2 replicas split the shards,
a killed replica's shard moves to the survivor within 10 s, and the reports equal a run of
one uninterrupted replica."""

from __future__ import annotations

import secrets
import signal
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import grpc
import psycopg
import pytest

from common.leadership import lock_key, shard_lock_name
from common.shards import shard_of
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2
from services import launcher
from services.launcher import Addresses
from services.sample_data import SampleConfig, batches, generate_sample
from tests.e2e.processes import ServiceCluster, ServiceProcess
from tests.e2e.test_restart import (
    BATCH_SIZE,
    CALL_TIMEOUT,
    SYNC_TIMEOUT,
    Report,
    Sent,
    approx_floats,
    attribution_lag,
    fetch_reports,
    send,
)

pytestmark = pytest.mark.timeout(600)

PROPERTIES = ("demo-shop", "other-shop")
SHARDS = 2
TAKEOVER_LIMIT_SECONDS = 10.0
SETTINGS_CHANGED = "services.attribution.domainmodel:PropertyAttributionSettings.Changed"
START_TIMEOUT = 120.0  # seven processes start on a shared 2-core machine


def two_properties_traffic() -> list[list[ingest_pb2.Event]]:
    """Batches of two properties' seeded traffic, one property's batch after the other's."""
    end = datetime.now(UTC)
    per_property = [
        list(
            batches(
                generate_sample(SampleConfig(end=end, visitors=120, seed=31, property_id=p)),
                BATCH_SIZE,
            )
        )
        for p in PROPERTIES
    ]
    chunks: list[list[ingest_pb2.Event]] = []
    for index in range(max(len(c) for c in per_property)):
        chunks.extend(c[index] for c in per_property if index < len(c))
    return chunks


def all_reports(address: str) -> dict[str, dict[tuple[str, str], Report]]:
    """The compared reports of every property."""
    return {p: fetch_reports(address, property_id=p) for p in PROPERTIES}


def shard_holders(url: str, service: str) -> dict[int, int]:
    """For each shard of `service`, the process id of the replica holding its lock."""
    keys = {
        lock_key(shard_lock_name(service, k, SHARDS)) & 0xFFFFFFFFFFFFFFFF: k for k in range(SHARDS)
    }
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT a.application_name, l.classid::bigint, l.objid::bigint"
            " FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND a.application_name LIKE %s",
            (f"convtrack shards {service} {SHARDS} pid %",),
        ).fetchall()
    holders: dict[int, int] = {}
    for name, high, low in rows:
        key = (int(high) << 32) | int(low)
        if key in keys:
            assert keys[key] not in holders, f"two replicas hold a shard: {rows}"
            holders[keys[key]] = int(str(name).rsplit(" pid ", 1)[1])
    return holders


def attribution_head(address: str) -> int:
    """The newest position of attribution's log."""
    with grpc.insecure_channel(address) as channel:
        return (
            attribution_pb2_grpc.AttributionServiceStub(channel)
            .GetLogHead(attribution_pb2.GetLogHeadRequest(), timeout=CALL_TIMEOUT)
            .position
        )


def topics_after(url: str, position: int) -> list[str]:
    """The topics of the events in attribution's store after `position`."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT topic FROM attribution.attribution_events WHERE notification_id > %s",
            (position,),
        ).fetchall()
    return [str(row[0]) for row in rows]


def eventually(condition: object, what: str, timeout: float) -> float:
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        waited = time.monotonic() - started
        assert waited < timeout, f"{what}: not within {timeout:.0f}s"
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.mark.postgres
def test_one_shard_moves_to_two_replicas_that_split_the_properties_and_survive_a_kill(
    postgres_database: str, tmp_path: Path
) -> None:
    assert sorted(shard_of(p, SHARDS) for p in PROPERTIES) == [0, 1], "properties share a shard"
    chunks = two_properties_traffic()
    third = len(chunks) // 3
    assert third >= 2, f"sample too small: {len(chunks)} batches"

    # The reference: every batch through one uninterrupted single-shard process.
    reference_sent = Sent()
    running, reference = launcher.start_all(
        {"CONVTRACK_DATA_DIR": str(tmp_path / "reference-data")}, any_port=True
    )
    try:
        send(reference.ingest, reference_sent, chunks)
        launcher.wait_for_sync(reference, timeout=SYNC_TIMEOUT)
        expected = all_reports(reference.reporting)
    finally:
        launcher.stop_all(running)
    assert all(r["rows"] for reports in expected.values() for r in reports.values()), expected

    storage_env = {
        "CONVTRACK_DATA_DIR": str(tmp_path / "data"),
        "CONVTRACK_DATABASE_URL": postgres_database,
        # One secret for every ingest replica (generated ones would differ per replica).
        "INGEST_VAULT_SECRET": secrets.token_hex(32),
    }
    sent = Sent()
    with ServiceCluster(storage_env, tmp_path / "logs") as cluster:
        extra: list[ServiceProcess] = []
        try:
            # A first third with one shard (today's single leader).
            cluster.start(timeout=START_TIMEOUT)
            send(cluster.addresses.ingest, sent, chunks[:third])
            launcher.wait_for_sync(cluster.addresses, timeout=SYNC_TIMEOUT)
            single_at = attribution_lag(cluster.addresses.attribution, cluster.addresses.ingest)[1]
            written = attribution_head(cluster.addresses.attribution)
            assert cluster.stop(["reporting", "attribution"]) == {"reporting": 0, "attribution": 0}

            # The upgrade: two replicas of attribution and of reporting with 2 shards each.
            # Reporting reads attribution's log from the replica that survives.
            doomed = cluster.services["attribution"]
            doomed.env["ATTRIBUTION_SHARDS"] = str(SHARDS)
            # The tables exist: replicas that start together run no DDL (two at once can fail
            # with "tuple concurrently updated"), as after `convtrack migrate` in a deployment.
            for process in (doomed, cluster.services["reporting"]):
                process.env["CONVTRACK_CREATE_TABLES"] = "n"
            survivor = replica_of(cluster, doomed, "ATTRIBUTION", tmp_path, extra)
            for reporting in (cluster.services["reporting"],):
                reporting.env["REPORTING_SHARDS"] = str(SHARDS)
                reporting.env["ATTRIBUTION_ADDR"] = survivor.address
            second_reporting = replica_of(
                cluster, cluster.services["reporting"], "REPORTING", tmp_path, extra
            )
            for process in (doomed, survivor, cluster.services["reporting"], second_reporting):
                process.start()
            for process in (doomed, survivor, cluster.services["reporting"], second_reporting):
                process.wait_ready(START_TIMEOUT)

            # Each replica holds one shard (the work spreads within a few seconds).
            for service, pair in (
                ("attribution", (doomed, survivor)),
                ("reporting", (cluster.services["reporting"], second_reporting)),
            ):
                eventually(
                    lambda s=service, p=pair: (
                        sorted(shard_holders(postgres_database, s).values())
                        == sorted(r.pid for r in p)
                    ),
                    f"{service}'s shards split over its replicas",
                    timeout=15,
                )
            # Every shard starts where the single leader stopped: caught up at once, with
            # nothing written but the environment's settings each start records (from
            # position 0, every touchpoint would be added to its visitor again).
            launcher.wait_for_sync(
                replace(
                    cluster.addresses,
                    attribution=survivor.address,
                    reporting=second_reporting.address,
                ),
                timeout=SYNC_TIMEOUT,
            )
            assert set(topics_after(postgres_database, written)) <= {SETTINGS_CHANGED}
            doomed_shard = next(
                k
                for k, pid in shard_holders(postgres_database, "attribution").items()
                if pid == doomed.pid
            )

            # The rest, in the background; kill -9 one attribution replica while it works.
            sender = threading.Thread(
                target=send, args=(cluster.addresses.ingest, sent, chunks[third:]), daemon=True
            )
            sender.start()
            while (
                attribution_lag(survivor.address, cluster.addresses.ingest)[1]
                < single_at + BATCH_SIZE
            ):
                assert sender.is_alive() or len(sent.accepted) > 0
                time.sleep(0.05)
            doomed.signal(signal.SIGKILL)
            killed = time.monotonic()
            assert doomed.wait() == -signal.SIGKILL
            moved = eventually(
                lambda: (
                    shard_holders(postgres_database, "attribution").get(doomed_shard)
                    == survivor.pid
                ),
                f"shard {doomed_shard} moved to the survivor after the kill",
                timeout=TAKEOVER_LIMIT_SECONDS - (time.monotonic() - killed),
            )
            after_kill = time.monotonic() - killed
            print(
                f"shard {doomed_shard} moved {after_kill:.1f}s after the kill ({moved:.1f}s waited)"
            )

            sender.join(SYNC_TIMEOUT)
            assert not sender.is_alive()
            addresses = Addresses(
                ingest=cluster.addresses.ingest,
                identity=cluster.addresses.identity,
                attribution=survivor.address,
                reporting=cluster.addresses.reporting,
            )
            launcher.wait_for_sync(addresses, timeout=SYNC_TIMEOUT)
            launcher.wait_for_sync(
                replace(addresses, reporting=second_reporting.address), timeout=SYNC_TIMEOUT
            )
            actual = all_reports(addresses.reporting)
            actual_second = all_reports(second_reporting.address)

        finally:
            for process in extra:
                process.kill_leftover()

    assert sorted(sent.accepted) == sorted(reference_sent.accepted)
    assert actual == approx_floats(expected)
    assert actual_second == approx_floats(expected)


def replica_of(
    cluster: ServiceCluster,
    process: ServiceProcess,
    prefix: str,
    tmp_path: Path,
    started: list[ServiceProcess],
) -> ServiceProcess:
    """Another replica of a service process, on a port of its own."""
    port = cluster.free_port()
    replica = ServiceProcess(
        process.name,
        port,
        {**process.env, f"{prefix}_LISTEN": f"127.0.0.1:{port}"},
        tmp_path / "logs" / f"{process.name}-replica.stderr.log",
    )
    started.append(replica)
    return replica
