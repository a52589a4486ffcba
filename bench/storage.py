"""Throwaway storage for one benchmark: a temp data dir, and a fresh PostgreSQL database."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

POSTGRES_ADMIN_URL = os.environ.get(
    "CONVTRACK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgres")


def postgres_problem(admin_url: str = POSTGRES_ADMIN_URL) -> str | None:
    """Why PostgreSQL cannot be used, or None when it is reachable."""
    try:
        with psycopg.connect(admin_url, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return " ".join(str(error).split()) or type(error).__name__


@contextmanager
def postgres_database(admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A fresh PostgreSQL database (its URL), dropped afterwards."""
    name = f"convtrack_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_env(backend: str, admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[dict[str, str]]:
    """Service settings on fresh, empty storage of `backend`, removed afterwards.

    Every setting the services read comes from this mapping, never from the process
    environment, so a developer's `CONVTRACK_DATABASE_URL` cannot leak into a benchmark.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    directory = Path(tempfile.mkdtemp(prefix=f"convtrack-bench-{backend}-"))
    try:
        env = {"CONVTRACK_DATA_DIR": str(directory / "data")}
        if backend == "sqlite":
            yield env
        else:
            with postgres_database(admin_url) as url:
                yield {
                    **env,
                    "CONVTRACK_DATABASE_URL": url,
                    "CONVTRACK_ALLOW_GENERATED_SECRETS": "1",
                }
    finally:
        shutil.rmtree(directory, ignore_errors=True)
