"""The subject vault: pseudonyms for identifiers, and one key per identifier for erasure.

Services downstream of ingest only ever see keyed pseudonyms ("user:<hmac>"), never raw
identifiers. Ingest keeps each raw identifier sealed (AES-256-GCM) under a key of its own;
forgetting a person destroys the keys of its identifiers, so the sealed copies in ingest's
event log can no longer be read (crypto-shredding). Client IP addresses get pseudonyms under
the same secret ("ip:<hmac>", "net:<hmac>") but are neither sealed nor stored.

The vault also keeps each identifier's last consent (by pseudonym only, never sealed), so
that a withdrawal applies to the identifier's later events; forgetting a person erases it
with the keys.
The HMAC secrets come from the settings, never from this database (services/ingest/
vault_secrets.py): new identifiers get the current secret's pseudonym; an identifier already
stored under a previous secret's pseudonym keeps it, so a rotation splits no person. Only the
secrets' version ids are stored, to refuse a start that lacks one in use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    inspect,
    select,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from common.consent import Consent, ConsentState
from common.eventlog import MissingTablesError
from common.follower import UpstreamEntry
from common.settings import SettingsError
from common.sql_positions import positions_table, record_position, stored_position
from services.ingest.network import IPAddress, NetworkPseudonyms, network_of
from services.ingest.vault_secrets import PREVIOUS, VaultSecret, VaultSecrets

_log = logging.getLogger(__name__)

PSEUDONYM_HEX_DIGITS = 32
KEY_BYTES = 32
NONCE_BYTES = 12
CACHE_LIMIT = 100_000
KEY_INSERT_ATTEMPTS = 5
KEY_CHECK_CHUNK = 500
# Pseudonyms looked up per statement (SQLite allows 32,766 parameters, PostgreSQL 65,535).
LOOKUP_CHUNK = 2000

metadata = MetaData()
# Where stores made before secrets came from the settings keep theirs: read as a previous
# secret until `convtrack migrate` drops it (never created any more).
legacy_metadata = MetaData()
legacy_vault_secret = Table(
    "vault_secret",
    legacy_metadata,
    Column("id", Integer, primary_key=True),
    Column("secret", LargeBinary, nullable=False),
)
secret_versions = Table(
    "vault_secret_versions",
    metadata,
    Column("version", String, primary_key=True),
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


class VaultConflictError(Exception):
    """New identifiers' keys could not be created: other replicas kept creating some of
    them at the same moment."""


class VaultPurgeError(Exception):
    """The database could not yet remove the bytes of keys deleted for an erasure."""


@dataclass(frozen=True, slots=True)
class Forgotten:
    """From identity's log: these pseudonyms' keys must be destroyed."""

    property_id: str
    pseudonyms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeyRow:
    """A new identifier's key, made for events about to be stored and written with them."""

    property_id: str
    pseudonym: str
    key: bytes
    sealed: str


@dataclass(frozen=True, slots=True)
class ConsentRow:
    """An identifier's consent as an event about to be stored leaves it."""

    property_id: str
    pseudonym: str
    consent: Consent


class KeysTakenError(Exception):
    """Another replica stored different keys for some identifiers whose new keys a write
    carried: nothing was written; the events must be sealed again (the vault now holds the
    stored keys)."""


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

    def __init__(self, engine: Engine, secrets: VaultSecrets) -> None:
        self._engine = engine
        self._secrets = secrets.all
        # (property, pseudonym under the current secret) -> (stored pseudonym, its key)
        self._keys: dict[tuple[str, str], tuple[str, bytes]] = {}
        # (secret version, property, identifier) -> pseudonym under that secret: a pure
        # function of the three, so it never goes stale (an erasure deletes keys, not this).
        self._versions = [secret.version for secret in self._secrets]
        self._pseudonyms: dict[tuple[str, str, str], str] = {}
        # (property, pseudonym) -> a key made for events not yet stored: written with them
        # (`write_pending`), and carried by every write that uses it until one commits.
        self._pending: dict[tuple[str, str], KeyRow] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.lock = threading.Lock()
        self._forgetting_hooks: list[Callable[[], None]] = []
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _secure_delete)

    def when_forgetting(self, forget_remembered: Callable[[], None]) -> None:
        """Calls `forget_remembered` whenever identifiers are forgotten (`forget_identifiers`,
        or a forgotten person on identity's log), after their keys and records are gone: a
        cache of values as sent empties with them, and this vault empties its pseudonyms
        by identifier."""
        self._forgetting_hooks.append(forget_remembered)

    def _forget_remembered(self) -> None:
        self._pseudonyms.clear()
        for forget_remembered in self._forgetting_hooks:
            forget_remembered()

    def create_tables(self) -> None:
        """Creates the vault's tables when missing."""
        metadata.create_all(self._engine)

    def check_tables(self) -> None:
        """Raises MissingTablesError unless the vault's tables exist."""
        try:
            with self._engine.connect() as conn:
                conn.execute(select(subject_keys.c.pseudonym).limit(1))
                conn.execute(select(secret_versions.c.version).limit(1))
        except DBAPIError as error:
            raise MissingTablesError(
                "ingest's vault tables are missing: run `convtrack migrate` first"
            ) from error

    def register_secrets(self, also_used: tuple[str, ...] = ()) -> None:
        """Records the current secret's version (and `also_used`) as used by this store;
        SettingsError when a version the store has used is not configured (its identifiers
        would get new pseudonyms); a warning for a previous secret the store has not used."""
        configured = {s.version for s in self._secrets}
        with self._engine.connect() as conn:
            recorded = set(conn.execute(select(secret_versions.c.version)).scalars())
        missing = sorted(recorded - configured)
        if missing:
            raise SettingsError(
                f"{PREVIOUS} lacks the vault secret version(s) {', '.join(missing)} that "
                "ingest's store has used: list those secrets in it (or its _FILE), or, to "
                "let their identifiers get new pseudonyms, run `convtrack vault retire VERSION`"
            )
        in_use = {self._secrets[0].version, *also_used}
        unknown = sorted(configured - recorded - in_use)
        if unknown:
            # A wrong value, or the next secret staged for a rotation (docs/deploy.md).
            _log.warning(
                "ingest: %s holds vault secret version(s) %s that ingest's store has never "
                "used: check the value unless it is the next secret, staged for a rotation",
                PREVIOUS,
                ", ".join(unknown),
            )
        new = sorted(in_use - recorded)
        if new:
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert(secret_versions), [{"version": v} for v in new])
            except IntegrityError:
                pass  # another replica recorded it first
        _log.info(
            "ingest: vault secret %s, previous %s",
            self._secrets[0].version,
            ", ".join(s.version for s in self._secrets[1:]) or "none",
        )

    def retire_secret(self, version: str) -> bool:
        """Forgets that the store used this (previous) secret version; False if it had not."""
        if version == self._secrets[0].version:
            raise SettingsError(f"vault secret version {version} is the current one")
        with self._engine.begin() as conn:
            deleted = conn.execute(
                delete(secret_versions).where(secret_versions.c.version == version)
            ).rowcount
        return bool(deleted)

    def pseudonym(self, property_id: str, identifier: str) -> str:
        """The identifier's pseudonym: its kind, then a keyed hash of property and identifier
        (under the previous secret that made it, for an identifier already stored so)."""
        if len(self._secrets) == 1:
            return self._digest(0, property_id, identifier)
        return self._resolved(property_id, [identifier])[identifier][0]

    def previous_pseudonyms(self, property_id: str, identifier: str) -> tuple[str, ...]:
        """The identifier's pseudonym under each previous secret (none without a rotation):
        an identifier never sealed (it only ever denied analytics consent) has its consent
        row under the secret that was current when it was recorded."""
        return tuple(_digest(secret, property_id, identifier) for secret in self._secrets[1:])

    def network_pseudonyms(self, property_id: str, address: IPAddress) -> NetworkPseudonyms:
        """Pseudonyms of a client's IP address and of its /24 (IPv4) or /64 (IPv6) network.

        They are computed like identifier pseudonyms, under kinds ("ip", "net") that no
        identifier has, so they never equal an identifier's pseudonym. Nothing is stored.
        """
        return NetworkPseudonyms(
            ip=self._digest(0, property_id, f"{IP_KIND}:{address}"),
            network=self._digest(0, property_id, f"{NETWORK_KIND}:{network_of(address)}"),
        )

    def seal(self, property_id: str, identifiers: Iterable[str]) -> dict[str, Sealed]:
        """Each identifier's pseudonym and sealed value; keys of new identifiers are created
        and committed before this returns (so no stored event refers to a missing key)."""
        found = self._resolved(property_id, list(dict.fromkeys(identifiers)), create=True)
        return {raw: Sealed(p, _seal(key, p, raw)) for raw, (p, key) in found.items()}

    def seal_pending(
        self, property_id: str, identifiers: Iterable[str]
    ) -> tuple[dict[str, Sealed], dict[str, KeyRow]]:
        """Each identifier's pseudonym and sealed value, and the key rows (by identifier) that
        must be written with the events that carry them: new identifiers get keys that are
        not committed here but by `write_pending`, in the transaction that stores their
        events (so a key exists exactly when an event sealed under it does)."""
        unique = list(dict.fromkeys(identifiers))
        found = self._resolved(property_id, unique)
        if len(self._pending) > CACHE_LIMIT:
            # Keys of writes that keep failing: one in flight that is dropped here is found
            # again by `_check_keys` if a new key for its identifier is written after it.
            with self._lock:
                self._pending.clear()
        missing = [raw for raw in unique if not found[raw][1]]
        if missing:
            with self._lock:
                for raw in missing:
                    pseudonym = found[raw][0]
                    row = self._pending.get((property_id, pseudonym))
                    if row is None:
                        _, fields = self._new_key_row(property_id, pseudonym, raw)
                        row = KeyRow(**fields)
                        self._pending[(property_id, pseudonym)] = row
                        self._keys[(property_id, pseudonym)] = (pseudonym, row.key)
                    found[raw] = (pseudonym, row.key)
        with self._lock:
            rows = {
                raw: row
                for raw, (pseudonym, _) in found.items()
                if (row := self._pending.get((property_id, pseudonym))) is not None
            }
        sealed = {raw: Sealed(p, _seal(key, p, raw)) for raw, (p, key) in found.items()}
        return sealed, rows

    def write_pending(
        self, cursor: Any, keys: Sequence[KeyRow], consents: Sequence[ConsentRow]
    ) -> None:
        """Writes new keys and recorded consents through `cursor`, inside the caller's
        transaction (the one that stores the events they belong to). A key another replica
        stored first, with other bytes, raises KeysTakenError (the caller rolls back)."""
        postgres = self._engine.dialect.name == "postgresql"
        mark = "%s" if postgres else "?"
        keys_table, consents_table = self._qualified(subject_keys), self._qualified(consent_states)
        unique_keys = sorted({(k.property_id, k.pseudonym): k for k in keys}.values(), key=_row_key)
        if unique_keys:
            cursor.executemany(
                f"INSERT INTO {keys_table} (property_id, pseudonym, key, sealed) "
                f"VALUES ({mark}, {mark}, {mark}, {mark}) "
                "ON CONFLICT (property_id, pseudonym) DO NOTHING",
                [(k.property_id, k.pseudonym, k.key, k.sealed) for k in unique_keys],
            )
            self._check_keys(cursor, keys_table, mark, unique_keys)
        last = {(c.property_id, c.pseudonym): c for c in consents}
        if last:
            cursor.executemany(
                f"INSERT INTO {consents_table} (property_id, pseudonym, analytics, advertising) "
                f"VALUES ({mark}, {mark}, {mark}, {mark}) "
                "ON CONFLICT (property_id, pseudonym) DO UPDATE SET "
                "analytics = excluded.analytics, advertising = excluded.advertising",
                [
                    (
                        c.property_id,
                        c.pseudonym,
                        c.consent.analytics.value,
                        c.consent.advertising.value,
                    )
                    for c in sorted(last.values(), key=_row_key)
                ],
            )

    def _check_keys(self, cursor: Any, table: str, mark: str, keys: Sequence[KeyRow]) -> None:
        """KeysTakenError when a stored key differs from the one written (another replica's
        insert won): the vault adopts the stored keys so that sealing again uses them."""
        taken: dict[tuple[str, str], bytes] = {}
        by_property: dict[str, dict[str, KeyRow]] = {}
        for row in keys:
            by_property.setdefault(row.property_id, {})[row.pseudonym] = row
        for property_id, rows in by_property.items():
            for start in range(0, len(rows), KEY_CHECK_CHUNK):
                chunk = list(rows)[start : start + KEY_CHECK_CHUNK]
                cursor.execute(
                    f"SELECT pseudonym, key FROM {table} WHERE property_id = {mark} "
                    f"AND pseudonym IN ({', '.join([mark] * len(chunk))})",
                    [property_id, *chunk],
                )
                for found in cursor.fetchall():
                    pseudonym, key = found["pseudonym"], bytes(found["key"])
                    if key != rows[pseudonym].key:
                        taken[(property_id, pseudonym)] = key
        if taken:
            with self._lock:
                for (property_id, pseudonym), key in taken.items():
                    self._pending.pop((property_id, pseudonym), None)
                    self._keys[(property_id, pseudonym)] = (pseudonym, key)
            raise KeysTakenError(
                f"another replica stored the keys of {len(taken)} identifiers first"
            )

    def keys_committed(self, keys: Iterable[KeyRow]) -> None:
        """These keys are stored: writes that use them no longer carry them."""
        with self._lock:
            for row in keys:
                if self._pending.get((row.property_id, row.pseudonym)) is row:
                    del self._pending[(row.property_id, row.pseudonym)]

    def _qualified(self, table: Table) -> str:
        """The table's name as raw SQL on this engine (schema-qualified on PostgreSQL)."""
        preparer = self._engine.dialect.identifier_preparer
        translate = self._engine.get_execution_options().get("schema_translate_map") or {}
        name = preparer.format_table(table)
        if translate.get(None):
            return f"{preparer.quote_schema(translate[None])}.{name}"
        return name

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
        rows = self._by_pseudonym(
            consent_states, ("analytics", "advertising"), property_id, pseudonyms
        )
        return {
            pseudonym: Consent(ConsentState(analytics), ConsentState(advertising))
            for pseudonym, analytics, advertising in rows
        }

    def _by_pseudonym(
        self, table: Table, columns: Sequence[str], property_id: str, pseudonyms: Iterable[str]
    ) -> list[Sequence[Any]]:
        """The rows (pseudonym, *columns) of the property's pseudonyms in a vault table: one
        driver-level statement per LOOKUP_CHUNK pseudonyms. SQLAlchemy's compilation of
        an expanding IN took about three times the statement itself, once per batch of
        events, on ingest's hot path."""
        mark = "%s" if self._engine.dialect.name == "postgresql" else "?"
        unique = list(dict.fromkeys(pseudonyms))
        found: list[Sequence[Any]] = []
        with self._engine.connect() as conn:
            for start in range(0, len(unique), LOOKUP_CHUNK):
                chunk = unique[start : start + LOOKUP_CHUNK]
                marks = ", ".join([mark] * len(chunk))
                found += conn.exec_driver_sql(
                    f"SELECT pseudonym, {', '.join(columns)} FROM {self._qualified(table)} "
                    f"WHERE property_id = {mark} AND pseudonym IN ({marks})",
                    (property_id, *chunk),
                ).all()
        return found

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

    def forget_identifiers(
        self, property_id: str, identifiers: Sequence[str]
    ) -> tuple[int, list[str]]:
        """Erases the consent recorded for these identifiers (under the pseudonym of every
        configured secret, so a record made before a rotation goes too), then what the
        database keeps of it besides the table. Returns how many records were erased and
        the identifiers that have a sealed key (they reached identity: ForgetPerson erases
        them). Raises VaultPurgeError when the purge must be retried (deleting again is
        harmless)."""
        by_pseudonym = {
            _digest(secret, property_id, identifier): identifier
            for identifier in identifiers
            for secret in self._secrets
        }
        candidates = list(by_pseudonym)
        c, k = consent_states.c, subject_keys.c
        with self._write_lock, self._engine.begin() as conn:
            erased = conn.execute(
                delete(consent_states).where(
                    c.property_id == property_id, c.pseudonym.in_(candidates)
                )
            ).rowcount
            sealed = conn.execute(
                select(k.pseudonym).where(k.property_id == property_id, k.pseudonym.in_(candidates))
            ).scalars()
            held = {by_pseudonym[p] for p in sealed}
        if erased:
            self._purge_deleted_keys()
        self._forget_remembered()
        return erased, [i for i in dict.fromkeys(identifiers) if i in held]

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
            self._forget_remembered()
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
        gone = {(item.property_id, p) for item in forgotten for p in item.pseudonyms}
        with self._lock:
            for cached, (pseudonym, _) in list(self._keys.items()):
                if (cached[0], pseudonym) in gone:
                    del self._keys[cached]
            for pending in gone & self._pending.keys():
                del self._pending[pending]

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

    def _resolved(
        self, property_id: str, identifiers: list[str], create: bool = False
    ) -> dict[str, tuple[str, bytes]]:
        """Each identifier's stored pseudonym and key (cached), else its pseudonym under the
        current secret with a new key, created and committed when `create` (else left out
        of the answer but for its pseudonym, with an empty key)."""
        current = {i: self._digest(0, property_id, i) for i in identifiers}
        with self._lock:
            found = {
                i: self._keys[(property_id, current[i])]
                for i in identifiers
                if (property_id, current[i]) in self._keys
            }
        missing = [i for i in identifiers if i not in found]
        if missing:
            found.update(self._load_or_create(property_id, missing, current, create))
        return found

    def _load_or_create(
        self, property_id: str, missing: list[str], current: Mapping[str, str], create: bool
    ) -> dict[str, tuple[str, bytes]]:
        """The stored pseudonyms and keys of these identifiers, created (and committed) under
        the current secret where there are none."""
        with self._write_lock:
            for _ in range(KEY_INSERT_ATTEMPTS):
                known = self._stored(property_id, missing)
                new_rows = [
                    self._new_key_row(property_id, current[raw], raw)
                    for raw in missing
                    if raw not in known and create
                ]
                if not new_rows:
                    break
                try:
                    # A write-only transaction: on SQLite it waits for other writers instead
                    # of failing to upgrade a read snapshot.
                    with self._engine.begin() as conn:
                        conn.execute(insert(subject_keys), [row for _, row in new_rows])
                except IntegrityError:
                    # Another replica created some of them since the lookup: the whole insert
                    # was rolled back, so look again and create only the rest.
                    continue
                known.update((raw, (row["pseudonym"], row["key"])) for raw, row in new_rows)
                break
            else:
                raise VaultConflictError(
                    f"could not create the keys of {len(missing)} identifiers: other replicas "
                    "kept creating some of them first"
                )
        with self._lock:
            if len(self._keys) > CACHE_LIMIT:
                self._keys.clear()
            for raw, stored in known.items():
                self._keys[(property_id, current[raw])] = stored
        return {raw: known.get(raw, (current[raw], b"")) for raw in missing}

    @staticmethod
    def _new_key_row(property_id: str, pseudonym: str, raw: str) -> tuple[str, dict[str, Any]]:
        key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        row = {
            "property_id": property_id,
            "pseudonym": pseudonym,
            "key": key,
            "sealed": _seal(key, pseudonym, raw),
        }
        return raw, row

    def _digest(self, rank: int, property_id: str, identifier: str) -> str:
        """The identifier's pseudonym under the secret of that rank (0: the current one),
        cached by the secret's version."""
        cache_key = (self._versions[rank], property_id, identifier)
        found = self._pseudonyms.get(cache_key)
        if found is None:
            if len(self._pseudonyms) >= CACHE_LIMIT:
                self._pseudonyms.clear()
            found = _digest(self._secrets[rank], property_id, identifier)
            self._pseudonyms[cache_key] = found
        return found

    def _stored(self, property_id: str, identifiers: list[str]) -> dict[str, tuple[str, bytes]]:
        """The stored pseudonym and key of each identifier that has one, looked up under
        every configured secret (the current one first)."""
        candidates: dict[str, tuple[int, str]] = {}
        for rank in range(len(self._secrets)):
            for raw in identifiers:
                candidates.setdefault(self._digest(rank, property_id, raw), (rank, raw))
        best: dict[str, tuple[int, str, bytes]] = {}
        for pseudonym, key in self._by_pseudonym(subject_keys, ("key",), property_id, candidates):
            rank, raw = candidates[pseudonym]
            if raw not in best or rank < best[raw][0]:
                best[raw] = (rank, pseudonym, bytes(key))
        return {raw: (pseudonym, key) for raw, (_, pseudonym, key) in best.items()}


def _row_key(row: KeyRow | ConsentRow) -> tuple[str, str]:
    """Rows are written in one order by every replica, so that their locks cannot deadlock."""
    return (row.property_id, row.pseudonym)


def _digest(secret: VaultSecret, property_id: str, identifier: str) -> str:
    """The pseudonym of an identifier under one secret: its kind, then a keyed hash of
    property and identifier."""
    kind, _, _ = identifier.partition(":")
    digest = hmac.new(
        secret.key, f"{property_id}\x1f{identifier}".encode(), hashlib.sha256
    ).hexdigest()
    return f"{kind}:{digest[:PSEUDONYM_HEX_DIGITS]}"


def legacy_secret(engine: Engine) -> VaultSecret | None:
    """The secret a store made before secrets came from the settings kept in its own
    `vault_secret` table, if it still does."""
    schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
    if not inspect(engine).has_table(legacy_vault_secret.name, schema=schema):
        return None
    with engine.connect() as conn:
        found = conn.execute(select(legacy_vault_secret.c.secret)).scalar_one_or_none()
    return None if found is None else VaultSecret(bytes(found))


def drop_legacy_secret(engine: Engine) -> None:
    """Deletes the legacy `vault_secret` table, and on SQLite the copies of its pages in the
    write-ahead log."""
    with engine.begin() as conn:
        conn.execute(delete(legacy_vault_secret))
    legacy_metadata.drop_all(engine)
    if engine.dialect.name == "sqlite":
        connection = engine.raw_connection()
        try:
            connection.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()


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
