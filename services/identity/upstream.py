"""Identity's inputs: ingest's log entries translated to observations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from common.upstream import GrpcUpstreamLog
from common.wire import from_timestamp, identifier_keys
from convtrack.ingest.v1 import ingest_pb2
from services.identity.domainmodel import Observation


def observation_of(entry: ingest_pb2.LogEntry) -> Observation | None:
    """The identifiers an ingested event carries, or None for an entry without any."""
    kind = entry.WhichOneof("event")
    if kind is None or kind == "spend_recorded":
        return None
    envelope = getattr(entry, kind).envelope
    device, network = envelope.device, envelope.network
    known_browser = bool(device.browser) and device.browser != "Other"
    return Observation(
        property_id=envelope.property_id,
        record_id=envelope.record_id,
        identifiers=identifier_keys(envelope.identifiers),
        occurred_at=from_timestamp(envelope.occurred_at),
        ip=network.ip_pseudonym,
        ip_network=network.network_pseudonym,
        ua_family=f"{device.browser}/{device.os}" if known_browser else "",
        ua_device=(
            f"{device.device}/{device.browser_version}/{device.os_version}" if known_browser else ""
        ),
        geo_city=network.geo_city,
    )


class IngestObservations:
    """Every observation in ingest's log, read from its start (what a matching run scores)."""

    PAGE = 1000

    def __init__(self, log: GrpcUpstreamLog[ingest_pb2.LogEntry, Observation | None]) -> None:
        self._log = log

    def observations(self, since: datetime) -> Iterator[Observation]:
        """The observations that happened at or after `since`, in log order."""
        after = 0
        while True:
            entries = self._log.read(after, self.PAGE, 0.0)
            if not entries:
                return
            for entry in entries:
                observation = entry.value
                if observation is None or not observation.identifiers:
                    continue
                if observation.occurred_at is None or observation.occurred_at >= since:
                    yield observation
            after = entries[-1].position
