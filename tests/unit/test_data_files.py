"""Data files are created owner-only: SQLite databases 0600 in a directory made 0700."""

from __future__ import annotations

import stat
from pathlib import Path

from common.storage import database_for


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_is_created_0600_in_a_new_directory_made_0700(tmp_path: Path) -> None:
    database = database_for("ingest", "", tmp_path / "data" / "convtrack")

    database.eventsourcing_env()

    assert mode(tmp_path / "data" / "convtrack") == 0o700
    assert mode(database.sqlite_path) == 0o600


def test_an_existing_world_readable_database_and_its_wal_are_made_0600(tmp_path: Path) -> None:
    # A database, write-ahead log and shared-memory file left 0644 by an older version.
    old = [tmp_path / name for name in ("reporting.db", "reporting.db-wal", "reporting.db-shm")]
    for path in old:
        path.write_bytes(b"")
        path.chmod(0o644)
    tmp_path.chmod(0o755)

    database_for("reporting", "", tmp_path).sqlalchemy_url()

    assert [mode(path) for path in old] == [0o600, 0o600, 0o600]
    assert old[0].read_bytes() == b""
    # A directory that already existed is the operator's: it is left as it is.
    assert mode(tmp_path) == 0o755
