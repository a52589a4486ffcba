"""Database URLs: where each service keeps its event store and read models."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine, event

DATA_DIR_MODE = 0o700
DATA_FILE_MODE = 0o600
SQLITE_COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")
# How long a request waits for a database connection (to connect, or for a free one in the
# pool) before it fails as unavailable: well inside clients' usual 10 s deadline, even for a
# call queued behind another group commit, so they hear UNAVAILABLE, not DEADLINE_EXCEEDED.
CONNECTION_WAIT_SECONDS = 3


class StorageConfigError(ValueError):
    """A database URL that convtrack cannot use."""


def prepare_sqlite_file(path: Path) -> None:
    """Makes an SQLite file owner-only before SQLite opens it.

    A missing directory is created 0700 (an existing one is left as it is); the file is
    created 0600, or set to 0600 with its -wal, -shm and -journal files when they exist.
    SQLite gives the files it creates later the database file's mode, so they are 0600 too.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=DATA_DIR_MODE, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, DATA_FILE_MODE))
    for file in (path, *(path.with_name(path.name + s) for s in SQLITE_COMPANION_SUFFIXES)):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(file, DATA_FILE_MODE)


@dataclass(frozen=True, slots=True)
class Database:
    """A parsed database URL: an SQLite file or a PostgreSQL database and schema."""

    url: str
    schema: str
    create_tables: bool = True

    @property
    def is_postgres(self) -> bool:
        """True for a PostgreSQL URL."""
        return self.url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file's path (only for SQLite URLs)."""
        return Path(unquote(urlsplit(self.url).path.removeprefix("/")))

    def eventsourcing_env(self) -> dict[str, str]:
        """The `eventsourcing` library's settings for an event store in this database."""
        create = {"CREATE_TABLE": "y" if self.create_tables else "n"}
        if not self.is_postgres:
            prepare_sqlite_file(self.sqlite_path)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.sqlite_path),
                "SQLITE_LOCK_TIMEOUT": "30",
                **create,
            }
        parts = urlsplit(self.url)
        return {
            **create,
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parts.path.removeprefix("/")),
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_SCHEMA": self.schema,
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "4",
            "POSTGRES_CONNECT_TIMEOUT": str(CONNECTION_WAIT_SECONDS),
            "PROCESS_RECORDER_TOPIC": "common.recorders:ServingPostgresProcessRecorder",
        }

    def sql_engine(self) -> Engine:
        """A SQLAlchemy engine on this database (in the service's schema on PostgreSQL)."""
        return create_sql_engine(self.sqlalchemy_url(), schema=self.schema)

    def sqlalchemy_url(self) -> str:
        """The URL for SQLAlchemy (psycopg 3 driver for PostgreSQL)."""
        if not self.is_postgres:
            prepare_sqlite_file(self.sqlite_path)
            return f"sqlite:///{self.sqlite_path}"
        rest = self.url.split("://", 1)[1]
        return f"postgresql+psycopg://{rest}"

    def libpq_url(self) -> str:
        """The URL for psycopg."""
        rest = self.url.split("://", 1)[1]
        return f"postgresql://{rest}"

    def ensure_schema(self) -> None:
        """Creates the PostgreSQL schema if it is missing (no-op for SQLite, or when tables are
        created by a separate migrate step)."""
        if not self.is_postgres or not self.create_tables:
            return
        with (
            psycopg.connect(self.libpq_url(), autocommit=True) as conn,
            contextlib.suppress(psycopg.errors.UniqueViolation),
        ):
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )


def database_for(service: str, url: str, data_dir: Path, *, create_tables: bool = True) -> Database:
    """Resolves a service's database.

    An empty `url` means the embedded default: `<data_dir>/<service>.db`. A PostgreSQL URL
    keeps the service's tables in a schema named after the service, so one database can
    serve all four services. With `create_tables` off, the service expects its tables to
    exist (created once by `convtrack migrate`, as replicas must not run DDL at once).
    """
    if not url:
        path = (data_dir / f"{service}.db").resolve()
        return Database(url=f"sqlite:///{path}", schema="", create_tables=create_tables)
    if url.startswith("sqlite:///"):
        return Database(url=url, schema="", create_tables=create_tables)
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return Database(url=url, schema=service, create_tables=create_tables)
    raise StorageConfigError(f"unsupported database URL for {service}: {url.split(':', 1)[0]}://")


SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, begin transactions, so reads are transactional too.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


WRITE_OPTION = "sqlite_begin"


def _sqlite_begin(connection: Any) -> None:
    mode = connection.get_execution_options().get(WRITE_OPTION, "")
    connection.exec_driver_sql(f"BEGIN {mode}".rstrip())


def writer(engine: Engine) -> Engine:
    """The engine to open write transactions with. On SQLite they begin IMMEDIATE, taking the
    write lock at once: two writers of one file (reporting's followers) then wait for each
    other within the busy timeout, where a deferred transaction that read first fails at its
    first write with "database is locked" (a snapshot older than the other's commit cannot be
    upgraded, and SQLite does not wait). PostgreSQL ignores the option."""
    return engine.execution_options(**{WRITE_OPTION: "IMMEDIATE"})


def create_sql_engine(url: str, schema: str = "") -> Engine:
    """A SQLAlchemy engine for a service's own tables (read models, the vault).

    On SQLite: WAL and a busy timeout, since gRPC threads read while followers write.
    On PostgreSQL: the tables live in `schema` (which must exist) when one is given; stale
    connections are replaced, and waits for a connection end after CONNECTION_WAIT_SECONDS.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url)
    else:
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_timeout=CONNECTION_WAIT_SECONDS,
            connect_args={"connect_timeout": CONNECTION_WAIT_SECONDS},
        )
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if schema:
        return engine.execution_options(schema_translate_map={None: schema})
    return engine
