"""Erasure in the vault's own database: destroyed keys leave no copy in any file (SQLite)
or tuple (PostgreSQL), with thousands of keys spread over many pages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, select

from common.follower import UpstreamEntry
from common.storage import database_for
from services.ingest.vault import Forgotten, SubjectVault, subject_keys
from services.ingest.vault_secrets import VaultSecret, VaultSecrets
from tests.conftest import Storage
from tests.integration.helpers_vault import vault_tuples_holding

SECRETS = VaultSecrets(VaultSecret(bytes(range(32))))
IDENTIFIERS = 3000
BATCH = 100


@pytest.fixture
def engine(storage: Storage) -> Iterator[Engine]:
    """An engine on ingest's database, where the vault keeps its tables."""
    database = database_for("ingest", storage.database_url, storage.data_dir)
    database.ensure_schema()
    engine = database.sql_engine()
    yield engine
    engine.dispose()


@pytest.fixture
def vault(engine: Engine) -> SubjectVault:
    vault = SubjectVault(engine, SECRETS)
    vault.create_tables()
    return vault


def stored_keys(engine: Engine, pseudonyms: list[str]) -> list[bytes]:
    """The keys of these pseudonyms, read from the vault's table."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(subject_keys.c.key).where(subject_keys.c.pseudonym.in_(pseudonyms))
        )
        return [bytes(row.key) for row in rows]


def test_keys_forgotten_among_thousands_are_on_no_page_of_any_file(
    vault: SubjectVault, engine: Engine, storage: Storage
) -> None:
    # Thousands of identifiers sealed batch by batch, so the table's pages split and are
    # written to the write-ahead log many times over.
    identifiers = [f"user:visitor-{n:05d}" for n in range(IDENTIFIERS)]
    pseudonyms = []
    for start in range(0, IDENTIFIERS, BATCH):
        sealed = vault.seal("shop", identifiers[start : start + BATCH])
        pseudonyms.extend(s.pseudonym for s in sealed.values())

    # Every third person is forgotten, in two pages of identity's log.
    forgotten = pseudonyms[::3]
    keys = stored_keys(engine, forgotten)
    assert len(keys) == len(forgotten)
    half = len(forgotten) // 2
    vault.process_page("identity", [UpstreamEntry(4, Forgotten("shop", tuple(forgotten[:half])))])
    vault.process_page("identity", [UpstreamEntry(9, Forgotten("shop", tuple(forgotten[half:])))])

    # The others can still be revealed; the forgotten can not.
    kept = [p for p in pseudonyms if p not in set(forgotten)]
    assert len(vault.reveal("shop", kept)) == len(kept)
    assert vault.reveal("shop", forgotten) == {}
    assert vault.position("identity") == 9

    # No byte of a destroyed key is left: in no SQLite file, in no PostgreSQL tuple.
    if storage.backend == "sqlite":
        files = sorted(storage.data_dir.glob("ingest.db*"))
        on_disk = b"".join(path.read_bytes() for path in files)
        assert len(on_disk) > IDENTIFIERS * 32
        assert [key for key in keys if key in on_disk] == []
        assert all(key in on_disk for key in stored_keys(engine, kept[:50]))
    else:
        assert vault_tuples_holding(storage.database_url, keys) == 0
        assert vault_tuples_holding(storage.database_url, stored_keys(engine, kept[:50])) == 50


@pytest.mark.postgres
def test_a_transaction_open_elsewhere_delays_the_purge_but_leaves_no_key(
    postgres_database: str, tmp_path: Path
) -> None:
    database = database_for("ingest", postgres_database, tmp_path)
    database.ensure_schema()
    engine = database.sql_engine()
    vault = SubjectVault(engine, SECRETS)
    vault.create_tables()
    # A report reading in REPEATABLE READ (any snapshot in ingest's database) holds back
    # VACUUM: the deleted keys' dead tuples cannot be removed while it is open.
    sealed = vault.seal("shop", [f"user:visitor-{n}" for n in range(20)])
    forgotten = [s.pseudonym for s in sealed.values()][:5]
    keys = stored_keys(engine, forgotten)
    reader = psycopg.connect(postgres_database)
    reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    reader.execute("SELECT count(*) FROM pg_class").fetchone()
    release = threading.Timer(1.5, reader.rollback)
    release.start()
    try:
        vault.process_page("identity", [UpstreamEntry(3, Forgotten("shop", tuple(forgotten)))])
    finally:
        release.join()
        reader.close()

    # The purge waited for the snapshot to go: no tuple holds a destroyed key.
    assert vault.position("identity") == 3
    assert vault_tuples_holding(postgres_database, keys) == 0
    engine.dispose()
