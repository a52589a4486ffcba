"""How many replicas of a service are live: each replica on PostgreSQL keeps one connection
named after its service, and counts those of its service in `pg_stat_activity`."""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading

import psycopg
from psycopg.conninfo import make_conninfo

from common.health import one_line
from common.leadership import KEEPALIVES
from common.storage import CONNECTION_WAIT_SECONDS

logger = logging.getLogger(__name__)

# The `application_name` of presence connections: "convtrack replica <service> <token>". The
# token is random: replicas on different hosts may share a process id (pid 1 in containers).
REPLICA_APPLICATION_PREFIX = "convtrack replica"
REFRESH_SECONDS = 2.0


class ReplicaCount:
    """The live replicas of `service` on its PostgreSQL database, this one included, counted
    every `interval` seconds on a dedicated connection (which also marks this replica live).

    A killed replica's session ends when its socket closes, or after the TCP keepalives, as
    for the leadership locks. While the database cannot be reached the last count stays.
    """

    def __init__(self, conninfo: str, service: str, *, interval: float = REFRESH_SECONDS) -> None:
        self.service = service
        self._conninfo = conninfo
        self._interval = interval
        self._name = f"{REPLICA_APPLICATION_PREFIX} {service} {secrets.token_hex(6)}"
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._count = 1
        self._stopping = threading.Event()
        self.refresh()
        self._thread = threading.Thread(target=self._run, name=f"replicas-{service}", daemon=True)
        self._thread.start()

    def __call__(self) -> int:
        """The live replicas at the last count (at least one: this one)."""
        return self._count

    def refresh(self) -> int:
        """Counts the live replicas now."""
        try:
            connection = self._connection or self._connect()
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name LIKE %s",
                (f"{REPLICA_APPLICATION_PREFIX} {self.service} %",),
            ).fetchone()
        except psycopg.Error as error:
            logger.warning(
                "could not count the replicas of %s (keeping %d): %s",
                self.service,
                self._count,
                one_line(error),
            )
            self._disconnect()
            return self._count
        count = max(1, int(row[0])) if row is not None else 1  # type: ignore[call-overload]
        if count != self._count:
            logger.info("%s now counts %d live replicas", self.service, count)
        self._count = count
        return count

    def close(self) -> None:
        """Stops counting and closes the connection (the others stop counting this one)."""
        self._stopping.set()
        if self._thread is not threading.current_thread():
            self._thread.join(self._interval + CONNECTION_WAIT_SECONDS + 1)
        self._disconnect()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self.refresh()
        self._disconnect()

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        self._connection = psycopg.connect(
            make_conninfo(
                self._conninfo,
                connect_timeout=CONNECTION_WAIT_SECONDS,
                application_name=self._name,
                **KEEPALIVES,
            ),
            autocommit=True,
        )
        return self._connection

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                connection.close()
