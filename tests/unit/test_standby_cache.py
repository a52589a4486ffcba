"""A standby replica's cached aggregates follow what the leader writes to the shared store."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from common.eventlog import TrackingApplication
from common.storage import database_for


class Counter(Aggregate):
    """A count that only goes up."""

    def __init__(self) -> None:
        self.count = 0

    @event("Incremented")
    def increment(self) -> None:
        self.count += 1


class Counting(TrackingApplication):
    """An application that caches aggregates and does not fast-forward them, as consumers do."""

    env = {"AGGREGATE_CACHE_MAXSIZE": "100", "AGGREGATE_CACHE_FASTFORWARD": "n"}


def replica(tmp_path: Path) -> Counting:
    return Counting(env=database_for("counting", "", tmp_path).eventsourcing_env())


def incremented(app: Counting, counter_id: UUID) -> None:
    counter = app.repository.get(counter_id)
    assert isinstance(counter, Counter)
    counter.increment()
    app.save(counter)


def count(app: Counting, counter_id: UUID) -> int:
    counter = app.repository.get(counter_id)
    assert isinstance(counter, Counter)
    return counter.count


def test_a_standby_reads_what_the_leader_wrote_after_it_cached_an_aggregate(
    tmp_path: Path,
) -> None:
    leader, standby = replica(tmp_path), replica(tmp_path)
    try:
        counter = Counter()
        leader.save(counter)
        assert count(standby, counter.id) == 0  # now cached by the standby

        standby.stand_by()
        incremented(leader, counter.id)
        incremented(leader, counter.id)

        assert count(standby, counter.id) == 2
    finally:
        leader.close()
        standby.close()


def test_a_standby_assumes_no_id_absent(tmp_path: Path) -> None:
    leader, standby = replica(tmp_path), replica(tmp_path)
    try:
        later = uuid4()
        standby.absent_ids.add(later)  # learnt while it led
        standby.stand_by()
        assert later not in standby.absent_ids
    finally:
        leader.close()
        standby.close()
