"""Ingest's facts in the form the event store keeps them, encoded without building aggregates.

A fact is stored as the `Recorded` event that creating its aggregate would have produced,
byte for byte what the eventsourcing library's mapper writes (its JSON transcoder with the
datetime transcoding), so every reader decodes it with the library as before. Building the
aggregate and mapping its event cost more than the rest of ingest's work per event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from services.ingest.domainmodel import (
    Conversion,
    ConversionOutcome,
    Identification,
    PageView,
    RecordedFact,
    Touchpoint,
)
from services.ingest.normalise import FactState

INITIAL_VERSION = 1
# The library's JSONTranscoder settings, without the hook it calls for each datetime.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def stdlib_state_encoder() -> Callable[[Any], bytes]:
    """The library's own encoding of a state (the stdlib's C encoder, then UTF-8)."""
    encode = _ENCODER.encode
    return lambda state: encode(state).encode("utf8")


def state_encoder() -> Callable[[Any], bytes]:
    """The fastest encoder of a fact's state that writes the library's bytes: msgspec's
    (compact, UTF-8, the same escapes; ~4x faster than the stdlib's on ingest's facts,
    which spent ~10 us each there) when installed, else the stdlib's.
    tests/unit/test_ingest_stored_facts.py checks both against the library's mapper."""
    try:
        from msgspec.json import Encoder
    except ImportError:
        return stdlib_state_encoder()
    encode: Callable[[Any], bytes] = Encoder().encode
    return encode


_ENCODE_STATE = state_encoder()
_TOPICS: dict[type[RecordedFact], tuple[str, str]] = {
    kind: (get_topic(kind.Recorded), get_topic(kind))
    for kind in (Touchpoint, PageView, Conversion, Identification, ConversionOutcome)
}


def _datetime(value: datetime) -> dict[str, str]:
    """A datetime as the library's `DatetimeAsISO` transcoding writes it."""
    return {"_type_": "datetime_iso", "_data_": value.isoformat()}


def stored_fact(
    fact: FactState, timestamp: datetime, encode: Callable[[Any], bytes] = _ENCODE_STATE
) -> StoredEvent:
    """The stored `Recorded` event of a fact created at `timestamp`."""
    return stored_facts([fact], timestamp, encode)[0]


def stored_facts(
    facts: Sequence[FactState],
    timestamp: datetime,
    encode: Callable[[Any], bytes] = _ENCODE_STATE,
) -> list[StoredEvent]:
    """The stored `Recorded` events of facts created together at `timestamp` (each state
    written by `encode`, `state_encoder()`'s by default). A batch's facts share their
    receipt time (one object): it is transcoded once while the next fact holds the same
    object. Each fact's own time is transcoded as it is: looking an aware datetime up by
    value costs as much as transcoding it (its hash computes its UTC offset)."""
    created = _datetime(timestamp)
    shared: object = None
    shared_form: dict[str, str] = {}
    stored: list[StoredEvent] = []
    for fact in facts:
        event_topic, aggregate_topic = _TOPICS[fact.kind]
        state: dict[str, object] = {
            "timestamp": created,
            "originator_topic": aggregate_topic,
            **fact.fields,
        }
        occurred_at, received_at = state["occurred_at"], state["received_at"]
        assert isinstance(occurred_at, datetime), "occurred_at is a datetime"
        assert isinstance(received_at, datetime), "received_at is a datetime"
        state["occurred_at"] = _datetime(occurred_at)
        if received_at is not shared:
            shared, shared_form = received_at, _datetime(received_at)
        state["received_at"] = shared_form
        stored.append(
            StoredEvent(
                originator_id=fact.record_id,
                originator_version=INITIAL_VERSION,
                topic=event_topic,
                state=encode(state),
            )
        )
    return stored
