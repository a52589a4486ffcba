"""The guarded resolver's decisions: plain values, each with the evidence that caused it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Evidence:
    """Which observation, and which identifiers it carried."""

    obs_id: str
    identifiers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PersonCreated:
    """A new person, from identifiers that belonged to nobody."""

    person_id: str
    identifiers: tuple[str, ...]
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class IdentifiersLinked:
    """New identifiers joined an existing person; `joined`: the identifiers linked through."""

    person_id: str
    identifiers: tuple[str, ...]
    evidence: Evidence
    joined: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PersonsMerged:
    """The younger person `merged` joined the older `survivor`, bringing `identifiers`.

    `joined`: the observation's identifiers that were joined (the link's edge in the graph).
    """

    survivor: str
    merged: str
    identifiers: tuple[str, ...]
    evidence: Evidence
    joined: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MergeRefused:
    """Joining the observation's persons would break `reason`'s limit; an identifier was dropped.

    `persons` are the distinct persons the observation's identifiers belong to afterwards: the
    refusal keeps them apart, and they count towards the dropped identifier's fan-out.
    """

    observation: Evidence
    persons: tuple[str, ...]
    reason: str
    dropped_identifier: str
    ts: datetime | None = None


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
