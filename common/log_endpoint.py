"""A producer's `ListEvents` at the gRPC edge: checked requests, pages bounded in bytes, and a
bounded number of waiting long polls, the same for every producer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import grpc
from google.protobuf import duration_pb2

from common.eventlog import (
    LOG_PAGE_DEFAULT,
    LOG_PAGE_MAX,
    LOG_WAIT_MAX_SECONDS,
    LoggedApplication,
    LogRecord,
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


class SizedMessage(Protocol):
    """A protobuf message: it knows its encoded size."""

    def ByteSize(self) -> int:  # noqa: N802 - the protobuf method name
        """The encoded size in bytes."""
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


Entry = TypeVar("Entry", bound=SizedMessage)


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


def _encoded_in_page(entry_bytes: int) -> int:
    """An entry's bytes in a response: one tag byte, its length as a varint, the entry."""
    return 1 + max(1, (entry_bytes.bit_length() + 6) // 7) + entry_bytes


def bounded_page(
    records: Sequence[LogRecord],
    to_entry: Callable[[int, Any], Entry],
    max_bytes: int = PAGE_MAX_BYTES,
    entry_max_bytes: int = MAX_RESPONSE_BYTES,
) -> list[Entry]:
    """The leading records as entries, as many as fit in `max_bytes` encoded.

    The first entry is always included, however large, so that a reader never stalls on
    one big entry; only one larger than the response limit raises EntryTooLargeError.
    """
    page: list[Entry] = []
    size = 0
    for record in records:
        entry = to_entry(record.position, record.event)
        encoded = _encoded_in_page(entry.ByteSize())
        if page and size + encoded > max_bytes:
            break
        if not page and encoded > entry_max_bytes:
            raise EntryTooLargeError(record.position, encoded, entry_max_bytes)
        page.append(entry)
        size += encoded
    return page


class LogEndpoint(Generic[Entry]):
    """Serves one application's log to `ListEvents` calls.

    Requests are checked at the edge (INVALID_ARGUMENT with the field). Pages stop at
    `page_bytes` encoded. At most `waiting_readers` calls wait for new entries at a time;
    the rest are answered at once (possibly with an empty page), so long polls never take
    the threads that writes need.
    """

    def __init__(
        self,
        app: LoggedApplication,
        to_entry: Callable[[int, Any], Entry],
        *,
        waiting_readers: int = WAITING_READERS_MAX,
        page_bytes: int = PAGE_MAX_BYTES,
    ) -> None:
        self._app = app
        self._to_entry = to_entry
        self._wait_slots = threading.BoundedSemaphore(waiting_readers)
        self._page_bytes = page_bytes

    def list_events(
        self, request: ListEventsRequestMessage, context: grpc.ServicerContext
    ) -> list[Entry]:
        """The entries of one page, or the call aborted with a status saying why."""
        problems = page_request_problems(request)
        if problems:
            abort_invalid(context, "invalid ListEvents request", problems)
        wanted = page_request(request)
        records = self._read(wanted)
        try:
            return bounded_page(records, self._to_entry, self._page_bytes)
        except EntryTooLargeError as error:
            logger.error("%s's log is stuck after %d: %s", self._app.name, wanted.after, error)
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))
            raise

    def _read(self, wanted: PageRequest) -> list[LogRecord]:
        """Reads the records, waiting only while holding one of the wait slots."""
        if wanted.max_wait_seconds <= 0 or not self._wait_slots.acquire(blocking=False):
            return self._app.read_log(wanted.after, wanted.limit)
        try:
            return self._app.read_log(wanted.after, wanted.limit, wanted.max_wait_seconds)
        finally:
            self._wait_slots.release()
