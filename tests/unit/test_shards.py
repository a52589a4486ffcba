"""Shards by property: a stable shard per property, each shard sees every position but only
its properties, and a shard without a position of its own starts where 1 shard stopped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from common.follower import UpstreamEntry
from common.settings import SettingsError
from common.shards import ShardOfLog, ShardSink, shard_count, shard_of, sharded_positions


@dataclass(frozen=True)
class Seen:
    property_id: str


class ListLog:
    name = "ingest"

    def __init__(self, entries: Sequence[UpstreamEntry[Seen | None]]) -> None:
        self.entries = list(entries)

    def read(self, after: int, limit: int, max_wait: float) -> list[UpstreamEntry[Seen | None]]:
        return [e for e in self.entries if e.position > after][:limit]

    def head(self) -> int | None:
        return self.entries[-1].position


class PositionsSink:
    """Records pages and positions by name, and the `after` each page was given."""

    def __init__(self, positions: dict[str, int]) -> None:
        self.positions = dict(positions)
        self.pages: list[tuple[str, list[Seen | None], int | None]] = []

    def position(self, upstream: str) -> int:
        return self.positions.get(upstream, 0)

    def process_page(
        self, upstream: str, entries: Sequence[UpstreamEntry[Seen | None]], after: int | None = None
    ) -> None:
        self.pages.append((upstream, [e.value for e in entries], after))
        self.positions[upstream] = entries[-1].position


def test_a_property_has_the_same_shard_in_every_process_and_python_version() -> None:
    # CRC-32 values, fixed: Python's hash() of a str differs from process to process.
    assert [shard_of(p, 2) for p in ("demo-shop", "other-shop", "blog")] == [0, 1, 1]
    assert shard_of("demo-shop", 1) == 0
    assert {shard_of(f"p{i}", 4) for i in range(100)} == {0, 1, 2, 3}


def test_the_shard_count_is_read_per_service_and_checked() -> None:
    assert shard_count({}, "ATTRIBUTION_SHARDS") == 1
    assert shard_count({"REPORTING_SHARDS": "4"}, "REPORTING_SHARDS") == 4
    with pytest.raises(SettingsError, match="ATTRIBUTION_SHARDS must be between 1 and"):
        shard_count({"ATTRIBUTION_SHARDS": "0"}, "ATTRIBUTION_SHARDS")


def test_a_shard_reads_every_position_but_only_its_own_properties_values() -> None:
    log = ListLog(
        [
            UpstreamEntry(1, Seen("demo-shop"), "trace-1"),
            UpstreamEntry(2, Seen("other-shop"), "trace-2"),
            UpstreamEntry(3, None),
        ]
    )
    shard = ShardOfLog(log, shard_of("other-shop", 2), 2)
    assert shard.name == "ingest/shard-1-of-2"
    assert shard.read(0, 10, 0.0) == [
        UpstreamEntry(1, None),
        UpstreamEntry(2, Seen("other-shop"), "trace-2"),
        UpstreamEntry(3, None),
    ]
    assert shard.head() == 3


def test_a_shard_without_a_position_of_its_own_starts_where_the_single_consumer_stopped() -> None:
    sink = PositionsSink({"ingest": 40})
    shard = ShardSink(sink, "ingest")
    assert shard.position("ingest/shard-0-of-2") == 40

    # Its first page is written unchecked (there is no own position to compare `after` with)
    # and records its own position; later pages are checked as usual.
    shard.process_page("ingest/shard-0-of-2", [UpstreamEntry(41, None)], after=40)
    shard.process_page("ingest/shard-0-of-2", [UpstreamEntry(42, None)], after=41)
    assert sink.pages == [
        ("ingest/shard-0-of-2", [None], None),
        ("ingest/shard-0-of-2", [None], 41),
    ]
    assert shard.position("ingest/shard-0-of-2") == 42
    assert sink.position("ingest") == 40  # the old row is left as it was


def test_an_upstreams_position_is_its_least_advanced_shards() -> None:
    sink = PositionsSink({"ingest": 40, "ingest/shard-0-of-2": 55, "identity/shard-1-of-2": 7})
    assert sharded_positions(sink.position, ["ingest", "identity"], 2) == {
        "ingest": 40,  # shard 1 has no position of its own: it is where 1 shard stopped
        "identity": 0,
    }
