"""Ingest's input from identity's log: persons forgotten, whose keys must be destroyed."""

from __future__ import annotations

from common.wire import from_identifier_pb
from convtrack.identity.v1 import identity_pb2
from services.ingest.vault import Forgotten


def forgotten_of(entry: identity_pb2.LogEntry) -> Forgotten | None:
    """The pseudonyms of a forgotten person; None for every other entry."""
    if entry.WhichOneof("event") != "person_forgotten":
        return None
    forgotten = entry.person_forgotten
    return Forgotten(
        forgotten.property_id,
        tuple(from_identifier_pb(i).key for i in forgotten.identifiers),
    )
