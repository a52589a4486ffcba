"""Shards of a consumer spread over the live replicas: a lone replica holds every shard, a
second one takes half, a dead one's shards move to the survivor, two shard counts never mix."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from common.leadership import AdvisoryLockLeadership, ShardLeases, lock_key, shard_lock_name
from tests.integration.test_leadership import TAKEOVER_SECONDS, eventually

CHECK_SECONDS = 0.3


@pytest.fixture
def replicas(postgres_database: str) -> Iterator[list[ShardLeases]]:
    """Shard leases started by the test, closed afterwards."""
    started: list[ShardLeases] = []
    yield started
    for leases in started:
        leases.close()


def start(url: str, started: list[ShardLeases], shards: int = 2, **kwargs: object) -> ShardLeases:
    leases = ShardLeases(url, "attribution", shards, check_interval=CHECK_SECONDS, **kwargs)  # type: ignore[arg-type]
    started.append(leases)
    return leases


def lock_holders(url: str, key: int) -> list[int]:
    """Backend pids holding the advisory lock `key` in this database (PostgreSQL shows a
    bigint key as its high and low 32 bits, `classid` and `objid`)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid::bigint = %s AND objid::bigint = %s",
            ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
        ).fetchall()
    return [row[0] for row in rows]


def split_evenly(first: ShardLeases, second: ShardLeases) -> bool:
    return len(first.held) == 1 and len(second.held) == 1 and first.held != second.held


@pytest.mark.postgres
def test_a_lone_replica_holds_every_shard_and_a_second_replica_takes_half(
    postgres_database: str, replicas: list[ShardLeases]
) -> None:
    first = start(postgres_database, replicas)
    assert first.held == [0, 1]  # from the constructor's first attempt

    second = start(postgres_database, replicas)
    eventually(lambda: split_evenly(first, second))
    time.sleep(3 * CHECK_SECONDS)  # stable: nobody takes more than ceil(2 / 2)
    assert split_evenly(first, second)
    for leases in (first, second):
        key = lock_key(shard_lock_name("attribution", leases.held[0], 2))
        assert lock_holders(postgres_database, key) == [leases.backend_pid]


@pytest.mark.postgres
def test_a_dead_replicas_shard_moves_to_the_survivor_within_seconds(
    postgres_database: str, replicas: list[ShardLeases]
) -> None:
    first = start(postgres_database, replicas)
    second = start(postgres_database, replicas)
    eventually(lambda: split_evenly(first, second))
    first_terms = {shard: first.term_of(shard) for shard in first.held}

    # The second replica's session dies as a killed process's would.
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (second.backend_pid,))
    second.close()  # it must not come back in this test

    moved = eventually(lambda: first.held == [0, 1], timeout=TAKEOVER_SECONDS)
    print(f"shard moved {moved:.1f}s after its holder's session ended")
    # The shard it kept stays in the same term (its followers need not start over).
    assert all(first.term_of(shard) == term for shard, term in first_terms.items())


@pytest.mark.postgres
def test_a_shard_is_given_back_only_after_its_page_in_flight(
    postgres_database: str, replicas: list[ShardLeases]
) -> None:
    processing = threading.Lock()
    first = start(postgres_database, replicas, guards=[processing])
    assert first.held == [0, 1]
    with processing:  # a page is being written
        second = start(postgres_database, replicas)
        eventually(lambda: len(first.held) == 1)  # the term ends at once...
        time.sleep(3 * CHECK_SECONDS)
        assert second.held == []  # ...but the lock stays until the page is done
    eventually(lambda: split_evenly(first, second))


@pytest.mark.postgres
def test_replicas_of_another_shard_count_take_nothing_while_the_old_ones_hold_shards(
    postgres_database: str, replicas: list[ShardLeases]
) -> None:
    old = start(postgres_database, replicas, shards=2)
    new = start(postgres_database, replicas, shards=3)
    time.sleep(3 * CHECK_SECONDS)
    assert old.held == [0, 1]
    assert new.held == []

    old.close()
    eventually(lambda: new.held == [0, 1, 2])


@pytest.mark.postgres
def test_sharded_replicas_wait_for_the_unsharded_leader_they_replace(
    postgres_database: str, replicas: list[ShardLeases]
) -> None:
    leader = AdvisoryLockLeadership(postgres_database, "attribution/ingest", check_interval=0.3)
    try:
        assert leader.term is not None
        sharded = start(postgres_database, replicas)
        time.sleep(3 * CHECK_SECONDS)
        assert sharded.held == []
    finally:
        leader.close()
    eventually(lambda: sharded.held == [0, 1])
