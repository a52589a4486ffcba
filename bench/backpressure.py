"""Ingest under twice its sustainable rate: refusals with a retry delay, bounded memory.

First the sustainable rate is measured with closed-loop clients (each sends its next batch
when the last is answered). Then one open-loop sender offers twice that rate, batch after
batch on a fixed schedule whatever the answers, for a bounded time (60 s by default), and
the verdicts, status codes, the writer queue's counters and the process's RSS are printed.
The server runs in this process, so RSS includes the sender (a few MB).
"""

from __future__ import annotations

import argparse
import itertools
import resource
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from bench.storage import BACKENDS, fresh_env
from bench.table import Row, format_table, per_second
from common.server import GrpcServer
from common.wire import to_timestamp
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest import server as ingest_server
from services.ingest.api_keys import ApiKeys
from services.ingest.servicer import IngestServicer

BATCH = 100
CLOSED_LOOP_CLIENTS = 4
MEASURE_SECONDS = 10.0
OFFER_SECONDS = 60.0
OFFER_FACTOR = 2.0
CALL_TIMEOUT = 10.0
_ids = itertools.count()


def rss_mb() -> float:
    """The process's resident set now, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    """The process's peak resident set so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def new_batch() -> ingest_pb2.TrackEventsRequest:
    """A batch of BATCH new page views."""
    occurred = to_timestamp(datetime.now(UTC) - timedelta(minutes=1))
    events = [
        ingest_pb2.Event(
            property_id="bench",
            event_id=f"bp-{next(_ids)}",
            timestamp=occurred,
            identity=ingest_pb2.Identity(anonymous_id=f"anon-{n % 50}"),
            page_view=ingest_pb2.PageView(url="https://shop.example/p/1", title="Product"),
        )
        for n in range(BATCH)
    ]
    return ingest_pb2.TrackEventsRequest(events=events, sent_at=to_timestamp(datetime.now(UTC)))


@dataclass
class Outcomes:
    """Verdicts and status codes of the calls of one phase."""

    verdicts: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self) -> int:
        """Calls answered so far."""
        with self.lock:
            return sum(self.statuses.values())

    def answered(self, call: grpc.Future[Any]) -> None:
        """Counts one finished call."""
        with self.lock:
            error = call.exception()
            if error is not None:
                self.statuses[error.code().name] += 1  # type: ignore[attr-defined]
                return
            response = call.result()
            self.statuses["OK"] += 1
            self.verdicts["accepted"] += response.accepted_count
            self.verdicts["duplicate"] += response.duplicate_count
            self.verdicts["rejected"] += response.rejected_count


def sustainable_rate(stub: ingest_pb2_grpc.IngestServiceStub, seconds: float) -> float:
    """Events per second stored by closed-loop clients."""
    outcomes = Outcomes()
    stop = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < stop:
            outcomes.answered(stub.TrackEvents.future(new_batch(), timeout=CALL_TIMEOUT))

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(CLOSED_LOOP_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes.verdicts["accepted"] / (time.monotonic() - started)


def offer(
    stub: ingest_pb2_grpc.IngestServiceStub, events_per_second: float, seconds: float
) -> tuple[Outcomes, float, float]:
    """Offers batches on a fixed schedule; returns the outcomes, the seconds until the last
    answer, and the peak RSS sampled meanwhile."""
    outcomes = Outcomes()
    interval = BATCH / events_per_second
    started = time.monotonic()
    peak = rss_mb()
    sent = 0
    while time.monotonic() - started < seconds:
        due = started + sent * interval
        time.sleep(max(0.0, due - time.monotonic()))
        stub.TrackEvents.future(new_batch(), timeout=CALL_TIMEOUT).add_done_callback(
            outcomes.answered
        )
        sent += 1
        if sent % 20 == 0:
            peak = max(peak, rss_mb())
    while outcomes.calls() < sent:
        time.sleep(0.05)
    return outcomes, time.monotonic() - started, max(peak, rss_mb())


def run(backend: str, offer_seconds: float = OFFER_SECONDS) -> list[Row]:
    """The backpressure rows of one backend."""
    with fresh_env(backend) as env:
        settings = ingest_server.IngestSettings.from_env(env)
        app_settings = replace(settings, listen="127.0.0.1:0", identity_addr="")
        app = ingest_server.build_application(app_settings)
        servicer = IngestServicer(app, ApiKeys(app))
        server = GrpcServer(
            listen="127.0.0.1:0",
            service_names=[ingest_server.SERVICE_NAME],
            register=lambda s: ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, s),
            max_concurrent_rpcs=settings.max_concurrent_calls,
        )
        try:
            with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                stub = ingest_pb2_grpc.IngestServiceStub(channel)
                rss_before = rss_mb()
                rate = sustainable_rate(stub, min(MEASURE_SECONDS, offer_seconds))
                offered = OFFER_FACTOR * rate
                outcomes, seconds, peak = offer(stub, offered, offer_seconds)
        finally:
            server.stop(0)
            app.close()
    writer = app.writer
    statuses = ", ".join(f"{code} {n}" for code, n in sorted(outcomes.statuses.items()))
    verdicts = ", ".join(f"{name} {n}" for name, n in sorted(outcomes.verdicts.items()))
    return [
        Row("backpressure sustainable", backend, f"{BATCH}/batch", None,
            f"{rate:,.0f} events/s", f"{CLOSED_LOOP_CLIENTS} closed-loop clients"),
        Row("backpressure 2x offered", backend, f"{offer_seconds:.0f}s", seconds,
            per_second(outcomes.verdicts["accepted"], seconds, "events"),
            f"offered {offered:,.0f} events/s; calls: {statuses}; events: {verdicts}"),
        Row("backpressure memory", backend,
            f"max {writer.max_queued_items} queued, {settings.max_concurrent_calls} calls",
            None, "-",
            f"RSS {rss_before:.0f} MB before, {peak:.0f} MB peak sampled, "
            f"{peak_rss_mb():.0f} MB process peak; queue peak {writer.peak_queued_items} "
            f"events, {writer.refused_items} refused"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.backpressure`: the table for the chosen backends."""
    parser = argparse.ArgumentParser(prog="python -m bench.backpressure", description=__doc__)
    parser.add_argument("--seconds", type=float, default=OFFER_SECONDS, help="offer time")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,postgres")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for backend in args.backends.split(","):
        rows += run(backend.strip(), args.seconds)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
