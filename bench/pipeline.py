"""The pipeline end to end on the demo sample.

`run`: the four services in one process; end-to-end rate, catch-up, peak RSS. Run by
`python -m bench` in a child process (`python -m bench.pipeline`), so the peak RSS it
reports belongs to one all-in-one process and nothing else.

`sustained`: the four services as separate processes, a client offering a steady rate
(open loop: a batch every BATCH/rate seconds whatever the answers) for longer than any hop's
catch-up, and a sampler reading every consumer's positions four times a second. It reports
the rate accepted events reached attribution (its positions on ingest's log and on identity's,
at their heads) and reporting's views, the largest lag of each hop while the rate was offered,
and the time each needed after the last acknowledgement (`python -m bench.pipeline
--sustained --rate 5000 --seconds 30 --backends sqlite`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from bench.storage import fresh_env
from bench.table import Row, format_table, per_second
from common.wire import to_timestamp
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import launcher, sample_data
from tests.e2e.processes import ServiceCluster

BATCH_SIZE = 500
CALL_TIMEOUT = 60.0
SYNC_TIMEOUT = 1800.0
SYNC_POLL = 0.05
SUSTAINED_RATE = 5000.0
SUSTAINED_SECONDS = 30.0
SUSTAINED_BATCH = 500
SAMPLE_SECONDS = 0.25
SETTLE_TIMEOUT = 600.0
EVENTS_PER_VISITOR = 6.6
"""About how many events the demo sample has per visitor."""


@dataclass(frozen=True)
class PipelineResult:
    """What one pipeline run measured."""

    events: int
    accepted: int
    start_seconds: float
    send_seconds: float
    total_seconds: float
    catch_up_seconds: float
    peak_rss_kib: int


def sample(visitors: int) -> list[ingest_pb2.Event]:
    """The demo sample (as `convtrack demo` sends it) for `visitors` visitors."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return sample_data.generate_sample(sample_data.SampleConfig(end=today, visitors=visitors))


def run(env: Mapping[str, str], visitors: int) -> PipelineResult:
    """Starts the four services, sends the sample in batches of 500 from one client and
    waits until every consumer has caught up."""
    events = sample(visitors)
    began = time.perf_counter()
    running, addresses = launcher.start_all(env, any_port=True)
    try:
        started = time.perf_counter()
        accepted = 0
        with grpc.insecure_channel(addresses.ingest) as channel:
            ingest = ingest_pb2_grpc.IngestServiceStub(channel)
            for chunk in sample_data.batches(events, BATCH_SIZE):
                response = ingest.TrackEvents(
                    ingest_pb2.TrackEventsRequest(
                        events=chunk, sent_at=to_timestamp(datetime.now(UTC))
                    ),
                    timeout=CALL_TIMEOUT,
                )
                accepted += response.accepted_count
        acked = time.perf_counter()
        launcher.wait_for_sync(addresses, timeout=SYNC_TIMEOUT, poll=SYNC_POLL)
        synced = time.perf_counter()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        launcher.stop_all(running, grace=1.0)
    return PipelineResult(
        events=len(events),
        accepted=accepted,
        start_seconds=started - began,
        send_seconds=acked - started,
        total_seconds=synced - started,
        catch_up_seconds=synced - acked,
        peak_rss_kib=peak,
    )


@dataclass
class Hop:
    """One consumer's progress: when it first held every upstream head it must reach, and
    the most upstream entries it was behind while the rate was offered."""

    name: str
    reached_at: float | None = None
    max_lag: int = 0


@dataclass(frozen=True)
class SustainedResult:
    """What one sustained run measured (seconds from the first send)."""

    offered: int
    accepted: int
    failed_calls: int
    send_seconds: float
    ingest_entries: int
    hops: dict[str, Hop]
    load: tuple[float, float]
    failures: dict[str, int] = field(default_factory=dict)
    """Failed calls by status code."""
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds each service's process used from the first send until every hop held
    all (steadier than the wall clock on a shared machine)."""


class _Positions:
    """Every service's log head and consumer positions, read over gRPC."""

    def __init__(self, addresses: launcher.Addresses) -> None:
        self._channels = [
            grpc.insecure_channel(str(getattr(addresses, name)))
            for name in ("ingest", "identity", "attribution", "reporting")
        ]
        self._ingest = ingest_pb2_grpc.IngestServiceStub(self._channels[0])
        self._identity = identity_pb2_grpc.IdentityServiceStub(self._channels[1])
        self._attribution = attribution_pb2_grpc.AttributionServiceStub(self._channels[2])
        self._reporting = reporting_pb2_grpc.ReportingServiceStub(self._channels[3])

    def read(self) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """The heads of ingest's, identity's and attribution's logs, and each consumer's
        positions on them."""
        timeout = 10.0
        heads = {
            "ingest": self._ingest.GetLogHead(ingest_pb2.GetLogHeadRequest(), timeout=timeout),
            "identity": self._identity.GetLogHead(
                identity_pb2.GetLogHeadRequest(), timeout=timeout
            ),
            "attribution": self._attribution.GetLogHead(
                attribution_pb2.GetLogHeadRequest(), timeout=timeout
            ),
        }
        statuses = {
            "identity": self._identity.GetSyncStatus(
                identity_pb2.GetSyncStatusRequest(), timeout=timeout
            ),
            "attribution": self._attribution.GetSyncStatus(
                attribution_pb2.GetSyncStatusRequest(), timeout=timeout
            ),
            "reporting": self._reporting.GetSyncStatus(
                reporting_pb2.GetSyncStatusRequest(), timeout=timeout
            ),
        }
        return (
            {name: int(head.position) for name, head in heads.items()},
            {name: _upstream_positions(status) for name, status in statuses.items()},
        )

    def close(self) -> None:
        """Closes the channels."""
        for channel in self._channels:
            channel.close()


def _upstream_positions(response: object) -> dict[str, int]:
    return {u.upstream: u.position for u in getattr(response, "upstreams", [])}


# What each hop must have read for an event accepted by ingest to have reached it.
HOP_UPSTREAMS = {
    "identity": ("ingest",),
    "attribution": ("ingest", "identity"),
    "reporting": ("ingest", "identity", "attribution"),
}


def sustained(
    env: Mapping[str, str], rate: float = SUSTAINED_RATE, seconds: float = SUSTAINED_SECONDS
) -> SustainedResult:
    """Starts the four services as processes, offers the demo sample at `rate` events/s for
    about `seconds`, and follows every hop until it holds what ingest accepted."""
    events = sample(max(10, int(rate * seconds / EVENTS_PER_VISITOR)))[: int(rate * seconds)]
    hops = {name: Hop(name) for name in HOP_UPSTREAMS}
    accepted, failed = [0], [0]
    failures: Counter[str] = Counter()
    lock = threading.Lock()
    with (
        tempfile.TemporaryDirectory(prefix="convtrack-sustained-") as logs,
        ServiceCluster(env, Path(logs)) as cluster,
    ):
        cluster.start()
        positions = _Positions(cluster.addresses)
        sending = threading.Event()
        sending.set()
        stop = threading.Event()
        final_heads: dict[str, int] = {}
        cpu = {name: _process_cpu(service.process) for name, service in cluster.services.items()}
        began = time.monotonic()

        def sample_positions() -> None:
            while not stop.is_set():
                try:
                    heads, at = positions.read()
                except grpc.RpcError:
                    time.sleep(SAMPLE_SECONDS)
                    continue
                now = time.monotonic() - began
                for name, hop in hops.items():
                    behind = sum(max(0, heads[u] - at[name].get(u, 0)) for u in HOP_UPSTREAMS[name])
                    if sending.is_set():
                        hop.max_lag = max(hop.max_lag, behind)
                    elif (
                        hop.reached_at is None
                        # an upstream hop still writing has no final head yet
                        and all(
                            hops[u].reached_at is not None for u in HOP_UPSTREAMS[name] if u in hops
                        )
                        and all(
                            at[name].get(u, 0) >= final_heads.get(u, heads[u])
                            for u in HOP_UPSTREAMS[name]
                        )
                    ):
                        hop.reached_at = now
                if not sending.is_set() and all(h.reached_at is not None for h in hops.values()):
                    return
                time.sleep(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample_positions, daemon=True)
        with grpc.insecure_channel(cluster.addresses.ingest) as channel:
            ingest = ingest_pb2_grpc.IngestServiceStub(channel)
            sampler.start()
            send_seconds = _offer(ingest, events, rate, accepted, failed, lock, failures)
        # Heads are final once every acknowledged write is in: identity and attribution
        # write only while they follow, so their heads are read when their hop is done.
        final_heads["ingest"] = positions.read()[0]["ingest"]
        sending.clear()
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while sampler.is_alive() and time.monotonic() < deadline:
            sampler.join(timeout=1.0)
        stop.set()
        sampler.join()
        cpu = {
            name: _process_cpu(service.process) - cpu[name]
            for name, service in cluster.services.items()
        }
        positions.close()
        cluster.stop()
    return SustainedResult(
        offered=len(events),
        accepted=accepted[0],
        failed_calls=failed[0],
        send_seconds=send_seconds,
        failures=dict(failures),
        ingest_entries=final_heads["ingest"],
        hops=hops,
        load=(os.getloadavg()[0], os.getloadavg()[1]),
        cpu=cpu,
    )


def _process_cpu(process: Any) -> float:
    """The CPU seconds (user and system) a running child process has used so far."""
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _offer(
    ingest: ingest_pb2_grpc.IngestServiceStub,
    events: Sequence[ingest_pb2.Event],
    rate: float,
    accepted: list[int],
    failed: list[int],
    lock: threading.Lock,
    failures: Counter[str],
) -> float:
    """Sends a batch every SUSTAINED_BATCH/rate seconds whatever the answers; counts what
    was accepted and the calls that failed (backpressure, deadlines)."""
    interval = SUSTAINED_BATCH / rate
    started = time.monotonic()
    calls: list[Any] = []

    def done(call: Any) -> None:
        with lock:
            if call.exception() is None:
                accepted[0] += call.result().accepted_count
            else:
                failed[0] += 1
                error = call.exception()
                code = error.code() if isinstance(error, grpc.RpcError) else None
                failures[code.name if code is not None else type(error).__name__] += 1

    for n in range(0, len(events), SUSTAINED_BATCH):
        time.sleep(max(0.0, started + (n // SUSTAINED_BATCH) * interval - time.monotonic()))
        call = ingest.TrackEvents.future(
            ingest_pb2.TrackEventsRequest(
                events=events[n : n + SUSTAINED_BATCH], sent_at=to_timestamp(datetime.now(UTC))
            ),
            timeout=CALL_TIMEOUT,
        )
        call.add_done_callback(done)
        calls.append(call)
    for call in calls:
        call.exception()
    return time.monotonic() - started


def _per_event(result: SustainedResult, name: str) -> str:
    """A service's CPU seconds during the run, and per accepted event."""
    cpu = result.cpu.get(name)
    if cpu is None:
        return "-"
    return f"{cpu:.1f} s ({cpu / max(result.accepted, 1) * 1e6:.0f} us/event)"


def sustained_rows(backend: str, result: SustainedResult, rate: float) -> list[Row]:
    """The rows of one sustained run: what ingest accepted, and each hop's end-to-end rate
    (accepted events over the time from the first send until the hop held them all)."""
    load = f"loadavg {result.load[0]:.1f} (5 min {result.load[1]:.1f})"
    rows = [
        Row(
            "pipeline 4 proc. offered -> ingest",
            backend,
            f"{result.offered:,} ev",
            result.send_seconds,
            per_second(result.accepted, result.send_seconds, "ev"),
            f"offered {rate:,.0f} ev/s in batches of {SUSTAINED_BATCH}; {result.accepted:,} "
            f"accepted, {result.failed_calls} calls failed"
            + (
                " (" + ", ".join(f"{c} {n}" for c, n in sorted(result.failures.items())) + ")"
                if result.failures
                else ""
            )
            + f"; ingest CPU {_per_event(result, 'ingest')}; {load}",
        )
    ]
    for name in ("identity", "attribution", "reporting"):
        hop = result.hops[name]
        target = 0.95 * rate
        if hop.reached_at is None:
            rows.append(
                Row(
                    f"pipeline 4 proc. -> {name}",
                    backend,
                    "-",
                    None,
                    "DID NOT CATCH UP",
                    f"within {SETTLE_TIMEOUT:.0f}s; max lag {hop.max_lag:,} entries",
                )
            )
            continue
        e2e = result.accepted / hop.reached_at
        verdict = "met" if e2e >= target else "missed"
        rows.append(
            Row(
                f"pipeline 4 proc. -> {name}",
                backend,
                f"{result.accepted:,} ev",
                hop.reached_at,
                per_second(result.accepted, hop.reached_at, "ev"),
                f"end to end ({verdict} at >= 95% of offered); held all "
                f"{hop.reached_at - result.send_seconds:.1f}s after the last send; max lag "
                f"{hop.max_lag:,} entries (~{hop.max_lag / rate:.1f}s of input); "
                f"{name} CPU {_per_event(result, name)}; {load}",
            )
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """All in one (default): reads the settings as JSON on stdin, runs once, prints the result
    as JSON. `--sustained`: four processes on fresh storage per backend; prints a table."""
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument("--visitors", type=int, default=3000)
    parser.add_argument("--sustained", action="store_true")
    parser.add_argument("--rate", type=float, default=SUSTAINED_RATE, help="events/s offered")
    parser.add_argument("--seconds", type=float, default=SUSTAINED_SECONDS)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.sustained:
        print(format_table(run_sustained(args.backends.split(","), args.rate, args.seconds)))
        return 0
    env = json.load(sys.stdin)
    result = run(env, args.visitors)
    print(json.dumps(asdict(result)))
    return 0


def run_sustained(
    backends: Sequence[str],
    rate: float = SUSTAINED_RATE,
    seconds: float = SUSTAINED_SECONDS,
) -> list[Row]:
    """The sustained rows for each backend, each on fresh storage."""
    rows: list[Row] = []
    for backend in [b.strip() for b in backends if b.strip()]:
        with fresh_env(backend) as env:
            rows += sustained_rows(backend, sustained(env, rate, seconds), rate)
    return rows


if __name__ == "__main__":
    sys.exit(main())
