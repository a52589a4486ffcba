"""Where a consumer's CPU goes when it catches up through gRPC: reading pages (the call and
parsing the response), translating entries, and processing them (apply and write).

Ingest and identity run as their own processes (`python -m services.<name>`) and store the
demo sample. Then, in this process, on fresh storage: identity's application reads ingest's
whole log with `ListEvents` in pages of 1,000 (as its follower asks while catching up),
translates it with `observation_of` and processes it in pages of 8,000 (a catch-up
transaction joins 8 pages); then attribution's application does the same with ingest's and
identity's logs, interleaved in proportion. Each phase is timed apart with
`time.process_time` (the whole process, gRPC's threads included). `--profile` prints
cProfile's top functions of each phase.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from bench.consumer_pages import interleaved, sample_served
from bench.storage import fresh_env
from common.follower import CATCH_UP_PAGE_SIZE, CATCH_UP_PAGES, UpstreamEntry
from common.server import tune_garbage_collector
from common.storage import database_for
from common.upstream import GrpcUpstreamLog, identity_log, ingest_log
from services import launcher
from services.attribution.application import AttributionApplication
from services.attribution.upstream import identity_input, ingest_input
from services.identity.server import IdentitySettings, build_application
from services.identity.upstream import observation_of

CALL_TIMEOUT = 60.0


@dataclass
class Phases:
    """CPU seconds per phase, and cProfile of each when asked."""

    profile: bool
    seconds: dict[str, float] = field(default_factory=dict)
    profiles: dict[str, cProfile.Profile] = field(default_factory=dict)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        profiler = self.profiles.setdefault(phase, cProfile.Profile()) if self.profile else None
        started = time.process_time()
        if profiler is not None:
            profiler.enable()
        try:
            yield
        finally:
            if profiler is not None:
                profiler.disable()
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.process_time() - started

    def line(self, name: str, entries: int) -> str:
        total = sum(self.seconds.values())
        parts = ", ".join(
            f"{phase} {seconds / entries * 1e6:.1f}" for phase, seconds in self.seconds.items()
        )
        return (
            f"{name}: {entries:,} entries; CPU us/entry: {parts}; total "
            f"{total / entries * 1e6:.1f} (~{entries / total:,.0f} entries/s of one core)"
        )

    def print_profiles(self) -> None:
        for phase, profiler in self.profiles.items():
            print(f"--- {phase} ---")
            pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)


def read_all(log: GrpcUpstreamLog[Any, Any], phases: Phases) -> list[Any]:
    """Every raw entry of a producer's log, read in catch-up pages."""
    raw: list[Any] = []
    after = 0
    while True:
        with phases.timed("read"):
            page = log.raw_page(after, CATCH_UP_PAGE_SIZE, 0.0)
        if not page:
            return raw
        raw += page
        after = page[-1].position


def translated(
    log: GrpcUpstreamLog[Any, Any], raw: Sequence[Any], phases: Phases
) -> list[UpstreamEntry[Any]]:
    """The entries as the upstream log gives them to the follower."""
    with phases.timed("translate"):
        return log.entries_of(raw)


def identity_split(env: Mapping[str, str], backend: str, phases: Phases) -> str:
    """Identity catching up on ingest's log over gRPC, in-process, on fresh storage."""
    with grpc.insecure_channel(env["INGEST_ADDR"]) as channel, fresh_env(backend) as own:
        log = ingest_log(channel, observation_of)
        raw = read_all(log, phases)
        entries = translated(log, raw, phases)
        settings = IdentitySettings(
            database_url=own.get("CONVTRACK_DATABASE_URL", ""),
            data_dir=Path(own["CONVTRACK_DATA_DIR"]),
        )
        app = build_application(settings)
        step = CATCH_UP_PAGE_SIZE * CATCH_UP_PAGES
        with phases.timed("process"):
            for start in range(0, len(entries), step):
                with app.lock:
                    app.process_page("ingest", entries[start : start + step])
        app.close()
    return phases.line(f"identity {backend}", len(entries))


def attribution_split(env: Mapping[str, str], backend: str, phases: Phases) -> str:
    """Attribution catching up on ingest's and identity's logs over gRPC, in-process."""
    with (
        grpc.insecure_channel(env["INGEST_ADDR"]) as ingest_channel,
        grpc.insecure_channel(env["IDENTITY_ADDR"]) as identity_channel,
        fresh_env(backend) as own,
    ):
        from_ingest = ingest_log(ingest_channel, ingest_input)
        from_identity = identity_log(identity_channel, identity_input)
        raw_ingest = read_all(from_ingest, phases)
        raw_identity = read_all(from_identity, phases)
        ingest = translated(from_ingest, raw_ingest, phases)
        identity = translated(from_identity, raw_identity, phases)
        database = database_for(
            "attribution", own.get("CONVTRACK_DATABASE_URL", ""), Path(own["CONVTRACK_DATA_DIR"])
        )
        database.ensure_schema()
        app = AttributionApplication(env=database.eventsourcing_env())
        step = CATCH_UP_PAGE_SIZE * CATCH_UP_PAGES
        with phases.timed("process"):
            for upstream, page in interleaved(ingest, identity, step):
                with app.lock:
                    app.process_page(upstream, page)
        app.close()
    return phases.line(f"attribution {backend}", len(ingest) + len(identity))


def run(backend: str, visitors: int, profile: bool) -> list[str]:
    """The split lines of identity and attribution on one backend."""
    lines: list[str] = []
    with fresh_env(backend) as env:
        env = {**env, **launcher.loopback_ports(env)}
        with sample_served(env, visitors):
            for split in (identity_split, attribution_split):
                phases = Phases(profile)
                lines.append(split(env, backend, phases) + f"; loadavg {os.getloadavg()[0]:.1f}")
                print(lines[-1], flush=True)
                if profile:
                    phases.print_profiles()
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bench.consumer_split [--backends sqlite,postgres] [--visitors N] [--profile]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.consumer_split", description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--visitors", type=int, default=3000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    tune_garbage_collector()
    for backend in args.backends.split(","):
        run(backend.strip(), args.visitors, args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
