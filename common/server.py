"""A gRPC server with health, reflection, tracing and graceful shutdown, shared by all services."""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import filters, server_interceptor
from opentelemetry.sdk.trace import TracerProvider

from common.follower import Follower
from common.health import LIVENESS, Readiness
from common.interceptors import ErrorStatusInterceptor, limit_grpc_logs
from common.settings import PLAINTEXT, TransportSettings
from common.tls import TlsMaterial

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8 * 1024 * 1024
# Responses may be larger than requests: a log page always carries at least one entry, so the
# largest entry a producer may write must fit (clients reading logs raise their limit to match).
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
SERVER_WORKERS = 16
HEALTH_WORKERS = 2
# A supervisor that starts a service process (services/ingest/workers.py) passes it the write
# end of a pipe in this variable; the process writes READY_LINE to it once it serves.
READY_FD = "CONVTRACK_READY_FD"
READY_LINE = b"ready\n"


class PortInUseError(OSError):
    """The listen address could not be bound (another process holds the port)."""


class GrpcServer:
    """A started gRPC server serving some services, with their health status.

    `port` is the bound port, so tests can listen on `127.0.0.1:0`. Every call passes
    through tracing (outermost), then `ErrorStatusInterceptor` (errors the servicer did not
    answer become UNAVAILABLE, INVALID_ARGUMENT or INTERNAL without leaking their text),
    then `interceptors` (for authentication, rate limits: what they abort with passes
    through), then the servicer.

    With `max_concurrent_rpcs`, calls beyond that many in progress (running or waiting for a
    worker) are refused by grpcio at once with RESOURCE_EXHAUSTED, instead of queueing for a
    worker without bound.

    Health: each full service name (and the overall name "") is the readiness answer,
    SERVING from the start unless `ready_at_start` is false (then `set_ready` decides);
    `liveness` is SERVING until the server stops.

    Ports (`transport`): the main port `listen` uses TLS when configured (unless
    `plaintext_main`), without asking for client certificates; `internal_listen` (TLS only)
    serves the same services but requires a client certificate signed by the CA
    (`internal_port`); `health_listen` is a second, plaintext server with only
    grpc.health.v1 and the same statuses (`health_port`).
    With `reuse_port`, every port is bound with SO_REUSEPORT, so that several worker
    processes serve one port (the kernel spreads connections among them); without it a port
    another process holds is refused (PortInUseError).
    """

    def __init__(
        self,
        *,
        listen: str,
        service_names: Sequence[str],
        register: Callable[[grpc.Server], None],
        tracer_provider: TracerProvider | None = None,
        interceptors: Sequence[grpc.ServerInterceptor[Any, Any]] = (),
        max_workers: int = SERVER_WORKERS,
        max_concurrent_rpcs: int | None = None,
        ready_at_start: bool = True,
        transport: TransportSettings = PLAINTEXT,
        reuse_port: bool = False,
    ) -> None:
        chain: list[grpc.ServerInterceptor[Any, Any]] = []
        if tracer_provider is not None:
            chain.append(
                server_interceptor(
                    tracer_provider=tracer_provider,
                    filter_=filters.negate(filters.health_check()),
                )
            )
        chain.append(ErrorStatusInterceptor())
        chain.extend(interceptors)
        limit_grpc_logs()
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
            interceptors=chain,
            maximum_concurrent_rpcs=max_concurrent_rpcs,
            options=[
                ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
                ("grpc.max_send_message_length", MAX_RESPONSE_BYTES),
                ("grpc.so_reuseport", int(reuse_port)),
            ],
        )
        register(self._server)
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        self._service_names = list(service_names)
        self._stopping = False
        reflection.enable_server_reflection(
            [*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server
        )
        tls = TlsMaterial.read(transport.tls) if transport.tls is not None else None
        if tls is None or transport.plaintext_main:
            self.port = _bind(listen, self._server.add_insecure_port)
        else:
            credentials = tls.server_credentials(require_client_auth=False)
            self.port = _bind(listen, lambda a: self._server.add_secure_port(a, credentials))
        self.internal_port: int | None = None
        if transport.internal_listen:
            if tls is None:
                raise ValueError("an internal port needs TLS")
            internal = tls.server_credentials(require_client_auth=True)
            self.internal_port = _bind(
                transport.internal_listen, lambda a: self._server.add_secure_port(a, internal)
            )
        self.health_port: int | None = None
        self._health_server: grpc.Server | None = None
        if transport.health_listen:
            self._health_server = grpc.server(
                futures.ThreadPoolExecutor(
                    max_workers=HEALTH_WORKERS, thread_name_prefix="grpc-health"
                ),
                options=[("grpc.so_reuseport", int(reuse_port))],
            )
            health_pb2_grpc.add_HealthServicer_to_server(self._health, self._health_server)
            self.health_port = _bind(transport.health_listen, self._health_server.add_insecure_port)
        self.set_ready(ready_at_start)
        self._health.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        self._server.start()
        if self._health_server is not None:
            self._health_server.start()
        logger.info(
            "serving %s on port %d (%s)%s%s",
            ",".join(self._service_names),
            self.port,
            "TLS" if transport.main_tls is not None else "plaintext",
            f", internal port {self.internal_port} (client certificates required)"
            if self.internal_port is not None
            else "",
            f", health port {self.health_port}" if self.health_port is not None else "",
        )

    def set_ready(self, ready: bool) -> None:
        """Sets the readiness status of every service on this server (and the overall one)."""
        if self._stopping:
            return
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self._service_names]:
            self._health.set(name, status)

    def set_stopping(self) -> None:
        """Reports NOT_SERVING on every name, liveness too, for good."""
        self.set_ready(False)
        self._stopping = True
        self._health.set(LIVENESS, health_pb2.HealthCheckResponse.NOT_SERVING)

    def stop(self, grace: float = 5.0) -> None:
        """Reports NOT_SERVING, then stops accepting calls and lets running ones finish."""
        self.set_stopping()
        self._server.stop(grace).wait(grace + 1)
        if self._health_server is not None:
            self._health_server.stop(0).wait(1)

    def wait(self) -> None:
        """Blocks until the server stops."""
        self._server.wait_for_termination()


def _bind(address: str, add_port: Callable[[str], int]) -> int:
    """Binds a port with `add_port`; the bound port number, or `PortInUseError`."""
    try:
        port = add_port(address)
    except RuntimeError as error:
        raise PortInUseError(f"cannot listen on {address}") from error
    if port == 0:
        raise PortInUseError(f"cannot listen on {address}")
    return port


class RunningService:
    """A started service: its gRPC server, its log followers and what must be closed.

    `interrupts` cut waits short when stopping (closing peer channels ends followers'
    long polls; waking the log readers ends downstream long polls on this server).
    `readiness`, when given, decides the server's readiness status from then on.
    """

    def __init__(
        self,
        name: str,
        server: GrpcServer,
        *,
        followers: Sequence[Follower[Any]] = (),
        interrupts: Sequence[Callable[[], None]] = (),
        closers: Sequence[Callable[[], None]] = (),
        readiness: Readiness | None = None,
    ) -> None:
        self.name = name
        self.server = server
        self.followers = list(followers)
        self._interrupts = list(interrupts)
        self._closers = list(closers)
        self._stopped = False
        self._readiness = readiness
        for follower in self.followers:
            follower.start()
        if readiness is not None:
            readiness.start(server.set_ready)

    @property
    def port(self) -> int:
        """The bound port."""
        return self.server.port

    @property
    def internal_port(self) -> int | None:
        """The bound internal port (client certificates required), when there is one."""
        return self.server.internal_port

    @property
    def health_port(self) -> int | None:
        """The bound plaintext health port, when there is one."""
        return self.server.health_port

    def stop(self, grace: float = 5.0) -> None:
        """Graceful shutdown: NOT_SERVING, stop followers, drain calls, close stores."""
        if self._stopped:
            return
        self._stopped = True
        self.server.set_stopping()
        if self._readiness is not None:
            self._readiness.stop()
        for follower in self.followers:
            follower.request_stop()
        for interrupt in self._interrupts:
            interrupt()
        for follower in self.followers:
            follower.stop()
        self.server.stop(grace)
        for close in self._closers:
            close()
        logger.info("stopped %s", self.name)


YOUNG_GENERATION_THRESHOLD = 100_000
"""Allocations between two collections of the young generation (Python's default is 700)."""


def tune_garbage_collector() -> None:
    """Collects the young generation every 100,000 allocations instead of every 700 in a
    service process: a consumer that keeps tens of thousands of aggregates cached otherwise
    spends ~10% of its CPU in the collector while catching up (docs/benchmarks.md). Older
    generations keep their thresholds; cyclic garbage still goes, a little later."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)


def stop_requested_by_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT; install it before starting services."""
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        logger.info("received signal %d, shutting down", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop


def tell_supervisor_ready(env: Mapping[str, str]) -> None:
    """Tells the supervisor that started this process (when one did) that it serves."""
    fd = env.get(READY_FD, "")
    if not fd.isdigit():
        return
    try:
        os.write(int(fd), READY_LINE)
        os.close(int(fd))
    except OSError as error:
        logger.warning("could not tell the supervisor this process serves: %s", error)


def serve_until(
    stop: threading.Event, services: Sequence[RunningService], grace: float = 5.0
) -> None:
    """Blocks until `stop` is set, then stops the services gracefully, downstream first."""
    stop.wait()
    stop_services(services, grace)


def stop_services(services: Sequence[RunningService], grace: float = 5.0) -> None:
    """Stops services, the last started first, after asking every follower to stop (so none
    of them reads from a peer that has just gone)."""
    for service in services:
        for follower in service.followers:
            follower.request_stop()
    for service in reversed(services):
        service.stop(grace)
