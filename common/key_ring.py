"""Ingest's key ring on the wire: the scope numbers, and the key set a peer service loads from
ingest's `GetKeyRing`."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from common.callers import Scope
from common.keyset import KeyRecord, KeySet
from common.wire import from_timestamp
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc

FETCH_TIMEOUT_SECONDS = 5.0

SCOPES = {
    ingest_pb2.API_KEY_SCOPE_INGEST_WRITE: Scope.INGEST_WRITE,
    ingest_pb2.API_KEY_SCOPE_REPORTS_READ: Scope.REPORTS_READ,
    ingest_pb2.API_KEY_SCOPE_IDENTITY_ADMIN: Scope.IDENTITY_ADMIN,
    ingest_pb2.API_KEY_SCOPE_ATTRIBUTION_ADMIN: Scope.ATTRIBUTION_ADMIN,
    ingest_pb2.API_KEY_SCOPE_ADMIN: Scope.ADMIN,
}
SCOPES_BACK = {scope: number for number, scope in SCOPES.items()}


def key_set_of(response: ingest_pb2.GetKeyRingResponse) -> KeySet:
    """The key set of a GetKeyRing answer (scopes this version does not know are dropped)."""
    return KeySet(
        (
            KeyRecord(
                key_id=entry.key.key_id,
                secret_sha256=entry.secret_sha256,
                property_id=entry.key.property_id,
                scopes=frozenset(SCOPES[s] for s in entry.key.scopes if s in SCOPES),
                expires_at=(
                    from_timestamp(entry.key.expires_at)
                    if entry.key.HasField("expires_at")
                    else None
                ),
                revoked=entry.key.revoked,
            )
            for entry in response.keys
        ),
        response.version,
    )


def key_set_loader(channel: grpc.Channel) -> Callable[[], KeySet]:
    """Loads the key set from ingest's `GetKeyRing` over `channel` (raises grpc.RpcError)."""
    stub = ingest_pb2_grpc.IngestServiceStub(channel)

    def load() -> KeySet:
        return key_set_of(
            stub.GetKeyRing(ingest_pb2.GetKeyRingRequest(), timeout=FETCH_TIMEOUT_SECONDS)
        )

    return load
