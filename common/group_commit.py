"""Group commit: concurrent writers' items combined into one write by a single writer thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from common.storage_errors import StorageUnavailableError

K = TypeVar("K", bound=Hashable)
E = TypeVar("E")


class GroupCommitClosedError(RuntimeError):
    """The group commit was closed; nothing more can be written through it."""


class GroupWriteError(Exception):
    """The write of the caller's group failed; the store's error is the cause."""


class GroupCommitFullError(RuntimeError):
    """The queue holds as many items as it may: the caller's items were refused, not queued.

    `retry_after` is how long the caller should wait before it offers them again.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GroupCommitTimeoutError(StorageUnavailableError, TimeoutError):
    """The caller's items were not written in the time it could wait.

    `may_be_written` says whether the writer had already taken them (their write may still
    commit) or not (they were dropped and will not be written).
    """

    def __init__(self, message: str, *, may_be_written: bool) -> None:
        super().__init__(message)
        self.may_be_written = may_be_written


@dataclass
class _Submission(Generic[K, E]):
    items: Sequence[E]
    done: threading.Event = field(default_factory=threading.Event)
    written: set[K] = field(default_factory=set)
    error: BaseException | None = None
    taken: bool = False
    abandoned: bool = False


class GroupCommit(Generic[K, E]):
    """Writes what concurrent callers submit in as few transactions as possible.

    One writer thread takes the first waiting submission and every other one already queued
    (up to `max_items`), and writes them all with one call of `write`, which returns the keys
    it newly stored. Each caller gets back the keys of its own items that were stored; when two
    concurrent submissions carry the same key, the earlier one owns it (the later one sees a
    duplicate). `submit` returns only after the write has committed, so acknowledged means
    durable. Throughput comes from batching under load, not from more writers (design.md).
    A caller may bound its wait (`timeout`), so that it can answer before its own deadline
    even when the store hangs.

    Memory is bounded: at most `max_queued_items` items are held at once (waiting or being
    written); a submission that would go over is refused at once with GroupCommitFullError,
    so that callers back off instead of queueing without bound (a submission larger than the
    bound is taken only when nothing else is held). `queued_items` and
    `peak_queued_items` count what is held; `refused_items` counts what was turned away.
    """

    def __init__(
        self,
        write: Callable[[list[E]], set[K]],
        key: Callable[[E], K],
        *,
        max_items: int = 10_000,
        max_queued_items: int | None = None,
        retry_after: float = 1.0,
        name: str = "group-commit",
    ) -> None:
        if max_queued_items is not None and max_queued_items < 1:
            raise ValueError("max_queued_items must be at least 1")
        self._write = write
        self._key = key
        self._max_items = max_items
        self._name = name
        self.max_queued_items = max_queued_items
        self._retry_after = retry_after
        self._held_lock = threading.Lock()
        self.queued_items = 0
        self.peak_queued_items = 0
        self.refused_items = 0
        self._queue: queue.Queue[_Submission[K, E] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._take_lock = threading.Lock()
        self._closed = False

    def submit(self, items: Sequence[E], timeout: float | None = None) -> set[K]:
        """Writes the items (with whatever else is waiting); returns the keys this call stored.

        Raises GroupCommitFullError at once when the items do not fit in the queue,
        GroupWriteError (caused by the store's error) when the write failed, and
        GroupCommitTimeoutError when it has not finished within `timeout` seconds.
        """
        if not items:
            return set()
        submission: _Submission[K, E] = _Submission(items)
        with self._start_lock:
            if self._closed:
                raise GroupCommitClosedError(f"{self._name} is closed")
            self._hold(len(items))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._queue.put(submission)
        if not submission.done.wait(timeout):
            with self._take_lock:
                submission.abandoned = not submission.taken
            if submission.abandoned:
                self._release(len(items))
            raise GroupCommitTimeoutError(
                f"{self._name}: not written within {timeout:.1f}s",
                may_be_written=not submission.abandoned,
            )
        if submission.error is not None:
            raise GroupWriteError(f"{self._name}: the write failed") from submission.error
        return submission.written

    def has_room(self, count: int) -> bool:
        """Whether `count` more items would fit in the queue now (a hint: `submit` decides)."""
        if self.max_queued_items is None:
            return True
        with self._held_lock:
            return self.queued_items == 0 or self.queued_items + count <= self.max_queued_items

    def refuse(self, count: int) -> GroupCommitFullError:
        """The error for `count` items that do not fit, counted as refused."""
        with self._held_lock:
            self.refused_items += count
            held = self.queued_items
        return GroupCommitFullError(
            f"{self._name}: {held} items are waiting to be written, at most "
            f"{self.max_queued_items} may be; {count} more were refused",
            retry_after=self._retry_after,
        )

    def _hold(self, count: int) -> None:
        with self._held_lock:
            fits = (
                self.max_queued_items is None
                or self.queued_items == 0
                or self.queued_items + count <= self.max_queued_items
            )
            if fits:
                self.queued_items += count
                self.peak_queued_items = max(self.peak_queued_items, self.queued_items)
        if not fits:
            raise self.refuse(count)

    def _release(self, count: int) -> None:
        with self._held_lock:
            self.queued_items -= count

    def close(self, timeout: float = 10.0) -> None:
        """Writes what is queued, then stops the writer thread."""
        with self._start_lock:
            self._closed = True
            thread = self._thread
            self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            count = len(first.items)
            stopping = False
            while count < self._max_items:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                group.append(more)
                count += len(more.items)
            self._write_group(group)
            if stopping:
                return

    def _write_group(self, submissions: list[_Submission[K, E]]) -> None:
        with self._take_lock:
            group = [s for s in submissions if not s.abandoned]
            for submission in group:
                submission.taken = True
        if not group:
            return
        owners: dict[K, _Submission[K, E]] = {}
        items: list[E] = []
        for submission in group:
            for item in submission.items:
                item_key = self._key(item)
                if item_key not in owners:
                    owners[item_key] = submission
                    items.append(item)
        try:
            written = self._write(items)
            for item_key in written:
                owners[item_key].written.add(item_key)
        except BaseException as error:  # every waiting caller must hear about it
            for submission in group:
                submission.error = error
        finally:
            self._release(sum(len(s.items) for s in group))
            for submission in group:
                submission.done.set()
