"""A follower reads its upstream at a gentle pace when the producer answers empty at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from common.follower import Follower, UpstreamEntry


class ImpatientLog:
    """An upstream that answers every read at once, as a producer with no wait slot free
    does; it holds `entries` back until `release` is set."""

    name = "upstream"

    def __init__(self, entries: Sequence[UpstreamEntry[str]] = ()) -> None:
        self.reads = 0
        self.release = threading.Event()
        self._entries = list(entries)

    def read(self, after: int, limit: int, max_wait: float) -> list[UpstreamEntry[str]]:
        self.reads += 1
        if not self.release.is_set():
            return []
        return [e for e in self._entries if e.position > after][:limit]

    def head(self) -> int | None:
        return None


class ListSink:
    """Keeps what it is given, and the position of the last entry."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self.at = 0
        self.caught_up = threading.Event()

    def position(self, upstream: str) -> int:
        return self.at

    def process_page(
        self, upstream: str, entries: Sequence[UpstreamEntry[str]], after: int | None = None
    ) -> None:
        self.values.extend(e.value for e in entries)
        self.at = entries[-1].position
        self.caught_up.set()


def test_empty_answers_given_at_once_are_not_polled_in_a_busy_loop() -> None:
    upstream = ImpatientLog()
    follower = Follower(upstream, ListSink(), lock=threading.Lock(), max_wait=2.0)
    follower.start()
    time.sleep(1.2)
    follower.stop()
    # About two reads a second, never a loop (before: tens of thousands).
    assert 1 <= upstream.reads <= 5


def test_entries_that_arrive_after_empty_answers_are_processed() -> None:
    upstream = ImpatientLog([UpstreamEntry(1, "a"), UpstreamEntry(3, "b")])
    sink = ListSink()
    follower = Follower(upstream, sink, lock=threading.Lock(), max_wait=2.0)
    follower.start()
    try:
        time.sleep(0.3)
        upstream.release.set()
        assert sink.caught_up.wait(5)
    finally:
        follower.stop()
    assert sink.values == ["a", "b"]
    assert sink.at == 3
