"""Aggregate events applied and encoded without the library's event objects (hot paths).

`@event` methods of the eventsourcing library build an event object per change, apply it
through generic keyword filtering, and the mapper encodes it later with a JSON hook per
datetime and UUID: on a consumer's hot path that costs more than the rest of its work. An
`EventWriter` makes the same change by calling the decorated method's own function (one
source of truth for the aggregate's state) and writes the stored event the mapper would
have written, byte for byte (the JSON transcoder's form; the same compression and
encryption), so every reader decodes it with the library as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate, decorated_funcs
from eventsourcing.domain import _created_event_classes as created_event_classes
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import get_topic

A = TypeVar("A", bound=Aggregate)

# The library's JSONTranscoder settings, without the hook it calls for each datetime or UUID.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# `JSONEncoder.encode` builds the C encoder again for every call; one built once writes the
# same text (transcoded values hold no cycles to check for). Python without the C
# accelerator falls back to the encoder above.
_MAKE_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODER = (
    _MAKE_C_ENCODER(
        None, _refuse, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    if _MAKE_C_ENCODER is not None
    else None
)


def _json(state: Any) -> str:
    if _C_ENCODER is None:
        return _ENCODER.encode(state)
    return "".join(_C_ENCODER(state, 0))


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _datetime(value: datetime) -> dict[str, str]:
    return {"_type_": "datetime_iso", "_data_": value.isoformat()}


def _uuid(value: UUID) -> dict[str, str]:
    return {"_type_": "uuid_hex", "_data_": value.hex}


def _mapping(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v if type(v) in _PLAIN else transcoded(v) for k, v in value.items()}


def _sequence(value: list[Any] | tuple[Any, ...]) -> list[Any]:
    return [v if type(v) in _PLAIN else transcoded(v) for v in value]


# By exact type (a lookup, not a chain of isinstance checks); subclasses are found below.
_TRANSCODINGS: dict[type, Callable[[Any], Any]] = {
    datetime: _datetime,
    UUID: _uuid,
    dict: _mapping,
    list: _sequence,
    tuple: _sequence,
}


def transcoded(value: Any) -> Any:
    """A value as the library's JSON transcoder (UUIDs as hex, datetimes as ISO strings)
    writes it, in plain JSON types; raises TypeError for other types."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    transcoding = _TRANSCODINGS.get(kind)
    if transcoding is None:
        if isinstance(value, str | int | float):  # enums: JSON writes them as their values
            return value
        for base, found in _TRANSCODINGS.items():
            if isinstance(value, base):
                transcoding = found
                break
        else:
            raise TypeError(f"{kind.__name__} has no direct transcoding")
    return transcoding(value)


class EventWriter:
    """Changes aggregates as their `@event` methods do and returns the stored events.

    It is used only when the application's mapper is the library's own with its JSON
    transcoder (`supports`); callers fall back to the aggregate's methods otherwise.
    """

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self._mapper = mapper
        self._topics: dict[type, str] = {}

    @staticmethod
    def supports(mapper: Mapper[UUID]) -> bool:
        """Whether events can be written directly for this mapper."""
        return type(mapper) is Mapper and type(mapper.transcoder) is JSONTranscoder

    def _stored(self, originator_id: UUID, version: int, topic: str, state: Any) -> StoredEvent:
        data = _json(state).encode("utf8")
        if self._mapper.compressor:
            data = self._mapper.compressor.compress(data)
        if self._mapper.cipher:
            data = self._mapper.cipher.encrypt(data)
        return StoredEvent(
            originator_id=originator_id, originator_version=version, topic=topic, state=data
        )

    def _topic(self, cls: type) -> str:
        topic = self._topics.get(cls)
        if topic is None:
            topic = self._topics[cls] = get_topic(cls)
        return topic

    def create(self, kind: type[A], aggregate_id: UUID, **kwargs: Any) -> tuple[A, StoredEvent]:
        """A new aggregate, as `kind(id=aggregate_id, **kwargs)` creates it, and its stored
        creation event. `kind.__init__` must be an `@event` that takes `id`."""
        (event_class,) = created_event_classes[kind]
        timestamp = datetime.now(UTC)
        aggregate = kind.__new__(kind)
        aggregate.__base_init__(
            originator_id=aggregate_id, originator_version=1, timestamp=timestamp
        )
        aggregate.__init__(id=aggregate_id, **kwargs)  # type: ignore[misc]
        state = {
            "timestamp": transcoded(timestamp),
            "originator_topic": self._topic(kind),
            **{name: transcoded(value) for name, value in kwargs.items()},
        }
        return aggregate, self._stored(aggregate_id, 1, self._topic(event_class), state)

    def trigger(self, aggregate: Aggregate, event_class: type, **kwargs: Any) -> StoredEvent:
        """Changes the aggregate as the `@event` method of `event_class` does with these
        keyword arguments, and returns the stored event."""
        function: Callable[..., None] = decorated_funcs[event_class]
        timestamp = datetime.now(UTC)
        version = aggregate.version + 1
        function(aggregate, **kwargs)
        # What the library's apply sets after calling the method.
        aggregate._version = version
        aggregate._modified_on = timestamp
        state = {
            "timestamp": transcoded(timestamp),
            **{name: transcoded(value) for name, value in kwargs.items()},
        }
        return self._stored(aggregate.id, version, self._topic(event_class), state)
