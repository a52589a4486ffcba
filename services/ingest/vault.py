"""The subject vault: pseudonyms for identifiers, and one key per identifier for erasure.

Services downstream of ingest only ever see keyed pseudonyms ("user:<hmac>"), never raw
identifiers. Ingest keeps each raw identifier sealed (AES-256-GCM) under a key of its own;
forgetting a person destroys the keys of its identifiers, so the sealed copies in ingest's
event log can no longer be read (crypto-shredding). Client IP addresses get pseudonyms under
the same secret ("ip:<hmac>", "net:<hmac>") but are neither sealed nor stored.

The vault also keeps each identifier's last consent (by pseudonym only, never sealed), so
that a withdrawal applies to the identifier's later events; forgetting a person erases it
with the keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    event,
    insert,
    select,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from common.consent import Consent, ConsentState
from common.eventlog import MissingTablesError
from common.follower import UpstreamEntry
from common.sql_positions import positions_table, record_position, stored_position
from services.ingest.network import IPAddress, NetworkPseudonyms, network_of

PSEUDONYM_HEX_DIGITS = 32
KEY_BYTES = 32
NONCE_BYTES = 12
CACHE_LIMIT = 100_000

metadata = MetaData()
vault_secret = Table(
    "vault_secret",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("secret", LargeBinary, nullable=False),
)
subject_keys = Table(
    "subject_keys",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("pseudonym", String, primary_key=True),
    Column("key", LargeBinary, nullable=False),
    Column("sealed", Text, nullable=False),
)
consent_states = Table(
    "consent_states",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("pseudonym", String, primary_key=True),
    Column("analytics", String, nullable=False),
    Column("advertising", String, nullable=False),
)
"""The last consent each identifier's events stated, per purpose ("unknown" when none did)."""
vault_positions = positions_table(metadata, "vault_positions")
VAULT_CONSUMER = "vault"
IP_KIND = "ip"
NETWORK_KIND = "net"


class VaultPurgeError(Exception):
    """The database could not yet remove the bytes of keys deleted for an erasure."""


@dataclass(frozen=True, slots=True)
class Forgotten:
    """From identity's log: these pseudonyms' keys must be destroyed."""

    property_id: str
    pseudonyms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Sealed:
    """An identifier's pseudonym and its raw value sealed under its own key."""

    pseudonym: str
    token: str


def _seal(key: bytes, pseudonym: str, raw: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(key).encrypt(nonce, raw.encode(), pseudonym.encode())
    return base64.b64encode(nonce + ciphertext).decode()


def _open(key: bytes, pseudonym: str, token: str) -> str:
    data = base64.b64decode(token)
    return AESGCM(key).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], pseudonym.encode()).decode()


class SubjectVault:
    """Pseudonyms and per-identifier keys in ingest's own database (SQLAlchemy).

    It is also the sink that follows identity's log: a forgotten person's keys are deleted,
    with the position, in one transaction.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._secret: bytes | None = None
        self._keys: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.lock = threading.Lock()
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _secure_delete)

    def create_tables(self) -> None:
        """Creates the vault's tables when missing."""
        metadata.create_all(self._engine)

    def check_tables(self) -> None:
        """Raises MissingTablesError unless the vault's tables exist."""
        try:
            with self._engine.connect() as conn:
                conn.execute(select(vault_secret.c.id).limit(1))
        except DBAPIError as error:
            raise MissingTablesError(
                "ingest's vault tables are missing: run `convtrack migrate` first"
            ) from error

    def pseudonym(self, property_id: str, identifier: str) -> str:
        """The identifier's pseudonym: its kind, then a keyed hash of property and identifier."""
        kind, _, _ = identifier.partition(":")
        digest = hmac.new(
            self._vault_secret(), f"{property_id}\x1f{identifier}".encode(), hashlib.sha256
        ).hexdigest()
        return f"{kind}:{digest[:PSEUDONYM_HEX_DIGITS]}"

    def network_pseudonyms(self, property_id: str, address: IPAddress) -> NetworkPseudonyms:
        """Pseudonyms of a client's IP address and of its /24 (IPv4) or /64 (IPv6) network.

        They are computed like identifier pseudonyms, under kinds ("ip", "net") that no
        identifier has, so they never equal an identifier's pseudonym. Nothing is stored.
        """
        return NetworkPseudonyms(
            ip=self.pseudonym(property_id, f"{IP_KIND}:{address}"),
            network=self.pseudonym(property_id, f"{NETWORK_KIND}:{network_of(address)}"),
        )

    def seal(self, property_id: str, identifiers: Iterable[str]) -> dict[str, Sealed]:
        """Each identifier's pseudonym and sealed value; keys of new identifiers are created
        and committed before this returns (so no stored event refers to a missing key)."""
        wanted = {i: self.pseudonym(property_id, i) for i in dict.fromkeys(identifiers)}
        with self._lock:
            keys = {
                p: self._keys[(property_id, p)]
                for p in wanted.values()
                if (property_id, p) in self._keys
            }
        missing = [p for p in wanted.values() if p not in keys]
        if missing:
            keys.update(self._load_or_create(property_id, wanted, missing))
        return {raw: Sealed(p, _seal(keys[p], p, raw)) for raw, p in wanted.items()}

    def reveal(self, property_id: str, pseudonyms: Sequence[str]) -> dict[str, str]:
        """The raw identifiers of these pseudonyms; forgotten or unknown ones are left out."""
        if not pseudonyms:
            return {}
        c = subject_keys.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(c.pseudonym, c.key, c.sealed).where(
                    c.property_id == property_id, c.pseudonym.in_(list(pseudonyms))
                )
            ).all()
        return {row.pseudonym: _open(row.key, row.pseudonym, row.sealed) for row in rows}

    def consents(self, property_id: str, pseudonyms: Sequence[str]) -> dict[str, Consent]:
        """The recorded consent of the identifiers that have one."""
        if not pseudonyms:
            return {}
        c = consent_states.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(c.pseudonym, c.analytics, c.advertising).where(
                    c.property_id == property_id, c.pseudonym.in_(list(dict.fromkeys(pseudonyms)))
                )
            ).all()
        return {
            row.pseudonym: Consent(ConsentState(row.analytics), ConsentState(row.advertising))
            for row in rows
        }

    def record_consents(self, property_id: str, consents: Mapping[str, Consent]) -> None:
        """Records the identifiers' consent (replacing what was recorded), committed before
        this returns."""
        if not consents:
            return
        c = consent_states.c
        with self._write_lock, self._engine.begin() as conn:
            conn.execute(
                delete(consent_states).where(
                    c.property_id == property_id, c.pseudonym.in_(list(consents))
                )
            )
            conn.execute(
                insert(consent_states),
                [
                    {
                        "property_id": property_id,
                        "pseudonym": pseudonym,
                        "analytics": consent.analytics.value,
                        "advertising": consent.advertising.value,
                    }
                    for pseudonym, consent in consents.items()
                ],
            )

    def forget_cached_keys(self) -> None:
        """Drops the keys cached in this process: another replica may have destroyed some
        (a standby replica does not follow identity's log itself)."""
        with self._lock:
            self._keys.clear()

    def position(self, upstream: str) -> int:
        """The last position of `upstream` (identity's log) processed."""
        with self._engine.connect() as conn:
            return stored_position(conn, vault_positions, VAULT_CONSUMER, upstream)

    def process_page(
        self,
        upstream: str,
        entries: Sequence[UpstreamEntry[Forgotten | None]],
        after: int | None = None,
    ) -> None:
        """Destroys the keys of forgotten persons' identifiers, then what the database keeps
        of them besides the table, and only then records the position: a failure on the way
        leaves the page to be processed again (deleting is idempotent)."""
        forgotten = [e.value for e in entries if e.value is not None]
        if forgotten:
            self._delete_keys(forgotten)
            self._purge_deleted_keys()
        with self._engine.begin() as conn:
            record_position(conn, vault_positions, VAULT_CONSUMER, upstream, entries[-1].position)

    def _delete_keys(self, forgotten: Sequence[Forgotten]) -> None:
        with self._engine.begin() as conn:
            for item in forgotten:
                for table in ERASED_TABLES:
                    conn.execute(
                        delete(table).where(
                            table.c.property_id == item.property_id,
                            table.c.pseudonym.in_(item.pseudonyms),
                        )
                    )
        with self._lock:
            for item in forgotten:
                for pseudonym in item.pseudonyms:
                    self._keys.pop((item.property_id, pseudonym), None)

    def _purge_deleted_keys(self) -> None:
        """Removes the deleted keys' bytes from where the database still keeps them.

        SQLite: `secure_delete` zeroed them in the table's pages, but the write-ahead log
        still holds earlier copies of those pages: checkpoint it and truncate it to nothing.
        PostgreSQL: VACUUM the table, so its dead tuples are removed (see docs/identity.md
        for what PostgreSQL keeps even then).
        """
        if self._engine.dialect.name == "sqlite":
            # Outside any transaction, which a checkpoint must not run in.
            connection = self._engine.raw_connection()
            try:
                cursor = connection.cursor()
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                outcome = cursor.fetchone()
            finally:
                connection.close()
            if outcome is None or outcome[0]:
                raise VaultPurgeError(
                    "could not checkpoint and truncate ingest's write-ahead log (busy); "
                    "the erasure will be retried"
                )
            return
        preparer = self._engine.dialect.identifier_preparer
        translate = self._engine.get_execution_options().get("schema_translate_map") or {}
        names = [preparer.format_table(table) for table in ERASED_TABLES]
        if translate.get(None):
            names = [f"{preparer.quote_schema(translate[None])}.{name}" for name in names]
        # VACUUM cannot run inside a transaction block. It cannot remove dead tuples that a
        # transaction still open elsewhere in the database may see: then try again shortly,
        # and in the end fail, so that the erasure is retried.
        for attempt in range(VACUUM_ATTEMPTS):
            if attempt:
                time.sleep(VACUUM_RETRY_SECONDS)
            if sum(_vacuum_left_dead_tuples(self._engine, name) for name in names) == 0:
                return
        raise VaultPurgeError(
            "a transaction open elsewhere in ingest's database keeps erased keys' dead tuples "
            "from being vacuumed; the erasure will be retried"
        )

    def _load_or_create(
        self, property_id: str, wanted: Mapping[str, str], missing: list[str]
    ) -> dict[str, bytes]:
        """The keys of the missing pseudonyms, created (and committed) where there are none."""
        with self._write_lock:
            known = self._stored_keys(property_id, missing)
            new_rows = []
            for raw, pseudonym in wanted.items():
                if pseudonym in missing and pseudonym not in known:
                    key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
                    known[pseudonym] = key
                    new_rows.append(
                        {
                            "property_id": property_id,
                            "pseudonym": pseudonym,
                            "key": key,
                            "sealed": _seal(key, pseudonym, raw),
                        }
                    )
            if new_rows:
                try:
                    # A write-only transaction: on SQLite it waits for other writers instead
                    # of failing to upgrade a read snapshot.
                    with self._engine.begin() as conn:
                        conn.execute(insert(subject_keys), new_rows)
                except IntegrityError:
                    # Another ingest process created some of them first: use theirs.
                    known = self._stored_keys(property_id, missing)
        with self._lock:
            if len(self._keys) > CACHE_LIMIT:
                self._keys.clear()
            for pseudonym, key in known.items():
                self._keys[(property_id, pseudonym)] = key
        return known

    def _stored_keys(self, property_id: str, pseudonyms: list[str]) -> dict[str, bytes]:
        c = subject_keys.c
        with self._engine.connect() as conn:
            return {
                row.pseudonym: row.key
                for row in conn.execute(
                    select(c.pseudonym, c.key).where(
                        c.property_id == property_id, c.pseudonym.in_(pseudonyms)
                    )
                )
            }

    def _vault_secret(self) -> bytes:
        if self._secret is None:
            with self._engine.connect() as conn:
                found = conn.execute(select(vault_secret.c.secret)).scalar_one_or_none()
            if found is None:
                try:
                    with self._engine.begin() as conn:
                        conn.execute(insert(vault_secret).values(id=1, secret=os.urandom(32)))
                except IntegrityError:
                    pass
                with self._engine.connect() as conn:
                    found = conn.execute(select(vault_secret.c.secret)).scalar_one()
            self._secret = bytes(found)
        return self._secret


def _secure_delete(dbapi_connection: object, connection_record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    try:
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


ERASED_TABLES = (subject_keys, consent_states)
"""What forgetting a person deletes, by property and pseudonym."""
VACUUM_ATTEMPTS = 20
VACUUM_RETRY_SECONDS = 0.5
_NOT_YET_REMOVABLE = re.compile(
    r"(\d+) are dead but not yet removable|(\d+) dead row versions cannot be removed yet"
)


def _vacuum_left_dead_tuples(engine: Engine, table: str) -> int:
    """VACUUMs the table; returns how many dead tuples it could not remove yet."""
    messages: list[str] = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        driver = conn.connection.driver_connection
        assert driver is not None, "an open connection has its psycopg connection"

        def handler(diagnostic: Any) -> None:
            messages.append(diagnostic.message_primary or "")

        driver.add_notice_handler(handler)
        try:
            conn.exec_driver_sql(f"VACUUM (VERBOSE) {table}")
        finally:
            driver.remove_notice_handler(handler)
    return sum(
        int(found.group(1) or found.group(2))
        for message in messages
        for found in _NOT_YET_REMOVABLE.finditer(message)
    )
