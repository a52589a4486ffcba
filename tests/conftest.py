"""Shared fixtures: storage on SQLite and PostgreSQL, each test with its own fresh databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings

from services import launcher

# Property tests check invariants, not speed: hypothesis's per-example deadline (200 ms) fails
# them on a loaded 2-core machine. Speed lives in `make bench`.
settings.register_profile("convtrack", deadline=None, print_blob=True)
settings.load_profile("convtrack")


def _own_loopback_ports() -> None:
    """Gives each parallel test worker its own slice of the loopback ports that services in
    tests listen on, so that one worker never picks a port another worker's service is about
    to bind (or to bind again after a restart)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or launcher.LOOPBACK_PORTS_SETTING in os.environ:
        return
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    ports = launcher.default_loopback_ports()
    size = len(ports) // count
    if size < 100:
        return
    low = ports.start + int(worker[2:]) % count * size
    os.environ[launcher.LOOPBACK_PORTS_SETTING] = f"{low}-{low + size - 1}"


_own_loopback_ports()

POSTGRES_ADMIN_URL = os.environ.get(
    "CONVTRACK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("CONVTRACK_REQUIRE_POSTGRES", "") not in ("", "0", "false")

_postgres_skipped = False


@dataclass(frozen=True)
class Storage:
    """Where a test's services keep their data: a database URL (empty for SQLite) and a data dir."""

    backend: str
    database_url: str
    data_dir: Path


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error).strip()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The PostgreSQL admin URL; skips (or fails when required) if the server is unreachable."""
    global _postgres_skipped
    problem = _postgres_reachable()
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (CONVTRACK_REQUIRE_POSTGRES) but: {problem}")
        _postgres_skipped = True
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {problem}")
    return POSTGRES_ADMIN_URL


@contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped on leaving."""
    name = f"convtrack_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_database(postgres_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with fresh_postgres_database(postgres_admin_url) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """Storage for a test, once on embedded SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return Storage("sqlite", "", tmp_path / "data")
    url = request.getfixturevalue("postgres_database")
    return Storage("postgres", url, tmp_path / "data")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Says loudly when the PostgreSQL suite was skipped."""
    if _postgres_skipped or (not REQUIRE_POSTGRES and _postgres_reachable() is not None):
        terminalreporter.write_sep(
            "!",
            "PostgreSQL suite SKIPPED: no server at "
            f"{POSTGRES_ADMIN_URL} (set CONVTRACK_REQUIRE_POSTGRES=1 to make this an error)",
            red=True,
            bold=True,
        )
