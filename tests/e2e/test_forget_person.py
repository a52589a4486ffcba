"""Right to erasure: a forgotten person's identifiers are unrecoverable in every store,
including the event logs and whatever else lies on disk, while reports keep their numbers."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import sqlite3
import stat
import time
from pathlib import Path

import grpc
import psycopg
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg import sql

from common.wire import from_identifier_pb
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2
from tests.conftest import Storage
from tests.e2e.system import DEADLINE, PROPERTY, System, event
from tests.integration.helpers_vault import vault_tuples_holding

COOKIE = "forget-me-cookie-7f3a"
USER = "forget-me-user-7f3a"
EMAIL = "forget.me.7f3a@example.org"
EMAIL_SHA256 = hashlib.sha256(EMAIL.encode()).hexdigest()
SECRETS = [COOKIE, USER, EMAIL, EMAIL_SHA256]
KEY_BYTES = 32
NONCE_BYTES = 12

VaultRows = dict[str, tuple[bytes, str]]


def stored_bytes(storage: Storage) -> bytes:
    """Every byte the four services stored: their SQLite files (with their -wal, -shm and
    -journal files), or every row of every table in their PostgreSQL schemas."""
    if storage.backend == "sqlite":
        files = data_files(storage.data_dir)
        assert {p.name for p in files} >= {f"{s}.db" for s in ("ingest", "identity")}
        return b"".join(path.read_bytes() for path in files)
    chunks: list[bytes] = []
    with psycopg.connect(storage.database_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE "
            "table_schema IN ('ingest', 'identity', 'attribution', 'reporting')"
        ).fetchall()
        assert len({schema for schema, _ in tables}) == 4
        for schema, table in tables:
            query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table))
            for row in conn.execute(query):
                for cell in row:
                    if isinstance(cell, bytes | memoryview):
                        chunks.append(bytes(cell))
                    else:
                        chunks.append(str(cell).encode())
    return b"\n".join(chunks)


def data_files(data_dir: Path) -> list[Path]:
    """Every file under the data directory."""
    return sorted(p for p in data_dir.rglob("*") if p.is_file())


def vault_rows(storage: Storage, pseudonyms: list[str]) -> VaultRows:
    """The vault's key and sealed identifier of each of these pseudonyms, read from its table
    (in the role of someone who copies the disk before the erasure)."""
    query = "SELECT pseudonym, key, sealed FROM {} WHERE pseudonym = ANY(%s)"
    if storage.backend == "sqlite":
        path = storage.data_dir / "ingest.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            marks = ",".join("?" * len(pseudonyms))
            rows = conn.execute(
                f"SELECT pseudonym, key, sealed FROM subject_keys WHERE pseudonym IN ({marks})",
                pseudonyms,
            ).fetchall()
    else:
        with psycopg.connect(storage.database_url) as conn:
            rows = conn.execute(
                sql.SQL(query).format(sql.Identifier("ingest", "subject_keys")), (pseudonyms,)
            ).fetchall()
    return {pseudonym: (bytes(key), sealed) for pseudonym, key, sealed in rows}


def opened_with_any_window(data: bytes, rows: VaultRows) -> list[str]:
    """The sealed identifiers that some 32-byte window of `data` opens, as keys."""
    sealed = [(p.encode(), base64.b64decode(token)) for p, (_, token) in rows.items()]
    opened = []
    for offset in range(len(data) - KEY_BYTES + 1):
        candidate = AESGCM(data[offset : offset + KEY_BYTES])
        for pseudonym, token in sealed:
            with contextlib.suppress(InvalidTag):
                raw = candidate.decrypt(token[:NONCE_BYTES], token[NONCE_BYTES:], pseudonym)
                opened.append(raw.decode())
    return opened


def vault_position(storage: Storage) -> int:
    """How far ingest's vault has processed identity's log (0 before its first page)."""
    query = "SELECT position FROM {} WHERE consumer = 'vault'"
    if storage.backend == "sqlite":
        path = storage.data_dir / "ingest.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute(query.format("vault_positions")).fetchone()
    else:
        with psycopg.connect(storage.database_url) as conn:
            row = conn.execute(
                sql.SQL(query).format(sql.Identifier("ingest", "vault_positions"))
            ).fetchone()
    return int(row[0]) if row else 0


def wait_until_the_vault_has_processed(system: System, storage: Storage) -> None:
    """Waits until ingest's vault has processed identity's whole log (it records its
    position only after destroying the keys and what remains of them on disk)."""
    head = system.identity.GetLogHead(identity_pb2.GetLogHeadRequest(), timeout=DEADLINE)
    deadline = time.monotonic() + 60
    while vault_position(storage) < head.position:
        assert time.monotonic() < deadline, "ingest's vault did not process identity's log"
        time.sleep(0.1)


def user_identifier() -> common_pb2.Identifier:
    return common_pb2.Identifier(type=common_pb2.IDENTIFIER_TYPE_USER_ID, value=USER)


def test_a_forgotten_person_is_unrecoverable_everywhere_and_reports_keep_their_numbers(
    system: System, storage: Storage
) -> None:
    who = ingest_pb2.Identity(anonymous_id=COOKIE, user_id=USER, email=EMAIL)
    system.track(
        event(
            "forget-click",
            5,
            identity=ingest_pb2.Identity(anonymous_id=COOKIE),
            touchpoint=ingest_pb2.Touchpoint(
                landing_url="https://shop.example.com/?utm_source=news&utm_medium=email"
            ),
        ),
        event("forget-login", 4, identity=who, identify=ingest_pb2.Identify()),
        event(
            "forget-buy",
            3,
            identity=ingest_pb2.Identity(anonymous_id=COOKIE),
            conversion=ingest_pb2.Conversion(
                name="purchase",
                order_id="forget-order",
                value=common_pb2.Money(currency_code="USD", units=40),
            ),
        ),
    )
    system.sync()
    person = system.identity.ResolveIdentity(
        identity_pb2.ResolveIdentityRequest(property_id=PROPERTY, identifier=user_identifier()),
        timeout=DEADLINE,
    )
    assert {i.value for i in person.identifiers} == {COOKIE, USER, EMAIL_SHA256}
    report_before = system.report("last_click")
    assert report_before == {"email": (1.0, 40, 0)}

    # No store holds the identifiers in the clear, even before erasure; the vault holds a
    # key per identifier, and a scan of the stores finds each key.
    stored = stored_bytes(storage)
    assert not [s for s in SECRETS if s.encode() in stored]
    pseudonyms = system.ingest.PseudonymiseIdentifiers(
        ingest_pb2.PseudonymiseIdentifiersRequest(
            property_id=PROPERTY, identifiers=list(person.identifiers)
        ),
        timeout=DEADLINE,
    ).pairs
    rows = vault_rows(storage, [from_identifier_pb(p.pseudonym).key for p in pseudonyms])
    assert len(rows) == 3
    keys = [key for key, _ in rows.values()]
    assert all(key in stored for key in keys)
    opened = opened_with_any_window(b"\0" * 40 + b"".join(keys) + b"\0" * 40, rows)
    assert len(opened) == 3 and any(raw.endswith(COOKIE) for raw in opened)

    system.identity.ForgetPerson(
        identity_pb2.ForgetPersonRequest(
            property_id=PROPERTY, person_id=person.person_id, note="erasure request 42"
        ),
        timeout=DEADLINE,
    )
    system.sync()

    # Ingest destroys the keys (it follows identity's log): nothing can be revealed.
    deadline = time.monotonic() + 30
    while True:
        revealed = system.ingest.RevealIdentifiers(
            ingest_pb2.RevealIdentifiersRequest(
                property_id=PROPERTY, pseudonyms=[p.pseudonym for p in pseudonyms]
            ),
            timeout=DEADLINE,
        ).pairs
        if not revealed or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not revealed

    # Identity no longer knows the person; reports keep their numbers.
    with pytest.raises(grpc.RpcError) as unknown:
        system.identity.ResolveIdentity(
            identity_pb2.ResolveIdentityRequest(property_id=PROPERTY, identifier=user_identifier()),
            timeout=DEADLINE,
        )
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert system.report("last_click") == report_before

    # Nothing on disk holds the identifiers or their destroyed keys: not the databases, not
    # SQLite's -wal, -shm or -journal files (every 32-byte window of them is tried as a key),
    # not PostgreSQL's dead tuples (the vault table is vacuumed after a forget).
    wait_until_the_vault_has_processed(system, storage)
    stored = stored_bytes(storage)
    assert not [s for s in SECRETS if s.encode() in stored]
    encoded = [form for key in keys for form in (key, key.hex().encode(), base64.b64encode(key))]
    assert not [form for form in encoded if form in stored]
    if storage.backend == "sqlite":
        for path in data_files(storage.data_dir):
            assert opened_with_any_window(path.read_bytes(), rows) == [], path.name
    else:
        assert vault_tuples_holding(storage.database_url, keys) == 0


def test_every_data_file_and_the_data_directory_are_readable_by_their_owner_only(
    tmp_path: Path,
) -> None:
    # The four services on SQLite write events through every log.
    storage = Storage("sqlite", "", tmp_path / "data")
    system = System(storage)
    try:
        system.track(
            event(
                "modes-login",
                2,
                identity=ingest_pb2.Identity(anonymous_id=COOKIE, user_id=USER),
                identify=ingest_pb2.Identify(),
            ),
            event(
                "modes-buy",
                1,
                identity=ingest_pb2.Identity(anonymous_id=COOKIE),
                conversion=ingest_pb2.Conversion(name="purchase"),
            ),
        )
        system.sync()

        # The directory is 0700; every database and its -wal and -shm files are 0600.
        files = data_files(storage.data_dir)
        names = {path.name for path in files}
        for service in ("ingest", "identity", "attribution", "reporting"):
            assert {f"{service}.db", f"{service}.db-wal", f"{service}.db-shm"} <= names
        assert stat.S_IMODE(storage.data_dir.stat().st_mode) == 0o700
        assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in files} == {
            name: 0o600 for name in names
        }
    finally:
        system.close()
