"""The simple guarded rule set of issue #12, as a baseline for convtrack's resolver.

Identifiers seen together are joined, strongest first (user > email > phone > CRM > cookie),
unless the joined person would hold more than 1 user id, 2 emails, 2 phones or 4 CRM ids;
cookies are unlimited. Phones are normalised to their digits only, emails trimmed and lower
case. No blocked values, no fan-out limit, no probabilistic links. It reads the same JSON
objects as `convtrack identity resolve-file`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping

PRIORITY = {"user": 1, "email": 2, "phone": 3, "crm": 4, "anon": 5}
MAX_PER_PERSON: Mapping[str, int] = {"user": 1, "email": 2, "phone": 2, "crm": 4}
_FIELDS = {
    "user_id": "user",
    "email": "email",
    "email_sha256": "email",
    "phone": "phone",
    "phone_sha256": "phone",
    "crm_id": "crm",
    "anonymous_id": "anon",
}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def identifier_key(field: str, value: str) -> str | None:
    """The baseline's identifier for a field's raw value; None for a field it does not use
    or an empty value. Raw emails and phones are hashed like the hashed fields."""
    kind = _FIELDS.get(field)
    value = value.strip()
    if kind is None or not value:
        return None
    if field == "email":
        value = _sha256(value.lower())
    elif field == "phone":
        digits = "".join(ch for ch in value if ch.isdigit())
        if not digits:
            return None
        value = _sha256(digits)
    elif field in ("email_sha256", "phone_sha256"):
        value = value.lower()
    return f"{kind}:{value}"


class SimpleGuardedResolver:
    """Persons as sets of identifiers; a join moves the smaller set into the larger."""

    def __init__(self) -> None:
        self._person: dict[str, int] = {}
        self._members: dict[int, set[str]] = {}
        self._by_kind: dict[int, Counter[str]] = {}
        self._created = 0

    def observe(self, identifiers: Iterable[str]) -> None:
        """Joins the identifiers of one observation to its strongest one, where the limits
        allow; an identifier whose join is refused stays where it was."""
        ordered = sorted(set(identifiers), key=lambda i: (PRIORITY[i.partition(":")[0]], i))
        for identifier in ordered:
            if identifier not in self._person:
                person = self._created
                self._created += 1
                self._person[identifier] = person
                self._members[person] = {identifier}
                self._by_kind[person] = Counter([identifier.partition(":")[0]])
        for other in ordered[1:]:
            a, b = self._person[ordered[0]], self._person[other]
            if a != b and self._within_limits(a, b):
                self._join(a, b)

    def clusters(self) -> dict[str, str]:
        """Identifier → its person (a number, as text)."""
        return {identifier: str(person) for identifier, person in self._person.items()}

    def _within_limits(self, a: int, b: int) -> bool:
        joined = self._by_kind[a] + self._by_kind[b]
        return all(joined[kind] <= limit for kind, limit in MAX_PER_PERSON.items())

    def _join(self, a: int, b: int) -> None:
        if len(self._members[a]) < len(self._members[b]):
            a, b = b, a
        moved = self._members.pop(b)
        for identifier in moved:
            self._person[identifier] = a
        self._members[a] |= moved
        self._by_kind[a] += self._by_kind.pop(b)


def resolve_lines(lines: Iterable[str]) -> dict[str, str]:
    """Resolves JSON lines (resolve-file's format) with the simple guarded rules."""
    resolver = SimpleGuardedResolver()
    for line in lines:
        obj = json.loads(line)
        keys = (identifier_key(field, str(value)) for field, value in obj.items())
        resolver.observe(key for key in keys if key is not None)
    return resolver.clusters()
