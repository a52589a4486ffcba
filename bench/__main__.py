"""`python -m bench`: ingest, long-poll, pipeline (one process; four at a steady rate),
log-read, attribution-model, enrichment, report query (`--scale`), reporting catch-up,
reporting freshness and start-up benchmarks.

Prints the machine facts and one table (benchmark, backend, size, seconds, rate, note), then
identity quality per world (`bench.identity_worlds`), one table each.
Each benchmark runs on its own temp data dir or fresh PostgreSQL database, removed after.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import psycopg

from bench import (
    attribution,
    backpressure,
    catchup,
    enrichment_bench,
    identity,
    identity_worlds,
    ingest,
    ingest_process,
    longpoll,
    person_identity_bench,
    pipeline,
    reporting_catchup,
    reporting_freshness,
    reporting_queries,
    startup,
)
from bench.storage import BACKENDS, POSTGRES_ADMIN_URL, fresh_env, postgres_problem
from bench.table import Row, format_table, per_second

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VISITORS = 3000
QUICK_VISITORS = 200
INGEST_SHAPES = ((500, 1), (500, 4), (100, 1), (100, 4))

logger = logging.getLogger("bench")


def _backends(text: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BACKENDS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown backend(s) {', '.join(unknown) or '(none)'}; choose from "
            + ", ".join(BACKENDS)
        )
    return chosen


def machine_facts(backends: Sequence[str], load_before: Sequence[float]) -> list[str]:
    """What the numbers were measured on (other processes' load skews them: see loadavg)."""
    load_after = os.getloadavg()
    facts = [
        f"date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"nproc: {len(os.sched_getaffinity(0))} (cpu_count {os.cpu_count()})",
        f"python: {platform.python_version()} ({platform.python_implementation()})",
        f"platform: {platform.platform()}",
        f"sqlite: {sqlite3.sqlite_version}",
        "loadavg 1/5/15 min before: "
        + " ".join(f"{x:.2f}" for x in load_before)
        + ", after: "
        + " ".join(f"{x:.2f}" for x in load_after),
        f"eventsourcing {metadata.version('eventsourcing')}, "
        f"grpcio {metadata.version('grpcio')}, protobuf {metadata.version('protobuf')}",
    ]
    if "postgres" in backends:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        facts.append(f"postgresql: {row[0] if row else '?'} at {POSTGRES_ADMIN_URL}")
    return facts


def run_pipeline(backend: str, visitors: int) -> list[Row]:
    """The pipeline benchmark in a child process on fresh storage; its rows."""
    with fresh_env(backend) as env:
        child = subprocess.run(
            [sys.executable, "-m", "bench.pipeline", "--visitors", str(visitors)],
            input=json.dumps(env),
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            check=False,
        )
    if child.returncode != 0:
        raise RuntimeError(f"pipeline benchmark on {backend} failed ({child.returncode})")
    result = pipeline.PipelineResult(**json.loads(child.stdout.strip().splitlines()[-1]))
    size = f"{result.events:,} ev"
    return [
        Row(
            "pipeline end to end",
            backend,
            size,
            result.total_seconds,
            per_second(result.events, result.total_seconds, "ev"),
            f"first send until all in sync; {visitors:,} visitors, {result.accepted:,} accepted",
        ),
        Row(
            "pipeline send (acked)",
            backend,
            size,
            result.send_seconds,
            per_second(result.events, result.send_seconds, "ev"),
            "batches of 500, consumers running",
        ),
        Row(
            "pipeline catch-up",
            backend,
            size,
            result.catch_up_seconds,
            "-",
            "last ack to wait_for_sync returning",
        ),
        Row(
            "peak RSS (pipeline process)",
            backend,
            size,
            None,
            f"{result.peak_rss_kib / 1024:,.0f} MiB",
            f"ru_maxrss; start_all {result.start_seconds:.1f}s",
        ),
    ]


def _failed(benchmark: str, backend: str, error: Exception) -> Row:
    """A row saying a benchmark failed (the table still prints; the exit status is 1)."""
    logger.error("%s on %s failed", benchmark, backend, exc_info=error)
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    return Row(benchmark, backend, "-", None, "FAILED", message[:100])


def run_backend(backend: str, visitors: int) -> list[Row]:
    """Every benchmark on one backend; a failing one becomes a FAILED row."""
    events = pipeline.sample(visitors)
    rows: list[Row] = []
    logger.info("%s: ingest in its own process against the raw insert rate", backend)
    try:
        with fresh_env(backend) as env:
            rows += ingest_process.run(env, backend, events)
    except Exception as error:
        rows.append(_failed("ingest process", backend, error))
    logger.info("%s: ingest as 2 workers on one port, 4 clients", backend)
    try:
        with fresh_env(backend) as env:
            rows += ingest_process.run(env, backend, events, workers=2, clients=4)
    except Exception as error:
        rows.append(_failed("ingest 2 workers", backend, error))
    logger.info("%s: identity and attribution catching up, each its own process", backend)
    try:
        with fresh_env(backend) as env:
            rows += catchup.run(env, backend, events)
    except Exception as error:
        rows.append(_failed("catch-up", backend, error))
    for batch_size, threads in INGEST_SHAPES:
        logger.info("%s: ingest, batches of %d, %d thread(s)", backend, batch_size, threads)
        try:
            with fresh_env(backend) as env:
                rows += ingest.run(
                    env,
                    backend,
                    events,
                    batch_size=batch_size,
                    threads=threads,
                    read=(batch_size, threads) == INGEST_SHAPES[0],
                )
        except Exception as error:
            rows.append(_failed(f"ingest batch {batch_size} x{threads}", backend, error))
    logger.info("%s: TrackEvents under %d long polls", backend, longpoll.READERS)
    try:
        with fresh_env(backend) as env:
            rows += longpoll.run(env, backend)
    except Exception as error:
        rows.append(_failed("TrackEvents under long polls", backend, error))
    logger.info("%s: pipeline, %d visitors", backend, visitors)
    try:
        rows += run_pipeline(backend, visitors)
    except Exception as error:
        rows.append(_failed("pipeline", backend, error))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """The command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help=f"small sample ({QUICK_VISITORS} visitors)"
    )
    parser.add_argument(
        "--backends",
        type=_backends,
        default=list(BACKENDS),
        help="comma-separated: sqlite,postgres (default both)",
    )
    parser.add_argument(
        "--visitors",
        type=int,
        default=None,
        help=f"sample size in visitors (default {DEFAULT_VISITORS}, ~7 events each)",
    )
    parser.add_argument(
        "--scale",
        choices=list(reporting_queries.SCALES),
        default=None,
        help="report query views: tiny (--quick), default (20k conversions, ~200k credit "
        "rows) or full (1M conversions, ~10M credit rows: the issue's scale, loaded in bulk, "
        "slow)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    for name in ("common", "services", "eventsourcing"):
        logging.getLogger(name).setLevel(logging.WARNING)
    visitors = args.visitors or (QUICK_VISITORS if args.quick else DEFAULT_VISITORS)
    if visitors < 1:
        parser.error("--visitors must be at least 1")

    backends: list[str] = list(args.backends)
    notes: list[str] = []
    if "postgres" in backends:
        problem = postgres_problem()
        if problem is not None:
            backends.remove("postgres")
            notes.append(f"postgres skipped: unreachable at {POSTGRES_ADMIN_URL}: {problem}")
    for note in notes:
        print(f"note: {note}")
    if not backends:
        print("nothing to run")
        return 1

    load_before = os.getloadavg()
    started = time.perf_counter()
    rows: list[Row] = []
    for backend in backends:
        rows += run_backend(backend, visitors)
    logger.info("identity resolution")
    try:
        rows += identity.run(args.quick)
    except Exception as error:
        rows.append(_failed("identity", "-", error))
    logger.info("identity worlds")
    try:
        worlds = identity_worlds.format_reports(identity_worlds.run(args.quick, logger.info))
    except Exception as error:
        rows.append(_failed("identity worlds", "-", error))
        worlds = ""
    logger.info("attribution models")
    try:
        rows += attribution.run(args.quick)
    except Exception as error:
        rows.append(_failed("attribution", "-", error))
    logger.info("enrichment")
    try:
        rows += enrichment_bench.run(args.quick)
    except Exception as error:
        rows.append(_failed("enrichment", "-", error))
    for backend in backends:
        logger.info("%s: ingest backpressure at twice the sustainable rate", backend)
        try:
            rows += backpressure.run(backend, 10.0 if args.quick else backpressure.OFFER_SECONDS)
        except Exception as error:
            rows.append(_failed("backpressure", backend, error))
    scale = reporting_queries.SCALES[args.scale or ("tiny" if args.quick else "default")]
    for backend in backends:
        logger.info("%s: report queries at %s scale", backend, scale.name)
        try:
            with fresh_env(backend) as env:
                # At the scale the views are loaded in bulk: catch-up would take hours.
                rows += reporting_queries.run(env, backend, scale, bulk=scale.name == "full")
        except Exception as error:
            rows.append(_failed("report queries", backend, error))
        logger.info("%s: pipeline of 4 processes at a steady 5,000 events/s", backend)
        try:
            seconds = 5.0 if args.quick else pipeline.SUSTAINED_SECONDS
            rows += pipeline.run_sustained([backend], seconds=seconds)
        except Exception as error:
            rows.append(_failed("pipeline 4 processes", backend, error))
        logger.info("%s: reporting catch-up per upstream", backend)
        try:
            size = reporting_catchup.SIZES["tiny" if args.quick else "default"]
            rows += reporting_catchup.run(backend, size)
        except Exception as error:
            rows.append(_failed("reporting catch-up", backend, error))
        logger.info("%s: reporting freshness at 1,000 events/s", backend)
        try:
            seconds = 5.0 if args.quick else reporting_freshness.SECONDS
            rows += reporting_freshness.run(backend, seconds=seconds)
        except Exception as error:
            rows.append(_failed("reporting freshness", backend, error))
    for backend in backends:
        logger.info("%s: persons by the reporting identity (funnels, cohorts, links)", backend)
        try:
            with fresh_env(backend) as env:
                rows += person_identity_bench.run(env, backend, 1_000 if args.quick else 5_000)
        except Exception as error:
            rows.append(_failed("person reports", backend, error))
    logger.info("command start-up")
    try:
        rows += startup.run(args.quick)
    except Exception as error:
        rows.append(_failed("start-up", "-", error))
    for fact in machine_facts(backends, load_before):
        print(fact)
    print()
    print(format_table(rows))
    print(reporting_queries.PERSON_REPORTS_HOOK)
    if worlds:
        print("\nidentity quality per world (seeds printed; defaults chosen on identity_synth):\n")
        print(worlds)
    print(f"\n(benchmarks took {time.perf_counter() - started:.0f}s)")
    return 1 if any(row.rate == "FAILED" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
