"""A property's resolution rules: per-kind priorities and limits, blocked values, fan-out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from common.identifiers import ALL_ZERO_ID, PLACEHOLDER_VALUES
from services.identity.observations import IdentifierKind


@dataclass(frozen=True, slots=True)
class KindRule:
    """How one identifier kind takes part in resolution.

    `priority`: 1 is the strongest; in a refused merge the identifier with the largest number
    is dropped. `max_per_person`: at most this many identifiers of the kind per person (None:
    unlimited). `max_persons`: the kind's fan-out limit (None: the rules' default).
    `duplicate_records`: identifiers of the kind name records that can be entered twice for
    one person (CRM records with a typo); a probabilistic link between two of them says they
    are duplicates, so the pair counts once against `max_per_person`.
    `keeps_devices_apart`: the kind never vouches for a device on its own: in an observation
    whose strongest identifier is of this kind, the anonymous ids (cookies) are not joined to
    anyone (a shared mailbox: the email identifies the mailbox, not who clicked).
    `max_unvouched`: a person may hold more than this many identifiers of the kind (up to
    `max_per_person`) only through an observation that also shows a stronger identifier (a
    login or a CRM record): a second email seen only with a cookie may be a family mailbox or
    a partner's address typed on a shared computer, one seen with the login is the person's.
    None: no such condition.
    `names_person`: the kind names one person (a login, an email address, a phone number):
    a probabilistic link never joins two groups that each hold one, since weak signals two
    identified people share (home IP, family device, city) are a household's, and one
    person's identifiers of these kinds show up together in observations.
    """

    priority: int
    max_per_person: int | None = None
    max_persons: int | None = None
    duplicate_records: bool = False
    keeps_devices_apart: bool = False
    max_unvouched: int | None = None
    names_person: bool = False


DEFAULT_KINDS: Mapping[str, KindRule] = MappingProxyType(
    {
        IdentifierKind.USER.value: KindRule(priority=1, max_per_person=1, names_person=True),
        IdentifierKind.CRM.value: KindRule(priority=2, max_per_person=1, duplicate_records=True),
        IdentifierKind.EMAIL.value: KindRule(
            priority=3, max_per_person=3, max_persons=1, max_unvouched=1, names_person=True
        ),
        IdentifierKind.PHONE.value: KindRule(
            priority=4, max_per_person=2, max_persons=1, max_unvouched=1, names_person=True
        ),
        IdentifierKind.ANONYMOUS.value: KindRule(priority=5, max_per_person=None, max_persons=2),
    }
)

DEFAULT_BLOCKED_VALUES: frozenset[str] = PLACEHOLDER_VALUES


@dataclass(frozen=True, slots=True)
class IdentityRules:
    """A property's resolution rules: kinds, blocked values, fan-out limit, link threshold.

    An identifier seen with more than its kind's `max_persons` (default
    `max_persons_per_identifier`) distinct persons within `fanout_window` is marked shared.
    Values are compared trimmed and case-insensitively; all-zero ids are always blocked.
    """

    kinds: Mapping[str, KindRule] = field(default_factory=lambda: DEFAULT_KINDS)
    blocked_values: frozenset[str] = DEFAULT_BLOCKED_VALUES
    max_persons_per_identifier: int = 5
    fanout_window: timedelta = timedelta(days=30)
    min_probabilistic_weight: float = 0.0

    def rule(self, kind: str) -> KindRule | None:
        """The rule of a kind, None when the kind is not resolved in this property."""
        return self.kinds.get(kind)

    def fanout_limit(self, kind: str) -> int:
        """How many distinct persons an identifier of `kind` may be seen with."""
        rule = self.kinds.get(kind)
        if rule is None or rule.max_persons is None:
            return self.max_persons_per_identifier
        return rule.max_persons

    def blocked_reason(self, identifier: str) -> str | None:
        """Why an identifier never takes part in resolution, or None when it may."""
        kind, sep, value = identifier.partition(":")
        if not sep:
            return "not a typed identifier (expected '<kind>:<value>')"
        if kind not in self.kinds:
            return f"identifier kind {kind!r} is not resolved"
        value = value.strip().lower()
        if value in self.blocked_values:
            return "blocked value"
        if ALL_ZERO_ID.fullmatch(value):
            return "all-zero id"
        return None


def rules_to_dict(rules: IdentityRules) -> dict[str, Any]:
    """A property's rules as plain values (for the event that stores them)."""
    return {
        "kinds": {
            kind: {
                "priority": rule.priority,
                "max_per_person": rule.max_per_person,
                "max_persons": rule.max_persons,
                "duplicate_records": rule.duplicate_records,
                "keeps_devices_apart": rule.keeps_devices_apart,
                "max_unvouched": rule.max_unvouched,
                "names_person": rule.names_person,
            }
            for kind, rule in sorted(rules.kinds.items())
        },
        "blocked_values": sorted(rules.blocked_values),
        "max_persons_per_identifier": rules.max_persons_per_identifier,
        "fanout_window_seconds": rules.fanout_window.total_seconds(),
        "min_probabilistic_weight": rules.min_probabilistic_weight,
    }


def rules_from_dict(data: Mapping[str, Any]) -> IdentityRules:
    """The inverse of `rules_to_dict`."""
    return IdentityRules(
        kinds=MappingProxyType(
            {
                kind: KindRule(
                    priority=int(rule["priority"]),
                    max_per_person=rule["max_per_person"],
                    max_persons=rule["max_persons"],
                    duplicate_records=bool(rule["duplicate_records"]),
                    keeps_devices_apart=bool(rule.get("keeps_devices_apart", False)),
                    max_unvouched=rule.get("max_unvouched"),
                    names_person=bool(rule.get("names_person", False)),
                )
                for kind, rule in data["kinds"].items()
            }
        ),
        blocked_values=frozenset(data["blocked_values"]),
        max_persons_per_identifier=int(data["max_persons_per_identifier"]),
        fanout_window=timedelta(seconds=float(data["fanout_window_seconds"])),
        min_probabilistic_weight=float(data["min_probabilistic_weight"]),
    )


def kind_of(identifier: str) -> str:
    """The kind prefix of an identifier key ("email" for "email:<sha256>")."""
    return identifier.partition(":")[0]


__all__ = [
    "DEFAULT_BLOCKED_VALUES",
    "DEFAULT_KINDS",
    "IdentityRules",
    "KindRule",
    "kind_of",
    "rules_from_dict",
    "rules_to_dict",
]
