"""The read path of a catch-up, in-process and step by step: CPU per entry of each step.

Ingest and identity run as their own processes (`python -m services.<name>`) and prepare
their logs from the demo sample, and attribution (its own process too) reads both to their
heads; then they stop. In this process, each producer's store is opened
as its server opens it, and its log is served as `ListEvents` serves it, in pages of 1,000:
the store's read (cold: a fresh application; warm: the decoded records cached), building the
pages (`LogEndpoint.encoded_page` and the response parsed, as the servicers do; then again,
with the encoded entries kept) and the response's serialisation. Then the consumer's side
of the same pages: parsing the response and translating the entries (identity's
observations of ingest's log; attribution's inputs of both logs; reporting's of
attribution's). Attribution's pages are built twice more from a cold store: as its servicer
serves them (the entries of its bookkeeping events, ~50 per attribution, from their stored
time) and with every entry's event decoded (as before it did so). `--profile STEP` prints
cProfile's top functions of one step.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc

from bench.catchup import CALL_TIMEOUT, _positions, _start, _stop, _until
from bench.consumer_pages import sample_served
from bench.storage import fresh_env
from common.eventlog import LoggedApplication
from common.log_endpoint import LogEndpoint
from common.server import tune_garbage_collector
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2
from services import launcher
from services.attribution import servicer as attribution_servicer
from services.attribution.server import AttributionSettings
from services.attribution.server import build_application as build_attribution
from services.attribution.upstream import identity_input, ingest_input
from services.identity import servicer as identity_servicer
from services.identity.server import IdentitySettings
from services.identity.server import build_application as build_identity
from services.identity.upstream import observation_of
from services.ingest import servicer as ingest_servicer
from services.ingest.server import IngestSettings
from services.ingest.server import build_application as build_ingest
from services.reporting.upstream import attribution_of

PAGE = 1000


def prepare(env: Mapping[str, str], visitors: int) -> None:
    """Ingest's and identity's stores hold the demo sample of `visitors`, and attribution's
    what it made of them (processes stopped)."""
    with sample_served(env, visitors) as (ingest, identity):
        heads = {
            "ingest": ingest.GetLogHead(ingest_pb2.GetLogHeadRequest(), timeout=CALL_TIMEOUT),
            "identity": identity.GetLogHead(identity_pb2.GetLogHeadRequest(), timeout=CALL_TIMEOUT),
        }
        log = Path(env["CONVTRACK_DATA_DIR"]).parent / "services.log"
        process = _start("attribution", env, log)
        try:
            with grpc.insecure_channel(env["ATTRIBUTION_ADDR"]) as channel:
                stub = attribution_pb2_grpc.AttributionServiceStub(channel)

                def caught_up() -> bool:
                    at = _positions(
                        stub.GetSyncStatus(
                            attribution_pb2.GetSyncStatusRequest(),
                            timeout=CALL_TIMEOUT,
                            wait_for_ready=True,
                        )
                    )
                    return all(at.get(name, 0) >= head.position for name, head in heads.items())

                _until(caught_up)
        finally:
            _stop(process)


class _Step:
    """CPU seconds of one step, optionally profiled."""

    def __init__(self, profile: bool) -> None:
        self.profiler = cProfile.Profile() if profile else None
        self.cpu = 0.0

    def __enter__(self) -> _Step:
        if self.profiler is not None:
            self.profiler.enable()
        self.cpu = time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.cpu = time.process_time() - self.cpu
        if self.profiler is not None:
            self.profiler.disable()
            stats = pstats.Stats(self.profiler, stream=sys.stdout)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumtime").print_stats(25)


def _serve_all(endpoint: LogEndpoint[Any], module: Any) -> list[Any]:
    """Every page's response, as the servicer builds it."""
    pages: list[Any] = []
    after = 0
    while True:
        request = module.ListEventsRequest(after=after, limit=PAGE)
        page = module.ListEventsResponse.FromString(endpoint.encoded_page(request, None))  # type: ignore[arg-type]
        if not page.entries:
            return pages
        pages.append(page)
        after = page.entries[-1].position


def _read_all(app: LoggedApplication) -> int:
    count, after = 0, 0
    while True:
        records = app.read_log(after, PAGE)
        if not records:
            return count
        count += len(records)
        after = records[-1].position


def producer(
    name: str,
    app: LoggedApplication,
    to_entry: Callable[[int, Any], Any],
    module: Any,
    profile: str,
) -> tuple[list[str], list[bytes]]:
    """Lines of figures for serving `app`'s log, and the serialised responses."""
    lines: list[str] = []
    with _Step(profile == f"{name}-read") as cold:
        count = _read_all(app)
    with _Step(False) as warm:
        _read_all(app)
    endpoint: LogEndpoint[Any] = LogEndpoint(app, to_entry)
    with _Step(profile == f"{name}-serve") as serve:
        pages = _serve_all(endpoint, module)
    with _Step(False) as again:
        _serve_all(endpoint, module)
    with _Step(False) as serialise:
        raw = [p.SerializeToString() for p in pages]
    per = 1e6 / max(count, 1)
    lines.append(
        f"{name}: {count:,} entries; store read cold {cold.cpu * per:.1f} us/entry, warm "
        f"{warm.cpu * per:.1f}; ListEvents pages (records warm) {serve.cpu * per:.1f}, "
        f"again (entries encoded) {again.cpu * per:.1f}; response "
        f"serialisation {serialise.cpu * per:.1f}; {sum(map(len, raw)) / max(count, 1):.0f} "
        "bytes/entry"
    )
    return lines, raw


def consumer(
    name: str, raw: Sequence[bytes], module: Any, translate: Callable[[Any], Any], profile: str
) -> str:
    """A line of figures for parsing the responses and translating their entries."""
    with _Step(False) as parse:
        pages = [module.ListEventsResponse.FromString(r).entries for r in raw]
    count = sum(len(p) for p in pages)
    with _Step(profile == name) as translation:
        for page in pages:
            for entry in page:
                translate(entry)
    per = 1e6 / max(count, 1)
    return f"{name}: parse {parse.cpu * per:.1f} us/entry, translate {translation.cpu * per:.1f}"


def run(env: dict[str, str], backend: str, visitors: int, profile: str) -> list[str]:
    """Prepares the stores and measures each step on `backend`."""
    env = {**env, **launcher.loopback_ports(env)}
    prepare(env, visitors)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        ingest_app = build_ingest(IngestSettings.from_env(env))
        identity_app = build_identity(IdentitySettings.from_env(env))
        attribution_apps = [build_attribution(AttributionSettings.from_env(env)) for _ in "ab"]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        lines, ingest_raw = producer(
            "ingest", ingest_app, ingest_servicer.log_entry, ingest_pb2, profile
        )
        more, identity_raw = producer(
            "identity", identity_app, identity_servicer.log_entry, identity_pb2, profile
        )
        lines += more
        as_served, all_decoded = attribution_apps
        with _Step(profile == "attribution-serve") as step:
            pages = _serve_all(
                LogEndpoint(
                    as_served,
                    attribution_servicer.log_entry,
                    served=attribution_servicer.LOGGED_EVENTS,
                ),
                attribution_pb2,
            )
        with _Step(False) as every:
            _serve_all(LogEndpoint(all_decoded, attribution_servicer.log_entry), attribution_pb2)
        attribution_raw = [p.SerializeToString() for p in pages]
        count = sum(len(p.entries) for p in pages)
        per = 1e6 / max(count, 1)
        lines.append(
            f"attribution: {count:,} entries; ListEvents pages from a cold store as served "
            f"(bookkeeping entries from their stored time) {step.cpu * per:.1f} us/entry, with "
            f"every entry's event decoded {every.cpu * per:.1f}"
        )
    finally:
        ingest_app.close()
        identity_app.close()
        for app in attribution_apps:
            app.close()
    lines.append(consumer("identity <- ingest", ingest_raw, ingest_pb2, observation_of, profile))
    lines.append(consumer("attribution <- ingest", ingest_raw, ingest_pb2, ingest_input, profile))
    lines.append(
        consumer("attribution <- identity", identity_raw, identity_pb2, identity_input, profile)
    )
    lines.append(
        consumer(
            "reporting <- attribution", attribution_raw, attribution_pb2, attribution_of, profile
        )
    )
    load = os.getloadavg()[0]
    return [f"{backend} (CPU): {line}; loadavg {load:.1f}" for line in lines]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bench.log_read [--backends sqlite,postgres] [--visitors N] [--profile STEP]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.log_read", description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--visitors", type=int, default=3000)
    parser.add_argument(
        "--profile",
        default="",
        help="ingest-read, ingest-serve, identity-read, identity-serve, attribution-serve, or a "
        "consumer's name",
    )
    args = parser.parse_args(argv)
    tune_garbage_collector()
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        with fresh_env(backend) as env:
            for line in run(env, backend, args.visitors, args.profile):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
