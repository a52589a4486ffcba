"""Replicas as processes: one leads each log, a standby takes over within 10 s of the leader's
kill -9 and the reports equal an uninterrupted run; on SQLite a second replica is refused."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from services import launcher
from services.launcher import Addresses, free_loopback_port
from services.sample_data import SampleConfig, batches, generate_sample
from tests.conftest import fresh_postgres_database
from tests.e2e.processes import ServiceCluster, ServiceProcess
from tests.e2e.test_restart import (
    BATCH_SIZE,
    SYNC_TIMEOUT,
    Sent,
    approx_floats,
    attribution_lag,
    fetch_reports,
    reference_run,
    send,
)

pytestmark = pytest.mark.timeout(300)

TAKEOVER_LIMIT_SECONDS = 10.0
UPSTREAMS = ("ingest", "identity")


@pytest.fixture
def reference_database(postgres_admin_url: str) -> Iterator[str]:
    """A database of its own for the uninterrupted reference run."""
    with fresh_postgres_database(postgres_admin_url) as url:
        yield url


def attribution_leaders(url: str) -> dict[str, int]:
    """For each upstream, the process id of the attribution replica holding its lock."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND a.application_name LIKE 'convtrack leader attribution/%'"
        ).fetchall()
    leaders: dict[str, int] = {}
    for (name,) in rows:
        upstream, _, pid = name.removeprefix("convtrack leader attribution/").partition(" pid ")
        assert upstream not in leaders, f"two replicas hold {upstream}: {rows}"
        leaders[upstream] = int(pid)
    return leaders


@pytest.mark.postgres
def test_a_standby_takes_over_within_10s_of_the_leaders_kill_and_reports_match(
    postgres_database: str, reference_database: str, tmp_path: Path
) -> None:
    events = generate_sample(SampleConfig(end=datetime.now(UTC), visitors=200, seed=23))
    chunks = list(batches(events, BATCH_SIZE))
    assert len(chunks) >= 4, f"sample too small: {len(events)} events"
    reference_sent, expected = reference_run(
        {
            "CONVTRACK_DATA_DIR": str(tmp_path / "reference-data"),
            "CONVTRACK_DATABASE_URL": reference_database,
            "CONVTRACK_ALLOW_GENERATED_SECRETS": "1",
        },
        chunks,
    )

    storage_env = {
        "CONVTRACK_DATA_DIR": str(tmp_path / "data"),
        "CONVTRACK_DATABASE_URL": postgres_database,
    }
    sent = Sent()
    with ServiceCluster(storage_env, tmp_path / "logs") as cluster:
        leader = cluster.services["attribution"]
        standby_port = cluster.free_port()
        standby = ServiceProcess(
            "attribution",
            standby_port,
            {**leader.env, "ATTRIBUTION_LISTEN": f"127.0.0.1:{standby_port}"},
            tmp_path / "logs" / "attribution-standby.stderr.log",
        )
        # Reporting reads attribution's log from the replica that survives.
        cluster.services["reporting"].env["ATTRIBUTION_ADDR"] = standby.address
        try:
            cluster.start(["ingest", "identity", "attribution"])
            standby.start()
            standby.wait_ready()  # a standby is ready: it serves what the leader wrote
            cluster.start(["reporting"])

            # One replica leads each upstream: the first one started.
            assert attribution_leaders(postgres_database) == dict.fromkeys(UPSTREAMS, leader.pid)

            # Every batch, sent in the background; kill -9 the leader while it works on them.
            sender = threading.Thread(
                target=send, args=(cluster.addresses.ingest, sent, chunks), daemon=True
            )
            sender.start()
            while attribution_lag(leader.address, cluster.addresses.ingest)[1] < BATCH_SIZE:
                assert sender.is_alive() or sent.accepted, "nothing was sent"
                time.sleep(0.05)
            head, at_kill = attribution_lag(leader.address, cluster.addresses.ingest)
            leader.signal(signal.SIGKILL)
            killed = time.monotonic()
            print(f"SIGKILL with attribution at {at_kill} of {head}")
            assert leader.wait() == -signal.SIGKILL

            # The standby holds both locks within 10 s.
            while attribution_leaders(postgres_database) != dict.fromkeys(UPSTREAMS, standby.pid):
                waited = time.monotonic() - killed
                assert waited < TAKEOVER_LIMIT_SECONDS, (
                    f"no takeover {waited:.1f}s after the kill: "
                    f"{attribution_leaders(postgres_database)}"
                )
                time.sleep(0.1)
            print(f"takeover {time.monotonic() - killed:.1f}s after the kill")

            # The new leader processes everything, from where the old one stopped.
            sender.join(SYNC_TIMEOUT)
            assert not sender.is_alive()
            addresses = Addresses(
                ingest=cluster.addresses.ingest,
                identity=cluster.addresses.identity,
                attribution=standby.address,
                reporting=cluster.addresses.reporting,
            )
            launcher.wait_for_sync(addresses, timeout=SYNC_TIMEOUT)
            head, at_end = attribution_lag(standby.address, cluster.addresses.ingest)
            assert at_end == head > at_kill
            actual = fetch_reports(addresses.reporting)
            assert "leading attribution/ingest" in standby.log_text()
        except BaseException:
            print(standby.log_text())
            raise
        finally:
            standby.kill_leftover()

    assert sorted(sent.accepted) == sorted(reference_sent.accepted)
    assert all(report["rows"] for report in expected.values()), expected
    assert actual == approx_floats(expected)


def test_a_second_replica_on_sqlite_refuses_to_start_naming_the_data_directory(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = {
        "CONVTRACK_DATA_DIR": str(data_dir),
        "IDENTITY_ADDR": f"127.0.0.1:{free_loopback_port()}",  # nobody there: never needed
    }
    with ServiceCluster(env, tmp_path / "logs") as cluster:
        first = cluster.services["ingest"]
        cluster.start(["ingest"])
        second_port = cluster.free_port()
        second = ServiceProcess(
            "ingest",
            second_port,
            {**first.env, "INGEST_LISTEN": f"127.0.0.1:{second_port}"},
            tmp_path / "logs" / "ingest-second.stderr.log",
        )
        second.start()
        try:
            assert second.wait(timeout=60) == 1
        finally:
            second.kill_leftover()
        assert first.returncode is None, "the first replica must keep running"
    refusal = [line for line in second.log_text().splitlines() if "refusing to start" in line]
    assert len(refusal) == 1, second.log_text()
    assert f"pid {first.pid}" in refusal[0]
    assert str(data_dir.resolve()) in refusal[0]
    assert "Traceback" not in second.log_text()
