"""Storage errors from real databases: unreachable or busy ones are retryable, others not."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from sqlalchemy import text

from common.storage import create_sql_engine, database_for
from common.storage_errors import is_storage_unavailable
from tests.conftest import Storage


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield int(bound.getsockname()[1])


def raised_by(action: Callable[[], object]) -> BaseException:
    """The error `action` raises (the test fails when it raises none)."""
    with pytest.raises(Exception) as caught:
        action()
    return caught.value


def read_log_head(env: dict[str, str]) -> None:
    """Opens an eventsourcing application with these settings and reads its log's head."""
    app = Application(env=env)
    try:
        app.recorder.max_notification_id()
    finally:
        app.close()


def test_postgres_refusing_connections_is_unavailable_through_every_layer(
    closed_port: int,
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port}/nowhere"
    direct = raised_by(lambda: psycopg.connect(url, connect_timeout=2))
    engine = create_sql_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/nowhere")
    with_sqlalchemy = raised_by(lambda: engine.connect().close())
    database = database_for("ingest", url, Path("."), create_tables=False)
    env = database.eventsourcing_env() | {"POSTGRES_CONNECT_TIMEOUT": "1"}
    through_library = raised_by(lambda: read_log_head(env))
    assert is_storage_unavailable(direct), repr(direct)
    assert is_storage_unavailable(with_sqlalchemy), repr(with_sqlalchemy)
    assert is_storage_unavailable(through_library), repr(through_library)


def test_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    path = not_a_directory / "store.db"
    direct = raised_by(lambda: sqlite3.connect(path).execute("SELECT 1"))
    engine = create_sql_engine(f"sqlite:///{path}")
    with_sqlalchemy = raised_by(lambda: engine.connect().close())
    assert is_storage_unavailable(direct), repr(direct)
    assert is_storage_unavailable(with_sqlalchemy), repr(with_sqlalchemy)


def test_sqlite_database_locked_by_another_writer_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    app = Application(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "1",
        }
    )
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        direct = raised_by(lambda: sqlite3.connect(path, timeout=0).execute("CREATE TABLE t (x)"))
        through_library = raised_by(lambda: app.save(Aggregate()))
    finally:
        holder.close()
        app.close()
    assert "locked" in str(direct)
    assert is_storage_unavailable(direct), repr(direct)
    assert is_storage_unavailable(through_library), repr(through_library)


def test_errors_a_retry_cannot_fix_are_not_unavailable(storage: Storage) -> None:
    database = database_for("ingest", storage.database_url, storage.data_dir)
    database.ensure_schema()
    engine = database.sql_engine()

    def query(statement: str) -> None:
        with engine.connect() as conn:
            conn.execute(text(statement))

    missing_table = raised_by(lambda: query("SELECT * FROM no_such_table"))
    bad_syntax = raised_by(lambda: query("SELEKT 1"))
    engine.dispose()
    assert not is_storage_unavailable(missing_table), repr(missing_table)
    assert not is_storage_unavailable(bad_syntax), repr(bad_syntax)
    assert not is_storage_unavailable(ValueError("not a storage error"))


def test_an_error_raised_because_storage_failed_is_unavailable_too(closed_port: int) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port}/nowhere"
    try:
        try:
            psycopg.connect(url, connect_timeout=2)
        except psycopg.Error as error:
            raise RuntimeError("could not store the batch") from error
    except RuntimeError as wrapped:
        assert is_storage_unavailable(wrapped)
