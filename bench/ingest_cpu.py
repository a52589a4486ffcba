"""Ingest's CPU per event in-process: TrackEvents through the servicer, without a network.

The demo sample is sent in batches of 500 to `IngestServicer.TrackEvents` in this process
(each request parsed from its bytes, as gRPC hands it over, then translated, validated,
sealed, encoded and committed by the group commit), on fresh storage, after a warm-up of
1,000 of the events under another property (first-use costs such as compiled patterns
are not counted; the caches of values are cold for the measured property). It prints the wall
rate and the process CPU seconds per event (the writer thread included); `--profile` also
runs it under cProfile (CPU time of each thread) and prints the functions with the most
cumulative and own time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from bench.pipeline import sample
from bench.storage import fresh_env
from bench.table import Row, format_table, per_second
from common.money import ExchangeRates
from common.server import tune_garbage_collector
from common.wire import to_timestamp
from convtrack.ingest.v1 import ingest_pb2
from services.ingest import server as ingest_server
from services.ingest.api_keys import ApiKeys
from services.ingest.enrichment import UserAgentParser
from services.ingest.normalise import Limits, Normaliser, ValidEvent
from services.ingest.servicer import IngestServicer, incoming_event
from services.ingest.stored_facts import stored_fact
from services.ingest.url_privacy import UrlScrubber
from services.ingest.vault import Sealed
from services.sample_data import batches

BATCH_SIZE = 500
WARMUP_EVENTS = 1000
WARMUP_PROPERTY = "warm-up"


class _Call:
    """The little of a gRPC call context that TrackEvents reads: no deadline."""

    def time_remaining(self) -> float | None:
        return None

    def abort(self, code: Any, details: str) -> NoReturn:
        raise RuntimeError(f"TrackEvents aborted: {code} {details}")


def _requests(events: Sequence[ingest_pb2.Event]) -> list[bytes]:
    sent_at = to_timestamp(datetime.now(UTC))
    return [
        ingest_pb2.TrackEventsRequest(events=chunk, sent_at=sent_at).SerializeToString()
        for chunk in batches(events, BATCH_SIZE)
    ]


class _Profiles:
    """cProfile in every thread: this one, and each thread started while it is on (the
    group commit's writer, the store lookups), each with its own profiler."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _start_in_thread(self, *_: object) -> None:
        sys.setprofile(None)
        # Each thread's CPU time, not wall time: waits for the GIL, a lock or the store
        # would otherwise count against whatever the thread was running.
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self.profiles.append(profile)
        profile.enable()

    def __enter__(self) -> _Profiles:
        threading.setprofile(self._start_in_thread)
        self._start_in_thread()
        return self

    def __exit__(self, *_: object) -> None:
        threading.setprofile(None)  # type: ignore[arg-type]
        self.profiles[0].disable()

    def stats(self, stream: io.StringIO) -> pstats.Stats:
        """Every thread's profile, merged."""
        return pstats.Stats(*self.profiles, stream=stream)  # type: ignore[arg-type]


def run_once(
    env: dict[str, str], events: Sequence[ingest_pb2.Event], profiles: _Profiles | None
) -> tuple[float, float, float, dict[str, int]]:
    """Sends every batch once on the storage of `env`; the wall and CPU seconds, the median
    over the calls of the CPU seconds per event (less moved by other processes' bursts than
    the total) and the verdict counts. With `profiles`, the application (its threads too)
    runs profiled."""
    if profiles is not None:
        with profiles:
            return run_once(env, events, None)
    settings = replace(ingest_server.IngestSettings.from_env(env), identity_addr="")
    app = ingest_server.build_application(settings)
    try:
        servicer = IngestServicer(app, ApiKeys(app))
        # First-use costs (compiled patterns, parsers loaded lazily) are paid on a few
        # batches of the same events under another property, outside the measurement.
        warmup = [ingest_pb2.Event() for _ in range(WARMUP_EVENTS)]
        for copy, event in zip(warmup, events, strict=False):
            copy.CopyFrom(event)
            copy.property_id = WARMUP_PROPERTY
        call = _Call()
        for blob in _requests(warmup):
            servicer.TrackEvents(ingest_pb2.TrackEventsRequest.FromString(blob), call)  # type: ignore[arg-type]
        requests = _requests(events)
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        started, cpu = time.perf_counter(), time.process_time()
        per_event: list[float] = []
        for blob in requests:
            call_cpu = time.process_time()
            request = ingest_pb2.TrackEventsRequest.FromString(blob)
            response = servicer.TrackEvents(request, call)  # type: ignore[arg-type]
            per_event.append((time.process_time() - call_cpu) / len(request.events))
            counts["accepted"] += response.accepted_count
            counts["duplicate"] += response.duplicate_count
            counts["rejected"] += response.rejected_count
        wall, total = time.perf_counter() - started, time.process_time() - cpu
        return wall, total, statistics.median(per_event), counts
    finally:
        app.close()


def stages(events: Sequence[ingest_pb2.Event], repeat: int) -> list[Row]:
    """CPU per event of the hot path's pure stages, each over the whole sample, the best of
    `repeat` rounds (the least disturbed by other processes): the translation, validation,
    the fact's fields and its stored form (made one at a time, as `stored_fact`), with
    stand-in sealed values (no store). Caches are warm after the first round, as they are
    for values that repeat."""
    normaliser = Normaliser(
        limits=Limits(),
        rates=ExchangeRates.reference(),
        reporting_currency="USD",
        user_agents=UserAgentParser(),
        urls=UrlScrubber(),
    )
    now = datetime.now(UTC)
    incoming = [incoming_event(e) for e in events]
    valid = [
        v
        for i in incoming
        if isinstance(v := normaliser.validate(i, now, timedelta(0)), ValidEvent)
    ]
    sealed = {k: Sealed(f"pseudonym-{k}", "t" * 120) for v in valid for k in v.identifier_keys}
    facts = [normaliser.fact_state(v, now, sealed) for v in valid]
    work = {
        "translate (protobuf to plain values)": lambda: [incoming_event(e) for e in events],
        "validate and normalise": lambda: [
            normaliser.validate(i, now, timedelta(0)) for i in incoming
        ],
        "fact fields": lambda: [normaliser.fact_state(v, now, sealed) for v in valid],
        "stored form (JSON)": lambda: [stored_fact(f, now) for f in facts],
    }
    rows = []
    for name, run in work.items():
        best = float("inf")
        for _ in range(repeat):
            started = time.thread_time()
            run()
            best = min(best, time.thread_time() - started)
        rows.append(
            Row(
                f"ingest stage: {name}",
                "-",
                f"{len(events):,} ev",
                best,
                f"{best / len(events) * 1e6:.2f} us/ev",
                f"CPU, best of {repeat}; loadavg {os.getloadavg()[0]:.1f}",
            )
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bench.ingest_cpu [--backends sqlite,postgres] [--runs N] [--profile]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_cpu", description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--visitors", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="one more run under cProfile")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument(
        "--stages", type=int, default=0, help="time the pure stages, best of this many rounds"
    )
    parser.add_argument("--dump", default="", help="write the merged profile to this file")
    args = parser.parse_args(argv)
    tune_garbage_collector()  # as `convtrack serve` does in the service's process
    events = sample(args.visitors)
    rows: list[Row] = stages(events, args.stages) if args.stages else []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        for _ in range(args.runs):
            load = os.getloadavg()[0]
            with fresh_env(backend) as env:
                wall, cpu, median, counts = run_once(env, events, None)
            rows.append(
                Row(
                    "ingest in-process, TrackEvents, batch 500",
                    backend,
                    f"{len(events):,} ev",
                    wall,
                    per_second(counts["accepted"], wall, "ev"),
                    f"CPU {cpu:.2f} s = {cpu / len(events) * 1e6:.1f} us/event "
                    f"(median call {median * 1e6:.1f} us/event); "
                    f"loadavg {load:.1f}; {counts}",
                )
            )
        if args.profile:
            profiles = _Profiles()
            with fresh_env(backend) as env:
                run_once(env, events, profiles)
            if args.dump:
                profiles.stats(io.StringIO()).dump_stats(f"{args.dump}.{backend}")
            for order in ("cumulative", "tottime"):
                out = io.StringIO()
                profiles.stats(out).sort_stats(order).print_stats(args.top)
                print(f"--- {backend}: by {order}\n{out.getvalue()}")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
