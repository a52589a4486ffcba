"""One replica leads each log: advisory locks on PostgreSQL hand over when the holder goes;
on SQLite a second process of a service is refused."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from common.leadership import (
    AdvisoryLockLeadership,
    AnotherReplicaError,
    Election,
    lock_key,
)
from common.storage import database_for

# Standbys try every second; PostgreSQL ends a terminated or closed session at once. This
# bound is generous for a loaded machine and still far below "never".
TAKEOVER_SECONDS = 8.0


def eventually(condition: Callable[[], bool], timeout: float = TAKEOVER_SECONDS) -> float:
    """Seconds until `condition` held; fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"not within {timeout}s"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def leaderships(postgres_database: str) -> Iterator[list[AdvisoryLockLeadership]]:
    """Two replicas' leaderships of the same log, on one database; closed afterwards."""
    started = [
        AdvisoryLockLeadership(postgres_database, "attribution/ingest", check_interval=0.5)
        for _ in range(2)
    ]
    yield started
    for leadership in started:
        leadership.close()


def holder_and_standby(
    leaderships: list[AdvisoryLockLeadership],
) -> tuple[AdvisoryLockLeadership, AdvisoryLockLeadership]:
    leading = [leadership for leadership in leaderships if leadership.term is not None]
    assert len(leading) == 1, f"{len(leading)} replicas lead"
    holder = leading[0]
    return holder, next(leadership for leadership in leaderships if leadership is not holder)


def lock_holders(url: str, key: int) -> list[int]:
    """Backend pids holding the advisory lock `key` (split into two 32-bit halves)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND ((classid::bigint << 32) | objid::bigint) = %s",
            (key & 0xFFFFFFFFFFFFFFFF,),
        ).fetchall()
    return [row[0] for row in rows]


@pytest.mark.postgres
def test_only_one_of_two_replicas_leads_and_it_holds_the_lock(
    leaderships: list[AdvisoryLockLeadership], postgres_database: str
) -> None:
    holder, standby = holder_and_standby(leaderships)
    time.sleep(1.5)  # the standby has tried again meanwhile
    assert standby.term is None
    assert lock_holders(postgres_database, lock_key("attribution/ingest")) == [holder.backend_pid]


@pytest.mark.postgres
def test_closing_the_holder_hands_leadership_over(
    leaderships: list[AdvisoryLockLeadership],
) -> None:
    holder, standby = holder_and_standby(leaderships)
    holder.close()
    eventually(lambda: standby.term is not None)
    assert holder.term is None


@pytest.mark.postgres
def test_a_terminated_holder_connection_hands_over_and_the_old_holder_stands_by(
    leaderships: list[AdvisoryLockLeadership], postgres_database: str
) -> None:
    holder, standby = holder_and_standby(leaderships)
    first_term = holder.term
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (holder.backend_pid,))

    # The old holder notices its check failed and ends its term; exactly one of the two
    # leads afterwards (the standby, or the old holder after reconnecting: whichever asked
    # first), in a new term, and holds the lock.
    eventually(lambda: holder.term != first_term)
    eventually(lambda: (holder.term is None) != (standby.term is None))
    time.sleep(1.5)  # the other one keeps trying, in vain
    assert (holder.term is None) != (standby.term is None)
    leader, other = (holder, standby) if holder.term is not None else (standby, holder)
    assert leader is standby or leader.term != first_term
    assert lock_holders(postgres_database, lock_key("attribution/ingest")) == [leader.backend_pid]

    # When the leader goes in turn, the other one leads.
    leader.close()
    eventually(lambda: other.term is not None)


@pytest.mark.postgres
def test_each_upstream_log_has_its_own_leadership(postgres_database: str) -> None:
    database = database_for("attribution", postgres_database, Path("unused"))
    first, second = Election("attribution", database), Election("attribution", database)
    try:
        ingest, identity = first.leadership("ingest"), first.leadership("identity")
        assert ingest.term is not None and identity.term is not None
        assert second.leadership("ingest").term is None
        assert second.leadership("identity").term is None
    finally:
        first.close()
        second.close()


@pytest.mark.postgres
def test_with_election_off_every_replica_leads(postgres_database: str) -> None:
    database = database_for("attribution", postgres_database, Path("unused"))
    first = Election("attribution", database, enabled=False)
    second = Election("attribution", database, enabled=False)
    try:
        assert first.leadership("ingest").term is not None
        assert second.leadership("ingest").term is not None
    finally:
        first.close()
        second.close()


def test_a_second_sqlite_replica_is_refused_naming_the_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    database = database_for("identity", "", data_dir)
    first = Election("identity", database)
    try:
        with pytest.raises(AnotherReplicaError) as refused:
            Election("identity", database)
        message = str(refused.value)
        assert str(data_dir.resolve()) in message
        assert f"pid {os.getpid()}" in message
        assert "\n" not in message
        # Another service on the same data directory is not refused.
        Election("ingest", database_for("ingest", "", data_dir)).close()
    finally:
        first.close()
    # Once the first has stopped, a new process of the service may start.
    Election("identity", database).close()
