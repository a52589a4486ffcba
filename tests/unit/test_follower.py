"""A follower reads its upstream at a gentle pace when the producer answers empty at once,
and several pages ahead while it is behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from common.follower import Follower, ReadAhead, UpstreamEntry


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


class SwitchedLeadership:
    """A leadership the test hands out and takes back."""

    def __init__(self, term: int | None) -> None:
        self.term = term

    def close(self) -> None:
        self.term = None


class RecordingSink(ListSink):
    """A sink that also records when its cached state was discarded, among its pages."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[str] = []

    def discard_cached_state(self) -> None:
        self.history.append("discarded")

    def process_page(
        self, upstream: str, entries: Sequence[UpstreamEntry[str]], after: int | None = None
    ) -> None:
        self.history.append(f"page after {after}")
        super().process_page(upstream, entries, after)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_a_standby_reads_nothing_and_counts_as_caught_up() -> None:
    upstream = ImpatientLog([UpstreamEntry(1, "a")])
    upstream.release.set()
    sink = RecordingSink()
    follower = Follower(upstream, sink, lock=threading.Lock(), leadership=SwitchedLeadership(None))
    follower.start()
    try:
        wait_for(lambda: follower.caught_up_once)
        time.sleep(0.5)
        assert upstream.reads == 0
        assert sink.history == []
        assert not follower.leading
        assert follower.lag is None
    finally:
        follower.stop()


def test_a_takeover_discards_cached_state_before_its_first_page() -> None:
    upstream = ImpatientLog([UpstreamEntry(1, "a"), UpstreamEntry(2, "b")])
    upstream.release.set()
    sink = RecordingSink()
    leadership = SwitchedLeadership(None)
    follower = Follower(
        upstream,
        sink,
        lock=threading.Lock(),
        leadership=leadership,
        on_takeover=sink.discard_cached_state,
    )
    follower.start()
    try:
        time.sleep(0.3)
        leadership.term = 1
        assert sink.caught_up.wait(5)
        # Lost, then won again: another replica may have written meanwhile.
        leadership.term = None
        time.sleep(0.5)
        upstream._entries.append(UpstreamEntry(3, "c"))
        leadership.term = 2
        wait_for(lambda: sink.at == 3)
    finally:
        follower.stop()
    assert sink.history == ["discarded", "page after 0", "discarded", "page after 2"]


class LosingLog(ImpatientLog):
    """An upstream during whose read the replica loses its leadership."""

    def __init__(self, entries: Sequence[UpstreamEntry[str]], leadership: SwitchedLeadership):
        super().__init__(entries)
        self.release.set()
        self._leadership = leadership

    def read(self, after: int, limit: int, max_wait: float) -> list[UpstreamEntry[str]]:
        self._leadership.term = None
        return super().read(after, limit, max_wait)


def test_a_page_read_before_leadership_was_lost_is_not_processed() -> None:
    leadership = SwitchedLeadership(1)
    upstream = LosingLog([UpstreamEntry(1, "a")], leadership)
    sink = RecordingSink()
    follower = Follower(upstream, sink, lock=threading.Lock(), leadership=leadership)
    follower.start()
    try:
        wait_for(lambda: upstream.reads >= 1)
        time.sleep(0.3)
    finally:
        follower.stop()
    assert sink.history == []


class CountedLog:
    """An upstream of entries 1..`size` (gaps at multiples of 7, as PostgreSQL leaves) that
    records each read as (after, limit, max_wait), and may fail the reads it is told to."""

    name = "upstream"

    def __init__(self, size: int) -> None:
        self.entries = [UpstreamEntry(p, f"v{p}") for p in range(1, size + 1) if p % 7]
        self.reads: list[tuple[int, int, float]] = []
        self.failing: set[int] = set()
        self._lock = threading.Lock()

    def read(self, after: int, limit: int, max_wait: float) -> list[UpstreamEntry[str]]:
        with self._lock:
            self.reads.append((after, limit, max_wait))
        if after in self.failing:
            self.failing.discard(after)
            raise ConnectionError("producer restarting")
        return [e for e in self.entries if e.position > after][:limit]

    def head(self) -> int | None:
        return self.entries[-1].position


def test_a_consumer_behind_reads_the_next_page_ahead_in_larger_pages() -> None:
    upstream = CountedLog(5_000)
    log = ReadAhead(upstream, catch_up_page_size=1000)
    sink = ListSink()
    follower = Follower(log, sink, lock=threading.Lock(), page_size=500, max_wait=2.0)
    follower.start()
    try:
        wait_for(lambda: sink.at == upstream.entries[-1].position)
    finally:
        follower.stop()
    # Every entry once, in order.
    assert sink.values == [e.value for e in upstream.entries]
    # The first page as asked; then pages as large as producers serve, read ahead (no wait).
    assert upstream.reads[0] == (0, 500, 2.0)
    assert upstream.reads[1] == (upstream.entries[499].position, 1000, 0.0)
    assert all(limit == 1000 for _, limit, _ in upstream.reads[1:5])


def test_a_consumer_behind_has_several_pages_read_ahead_while_it_processes_one() -> None:
    upstream = CountedLog(7_000)
    log = ReadAhead(upstream, catch_up_page_size=1000, depth=3)
    first = log.read(0, 1000, 2.0)
    # While the consumer works on the first page, three more are read, and no more than that.
    wait_for(lambda: len(upstream.reads) == 4)
    time.sleep(0.2)
    assert len(upstream.reads) == 4
    assert [after for after, _, _ in upstream.reads[1:]] == [
        upstream.entries[i].position for i in (999, 1999, 2999)
    ]
    # Taking a page frees room for the next one; every entry comes once, in order.
    pages = [first]
    while pages[-1]:
        pages.append(log.read(pages[-1][-1].position, 1000, 2.0))
    assert [e for page in pages for e in page] == upstream.entries
    # The last full page was followed by a short one, read ahead; then one read at the head.
    assert upstream.reads[-1] == (upstream.entries[-1].position, 1000, 2.0)


def test_pages_read_ahead_and_never_taken_are_given_up() -> None:
    upstream = CountedLog(5_000)
    log = ReadAhead(upstream, catch_up_page_size=1000, depth=2, idle_seconds=0.2)
    first = log.read(0, 1000, 2.0)
    wait_for(lambda: len(upstream.reads) == 3)
    time.sleep(0.5)
    # The reader gave up (nobody took its pages); the pages it read are still served.
    assert len(upstream.reads) == 3
    second = log.read(first[-1].position, 1000, 2.0)
    third = log.read(second[-1].position, 1000, 2.0)
    assert third == upstream.entries[2000:3000]
    assert len(upstream.reads) == 3
    # Then the caller reads for itself again, still as a consumer behind.
    fourth = log.read(third[-1].position, 500, 2.0)
    assert fourth == upstream.entries[3000:4000]
    assert upstream.reads[3] == (third[-1].position, 1000, 2.0)


def test_at_the_head_pages_are_read_as_asked_with_their_long_poll() -> None:
    upstream = CountedLog(30)
    log = ReadAhead(upstream, catch_up_page_size=1000)
    first = log.read(0, 500, 2.0)
    assert [e.position for e in first] == [e.position for e in upstream.entries]
    again = log.read(first[-1].position, 500, 2.0)
    assert again == []
    # A short page reads nothing ahead: each read is the caller's own, with its wait.
    assert upstream.reads == [(0, 500, 2.0), (30, 500, 2.0)]


def test_a_page_read_ahead_from_elsewhere_or_that_failed_is_read_again() -> None:
    upstream = CountedLog(3_000)
    log = ReadAhead(upstream, catch_up_page_size=1000)
    first = log.read(0, 500, 2.0)
    # The consumer failed its page and reads from the same place again: the page read
    # ahead (after the first page) is dropped, and the read is made now (still behind).
    upstream.failing.add(upstream.entries[999].position)  # the read ahead after it will fail
    again = log.read(0, 500, 2.0)
    assert again[:500] == first
    assert [e.position for e in again] == [e.position for e in upstream.entries[:1000]]
    assert (0, 1000, 2.0) in upstream.reads
    # The read ahead of the next page failed: the caller's read is made again and succeeds.
    following = log.read(again[-1].position, 500, 2.0)
    assert [e.position for e in following] == [e.position for e in upstream.entries[1000:2000]]


class PageCountingSink(ListSink):
    """A ListSink that also keeps the size of each page it was given (one transaction each)."""

    def __init__(self, until: int) -> None:
        super().__init__()
        self.pages: list[int] = []
        self._until = until
        self.done = threading.Event()

    def process_page(
        self, upstream: str, entries: Sequence[UpstreamEntry[str]], after: int | None = None
    ) -> None:
        assert after == self.at
        super().process_page(upstream, entries, after)
        self.pages.append(len(entries))
        if self.at >= self._until:
            self.done.set()


def test_catching_up_processes_several_full_pages_in_one_transaction() -> None:
    upstream = ImpatientLog([UpstreamEntry(n, str(n)) for n in range(1, 2_301)])
    upstream.release.set()
    sink = PageCountingSink(until=2_300)
    follower = Follower(
        upstream, sink, lock=threading.Lock(), page_size=100, max_wait=0.1, catch_up_pages=8
    )
    follower.start()
    try:
        assert sink.done.wait(10)
    finally:
        follower.stop()
    # Full pages of 100 are read on while they come full, up to 8 of them per transaction.
    assert sink.pages == [800, 800, 700]
    assert sink.values == [str(n) for n in range(1, 2_301)]


def test_a_short_page_is_processed_without_reading_on() -> None:
    upstream = ImpatientLog([UpstreamEntry(n, str(n)) for n in range(1, 51)])
    upstream.release.set()
    sink = PageCountingSink(until=50)
    follower = Follower(upstream, sink, lock=threading.Lock(), page_size=100, max_wait=0.1)
    follower.start()
    try:
        assert sink.done.wait(10)
    finally:
        follower.stop()
    assert sink.pages == [50]


class SlowLog(ImpatientLog):
    """An upstream that serves every page after a delay, as a busy producer does."""

    def __init__(self, entries: Sequence[UpstreamEntry[str]], delay: float) -> None:
        super().__init__(entries)
        self.release.set()
        self._delay = delay

    def read(self, after: int, limit: int, max_wait: float) -> list[UpstreamEntry[str]]:
        time.sleep(self._delay)
        return super().read(after, limit, max_wait)


def test_pages_served_slowly_are_committed_without_waiting_for_more() -> None:
    upstream = SlowLog([UpstreamEntry(n, str(n)) for n in range(1, 1_001)], delay=0.1)
    sink = PageCountingSink(until=1_000)
    follower = Follower(
        upstream,
        sink,
        lock=threading.Lock(),
        page_size=100,
        max_wait=0.1,
        catch_up_pages=8,
        catch_up_read_seconds=0.15,
    )
    follower.start()
    try:
        assert sink.done.wait(10)
    finally:
        follower.stop()
    # Full pages are joined only while reading them took less than 0.15 s: at most three
    # (the first, then two more started before the time was up), not eight.
    assert sum(sink.pages) == 1_000
    assert max(sink.pages) <= 300
    assert sink.values == [str(n) for n in range(1, 1_001)]


class HeadCountingLog(ImpatientLog):
    """An upstream that counts how often it is asked for its head."""

    def __init__(self, entries: Sequence[UpstreamEntry[str]]) -> None:
        super().__init__(entries)
        self.heads = 0

    def append(self, entry: UpstreamEntry[str]) -> None:
        self._entries.append(entry)

    @property
    def head_position(self) -> int:
        return self._entries[-1].position

    def head(self) -> int | None:
        self.heads += 1
        return self.head_position


def test_at_the_head_the_lag_is_asked_of_the_upstream_at_most_once_an_interval() -> None:
    upstream = HeadCountingLog([UpstreamEntry(1, "1")])
    upstream.release.set()
    sink = ListSink()
    follower = Follower(
        upstream, sink, lock=threading.Lock(), page_size=100, max_wait=0.1, lag_interval=60.0
    )
    follower.start()
    try:
        wait_for(lambda: sink.at == 1)
        # Short pages one after another, as a producer appending small batches serves them.
        for n in range(2, 12):
            upstream.append(UpstreamEntry(n, str(n)))
            wait_for(lambda: sink.at == upstream.head_position)
    finally:
        follower.stop()
    # Eleven short pages processed, the head asked once (after the first): the lag is known.
    assert upstream.heads == 1
    assert follower.lag == 0
    assert follower.caught_up_once


def test_while_behind_the_lag_is_asked_after_every_full_page() -> None:
    upstream = HeadCountingLog([UpstreamEntry(n, str(n)) for n in range(1, 501)])
    upstream.release.set()
    sink = PageCountingSink(until=500)
    follower = Follower(
        upstream,
        sink,
        lock=threading.Lock(),
        page_size=100,
        max_wait=0.1,
        catch_up_pages=1,
        lag_interval=60.0,
    )
    follower.start()
    try:
        assert sink.done.wait(10)
    finally:
        follower.stop()
    # Five full pages, each followed by a look at the head (the last one found no lag).
    assert sink.pages == [100] * 5
    assert upstream.heads >= 5
    assert follower.lag == 0
