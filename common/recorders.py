"""The eventsourcing library's PostgreSQL recorder, retrying the way a served call can afford and
inserting events as column arrays."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from eventsourcing import persistence
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier
from psycopg_pool.base import AttemptWithBackoff

T = TypeVar("T")

# psycopg_pool retries a lost connection after 1 s, then doubles the wait (1, 2, 4, 8, 16 s…,
# up to its 5-minute reconnect timeout), and a call waits for a connection only 3 s. After an
# outage of 20 s the pool's next attempt could come 15 s after the database was back, and every
# call in between answered UNAVAILABLE. Here the pools retry about once a second (±10%) for as
# long as the database is down: a few refused connects per second, and a service serves again
# within about a second of its database.
AttemptWithBackoff.DELAY_BACKOFF = 1.0


def once_more_after_dropping_broken(datastore: PostgresDatastore, attempt: Callable[[], T]) -> T:
    """Runs `attempt`; when the database connection failed, drops the pool's broken
    connections (a database restart breaks all of them at once) and runs it once more.

    When the database is down, the second attempt fails too, after one more connection wait.
    """
    try:
        return attempt()
    except (persistence.OperationalError, persistence.InterfaceError):
        datastore.pool.check()
        return attempt()


def _retried_once(method: Callable[..., Any]) -> Callable[..., Any]:
    """The library's method without its own retries, retried once after dropping broken
    connections."""
    unretried: Callable[..., Any] = getattr(method, "__wrapped__", method)

    @functools.wraps(unretried)
    def retried(self: PostgresProcessRecorder, *args: Any, **kwargs: Any) -> Any:
        return once_more_after_dropping_broken(
            self.datastore, lambda: unretried(self, *args, **kwargs)
        )

    return retried


class ServingPostgresProcessRecorder(PostgresProcessRecorder):
    """The library's PostgreSQL process recorder, failing fast enough to answer a call.

    The library retries each operation up to 10 times, and each attempt waits for a
    connection: with the database down a call took 30 s to fail, past clients' deadlines.
    Here an operation is tried at most twice (the second time after dropping the connections
    a database restart left broken), so it fails within two connection waits.

    Events are inserted as four column arrays in binary (`unnest` of uuid/text, bigint,
    text and bytea arrays) instead of the library's one array of a composite type, which
    psycopg writes as text, escaping every event's bytes with a regular expression: the
    same rows, under the same table lock and notification, for about a third of the
    client's CPU (docs/benchmarks.md).
    """

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        id_type = SQL(datastore.originator_id_type)
        self.insert_columns_statement = SQL(
            "INSERT INTO {schema}.{table} AS t (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[])"
            " RETURNING notification_id"
        ).format(
            schema=Identifier(datastore.schema),
            table=Identifier(self.events_table_name),
            id_type=id_type,
        )

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        """The library's insert (table lock, notification, rows in one statement), with the
        rows given as column arrays."""
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self.insert_columns_statement,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )

    insert_events = _retried_once(PostgresProcessRecorder.insert_events)
    select_events = _retried_once(PostgresProcessRecorder.select_events)
    select_notifications = _retried_once(PostgresProcessRecorder.select_notifications)
    max_notification_id = _retried_once(PostgresProcessRecorder.max_notification_id)
    insert_tracking = _retried_once(PostgresProcessRecorder.insert_tracking)
    max_tracking_id = _retried_once(PostgresProcessRecorder.max_tracking_id)
    has_tracking_id = _retried_once(PostgresProcessRecorder.has_tracking_id)
