"""Readiness from facts: the store answers, each follower caught up once, lag within bounds."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from common.follower import Follower, UpstreamEntry
from common.health import Readiness, max_ready_lag, one_line

WAIT = 30.0


class HundredEntries:
    """An upstream of 100 entries, read in pages."""

    name = "upstream"

    def read(self, after: int, limit: int, max_wait: float) -> list[UpstreamEntry[int]]:
        return [UpstreamEntry(p, p) for p in range(after + 1, min(after + limit, 100) + 1)]

    def head(self) -> int | None:
        return 100


class GatedSink:
    """Processes the first page, then waits for `release` before each further page."""

    def __init__(self) -> None:
        self.at = 0
        self.release = threading.Event()
        self.first_page = threading.Event()

    def position(self, upstream: str) -> int:
        return self.at

    def process_page(
        self, upstream: str, entries: Sequence[UpstreamEntry[int]], after: int | None = None
    ) -> None:
        if self.first_page.is_set():
            self.release.wait(WAIT)
        self.at = entries[-1].position
        self.first_page.set()


class Changes:
    """Records what readiness reported."""

    def __init__(self) -> None:
        self.answers: list[bool] = []
        self.changed = threading.Condition()

    def __call__(self, ready: bool) -> None:
        with self.changed:
            self.answers.append(ready)
            self.changed.notify_all()

    def wait_for(self, ready: bool) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.answers[-1:] == [ready], WAIT)


def fast_readiness(check_store: object, follower: object = None, max_lag: int = 50) -> Readiness:
    return Readiness(
        check_store,  # type: ignore[arg-type]
        [follower] if follower is not None else [],  # type: ignore[list-item]
        max_lag=max_lag,
        store_check_interval=0.05,
        evaluate_interval=0.05,
    )


def test_a_follower_past_the_lag_bound_is_not_ready_until_it_catches_up() -> None:
    sink = GatedSink()
    follower = Follower(HundredEntries(), sink, lock=threading.Lock(), page_size=10)
    readiness = fast_readiness(lambda: None, follower, max_lag=50)
    changes = Changes()
    readiness.start(changes)
    follower.start()
    try:
        assert sink.first_page.wait(WAIT)
        assert changes.answers == [False]
        sink.release.set()
        changes.wait_for(True)
        assert follower.caught_up_once
        assert follower.lag == 0
    finally:
        sink.release.set()
        follower.stop()
        readiness.stop()


def test_lag_beyond_the_bound_after_a_first_catch_up_means_not_ready() -> None:
    class Progress:
        upstream_name = "ingest"
        caught_up_once = True
        lag: int | None = 0

    progress = Progress()
    readiness = fast_readiness(lambda: None, progress, max_lag=50)
    assert readiness.verdict().reason == "store not checked yet"
    readiness.check_store_now()
    assert readiness.verdict().ready
    progress.lag = 50
    assert readiness.verdict().ready
    progress.lag = 51
    assert readiness.verdict().reason == "ingest lag 51 exceeds 50"
    progress.caught_up_once = False
    progress.lag = None
    assert readiness.verdict().reason == "ingest not caught up since start"


def test_a_store_that_fails_or_stops_answering_means_not_ready() -> None:
    failing = threading.Event()

    def check_store() -> None:
        if failing.is_set():
            raise OSError("connection refused\nsecond line")

    readiness = Readiness(check_store, store_stale_after=0.2)
    readiness.check_store_now()
    assert readiness.verdict().ready
    failing.set()
    readiness.check_store_now()
    assert readiness.verdict().reason == "store unreachable: connection refused"
    failing.clear()
    readiness.check_store_now()
    assert readiness.verdict().ready
    time.sleep(0.3)  # no answer since: a hanging check counts as a failure
    assert not readiness.verdict().ready


def test_the_store_is_checked_in_the_background_and_changes_are_reported() -> None:
    failing = threading.Event()

    def check_store() -> None:
        if failing.is_set():
            raise OSError("down")

    readiness = fast_readiness(check_store)
    changes = Changes()
    readiness.start(changes)
    try:
        assert changes.answers == [True]
        failing.set()
        changes.wait_for(False)
        failing.clear()
        changes.wait_for(True)
    finally:
        readiness.stop()


def test_max_ready_lag_is_read_per_service_with_a_default() -> None:
    assert max_ready_lag({}, "identity") == 10_000
    assert max_ready_lag({"IDENTITY_MAX_READY_LAG": "25"}, "identity") == 25


def test_errors_are_described_on_one_line() -> None:
    assert one_line(ValueError("first\n\tsecond")) == "first"
    assert one_line(ValueError()) == "ValueError"
