"""Builders and readers for the ingest API integration tests: events, batches and the log."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from google.protobuf import duration_pb2, timestamp_pb2
from psycopg import sql

from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from tests.conftest import Storage

DEADLINE = 10.0
PROPERTY = "shop"


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp of an aware datetime."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def ago(delta: timedelta = timedelta(0)) -> timestamp_pb2.Timestamp:
    """A Timestamp `delta` before now (after now for a negative delta)."""
    return timestamp(datetime.now(UTC) - delta)


def seconds(value: float) -> duration_pb2.Duration:
    """A protobuf Duration of `value` seconds."""
    duration = duration_pb2.Duration()
    duration.FromTimedelta(timedelta(seconds=value))
    return duration


def _event(event_id: str, **fields: Any) -> ingest_pb2.Event:
    fields.setdefault("property_id", PROPERTY)
    fields.setdefault("timestamp", ago(timedelta(minutes=5)))
    fields.setdefault("identity", ingest_pb2.Identity(anonymous_id="anon-1"))
    return ingest_pb2.Event(event_id=event_id, **fields)


def page_view(event_id: str, **fields: Any) -> ingest_pb2.Event:
    """A valid page view event; keyword arguments override Event fields."""
    fields.setdefault(
        "page_view", ingest_pb2.PageView(url="https://shop.example/p/1", title="Product")
    )
    return _event(event_id, **fields)


def touchpoint(event_id: str, **touch: Any) -> ingest_pb2.Event:
    """A valid click touchpoint; keyword arguments are Touchpoint fields."""
    touch.setdefault("type", ingest_pb2.TOUCHPOINT_TYPE_CLICK)
    touch.setdefault("landing_url", "https://shop.example/landing")
    return _event(event_id, touchpoint=ingest_pb2.Touchpoint(**touch))


def conversion(
    event_id: str,
    *,
    name: str = "purchase",
    order_id: str = "",
    value: common_pb2.Money | None = None,
    **fields: Any,
) -> ingest_pb2.Event:
    """A valid conversion worth 12.50 EUR unless told otherwise."""
    money = value if value is not None else money_of("EUR", 12, 500_000_000)
    fields["conversion"] = ingest_pb2.Conversion(name=name, order_id=order_id, value=money)
    return _event(event_id, **fields)


def identify(event_id: str, identity: ingest_pb2.Identity, **fields: Any) -> ingest_pb2.Event:
    """An identify event with the given identifiers."""
    return _event(event_id, identity=identity, identify=ingest_pb2.Identify(), **fields)


def money_of(currency_code: str, units: int, nanos: int = 0) -> common_pb2.Money:
    """A Money message."""
    return common_pb2.Money(currency_code=currency_code, units=units, nanos=nanos)


def track(
    stub: ingest_pb2_grpc.IngestServiceStub,
    events: list[ingest_pb2.Event],
    *,
    sent_at: timestamp_pb2.Timestamp | None = None,
    timeout: float = DEADLINE,
) -> ingest_pb2.TrackEventsResponse:
    """Sends one batch and returns its verdicts."""
    request = ingest_pb2.TrackEventsRequest(events=events, sent_at=sent_at)
    return stub.TrackEvents(request, timeout=timeout)


def log_head(stub: ingest_pb2_grpc.IngestServiceStub) -> int:
    """The position of the newest log entry."""
    return stub.GetLogHead(ingest_pb2.GetLogHeadRequest(), timeout=DEADLINE).position


def read_log(stub: ingest_pb2_grpc.IngestServiceStub) -> list[ingest_pb2.LogEntry]:
    """Every entry of the log, from the start, page by page, without waiting."""
    entries: list[ingest_pb2.LogEntry] = []
    after = 0
    while True:
        page = stub.ListEvents(
            ingest_pb2.ListEventsRequest(after=after, limit=1000), timeout=DEADLINE
        ).entries
        if not page:
            return entries
        entries.extend(page)
        after = page[-1].position


def recorded(entry: ingest_pb2.LogEntry) -> Any:
    """The recorded event of a log entry, whichever kind it is."""
    kind = entry.WhichOneof("event")
    assert kind is not None, f"log entry {entry.position} carries no event"
    return getattr(entry, kind)


def envelope(entry: ingest_pb2.LogEntry) -> ingest_pb2.RecordedEnvelope:
    """The common fields of a log entry's recorded event."""
    return recorded(entry).envelope


def logged_event_ids(stub: ingest_pb2_grpc.IngestServiceStub) -> list[str]:
    """The event ids in the log, in log order."""
    return [envelope(entry).event_id for entry in read_log(stub)]


def logged_by_event_id(stub: ingest_pb2_grpc.IngestServiceStub) -> dict[str, Any]:
    """The log's recorded events keyed by event id."""
    return {envelope(entry).event_id: recorded(entry) for entry in read_log(stub)}


def stored_bytes(storage: Storage) -> bytes:
    """Every byte ingest stored: its SQLite file with its -wal, -shm and -journal files, or
    every row of its PostgreSQL schema."""
    if storage.backend == "sqlite":
        files = sorted(storage.data_dir.glob("ingest.db*"))
        assert files, "no ingest database files"
        return b"".join(path.read_bytes() for path in files)
    chunks: list[bytes] = []
    with psycopg.connect(storage.database_url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'ingest'"
        ).fetchall()
        assert tables, "no ingest tables in PostgreSQL"
        for (table,) in tables:
            query = sql.SQL("SELECT * FROM {}").format(sql.Identifier("ingest", table))
            for row in conn.execute(query):
                for cell in row:
                    raw = bytes(cell) if isinstance(cell, bytes | memoryview) else str(cell)
                    chunks.append(raw if isinstance(raw, bytes) else raw.encode())
    return b"\n".join(chunks)


@contextmanager
def writes_blocked(storage: Storage) -> Iterator[None]:
    """Holds a lock on ingest's store from another connection that lets readers in but keeps
    every writer waiting, until the block is left."""
    if storage.backend == "sqlite":
        conn = sqlite3.connect(storage.data_dir / "ingest.db", isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with psycopg.connect(storage.database_url) as pg:
        pg.execute("LOCK TABLE ingest.ingest_events IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            pg.rollback()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Waits until `condition()` holds, failing the test after `timeout` seconds."""
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, "timed out waiting"
        time.sleep(0.02)
