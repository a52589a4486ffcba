"""Identity's inputs: ingest's log entries translated to observations."""

from __future__ import annotations

from common.values import Identifier
from common.wire import from_identifier_pb, from_timestamp
from convtrack.ingest.v1 import ingest_pb2
from services.identity.domainmodel import Observation


def observation_of(entry: ingest_pb2.LogEntry) -> Observation | None:
    """The identifiers an ingested event carries, or None for an entry without any."""
    kind = entry.WhichOneof("event")
    if kind is None:
        return None
    envelope = getattr(entry, kind).envelope
    identifiers: list[Identifier] = [from_identifier_pb(i) for i in envelope.identifiers]
    return Observation(
        property_id=envelope.property_id,
        record_id=envelope.record_id,
        identifiers=tuple(i.key for i in identifiers),
        occurred_at=from_timestamp(envelope.occurred_at),
    )
