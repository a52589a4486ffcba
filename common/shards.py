"""Sharding a consumer by property: which shard a property is in, and one shard's view of an
upstream log and of the consumer's recorded positions."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Generic, Protocol, TypeVar

from common.follower import PageSink, UpstreamEntry, UpstreamLog
from common.settings import SettingsError, env_int

T = TypeVar("T")

MAX_SHARDS = 256


class PropertyScoped(Protocol):
    """A value that belongs to one property."""

    @property
    def property_id(self) -> str:
        """The property's id."""
        ...


V = TypeVar("V", bound=PropertyScoped)


def shard_count(env: Mapping[str, str], key: str) -> int:
    """A service's `<SERVICE>_SHARDS` setting, named by `key` (default 1: one replica follows
    each log): how many shards the service's followers split the properties into."""
    shards = env_int(env, key, 1)
    if not 1 <= shards <= MAX_SHARDS:
        raise SettingsError(f"{key} must be between 1 and {MAX_SHARDS}, not {shards}")
    return shards


def shard_of(property_id: str, shards: int) -> int:
    """The shard of a property: CRC-32 of its id modulo the shard count (stable across
    processes and Python versions, unlike `hash()`)."""
    return zlib.crc32(property_id.encode()) % shards


def shard_tracking_name(upstream: str, shard: int, shards: int) -> str:
    """The name a shard's position in `upstream` is recorded under ("ingest/shard-0-of-2")."""
    return f"{upstream}/shard-{shard}-of-{shards}"


class ShardOfLog(Generic[V]):
    """An upstream log as one shard sees it: every entry in order (so the shard's position
    moves through the whole log), with the values of other shards' properties left out (None).

    Its name is the shard's tracking name, under which the follower records positions.
    """

    def __init__(self, log: UpstreamLog[V | None], shard: int, shards: int) -> None:
        self._log = log
        self._shard = shard
        self._shards = shards
        self.upstream = log.name
        self.name = shard_tracking_name(log.name, shard, shards)

    def read(self, after: int, limit: int, max_wait: float) -> Sequence[UpstreamEntry[V | None]]:
        """The upstream's entries after `after`, other shards' values as None."""
        return [
            entry
            if entry.value is None or shard_of(entry.value.property_id, self._shards) == self._shard
            else UpstreamEntry(entry.position, None, recorded_at=entry.recorded_at)
            for entry in self._log.read(after, limit, max_wait)
        ]

    def head(self) -> int | None:
        """The upstream's newest position."""
        return self._log.head()


class ShardSink(Generic[T]):
    """A consumer's sink as a shard's follower uses it: a shard that recorded no position of
    its own yet starts where the unsharded consumer stopped (moving from 1 shard to N: the
    single position is every shard's starting point, so nothing is processed twice or missed).
    """

    def __init__(self, sink: PageSink[T], upstream: str) -> None:
        self._sink = sink
        self._upstream = upstream

    def position(self, upstream: str) -> int:
        """The shard's own position, else the unsharded one."""
        return self._sink.position(upstream) or self._sink.position(self._upstream)

    def process_page(
        self, upstream: str, entries: Sequence[UpstreamEntry[T]], after: int | None = None
    ) -> None:
        """Processes the page; the first page of a shard (no position of its own to check
        `after` against) is processed unchecked and records the shard's first position."""
        own = self._sink.position(upstream)
        self._sink.process_page(upstream, entries, after if own else None)


def sharded_positions(
    position: Callable[[str], int], upstreams: Iterable[str], shards: int
) -> dict[str, int]:
    """Each upstream's position as one number: the least of its shards' (everything up to it
    is processed in every shard); a shard without a position of its own counts the unsharded
    one."""
    found: dict[str, int] = {}
    for upstream in upstreams:
        base = position(upstream)
        found[upstream] = min(
            position(shard_tracking_name(upstream, shard, shards)) or base
            for shard in range(shards)
        )
    return found
