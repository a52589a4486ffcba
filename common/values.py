"""Plain value types that several services share."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class IdentifierType(StrEnum):
    """Kinds of identifier, by the prefix they carry in keys like "anon:abc"."""

    ANONYMOUS_ID = "anon"
    USER_ID = "user"
    EMAIL_SHA256 = "email"
    PHONE_SHA256 = "phone"
    CRM_ID = "crm"


@dataclass(frozen=True, slots=True, order=True)
class Identifier:
    """One identifier of a visitor or person; emails only as SHA-256 hex."""

    type: IdentifierType
    value: str

    @property
    def key(self) -> str:
        """The identifier as one string, for example "anon:7f3c"."""
        return f"{self.type.value}:{self.value}"

    @classmethod
    def from_key(cls, key: str) -> Identifier:
        """Parses "type:value"."""
        prefix, _, value = key.partition(":")
        return cls(IdentifierType(prefix), value)
