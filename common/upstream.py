"""Reading another service's log over gRPC, translated to this service's plain values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

import grpc
from opentelemetry.instrumentation.grpc import client_interceptor, grpcext
from opentelemetry.sdk.trace import TracerProvider

from common.follower import UpstreamEntry

T = TypeVar("T")
E = TypeVar("E", bound="PositionedEntry")

CALL_MARGIN_SECONDS = 10.0


class PositionedEntry(Protocol):
    """A protobuf log entry: it has a position."""

    @property
    def position(self) -> int:
        """The entry's position in its log."""
        ...


def open_channel(address: str, tracer_provider: TracerProvider | None = None) -> grpc.Channel:
    """A client channel to a peer service, traced when a tracer provider is given."""
    channel = grpc.insecure_channel(
        address,
        options=[
            ("grpc.max_receive_message_length", 8 * 1024 * 1024),
            ("grpc.enable_retries", 1),
        ],
    )
    if tracer_provider is not None:
        channel = grpcext.intercept_channel(
            channel, client_interceptor(tracer_provider=tracer_provider)
        )
    return channel


class GrpcUpstreamLog(Generic[E, T]):
    """Follows a producer's `ListEvents` RPC.

    `fetch(after, limit, max_wait, timeout)` makes the call and returns the entries;
    `translate` turns one entry into this service's plain value (or None for entries it
    does not use, whose position still counts as processed).
    """

    def __init__(
        self,
        name: str,
        fetch: Callable[[int, int, float, float], Sequence[E]],
        translate: Callable[[E], T],
    ) -> None:
        self.name = name
        self._fetch = fetch
        self._translate = translate

    def read(self, after: int, limit: int, max_wait: float) -> list[UpstreamEntry[T]]:
        """Returns translated entries after `after`; raises grpc.RpcError when unreachable."""
        entries = self._fetch(after, limit, max_wait, max_wait + CALL_MARGIN_SECONDS)
        return [UpstreamEntry(e.position, self._translate(e)) for e in entries]
