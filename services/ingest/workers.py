"""Several ingest processes on one port: `INGEST_WORKERS=N convtrack serve ingest`.

One process runs ingest's Python hot path on one core at a time (the GIL), so a machine with
more cores serves more events with more processes. This supervisor starts N worker
processes (`python -m services.ingest` with `INGEST_WORKER_INDEX`), each binding the same
addresses with SO_REUSEPORT, so the kernel spreads the clients' connections among them.
Worker 0 starts first (it creates the tables and, in the embedded default, the vault's
secret file); the others start once it serves, with `CONVTRACK_CREATE_TABLES=n`.

How they share the store: every worker is an ingest replica with its own group commit
writer, so exactly-once holds as between replicas (deterministic record ids; an insert
that meets ids stored meanwhile filters them and retries; vault keys created twice keep
the first). On SQLite this supervisor holds the data directory's lock file for all of
them, SQLite's write lock serialises their transactions (each worker's group commit is
one transaction) and worker 0 alone follows identity's log (the others drop their cached
keys every second, as standby replicas do). On PostgreSQL the workers write independently
and elect followers as replicas do.

A port given as 0 is chosen here once (and held, bound but not listening) so that every
worker binds the same one. When a worker exits on its own the others are stopped and the
supervisor exits with status 1 (the deployment restarts it); SIGTERM or SIGINT stops every
worker gracefully.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from common.leadership import ProcessLock
from common.server import READY_FD, READY_LINE
from services.ingest.server import WORKER_INDEX, IngestSettings, database_of

logger = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 30.0
_LISTEN_SETTINGS = ("INGEST_LISTEN", "INGEST_INTERNAL_LISTEN", "INGEST_HEALTH_LISTEN")


def _held_port(address: str) -> tuple[str, socket.socket | None]:
    """The address with a port of 0 replaced by a free one, and the socket that holds it
    (SO_REUSEPORT, bound, not listening: the workers' listening sockets join it)."""
    host, _, port = address.rpartition(":")
    if port != "0":
        return address, None
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    held = socket.socket(family, socket.SOCK_STREAM)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    held.bind((bare or "0.0.0.0", 0))
    return f"{host}:{held.getsockname()[1]}", held


class WorkerStartError(RuntimeError):
    """A worker process exited or did not report serving in time."""


class Workers:
    """The worker processes of one ingest deployment, supervised from this process."""

    def __init__(self, env: Mapping[str, str]) -> None:
        settings = IngestSettings.from_env(env)
        self.count = settings.workers
        database = database_of(settings)
        self._lock = (
            None
            if database.is_postgres
            else ProcessLock(database.sqlite_path.with_suffix(".lock"), "ingest")
        )
        self._held: list[socket.socket] = []
        self._env = dict(env)
        for name in _LISTEN_SETTINGS:
            if self._env.get(name):
                self._env[name], held = _held_port(self._env[name])
                if held is not None:
                    self._held.append(held)
        self.listen = self._env.get("INGEST_LISTEN", settings.listen)
        self._processes: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()

    def start(self) -> None:
        """Starts worker 0, waits until it serves, then the others (each waited for)."""
        try:
            self._start_worker(0)
            for index in range(1, self.count):
                self._start_worker(index, create_tables=False)
        except BaseException:
            self.stop()
            raise
        logger.info("ingest: %d workers serve %s", self.count, self.listen)

    def _start_worker(self, index: int, *, create_tables: bool = True) -> None:
        read, write = os.pipe()
        env = {**self._env, WORKER_INDEX: str(index), READY_FD: str(write)}
        if not create_tables:
            env["CONVTRACK_CREATE_TABLES"] = "n"
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "services.ingest"],
                env=env,
                pass_fds=(write,),
                cwd=Path.cwd(),
            )
        finally:
            os.close(write)
        self._processes.append(process)
        try:
            ready, _, _ = select.select([read], [], [], START_TIMEOUT_SECONDS)
            line = os.read(read, len(READY_LINE)) if ready else b""
        finally:
            os.close(read)
        if line != READY_LINE:
            raise WorkerStartError(
                f"ingest worker {index} did not start (exit status {process.poll()})"
            )

    def wait(self, stop: threading.Event) -> int:
        """Blocks until `stop` is set (then stops the workers: 0) or a worker exits on its
        own (then stops the others: 1)."""
        while not stop.wait(0.5):
            for index, process in enumerate(self._processes):
                if process.poll() is not None:
                    logger.error(
                        "ingest worker %d exited with status %s: stopping the others",
                        index,
                        process.returncode,
                    )
                    self.stop()
                    return 1
        self.stop()
        return 0

    def stop(self) -> None:
        """Stops every worker gracefully (SIGTERM, then SIGKILL after a timeout), then
        releases the lock file and the held ports."""
        for process in self._processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in self._processes:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()
        for held in self._held:
            held.close()
        self._held.clear()
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def serve_workers(env: Mapping[str, str], stop: threading.Event) -> int:
    """Runs `INGEST_WORKERS` ingest processes until `stop` is set; the exit status."""
    workers = Workers(env)
    try:
        workers.start()
    except WorkerStartError as error:
        logger.error("refusing to start: %s", error)
        return 1
    return workers.wait(stop)
