"""Creating, listing and revoking API keys in ingest's store, and the key set made of them."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from common.callers import Scope
from common.eventlog import LoggedApplication
from common.keyset import KeyRecord, KeySet, new_key_id, new_secret, secret_hash, token_of
from services.ingest.keyring import KEY_RING_ID, KeyRing, StoredKey

SAVE_ATTEMPTS = 20
RETRY_PAUSE_SECONDS = 0.05
MAX_DESCRIPTION_LENGTH = 200


class ApiKeyError(Exception):
    """Base of the API key errors."""


class InvalidKeyRequestError(ApiKeyError):
    """A key that cannot be created as asked; `field` names the request field."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


class UnknownApiKeyError(ApiKeyError):
    """No key with that id."""


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key just created, with the whole token (shown once, never stored)."""

    key: StoredKey
    token: str


class IngestStore(LoggedApplication):
    """Ingest's event store alone, without ingestion: for maintenance with database access
    (`convtrack keys create --offline`)."""

    name = "ingest"


class ApiKeys:
    """The API key use cases, on the event store of `app` (ingest's)."""

    def __init__(self, app: Application[UUID]) -> None:
        self._app = app
        self._lock = threading.Lock()  # changes in one process never conflict with each other
        self._listeners: list[Callable[[], object]] = []
        # The ring as last read, brought up to date with only the events stored since: it is
        # read every second by this process and on every peer's GetKeyRing.
        self._read_lock = threading.Lock()
        self._latest: KeyRing | None = None

    def on_change(self, listener: Callable[[], object]) -> None:
        """Calls `listener` after every change this process makes (so its key set follows at
        once, not at its next refresh)."""
        self._listeners.append(listener)

    def ring(self) -> tuple[int, list[StoredKey]]:
        """The key ring's version (0 before the first key) and every key, oldest first."""
        with self._read_lock:
            ring = self._latest
            if ring is None:
                ring = self._latest = self._load()
            else:
                for stored in self._app.events.get(KEY_RING_ID, gt=ring.version):
                    cast(KeyRing.Event, stored).mutate(ring)
            if ring is None:
                return 0, []
            keys = sorted(ring.keys.values(), key=lambda k: (k.created_at, k.key_id))
            return ring.version, keys

    def list(self, property_id: str = "") -> list[StoredKey]:
        """The keys, of one property when given, oldest first."""
        return [k for k in self.ring()[1] if not property_id or k.property_id == property_id]

    def key_set(self) -> KeySet:
        """The keys as a key set to check tokens with."""
        version, keys = self.ring()
        return key_set_of(version, keys)

    def create(
        self,
        *,
        property_id: str,
        scopes: Sequence[Scope],
        now: datetime,
        expires_at: datetime | None = None,
        description: str = "",
    ) -> NewApiKey:
        """Creates a key; its token is in the result only. An admin key has no property;
        every other key has exactly one."""
        _check_new_key(property_id, scopes, now, expires_at, description)
        key_id, secret = new_key_id(), new_secret()

        def add(ring: KeyRing) -> None:
            ring.add_key(
                key_id=key_id,
                secret_sha256=secret_hash(secret),
                property_id=property_id,
                scopes=[s.value for s in dict.fromkeys(scopes)],
                created_at=now,
                expires_at=expires_at,
                description=description,
            )

        ring = self._change(add)
        return NewApiKey(ring.keys[key_id], token_of(key_id, secret))

    def revoke(self, key_id: str, now: datetime) -> StoredKey:
        """Revokes a key (again: no change); UnknownApiKeyError when there is none."""

        def revoke(ring: KeyRing) -> None:
            key = ring.keys.get(key_id)
            if key is None:
                raise UnknownApiKeyError(f"no API key {key_id}")
            if not key.revoked:
                ring.revoke_key(key_id=key_id, revoked_at=now)

        return self._change(revoke).keys[key_id]

    def _load(self) -> KeyRing | None:
        try:
            ring: KeyRing = self._app.repository.get(KEY_RING_ID)
        except AggregateNotFoundError:
            return None
        return ring

    def _change(self, change: Callable[[KeyRing], None]) -> KeyRing:
        """Applies `change` to the stored ring and saves it; reloads and retries when another
        writer (a replica) saved first."""
        with self._lock:
            for _ in range(SAVE_ATTEMPTS):
                ring = self._load() or KeyRing(id=KEY_RING_ID)
                change(ring)
                try:
                    self._app.save(ring)
                except IntegrityError:
                    time.sleep(random.uniform(0, RETRY_PAUSE_SECONDS))
                    continue
                for listener in self._listeners:
                    listener()
                return ring
        raise ApiKeyError("could not save the key ring: concurrent writers kept conflicting")


def key_set_of(version: int, keys: Sequence[StoredKey]) -> KeySet:
    """A key set of stored keys."""
    return KeySet(
        (
            KeyRecord(
                key_id=k.key_id,
                secret_sha256=k.secret_sha256,
                property_id=k.property_id,
                scopes=frozenset(k.scopes),
                expires_at=k.expires_at,
                revoked=k.revoked,
            )
            for k in keys
        ),
        version,
    )


def _check_new_key(
    property_id: str,
    scopes: Sequence[Scope],
    now: datetime,
    expires_at: datetime | None,
    description: str,
) -> None:
    if not scopes:
        raise InvalidKeyRequestError("scopes", "at least one scope is required")
    if Scope.ADMIN in scopes:
        if len(set(scopes)) > 1:
            raise InvalidKeyRequestError("scopes", "admin includes every scope: give it alone")
        if property_id:
            raise InvalidKeyRequestError(
                "property_id", "an admin key is for every property: leave the property out"
            )
    elif not property_id:
        raise InvalidKeyRequestError(
            "property_id", "is required (only admin keys are for every property)"
        )
    if expires_at is not None and expires_at <= now:
        raise InvalidKeyRequestError("expires_at", "must be in the future")
    if len(description) > MAX_DESCRIPTION_LENGTH or "\x00" in description:
        raise InvalidKeyRequestError(
            "description", f"must be at most {MAX_DESCRIPTION_LENGTH} characters, without NUL"
        )
