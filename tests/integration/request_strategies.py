"""Hypothesis strategies for any protobuf request message, built from its descriptor: every
field random and well-formed on the wire, with the extremes that break naive code (int64
limits, out-of-range timestamps and durations, unknown enum numbers, long and odd strings)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

MAX_DEPTH = 4
MAX_REPEATED = 3
NOW_SECONDS = int(datetime.now(UTC).timestamp())
DAY = 86_400

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_ODD_STRINGS = [
    "",
    " ",
    "\x00",
    "shop\n",
    "ünïcødé",
    "\U0001f600",
    "\u202e",
    "%s%n",
    "'; DROP TABLE events; --",
    "undefined",
    "null",
    ":",
]


def _repeated(unit_and_count: tuple[str, int]) -> str:
    unit, count = unit_and_count
    return unit * count


_long_text = st.tuples(st.sampled_from(["a", "é", "\U0001f600"]), st.integers(200, 5000)).map(
    _repeated
)


def integers(low: int, high: int) -> st.SearchStrategy[int]:
    """Integers in [low, high], often at the edges: the limits, 2^63, 2^62, 2^31, ±1, 0."""
    edges = [high, low, 2**63, 2**63 - 1, 2**62, 2**53, 2**32, 2**31, 2**31 - 1, 1, 0]
    edges += [-e for e in edges]
    in_range = [e for e in dict.fromkeys(edges) if low <= e <= high]
    return st.one_of(
        st.sampled_from(in_range),
        st.integers(max(low, -1000), min(high, 1000)),
        st.integers(low, high),
    )


def _seconds(plausible_span: int) -> st.SearchStrategy[int]:
    return st.one_of(
        st.integers(NOW_SECONDS - plausible_span, NOW_SECONDS + DAY),
        st.integers(-plausible_span, plausible_span),
        integers(-(2**63), 2**63 - 1),
        st.sampled_from([-62_135_596_801, -62_135_596_800, 253_402_300_799, 253_402_300_800]),
    )


def _nanos() -> st.SearchStrategy[int]:
    return st.one_of(st.just(0), st.integers(0, 999_999_999), integers(-(2**31), 2**31 - 1))


def timestamps() -> st.SearchStrategy[dict[str, int]]:
    """Timestamp fields: mostly around now, and far outside what datetime can hold."""
    return st.fixed_dictionaries({"seconds": _seconds(400 * DAY), "nanos": _nanos()})


def durations() -> st.SearchStrategy[dict[str, int]]:
    """Duration fields: plausible spans, negative ones, and ±2^62 and beyond."""
    seconds = st.one_of(st.integers(-DAY, 400 * DAY), integers(-(2**63), 2**63 - 1))
    return st.fixed_dictionaries({"seconds": seconds, "nanos": _nanos()})


class RequestStrategies:
    """Strategies for request messages; `strings` names plausible values per field name
    (so that calls get past the first check and reach deeper code), `string_pool` more for
    every string field."""

    def __init__(
        self, strings: Mapping[str, Sequence[str]], string_pool: Sequence[str] = ()
    ) -> None:
        self._strings = strings
        self._pool = list(string_pool)

    def message(self, descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
        """Messages of the type `descriptor` describes."""
        message_class = message_factory.GetMessageClass(descriptor)
        return self._fields(descriptor, depth).map(lambda fields: message_class(**fields))

    def mutations(self, valid: st.SearchStrategy[Message]) -> st.SearchStrategy[Message]:
        """Valid requests with one to three fields, at any depth, set to random values: they
        get past the first checks, so odd values reach the code that stores and uses them."""
        return _mutated(self, valid)

    def field_values(self, field: FieldDescriptor) -> st.SearchStrategy[Any]:
        """Values for one field (a list for a repeated field, a dict for a map)."""
        return self._field(field, 1)

    def _fields(self, descriptor: Descriptor, depth: int) -> st.SearchStrategy[dict[str, Any]]:
        if descriptor.full_name == "google.protobuf.Timestamp":
            return timestamps()
        if descriptor.full_name == "google.protobuf.Duration":
            return durations()
        plain: dict[str, st.SearchStrategy[Any]] = {}
        for field in descriptor.fields:
            if field.containing_oneof is None:
                plain[field.name] = self._field(field, depth)
        choices = [
            st.one_of(
                st.just({}),
                *(
                    self._field(f, depth).map(lambda value, name=f.name: {name: value})
                    for f in oneof.fields
                ),
            )
            for oneof in descriptor.oneofs
        ]
        optional = {
            name: st.one_of(st.none(), value)
            if _is_message(descriptor.fields_by_name[name])
            else value
            for name, value in plain.items()
        }
        return st.tuples(st.fixed_dictionaries(optional), *choices).map(_merged)

    def _field(self, field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key, value = field.message_type.fields
            return st.dictionaries(
                self._scalar(key, depth), self._scalar(value, depth), max_size=MAX_REPEATED
            )
        single = self._scalar(field, depth)
        if field.is_repeated:
            return st.lists(single, max_size=MAX_REPEATED if depth < MAX_DEPTH else 0)
        return single

    def _scalar(self, field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
        kind = field.type
        if kind in _INT_RANGES:
            return integers(*_INT_RANGES[kind])
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return st.one_of(st.sampled_from([0.0, 0.2, 0.5, 1.0, -0.5]), st.floats())
        if kind == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if kind == FieldDescriptor.TYPE_STRING:
            return self._string(field.name)
        if kind == FieldDescriptor.TYPE_BYTES:
            return st.binary(max_size=64)
        if kind == FieldDescriptor.TYPE_ENUM:
            known = [value.number for value in field.enum_type.values]
            return st.one_of(st.sampled_from(known), integers(-(2**31), 2**31 - 1))
        if depth >= MAX_DEPTH:
            return st.just(message_factory.GetMessageClass(field.message_type)())
        return self.message(field.message_type, depth + 1)

    def _string(self, name: str) -> st.SearchStrategy[str]:
        plausible = [*self._strings.get(name, ()), *self._pool]
        random = st.one_of(st.sampled_from(_ODD_STRINGS), st.text(max_size=40), _long_text)
        if not plausible:
            return random
        return st.one_of(st.sampled_from(plausible), random)


@st.composite
def _mutated(
    draw: st.DrawFn, strategies: RequestStrategies, valid: st.SearchStrategy[Message]
) -> Message:
    message = draw(valid)
    for _ in range(draw(st.integers(1, 3))):
        holder, field = draw(st.sampled_from(_field_places(message)))
        _set(holder, field, draw(strategies.field_values(field)))
    return message


def _field_places(message: Message) -> list[tuple[Message, FieldDescriptor]]:
    """Every field of `message` and of the sub-messages it holds, in descriptor order."""
    places: list[tuple[Message, FieldDescriptor]] = []
    for field in message.DESCRIPTOR.fields:
        places.append((message, field))
        value = getattr(message, field.name)
        if field.message_type is None or field.message_type.GetOptions().map_entry:
            continue
        if field.is_repeated:
            for element in value:
                places.extend(_field_places(element))
        elif message.HasField(field.name):
            places.extend(_field_places(value))
    return places


def _set(holder: Message, field: FieldDescriptor, value: Any) -> None:
    current = getattr(holder, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        current.clear()
        for key, item in value.items():
            if isinstance(item, Message):
                current[key].CopyFrom(item)
            else:
                current[key] = item
    elif field.is_repeated:
        del current[:]
        current.extend(value)
    elif field.message_type is not None:
        current.CopyFrom(value)
    else:
        setattr(holder, field.name, value)


def _is_message(field: FieldDescriptor) -> bool:
    return field.message_type is not None and not field.is_repeated


def _merged(parts: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update({name: value for name, value in part.items() if value is not None})
    return merged
