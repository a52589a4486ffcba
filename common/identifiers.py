"""Normalisation and hashing of personal identifiers such as email addresses."""

from __future__ import annotations

import hashlib
import re

from email_validator import EmailNotValidError, validate_email

MAX_LOCAL_PART_LENGTH = 64
MAX_ADDRESS_LENGTH = 254
DOTLESS_LOCAL_PART_DOMAINS = frozenset({"gmail.com", "googlemail.com"})

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class InvalidEmailError(ValueError):
    """The value is not a usable email address; the message says why."""


def normalise_email(raw: str) -> str:
    """Validate an email address and normalise it as Google Ads and Meta expect before hashing,
    raising ``InvalidEmailError`` (with the reason) when it is not a valid address.

    Syntax is checked by ``email-validator`` without DNS: internationalised local parts and
    domains are accepted, the domain is taken in its Unicode form (``xn--`` labels decoded),
    special-use domains such as ``.test`` and ``.local`` are refused. Then the address is
    trimmed and lower-cased, and the dots of a gmail.com or googlemail.com local part are
    removed (Google's enhanced-conversions rule); ``+tags`` are kept.
    """
    address = raw.strip()
    if not address:
        raise InvalidEmailError("email address is empty")
    if len(address) > MAX_ADDRESS_LENGTH:
        raise InvalidEmailError(f"email address is longer than {MAX_ADDRESS_LENGTH} characters")
    if address.count("@") != 1:
        raise InvalidEmailError("email address must contain exactly one '@'")
    try:
        valid = validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidEmailError(str(error)) from None
    local, domain = valid.local_part.lower(), valid.domain.lower()
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise InvalidEmailError(
            f"local part is longer than {MAX_LOCAL_PART_LENGTH} characters ({len(local)})"
        )
    if domain in DOTLESS_LOCAL_PART_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def hash_email(raw: str) -> str:
    """Return the lower-case hex SHA-256 of the UTF-8 bytes of the normalised email address."""
    return hashlib.sha256(normalise_email(raw).encode("utf-8")).hexdigest()


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
