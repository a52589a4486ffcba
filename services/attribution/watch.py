"""Watching one property's attributed conversions in attribution's log (`WatchConversions`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from eventsourcing.utils import get_topic

from common.eventlog import LoggedApplication, LogRecord
from services.attribution.domainmodel import Conversion

# Only attributions and retractions are decoded: the log's other entries (visitors, persons,
# jobs, ...) are skipped by the query itself.
WATCHED_TOPICS = (get_topic(Conversion.Attributed), get_topic(Conversion.Retracted))
# Positions one query scans at most, so that a stream far behind the head (or a property with
# few conversions in a busy log) never runs one long query, and heartbeats keep flowing.
SCAN_SPAN = 10_000
PAGE_SIZE = 200
# How long a caught-up stream waits before looking at the store again: writers in this
# process wake it at once; writers in other processes (the leader, when this replica stands
# by) are seen by this polling.
POLL_SECONDS = 0.5
DEFAULT_HEARTBEAT = timedelta(seconds=15)
MIN_HEARTBEAT = timedelta(seconds=1)
MAX_HEARTBEAT = timedelta(seconds=300)
DEFAULT_MAX_STREAMS = 4
# grpcio's synchronous server spends a thread per open stream: streams may take a quarter of
# its 16 threads at most (long polls of the log take up to half).
MAX_STREAMS_LIMIT = 4


class WatchKind(Enum):
    """What a watch item says."""

    ATTRIBUTED = "attributed"
    REATTRIBUTED = "reattributed"
    RETRACTED = "retracted"
    HEARTBEAT = "heartbeat"


@dataclass(frozen=True, slots=True)
class WatchQuery:
    """What to watch: a property's conversions (of some names, or all) after a position, or
    from the log's head on."""

    property_id: str
    after: int = 0
    from_now: bool = False
    conversion_names: frozenset[str] = frozenset()
    heartbeat: timedelta = DEFAULT_HEARTBEAT


@dataclass(frozen=True, slots=True)
class WatchItem:
    """One item of a watch: an attribution (the `Conversion.Attributed` event at `position`),
    a retraction (the `Conversion.Retracted` event) or a heartbeat (nothing for this watch up
    to `position`)."""

    position: int
    kind: WatchKind
    recorded_at: datetime
    log_head: int
    attribution: Any = None
    retraction: Any = None


class WatchError(Exception):
    """A watch cannot go on."""


class TooManyWatchesError(WatchError):
    """The server already serves its maximum of streams."""


class WatchesStoppedError(WatchError):
    """The service is shutting down: resume from the last position elsewhere or later."""


class PositionAheadError(WatchError):
    """The watch asked to start after a position the log has not reached."""


class ConversionWatches:
    """Serves watches of one application's log, at most `max_streams` at a time.

    A watch reads the log in position order from its starting point, sends each attribution of
    its property (and names), then waits for new entries; a heartbeat goes out whenever
    nothing else did for the query's interval. Every item carries a position to resume from.
    """

    def __init__(
        self,
        app: LoggedApplication,
        max_streams: int = DEFAULT_MAX_STREAMS,
        *,
        poll_seconds: float = POLL_SECONDS,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._app = app
        self._slots = threading.BoundedSemaphore(max_streams)
        self._max_streams = max_streams
        self._busy = 0
        self._idle = threading.Condition()
        self._poll_seconds = poll_seconds
        self._now = now

    def watch(
        self, query: WatchQuery, is_active: Callable[[], bool]
    ) -> Generator[WatchItem, None, None]:
        """The watch's items, until `is_active` turns false (the caller went away).

        Raises TooManyWatchesError when every stream slot is taken, PositionAheadError when
        `query.after` is beyond the log's head, and WatchesStoppedError when the service
        shuts down."""
        if not self._slots.acquire(blocking=False):
            raise TooManyWatchesError(
                f"this server already serves its {self._max_streams} conversion streams; "
                "retry after the delay in the RetryInfo detail, or on another replica"
            )
        try:
            items = self._items(query, is_active)
            while True:
                # Busy while it computes its next item (and may query the store); a stream
                # suspended at a yield, waiting for gRPC to take the item, is not.
                with self._idle:
                    self._busy += 1
                try:
                    item = next(items)
                except StopIteration:
                    return
                finally:
                    with self._idle:
                        self._busy -= 1
                        self._idle.notify_all()
                yield item
        finally:
            self._slots.release()

    def drain(self, timeout: float = 5.0) -> None:
        """Waits (up to `timeout` seconds) until no watch is computing an item: called at
        shutdown after the log's readers were released and before the store closes. A watch
        checks the release before each query of the store, so none queries a closed one."""
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout=timeout)

    def _items(self, query: WatchQuery, is_active: Callable[[], bool]) -> Iterator[WatchItem]:
        app = self._app
        self._check_running()
        appends = app.log_appends
        head = app.log_head()
        if query.from_now:
            position = head
        elif query.after > head:
            raise PositionAheadError(
                f"after {query.after} is beyond the log's newest position {head}: resume "
                "from a position this deployment's stream sent"
            )
        else:
            position = query.after
        yield self._heartbeat(position, head)
        interval = query.heartbeat.total_seconds()
        last_sent = time.monotonic()
        # A heartbeat also says when the stream has caught up: the first time, and after each
        # run of conversions (not after every entry of other properties).
        announce = position < head
        while True:
            self._check_running()
            if not is_active():
                return
            if position < head:
                records, position = app.scan_log(
                    position, min(head, position + SCAN_SPAN), WATCHED_TOPICS, PAGE_SIZE
                )
                for record in records:
                    if _wanted(record, query):
                        yield _conversion_item(record, head)
                        last_sent = time.monotonic()
                        announce = True
            caught_up = position >= head
            if (announce and caught_up) or time.monotonic() - last_sent >= interval:
                yield self._heartbeat(position, head)
                last_sent = time.monotonic()
                announce = False
            if caught_up:
                until_heartbeat = interval - (time.monotonic() - last_sent)
                app.wait_for_log(min(self._poll_seconds, max(until_heartbeat, 0.0)), appends)
                self._check_running()
                appends = app.log_appends
                head = app.log_head()

    def _check_running(self) -> None:
        if self._app.log_readers_released:
            raise WatchesStoppedError("the server is shutting down; resume from the last position")

    def _heartbeat(self, position: int, head: int) -> WatchItem:
        return WatchItem(position, WatchKind.HEARTBEAT, self._now(), head)


def _wanted(record: LogRecord, query: WatchQuery) -> bool:
    event: Any = record.event
    if event.property_id != query.property_id:
        return False
    return not query.conversion_names or event.name in query.conversion_names


def _conversion_item(record: LogRecord, head: int) -> WatchItem:
    event: Any = record.event
    if isinstance(event, Conversion.Retracted):
        return WatchItem(
            record.position, WatchKind.RETRACTED, event.timestamp, head, retraction=event
        )
    kind = WatchKind.ATTRIBUTED if event.revision <= 1 else WatchKind.REATTRIBUTED
    return WatchItem(record.position, kind, event.timestamp, head, event)
