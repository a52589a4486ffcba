"""Events inserted by a service's recorder read back byte for byte, with their notification ids
in insert order, and a duplicate (id, version) still rejects the whole insert, on SQLite and
PostgreSQL (where rows go in as column arrays)."""

from __future__ import annotations

from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from common.eventlog import TrackingApplication
from common.storage import database_for
from tests.conftest import Storage

# Bytes a text encoding must escape: NUL, backslashes, quotes, braces, commas, high bytes.
AWKWARD_STATES = [
    b"\x00\x01\\\\\"'{}(),\xff\xfe",
    b"",
    b'{"a": "b\\\\c", "d": [1, 2]}',
    bytes(range(256)),
]


def open_store(storage: Storage) -> TrackingApplication:
    database = database_for("attribution", storage.database_url, storage.data_dir)
    database.ensure_schema()
    return TrackingApplication(env=database.eventsourcing_env())


def test_inserted_events_read_back_byte_for_byte_with_ids_in_order(storage: Storage) -> None:
    app = open_store(storage)
    originator = uuid4()
    events = [
        StoredEvent(originator, version, f"module:Kind{version}", state)
        for version, state in enumerate(AWKWARD_STATES, start=1)
    ]
    app.recorder.insert_events(events)
    app.save_stored([StoredEvent(uuid4(), 1, "module:Other", b"\\x00 not hex")])

    notifications = app.recorder.select_notifications(start=None, limit=10)
    app.close()
    assert [n.id for n in notifications] == sorted(n.id for n in notifications)
    assert [(n.originator_id, n.originator_version, n.topic, n.state) for n in notifications][
        :-1
    ] == [(e.originator_id, e.originator_version, e.topic, e.state) for e in events]
    assert notifications[-1].state == b"\\x00 not hex"


def test_a_duplicate_version_rejects_the_whole_insert(storage: Storage) -> None:
    app = open_store(storage)
    originator = uuid4()
    app.save_stored([StoredEvent(originator, 1, "module:Kind", b"first")])
    with pytest.raises(IntegrityError):
        app.save_stored(
            [
                StoredEvent(uuid4(), 1, "module:Kind", b"new"),
                StoredEvent(originator, 1, "module:Kind", b"again"),
            ]
        )
    stored = app.recorder.select_notifications(start=None, limit=10)
    app.close()
    assert [n.state for n in stored] == [b"first"]
