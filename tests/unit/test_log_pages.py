"""Log pages are bounded in bytes, yet a single entry larger than the bound is still served."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import duration_pb2

from common.eventlog import LogRecord
from common.log_endpoint import EntryTooLargeError, bounded_page, page_request_problems
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


def test_a_page_stops_before_the_entry_that_would_exceed_the_byte_budget() -> None:
    page = bounded_page(_records(400, 400, 400, 400), _entry, max_bytes=1000)
    assert [e.position for e in page] == [1, 2]
    assert _response_size(page) <= 1000


def test_the_byte_budget_counts_the_encoded_response_exactly() -> None:
    records = _records(300, 300, 300)
    budget = _response_size([_entry(1, 300), _entry(2, 300)])
    assert [e.position for e in bounded_page(records, _entry, max_bytes=budget)] == [1, 2]
    assert [e.position for e in bounded_page(records, _entry, max_bytes=budget - 1)] == [1]


def test_an_entry_larger_than_the_budget_comes_alone() -> None:
    records = _records(5000, 10, 10)
    assert [e.position for e in bounded_page(records, _entry, max_bytes=1000)] == [1]
    # The next page starts after it, with the small ones.
    rest = bounded_page(records[1:], _entry, max_bytes=1000)
    assert [e.position for e in rest] == [2, 3]


def test_an_entry_larger_than_any_response_is_refused_by_its_position() -> None:
    with pytest.raises(EntryTooLargeError, match="log entry 1 is"):
        bounded_page(_records(5000), _entry, max_bytes=1000, entry_max_bytes=2000)


def test_small_entries_fill_a_page_up_to_its_count() -> None:
    assert len(bounded_page(_records(*[50] * 500), _entry)) == 500


def test_a_request_at_the_edges_of_every_range_is_valid() -> None:
    request = ingest_pb2.ListEventsRequest(
        after=2**63 - 1, limit=1000, max_wait=duration_pb2.Duration(seconds=30)
    )
    assert page_request_problems(request) == []


def test_a_wait_a_nanosecond_over_30_s_is_invalid() -> None:
    request = ingest_pb2.ListEventsRequest(max_wait=duration_pb2.Duration(seconds=30, nanos=1))
    assert [p.field for p in page_request_problems(request)] == ["max_wait"]
