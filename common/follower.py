"""Following another service's log: pull a page, process it, record the position, repeat."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from opentelemetry.metrics import Meter
from opentelemetry.trace import Tracer

from common.health import one_line
from common.leadership import Leadership, SoleLeadership
from common.telemetry import links_to

T = TypeVar("T")

logger = logging.getLogger(__name__)

PERSISTENT_FAILURE_SECONDS = 5.0
# After an empty page, the next read starts no sooner than this after the last one started:
# a producer with all its wait slots taken answers at once, and must not be polled in a loop.
EMPTY_READ_INTERVAL_SECONDS = 0.5
# How often a standby looks whether it leads now (its leadership takes the lock in the background).
STANDBY_INTERVAL_SECONDS = 0.2
STANDBY_CALLBACK_INTERVAL_SECONDS = 1.0
# A page as large as producers serve (their LOG_PAGE_MAX), asked for while pages come back full.
CATCH_UP_PAGE_SIZE = 1000
# While catching up (a full page read), further pages are read at once and processed with it
# in one transaction, up to this many pages: commits cost as much as a page's rows.
CATCH_UP_PAGES = 8
# ... and only while reading them has taken less than this since the first page came: when
# the producer serves pages slowly, the entries already read are committed (and visible)
# instead of waiting for more pages.
CATCH_UP_READ_SECONDS = 0.25
# How often the follower asks the upstream for its head (a call to the producer) to learn
# its lag: not after every page, where the call would delay the next read.
LAG_INTERVAL_SECONDS = 1.0
# Pages read ahead while catching up: as many as a catch-up transaction joins, so the producer
# serves the next transaction's pages while the consumer processes this one.
READ_AHEAD_PAGES = CATCH_UP_PAGES
# Pages read ahead and not taken for this long are dropped (the consumer stopped or moved on).
READ_AHEAD_IDLE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class UpstreamEntry(Generic[T]):
    """One entry read from an upstream log, translated to a plain value; `trace_parent` is
    the W3C traceparent of the work that wrote it, and `recorded_at` when the producer
    recorded (or received) it, when known."""

    position: int
    value: T
    trace_parent: str = ""
    recorded_at: datetime | None = None


class UpstreamLog(Protocol[T]):
    """A log to follow: usually another service's log read over gRPC."""

    name: str

    def read(self, after: int, limit: int, max_wait: float) -> Sequence[UpstreamEntry[T]]:
        """Returns entries after `after` in log order, waiting up to `max_wait` for new ones."""
        ...

    def head(self) -> int | None:
        """The log's newest position, or None when unknown."""
        ...


class ReadAhead(Generic[T]):
    """An upstream log read ahead, several pages deep, while the consumer is behind.

    After a full page (the consumer is catching up) a background thread reads the following
    pages one after another, `catch_up_page_size` entries each, and keeps up to `depth` of
    them waiting, so the producer serves (and this process parses) pages while the consumer
    processes earlier ones; it stops at a short page (the head), at a failed read, or when
    its pages wait unclaimed for `idle_seconds`. A read whose `after` is not where the next
    page read ahead starts (a failed page is read again) discards them. Pages are immutable
    prefixes of the log, so a page read ahead is what a read now would return, or a prefix
    of it. At the head (short pages) it reads exactly as the wrapped log does: long polls
    are unchanged.
    """

    def __init__(
        self,
        upstream: UpstreamLog[T],
        catch_up_page_size: int = CATCH_UP_PAGE_SIZE,
        depth: int = READ_AHEAD_PAGES,
        idle_seconds: float = READ_AHEAD_IDLE_SECONDS,
    ):
        self.name = upstream.name
        self._upstream = upstream
        self._catch_up_page_size = catch_up_page_size
        self._depth = max(1, depth)
        self._idle_seconds = idle_seconds
        self._ahead: _PagesReadAhead[T] | None = None
        self._behind = False

    def read(self, after: int, limit: int, max_wait: float) -> Sequence[UpstreamEntry[T]]:
        """The entries after `after`: the next page read ahead when it starts there, else
        read now."""
        ahead = self._ahead
        if ahead is not None:
            entries = ahead.take(after)
            if entries:
                if ahead.finished():
                    self._ahead = None
                return entries
            ahead.stop()
            self._ahead = None
        # None read ahead, or the head was reached: wait for news as asked.
        size = max(limit, self._catch_up_page_size) if self._behind else limit
        entries = self._upstream.read(after, size, max_wait)
        self._behind = bool(entries) and len(entries) >= size
        if self._behind:
            self._ahead = _PagesReadAhead(
                self._upstream,
                entries[-1].position,
                max(limit, self._catch_up_page_size),
                self._depth,
                self._idle_seconds,
            )
        return entries

    def head(self) -> int | None:
        """The upstream log's newest position, when known."""
        return self._upstream.head()


class _PagesReadAhead(Generic[T]):
    """Pages read one after another in a background thread, from `after` on, up to `depth`
    of them waiting to be taken."""

    def __init__(
        self, upstream: UpstreamLog[T], after: int, limit: int, depth: int, idle_seconds: float
    ) -> None:
        self._upstream = upstream
        self._limit = limit
        self._depth = depth
        self._idle_seconds = idle_seconds
        self._pages: deque[tuple[int, Sequence[UpstreamEntry[T]]]] = deque()
        self._changed = threading.Condition()
        self._ended = False  # no more pages will come: a short page, a failure, or stopped
        self._thread = threading.Thread(
            target=self._read, args=(after,), name=f"read-ahead-{upstream.name}", daemon=True
        )
        self._thread.start()

    def _read(self, after: int) -> None:
        try:
            while True:
                with self._changed:
                    if not self._changed.wait_for(
                        lambda: self._ended or len(self._pages) < self._depth,
                        self._idle_seconds,
                    ):
                        return  # nobody took the pages: the consumer stopped or moved on
                    if self._ended:
                        return
                entries = self._upstream.read(after, self._limit, 0.0)
                with self._changed:
                    if self._ended:
                        return
                    self._pages.append((after, entries))
                    self._changed.notify_all()
                if len(entries) < self._limit:
                    return
                after = entries[-1].position
        except Exception as error:  # the caller reads again, and sees the error itself
            logger.debug("reading %s ahead failed: %s", self._upstream.name, one_line(error))
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def take(self, after: int) -> Sequence[UpstreamEntry[T]] | None:
        """The next page, waiting for it, if it starts at `after`; None when it starts
        elsewhere or none will come (the head was reached before it, or a read failed)."""
        with self._changed:
            self._changed.wait_for(lambda: bool(self._pages) or self._ended)
            if not self._pages or self._pages[0][0] != after:
                return None
            _, entries = self._pages.popleft()
            self._changed.notify_all()
            return entries

    def finished(self) -> bool:
        """Whether every page it will read has been taken."""
        with self._changed:
            return self._ended and not self._pages

    def stop(self) -> None:
        """Reads no further; pages not taken are dropped."""
        with self._changed:
            self._ended = True
            self._pages.clear()
            self._changed.notify_all()


class PageSink(Protocol[T]):
    """What consumes a log: it processes a page and records the position in one transaction."""

    def position(self, upstream: str) -> int:
        """The last position of `upstream` that has been processed."""
        ...

    def process_page(
        self, upstream: str, entries: Sequence[UpstreamEntry[T]], after: int | None = None
    ) -> None:
        """Processes the entries and records the last one's position atomically.

        `after` is the position the page was read after; a sink that another process can
        reset (a rebuilt view) checks it in the same transaction.
        """
        ...


class Follower(Generic[T]):
    """A background thread that follows one upstream log into a sink.

    Processing is exactly-once in effect: the sink records the position in the same
    transaction as its writes, and the follower always restarts from the recorded position.
    Errors are logged and retried with backoff; the page is read again from the store.
    An empty page answered early (the producer had no wait slot free) is followed by a short
    pause, not by another read at once. `caught_up_once` and `lag` are the facts readiness
    reads: whether it reached the upstream's head since it started, and how far behind it is.

    It follows only while `leadership` has a term (default: always). A standby reads nothing
    and counts as caught up: the leader keeps the shared store current, so a standby's
    answers are as fresh as the leader's. A page read in one term is processed only if the
    term still holds when its transaction starts, and `on_takeover` (which discards cached
    aggregates) runs under the lock before the first page of each new term, and `on_lost`
    under the lock when a term ends (a shard moved to another replica). `on_standby` runs
    about once a second while standing by, for caches the leader's writes make stale
    (ingest's vault keys of forgotten persons).
    """

    def __init__(
        self,
        upstream: UpstreamLog[T],
        sink: PageSink[T],
        *,
        lock: threading.Lock,
        page_size: int = 500,
        max_wait: float = 2.0,
        catch_up_pages: int = CATCH_UP_PAGES,
        catch_up_read_seconds: float = CATCH_UP_READ_SECONDS,
        lag_interval: float = LAG_INTERVAL_SECONDS,
        tracer: Tracer | None = None,
        meter: Meter | None = None,
        leadership: Leadership | None = None,
        on_takeover: Callable[[], None] | None = None,
        on_standby: Callable[[], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self._upstream = upstream
        self._leadership: Leadership = leadership or SoleLeadership()
        self._on_takeover = on_takeover
        self._on_lost = on_lost
        self._on_standby = on_standby
        self._standby_called_at: float | None = None
        self._term: int | None = None
        self._standing_by = False
        self._sink = sink
        self._lock = lock
        self._page_size = page_size
        self._max_wait = max_wait
        self._catch_up_pages = max(1, catch_up_pages)
        self._catch_up_read_seconds = catch_up_read_seconds
        self._lag_interval = lag_interval
        self._lag_asked_at: float | None = None
        self._tracer = tracer
        self._processed = (
            meter.create_counter(
                "convtrack.consumer.entries",
                unit="{entry}",
                description="upstream log entries processed, by upstream",
            )
            if meter is not None
            else None
        )
        self._lag = (
            meter.create_gauge(
                "convtrack.consumer.lag",
                unit="{entry}",
                description="upstream positions not processed yet, by upstream",
            )
            if meter is not None
            else None
        )
        self._caught_up_once = False
        self._last_lag: int | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"follow-{upstream.name}", daemon=True
        )

    @property
    def upstream_name(self) -> str:
        """The followed log's name."""
        return self._upstream.name

    @property
    def caught_up_once(self) -> bool:
        """Whether it read an empty page or reached the upstream's head since it started."""
        return self._caught_up_once

    @property
    def lag(self) -> int | None:
        """Upstream entries not processed yet, as last seen (None before the first read)."""
        return self._last_lag

    @property
    def leading(self) -> bool:
        """Whether this replica follows the upstream now (not a standby)."""
        return self._leadership.term is not None

    def is_alive(self) -> bool:
        """Whether its thread runs."""
        return self._thread.is_alive()

    def start(self) -> None:
        """Starts following in the background."""
        self._thread.start()

    def request_stop(self) -> None:
        """Asks the thread to stop after its current page."""
        self._stopping.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Asks the thread to stop after its current page and waits for it."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _process(self, after: int, entries: Sequence[UpstreamEntry[T]], term: int) -> None:
        """Processes a page in a span linked to the traces that wrote its entries."""
        name = self._upstream.name
        span = (
            self._tracer.start_as_current_span(
                f"process {name} page",
                links=links_to([e.trace_parent for e in entries]),
                attributes={"convtrack.upstream": name, "convtrack.entries": len(entries)},
            )
            if self._tracer is not None
            else nullcontext()
        )
        with span, self._lock:
            if self._leadership.term != term:
                logger.info("not processing a page of %s: leadership lost", name)
                return
            if self._sink.position(name) == after:
                self._sink.process_page(name, entries, after=after)
                if self._processed is not None:
                    self._processed.add(len(entries), {"upstream": name})

    def _read(self, after: int) -> Sequence[UpstreamEntry[T]]:
        """A page after `after`, waiting for it; while pages come full (catching up), up to
        `catch_up_pages` of them read without waiting and returned as one, as long as reading
        them takes less than `catch_up_read_seconds`."""
        entries = self._upstream.read(after, self._page_size, self._max_wait)
        pages = 1
        if len(entries) < self._page_size or self._catch_up_pages == 1:
            return entries
        joined = list(entries)
        until = time.monotonic() + self._catch_up_read_seconds
        while (
            pages < self._catch_up_pages
            and not self._stopping.is_set()
            and time.monotonic() < until
        ):
            more = self._upstream.read(joined[-1].position, self._page_size, 0.0)
            joined += more
            pages += 1
            if len(more) < self._page_size:
                break
        return joined

    def _record_lag(self, position: int | None, short: bool = False) -> None:
        """Records the lag (0 after an empty read, else the head minus what was processed),
        whether it caught up, and sets the lag gauge. After a short page (the follower is
        at or near the head) the head is asked of the upstream at most every `lag_interval`
        seconds: the call would delay the next read."""
        if position is None:
            lag: int | None = 0
        else:
            now = time.monotonic()
            recent = (
                self._lag_asked_at is not None and now - self._lag_asked_at < self._lag_interval
            )
            if short and recent:
                return
            self._lag_asked_at = now
            try:
                head = self._upstream.head()
            except Exception:  # lag is a fact for readiness and metrics: never stop following
                return
            lag = max(0, head - position) if head is not None else None
        if lag == 0:
            self._caught_up_once = True
        if lag is not None:
            self._last_lag = lag
            if self._lag is not None:
                self._lag.set(lag, {"upstream": self._upstream.name})

    def _stand_by(self) -> None:
        """Waits a moment as a standby, which counts as caught up and has no lag of its own."""
        if not self._standing_by:
            logger.info("standing by for %s: another replica follows it", self._upstream.name)
            self._standing_by = True
        if self._term is not None and self._on_lost is not None:
            with self._lock:
                self._on_lost()
        self._term = None
        self._caught_up_once = True
        self._last_lag = None
        now = time.monotonic()
        if self._on_standby is not None and (
            self._standby_called_at is None
            or now - self._standby_called_at >= STANDBY_CALLBACK_INTERVAL_SECONDS
        ):
            self._standby_called_at = now
            try:
                self._on_standby()
            except Exception as error:  # a cache to drop must never stop the follower
                logger.warning("standby callback for %s failed: %s", self._upstream.name, error)
        self._stopping.wait(STANDBY_INTERVAL_SECONDS)

    def _take_over(self, term: int) -> None:
        """Starts a term: what is cached may be behind what the previous leader wrote."""
        if self._on_takeover is not None:
            self._on_takeover()
        self._term = term
        self._standing_by = False

    def _run(self) -> None:
        backoff = 0.1
        failing_since: float | None = None
        while not self._stopping.is_set():
            term = self._leadership.term
            if term is None:
                self._stand_by()
                continue
            try:
                with self._lock:
                    if term != self._term:
                        self._take_over(term)
                    after = self._sink.position(self._upstream.name)
                started = time.monotonic()
                entries = self._read(after)
                if entries and not self._stopping.is_set():
                    self._process(after, entries, term)
                self._record_lag(
                    entries[-1].position if entries else None, len(entries) < self._page_size
                )
                if not entries:
                    self._stopping.wait(EMPTY_READ_INTERVAL_SECONDS - (time.monotonic() - started))
                backoff, failing_since = 0.1, None
            except Exception as error:
                if self._stopping.is_set():
                    return
                # A peer still starting or restarting is normal for a moment; say it loudly
                # only when it lasts.
                now = time.monotonic()
                failing_since = failing_since if failing_since is not None else now
                lasting = now - failing_since >= PERSISTENT_FAILURE_SECONDS
                level = logging.WARNING if lasting else logging.INFO
                logger.log(
                    level,
                    "following %s failed, retrying in %.1fs: %s",
                    self._upstream.name,
                    backoff,
                    one_line(error),
                    exc_info=logger.isEnabledFor(logging.DEBUG),
                )
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
