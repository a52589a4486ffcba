"""Starting the services together in one process, and waiting until their logs are in sync."""

from __future__ import annotations

import importlib
import os
import random
import socket
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from common.audit import open_audit_log
from common.channels import open_channel
from common.server import PortInUseError, RunningService, stop_services
from common.settings import INSECURE_REMOTE_SETTING, TlsSettings, tls_settings
from common.telemetry import Telemetry
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import SERVICES

CALL_TIMEOUT = 10.0
PORT_ATTEMPTS = 5


@dataclass(frozen=True)
class Addresses:
    """Where each service listens; `internal` holds the internal ports' addresses (client
    certificates required) of the services that have one."""

    ingest: str
    identity: str
    attribution: str
    reporting: str
    internal: Mapping[str, str] = field(default_factory=dict)


# Each service's composition root and settings class, imported only when that service starts,
# so that running one service imports none of the others.
_SERVERS = {
    "ingest": ("services.ingest.server", "IngestSettings"),
    "identity": ("services.identity.server", "IdentitySettings"),
    "attribution": ("services.attribution.server", "AttributionSettings"),
    "reporting": ("services.reporting.server", "ReportingSettings"),
}
PEERS = {
    "ingest": ("identity",),
    "identity": ("ingest",),
    "attribution": ("ingest", "identity"),
    "reporting": ("attribution", "ingest", "identity"),
}


def server(name: str) -> tuple[ModuleType, Any]:
    """A service's server module (its composition root) and settings class, imported now."""
    if name not in _SERVERS:
        raise ValueError(f"unknown service {name!r}; choose one of {', '.join(SERVICES)}")
    module_name, settings_name = _SERVERS[name]
    module = importlib.import_module(module_name)
    return module, getattr(module, settings_name)


def start_one(
    name: str,
    env: Mapping[str, str],
    overrides: Mapping[str, str] | None = None,
    telemetry: Telemetry | None = None,
) -> RunningService:
    """Starts one service configured from `env` (and settings `overrides`, for tests), with
    telemetry configured from the environment unless given."""
    server_module, settings_class = server(name)
    settings = replace(settings_class.from_env(env), **(overrides or {}))
    service: RunningService = server_module.start(
        settings, telemetry or Telemetry.for_service(f"convtrack-{name}")
    )
    return service


def start_all(
    env: Mapping[str, str],
    *,
    any_port: bool = False,
    telemetry_for: Callable[[str], Telemetry] | None = None,
) -> tuple[list[RunningService], Addresses]:
    """Starts the four services in one process, upstream first.

    With `any_port`, each listens on a free loopback port chosen up front (ingest and identity
    follow each other's logs, so every address must be known before the first starts), and
    on a second one as its internal port when it has TLS, and its peers are pointed at it
    (for demos and tests); a port taken by another process in the meantime means starting
    again on other ports. Otherwise the `*_LISTEN` / `*_ADDR` settings apply.
    """
    attempts = PORT_ATTEMPTS if any_port else 1
    for attempt in range(1, attempts + 1):
        try:
            return _start_all_once(env, any_port=any_port, telemetry_for=telemetry_for)
        except PortInUseError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _start_all_once(
    env: Mapping[str, str],
    *,
    any_port: bool,
    telemetry_for: Callable[[str], Telemetry] | None,
) -> tuple[list[RunningService], Addresses]:
    running: list[RunningService] = []
    if any_port:
        env = {**env, **loopback_ports(env)}
    addresses: dict[str, str] = {}
    internal: dict[str, str] = {}
    try:
        for name in SERVICES:
            service = start_one(name, env, telemetry=telemetry_for(name) if telemetry_for else None)
            running.append(service)
            addresses[name] = f"127.0.0.1:{service.port}"
            if service.internal_port is not None:
                internal[name] = f"127.0.0.1:{service.internal_port}"
    except BaseException:
        stop_all(running)
        raise
    return running, Addresses(**addresses, internal=internal)


def loopback_ports(env: Mapping[str, str]) -> dict[str, str]:
    """Settings that put every service on a free loopback port, with an internal port for each
    service configured with TLS, and point every service's peers at them."""
    chosen: dict[str, str] = {}
    taken: set[int] = set()
    for name in SERVICES:
        prefix = name.upper()
        port = free_loopback_port(exclude=taken)
        taken.add(port)
        chosen[f"{prefix}_LISTEN"] = chosen[f"{prefix}_ADDR"] = f"127.0.0.1:{port}"
        if tls_settings(env, name) is not None:
            internal = free_loopback_port(exclude=taken)
            taken.add(internal)
            chosen[f"{prefix}_INTERNAL_LISTEN"] = chosen[f"{prefix}_INTERNAL_ADDR"] = (
                f"127.0.0.1:{internal}"
            )
    return chosen


def _ephemeral_port_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' ports (Linux; a common default elsewhere)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


LOOPBACK_PORTS_SETTING = "CONVTRACK_LOOPBACK_PORTS"


def free_loopback_port(exclude: Collection[int] = ()) -> int:
    """A loopback port that is free now (and not in `exclude`), for a server that binds it
    moments later.

    It is picked below the kernel's ephemeral range, so that outgoing connections (which
    take ephemeral ports) cannot take it between now and the bind, nor while a test
    restarts a service on the same port. `CONVTRACK_LOOPBACK_PORTS=LOW-HIGH` narrows the
    choice, so that processes running side by side (parallel test workers) never pick
    each other's ports.
    """
    candidates = [port for port in _loopback_port_candidates() if port not in exclude]
    for port in random.sample(candidates, min(50, len(candidates))):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in exclude:
            return port


def _loopback_port_candidates() -> range:
    chosen = os.environ.get(LOOPBACK_PORTS_SETTING, "").strip()
    if chosen:
        low_text, _, high_text = chosen.partition("-")
        try:
            low, high = int(low_text), int(high_text)
        except ValueError as error:
            raise ValueError(
                f"{LOOPBACK_PORTS_SETTING} must be LOW-HIGH (port numbers), not {chosen!r}"
            ) from error
        return range(max(1024, low), min(65535, high) + 1)
    return default_loopback_ports()


def default_loopback_ports() -> range:
    """The ports `free_loopback_port` picks from by default: 12,000 below the kernel's
    ephemeral range."""
    low, _ = _ephemeral_port_range()
    return range(max(1024, low - 12_000), low) if low > 2048 else range(0)


def migrate(env: Mapping[str, str]) -> list[str]:
    """Creates every service's schema and tables once (run before starting replicas with
    `CONVTRACK_CREATE_TABLES=n`, since PostgreSQL DDL from several processes at once fails),
    and moves secrets out of the databases; returns notes for the operator. It serves
    nothing, so a listen address off loopback without TLS (the image's default) is no reason
    to refuse: the migrate Job has no certificates."""
    env = {**env, INSECURE_REMOTE_SETTING: "1"}
    for name in ("ingest", "identity", "attribution"):
        server_module, settings_class = server(name)
        settings = replace(settings_class.from_env(env), create_tables=True)
        server_module.build_application(settings).close()
        open_audit_log(server_module.database_of(settings)).close()
    reporting_server, reporting_settings = server("reporting")
    reporting_server.migrate(reporting_settings.from_env(env))
    ingest_server, ingest_settings = server("ingest")
    note = ingest_server.move_legacy_secret(ingest_settings.from_env(env))
    return [note] if note else []


def stop_all(running: list[RunningService], grace: float = 5.0) -> None:
    """Stops the services, downstream first."""
    stop_services(running, grace)


def _positions(response: object) -> dict[str, int]:
    return {u.upstream: u.position for u in getattr(response, "upstreams", [])}


def wait_for_sync(
    addresses: Addresses,
    timeout: float = 120.0,
    poll: float = 0.2,
    tls: TlsSettings | None = None,
    api_key: str | None = None,
) -> None:
    """Blocks until every consumer has processed everything its upstreams hold, asking each
    service's main port (over TLS with `tls` when given) for log heads and sync status.

    With authentication on, those RPCs need `api_key`, an admin key for every property (or a
    peer service's certificate, on an internal port): an operator waits with the admin key.
    Calls wait for their service to be reachable (each within CALL_TIMEOUT): a channel to a
    service that another channel found down moments ago shares its connection backoff.
    Raises TimeoutError after `timeout` seconds.
    """
    metadata: tuple[tuple[str, str | bytes], ...] | None = (
        (("authorization", f"Bearer {api_key}"),) if api_key else None
    )
    channels = {name: open_channel(str(getattr(addresses, name)), tls) for name in SERVICES}
    try:
        ingest = ingest_pb2_grpc.IngestServiceStub(channels["ingest"])
        identity = identity_pb2_grpc.IdentityServiceStub(channels["identity"])
        attribution = attribution_pb2_grpc.AttributionServiceStub(channels["attribution"])
        reporting = reporting_pb2_grpc.ReportingServiceStub(channels["reporting"])
        deadline = time.monotonic() + timeout
        while True:
            heads = {
                "ingest": ingest.GetLogHead(
                    ingest_pb2.GetLogHeadRequest(),
                    timeout=CALL_TIMEOUT,
                    wait_for_ready=True,
                    metadata=metadata,
                ).position
            }
            identity_at = _positions(
                identity.GetSyncStatus(
                    identity_pb2.GetSyncStatusRequest(),
                    timeout=CALL_TIMEOUT,
                    wait_for_ready=True,
                    metadata=metadata,
                )
            )
            heads["identity"] = identity.GetLogHead(
                identity_pb2.GetLogHeadRequest(),
                timeout=CALL_TIMEOUT,
                wait_for_ready=True,
                metadata=metadata,
            ).position
            attribution_at = _positions(
                attribution.GetSyncStatus(
                    attribution_pb2.GetSyncStatusRequest(),
                    timeout=CALL_TIMEOUT,
                    wait_for_ready=True,
                    metadata=metadata,
                )
            )
            heads["attribution"] = attribution.GetLogHead(
                attribution_pb2.GetLogHeadRequest(),
                timeout=CALL_TIMEOUT,
                wait_for_ready=True,
                metadata=metadata,
            ).position
            reporting_at = _positions(
                reporting.GetSyncStatus(
                    reporting_pb2.GetSyncStatusRequest(),
                    timeout=CALL_TIMEOUT,
                    wait_for_ready=True,
                    metadata=metadata,
                )
            )
            if (
                identity_at.get("ingest", 0) >= heads["ingest"]
                and attribution_at.get("ingest", 0) >= heads["ingest"]
                and attribution_at.get("identity", 0) >= heads["identity"]
                and reporting_at.get("attribution", 0) >= heads["attribution"]
                and reporting_at.get("ingest", 0) >= heads["ingest"]
                and reporting_at.get("identity", 0) >= heads["identity"]
            ):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"services not in sync after {timeout:.0f}s: heads {heads}, identity "
                    f"{identity_at}, attribution {attribution_at}, reporting {reporting_at}"
                )
            time.sleep(poll)
    finally:
        for channel in channels.values():
            channel.close()
