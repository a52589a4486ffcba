"""Ingest alone over gRPC: TrackEvents throughput (new and duplicate) and ListEvents reads."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import grpc

from bench.table import Row, per_second
from common.server import RunningService
from common.telemetry import Telemetry
from common.wire import to_timestamp
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest import server as ingest_server
from services.sample_data import batches

CALL_TIMEOUT = 60.0
LIST_PAGE = 500


@dataclass
class Tally:
    """Verdict counts over the calls of one send."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0

    @property
    def events(self) -> int:
        """All events with a verdict."""
        return self.accepted + self.duplicates + self.rejected

    def note(self) -> str:
        """The counts as a short note."""
        return f"{self.accepted} new, {self.duplicates} dup, {self.rejected} rejected"


def start_ingest(env: Mapping[str, str]) -> RunningService:
    """Ingest alone on the storage of `env`, listening on a free loopback port (and not
    following identity's log for erasures: there is no identity in these runs)."""
    settings = replace(
        ingest_server.IngestSettings.from_env(env), listen="127.0.0.1:0", identity_addr=""
    )
    return ingest_server.start(settings, Telemetry.for_service("convtrack-ingest"))


def send(
    address: str, chunks: Sequence[Sequence[ingest_pb2.Event]], threads: int
) -> tuple[float, Tally]:
    """Sends the batches with `threads` client threads (each its own channel and its own
    share of the batches, round robin); returns the wall time and the verdict counts."""
    tally = Tally()
    lock = threading.Lock()
    errors: list[BaseException] = []
    ready = threading.Barrier(threads + 1)

    def client(mine: Sequence[Sequence[ingest_pb2.Event]]) -> None:
        try:
            with grpc.insecure_channel(address) as channel:
                stub = ingest_pb2_grpc.IngestServiceStub(channel)
                stub.GetLogHead(ingest_pb2.GetLogHeadRequest(), timeout=CALL_TIMEOUT)
                ready.wait()
                for chunk in mine:
                    response = stub.TrackEvents(
                        ingest_pb2.TrackEventsRequest(
                            events=chunk, sent_at=to_timestamp(datetime.now(UTC))
                        ),
                        timeout=CALL_TIMEOUT,
                    )
                    with lock:
                        tally.accepted += response.accepted_count
                        tally.duplicates += response.duplicate_count
                        tally.rejected += response.rejected_count
        except BaseException as error:
            errors.append(error)
            ready.abort()

    workers = [
        threading.Thread(target=client, args=(chunks[i::threads],), name=f"bench-client-{i}")
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"a client thread failed: {errors[0]!r}") from errors[0]
    return elapsed, tally


def read_log(address: str, page: int = LIST_PAGE) -> tuple[float, int]:
    """Reads ingest's whole log in pages of `page`; returns the wall time and the entries."""
    entries = 0
    with grpc.insecure_channel(address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        stub.GetLogHead(ingest_pb2.GetLogHeadRequest(), timeout=CALL_TIMEOUT)
        started = time.perf_counter()
        after = 0
        while True:
            response = stub.ListEvents(
                ingest_pb2.ListEventsRequest(after=after, limit=page), timeout=CALL_TIMEOUT
            )
            if not response.entries:
                break
            entries += len(response.entries)
            after = response.entries[-1].position
        return time.perf_counter() - started, entries


def run(
    env: Mapping[str, str],
    backend: str,
    events: Sequence[ingest_pb2.Event],
    *,
    batch_size: int,
    threads: int,
    read: bool,
) -> list[Row]:
    """One ingest benchmark on fresh storage: send every event, resend them all (duplicates),
    and with `read` read the whole log back through ListEvents."""
    chunks = list(batches(events, batch_size))
    size = f"{len(events):,} ev"
    label = f"batch {batch_size} x{threads} thread{'s' if threads > 1 else ''}"
    service = start_ingest(env)
    try:
        address = f"127.0.0.1:{service.port}"
        seconds, tally = send(address, chunks, threads)
        rows = [
            Row(
                f"ingest {label}",
                backend,
                size,
                seconds,
                per_second(tally.accepted, seconds, "ev"),
                tally.note(),
            )
        ]
        seconds, again = send(address, chunks, threads)
        rows.append(
            Row(
                f"ingest resend {label}",
                backend,
                size,
                seconds,
                per_second(again.events, seconds, "ev"),
                again.note(),
            )
        )
        if read:
            seconds, entries = read_log(address)
            rows.append(
                Row(
                    f"ListEvents page {LIST_PAGE}",
                    backend,
                    f"{entries:,} entries",
                    seconds,
                    per_second(entries, seconds, "entries"),
                    "whole ingest log, one client",
                )
            )
        return rows
    finally:
        service.stop(1.0)
