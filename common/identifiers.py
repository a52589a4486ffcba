"""Normalisation and hashing of personal identifiers such as email addresses."""

from __future__ import annotations

import hashlib
import re

MAX_LOCAL_PART_LENGTH = 64
MAX_DOMAIN_LENGTH = 253
MAX_LABEL_LENGTH = 63
MAX_ADDRESS_LENGTH = 254

_LOCAL_PART = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]+")
_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class InvalidEmailError(ValueError):
    """The value is not a usable email address; the message says why."""


def normalise_email(raw: str) -> str:
    """Trim and lower-case an email address, raising ``InvalidEmailError`` when it is invalid.

    Accepts ASCII addresses with a dot-atom local part of at most 64 characters and a domain of
    at least two labels made of letters, digits and inner hyphens, with a non-numeric top level.
    """
    address = raw.strip().lower()
    if not address:
        raise InvalidEmailError("email address is empty")
    if any(char.isspace() for char in address):
        raise InvalidEmailError("email address contains whitespace")
    if len(address) > MAX_ADDRESS_LENGTH:
        raise InvalidEmailError(f"email address is longer than {MAX_ADDRESS_LENGTH} characters")
    if address.count("@") != 1:
        raise InvalidEmailError("email address must contain exactly one '@'")
    local, domain = address.split("@")
    _check_local_part(local)
    _check_domain(domain)
    return address


def _check_local_part(local: str) -> None:
    if not local:
        raise InvalidEmailError("local part before '@' is empty")
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise InvalidEmailError(
            f"local part is longer than {MAX_LOCAL_PART_LENGTH} characters ({len(local)})"
        )
    if not _LOCAL_PART.fullmatch(local):
        raise InvalidEmailError(f"local part {local!r} contains characters that are not allowed")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidEmailError(f"local part {local!r} has a misplaced dot")


def _check_domain(domain: str) -> None:
    if not domain:
        raise InvalidEmailError("domain after '@' is empty")
    if len(domain) > MAX_DOMAIN_LENGTH:
        raise InvalidEmailError(f"domain is longer than {MAX_DOMAIN_LENGTH} characters")
    if "." not in domain:
        raise InvalidEmailError(f"domain {domain!r} must contain at least one dot")
    labels = domain.split(".")
    for label in labels:
        if not label:
            raise InvalidEmailError(f"domain {domain!r} has an empty label")
        if len(label) > MAX_LABEL_LENGTH:
            raise InvalidEmailError(
                f"domain label {label!r} is longer than {MAX_LABEL_LENGTH} characters"
            )
        if not _DOMAIN_LABEL.fullmatch(label):
            raise InvalidEmailError(
                f"domain label {label!r} must be letters, digits and inner hyphens"
            )
    if labels[-1].isdigit():
        raise InvalidEmailError(f"top-level domain {labels[-1]!r} must not be numeric")


def hash_email(raw: str) -> str:
    """Return the lower-case hex SHA-256 of the normalised email address."""
    return hashlib.sha256(normalise_email(raw).encode("ascii")).hexdigest()


def is_sha256_hex(value: str) -> bool:
    """Tell whether ``value`` is exactly 64 lower-case hex digits, as ``hash_email`` returns."""
    return _SHA256_HEX.fullmatch(value) is not None


__all__ = ["InvalidEmailError", "hash_email", "is_sha256_hex", "normalise_email"]


PLACEHOLDER_WORDS = (
    "",
    "null",
    "none",
    "nil",
    "nan",
    "undefined",
    "anonymous",
    "unknown",
    "(null)",
    "[object object]",
    "0",
    "-1",
    "n/a",
    "test",
    "guest",
)
PLACEHOLDER_VALUES: frozenset[str] = frozenset(
    {
        *PLACEHOLDER_WORDS,
        # The hashes of empty and placeholder values (as hashed emails and phones arrive).
        *(hashlib.sha256(word.encode()).hexdigest() for word in PLACEHOLDER_WORDS),
        hashlib.md5(b"").hexdigest(),
    }
)
ALL_ZERO_ID = re.compile(r"[0\-_:.{} ]+")


def placeholder_reason(value: str) -> str | None:
    """Why an identifier's value is a placeholder that must never join people ("undefined",
    an all-zero id, the hash of an empty string), or None for a real value."""
    value = value.strip().lower()
    if value in PLACEHOLDER_VALUES:
        return "blocked value"
    if ALL_ZERO_ID.fullmatch(value):
        return "all-zero id"
    return None
