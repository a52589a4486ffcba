"""The guarded resolver's decisions: plain values, each with the evidence that caused it."""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from functools import cache
from typing import Any, get_args, get_origin, get_type_hints


@dataclass(frozen=True, slots=True)
class Evidence:
    """Which observation, and which identifiers it carried."""

    obs_id: str
    identifiers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PersonCreated:
    """A new person, from identifiers that belonged to nobody.

    `birth_dates`: (record identifier, digest of the date of birth its record gave) for new
    records of a `duplicate_records` kind whose observation carried one (offline files).
    """

    person_id: str
    identifiers: tuple[str, ...]
    evidence: Evidence
    birth_dates: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class IdentifiersLinked:
    """New identifiers joined an existing person; `joined`: the identifiers linked through.

    `birth_dates` as in `PersonCreated`. `duplicates`: new records joined as duplicates of the
    person's records (the same date of birth): they do not count against `max_per_person`.
    """

    person_id: str
    identifiers: tuple[str, ...]
    evidence: Evidence
    joined: tuple[str, ...] = ()
    birth_dates: tuple[tuple[str, str], ...] = ()
    duplicates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PersonsMerged:
    """The younger person `merged` joined the older `survivor`, bringing `identifiers`.

    `joined`: the observation's identifiers that were joined (the link's edge in the graph).
    `duplicates`: records of the younger person that joined as duplicates of the survivor's
    (records of a `duplicate_records` kind giving one date of birth between them): they do
    not count against `max_per_person`.
    """

    survivor: str
    merged: str
    identifiers: tuple[str, ...]
    evidence: Evidence
    joined: tuple[str, ...] = ()
    duplicates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MergeRefused:
    """Joining the observation's persons would break `reason`'s limit; an identifier was dropped.

    `persons` are the distinct persons the observation's identifiers belong to afterwards:
    they count towards the dropped identifier's fan-out (an identifier seen with several
    persons' identifiers is shared), and the refusal keeps them apart when `keeps_apart` (a
    limit they would break, such as two logins). A refusal for want of a stronger identifier
    (`KindRule.max_unvouched`) does not keep them apart: the evidence was not enough, which
    does not make them different people, and a later observation with a login may join them.
    The refusal counts towards the dropped identifier's fan-out unless `counts_for_fanout` is
    false: an email or phone dropped for want of a stronger identifier in a conflict over
    another kind (a phone typed with a second email) was not what broke the limit.
    """

    observation: Evidence
    persons: tuple[str, ...]
    reason: str
    dropped_identifier: str
    ts: datetime | None = None
    keeps_apart: bool = True
    counts_for_fanout: bool = True


@dataclass(frozen=True, slots=True)
class IdentifierMarkedShared:
    """The identifier was seen with too many persons: it is detached and stops joining."""

    identifier: str
    persons_seen: tuple[str, ...]
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class PersonSplit:
    """A person fell apart once a shared identifier stopped joining it: `parts` left it.

    Each part is (new person id, identifiers) and was connected to the rest only through the
    shared identifier; the person keeps the part holding its oldest identifier.
    """

    person_id: str
    parts: tuple[tuple[str, tuple[str, ...]], ...]
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class ObservationIgnored:
    """An identifier of an observation was not used (blocked value, unknown kind)."""

    identifier: str
    reason: str
    obs_id: str = ""


@dataclass(frozen=True, slots=True)
class PersonForgotten:
    """A person was forgotten (right to erasure): its identifiers belong to nobody."""

    person_id: str
    identifiers: tuple[str, ...]
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class ProbabilisticLinkAdded:
    """A scored link between two identifiers, kept apart from deterministic links.

    `weight` is the match weight (log2 Bayes factor), `evidence` the weight per signal. A
    link between the same two identifiers replaces the earlier one.
    """

    a: str
    b: str
    weight: float
    evidence: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class ProbabilisticLinkRemoved:
    """A probabilistic link no longer holds: a new matching run dropped it, or the guards
    refuse it now (its persons were kept apart, or it would break a limit)."""

    a: str
    b: str
    reason: str


Decision = (
    PersonCreated
    | IdentifiersLinked
    | PersonsMerged
    | MergeRefused
    | IdentifierMarkedShared
    | PersonSplit
    | ObservationIgnored
    | ProbabilisticLinkAdded
    | ProbabilisticLinkRemoved
    | PersonForgotten
)


def link_key(a: str, b: str) -> tuple[str, str]:
    """The key of a probabilistic link between two identifiers (either order)."""
    return (a, b) if a <= b else (b, a)


__all__ = [
    "Decision",
    "Evidence",
    "IdentifierMarkedShared",
    "IdentifiersLinked",
    "MergeRefused",
    "ObservationIgnored",
    "PersonCreated",
    "PersonForgotten",
    "PersonSplit",
    "PersonsMerged",
    "ProbabilisticLinkAdded",
    "ProbabilisticLinkRemoved",
    "link_key",
]


DECISION_TYPES: dict[str, type[Decision]] = {kind.__name__: kind for kind in get_args(Decision)}


def decision_to_dict(decision: Decision) -> tuple[str, dict[str, Any]]:
    """A decision's stored form: its kind (the class name) and its fields as plain data
    (what `dataclasses.asdict` gives, without its deep copies of immutable values)."""
    plain: dict[str, Any] = _plain(decision)
    return type(decision).__name__, plain


_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(value_type: type) -> tuple[str, ...] | None:
    """A dataclass's field names; None for any other type."""
    try:
        return _FIELD_NAMES[value_type]
    except KeyError:
        names = tuple(f.name for f in fields(value_type)) if is_dataclass(value_type) else None
        _FIELD_NAMES[value_type] = names
        return names


def _plain(value: Any) -> Any:
    """Dataclasses as dicts, recursively into tuples; every other value (str, float, bool,
    datetime, None: all immutable) as it is."""
    if type(value) is tuple:
        return tuple(_plain(item) for item in value)
    names = _field_names(type(value))
    if names is None:
        return value
    return {name: _plain(getattr(value, name)) for name in names}


def decision_from_dict(kind: str, data: dict[str, Any]) -> Decision:
    """A decision from its stored form (the inverse of `decision_to_dict`), read by the
    dataclass's field types, so a new decision type needs no code here. Fields a stored
    decision lacks (written before they existed) take their defaults."""
    try:
        decision_type = DECISION_TYPES[kind]
    except KeyError:
        raise ValueError(f"unknown identity decision {kind!r}") from None
    decision: Decision = _build(decision_type, data)
    return decision


@cache
def _field_types(value_type: Any) -> tuple[tuple[str, Any], ...]:
    hints = get_type_hints(value_type)
    return tuple((field.name, hints[field.name]) for field in fields(value_type))


def _build(value_type: Any, data: dict[str, Any]) -> Any:
    return value_type(
        **{
            name: _typed(field_type, data[name])
            for name, field_type in _field_types(value_type)
            if name in data
        }
    )


def _typed(field_type: Any, value: Any) -> Any:
    """The stored value as the field's type: lists become tuples, dicts dataclasses."""
    if isinstance(field_type, type) and is_dataclass(field_type):
        return _build(field_type, value)
    if get_origin(field_type) is tuple:
        items = get_args(field_type)
        if len(items) == 2 and items[1] is Ellipsis:
            return tuple(_typed(items[0], item) for item in value)
        return tuple(_typed(t, item) for t, item in zip(items, value, strict=True))
    return value
