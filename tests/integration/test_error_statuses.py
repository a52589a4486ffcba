"""What every server answers when a call fails outside the servicer's own checks: real servers,
real unreachable databases, raw garbage bytes."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from psycopg import sql

from common.grpc_errors import FieldProblem, abort_invalid, bad_request_of, retry_delay_of
from common.interceptors import RETRY_AFTER_SECONDS
from common.server import GrpcServer, RunningService
from common.storage import create_sql_engine
from convtrack.ingest.v1 import ingest_pb2_grpc
from services.ingest.server import IngestSettings, start
from tests.integration.helpers_ingest import touchpoint, track

FAULTS = "convtrack.test.v1.FaultService"
DEADLINE = 10.0
SECRET_TEXT = "SELECT secret FROM vault WHERE host = 'db.internal' AND port = 5432"
GARBAGE = [b"\xff\xff\xff\xff", b"garbage bytes", bytes(range(256))]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield int(bound.getsockname()[1])


def raise_secret(request: bytes, context: grpc.ServicerContext) -> bytes:
    raise RuntimeError(SECRET_TEXT)


def abort_not_found(request: bytes, context: grpc.ServicerContext) -> bytes:
    context.abort(grpc.StatusCode.NOT_FOUND, "no order o-1")


def abort_with_field(request: bytes, context: grpc.ServicerContext) -> bytes:
    abort_invalid(context, "invalid request", [FieldProblem("order_id", "is required")])
    raise AssertionError("abort_invalid returned")


def stream_then_raise(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    yield b"first"
    raise RuntimeError(SECRET_TEXT)


class FaultServer:
    """A real GrpcServer whose methods fail in chosen ways (raw bytes in and out)."""

    def __init__(self, extra: dict[str, Callable[[bytes, grpc.ServicerContext], Any]]) -> None:
        behaviours = {
            "Raise": raise_secret,
            "AbortNotFound": abort_not_found,
            "AbortWithField": abort_with_field,
            **extra,
        }
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(behaviour)
            for name, behaviour in behaviours.items()
        }
        handlers["StreamThenRaise"] = grpc.unary_stream_rpc_method_handler(stream_then_raise)

        def register(server: grpc.Server) -> None:
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(FAULTS, handlers),)
            )

        self.server = GrpcServer(listen="127.0.0.1:0", service_names=[FAULTS], register=register)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.server.port}")

    def call(self, method: str) -> grpc.RpcError:
        """Calls a method that must fail; returns its error."""
        with pytest.raises(grpc.RpcError) as caught:
            self.channel.unary_unary(f"/{FAULTS}/{method}")(b"", timeout=DEADLINE)
        return caught.value

    def close(self) -> None:
        self.channel.close()
        self.server.stop(0)


@pytest.fixture
def faults(closed_port: int, tmp_path: Path) -> Iterator[FaultServer]:
    """A fault server whose storage methods use databases that cannot be reached."""
    postgres = create_sql_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/db")
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    sqlite = create_sql_engine(f"sqlite:///{not_a_directory / 'store.db'}")
    peer = grpc.insecure_channel(f"127.0.0.1:{closed_port}")

    def query_postgres(request: bytes, context: grpc.ServicerContext) -> bytes:
        with postgres.connect():
            return b""

    def query_sqlite(request: bytes, context: grpc.ServicerContext) -> bytes:
        with sqlite.connect():
            return b""

    def call_peer(request: bytes, context: grpc.ServicerContext) -> bytes:
        response: bytes = peer.unary_unary(f"/{FAULTS}/Raise")(b"", timeout=2)
        return response

    server = FaultServer(
        {"QueryPostgres": query_postgres, "QuerySqlite": query_sqlite, "CallPeer": call_peer}
    )
    try:
        yield server
    finally:
        server.close()
        peer.close()
        postgres.dispose()
        sqlite.dispose()


def assert_nothing_leaks(error: grpc.RpcError, port: int | None = None) -> None:
    details = error.details() or ""
    for leak in ("SELECT", "secret", "db.internal", "5432", "127.0.0.1", "psycopg", "sqlite"):
        assert leak not in details, details
    if port is not None:
        assert str(port) not in details, details


@pytest.mark.parametrize("method", ["QueryPostgres", "QuerySqlite"])
def test_an_unreachable_database_answers_unavailable_with_a_retry_hint(
    faults: FaultServer, closed_port: int, method: str
) -> None:
    error = faults.call(method)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "retry" in (error.details() or "")
    assert retry_delay_of(error) == timedelta(seconds=RETRY_AFTER_SECONDS)
    assert_nothing_leaks(error, closed_port)


def test_an_unavailable_peer_service_answers_unavailable(
    faults: FaultServer, closed_port: int
) -> None:
    error = faults.call("CallPeer")
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert retry_delay_of(error) is not None
    assert_nothing_leaks(error, closed_port)


def test_an_unexpected_error_answers_internal_with_an_id_and_logs_its_traceback_once(
    faults: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    error = faults.call("Raise")
    assert error.code() == grpc.StatusCode.INTERNAL
    assert_nothing_leaks(error)
    found = re.search(r"error id ([0-9a-f]{16})", error.details() or "")
    assert found, error.details()
    logged = [r for r in caplog.records if found.group(1) in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert SECRET_TEXT in str(logged[0].exc_info[1])
    assert not [r for r in caplog.records if r.exc_info and r is not logged[0]]


def test_an_error_in_a_response_stream_answers_internal(faults: FaultServer) -> None:
    responses = faults.channel.unary_stream(f"/{FAULTS}/StreamThenRaise")(b"", timeout=DEADLINE)
    received = []
    with pytest.raises(grpc.RpcError) as caught:
        received.extend(responses)
    assert received == [b"first"]
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert_nothing_leaks(caught.value)


def test_a_servicers_own_abort_passes_untouched(faults: FaultServer) -> None:
    not_found = faults.call("AbortNotFound")
    invalid = faults.call("AbortWithField")
    assert (not_found.code(), not_found.details()) == (grpc.StatusCode.NOT_FOUND, "no order o-1")
    assert (invalid.code(), invalid.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid request",
    )
    assert [(p.field, p.description) for p in bad_request_of(invalid)] == [
        ("order_id", "is required")
    ]


@pytest.fixture
def ingest(tmp_path: Path) -> Iterator[RunningService]:
    """A real ingest server on SQLite."""
    service = start(
        IngestSettings(listen="127.0.0.1:0", database_url="", data_dir=tmp_path / "data")
    )
    try:
        yield service
    finally:
        service.stop(0)


def test_garbage_request_bytes_answer_invalid_argument_with_one_log_line(
    ingest: RunningService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with grpc.insecure_channel(f"127.0.0.1:{ingest.port}") as channel:
        unary = channel.unary_unary("/convtrack.ingest.v1.IngestService/TrackEvents")
        watch = channel.unary_stream("/grpc.health.v1.Health/Watch")
        reflect = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
        )
        calls: list[Callable[[bytes], object]] = [
            lambda garbage: unary(garbage, timeout=DEADLINE),
            lambda garbage: list(watch(garbage, timeout=DEADLINE)),
            lambda garbage: list(reflect(iter([garbage]), timeout=DEADLINE)),
        ]
        errors = []
        for _ in range(5):
            for call in calls:
                for garbage in GARBAGE:
                    with pytest.raises(grpc.RpcError) as caught:
                        call(garbage)
                    errors.append(caught.value)
    assert {e.code() for e in errors} == {grpc.StatusCode.INVALID_ARGUMENT}
    assert "TrackEvents" in (errors[0].details() or "")
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    about_garbage = [r for r in caplog.records if "parse" in r.getMessage()]
    assert len(about_garbage) == 1, [r.getMessage() for r in caplog.records]


def test_grpcios_own_error_logs_are_one_line_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def unserializable(message: bytes) -> bytes:
        raise TypeError(SECRET_TEXT)

    handlers = {
        "Unserializable": grpc.unary_unary_rpc_method_handler(
            lambda request, context: b"", response_serializer=unserializable
        )
    }

    def register(server: grpc.Server) -> None:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(FAULTS, handlers),))

    server = GrpcServer(listen="127.0.0.1:0", service_names=[FAULTS], register=register)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            call = channel.unary_unary(f"/{FAULTS}/Unserializable")
            for _ in range(5):
                with pytest.raises(grpc.RpcError) as caught:
                    call(b"", timeout=DEADLINE)
                assert caught.value.code() == grpc.StatusCode.INTERNAL
    finally:
        server.stop(0)
    from_grpc = [r for r in caplog.records if r.name.startswith("grpc.")]
    assert len(from_grpc) <= 1, [r.getMessage() for r in from_grpc]
    assert not [r for r in from_grpc if r.exc_info or "Traceback" in r.getMessage()]


@pytest.mark.postgres
def test_a_store_that_hangs_before_the_write_answers_unavailable_before_the_deadline(
    postgres_database: str, tmp_path: Path
) -> None:
    # Another session locks ingest's events table, so the lookup of already stored events,
    # which runs before the group commit, hangs. The call must still answer UNAVAILABLE in
    # time, not DEADLINE_EXCEEDED.
    service = start(
        IngestSettings(
            listen="127.0.0.1:0",
            identity_addr="",
            database_url=postgres_database,
            data_dir=tmp_path / "data",
        )
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{service.port}")
    stub = ingest_pb2_grpc.IngestServiceStub(channel)
    try:
        track(stub, [touchpoint("before-the-lock")])
        with psycopg.connect(postgres_database) as locker:
            tables = locker.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'ingest' AND table_name LIKE '%events'"
            ).fetchall()
            for (table,) in tables:
                locker.execute(
                    sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                        sql.Identifier("ingest", table)
                    )
                )
            with pytest.raises(grpc.RpcError) as raised:
                track(stub, [touchpoint("while-locked")], timeout=4.0)
            locker.rollback()
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, raised.value.details()
        assert retry_delay_of(raised.value) == timedelta(seconds=RETRY_AFTER_SECONDS)
    finally:
        channel.close()
        service.stop(0)
