"""Unit tests for common.identifiers: email normalisation and hashing."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.identifiers import InvalidEmailError, hash_email, is_sha256_hex, normalise_email


def test_email_is_trimmed_and_lower_cased() -> None:
    assert normalise_email("  Jane.Doe+Shop@Example.COM \n") == "jane.doe+shop@example.com"


def test_subdomains_and_hyphens_are_accepted() -> None:
    assert normalise_email("a@mail.my-shop.co.uk") == "a@mail.my-shop.co.uk"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("jane doe@example.com", "whitespace"),
        ("jane.example.com", "exactly one '@'"),
        ("jane@doe@example.com", "exactly one '@'"),
        ("@example.com", "local part before '@' is empty"),
        ("a" * 65 + "@example.com", "longer than 64"),
        ("jane@", "domain after '@' is empty"),
        ("jane@localhost", "at least one dot"),
        ("jane@example..com", "empty label"),
        ("jane@exa_mple.com", "letters, digits and inner hyphens"),
        ("jane@-example.com", "letters, digits and inner hyphens"),
        ("jane@example.123", "must not be numeric"),
        (".jane@example.com", "misplaced dot"),
        ("ja..ne@example.com", "misplaced dot"),
        ("ja(ne@example.com", "not allowed"),
    ],
)
def test_invalid_addresses_are_rejected_with_a_reason(raw: str, message: str) -> None:
    with pytest.raises(InvalidEmailError, match=message):
        normalise_email(raw)


def test_invalid_email_error_is_a_value_error() -> None:
    assert issubclass(InvalidEmailError, ValueError)


def test_local_part_of_exactly_64_characters_is_accepted() -> None:
    local = "b" * 64
    assert normalise_email(f"{local}@example.com") == f"{local}@example.com"


def test_hash_is_sha256_of_the_normalised_address() -> None:
    expected = hashlib.sha256(b"jane@example.com").hexdigest()
    assert hash_email(" Jane@Example.com ") == expected


def test_hash_of_known_address_matches_published_value() -> None:
    assert hash_email("test@example.com") == (
        "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
    )


def test_hash_rejects_invalid_address() -> None:
    with pytest.raises(InvalidEmailError):
        hash_email("not-an-email")


def test_sha256_hex_must_be_64_lower_case_hex_digits() -> None:
    digest = "a" * 64
    assert is_sha256_hex(digest)
    assert not is_sha256_hex(digest.upper())
    assert not is_sha256_hex("a" * 63)
    assert not is_sha256_hex("g" * 64)
    assert not is_sha256_hex("")


@given(st.text(max_size=80))
def test_normalise_either_returns_a_lower_case_address_or_raises(raw: str) -> None:
    try:
        address = normalise_email(raw)
    except InvalidEmailError:
        return
    assert address == address.strip().lower()
    assert address.count("@") == 1
    assert normalise_email(address) == address
    assert is_sha256_hex(hash_email(raw))
