"""Right to erasure: a forgotten person's identifiers are unrecoverable in every store,
including the event logs, while reports keep their numbers."""

from __future__ import annotations

import hashlib
import time

import grpc
import psycopg
import pytest
from psycopg import sql

from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2
from tests.conftest import Storage
from tests.e2e.system import DEADLINE, PROPERTY, System, event

COOKIE = "forget-me-cookie-7f3a"
USER = "forget-me-user-7f3a"
EMAIL = "forget.me.7f3a@example.org"
EMAIL_SHA256 = hashlib.sha256(EMAIL.encode()).hexdigest()
SECRETS = [COOKIE, USER, EMAIL, EMAIL_SHA256]


def stored_bytes(storage: Storage) -> bytes:
    """Every byte the four services stored: their SQLite files, or every row of every table
    in their PostgreSQL schemas."""
    if storage.backend == "sqlite":
        files = sorted(storage.data_dir.glob("*.db*"))
        assert files
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

    # No store holds the identifiers in the clear, even before erasure.
    stored = stored_bytes(storage)
    assert not [s for s in SECRETS if s.encode() in stored]

    system.identity.ForgetPerson(
        identity_pb2.ForgetPersonRequest(
            property_id=PROPERTY, person_id=person.person_id, note="erasure request 42"
        ),
        timeout=DEADLINE,
    )
    system.sync()

    # Ingest destroys the keys (it follows identity's log): nothing can be revealed.
    pseudonyms = system.ingest.PseudonymiseIdentifiers(
        ingest_pb2.PseudonymiseIdentifiersRequest(
            property_id=PROPERTY, identifiers=[user_identifier()]
        ),
        timeout=DEADLINE,
    ).pairs
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

    stored = stored_bytes(storage)
    assert not [s for s in SECRETS if s.encode() in stored]
