"""Freshness: how long after ingest acknowledges a conversion it is in reporting's views,
while ingest is offered a steady 1,000 events/s, with all four services as processes.

The demo sample (page views, logins, sign-ups and purchases) is sent open-loop, a batch of
100 every 0.1 s, and each batch's acknowledgement time is noted per event id. Attribution's
`WatchConversions` stream says at which position of its log each conversion was attributed;
reporting's `GetSyncStatus` is polled every POLL seconds for the attribution position its
views reflect (the projection writes a page's rows and its position in one transaction, so
a position at or past the conversion's means the conversion is in every report). Latency
per conversion = first poll that shows it - its acknowledgement; the poll interval bounds
the error (an overestimate by up to POLL).
"""

from __future__ import annotations

import argparse
import bisect
import os
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from bench.pipeline import sample
from bench.storage import BACKENDS, fresh_env
from bench.table import Row, format_table
from common.wire import to_timestamp
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from tests.e2e.processes import ServiceCluster

RATE = 1000.0
SECONDS = 30.0
BATCH = 100
POLL = 0.02
SETTLE_TIMEOUT = 120.0
START_TIMEOUT = 120.0
"""How long each service may take to become ready (a loaded machine starts them slowly)."""
EVENTS_PER_VISITOR = 6.6
"""About how many events the demo sample has per visitor."""
PROPERTY = "demo-shop"


@dataclass(frozen=True)
class Freshness:
    """What one run measured."""

    offered: int
    accepted: int
    send_seconds: float
    latencies: list[float]
    unseen: int
    to_attribution: list[float]
    to_reporting: list[float]
    ack_latencies: list[float]
    """Each accepted `TrackEvents` call's time from sending to its acknowledgement."""
    cpu_seconds: dict[str, float]
    """Each service process's CPU seconds (user + system) from the first send to the end."""

    def percentile(self, fraction: float, of: list[float] | None = None) -> float:
        ordered = sorted(self.latencies if of is None else of)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def measure(env: Mapping[str, str], rate: float = RATE, seconds: float = SECONDS) -> Freshness:
    """Starts the four services, offers the sample at `rate` events/s for about `seconds`,
    and measures each conversion's acknowledgement-to-report latency."""
    events = sample(max(10, int(rate * seconds / EVENTS_PER_VISITOR)))[: int(rate * seconds)]
    acked: dict[str, float] = {}
    ack_latencies: list[float] = []
    accepted = [0]
    lock = threading.Lock()
    watched: list[tuple[str, int, float]] = []  # (event id, attribution position, when seen)
    polls: list[tuple[int, float]] = []  # (reporting's attribution position, when seen)
    stop = threading.Event()
    with (
        tempfile.TemporaryDirectory(prefix="convtrack-freshness-") as logs,
        ServiceCluster(env, Path(os.environ.get("CONVTRACK_BENCH_LOG_DIR", logs))) as cluster,
    ):
        cluster.start(timeout=START_TIMEOUT)
        addresses = cluster.addresses
        with (
            grpc.insecure_channel(addresses.ingest) as ingest_channel,
            grpc.insecure_channel(addresses.attribution) as attribution_channel,
            grpc.insecure_channel(addresses.reporting) as reporting_channel,
        ):
            ingest = ingest_pb2_grpc.IngestServiceStub(ingest_channel)
            attribution = attribution_pb2_grpc.AttributionServiceStub(attribution_channel)
            reporting = reporting_pb2_grpc.ReportingServiceStub(reporting_channel)
            stream = attribution.WatchConversions(
                attribution_pb2.WatchConversionsRequest(property_id=PROPERTY)
            )

            def watch() -> None:
                try:
                    for message in stream:
                        if message.kind == attribution_pb2.WATCH_EVENT_KIND_ATTRIBUTED:
                            with lock:
                                watched.append(
                                    (
                                        message.attribution.event_id,
                                        message.position,
                                        time.monotonic(),
                                    )
                                )
                except grpc.RpcError:
                    pass  # cancelled at the end

            def poll() -> None:
                while not stop.is_set():
                    status = reporting.GetSyncStatus(
                        reporting_pb2.GetSyncStatusRequest(), timeout=5
                    )
                    seen = time.monotonic()
                    position = next(
                        (u.position for u in status.upstreams if u.upstream == "attribution"),
                        0,
                    )
                    polls.append((position, seen))
                    time.sleep(POLL)

            watcher = threading.Thread(target=watch, daemon=True)
            poller = threading.Thread(target=poll, daemon=True)
            watcher.start()
            poller.start()
            pids = {name: service.pid for name, service in cluster.services.items()}
            cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
            send_seconds = _offer(ingest, events, rate, acked, accepted, lock, ack_latencies)
            # Wait until attribution has processed all of ingest's log (so that conversions
            # still in the pipeline are counted, not left out), then until reporting has
            # every watched one.
            head = ingest.GetLogHead(ingest_pb2.GetLogHeadRequest(), timeout=5).position
            deadline = time.monotonic() + SETTLE_TIMEOUT
            while time.monotonic() < deadline and _position(attribution, "ingest") < head:
                time.sleep(0.2)
            time.sleep(1.0)
            while time.monotonic() < deadline:
                with lock:
                    newest = max((p for _, p, _ in watched), default=0)
                if polls and polls[-1][0] >= newest:
                    break
                time.sleep(0.2)
            stop.set()
            stream.cancel()
            poller.join()
            watcher.join(timeout=5)
            cpu = {name: _cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        cluster.stop()
    positions = [p for p, _ in polls]
    latencies = []
    to_attribution = []
    to_reporting = []
    unseen = 0
    for event_id, position, attributed_at in watched:
        if event_id not in acked:
            continue
        index = bisect.bisect_left(positions, position)
        if index == len(polls):
            unseen += 1
            continue
        latencies.append(max(0.0, polls[index][1] - acked[event_id]))
        to_attribution.append(max(0.0, attributed_at - acked[event_id]))
        to_reporting.append(max(0.0, polls[index][1] - attributed_at))
    return Freshness(
        len(events),
        accepted[0],
        send_seconds,
        latencies,
        unseen,
        to_attribution,
        to_reporting,
        ack_latencies,
        cpu,
    )


def _position(attribution: attribution_pb2_grpc.AttributionServiceStub, upstream: str) -> int:
    """Attribution's processed position of `upstream`."""
    status = attribution.GetSyncStatus(attribution_pb2.GetSyncStatusRequest(), timeout=5)
    return next((u.position for u in status.upstreams if u.upstream == upstream), 0)


def _cpu_seconds(pid: int) -> float:
    """A process's CPU seconds so far (user + system), from /proc; 0 where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _offer(
    ingest: ingest_pb2_grpc.IngestServiceStub,
    events: Sequence[ingest_pb2.Event],
    rate: float,
    acked: dict[str, float],
    accepted: list[int],
    lock: threading.Lock,
    ack_latencies: list[float],
) -> float:
    """Sends a batch every BATCH/rate seconds whatever the answers; notes acknowledgements
    and how long each took."""
    interval = BATCH / rate
    started = time.monotonic()
    calls: list[Any] = []
    for n in range(0, len(events), BATCH):
        time.sleep(max(0.0, started + (n // BATCH) * interval - time.monotonic()))
        chunk = list(events[n : n + BATCH])
        sent_at = time.monotonic()
        call = ingest.TrackEvents.future(
            ingest_pb2.TrackEventsRequest(events=chunk, sent_at=to_timestamp(datetime.now(UTC))),
            timeout=30,
        )

        def done(
            call: Any,
            ids: list[str] = [e.event_id for e in chunk],  # noqa: B006
            sent: float = sent_at,
        ) -> None:
            now = time.monotonic()
            if call.exception() is None:
                with lock:
                    ack_latencies.append(now - sent)
                    accepted[0] += call.result().accepted_count
                    for event_id in ids:
                        acked[event_id] = now

        call.add_done_callback(done)
        calls.append(call)
    for call in calls:
        call.exception()
    return time.monotonic() - started


def run(backend: str, rate: float = RATE, seconds: float = SECONDS) -> list[Row]:
    """The freshness row of one backend."""
    with fresh_env(backend) as env:
        result = measure(env, rate, seconds)
    p50, p99 = result.percentile(0.5), result.percentile(0.99)
    verdict = "met" if result.latencies and p99 < 1.0 else "MISSED"
    hops = [
        Row(
            f"  hop: {name}",
            backend,
            f"{len(of):,} conv",
            None,
            f"p50 {result.percentile(0.5, of) * 1000:,.0f} ms",
            f"p99 {result.percentile(0.99, of) * 1000:,.0f} ms; {note}",
        )
        for name, of, note in (
            (
                "ack to attributed",
                result.to_attribution,
                "ingest -> identity -> attribution, seen on attribution's WatchConversions",
            ),
            (
                "attributed to reported",
                result.to_reporting,
                "attribution -> reporting: watch message to the first poll showing it",
            ),
        )
    ]
    return [
        Row(
            "reporting freshness (4 processes)",
            backend,
            f"{len(result.latencies):,} conv",
            result.send_seconds,
            f"p50 {p50 * 1000:,.0f} ms",
            f"p99 {p99 * 1000:,.0f} ms (target < 1 s: {verdict}); ack to reporting's views; "
            f"offered {result.offered:,} ev at {rate:,.0f}/s, {result.accepted:,} accepted; "
            f"{result.unseen} not seen; polls every {POLL * 1000:.0f} ms",
        ),
        *hops,
        Row(
            "  ingest's acknowledgement",
            backend,
            f"{len(result.ack_latencies):,} calls",
            None,
            f"p50 {result.percentile(0.5, result.ack_latencies) * 1000:,.0f} ms",
            f"p99 {result.percentile(0.99, result.ack_latencies) * 1000:,.0f} ms; "
            f"TrackEvents of {BATCH} events, sent to acknowledged (before the latency above)",
        ),
        Row(
            "  CPU seconds of each service",
            backend,
            "",
            None,
            "",
            ", ".join(f"{name} {seconds:.1f}" for name, seconds in result.cpu_seconds.items())
            + f"; load average {os.getloadavg()[0]:.1f} at the end",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bench.reporting_freshness`: the rows for the chosen backends."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.reporting_freshness", description=__doc__
    )
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,postgres")
    parser.add_argument("--rate", type=float, default=RATE, help="events/s offered")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="how long to offer")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for backend in args.backends.split(","):
        rows += run(backend.strip(), args.rate, args.seconds)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
