"""Which replica follows each upstream log: PostgreSQL advisory locks, or one process on SQLite."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Protocol, TypeVar

import psycopg
from psycopg.conninfo import make_conninfo

from common.health import one_line
from common.settings import env_str
from common.storage import CONNECTION_WAIT_SECONDS, DATA_DIR_MODE, DATA_FILE_MODE, Database

T = TypeVar("T")

logger = logging.getLogger(__name__)

# How often a holder checks its connection and a standby tries to take the lock.
CHECK_INTERVAL_SECONDS = 1.0
# libpq settings for the lock's connection, so that PostgreSQL notices a holder that went
# silent (a host that died, a cut network) within seconds; a killed process's socket is
# closed by its kernel at once, which ends the session and its locks immediately.
KEEPALIVES: Mapping[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 2,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": 5000,
}


class AnotherReplicaError(RuntimeError):
    """Another process already runs this service on the same embedded (SQLite) data."""


def leader_election(env: Mapping[str, str]) -> bool:
    """`CONVTRACK_LEADER_ELECTION` (default on): whether replicas on PostgreSQL elect one
    follower per upstream log. Off, every replica follows every log (run one replica)."""
    value = env_str(env, "CONVTRACK_LEADER_ELECTION", "y").lower()
    return value not in ("n", "no", "0", "false", "off")


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a name such as "attribution/ingest"."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Leadership(Protocol):
    """Whether this process may follow one upstream log now."""

    @property
    def term(self) -> int | None:
        """The current term while this process leads (a new number after each takeover),
        None while it stands by."""
        ...

    def close(self) -> None:
        """Gives leadership up."""
        ...


class SoleLeadership:
    """Always leads, in one term: a single node, or election turned off."""

    term: int | None = 1

    def close(self) -> None:
        """Nothing to give up."""


class AdvisoryLockLeadership:
    """Leadership held as a session-level PostgreSQL advisory lock on a dedicated connection.

    A background thread tries `pg_try_advisory_lock` every `check_interval` while standing by,
    and while leading checks the connection (`SELECT 1`) as often; when the check fails it
    stands by at once and reconnects. The first attempt is made in the constructor, so a
    replica started alone leads from its first page. Each acquisition starts a new term.
    """

    def __init__(
        self, conninfo: str, name: str, *, check_interval: float = CHECK_INTERVAL_SECONDS
    ) -> None:
        self.name = name
        self._conninfo = conninfo
        self._key = lock_key(name)
        self._check_interval = check_interval
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._terms = 0
        self._term: int | None = None
        self._stopping = threading.Event()
        self._step()
        self._thread = threading.Thread(target=self._run, name=f"leader-{name}", daemon=True)
        self._thread.start()

    @property
    def term(self) -> int | None:
        """The current term while leading, None while standing by."""
        return self._term

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend process of the lock's connection, when connected."""
        connection = self._connection
        return connection.info.backend_pid if connection is not None else None

    def close(self) -> None:
        """Stops the checks and closes the connection, which releases the lock."""
        self._stopping.set()
        if self._thread is not threading.current_thread():
            self._thread.join(self._check_interval + CONNECTION_WAIT_SECONDS + 1)
        self._term = None
        self._disconnect()

    def _run(self) -> None:
        while not self._stopping.wait(self._check_interval):
            self._step()
        self._disconnect()

    def _step(self) -> None:
        """One attempt to take the lock, or one check that it is still held."""
        try:
            if self._connection is None:
                self._connection = psycopg.connect(
                    make_conninfo(
                        self._conninfo,
                        connect_timeout=CONNECTION_WAIT_SECONDS,
                        application_name=f"convtrack leader {self.name} pid {os.getpid()}",
                        **KEEPALIVES,
                    ),
                    autocommit=True,
                )
            if self._term is not None:
                self._connection.execute("SELECT 1")
                return
            row = self._connection.execute(
                "SELECT pg_try_advisory_lock(%s)", (self._key,)
            ).fetchone()
            if row is not None and row[0] is True and not self._stopping.is_set():
                self._terms += 1
                self._term = self._terms
                logger.info("leading %s (term %d)", self.name, self._term)
        except psycopg.Error as error:
            if self._term is not None:
                logger.warning("lost leadership of %s: %s", self.name, one_line(error))
            self._term = None
            self._disconnect()

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                connection.close()


class ProcessLock:
    """An exclusive lock file (`fcntl.flock`) that only one process can hold at a time; it
    holds the holder's process id, for the message another process gets."""

    def __init__(self, path: Path, service: str) -> None:
        if not path.parent.exists():
            path.parent.mkdir(mode=DATA_DIR_MODE, parents=True, exist_ok=True)
        self.path = path
        self._file: IO[str] | None = open(  # noqa: SIM115 - held open until release
            os.open(path, os.O_RDWR | os.O_CREAT, DATA_FILE_MODE), "r+"
        )
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._file.read().strip() or "unknown"
            self._file.close()
            self._file = None
            raise AnotherReplicaError(
                f"another {service} process (pid {holder}) already uses the data directory "
                f"{path.parent}: with SQLite only one process may run each service "
                f"(lock file {path}); stop it, or use PostgreSQL to run replicas"
            ) from None
        self._file.truncate(0)
        self._file.write(f"{os.getpid()}\n")
        self._file.flush()

    def release(self) -> None:
        """Releases the lock (closing the file releases it)."""
        file, self._file = self._file, None
        if file is not None:
            file.close()


class Election:
    """How a service's followers are chosen: the leadership of each of its upstream logs.

    On SQLite the whole service is single-node: it holds `<data dir>/<service>.lock` while
    it runs and always leads. On PostgreSQL with election on, each upstream has its own
    advisory lock on the service's own database, keyed by "<service>/<upstream>".
    """

    def __init__(self, service: str, database: Database, *, enabled: bool = True) -> None:
        self._service = service
        self._conninfo = database.libpq_url() if database.is_postgres and enabled else ""
        self._process_lock = (
            None
            if database.is_postgres
            else ProcessLock(database.sqlite_path.with_suffix(".lock"), service)
        )
        self._leaderships: list[AdvisoryLockLeadership] = []

    def leadership(self, upstream: str) -> Leadership:
        """The leadership of following `upstream`, started now."""
        if not self._conninfo:
            return SoleLeadership()
        leadership = AdvisoryLockLeadership(self._conninfo, f"{self._service}/{upstream}")
        self._leaderships.append(leadership)
        return leadership

    def close(self) -> None:
        """Gives up every leadership and the lock file."""
        for leadership in self._leaderships:
            leadership.close()
        if self._process_lock is not None:
            self._process_lock.release()


def started_elected(election: Election, start: Callable[[Election], T]) -> T:
    """What `start` returns when given `election`; the election is closed if it fails (a
    lock file left held would refuse the next start)."""
    try:
        return start(election)
    except BaseException:
        election.close()
        raise
