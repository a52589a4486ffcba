"""How producers serve their logs over gRPC: pages bounded in bytes, ListEvents requests
checked at the edge, long polls that leave threads for writes, and attribution's entries
without a reporting event served as decoding them would; on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2

from common.grpc_errors import bad_request_of
from common.server import RunningService
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services import launcher
from services.attribution.server import AttributionSettings, build_application
from services.attribution.servicer import log_entry
from tests.conftest import Storage
from tests.integration.helpers_ingest import (
    DEADLINE,
    conversion,
    log_head,
    seconds,
    touchpoint,
    track,
    wait_until,
)

LARGE_EVENTS = 600
LARGE_URL_BYTES = 28_000
BATCH = 100
WAITING_READERS = 50


def _env(storage: Storage) -> dict[str, str]:
    env = {"CONVTRACK_DATA_DIR": str(storage.data_dir)}
    if storage.database_url:
        env["CONVTRACK_DATABASE_URL"] = storage.database_url
        env["CONVTRACK_ALLOW_GENERATED_SECRETS"] = "1"
    return env


def _address(service: RunningService) -> str:
    return f"127.0.0.1:{service.port}"


@dataclass
class Producers:
    """The three producers (and reporting, so that every log has its consumer) on one storage."""

    running: list[RunningService]
    addresses: launcher.Addresses
    stubs: dict[str, Any]


@pytest.fixture
def producers(storage: Storage) -> Iterator[Producers]:
    """Every service started in-process, with a client stub per producer."""
    running, addresses = launcher.start_all(_env(storage), any_port=True)
    channels = {name: grpc.insecure_channel(getattr(addresses, name)) for name in PRODUCERS}
    try:
        yield Producers(
            running,
            addresses,
            {name: PRODUCERS[name][1](channels[name]) for name in PRODUCERS},
        )
    finally:
        for channel in channels.values():
            channel.close()
        launcher.stop_all(running, grace=0)


PRODUCERS: dict[str, tuple[Any, Any]] = {
    "ingest": (ingest_pb2, ingest_pb2_grpc.IngestServiceStub),
    "identity": (identity_pb2, identity_pb2_grpc.IdentityServiceStub),
    "attribution": (attribution_pb2, attribution_pb2_grpc.AttributionServiceStub),
}

BAD_REQUESTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("after_at_2_to_the_63", {"after": 2**63}, "after", "at most 9223372036854775807"),
    ("after_at_the_uint64_limit", {"after": 2**64 - 1}, "after", "at most"),
    ("limit_over_1000", {"limit": 1001}, "limit", "between 0 and 1000"),
    ("limit_at_the_uint32_limit", {"limit": 2**32 - 1}, "limit", "between 0 and 1000"),
    ("negative_max_wait", {"max_wait": duration_pb2.Duration(seconds=-1)}, "max_wait", "negative"),
    (
        "negative_max_wait_nanos",
        {"max_wait": duration_pb2.Duration(nanos=-5)},
        "max_wait",
        "negative",
    ),
    ("max_wait_over_30_s", {"max_wait": seconds(31)}, "max_wait", "at most 30 s"),
    (
        "max_wait_overflowing_a_timedelta",
        {"max_wait": duration_pb2.Duration(seconds=2**62)},
        "max_wait",
        "at most 30 s",
    ),
    (
        "max_wait_nanos_of_a_whole_second",
        {"max_wait": duration_pb2.Duration(nanos=1_000_000_000)},
        "max_wait.nanos",
        "below 1000000000",
    ),
]


def _refusal(stub: Any, request: Any) -> tuple[str, str, str]:
    """The status code, field and reason of a refused ListEvents call."""
    try:
        stub.ListEvents(request, timeout=DEADLINE)
    except grpc.RpcError as error:
        problems = bad_request_of(error)
        field, reason = (problems[0].field, problems[0].description) if problems else ("", "")
        return error.code().name, field, reason
    return "OK", "", ""


def test_invalid_list_events_requests_are_refused_naming_the_field(producers: Producers) -> None:
    wrong = []
    for producer, (module, _) in PRODUCERS.items():
        for name, fields, field, reason in BAD_REQUESTS:
            code, got_field, got_reason = _refusal(
                producers.stubs[producer], module.ListEventsRequest(**fields)
            )
            if (code, got_field) != ("INVALID_ARGUMENT", field) or reason not in got_reason:
                wrong.append(f"{producer} {name}: {code} {got_field!r} {got_reason!r}")
    assert wrong == []


def test_the_edges_of_the_valid_ranges_are_accepted(producers: Producers) -> None:
    for producer, (module, _) in PRODUCERS.items():
        stub = producers.stubs[producer]
        for request in [
            module.ListEventsRequest(after=2**63 - 1, limit=1000, max_wait=seconds(0)),
            module.ListEventsRequest(after=0, limit=1, max_wait=duration_pb2.Duration(nanos=1)),
        ]:
            stub.ListEvents(request, timeout=DEADLINE)


def _large_touchpoints(count: int) -> list[ingest_pb2.Event]:
    """Valid touchpoints of about 28 KB each (a long landing URL), from 20 visitors."""
    padding = "x" * LARGE_URL_BYTES
    return [
        touchpoint(
            f"large-{i}",
            landing_url=f"https://shop.example/landing?i={i}&pad={padding}",
        )
        for i in range(count)
    ]


def test_consumers_started_after_600_large_events_catch_up_fully(storage: Storage) -> None:
    env = _env(storage)
    # Ingest alone receives 600 valid events of about 28 KB (some 17 MB in all).
    ingest = launcher.start_one("ingest", env, {"listen": "127.0.0.1:0", "identity_addr": ""})
    running = [ingest]
    try:
        with grpc.insecure_channel(_address(ingest)) as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            events = _large_touchpoints(LARGE_EVENTS)
            for start in range(0, LARGE_EVENTS, BATCH):
                response = track(stub, events[start : start + BATCH])
                assert response.accepted_count == BATCH, response
            assert events[0].ByteSize() > LARGE_URL_BYTES

            # Pages read from the start hold fewer than the 500 entries asked for, within
            # gRPC's default 4 MiB receive limit, and together the whole log in order.
            positions: list[int] = []
            after = 0
            while page := stub.ListEvents(
                ingest_pb2.ListEventsRequest(after=after, limit=500), timeout=DEADLINE
            ).entries:
                assert len(page) < 500
                positions.extend(e.position for e in page)
                after = page[-1].position
            assert len(positions) == LARGE_EVENTS
            assert positions == sorted(positions)
            head = log_head(stub)

        # Identity, attribution and reporting start afterwards and catch up completely.
        identity = launcher.start_one(
            "identity", env, {"listen": "127.0.0.1:0", "ingest_addr": _address(ingest)}
        )
        running.append(identity)
        attribution = launcher.start_one(
            "attribution",
            env,
            {
                "listen": "127.0.0.1:0",
                "ingest_addr": _address(ingest),
                "identity_addr": _address(identity),
            },
        )
        running.append(attribution)
        reporting = launcher.start_one(
            "reporting",
            env,
            {
                "listen": "127.0.0.1:0",
                "attribution_addr": _address(attribution),
                "ingest_addr": _address(ingest),
                "identity_addr": _address(identity),
            },
        )
        running.append(reporting)
        addresses = launcher.Addresses(*(_address(s) for s in running))
        launcher.wait_for_sync(addresses, timeout=120)

        with grpc.insecure_channel(addresses.attribution) as channel:
            status = attribution_pb2_grpc.AttributionServiceStub(channel).GetSyncStatus(
                attribution_pb2.GetSyncStatusRequest(), timeout=DEADLINE
            )
        assert {u.upstream: u.position for u in status.upstreams}["ingest"] == head
    finally:
        launcher.stop_all(running, grace=0)


def test_fifty_waiting_long_polls_leave_threads_for_track_events(storage: Storage) -> None:
    ingest = launcher.start_one(
        "ingest", _env(storage), {"listen": "127.0.0.1:0", "identity_addr": ""}
    )
    try:
        with grpc.insecure_channel(_address(ingest)) as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            track(stub, [touchpoint("before")])
            head = log_head(stub)

            # Fifty readers wait at the head of the log for up to 10 s each.
            waits = [
                stub.ListEvents.future(
                    ingest_pb2.ListEventsRequest(after=head, max_wait=seconds(10)),
                    timeout=30,
                )
                for _ in range(WAITING_READERS)
            ]
            settle_until = time.monotonic() + 5
            while sum(w.done() for w in waits) < WAITING_READERS // 2:
                if time.monotonic() > settle_until:
                    break
                time.sleep(0.05)

            # A write is still answered at once (before: only when the waits ran out).
            started = time.monotonic()
            response = track(stub, [touchpoint("meanwhile")], timeout=40)
            elapsed = time.monotonic() - started
            assert response.accepted_count == 1
            assert elapsed < 2.0, f"TrackEvents took {elapsed:.2f}s behind {WAITING_READERS} polls"

            # Every reader got an answer: the event, or an empty page at once.
            answers = [list(w.result(timeout=DEADLINE).entries) for w in waits]
            assert all(len(entries) <= 1 for entries in answers)
            assert any(entries for entries in answers)
    finally:
        ingest.stop(0)


def _attribution_log(stub: attribution_pb2_grpc.AttributionServiceStub) -> list[Any]:
    entries: list[Any] = []
    while page := stub.ListEvents(
        attribution_pb2.ListEventsRequest(after=entries[-1].position if entries else 0),
        timeout=DEADLINE,
    ).entries:
        entries.extend(page)
    return entries


def test_attributions_log_serves_each_entry_as_its_decoded_event_gives_it(
    storage: Storage,
) -> None:
    env = _env(storage)
    running, addresses = launcher.start_all(env, any_port=True)
    try:
        with (
            grpc.insecure_channel(addresses.ingest) as ingest_channel,
            grpc.insecure_channel(addresses.attribution) as attribution_channel,
        ):
            ingest = ingest_pb2_grpc.IngestServiceStub(ingest_channel)
            attribution = attribution_pb2_grpc.AttributionServiceStub(attribution_channel)
            # Touchpoints and conversions of two visitors: attribution stores visitors',
            # persons' and conversions' bookkeeping events beside the attributions.
            events = []
            for visitor in ("anon-1", "anon-2"):
                identity = ingest_pb2.Identity(anonymous_id=visitor)
                events += [
                    touchpoint(
                        f"{visitor}-t1",
                        landing_url="https://shop.example/?utm_source=g&utm_medium=cpc",
                    ),
                    touchpoint(f"{visitor}-t2", referrer="https://news.example/a"),
                    conversion(f"{visitor}-c1", identity=identity),
                ]
                for event in events[-3:]:
                    event.identity.CopyFrom(identity)
            assert track(ingest, events).accepted_count == len(events)

            def attributed() -> list[Any]:
                return [
                    e
                    for e in _attribution_log(attribution)
                    if e.WhichOneof("event") == "conversion_attributed"
                ]

            wait_until(lambda: len(attributed()) == 2)
            served = _attribution_log(attribution)
    finally:
        launcher.stop_all(running, grace=0)
    kinds = [e.WhichOneof("event") for e in served]
    assert kinds.count(None) > kinds.count("conversion_attributed") == 2
    assert "settings_changed" in kinds
    # Every entry is the one its stored event, decoded, gives.
    app = build_application(AttributionSettings.from_env(env))
    try:
        stored = app.read_log(0, 1000)
    finally:
        app.close()
    assert served == [log_entry(r.position, r.event) for r in stored][: len(served)]
