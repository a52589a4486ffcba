"""The four services in one process on the demo sample: end-to-end rate, catch-up, peak RSS.

Run by `python -m bench` in a child process (`python -m bench.pipeline`), so the peak RSS
it reports belongs to one all-in-one process and nothing else.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import grpc

from common.wire import to_timestamp
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services import launcher, sample_data

BATCH_SIZE = 500
CALL_TIMEOUT = 60.0
SYNC_TIMEOUT = 1800.0
SYNC_POLL = 0.05


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


def main(argv: Sequence[str] | None = None) -> int:
    """Reads the settings as JSON on stdin, runs once, prints the result as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument("--visitors", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    env = json.load(sys.stdin)
    result = run(env, args.visitors)
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
