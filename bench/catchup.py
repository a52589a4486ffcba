"""Consumers catching up on a prepared log: identity, attribution, then reporting, each its own
process, and a full rebuild of the report views.

Ingest runs as its own process (`python -m services.ingest`) and stores the demo sample;
then identity starts on empty storage and the time until its position on ingest's log
reaches the head is measured (identity is the first to read ingest's log); then attribution
starts and the time until it has read both ingest's and identity's logs to their heads; then
reporting starts on empty views and the time until its views reflect all three logs (a first
build), and then a rebuild while it serves (`RebuildViews`) until the new generation is live.
The rate is upstream entries per second: what a consumer does after an outage. Polls the
sync status every 50 ms. Each row also gives the CPU seconds the consumer's process used from
the moment it answered until it caught up (from /proc), and per upstream entry it processed
in that time: comparable across runs on a loaded machine, where the wall clock is not; and
the same for the producers serving identity, attribution and reporting's first build
(ingest; ingest and identity; all three), which run on the other core.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import grpc

from bench.pipeline import sample
from bench.storage import fresh_env
from bench.table import Row, format_table, per_second
from common.wire import to_timestamp
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import launcher
from services.sample_data import batches

ROOT = Path(__file__).resolve().parent.parent
BATCH_SIZE = 500
CALL_TIMEOUT = 60.0
CATCH_UP_TIMEOUT = 1800.0
POLL_SECONDS = 0.05
# A consumer starts following as soon as it serves: connect to it within a few milliseconds of
# that (gRPC's default reconnect backoff starts at 1 s), so that little is processed untimed.
PROMPT_CONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 20),
    ("grpc.min_reconnect_backoff_ms", 20),
    ("grpc.max_reconnect_backoff_ms", 50),
]
_OWN_SETTINGS = ("CONVTRACK_", "INGEST_", "IDENTITY_", "ATTRIBUTION_", "REPORTING_")


def _start(name: str, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_SETTINGS)}
    child_env.update(env)
    child_env["PYTHONUNBUFFERED"] = "1"
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            cwd=ROOT,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _positions(response: object) -> dict[str, int]:
    return {u.upstream: u.position for u in getattr(response, "upstreams", [])}


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """The CPU seconds (user and system) a running child process has used so far."""
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_note(cpu: float, entries: int, whose: str = "consumer") -> str:
    """CPU seconds of a process while the consumer caught up, and per entry processed."""
    per_entry = f" ({cpu / entries * 1e6:.0f} us/entry)" if entries > 0 else ""
    return f"{whose} CPU {cpu:.2f} s{per_entry}"


def _timed_note(timed: int, total: int) -> str:
    """Says how many entries the consumer processed before it first answered (not timed:
    the rate counts only the entries processed while timed)."""
    early = total - timed
    return f"{early:,} of {total:,} processed before it answered, not counted; " if early else ""


def _until(done: Callable[[], bool]) -> float:
    """Seconds until `done()` holds (polled), from now."""
    started = time.perf_counter()
    while not done():
        if time.perf_counter() - started > CATCH_UP_TIMEOUT:
            raise TimeoutError("the consumer did not catch up")
        time.sleep(POLL_SECONDS)
    return time.perf_counter() - started


def run(env: Mapping[str, str], backend: str, events: Sequence[ingest_pb2.Event]) -> list[Row]:
    """Identity's and attribution's catch-up rates on ingest's log of `events`."""
    env = {**env, **launcher.loopback_ports(env)}
    log = Path(env["CONVTRACK_DATA_DIR"]).parent / "services.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    channels: list[grpc.Channel] = []
    load = os.getloadavg()[0]
    try:
        processes.append(_start("ingest", env, log))
        channel = grpc.insecure_channel(env["INGEST_ADDR"])
        channels.append(channel)
        ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        for chunk in batches(events, BATCH_SIZE):
            ingest.TrackEvents(
                ingest_pb2.TrackEventsRequest(
                    events=chunk, sent_at=to_timestamp(datetime.now(UTC))
                ),
                timeout=CALL_TIMEOUT,
                wait_for_ready=True,
            )
        ingest_head = ingest.GetLogHead(
            ingest_pb2.GetLogHeadRequest(), timeout=CALL_TIMEOUT
        ).position

        processes.append(_start("identity", env, log))
        channel = grpc.insecure_channel(env["IDENTITY_ADDR"], options=PROMPT_CONNECT)
        channels.append(channel)
        identity = identity_pb2_grpc.IdentityServiceStub(channel)
        identity.GetLogHead(
            identity_pb2.GetLogHeadRequest(), timeout=CALL_TIMEOUT, wait_for_ready=True
        )
        identity_cpu = cpu_seconds(processes[-1])
        ingest_cpu = cpu_seconds(processes[0])
        identity_from = _positions(
            identity.GetSyncStatus(identity_pb2.GetSyncStatusRequest(), timeout=CALL_TIMEOUT)
        ).get("ingest", 0)
        identity_seconds = _until(
            lambda: (
                _positions(
                    identity.GetSyncStatus(
                        identity_pb2.GetSyncStatusRequest(), timeout=CALL_TIMEOUT
                    )
                ).get("ingest", 0)
                >= ingest_head
            )
        )
        identity_cpu = cpu_seconds(processes[-1]) - identity_cpu
        ingest_cpu = cpu_seconds(processes[0]) - ingest_cpu
        # Counted after identity's catch-up, so that identity is ingest's first reader (as
        # after an outage; ingest keeps recent entries encoded for the readers after it).
        ingest_positions = _all_entries(ingest, ingest_head)
        ingest_entries = len(ingest_positions)  # positions may have gaps (PostgreSQL)
        identity_done = len([p for p in ingest_positions if p > identity_from])
        identity_head = identity.GetLogHead(
            identity_pb2.GetLogHeadRequest(), timeout=CALL_TIMEOUT
        ).position

        processes.append(_start("attribution", env, log))
        channel = grpc.insecure_channel(env["ATTRIBUTION_ADDR"], options=PROMPT_CONNECT)
        channels.append(channel)
        attribution = attribution_pb2_grpc.AttributionServiceStub(channel)
        attribution.GetLogHead(
            attribution_pb2.GetLogHeadRequest(), timeout=CALL_TIMEOUT, wait_for_ready=True
        )
        attribution_cpu = cpu_seconds(processes[-1])
        producers_cpu = cpu_seconds(processes[0]) + cpu_seconds(processes[1])
        attribution_from = _positions(
            attribution.GetSyncStatus(attribution_pb2.GetSyncStatusRequest(), timeout=CALL_TIMEOUT)
        )

        def attribution_done() -> bool:
            at = _positions(
                attribution.GetSyncStatus(
                    attribution_pb2.GetSyncStatusRequest(), timeout=CALL_TIMEOUT
                )
            )
            return at.get("ingest", 0) >= ingest_head and at.get("identity", 0) >= identity_head

        attribution_seconds = _until(attribution_done)
        attribution_cpu = cpu_seconds(processes[-1]) - attribution_cpu
        producers_cpu = cpu_seconds(processes[0]) + cpu_seconds(processes[1]) - producers_cpu
        attribution_done_entries = len(
            [p for p in ingest_positions if p > attribution_from.get("ingest", 0)]
        ) + max(0, identity_head - attribution_from.get("identity", 0))
        attribution_head = attribution.GetLogHead(
            attribution_pb2.GetLogHeadRequest(), timeout=CALL_TIMEOUT
        ).position
        heads = {"ingest": ingest_head, "identity": identity_head, "attribution": attribution_head}

        processes.append(_start("reporting", env, log))
        channel = grpc.insecure_channel(env["REPORTING_ADDR"], options=PROMPT_CONNECT)
        channels.append(channel)
        reporting = reporting_pb2_grpc.ReportingServiceStub(channel)
        reporting.GetSyncStatus(
            reporting_pb2.GetSyncStatusRequest(), timeout=CALL_TIMEOUT, wait_for_ready=True
        )
        reporting_cpu = cpu_seconds(processes[-1])
        serving_cpu = sum(cpu_seconds(p) for p in processes[:3])

        def reporting_done() -> bool:
            at = _positions(
                reporting.GetSyncStatus(reporting_pb2.GetSyncStatusRequest(), timeout=CALL_TIMEOUT)
            )
            return all(at.get(name, 0) >= head for name, head in heads.items())

        reporting_seconds = _until(reporting_done)
        reporting_cpu = cpu_seconds(processes[-1]) - reporting_cpu
        serving_cpu = sum(cpu_seconds(p) for p in processes[:3]) - serving_cpu
        rebuild_cpu = cpu_seconds(processes[-1])
        rebuild_started = time.perf_counter()
        generation = reporting.RebuildViews(
            reporting_pb2.RebuildViewsRequest(), timeout=CALL_TIMEOUT
        ).generation
        _until(
            lambda: (
                reporting.GetRebuildStatus(
                    reporting_pb2.GetRebuildStatusRequest(), timeout=CALL_TIMEOUT
                ).live_generation
                == generation
            )
        )
        rebuild_seconds = time.perf_counter() - rebuild_started
        rebuild_cpu = cpu_seconds(processes[-1]) - rebuild_cpu
    finally:
        for channel in channels:
            channel.close()
        for process in reversed(processes):
            _stop(process)
    note = f"own process, upstream log prepared; loadavg {load:.1f}"
    return [
        Row(
            "identity catch-up (ingest log)",
            backend,
            f"{identity_done:,} entries",
            identity_seconds,
            per_second(identity_done, identity_seconds, "entries"),
            f"{_timed_note(identity_done, ingest_entries)}"
            f"{_cpu_note(identity_cpu, identity_done)}; "
            f"{_cpu_note(ingest_cpu, identity_done, 'producer')}; {note}",
        ),
        Row(
            "attribution catch-up (ingest + identity logs)",
            backend,
            f"{attribution_done_entries:,} entries",
            attribution_seconds,
            per_second(attribution_done_entries, attribution_seconds, "entries"),
            f"{_timed_note(attribution_done_entries, ingest_entries + identity_head)}"
            f"{ingest_entries:,} ingest + about {identity_head:,} identity (its head); "
            f"{_cpu_note(attribution_cpu, attribution_done_entries)}; "
            f"{_cpu_note(producers_cpu, attribution_done_entries, 'producers')}; {note}",
        ),
        Row(
            "reporting catch-up (3 logs, empty views)",
            backend,
            f"{sum(heads.values()):,} entries",
            reporting_seconds,
            per_second(sum(heads.values()), reporting_seconds, "entries"),
            f"ingest, identity and attribution logs to their heads (about); "
            f"{_cpu_note(reporting_cpu, sum(heads.values()))}; "
            f"{_cpu_note(serving_cpu, sum(heads.values()), 'producers')}; {note}",
        ),
        Row(
            "reporting full rebuild while serving",
            backend,
            f"{sum(heads.values()):,} entries",
            rebuild_seconds,
            per_second(sum(heads.values()), rebuild_seconds, "entries"),
            f"RebuildViews until the new generation is live; "
            f"{_cpu_note(rebuild_cpu, sum(heads.values()))}; {note}",
        ),
    ]


def _all_entries(ingest: ingest_pb2_grpc.IngestServiceStub, head: int) -> list[int]:
    """The positions in ingest's log up to `head`."""
    positions: list[int] = []
    after = 0
    while after < head:
        entries = ingest.ListEvents(
            ingest_pb2.ListEventsRequest(after=after, limit=1000), timeout=CALL_TIMEOUT
        ).entries
        if not entries:
            break
        positions += [e.position for e in entries]
        after = entries[-1].position
    return positions


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bench.catchup [--backends sqlite,postgres] [--visitors N]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.catchup", description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--visitors", type=int, default=3000)
    args = parser.parse_args(argv)
    events = sample(args.visitors)
    rows: list[Row] = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        with fresh_env(backend) as env:
            rows += run(env, backend, events)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
