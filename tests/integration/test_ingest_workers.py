"""`INGEST_WORKERS=2 convtrack serve ingest`: two processes on one port store every event id
and every order id once, however the clients' connections are spread among them."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from common.wire import to_timestamp
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from tests.conftest import Storage

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 6
ROUNDS = 3
TIMEOUT = 60.0


def _event(index: int) -> ingest_pb2.Event:
    """Page views with their own ids; every tenth a purchase whose order id another event
    (with another event id) repeats."""
    timestamp = to_timestamp(datetime.now(UTC) - timedelta(minutes=5))
    identity = ingest_pb2.Identity(anonymous_id=f"anon-{index % 17}")
    if index % 10 == 0:
        return ingest_pb2.Event(
            property_id="shop",
            event_id=f"buy-{index}",
            timestamp=timestamp,
            identity=identity,
            conversion=ingest_pb2.Conversion(name="purchase", order_id=f"o-{index // 20}"),
        )
    return ingest_pb2.Event(
        property_id="shop",
        event_id=f"view-{index}",
        timestamp=timestamp,
        identity=identity,
        page_view=ingest_pb2.PageView(url=f"https://shop.example/p/{index}"),
    )


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.fixture
def workers(storage: Storage, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Ingest as two worker processes on one port (0: the supervisor chooses it), and the
    address they serve, read from the supervisor's log line."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CONVTRACK_", "INGEST_", "IDENTITY_"))
    }
    env.update(
        {
            "CONVTRACK_DATA_DIR": str(storage.data_dir),
            "INGEST_WORKERS": "2",
            "INGEST_LISTEN": "127.0.0.1:0",
            "IDENTITY_ADDR": "",
            "INGEST_VAULT_SECRET": secrets.token_hex(32),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if storage.database_url:
        env["CONVTRACK_DATABASE_URL"] = storage.database_url
    log = tmp_path / "ingest.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.ingest"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        address = ""
        deadline = datetime.now(UTC) + timedelta(seconds=TIMEOUT)
        while not address and datetime.now(UTC) < deadline and process.poll() is None:
            for line in log.read_text().splitlines():
                if "2 workers serve " in line:
                    address = line.rsplit(" ", 1)[1]
            threading.Event().wait(0.1)
        assert address, log.read_text()
        yield address, process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(TIMEOUT)


def test_two_workers_on_one_port_store_each_event_and_order_once(
    workers: tuple[str, subprocess.Popen[bytes]],
) -> None:
    address, supervisor = workers
    # Two worker processes serve, under the supervisor.
    assert len(_children(supervisor.pid)) == 2
    # Six clients, each on its own connection, send the same 200 events in batches of 50,
    # three times over, concurrently.
    events = [_event(i) for i in range(200)]
    batches = [events[i : i + 50] for i in range(0, len(events), 50)]
    verdicts: dict[str, list[int]] = {}
    lock = threading.Lock()

    def send(client: int) -> None:
        channel = grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        with channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            for _ in range(ROUNDS):
                for batch in batches[client % 4 :] + batches[: client % 4]:
                    response = stub.TrackEvents(
                        ingest_pb2.TrackEventsRequest(events=batch), timeout=TIMEOUT
                    )
                    with lock:
                        for verdict in response.verdicts:
                            verdicts.setdefault(verdict.event_id, []).append(verdict.verdict)

    threads = [threading.Thread(target=send, args=(c,)) for c in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Every event was answered 18 times, never rejected; each page view was accepted once.
    assert all(len(v) == CLIENTS * ROUNDS for v in verdicts.values())
    assert all(ingest_pb2.VERDICT_REJECTED not in v for v in verdicts.values())
    accepted = {event_id for event_id, v in verdicts.items() if ingest_pb2.VERDICT_ACCEPTED in v}
    assert all(v.count(ingest_pb2.VERDICT_ACCEPTED) <= 1 for v in verdicts.values())
    assert {e for e in verdicts if e.startswith("view-")} <= accepted
    # Purchases share an order id in pairs: one of each pair was accepted.
    purchases = sorted(e for e in accepted if e.startswith("buy-"))
    assert len(purchases) == 10
    assert len({int(e.split("-")[1]) // 20 for e in purchases}) == 10
    # The log holds each fact once.
    with grpc.insecure_channel(address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        entries = stub.ListEvents(
            ingest_pb2.ListEventsRequest(after=0, limit=1000), timeout=TIMEOUT
        ).entries
    assert len(entries) == 180 + 10
