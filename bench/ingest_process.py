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
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
# The library names an application's PostgreSQL events table after the application.
POSTGRES_EVENTS_TABLE = "ingest_events"
_OWN_SETTINGS = ("CONVTRACK_", "INGEST_", "IDENTITY_", "ATTRIBUTION_", "REPORTING_")


def _start(
    env: Mapping[str, str], log: Path, workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m services.ingest` on the storage of `env` (with `workers` processes on one
    port); waits until it answers. Its identity address is a free port nobody listens on:
    there is no identity in this run."""
    port = free_loopback_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_SETTINGS)}
    child_env.update(env)
    child_env.update(
        {
            "INGEST_LISTEN": f"127.0.0.1:{port}",
            "IDENTITY_ADDR": f"127.0.0.1:{free_loopback_port()}",
            "PYTHONUNBUFFERED": "1",
            "INGEST_WORKERS": str(workers),
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
    """The peak resident memory (VmHWM) of the process and its children (the workers), in
    MiB: the sum of each one's peak."""
    total = 0.0
    for process in [pid, *_children(pid)]:
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


def _cpu_seconds(pid: int) -> float:
    """The CPU seconds (user and system) the process and its children (the workers) have used."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for process in [pid, *_children(pid)]:
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@dataclass
class Sent:
    """What one run of sends got back: every event's verdict and every call's outcome."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    # "accepted", "duplicate", "rejected: <field>: <reason>", "call failed: <code>"
    verdicts: Counter[str] = field(default_factory=Counter)
    failed_calls: Counter[str] = field(default_factory=Counter)

    @property
    def accepted(self) -> int:
        return self.verdicts["accepted"]

    def summary(self) -> str:
        """Every verdict and failed call, counted, on one line."""
        parts = [f"{name} {count:,}" for name, count in sorted(self.verdicts.items())]
        parts += [f"calls {code} {count:,}" for code, count in sorted(self.failed_calls.items())]
        return "; ".join(parts)


_VERDICT_NAMES = {
    ingest_pb2.VERDICT_ACCEPTED: "accepted",
    ingest_pb2.VERDICT_DUPLICATE: "duplicate",
    ingest_pb2.VERDICT_REJECTED: "rejected",
}


def _count_verdicts(sent: Sent, response: ingest_pb2.TrackEventsResponse) -> None:
    for verdict in response.verdicts:
        name = _VERDICT_NAMES.get(verdict.verdict, "unspecified")
        if verdict.verdict == ingest_pb2.VERDICT_REJECTED:
            reasons = ", ".join(f"{v.field}: {v.description}" for v in verdict.violations)
            name = f"rejected ({reasons})"
        sent.verdicts[name] += 1


def _send(address: str, chunks: Sequence[Sequence[ingest_pb2.Event]], clients: int = 1) -> Sent:
    """Sends every batch once, from `clients` threads each with its own connection and every
    `clients`-th batch; the wall time, every event's verdict (the events of a failed call
    counted as "call failed: CODE") and the call latencies."""
    sent = Sent()
    lock = threading.Lock()
    # Each channel its own connection (not the process's shared subchannel), so that the
    # kernel can hand them to different worker processes.
    channels = [
        grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(clients)
    ]

    def send(client: int) -> None:
        stub = ingest_pb2_grpc.IngestServiceStub(channels[client])
        for chunk in chunks[client::clients]:
            call_started = time.perf_counter()
            try:
                response = stub.TrackEvents(
                    ingest_pb2.TrackEventsRequest(
                        events=chunk, sent_at=to_timestamp(datetime.now(UTC))
                    ),
                    timeout=CALL_TIMEOUT,
                )
            except grpc.RpcError as error:
                with lock:
                    sent.failed_calls[error.code().name] += 1
                    sent.verdicts[f"call failed: {error.code().name}"] += len(chunk)
                continue
            with lock:
                sent.latencies.append(time.perf_counter() - call_started)
                _count_verdicts(sent, response)

    try:
        for channel in channels:
            grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT)
        threads = [threading.Thread(target=send, args=(c,)) for c in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sent.seconds = time.perf_counter() - started
        return sent
    finally:
        for channel in channels:
            channel.close()


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
            f"SELECT {columns} FROM ingest.{POSTGRES_EVENTS_TABLE} ORDER BY notification_id"
        ).fetchall()
        conn.execute(
            "CREATE TABLE ingest.raw_stored_events "
            f"(LIKE ingest.{POSTGRES_EVENTS_TABLE} INCLUDING ALL)"
        )
        insert = sql.SQL(
            "INSERT INTO ingest.raw_stored_events ({}) VALUES (%s, %s, %s, %s)"
        ).format(sql.SQL(columns))
        started = time.perf_counter()
        for start in range(0, len(rows), RAW_TRANSACTION):
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(insert, rows[start : start + RAW_TRANSACTION])
        return time.perf_counter() - started, len(rows)


def run(
    env: Mapping[str, str],
    backend: str,
    events: Sequence[ingest_pb2.Event],
    *,
    workers: int = 1,
    clients: int = 1,
) -> list[Row]:
    """Ingest as its own process (or `workers` processes on one port) fed by `clients`
    concurrent clients, against the raw insert rate of its store, one table's rows."""
    chunks = list(batches(events, BATCH_SIZE))
    size = f"{len(events):,} ev"
    log = Path(env["CONVTRACK_DATA_DIR"]).parent / "ingest.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    process, address = _start(env, log, workers)
    try:
        cpu_before = _cpu_seconds(process.pid)
        sent = _send(address, chunks, clients)
        server_cpu = _cpu_seconds(process.pid) - cpu_before
        seconds, accepted, latencies = sent.seconds, sent.accepted, sent.latencies
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
    cpu_per_event = server_cpu / accepted * 1e6 if accepted else 0.0
    raw_rate = raw_rows / raw_seconds if raw_seconds else 0.0
    return [
        Row(
            "ingest process, batch 500, client process"
            if workers == clients == 1
            else f"ingest {workers} worker{'s' if workers > 1 else ''}, batch 500, "
            f"{clients} client{'s' if clients > 1 else ''}",
            backend,
            size,
            seconds,
            per_second(accepted, seconds, "ev"),
            f"{rate / raw_rate:.2f}x raw insert; batch p50 "
            f"{statistics.median(latencies) * 1000 if latencies else 0:.0f} ms, p99 "
            f"{_percentile(latencies, 0.99) * 1000 if latencies else 0:.0f} ms; "
            f"server CPU {cpu_per_event:.0f} us/event; peak RSS {peak:.0f} MiB; "
            f"loadavg {load:.1f}; verdicts: {sent.summary()}",
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
    parser.add_argument(
        "--workers",
        default="1,2",
        help="comma-separated INGEST_WORKERS to measure; 1 with one client, more with "
        "two clients per worker (default 1,2)",
    )
    parser.add_argument(
        "--clients",
        default="",
        help="comma-separated numbers of concurrent clients (threads of this process, each "
        "its own connection) to run against each worker count instead of the default",
    )
    args = parser.parse_args(argv)
    events = sample(args.visitors)
    chosen_clients = [int(c) for c in args.clients.split(",") if c.strip()]
    rows: list[Row] = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
            for clients in chosen_clients or [1 if workers == 1 else 2 * workers]:
                with fresh_env(backend) as env:
                    rows += run(env, backend, events, workers=workers, clients=clients)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
