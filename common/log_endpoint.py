"""A producer's `ListEvents` at the gRPC edge: checked requests, pages bounded in bytes, and a
bounded number of waiting long polls, the same for every producer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import grpc
from eventsourcing.persistence import Notification
from eventsourcing.utils import resolve_topic
from google.protobuf import duration_pb2

from common.eventlog import (
    LOG_PAGE_DEFAULT,
    LOG_PAGE_MAX,
    LOG_WAIT_MAX_SECONDS,
    LoggedApplication,
    RecentItems,
)
from common.grpc_errors import FieldProblem, abort_invalid
from common.server import MAX_RESPONSE_BYTES, SERVER_WORKERS

logger = logging.getLogger(__name__)

POSITION_MAX = 2**63 - 1
NANOS_PER_SECOND = 1_000_000_000
# Well below gRPC's default 4 MiB receive limit, so any client can read a page; large enough
# that pages of ordinary entries are bounded by their count, not by bytes.
PAGE_MAX_BYTES = 2 * 1024 * 1024
# Long polls may hold at most half the server's threads; the others stay free for writes.
WAITING_READERS_MAX = SERVER_WORKERS // 2
# Encoded entries kept by position (about 7 MB of ingest's): consumers catching up read the
# same entries one after another, and each after a failed page reads it again.
RECENT_ENTRIES = 20_000
ENTRIES_TAG = b"\x0a"


class EncodableMessage(Protocol):
    """A protobuf message: it encodes itself."""

    def SerializeToString(self) -> bytes:  # noqa: N802 - the protobuf method name
        """The encoded message."""
        ...


class ListEventsRequestMessage(Protocol):
    """The `ListEventsRequest` of any producer's package (the same fields in each)."""

    @property
    def after(self) -> int:
        """Entries after this position."""
        ...

    @property
    def limit(self) -> int:
        """The most entries; 0 for the default."""
        ...

    @property
    def max_wait(self) -> duration_pb2.Duration:
        """How long to wait for new entries."""
        ...


Entry = TypeVar("Entry", bound=EncodableMessage)


@dataclass(frozen=True, slots=True)
class Bookkeeping:
    """What an entry of a topic the log does not serve is given to the producer's
    `to_entry` in place of its event: only when it was recorded."""

    timestamp: datetime


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A checked `ListEvents` request, in plain values."""

    after: int
    limit: int
    max_wait_seconds: float


class EntryTooLargeError(Exception):
    """One log entry alone is larger than any response may be, so it cannot be served."""

    def __init__(self, position: int, size: int, max_size: int) -> None:
        super().__init__(
            f"log entry {position} is {size:,} bytes encoded, more than the {max_size:,}-byte "
            "response limit: it cannot be served"
        )
        self.position = position


def page_request_problems(request: ListEventsRequestMessage) -> list[FieldProblem]:
    """What is wrong with a `ListEvents` request, field by field (empty when it is valid)."""
    problems: list[FieldProblem] = []
    if request.after > POSITION_MAX:
        problems.append(
            FieldProblem("after", f"must be at most {POSITION_MAX} (positions are int64)")
        )
    if request.limit > LOG_PAGE_MAX:
        problems.append(
            FieldProblem(
                "limit", f"must be between 0 and {LOG_PAGE_MAX} (0 means {LOG_PAGE_DEFAULT})"
            )
        )
    wait = request.max_wait
    if wait.seconds < 0 or wait.nanos < 0:
        problems.append(FieldProblem("max_wait", "must not be negative"))
    elif wait.nanos >= NANOS_PER_SECOND:
        problems.append(FieldProblem("max_wait.nanos", f"must be below {NANOS_PER_SECOND}"))
    elif wait.seconds + wait.nanos / NANOS_PER_SECOND > LOG_WAIT_MAX_SECONDS:
        problems.append(FieldProblem("max_wait", f"must be at most {LOG_WAIT_MAX_SECONDS:g} s"))
    return problems


def page_request(request: ListEventsRequestMessage) -> PageRequest:
    """The plain values of a request that `page_request_problems` found valid."""
    wait = request.max_wait
    return PageRequest(
        after=request.after,
        limit=request.limit,
        max_wait_seconds=wait.seconds + wait.nanos / NANOS_PER_SECOND,
    )


def framed_entry(entry: bytes) -> bytes:
    """An encoded entry as it appears in a `ListEventsResponse`: the tag of `entries` (field
    1, length-delimited, the same in every producer's package), its length, the entry."""
    size = len(entry)
    length = bytearray()
    while size > 0x7F:
        length.append((size & 0x7F) | 0x80)
        size >>= 7
    length.append(size)
    return ENTRIES_TAG + bytes(length) + entry


def bounded_page(
    frames: Iterable[tuple[int, bytes]],
    max_bytes: int = PAGE_MAX_BYTES,
    entry_max_bytes: int = MAX_RESPONSE_BYTES,
) -> bytes:
    """The encoded `ListEventsResponse` of the leading entries, given as (position, framed
    entry) and consumed only as far as needed, as many as fit in `max_bytes`.

    The first entry is always included, however large, so that a reader never stalls on
    one big entry; only one larger than the response limit raises EntryTooLargeError.
    """
    page: list[bytes] = []
    size = 0
    for position, frame in frames:
        if page and size + len(frame) > max_bytes:
            break
        if not page and len(frame) > entry_max_bytes:
            raise EntryTooLargeError(position, len(frame), entry_max_bytes)
        page.append(frame)
        size += len(frame)
    return b"".join(page)


class LogEndpoint(Generic[Entry]):
    """Serves one application's log to `ListEvents` calls.

    Requests are checked at the edge (INVALID_ARGUMENT with the field). Pages stop at
    `page_bytes` encoded. The `recent_entries` last encoded entries are kept by position, so
    an entry read again (by the next consumer, or after a failed page) is neither decoded
    nor encoded again. At most `waiting_readers` calls wait for new entries at a time;
    the rest are answered at once (possibly with an empty page), so long polls never take
    the threads that writes need.

    With `served` (the event classes `to_entry` gives a message), the entries of other
    events (the producer's internal bookkeeping) are given to `to_entry` as `Bookkeeping`
    values, their events not decoded: `to_entry` must build from it the same entry it
    builds from such an event (its position and time only).
    """

    def __init__(
        self,
        app: LoggedApplication,
        to_entry: Callable[[int, Any], Entry],
        *,
        waiting_readers: int = WAITING_READERS_MAX,
        page_bytes: int = PAGE_MAX_BYTES,
        recent_entries: int = RECENT_ENTRIES,
        served: tuple[type, ...] | None = None,
    ) -> None:
        self._app = app
        self._to_entry = to_entry
        self._served = served
        self._served_topics: dict[str, bool] = {}
        self._wait_slots = threading.BoundedSemaphore(waiting_readers)
        self._page_bytes = page_bytes
        self._recent: RecentItems[int, bytes] = RecentItems(recent_entries)

    def encoded_page(
        self, request: ListEventsRequestMessage, context: grpc.ServicerContext
    ) -> bytes:
        """The encoded `ListEventsResponse` of one page (parse it with the producer's
        `ListEventsResponse.FromString`), or the call aborted with a status saying why."""
        problems = page_request_problems(request)
        if problems:
            abort_invalid(context, "invalid ListEvents request", problems)
        wanted = page_request(request)
        notifications = self._read(wanted)
        try:
            return bounded_page(((n.id, self._framed(n)) for n in notifications), self._page_bytes)
        except EntryTooLargeError as error:
            logger.error("%s's log is stuck after %d: %s", self._app.name, wanted.after, error)
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))
            raise

    def _framed(self, notification: Notification) -> bytes:
        """The framed entry at a position: encoded once, then served from the recent ones
        (entries never change; several consumers read the same ones when they catch up)."""
        frame = self._recent.get(notification.id)
        if frame is None:
            event: Any
            if self._is_served(notification.topic):
                event = self._app.record_of(notification).event
            else:
                event = Bookkeeping(self._app.recorded_at(notification))
            frame = framed_entry(self._to_entry(notification.id, event).SerializeToString())
            self._recent.put(notification.id, frame)
        return frame

    def _is_served(self, topic: str) -> bool:
        """Whether entries of the topic (resolved once: a renamed class's old topic names
        it too) carry an event `to_entry` serves."""
        if self._served is None:
            return True
        served = self._served_topics.get(topic)
        if served is None:
            served = self._served_topics[topic] = issubclass(resolve_topic(topic), self._served)
        return served

    def _read(self, wanted: PageRequest) -> Sequence[Notification]:
        """Reads the stored entries, waiting only while holding one of the wait slots."""
        if wanted.max_wait_seconds <= 0 or not self._wait_slots.acquire(blocking=False):
            return self._app.read_notifications(wanted.after, wanted.limit)
        try:
            return self._app.read_notifications(wanted.after, wanted.limit, wanted.max_wait_seconds)
        finally:
            self._wait_slots.release()
