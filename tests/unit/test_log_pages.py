"""Log pages are bounded in bytes, yet a single entry larger than the bound is still served;
an entry is encoded once for all its readers; entries of events a log does not serve are
served from their stored time, their events not decoded."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.cryptography import AESCipher
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent
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


class Counted(Aggregate):
    """An aggregate the log below does not serve (internal bookkeeping)."""

    @event("Counted")
    def __init__(self, count: int) -> None:
        self.count = count


def _noted_entry(position: int, noted: Any) -> ingest_pb2.LogEntry:
    """A page view titled with a `Noted` event's note; only a position and a time (as
    `received_at`) for any other event or for `Bookkeeping`."""
    entry = ingest_pb2.LogEntry(position=position)
    entry.page_view_recorded.envelope.received_at.FromDatetime(noted.timestamp)
    if isinstance(noted, Noted.Event):
        entry.page_view_recorded.title = noted.note
    return entry


STORED_FORMS = {
    "plain": {},
    "encrypted_and_compressed": {
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": AESCipher.create_key(16),
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
    },
}


@pytest.mark.parametrize("form", list(STORED_FORMS))
def test_entries_of_events_a_log_does_not_serve_are_served_without_decoding_them(
    form: str,
) -> None:
    app = LoggedApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo", **STORED_FORMS[form]})
    app.save(Noted("a"), Counted(1), Counted(2), Noted("b"), Counted(3))
    decoded: list[str] = []
    to_domain_event = app.mapper.to_domain_event

    def counting(stored: StoredEvent) -> Any:
        decoded.append(stored.topic)
        return to_domain_event(stored)

    app.mapper.to_domain_event = counting  # type: ignore[method-assign]
    served = LogEndpoint(app, _noted_entry, served=(Noted.Event,))
    page = served.encoded_page(_Request(0, 10), context=None)  # type: ignore[arg-type]
    # Only the two notes were decoded; the three bookkeeping entries carry their time.
    assert [topic.rsplit(".", 1)[-1] for topic in decoded] == ["Noted", "Noted"]
    everything = LogEndpoint(app, _noted_entry)
    assert page == everything.encoded_page(_Request(0, 10), context=None)  # type: ignore[arg-type]
    entries = ingest_pb2.ListEventsResponse.FromString(page).entries
    assert [e.page_view_recorded.title for e in entries] == ["a", "", "", "b", ""]


@pytest.mark.parametrize("form", list(STORED_FORMS))
def test_an_entrys_recorded_time_read_from_its_stored_state_is_its_events(form: str) -> None:
    app = LoggedApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo", **STORED_FORMS[form]})
    app.save(Noted("a"), Counted(1))
    notifications = app.recorder.select_notifications(start=1, limit=10)
    times = [app.recorded_at(n) for n in notifications]  # nothing decoded or cached before
    assert times == [app.mapper.to_domain_event(n).timestamp for n in notifications]
    assert all(t.tzinfo is not None for t in times)


def test_a_state_without_the_timestamp_first_is_decoded_for_its_time() -> None:
    app = LoggedApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.save(Counted(7))
    (stored,) = app.recorder.select_notifications(start=1, limit=1)
    moved = app.mapper.transcoder.encode(
        {k: v for k, v in reversed(app.mapper.transcoder.decode(stored.state).items())}
    )
    assert not moved.startswith(b'{"timestamp"')
    reordered = type(stored)(
        id=stored.id,
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=moved,
    )
    assert app.recorded_at(reordered) == app.mapper.to_domain_event(stored).timestamp
