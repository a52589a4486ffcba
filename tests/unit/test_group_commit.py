"""Group commit: concurrent submissions share one write, and each learns what it stored."""

from __future__ import annotations

import threading

import pytest

from common.group_commit import GroupCommit, GroupCommitClosedError


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


def test_submissions_waiting_together_are_written_in_one_call() -> None:
    store = SlowStore()
    commit: GroupCommit[str, str] = GroupCommit(store.write, key=lambda i: i)
    results: dict[str, object] = {}
    first = submit_in_thread(commit, ["a"], results)
    store.first_write_started.wait(10)
    waiting = [submit_in_thread(commit, [f"b{n}", "shared"], results) for n in range(3)]
    while commit._queue.qsize() < 3:
        threading.Event().wait(0.005)
    store.go.set()
    for thread in [first, *waiting]:
        thread.join(10)
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
    with pytest.raises(OSError, match="disk full"):
        commit.submit(["a"])
    commit.close()


def test_nothing_is_accepted_after_close() -> None:
    commit: GroupCommit[str, str] = GroupCommit(lambda items: set(items), key=lambda i: i)
    assert commit.submit(["a"]) == {"a"}
    commit.close()
    with pytest.raises(GroupCommitClosedError):
        commit.submit(["b"])
