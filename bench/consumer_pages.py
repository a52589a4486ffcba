"""Attribution's processing of prepared upstream pages, in-process: CPU per entry, profile.

Ingest and identity run as their own processes (`python -m services.<name>`) and prepare
their logs from the demo sample; their entries are read once over gRPC and kept. Then an
attribution application on fresh storage processes them with `process_page` in pages of
1,000 (`--page`; a catching-up follower joins up to 8 pages of 1,000 into one), ingest and
identity pages interleaved in proportion. What is timed is the sink only: no gRPC read, no
translation (timed apart). `--profile` prints cProfile's top functions by tottime and cumtime.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pickle
import pstats
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from bench.catchup import BATCH_SIZE, CALL_TIMEOUT, _positions, _start, _stop, _until
from bench.pipeline import sample
from bench.storage import fresh_env
from common.follower import UpstreamEntry
from common.server import tune_garbage_collector
from common.storage import database_for
from common.wire import to_timestamp
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services import launcher
from services.attribution.application import AttributionApplication
from services.attribution.domainmodel import AttributionInput
from services.attribution.upstream import identity_input, ingest_input
from services.sample_data import batches

PAGE = 1000


def _read_all(list_events: Callable[[int], Sequence[Any]]) -> list[Any]:
    entries: list[Any] = []
    after = 0
    while True:
        page = list_events(after)
        if not page:
            return entries
        entries += page
        after = page[-1].position


def store_sample(
    ingest: ingest_pb2_grpc.IngestServiceStub,
    identity: identity_pb2_grpc.IdentityServiceStub,
    visitors: int,
) -> None:
    """Sends the demo sample of `visitors` to ingest and waits until identity has read all
    of ingest's log."""
    for chunk in batches(sample(visitors), BATCH_SIZE):
        ingest.TrackEvents(
            ingest_pb2.TrackEventsRequest(events=chunk, sent_at=to_timestamp(datetime.now(UTC))),
            timeout=CALL_TIMEOUT,
            wait_for_ready=True,
        )
    head = ingest.GetLogHead(ingest_pb2.GetLogHeadRequest(), timeout=CALL_TIMEOUT)
    _until(
        lambda: (
            _positions(
                identity.GetSyncStatus(
                    identity_pb2.GetSyncStatusRequest(),
                    timeout=CALL_TIMEOUT,
                    wait_for_ready=True,
                )
            ).get("ingest", 0)
            >= head.position
        )
    )


@contextmanager
def sample_served(
    env: Mapping[str, str], visitors: int
) -> Iterator[tuple[ingest_pb2_grpc.IngestServiceStub, identity_pb2_grpc.IdentityServiceStub]]:
    """Ingest and identity as processes on `env`'s storage and ports, holding the demo sample
    of `visitors` with identity caught up (`store_sample`); stopped when the block ends."""
    log = Path(env["CONVTRACK_DATA_DIR"]).parent / "services.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    processes = [_start("ingest", env, log), _start("identity", env, log)]
    try:
        with (
            grpc.insecure_channel(env["INGEST_ADDR"]) as ingest_channel,
            grpc.insecure_channel(env["IDENTITY_ADDR"]) as identity_channel,
        ):
            ingest = ingest_pb2_grpc.IngestServiceStub(ingest_channel)
            identity = identity_pb2_grpc.IdentityServiceStub(identity_channel)
            store_sample(ingest, identity, visitors)
            yield ingest, identity
    finally:
        for process in reversed(processes):
            _stop(process)


def prepared_logs(env: Mapping[str, str], visitors: int) -> tuple[list[Any], list[Any]]:
    """Ingest's and identity's log entries (protobuf) for the demo sample of `visitors`."""
    env = {**env, **launcher.loopback_ports(env)}
    with sample_served(env, visitors) as (ingest, identity):
        ingest_entries = _read_all(
            lambda after: (
                ingest.ListEvents(
                    ingest_pb2.ListEventsRequest(after=after, limit=PAGE), timeout=CALL_TIMEOUT
                ).entries
            )
        )
        identity_entries = _read_all(
            lambda after: (
                identity.ListEvents(
                    identity_pb2.ListEventsRequest(after=after, limit=PAGE), timeout=CALL_TIMEOUT
                ).entries
            )
        )
    return ingest_entries, identity_entries


def interleaved(
    ingest: list[UpstreamEntry[AttributionInput | None]],
    identity: list[UpstreamEntry[AttributionInput | None]],
    page: int = PAGE,
) -> Iterator[tuple[str, list[UpstreamEntry[AttributionInput | None]]]]:
    """Pages of `page` entries: each ingest page followed by identity's entries in
    proportion."""
    done = 0
    for start in range(0, len(ingest), page):
        yield "ingest", ingest[start : start + page]
        upto = len(identity) * min(start + page, len(ingest)) // max(len(ingest), 1)
        while done < upto:
            yield "identity", identity[done : min(done + page, upto)]
            done = min(done + page, upto)


def _load_or_prepare(path: str, visitors: int) -> tuple[list[Any], list[Any]]:
    """The prepared logs, from `path` when it exists (written there otherwise)."""
    if path and Path(path).exists():
        raw_ingest, raw_identity = pickle.loads(Path(path).read_bytes())
        return (
            [ingest_pb2.LogEntry.FromString(b) for b in raw_ingest],
            [identity_pb2.LogEntry.FromString(b) for b in raw_identity],
        )
    with fresh_env("sqlite") as env:
        ingest, identity = prepared_logs(env, visitors)
    if path:
        Path(path).write_bytes(
            pickle.dumps(
                ([e.SerializeToString() for e in ingest], [e.SerializeToString() for e in identity])
            )
        )
    return ingest, identity


def process(
    backend: str, raw_ingest: list[Any], raw_identity: list[Any], profile: bool, page: int = PAGE
) -> str:
    """Attribution on fresh storage of `backend` processes the logs; one line of figures."""
    cpu = time.process_time()
    ingest = [UpstreamEntry(e.position, ingest_input(e)) for e in raw_ingest]
    identity = [UpstreamEntry(e.position, identity_input(e)) for e in raw_identity]
    entries = len(ingest) + len(identity)
    translate_cpu = time.process_time() - cpu
    with fresh_env(backend) as env:
        database = database_for(
            "attribution", env.get("CONVTRACK_DATABASE_URL", ""), Path(env["CONVTRACK_DATA_DIR"])
        )
        database.ensure_schema()
        app = AttributionApplication(env=database.eventsourcing_env())
        profiler = cProfile.Profile() if profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        for upstream, entries_page in interleaved(ingest, identity, page):
            with app.lock:
                app.process_page(upstream, entries_page)
        if profiler is not None:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        head = app.log_head()
        app.close()
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumtime").print_stats(40)
    return (
        f"{backend} (gc young threshold {gc.get_threshold()[0]:,}, pages of {page:,}): "
        f"{len(ingest):,} ingest + {len(identity):,} identity entries; "
        f"process_page {cpu:.2f} s CPU ({cpu / entries * 1e6:.1f} us/entry), "
        f"{wall:.2f} s wall ({entries / wall:,.0f} entries/s); translation "
        f"{translate_cpu / entries * 1e6:.1f} us/entry; attribution log head {head:,}; "
        f"loadavg {os.getloadavg()[0]:.1f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bench.consumer_pages [--backends sqlite,postgres] [--visitors N] [--logs FILE]
    [--repeat N] [--page N] [--profile] [--default-gc]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.consumer_pages", description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--visitors", type=int, default=3000)
    parser.add_argument("--logs", default="", help="keep the prepared logs in this file")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--page",
        type=int,
        default=PAGE,
        help="entries per process_page (a catching-up follower joins up to 8 pages of 1,000)",
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep Python's collector thresholds (services raise the young generation's)",
    )
    args = parser.parse_args(argv)
    if not args.default_gc:
        tune_garbage_collector()
    raw_ingest, raw_identity = _load_or_prepare(args.logs, args.visitors)
    for _ in range(args.repeat):
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            print(process(backend, raw_ingest, raw_identity, args.profile, args.page), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
