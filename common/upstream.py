"""Reading another service's log over gRPC, translated to this service's plain values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import grpc

from common.follower import UpstreamEntry
from common.wire import from_timestamp, to_duration
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc

T = TypeVar("T")
E = TypeVar("E", bound="PositionedEntry")

CALL_MARGIN_SECONDS = 10.0


class PositionedEntry(Protocol):
    """A protobuf log entry: it has a position."""

    @property
    def position(self) -> int:
        """The entry's position in its log."""
        ...


class GrpcUpstreamLog(Generic[E, T]):
    """Follows a producer's `ListEvents` RPC.

    `fetch(after, limit, max_wait, timeout)` makes the call and returns the entries;
    `translate` turns one entry into this service's plain value (or None for entries it
    does not use, whose position still counts as processed); `time_of` gives the time the
    producer recorded an entry (None when it does not say).
    """

    def __init__(
        self,
        name: str,
        fetch: Callable[[int, int, float, float], Sequence[E]],
        translate: Callable[[E], T],
        trace_of: Callable[[E], str] | None = None,
        head: Callable[[float], int] | None = None,
        time_of: Callable[[E], datetime | None] | None = None,
    ) -> None:
        self.name = name
        self._fetch = fetch
        self._translate = translate
        self._trace_of = trace_of
        self._head = head
        self._time_of = time_of

    def head(self) -> int | None:
        """The upstream log's newest position, when the producer says (for the lag metric)."""
        return self._head(CALL_MARGIN_SECONDS) if self._head is not None else None

    def read(self, after: int, limit: int, max_wait: float) -> list[UpstreamEntry[T]]:
        """Returns translated entries after `after`; raises grpc.RpcError when unreachable."""
        return self.entries_of(self.raw_page(after, limit, max_wait))

    def raw_page(self, after: int, limit: int, max_wait: float) -> Sequence[E]:
        """The producer's entries after `after`, as it sent them (protobuf)."""
        return self._fetch(after, limit, max_wait, max_wait + CALL_MARGIN_SECONDS)

    def entries_of(self, entries: Sequence[E]) -> list[UpstreamEntry[T]]:
        """Raw entries translated to this service's plain values."""
        trace_of, time_of = self._trace_of, self._time_of
        return [
            UpstreamEntry(
                e.position,
                self._translate(e),
                trace_of(e) if trace_of else "",
                time_of(e) if time_of else None,
            )
            for e in entries
        ]


def _producer_log(
    name: str,
    stub: Any,
    module: Any,
    translate: Callable[[E], T],
    trace_of: Callable[[E], str] | None = None,
    time_of: Callable[[E], datetime | None] | None = None,
) -> GrpcUpstreamLog[E, T]:
    """A producer's log through its `ListEvents` and `GetLogHead` RPCs (same shape in every
    producer's package)."""

    def fetch(after: int, limit: int, wait: float, timeout: float) -> Sequence[E]:
        request = module.ListEventsRequest(after=after, limit=limit, max_wait=to_duration(wait))
        entries: Sequence[E] = stub.ListEvents(request, timeout=timeout).entries
        return entries

    def head(timeout: float) -> int:
        return int(stub.GetLogHead(module.GetLogHeadRequest(), timeout=timeout).position)

    return GrpcUpstreamLog(name, fetch, translate, trace_of, head, time_of)


def _ingest_trace(entry: ingest_pb2.LogEntry) -> str:
    kind = entry.WhichOneof("event")
    if kind == "spend_recorded":
        return entry.spend_recorded.trace_parent
    return str(getattr(entry, kind).envelope.trace_parent) if kind else ""


def _ingest_time(entry: ingest_pb2.LogEntry) -> datetime | None:
    kind = entry.WhichOneof("event")
    if kind == "spend_recorded":
        stamp = entry.spend_recorded.received_at
    elif kind:
        stamp = getattr(entry, kind).envelope.received_at
    else:
        return None
    return from_timestamp(stamp) if stamp.seconds or stamp.nanos else None


def _attribution_time(entry: attribution_pb2.LogEntry) -> datetime | None:
    stamp = entry.recorded_at
    return from_timestamp(stamp) if entry.HasField("recorded_at") else None


def _identity_time(entry: identity_pb2.LogEntry) -> datetime | None:
    stamp = entry.recorded_at
    return from_timestamp(stamp) if entry.HasField("recorded_at") else None


def _attribution_trace(entry: attribution_pb2.LogEntry) -> str:
    if entry.WhichOneof("event") == "conversion_attributed":
        return entry.conversion_attributed.trace_parent
    return ""


def ingest_log(
    channel: grpc.Channel, translate: Callable[[ingest_pb2.LogEntry], T]
) -> GrpcUpstreamLog[ingest_pb2.LogEntry, T]:
    """Ingest's log over gRPC, each entry translated to this service's plain input."""
    stub = ingest_pb2_grpc.IngestServiceStub(channel)
    return _producer_log("ingest", stub, ingest_pb2, translate, _ingest_trace, _ingest_time)


def identity_log(
    channel: grpc.Channel, translate: Callable[[identity_pb2.LogEntry], T]
) -> GrpcUpstreamLog[identity_pb2.LogEntry, T]:
    """Identity's log over gRPC, each entry translated to this service's plain input."""
    stub = identity_pb2_grpc.IdentityServiceStub(channel)
    return _producer_log(
        "identity", stub, identity_pb2, translate, lambda e: e.trace_parent, _identity_time
    )


def attribution_log(
    channel: grpc.Channel, translate: Callable[[attribution_pb2.LogEntry], T]
) -> GrpcUpstreamLog[attribution_pb2.LogEntry, T]:
    """Attribution's log over gRPC, each entry translated to this service's plain input."""
    stub = attribution_pb2_grpc.AttributionServiceStub(channel)
    return _producer_log(
        "attribution", stub, attribution_pb2, translate, _attribution_trace, _attribution_time
    )
