"""Running the services as real OS processes, as a user would, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from convtrack.attribution.v1 import attribution_pb2
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2
from services import SERVICES
from services.launcher import Addresses, free_loopback_port

REPO_ROOT = Path(__file__).resolve().parents[2]

SERVICE_NAMES = {
    "ingest": ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name,
    "identity": identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name,
    "attribution": attribution_pb2.DESCRIPTOR.services_by_name["AttributionService"].full_name,
    "reporting": reporting_pb2.DESCRIPTOR.services_by_name["ReportingService"].full_name,
}

# Settings that must come from the test, never from the environment pytest runs in.
_OWN_SETTINGS = ("CONVTRACK_", "INGEST_", "IDENTITY_", "ATTRIBUTION_", "REPORTING_")

READY_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0


def wait_until_serving(address: str, service: str, timeout: float = READY_TIMEOUT) -> None:
    """Blocks until `service` at `address` answers its gRPC health check with SERVING."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                status = stub.Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=1.0
                ).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
            except grpc.RpcError as error:
                last = error.code().name
            time.sleep(0.1)
    raise TimeoutError(f"{service} at {address} not SERVING after {timeout:.0f}s ({last})")


class ServiceProcess:
    """One service run as `python -m services.<name>`, its stderr appended to a log file."""

    def __init__(self, name: str, port: int, env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.port = port
        self.env = dict(env)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def address(self) -> str:
        """Where the service listens."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The running process's id."""
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def start(self) -> None:
        """Starts the process (again); does not wait for it to be ready."""
        assert self.process is None or self.process.poll() is not None, f"{self.name} runs"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts} of {self.name} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"],
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Blocks until the service is SERVING; fails early if the process exits."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.returncode
            if code is not None:
                raise RuntimeError(f"{self.name} exited with {code} while starting")
            try:
                wait_until_serving(self.address, SERVICE_NAMES[self.name], timeout=1.0)
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise

    @property
    def returncode(self) -> int | None:
        """The exit code, or None while it runs."""
        return None if self.process is None else self.process.poll()

    def signal(self, signum: int) -> None:
        """Sends a signal to the process, by its id."""
        assert self.process is not None
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def wait(self, timeout: float = EXIT_TIMEOUT) -> int:
        """Waits for the process to exit; returns its exit code."""
        assert self.process is not None
        return self.process.wait(timeout)

    def kill_leftover(self) -> None:
        """SIGKILLs the process if it still runs, and reaps it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def log_text(self) -> str:
        """Everything the process wrote so far."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")


class ServiceCluster:
    """The four services as processes on fixed free ports, peers pointed at each other.

    A context manager: on leaving it every process still running is killed; when the body
    raised, every service's log is printed (pytest shows it with the failure).
    """

    def __init__(self, storage_env: Mapping[str, str], log_dir: Path) -> None:
        ports: dict[str, int] = {}
        for name in SERVICES:
            ports[name] = free_loopback_port(exclude=ports.values())
        env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_SETTINGS)}
        env.update(storage_env)
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                # On PostgreSQL ingest generates its vault secret into the data directory.
                "CONVTRACK_ALLOW_GENERATED_SECRETS": "1",
                "INGEST_LISTEN": f"127.0.0.1:{ports['ingest']}",
                "IDENTITY_LISTEN": f"127.0.0.1:{ports['identity']}",
                "ATTRIBUTION_LISTEN": f"127.0.0.1:{ports['attribution']}",
                "REPORTING_LISTEN": f"127.0.0.1:{ports['reporting']}",
                "INGEST_ADDR": f"127.0.0.1:{ports['ingest']}",
                "IDENTITY_ADDR": f"127.0.0.1:{ports['identity']}",
                "ATTRIBUTION_ADDR": f"127.0.0.1:{ports['attribution']}",
            }
        )
        log_dir.mkdir(parents=True, exist_ok=True)
        self.services = {
            name: ServiceProcess(name, ports[name], env, log_dir / f"{name}.stderr.log")
            for name in SERVICES
        }

    def free_port(self) -> int:
        """A free loopback port for another process, none of the cluster's own (a stopped
        service's port is free but will be wanted again)."""
        return free_loopback_port(exclude=[s.port for s in self.services.values()])

    @property
    def addresses(self) -> Addresses:
        """The services' addresses, for `launcher.wait_for_sync` and clients."""
        found = {name: s.address for name, s in self.services.items()}
        return Addresses(
            ingest=found["ingest"],
            identity=found["identity"],
            attribution=found["attribution"],
            reporting=found["reporting"],
        )

    def start(self, names: Iterable[str] = SERVICES, timeout: float = READY_TIMEOUT) -> None:
        """Starts the named services together and waits until each is SERVING."""
        chosen = [self.services[name] for name in names]
        for service in chosen:
            service.start()
        for service in chosen:
            service.wait_ready(timeout)

    def stop(self, names: Iterable[str] = SERVICES, signum: int = signal.SIGTERM) -> dict[str, int]:
        """Signals the named services at once; returns each exit code once all have exited."""
        chosen = [self.services[name] for name in names]
        for service in chosen:
            service.signal(signum)
        return {service.name: service.wait() for service in chosen}

    def logs(self) -> str:
        """Every service's log, one after the other."""
        return "\n".join(
            f"----- {s.name} ({s.log_path}) -----\n{s.log_text()}" for s in self.services.values()
        )

    def kill_leftovers(self) -> None:
        """Kills whatever still runs."""
        for service in self.services.values():
            service.kill_leftover()

    def __enter__(self) -> ServiceCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill_leftovers()
        if exc_type is not None:
            print(self.logs())
