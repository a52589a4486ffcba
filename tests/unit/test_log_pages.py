"""Log pages are bounded in bytes, yet a single entry larger than the bound is still served;
an entry is encoded once for all its readers."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event
from google.protobuf import duration_pb2

from common.eventlog import LoggedApplication, LogRecord
from common.log_endpoint import (
    EntryTooLargeError,
    LogEndpoint,
    bounded_page,
    framed_entry,
    page_request_problems,
)
from convtrack.ingest.v1 import ingest_pb2


def _records(*title_sizes: int) -> list[LogRecord]:
    """Records whose event is the size of a page view title (read back by `_entry`)."""
    sizes: list[Any] = list(title_sizes)
    return [LogRecord(position, size) for position, size in enumerate(sizes, start=1)]


def _entry(position: int, title_size: Any) -> ingest_pb2.LogEntry:
    return ingest_pb2.LogEntry(
        position=position,
        page_view_recorded=ingest_pb2.PageViewRecorded(title="t" * title_size),
    )


def _response_size(entries: list[ingest_pb2.LogEntry]) -> int:
    return ingest_pb2.ListEventsResponse(entries=entries).ByteSize()


def _page(records: list[LogRecord], **bounds: int) -> list[ingest_pb2.LogEntry]:
    """The entries of the bounded page of these records, as a reader parses them."""
    frames = (
        (r.position, framed_entry(_entry(r.position, r.event).SerializeToString())) for r in records
    )
    encoded = bounded_page(frames, **bounds)
    return list(ingest_pb2.ListEventsResponse.FromString(encoded).entries)


def test_a_page_stops_before_the_entry_that_would_exceed_the_byte_budget() -> None:
    page = _page(_records(400, 400, 400, 400), max_bytes=1000)
    assert [e.position for e in page] == [1, 2]
    assert _response_size(page) <= 1000


def test_the_byte_budget_counts_the_encoded_response_exactly() -> None:
    records = _records(300, 300, 300)
    budget = _response_size([_entry(1, 300), _entry(2, 300)])
    assert [e.position for e in _page(records, max_bytes=budget)] == [1, 2]
    assert [e.position for e in _page(records, max_bytes=budget - 1)] == [1]


def test_an_entry_larger_than_the_budget_comes_alone() -> None:
    records = _records(5000, 10, 10)
    assert [e.position for e in _page(records, max_bytes=1000)] == [1]
    # The next page starts after it, with the small ones.
    rest = _page(records[1:], max_bytes=1000)
    assert [e.position for e in rest] == [2, 3]


def test_an_entry_larger_than_any_response_is_refused_by_its_position() -> None:
    with pytest.raises(EntryTooLargeError, match="log entry 1 is"):
        _page(_records(5000), max_bytes=1000, entry_max_bytes=2000)


def test_small_entries_fill_a_page_up_to_its_count() -> None:
    assert len(_page(_records(*[50] * 500))) == 500


def test_a_request_at_the_edges_of_every_range_is_valid() -> None:
    request = ingest_pb2.ListEventsRequest(
        after=2**63 - 1, limit=1000, max_wait=duration_pb2.Duration(seconds=30)
    )
    assert page_request_problems(request) == []


def test_a_wait_a_nanosecond_over_30_s_is_invalid() -> None:
    request = ingest_pb2.ListEventsRequest(max_wait=duration_pb2.Duration(seconds=30, nanos=1))
    assert [p.field for p in page_request_problems(request)] == ["max_wait"]


class Noted(Aggregate):
    """An aggregate whose creation is one log entry with a note."""

    @event("Noted")
    def __init__(self, note: str) -> None:
        self.note = note


class _Request:
    """A ListEventsRequest's fields, without waiting."""

    def __init__(self, after: int, limit: int) -> None:
        self.after = after
        self.limit = limit
        self.max_wait = duration_pb2.Duration()


def test_an_entry_is_encoded_once_and_served_alike_to_every_reader() -> None:
    app = LoggedApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for note in ["a", "b" * 300, "c"]:
        app.save(Noted(note))
    encoded: list[int] = []

    def entry(position: int, noted: Any) -> ingest_pb2.LogEntry:
        encoded.append(position)
        return ingest_pb2.LogEntry(
            position=position, page_view_recorded=ingest_pb2.PageViewRecorded(title=noted.note)
        )

    endpoint = LogEndpoint(app, entry)
    first = endpoint.encoded_page(_Request(0, 10), context=None)  # type: ignore[arg-type]
    again = endpoint.encoded_page(_Request(0, 10), context=None)  # type: ignore[arg-type]
    later = endpoint.encoded_page(_Request(1, 10), context=None)  # type: ignore[arg-type]
    # The response is the one the entries make; the second and third reads encode nothing.
    expected = [entry(p, app.read_log(p - 1, 1)[0].event) for p in (1, 2, 3)]
    assert first == ingest_pb2.ListEventsResponse(entries=expected).SerializeToString()
    assert again == first
    assert ingest_pb2.ListEventsResponse.FromString(later).entries == expected[1:]
    assert encoded == [1, 2, 3, 1, 2, 3]  # three served, then three built here to compare
