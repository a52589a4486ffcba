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
        ("jane doe@example.com", "invalid characters before the @-sign: SPACE"),
        ("jane.example.com", "exactly one '@'"),
        ("jane@doe@example.com", "exactly one '@'"),
        ("@example.com", "something before the @-sign"),
        ("a" * 65 + "@example.com", "longer than 64"),
        ("jane@", "something after the @-sign"),
        ("jane@localhost", "should have a period"),
        ("jane@example..com", "two periods in a row"),
        ("jane@exa_mple.com", "invalid characters: '_'"),
        ("jane@-example.com", "hyphen immediately after the @-sign"),
        ("jane@example.123", "not within a valid top-level domain"),
        (".jane@example.com", "cannot start with a period"),
        ("ja..ne@example.com", "two periods in a row"),
        ("ja(ne@example.com", "invalid characters before the @-sign: '\\('"),
        ("jane@shop.test", "special-use or reserved name"),
    ],
)
def test_invalid_addresses_are_rejected_with_a_reason(raw: str, message: str) -> None:
    with pytest.raises(InvalidEmailError, match=message):
        normalise_email(raw)


def test_internationalised_addresses_are_accepted_and_hashed_as_utf8() -> None:
    assert normalise_email(" José@Bücher.DE ") == "josé@bücher.de"
    assert normalise_email("用户@例子.广告") == "用户@例子.广告"
    expected = hashlib.sha256("josé@bücher.de".encode()).hexdigest()
    assert hash_email("José@Bücher.DE") == expected


def test_a_punycode_domain_hashes_like_its_unicode_form() -> None:
    assert hash_email("jose@xn--bcher-kva.de") == hash_email("jose@bücher.de")


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Jane.Doe@Gmail.com", "janedoe@gmail.com"),
        ("j.a.n.e+shop@googlemail.com", "jane+shop@googlemail.com"),
        ("jane.doe@example.com", "jane.doe@example.com"),
        ("jane.doe@mail.gmail.com", "jane.doe@mail.gmail.com"),
    ],
)
def test_dots_are_removed_from_gmail_local_parts_only(raw: str, normalised: str) -> None:
    assert normalise_email(raw) == normalised


def test_gmail_addresses_with_and_without_dots_hash_the_same() -> None:
    assert hash_email("jane.doe@gmail.com") == hash_email("janedoe@gmail.com")
    assert hash_email("janedoe@gmail.com") == hashlib.sha256(b"janedoe@gmail.com").hexdigest()


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
