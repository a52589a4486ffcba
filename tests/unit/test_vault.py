"""The subject vault: stable pseudonyms, sealed identifiers, and keys destroyed on erasure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.follower import UpstreamEntry
from common.storage import create_sql_engine
from services.ingest.vault import Forgotten, SubjectVault


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[SubjectVault]:
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'ingest.db'}")
    vault = SubjectVault(engine)
    vault.create_tables()
    yield vault
    engine.dispose()


def test_pseudonyms_keep_the_kind_and_are_stable_per_property(vault: SubjectVault) -> None:
    first = vault.pseudonym("shop", "user:u-1")
    assert first.startswith("user:") and "u-1" not in first
    assert vault.pseudonym("shop", "user:u-1") == first
    assert vault.pseudonym("other-shop", "user:u-1") != first


def test_sealed_identifiers_can_be_revealed_until_forgotten(vault: SubjectVault) -> None:
    sealed = vault.seal("shop", ["user:u-1", "anon:c-1"])
    pseudonyms = [sealed["user:u-1"].pseudonym, sealed["anon:c-1"].pseudonym]
    assert "u-1" not in sealed["user:u-1"].token
    assert vault.reveal("shop", pseudonyms) == {
        pseudonyms[0]: "user:u-1",
        pseudonyms[1]: "anon:c-1",
    }

    vault.process_page("identity", [UpstreamEntry(7, Forgotten("shop", (pseudonyms[0],)))])

    assert vault.reveal("shop", pseudonyms) == {pseudonyms[1]: "anon:c-1"}
    assert vault.position("identity") == 7


def test_the_same_identifier_sealed_twice_uses_one_key(vault: SubjectVault) -> None:
    once = vault.seal("shop", ["email:abc"])["email:abc"]
    again = vault.seal("shop", ["email:abc"])["email:abc"]
    assert once.pseudonym == again.pseudonym
    assert once.token != again.token
    assert vault.reveal("shop", [once.pseudonym]) == {once.pseudonym: "email:abc"}
