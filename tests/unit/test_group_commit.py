"""Group commit: concurrent submissions share one write, and each learns what it stored."""

from __future__ import annotations

import threading

import pytest

from common.group_commit import (
    GroupCommit,
    GroupCommitClosedError,
    GroupCommitFullError,
    GroupCommitTimeoutError,
    GroupWriteError,
)
from common.storage_errors import is_storage_unavailable


class SlowStore:
    """Stores keys; the first write waits until told to go, so others queue up meanwhile."""

    def __init__(self) -> None:
        self.stored: set[str] = set()
        self.writes: list[list[str]] = []
        self.first_write_started = threading.Event()
        self.go = threading.Event()

    def write(self, items: list[str]) -> set[str]:
        if not self.writes:
            self.first_write_started.set()
            self.go.wait(10)
        self.writes.append(items)
        new = {i for i in items if i not in self.stored}
        self.stored |= new
        return new


def submit_in_thread(
    commit: GroupCommit[str, str], items: list[str], results: dict[str, object]
) -> threading.Thread:
    def run() -> None:
        try:
            results[items[0]] = commit.submit(items)
        except Exception as error:  # the test inspects it
            results[items[0]] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def queued_behind_a_slow_write(
    commit: GroupCommit[str, str], store: SlowStore, queued: list[list[str]]
) -> dict[str, object]:
    """Submits ["a"], whose write waits, then `queued` behind it; lets the write go and
    returns each submission's result (keyed by its first item)."""
    results: dict[str, object] = {}
    first = submit_in_thread(commit, ["a"], results)
    store.first_write_started.wait(10)
    waiting = [submit_in_thread(commit, items, results) for items in queued]
    while commit._queue.qsize() < len(queued):
        threading.Event().wait(0.005)
    store.go.set()
    for thread in [first, *waiting]:
        thread.join(10)
    return results


def test_submissions_waiting_together_are_written_in_one_call() -> None:
    store = SlowStore()
    commit: GroupCommit[str, str] = GroupCommit(store.write, key=lambda i: i)
    results = queued_behind_a_slow_write(commit, store, [[f"b{n}", "shared"] for n in range(3)])
    assert store.writes[0] == ["a"]
    assert len(store.writes) == 2
    assert sorted(store.writes[1]) == ["b0", "b1", "b2", "shared"]
    owners = [key for key, result in results.items() if "shared" in result]  # type: ignore[operator]
    assert len(owners) == 1
    assert all(f"b{n}" in results[f"b{n}"] for n in range(3))  # type: ignore[operator]
    commit.close()


def test_an_error_reaches_every_caller_of_the_group() -> None:
    def failing(items: list[str]) -> set[str]:
        raise OSError("disk full")

    commit: GroupCommit[str, str] = GroupCommit(failing, key=lambda i: i)
    with pytest.raises(GroupWriteError) as caught:
        commit.submit(["a"])
    commit.close()
    assert isinstance(caught.value.__cause__, OSError)
    assert str(caught.value.__cause__) == "disk full"


def test_nothing_is_accepted_after_close() -> None:
    commit: GroupCommit[str, str] = GroupCommit(lambda items: set(items), key=lambda i: i)
    assert commit.submit(["a"]) == {"a"}
    commit.close()
    with pytest.raises(GroupCommitClosedError):
        commit.submit(["b"])


def test_each_caller_of_a_failed_group_gets_its_own_error_caused_by_the_stores() -> None:
    store = SlowStore()
    disk_full = OSError("disk full")

    def write(items: list[str]) -> set[str]:
        if store.writes:
            raise disk_full
        return store.write(items)

    commit: GroupCommit[str, str] = GroupCommit(write, key=lambda i: i)
    results = queued_behind_a_slow_write(commit, store, [["b"], ["c"]])
    commit.close()
    errors = [results["b"], results["c"]]
    assert all(isinstance(e, GroupWriteError) and e.__cause__ is disk_full for e in errors)
    assert errors[0] is not errors[1]


def test_a_caller_out_of_time_before_its_write_began_hears_unavailable_and_is_dropped() -> None:
    store = SlowStore()
    commit: GroupCommit[str, str] = GroupCommit(store.write, key=lambda i: i)
    results: dict[str, object] = {}
    first = submit_in_thread(commit, ["a"], results)
    store.first_write_started.wait(10)
    with pytest.raises(GroupCommitTimeoutError) as caught:
        commit.submit(["late"], timeout=0.05)
    store.go.set()
    first.join(10)
    commit.close()
    assert is_storage_unavailable(caught.value)
    assert not caught.value.may_be_written
    assert store.stored == {"a"}


def test_a_caller_out_of_time_during_its_write_hears_its_items_may_still_be_stored() -> None:
    store = SlowStore()
    commit: GroupCommit[str, str] = GroupCommit(store.write, key=lambda i: i)
    with pytest.raises(GroupCommitTimeoutError) as caught:
        commit.submit(["slow"], timeout=0.05)
    store.go.set()
    commit.close()
    assert caught.value.may_be_written
    assert store.stored == {"slow"}


def test_items_over_the_bound_are_refused_at_once_with_a_retry_delay() -> None:
    store = SlowStore()
    commit: GroupCommit[str, str] = GroupCommit(
        store.write, key=lambda i: i, max_queued_items=3, retry_after=0.5
    )
    results: dict[str, object] = {}
    writing = submit_in_thread(commit, ["a", "b"], results)
    store.first_write_started.wait(10)
    waiting = submit_in_thread(commit, ["c"], results)
    while commit._queue.qsize() < 1:
        threading.Event().wait(0.005)
    with pytest.raises(GroupCommitFullError) as caught:
        commit.submit(["d"], timeout=5)
    assert caught.value.retry_after == 0.5
    assert (commit.queued_items, commit.peak_queued_items, commit.refused_items) == (3, 3, 1)
    store.go.set()
    for thread in (writing, waiting):
        thread.join(10)
    assert store.stored == {"a", "b", "c"}
    assert commit.queued_items == 0
    assert commit.submit(["d"]) == {"d"}
    commit.close()


def test_a_submission_larger_than_the_bound_is_taken_when_nothing_else_is_held() -> None:
    commit: GroupCommit[str, str] = GroupCommit(
        lambda items: set(items), key=lambda i: i, max_queued_items=2
    )
    assert commit.submit(["a", "b", "c"]) == {"a", "b", "c"}
    assert commit.peak_queued_items == 3
    commit.close()


def test_items_dropped_after_a_timeout_free_their_room_in_the_queue() -> None:
    store = SlowStore()
    commit: GroupCommit[str, str] = GroupCommit(store.write, key=lambda i: i, max_queued_items=2)
    results: dict[str, object] = {}
    first = submit_in_thread(commit, ["a"], results)
    store.first_write_started.wait(10)
    with pytest.raises(GroupCommitTimeoutError):
        commit.submit(["late"], timeout=0.05)
    assert commit.queued_items == 1
    store.go.set()
    first.join(10)
    commit.close()
    assert commit.queued_items == 0
