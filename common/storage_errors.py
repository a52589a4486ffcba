"""Telling a database that is unavailable for now apart from errors that a retry cannot fix."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import psycopg
import sqlalchemy.exc
from eventsourcing import persistence

# SQLite primary result codes that mean "the database cannot be used right now": busy or
# locked by another connection, an I/O error, a full disk, a file that cannot be opened.
_SQLITE_UNAVAILABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
    }
)
_SQLITE_UNAVAILABLE_MESSAGES = ("database is locked", "database table is locked", "disk i/o error")
# PostgreSQL SQLSTATE class 54 (program limit exceeded) is an OperationalError in psycopg,
# but the same statement fails again.
_POSTGRES_PERMANENT_CLASSES = ("54",)


class StorageUnavailableError(Exception):
    """Raised by convtrack itself when the store could not be used in time; retryable."""


def is_storage_unavailable(error: BaseException) -> bool:
    """True when `error`, or the error that caused it, says the database is unreachable,
    gone, busy or out of connections: the same request may succeed when retried later.

    It recognises psycopg's OperationalError and InterfaceError (connection refused or
    lost, server shutting down, pool timeouts), SQLAlchemy's pool timeouts and invalidated
    connections, SQLite's busy, locked, I/O and cannot-open errors, the `eventsourcing`
    library's wrappers of all of these (decided by the driver error they wrap), and our own
    StorageUnavailableError.
    """
    for link in causes(error):
        verdict = _verdict(link)
        if verdict is not None:
            return verdict
    return False


def causes(error: BaseException) -> Iterator[BaseException]:
    """The error, then what caused it (explicitly, else implicitly), outermost first."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        cause = current.__cause__
        if cause is None and not current.__suppress_context__:
            cause = current.__context__
        current = cause


def _verdict(error: BaseException) -> bool | None:
    """Whether this one error means unavailable; None when its cause decides."""
    if isinstance(error, StorageUnavailableError):
        return True
    if isinstance(error, sqlite3.Error):
        return _sqlite_unavailable(error)
    if isinstance(error, psycopg.Error):
        if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
            sqlstate = error.sqlstate or ""
            return not sqlstate.startswith(_POSTGRES_PERMANENT_CLASSES)
        return False
    if isinstance(error, sqlalchemy.exc.TimeoutError):
        return True
    if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, persistence.ConnectionUnavailableError):
        return True
    if isinstance(error, persistence.OperationalError | persistence.InterfaceError):
        # The library wraps the driver's error; without one it speaks of a lost connection.
        return None if error.__cause__ is not None else True
    return None


def _sqlite_unavailable(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_UNAVAILABLE_CODES
    return str(error).lower().startswith(_SQLITE_UNAVAILABLE_MESSAGES)
