"""Which replica follows each upstream log: PostgreSQL advisory locks, or one process on SQLite."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
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


# The start of the `application_name` of lock connections: "convtrack leader
# <service>/<upstream> pid <pid>" (one leader per log), "convtrack shards <service> <count>
# pid <pid>" (sharded followers).
LEADER_APPLICATION_PREFIX = "convtrack leader"
SHARDS_APPLICATION_PREFIX = "convtrack shards"


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


class StandbyLeadership:
    """Never leads: a worker process whose sibling (worker 0) follows the log on SQLite."""

    term: int | None = None

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
                        application_name=(
                            f"{LEADER_APPLICATION_PREFIX} {self.name} pid {os.getpid()}"
                        ),
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


def shard_lock_name(service: str, shard: int, shards: int) -> str:
    """The advisory lock name of one shard of a service's followers."""
    return f"{service}/shard {shard} of {shards}"


class ShardLeadership:
    """One shard's leadership, as its followers see it: a view of the replica's ShardLeases."""

    def __init__(self, leases: ShardLeases, shard: int) -> None:
        self._leases = leases
        self.shard = shard

    @property
    def term(self) -> int | None:
        """The current term while this replica holds the shard, None otherwise."""
        return self._leases.term_of(self.shard)

    def close(self) -> None:
        """Nothing to give up on its own: the leases are closed together."""


class ShardLeases:
    """The shard locks one replica of a sharded service holds, on one dedicated connection.

    Each shard is a session-level advisory lock keyed by "<service>/shard <k> of <n>". Live
    replicas are the sessions whose `application_name` is "convtrack shards <service> <n> pid
    <pid>" in `pg_stat_activity` of this database (PostgreSQL's own view of who is connected;
    a killed replica's session ends when its socket closes, or after the TCP keepalives).
    Every `check_interval` the replica counts them and holds at most ceil(n / live) shards:
    it takes free shards up to that bound and gives back the ones above it, so the work
    spreads when a replica joins and moves to the others when one dies.

    A shard is given back only after `guards` (the locks its followers process pages under)
    were taken once with its term ended, so no page of it is written after the lock is free.
    While a replica of another shard count (or an unsharded leader, "convtrack leader
    <service>/...") holds locks, as during a rollout that changes `<SERVICE>_SHARDS`, a
    replica that holds no shard takes none: two shard maps must never run at once.
    """

    def __init__(
        self,
        conninfo: str,
        service: str,
        shards: int,
        *,
        guards: Sequence[threading.Lock] = (),
        check_interval: float = CHECK_INTERVAL_SECONDS,
    ) -> None:
        self.service = service
        self.shards = shards
        self._conninfo = conninfo
        self._guards = tuple(guards)
        self._check_interval = check_interval
        self._keys = [lock_key(shard_lock_name(service, k, shards)) for k in range(shards)]
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._terms: dict[int, int] = {}
        self._last_term = 0
        self._waiting = False
        self._stopping = threading.Event()
        self._step()
        self._thread = threading.Thread(target=self._run, name=f"shards-{service}", daemon=True)
        self._thread.start()

    def leadership(self, shard: int) -> ShardLeadership:
        """The leadership of one shard."""
        return ShardLeadership(self, shard)

    def term_of(self, shard: int) -> int | None:
        """The shard's current term while held, else None."""
        return self._terms.get(shard)

    @property
    def held(self) -> list[int]:
        """The shards this replica holds now."""
        return sorted(self._terms)

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend process of the locks' connection, when connected."""
        connection = self._connection
        return connection.info.backend_pid if connection is not None else None

    def close(self) -> None:
        """Stops the checks and closes the connection, which releases every shard."""
        self._stopping.set()
        if self._thread is not threading.current_thread():
            self._thread.join(self._check_interval + CONNECTION_WAIT_SECONDS + 1)
        self._terms = {}
        self._disconnect()

    def _run(self) -> None:
        while not self._stopping.wait(self._check_interval):
            self._step()
        self._disconnect()

    def _step(self) -> None:
        """One look at the live replicas, then shards taken or given back to match."""
        try:
            connection = self._connection or self._connect()
            live, others_hold = self._replicas(connection)
            bound = 0 if others_hold and not self._terms else math.ceil(self.shards / live)
            for shard in self.held[bound:][::-1]:
                self._give_back(connection, shard)
            for shard in range(self.shards):
                if len(self._terms) >= bound or self._stopping.is_set():
                    break
                if shard not in self._terms:
                    self._try_take(connection, shard)
        except psycopg.Error as error:
            if self._terms:
                logger.warning("lost shards %s of %s: %s", self.held, self.service, one_line(error))
            self._terms = {}
            self._disconnect()

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        self._connection = psycopg.connect(
            make_conninfo(
                self._conninfo,
                connect_timeout=CONNECTION_WAIT_SECONDS,
                application_name=(
                    f"{SHARDS_APPLICATION_PREFIX} {self.service} {self.shards} pid {os.getpid()}"
                ),
                **KEEPALIVES,
            ),
            autocommit=True,
        )
        return self._connection

    def _replicas(self, connection: psycopg.Connection[tuple[object, ...]]) -> tuple[int, bool]:
        """(live replicas with this shard count, whether a replica with another one holds
        shards)."""
        rows = connection.execute(
            "SELECT a.application_name,"
            " coalesce(bool_or(l.granted AND l.mode = 'ExclusiveLock'), false)"
            " FROM pg_stat_activity a"
            " LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory'"
            " WHERE a.datname = current_database()"
            " AND (a.application_name LIKE %s OR a.application_name LIKE %s)"
            " GROUP BY a.pid, a.application_name",
            (
                f"{SHARDS_APPLICATION_PREFIX} {self.service} %",
                f"{LEADER_APPLICATION_PREFIX} {self.service}/%",
            ),
        ).fetchall()
        same = f"{SHARDS_APPLICATION_PREFIX} {self.service} {self.shards} pid "
        live, others_hold = 0, False
        for name, holds in rows:
            if str(name).startswith(same):
                live += 1
            elif holds:
                others_hold = True
        waiting = others_hold and not self._terms
        if waiting and not self._waiting:
            logger.warning(
                "%s: replicas with another shard count hold shards; taking none until they stop",
                self.service,
            )
        self._waiting = waiting
        return max(live, 1), others_hold

    def _try_take(self, connection: psycopg.Connection[tuple[object, ...]], shard: int) -> None:
        row = connection.execute("SELECT pg_try_advisory_lock(%s)", (self._keys[shard],)).fetchone()
        if row is not None and row[0] is True:
            self._last_term += 1
            self._terms = {**self._terms, shard: self._last_term}
            logger.info(
                "leading %s shard %d of %d (term %d)",
                self.service,
                shard,
                self.shards,
                self._last_term,
            )

    def _give_back(self, connection: psycopg.Connection[tuple[object, ...]], shard: int) -> None:
        self._terms = {k: t for k, t in self._terms.items() if k != shard}
        for guard in self._guards:
            with guard:
                pass
        connection.execute("SELECT pg_advisory_unlock(%s)", (self._keys[shard],))
        logger.info(
            "gave back %s shard %d of %d to spread the work", self.service, shard, self.shards
        )

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
    advisory lock on the service's own database, keyed by "<service>/<upstream>"; a sharded
    service holds shard locks instead (`shard_leaderships`).

    A `worker` (index, count) is one of several processes of one service started together
    (ingest's `INGEST_WORKERS`): on SQLite their supervisor holds the lock file and the
    service counts `count` replicas; without advisory locks (SQLite, or election off) worker
    0 leads every upstream and the others stand by; with them each worker is a replica like
    any other.
    """

    def __init__(
        self,
        service: str,
        database: Database,
        *,
        enabled: bool = True,
        worker: tuple[int, int] | None = None,
    ) -> None:
        self._service = service
        self._conninfo = database.libpq_url() if database.is_postgres and enabled else ""
        self._worker = worker
        self._process_lock = (
            None
            if database.is_postgres or worker is not None
            else ProcessLock(database.sqlite_path.with_suffix(".lock"), service)
        )
        self._leaderships: list[AdvisoryLockLeadership | ShardLeases] = []
        self._replicas_conninfo = database.libpq_url() if database.is_postgres else ""
        self._closers: list[Callable[[], None]] = []

    def leadership(self, upstream: str) -> Leadership:
        """The leadership of following `upstream`, started now."""
        if not self._conninfo:
            if self._worker is not None and self._worker[0] != 0:
                return StandbyLeadership()
            return SoleLeadership()
        leadership = AdvisoryLockLeadership(self._conninfo, f"{self._service}/{upstream}")
        self._leaderships.append(leadership)
        return leadership

    def shard_leaderships(
        self, shards: int, guards: Sequence[threading.Lock] = ()
    ) -> list[Leadership]:
        """The leadership of each of `shards` shards, started now: shard locks taken and
        given back by this replica's ShardLeases, or all led by a single node."""
        if not self._conninfo:
            return [SoleLeadership() for _ in range(shards)]
        leases = ShardLeases(self._conninfo, self._service, shards, guards=guards)
        self._leaderships.append(leases)
        return [leases.leadership(shard) for shard in range(shards)]

    def replica_count(self) -> Callable[[], int]:
        """The number of live replicas of the service (1 on SQLite, where it runs alone),
        counted from now on until the election closes (common/replicas.py)."""
        if not self._replicas_conninfo:
            workers = 1 if self._worker is None else self._worker[1]
            return lambda: workers
        from common.replicas import ReplicaCount  # it imports this module's KEEPALIVES

        count = ReplicaCount(self._replicas_conninfo, self._service)
        self._closers.append(count.close)
        return count

    def close(self) -> None:
        """Gives up every leadership and the lock file, and stops counting replicas."""
        for closer in self._closers:
            closer()
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
