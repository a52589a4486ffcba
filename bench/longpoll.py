"""Writes while many consumers long-poll ingest's log: TrackEvents latency, and how often the
readers call ListEvents (those refused a wait slot must not poll in a loop)."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from bench.ingest import start_ingest
from bench.table import Row
from common.channels import open_channel
from common.follower import Follower, UpstreamEntry
from common.upstream import GrpcUpstreamLog, ingest_log
from common.wire import to_timestamp
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc

READERS = 50
READER_WAIT_SECONDS = 30.0
WRITES = 20
WRITE_GAP_SECONDS = 0.1
SETTLE_SECONDS = 2.0
CALL_TIMEOUT = 60.0
TARGET_MS = 100


class CountingLog:
    """An upstream log that counts its reads."""

    def __init__(self, log: GrpcUpstreamLog[ingest_pb2.LogEntry, None]) -> None:
        self.name = log.name
        self._log = log
        self.reads = 0

    def read(self, after: int, limit: int, max_wait: float) -> Sequence[UpstreamEntry[None]]:
        """The upstream's page, counted."""
        self.reads += 1
        return self._log.read(after, limit, max_wait)

    def head(self) -> int | None:
        """Unknown (no lag metric here)."""
        return None


class PositionOnly:
    """A sink that only remembers how far it got."""

    def __init__(self) -> None:
        self.at = 0

    def position(self, upstream: str) -> int:
        """The last position processed."""
        return self.at

    def process_page(
        self, upstream: str, entries: Sequence[UpstreamEntry[None]], after: int | None = None
    ) -> None:
        """Moves the position past the page."""
        self.at = entries[-1].position


def _event(number: int) -> ingest_pb2.Event:
    return ingest_pb2.Event(
        property_id="bench",
        event_id=f"write-{number}-{time.monotonic_ns()}",
        timestamp=to_timestamp(datetime.now(UTC) - timedelta(minutes=1)),
        identity=ingest_pb2.Identity(anonymous_id=f"anon-{number}"),
        page_view=ingest_pb2.PageView(url="https://shop.example/"),
    )


def _write_latencies(stub: Any) -> list[float]:
    """Seconds per TrackEvents call of one event, `WRITES` calls a little apart."""
    latencies = []
    for number in range(WRITES):
        started = time.perf_counter()
        stub.TrackEvents(
            ingest_pb2.TrackEventsRequest(events=[_event(number)]), timeout=CALL_TIMEOUT
        )
        latencies.append(time.perf_counter() - started)
        time.sleep(WRITE_GAP_SECONDS)
    return latencies


def _row(backend: str, label: str, latencies: list[float], note: str) -> Row:
    median = statistics.median(latencies)
    return Row(
        f"TrackEvents {label}",
        backend,
        f"{len(latencies)} calls",
        median,
        f"p50 {median * 1000:,.0f} ms, max {max(latencies) * 1000:,.0f} ms",
        note,
    )


def run(env: Mapping[str, str], backend: str) -> list[Row]:
    """TrackEvents latency alone, then with `READERS` followers long-polling ingest."""
    service = start_ingest(env)
    address = f"127.0.0.1:{service.port}"
    channel = open_channel(address)
    logs: list[CountingLog] = []
    followers: list[Follower[None]] = []
    try:
        with grpc.insecure_channel(address) as writer_channel:
            stub = ingest_pb2_grpc.IngestServiceStub(writer_channel)
            alone = _write_latencies(stub)
            for _ in range(READERS):
                log = CountingLog(ingest_log(channel, lambda entry: None))
                logs.append(log)
                followers.append(
                    Follower(
                        log, PositionOnly(), lock=threading.Lock(), max_wait=READER_WAIT_SECONDS
                    )
                )
            for follower in followers:
                follower.start()
            time.sleep(SETTLE_SECONDS)
            reads_before = sum(log.reads for log in logs)
            measured_from = time.perf_counter()
            polled = _write_latencies(stub)
            reads_per_second = (sum(log.reads for log in logs) - reads_before) / (
                time.perf_counter() - measured_from
            )
        return [
            _row(backend, "alone", alone, f"1 event per call, target < {TARGET_MS} ms"),
            _row(
                backend,
                f"+{READERS} long polls",
                polled,
                f"{READERS} followers, max_wait {READER_WAIT_SECONDS:g}s: "
                f"{reads_per_second:,.0f} ListEvents/s",
            ),
        ]
    finally:
        for follower in followers:
            follower.request_stop()
        channel.close()
        for follower in followers:
            follower.stop()
        service.stop(1.0)
