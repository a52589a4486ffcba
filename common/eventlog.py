"""Event-sourced applications whose log other services read, and that track what they read."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.domain import Aggregate, DomainEventProtocol, decorated_funcs
from eventsourcing.persistence import (
    JSONTranscoder,
    Notification,
    ProcessRecorder,
    Recording,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteTrackingRecorder
from psycopg.sql import SQL, Identifier

from common.direct_events import EventWriter
from common.recorders import once_more_after_dropping_broken

A = TypeVar("A", bound=Aggregate)
K = TypeVar("K")
V = TypeVar("V")

LOG_PAGE_DEFAULT = 500
LOG_PAGE_MAX = 1000
LOG_WAIT_MAX_SECONDS = 30.0
ID_QUERY_CHUNK = 500
ABSENT_IDS_MAX = 500_000
RECENT_RECORDS = 20_000
LOG_WAIT_POLL_SECONDS = 0.2
# How the library's JSON transcoder writes the state of an aggregate event: its timestamp
# first, as an ISO string (`recorded_at` reads it there).
_TIMESTAMP_PREFIX = b'{"timestamp":{"_type_":"datetime_iso","_data_":"'


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One entry of a service's log: its position and the domain event stored there."""

    position: int
    event: DomainEventProtocol[UUID]


class MissingTablesError(Exception):
    """A service started without creating its tables, before `convtrack migrate` ran."""


class RecentItems(Generic[K, V]):
    """A small thread-safe cache of the most recently added items."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The item, or None."""
        with self._lock:
            return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        """Adds an item, dropping the oldest beyond the size."""
        with self._lock:
            self._items[key] = value
            if len(self._items) > self._size:
                self._items.popitem(last=False)


class LoggedApplication(Application[UUID]):
    """An application whose notification log is served to other services.

    It reads its log by "position greater than the last one seen" (PostgreSQL leaves gaps
    that are never filled) and lets readers wait for new entries: writers in this process
    wake them at once, writers in other processes are seen by polling.
    """

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env=env)
        self._log_changed = threading.Condition()
        self._log_appends = 0  # counts this process's appends, under _log_changed
        self._readers_released = False
        self._recent_records: RecentItems[int, LogRecord] = RecentItems(RECENT_RECORDS)

    def construct_recorder(self) -> ProcessRecorder:  # type: ignore[override]
        """Uses a process recorder so that consumers can record tracking atomically."""
        return self.factory.process_recorder()

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if recordings:
            self._appended()

    def _appended(self) -> None:
        """Wakes the log's readers: this process appended to the log."""
        with self._log_changed:
            self._log_appends += 1
            self._log_changed.notify_all()

    def save_events(
        self,
        events: Sequence[DomainEventProtocol[UUID]],
        *,
        tracking: Tracking | None = None,
        aggregates: Mapping[UUID, Aggregate] | None = None,
    ) -> None:
        """Saves already collected events (and tracking) in one transaction.

        It skips `Application.save`'s per-object protocol checks, which cost more than the
        database write on hot paths; `aggregates` go into the repository cache.
        """
        processing = ProcessingEvent[UUID](tracking=tracking)
        processing.events = list(events)
        processing.aggregates = dict(aggregates or {})
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)

    def save_stored(
        self,
        events: Sequence[StoredEvent],
        before: Callable[[Any], None] | None = None,
        tracking: Tracking | None = None,
    ) -> None:
        """Inserts events already in their stored form, in one transaction, and wakes the
        log's readers. On SQLite it is one `executemany` (the library's recorder runs one
        statement per event to learn each row id, which nothing here needs). `before` is
        called with the transaction's DB-API cursor ahead of the insert, for the service's
        own rows that must commit with the events (on PostgreSQL, after the log's table lock
        is taken, so that writers of one log never interleave their rows). `tracking` (a
        consumer's upstream position) is recorded in the same transaction."""
        recorder = self.recorder
        if tracking is not None and not isinstance(recorder, ProcessRecorder):
            raise TypeError("tracking needs a process recorder")
        if isinstance(recorder, SQLiteAggregateRecorder):
            rows = [
                (e.originator_id.hex, e.originator_version, e.topic, e.state)
                for e in events
                if isinstance(e.originator_id, UUID)
            ]
            if len(rows) != len(events):
                raise TypeError("stored events need UUID originator ids")
            with recorder.datastore.transaction(commit=True) as cursor:
                if before is not None:
                    before(cursor)
                cursor.executemany(recorder.insert_events_statement, rows)
                if tracking is not None:
                    assert isinstance(recorder, SQLiteTrackingRecorder)
                    recorder._insert_tracking(cursor, tracking)
        elif before is not None and isinstance(recorder, PostgresApplicationRecorder):
            with recorder.datastore.transaction(commit=True) as cursor:
                recorder._lock_table(cursor)
                before(cursor)
                if events:
                    recorder._insert_stored_events(cursor, events)
                if tracking is not None:
                    assert isinstance(recorder, ProcessRecorder)
                    recorder._insert_tracking(cursor, tracking)  # type: ignore[attr-defined]
        elif before is not None:
            raise TypeError("rows written with the events need a SQLite or PostgreSQL store")
        elif tracking is not None:
            recorder.insert_events(events, tracking=tracking)
        else:
            recorder.insert_events(events)
        if events:
            self._appended()

    def record_of(self, notification: Notification) -> LogRecord:
        """The decoded log record, shared between readers that read the same entries."""
        record = self._recent_records.get(notification.id)
        if record is None:
            record = LogRecord(notification.id, self.mapper.to_domain_event(notification))
            self._recent_records.put(notification.id, record)
        return record

    def recorded_at(self, notification: Notification) -> datetime:
        """When the entry's event was recorded (its timestamp), read from the stored state
        without decoding the event where the state begins with it in the library's JSON form
        (every aggregate event's does); from the decoded event otherwise."""
        record = self._recent_records.get(notification.id)
        if record is not None:
            return _timestamp(record.event)
        mapper = self.mapper
        if type(mapper.transcoder) is JSONTranscoder:
            state = notification.state
            if mapper.cipher:
                state = mapper.cipher.decrypt(state)
            if mapper.compressor:
                state = mapper.compressor.decompress(state)
            if state.startswith(_TIMESTAMP_PREFIX):
                end = state.find(b'"', len(_TIMESTAMP_PREFIX))
                if end > 0:
                    return datetime.fromisoformat(state[len(_TIMESTAMP_PREFIX) : end].decode())
        return _timestamp(self.record_of(notification).event)

    def release_log_readers(self) -> None:
        """Ends every current and future wait in `read_log` (when shutting down)."""
        with self._log_changed:
            self._readers_released = True
            self._log_changed.notify_all()

    def stored_ids(self, ids: Sequence[UUID]) -> set[UUID]:
        """Which of these aggregate ids have stored events: one query per 500 ids."""
        recorder = self.recorder
        found: set[UUID] = set()
        if isinstance(recorder, SQLiteAggregateRecorder):
            with recorder.datastore.transaction(commit=False) as cursor:
                for start in range(0, len(ids), ID_QUERY_CHUNK):
                    chunk = [i.hex for i in ids[start : start + ID_QUERY_CHUNK]]
                    cursor.execute(
                        f"SELECT DISTINCT originator_id FROM {recorder.events_table_name} "
                        f"WHERE originator_id IN ({','.join('?' * len(chunk))})",
                        chunk,
                    )
                    found.update(UUID(row[0]) for row in cursor.fetchall())
            return found
        if isinstance(recorder, PostgresAggregateRecorder):
            postgres = recorder
            return once_more_after_dropping_broken(
                postgres.datastore, lambda: _stored_ids_postgres(postgres, ids)
            )
        return {i for i in ids if recorder.select_events(i, limit=1)}

    def check_tables(self) -> None:
        """Raises MissingTablesError unless the store's tables exist (for services started
        with table creation off)."""
        try:
            self.recorder.max_notification_id()
        except Exception as error:
            raise MissingTablesError(
                f"{self.name}'s tables are missing: run `convtrack migrate` first ({error})"
            ) from error

    def log_head(self) -> int:
        """The position of the newest log entry, 0 when the log is empty."""
        return self.recorder.max_notification_id() or 0

    @property
    def log_readers_released(self) -> bool:
        """True once `release_log_readers` ran: the service is shutting down."""
        return self._readers_released

    @property
    def log_appends(self) -> int:
        """How many times this process appended to the log (for `wait_for_log`)."""
        with self._log_changed:
            return self._log_appends

    def wait_for_log(self, timeout: float, appends: int | None = None) -> None:
        """Waits up to `timeout` seconds for a writer in this process to append to the log
        (or for `release_log_readers`); writers in other processes are not seen, so callers
        poll `log_head` after it returns. With `appends` (`log_appends` read before the
        caller last read the log), it returns at once if an append happened since."""
        with self._log_changed:
            if self._readers_released or (appends is not None and appends != self._log_appends):
                return
            self._log_changed.wait(timeout=max(timeout, 0.0))

    def scan_log(
        self, after: int, through: int, topics: Sequence[str], limit: int = LOG_PAGE_DEFAULT
    ) -> tuple[list[LogRecord], int]:
        """The entries after `after` up to and including `through` whose topic is one of
        `topics`, at most `limit` (at most 1,000), and the position the log has been read up
        to: `through`, or the last entry's position when the page is full.

        Only the matching entries are decoded; `through` bounds the query's scan, and must not
        exceed `log_head()` read before (PostgreSQL's table lock keeps positions up to the
        head committed, so nothing up to it appears later)."""
        limit = min(limit or LOG_PAGE_DEFAULT, LOG_PAGE_MAX)
        if through <= after:
            return [], after
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, stop=through, topics=topics, inclusive_of_start=False
        )
        records = [self.record_of(n) for n in notifications]
        read_to = records[-1].position if len(records) == limit else through
        return records, read_to

    def read_log(self, after: int, limit: int = 0, max_wait: float = 0.0) -> list[LogRecord]:
        """Returns up to `limit` entries after `after` (0 means 500, at most 1,000), waiting up
        to `max_wait` seconds (at most 30) when there are none yet."""
        return [self.record_of(n) for n in self.read_notifications(after, limit, max_wait)]

    def read_notifications(
        self, after: int, limit: int = 0, max_wait: float = 0.0
    ) -> Sequence[Notification]:
        """`read_log`'s entries as stored, not decoded (`record_of` decodes one)."""
        limit = min(limit or LOG_PAGE_DEFAULT, LOG_PAGE_MAX)
        deadline = time.monotonic() + min(max(max_wait, 0.0), LOG_WAIT_MAX_SECONDS)
        while not self._readers_released:
            with self._log_changed:
                appends = self._log_appends
            notifications = self.recorder.select_notifications(
                start=after, limit=limit, inclusive_of_start=False
            )
            if notifications:
                return notifications
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._readers_released:
                return []
            with self._log_changed:
                # An append while the query ran would not wake a wait begun after it.
                if self._log_appends == appends:
                    self._log_changed.wait(timeout=min(remaining, LOG_WAIT_POLL_SECONDS))
        return []


def _timestamp(event: Any) -> datetime:
    timestamp = event.timestamp
    assert isinstance(timestamp, datetime)
    return timestamp


def _stored_ids_postgres(recorder: PostgresAggregateRecorder, ids: Sequence[UUID]) -> set[UUID]:
    statement = SQL(
        "SELECT DISTINCT originator_id FROM {}.{} WHERE originator_id = ANY(%s)"
    ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, (list(ids),))
        return {UUID(str(row["originator_id"])) for row in cursor.fetchall()}


class TrackingApplication(LoggedApplication):
    """A log consumer: it writes its own events and its upstream positions in one transaction."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env=env)
        self.absent_ids: set[UUID] = set()
        self._writer = EventWriter(self.mapper) if EventWriter.supports(self.mapper) else None

    @property
    def process_recorder(self) -> ProcessRecorder:
        """The recorder, typed as one that tracks positions."""
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    def position(self, upstream: str) -> int:
        """The last upstream position processed (0 before the first)."""
        return self.process_recorder.max_tracking_id(upstream) or 0

    def discard_cached_state(self) -> None:
        """Forgets cached aggregates, after a failed transaction may have left them ahead."""
        self._repository = self.construct_repository()
        self.absent_ids.clear()

    def stand_by(self) -> None:
        """Another replica writes this store now (it leads this consumer's logs): cached
        aggregates are brought up to date on every read (fast-forward) and no id is assumed
        absent, until `discard_cached_state` starts a term of its own."""
        self.repository.fastforward = True
        self.absent_ids.clear()

    def unit_of_work(self) -> UnitOfWork:
        """A unit of work on this application's repository and its known-absent ids."""
        return UnitOfWork(self.repository, self.absent_ids, self._writer)

    def save_tracked(self, upstream: str, position: int, unit: UnitOfWork) -> None:
        """Saves the unit's events, in the order they happened, with the upstream position."""
        self.save_unit(unit, Tracking(notification_id=position, application_name=upstream))

    def save_unit(self, unit: UnitOfWork, tracking: Tracking | None = None) -> None:
        """Saves the unit's events in the order they happened, in one transaction."""
        unit.collect_pending()
        if not unit.stored_directly:
            domain = [e for e in unit.events if not isinstance(e, StoredEvent)]
            self.save_events(domain, tracking=tracking, aggregates=unit.aggregates)
            return
        to_stored = self.mapper.to_stored_event
        self.save_stored(
            [e if isinstance(e, StoredEvent) else to_stored(e) for e in unit.events],
            tracking=tracking,
        )
        cache = self.repository.cache
        if cache is not None and not self.repository.fastforward:
            for aggregate_id, aggregate in unit.aggregates.items():
                cache.put(aggregate_id, aggregate)
        if self.snapshots:
            processing = ProcessingEvent[UUID]()
            processing.events = [e for e in unit.events if not isinstance(e, StoredEvent)]
            processing.aggregates = dict(unit.aggregates)
            self._take_snapshots(processing)


class UnitOfWork:
    """The aggregates one page of processing touches, and their new events in causal order.

    Events are collected right after each change (`collect`), so a consumer of this log
    reads them in the order they happened, across aggregates. `create` and `trigger` make a
    change and write its stored event directly (`common.direct_events`), when the unit has
    a writer; `events` then holds stored events among the domain events.
    """

    def __init__(
        self,
        repository: Repository[UUID],
        absent: set[UUID] | None = None,
        writer: EventWriter | None = None,
    ) -> None:
        """`absent` remembers ids known to have no events (valid for the log's only writer),
        so a lookup of something new costs no query the second time; `writer` writes the
        events of `create` and `trigger` without event objects (None: through the
        aggregates' methods)."""
        self._repository = repository
        self._absent = absent if absent is not None else set()
        self._writer = writer
        self.aggregates: dict[UUID, Aggregate] = {}
        self.events: list[DomainEventProtocol[UUID] | StoredEvent] = []
        self.stored_directly = False

    def create(self, kind: type[A], aggregate_id: UUID, **kwargs: Any) -> A:
        """A new aggregate, `kind(id=aggregate_id, **kwargs)`, added to the unit with its
        creation event."""
        if self._writer is None:
            aggregate = kind(id=aggregate_id, **kwargs)  # type: ignore[call-arg]
            self.add(aggregate)
            return aggregate
        aggregate, stored = self._writer.create(kind, aggregate_id, **kwargs)
        self._absent.discard(aggregate_id)
        self.aggregates[aggregate_id] = aggregate
        self.events.append(stored)
        self.stored_directly = True
        return aggregate

    def trigger(self, aggregate: Aggregate, event_class: type, **kwargs: Any) -> None:
        """Changes the aggregate as its `@event` method of `event_class` does with these
        keyword arguments, and collects the event."""
        self.aggregates[aggregate.id] = aggregate
        if self._writer is None:
            getattr(aggregate, decorated_funcs[event_class].__name__)(**kwargs)
            self.collect(aggregate)
            return
        self.collect(aggregate)  # events its methods triggered come first
        self.events.append(self._writer.trigger(aggregate, event_class, **kwargs))
        self.stored_directly = True

    def get(self, kind: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate with this id, from this unit or the store; None if there is none."""
        found = self.aggregates.get(aggregate_id)
        if found is None:
            if aggregate_id in self._absent:
                return None
            try:
                found = self._repository.get(aggregate_id)
            except AggregateNotFoundError:
                if len(self._absent) >= ABSENT_IDS_MAX:
                    self._absent.clear()
                self._absent.add(aggregate_id)
                return None
            self.aggregates[aggregate_id] = found
        if not isinstance(found, kind):
            raise TypeError(f"{aggregate_id} is a {type(found).__name__}, not a {kind.__name__}")
        return found

    def add(self, aggregate: Aggregate) -> None:
        """Adds a new aggregate and collects its creation event."""
        self._absent.discard(aggregate.id)
        self.aggregates[aggregate.id] = aggregate
        self.collect(aggregate)

    def learn_absent(
        self, candidates: Iterable[UUID], stored: Callable[[list[UUID]], set[UUID]]
    ) -> None:
        """Finds out with one query which of these ids have no events yet, so that looking
        them up later costs nothing (`stored` is the application's `stored_ids`)."""
        # Membership in the cache's mapping: `cache.get` takes a lock and reorders its LRU
        # list for each id, which cost more than the rest of this filter.
        cache = self._repository.cache
        cached: Container[UUID] = cache.cache if cache is not None else ()
        aggregates, absent = self.aggregates, self._absent
        unknown = [
            i
            for i in dict.fromkeys(candidates)
            if i not in aggregates and i not in absent and i not in cached
        ]
        if unknown:
            present = stored(unknown)
            absent.update(i for i in unknown if i not in present)

    def collect(self, *aggregates: Aggregate) -> None:
        """Collects the aggregates' new events, in the order given."""
        for aggregate in aggregates:
            self.events.extend(aggregate.collect_events())

    def collect_pending(self) -> None:
        """Collects whatever events are still pending on the unit's aggregates."""
        self.collect(*self.aggregates.values())


def positions(app: TrackingApplication, upstreams: Sequence[str]) -> dict[str, int]:
    """The tracked position of each named upstream."""
    return {name: app.position(name) for name in upstreams}
