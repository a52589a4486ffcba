"""Ingest in its own process, fed by this one over gRPC, against its store's raw insert rate.

`convtrack serve ingest` runs as a child process (`python -m services.ingest`) on fresh
storage; this process sends the sample in batches of 500 from one client and measures each
call's latency. Then the rows ingest stored are read back and inserted again, unchanged, into
a fresh table of the same schema in transactions of 500 (`executemany`): the store's own limit
on this machine, measured in the same run, so the ratio of the two rates is what the code
costs, whatever the machine's load.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import grpc
import psycopg
from psycopg import sql

from bench.pipeline import sample
from bench.storage import fresh_env
from bench.table import Row, format_table, per_second
from common.storage import database_for
from common.wire import to_timestamp
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.launcher import free_loopback_port
from services.sample_data import batches

ROOT = Path(__file__).resolve().parent.parent
BATCH_SIZE = 500
CALL_TIMEOUT = 60.0
START_TIMEOUT = 60.0
RAW_TRANSACTION = 500
_OWN_SETTINGS = ("CONVTRACK_", "INGEST_", "IDENTITY_", "ATTRIBUTION_", "REPORTING_")


def _start(env: Mapping[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m services.ingest` on the storage of `env`; waits until it answers. Its
    identity address is a free port nobody listens on: there is no identity in this run."""
    port = free_loopback_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_SETTINGS)}
    child_env.update(env)
    child_env.update(
        {
            "INGEST_LISTEN": f"127.0.0.1:{port}",
            "IDENTITY_ADDR": f"127.0.0.1:{free_loopback_port()}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.ingest"],
            cwd=ROOT,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    address = f"127.0.0.1:{port}"
    with grpc.insecure_channel(address) as channel:
        ingest_pb2_grpc.IngestServiceStub(channel).GetLogHead(
            ingest_pb2.GetLogHeadRequest(), timeout=START_TIMEOUT, wait_for_ready=True
        )
    return process, address


def _peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _send(
    address: str, chunks: Sequence[Sequence[ingest_pb2.Event]]
) -> tuple[float, int, list[float]]:
    """Sends every batch from one client; the wall time, accepted events, call latencies."""
    latencies: list[float] = []
    accepted = 0
    with grpc.insecure_channel(address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        started = time.perf_counter()
        for chunk in chunks:
            call_started = time.perf_counter()
            response = stub.TrackEvents(
                ingest_pb2.TrackEventsRequest(
                    events=chunk, sent_at=to_timestamp(datetime.now(UTC))
                ),
                timeout=CALL_TIMEOUT,
            )
            latencies.append(time.perf_counter() - call_started)
            accepted += response.accepted_count
        return time.perf_counter() - started, accepted, latencies


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def raw_insert_sqlite(path: Path) -> tuple[float, int]:
    """Reinserts ingest's stored rows into a fresh SQLite file with the same table; returns
    the seconds and the rows."""
    with sqlite3.connect(path) as source:
        ddl = [
            row[0]
            for row in source.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'stored_events' AND sql IS NOT NULL"
            )
        ]
        rows = source.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events "
            "ORDER BY rowid"
        ).fetchall()
    with tempfile.TemporaryDirectory(prefix="convtrack-raw-") as directory:
        target = sqlite3.connect(Path(directory) / "raw.db", isolation_level=None)
        try:
            target.execute("PRAGMA journal_mode=WAL")
            for statement in ddl:
                target.execute(statement)
            started = time.perf_counter()
            for start in range(0, len(rows), RAW_TRANSACTION):
                target.execute("BEGIN")
                target.executemany(
                    "INSERT INTO stored_events VALUES (?, ?, ?, ?)",
                    rows[start : start + RAW_TRANSACTION],
                )
                target.execute("COMMIT")
            return time.perf_counter() - started, len(rows)
        finally:
            target.close()


def raw_insert_postgres(url: str) -> tuple[float, int]:
    """Reinserts ingest's stored rows into a fresh table of the same shape (next to ingest's,
    in the same database); returns the seconds and the rows."""
    columns = "originator_id, originator_version, topic, state"
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT {columns} FROM ingest.stored_events ORDER BY notification_id"
        ).fetchall()
        conn.execute(
            "CREATE TABLE ingest.raw_stored_events (LIKE ingest.stored_events INCLUDING ALL)"
        )
        insert = sql.SQL(
            "INSERT INTO ingest.raw_stored_events ({}) VALUES (%s, %s, %s, %s)"
        ).format(sql.SQL(columns))
        started = time.perf_counter()
        for start in range(0, len(rows), RAW_TRANSACTION):
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(insert, rows[start : start + RAW_TRANSACTION])
        return time.perf_counter() - started, len(rows)


def run(env: Mapping[str, str], backend: str, events: Sequence[ingest_pb2.Event]) -> list[Row]:
    """Ingest as its own process against the raw insert rate of its store, one table's rows."""
    chunks = list(batches(events, BATCH_SIZE))
    size = f"{len(events):,} ev"
    log = Path(env["CONVTRACK_DATA_DIR"]).parent / "ingest.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    process, address = _start(env, log)
    try:
        seconds, accepted, latencies = _send(address, chunks)
        peak = _peak_rss_mib(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    database = database_for(
        "ingest", env.get("CONVTRACK_DATABASE_URL", ""), Path(env["CONVTRACK_DATA_DIR"])
    )
    if database.is_postgres:
        raw_seconds, raw_rows = raw_insert_postgres(database.libpq_url())
    else:
        raw_seconds, raw_rows = raw_insert_sqlite(database.sqlite_path)
    rate = accepted / seconds if seconds else 0.0
    raw_rate = raw_rows / raw_seconds if raw_seconds else 0.0
    return [
        Row(
            "ingest process, batch 500, client process",
            backend,
            size,
            seconds,
            per_second(accepted, seconds, "ev"),
            f"{rate / raw_rate:.2f}x raw insert; batch p50 "
            f"{statistics.median(latencies) * 1000:.0f} ms, p99 "
            f"{_percentile(latencies, 0.99) * 1000:.0f} ms; peak RSS {peak:.0f} MiB; "
            f"loadavg {load:.1f}",
        ),
        Row(
            "raw re-insert of ingest's rows",
            backend,
            f"{raw_rows:,} rows",
            raw_seconds,
            per_second(raw_rows, raw_seconds, "rows"),
            f"same rows and schema, fresh table, executemany in transactions of {RAW_TRANSACTION}",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bench.ingest_process [--backends sqlite,postgres] [--visitors N]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_process", description=__doc__)
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
