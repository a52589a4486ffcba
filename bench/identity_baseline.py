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
    """Union-find over identifiers with a per-person limit per kind."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}
        self._members: dict[str, dict[str, set[str]]] = {}

    def observe(self, identifiers: Iterable[str]) -> None:
        """Joins the identifiers of one observation to its strongest one, where the limits
        allow; an identifier whose join is refused stays where it was."""
        ordered = sorted(set(identifiers), key=lambda i: (PRIORITY[i.partition(":")[0]], i))
        for identifier in ordered:
            if identifier not in self._parent:
                self._parent[identifier] = identifier
                kind = identifier.partition(":")[0]
                self._members[identifier] = {kind: {identifier}} if kind in MAX_PER_PERSON else {}
        if not ordered:
            return
        anchor = ordered[0]
        for other in ordered[1:]:
            a, b = self._find(anchor), self._find(other)
            if a == b or not self._within_limits(a, b):
                continue
            self._parent[b] = a
            for kind, members in self._members.pop(b).items():
                self._members[a].setdefault(kind, set()).update(members)

    def clusters(self) -> dict[str, str]:
        """Identifier → its person (the root identifier of its set)."""
        return {identifier: self._find(identifier) for identifier in self._parent}

    def _within_limits(self, a: str, b: str) -> bool:
        members_a, members_b = self._members[a], self._members[b]
        return all(
            len(members_a.get(kind, set()) | members_b.get(kind, set())) <= limit
            for kind, limit in MAX_PER_PERSON.items()
        )

    def _find(self, identifier: str) -> str:
        parent = self._parent
        root = identifier
        while parent[root] != root:
            root = parent[root]
        while parent[identifier] != root:
            parent[identifier], identifier = root, parent[identifier]
        return root


def resolve_lines(lines: Iterable[str]) -> dict[str, str]:
    """Resolves JSON lines (resolve-file's format) with the simple guarded rules."""
    resolver = SimpleGuardedResolver()
    for line in lines:
        obj = json.loads(line)
        keys = (identifier_key(field, str(value)) for field, value in obj.items())
        resolver.observe(key for key in keys if key is not None)
    return resolver.clusters()
