"""Two ingest replicas (or workers) sharing one vault: new identifiers that meet in both."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from common.storage import database_for
from services.ingest.vault import SubjectVault
from services.ingest.vault_secrets import VaultSecret, VaultSecrets
from tests.conftest import Storage

SECRETS = VaultSecrets(VaultSecret(bytes(range(32))))


@pytest.fixture
def engine(storage: Storage) -> Iterator[Engine]:
    """An engine on ingest's database, where the vault keeps its tables."""
    database = database_for("ingest", storage.database_url, storage.data_dir)
    database.ensure_schema()
    engine = database.sql_engine()
    SubjectVault(engine, SECRETS).create_tables()
    yield engine
    engine.dispose()


class RacedVault(SubjectVault):
    """A replica whose lookup of stored keys is overtaken by another replica: right after it
    found no key for some identifiers, the other replica creates one of them."""

    def __init__(self, engine: Engine, other: SubjectVault, identifier: str) -> None:
        super().__init__(engine, SECRETS)
        self._other, self._identifier, self._raced = other, identifier, False

    def _stored(self, property_id: str, identifiers: list[str]) -> dict[str, tuple[str, bytes]]:
        found = super()._stored(property_id, identifiers)
        if not self._raced:
            self._raced = True
            self._other.seal(property_id, [self._identifier])
        return found


def test_a_replica_seals_new_identifiers_when_another_created_one_of_them_meanwhile(
    engine: Engine,
) -> None:
    first = SubjectVault(engine, SECRETS)
    second = RacedVault(engine, first, "user:u-1")

    # The second replica's insert of new keys conflicts on user:u-1, which the first
    # created after the second looked.
    sealed = second.seal("shop", ["anon:c-1", "user:u-1", "anon:c-2"])

    expected = {s.pseudonym: raw for raw, s in sealed.items()}
    assert len(expected) == 3
    # Every sealed value opens with a stored key, through either replica.
    assert first.reveal("shop", list(expected)) == expected
    assert second.reveal("shop", list(expected)) == expected
    # The cached keys are the stored ones: sealing again gives values they open.
    again = second.seal("shop", ["anon:c-2", "user:u-1"])
    assert {s.pseudonym for s in again.values()} <= set(expected)


def test_replicas_sealing_overlapping_identifiers_concurrently_all_succeed(
    engine: Engine,
) -> None:
    vaults = [SubjectVault(engine, SECRETS) for _ in range(4)]
    identifiers = [f"anon:c-{i}" for i in range(60)]
    errors: list[BaseException] = []
    results: list[dict[str, str]] = []
    lock = threading.Lock()

    def seal(vault: SubjectVault, offset: int) -> None:
        try:
            for start in range(0, len(identifiers), 10):
                chosen = identifiers[(start + offset) % 60 : (start + offset) % 60 + 15]
                found = vault.seal("shop", chosen)
                with lock:
                    results.append({raw: s.pseudonym for raw, s in found.items()})
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=seal, args=(v, 5 * n)) for n, v in enumerate(vaults)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    pseudonyms = {p for found in results for p in found.values()}
    assert len(vaults[0].reveal("shop", sorted(pseudonyms))) == len(pseudonyms)
