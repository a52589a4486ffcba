"""The API keys of the deployment: one `KeyRing` aggregate whose events are every key's creation
and revocation (secrets only as SHA-256 hashes)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, DomainEvent, event

from common.callers import Scope

KEY_RING_ID = uuid5(NAMESPACE_URL, "https://convtrack.dev/ns/ingest-key-ring")


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One API key as the ring holds it."""

    key_id: str
    secret_sha256: str
    property_id: str
    scopes: tuple[Scope, ...]
    created_at: datetime
    expires_at: datetime | None
    description: str
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked."""
        return self.revoked_at is not None


class KeyRing(Aggregate):
    """Every API key ever created, revoked ones included (their ids are never reused)."""

    Opened: ClassVar[type[DomainEvent]]
    KeyCreated: ClassVar[type[DomainEvent]]
    KeyRevoked: ClassVar[type[DomainEvent]]

    @event("Opened")
    def __init__(self, *, id: UUID) -> None:
        self.keys: dict[str, StoredKey] = {}

    @event("KeyCreated")
    def add_key(
        self,
        *,
        key_id: str,
        secret_sha256: str,
        property_id: str,
        scopes: list[str],
        created_at: datetime,
        expires_at: datetime | None,
        description: str,
    ) -> None:
        """Records a new key (its secret's hash only)."""
        self.keys[key_id] = StoredKey(
            key_id=key_id,
            secret_sha256=secret_sha256,
            property_id=property_id,
            scopes=tuple(Scope(s) for s in scopes),
            created_at=created_at,
            expires_at=expires_at,
            description=description,
        )

    @event("KeyRevoked")
    def revoke_key(self, *, key_id: str, revoked_at: datetime) -> None:
        """Records that a key was revoked."""
        key = self.keys[key_id]
        self.keys[key_id] = replace(key, revoked_at=revoked_at)
