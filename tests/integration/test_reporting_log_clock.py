"""The log clock records the times of the entries it is given, on SQLite and PostgreSQL, and
keeps a row another shard of the same upstream wrote."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, select

from common.follower import UpstreamEntry
from services.reporting.generations import writer
from services.reporting.log_clock import position_at, record_times, time_of
from services.reporting.views import log_clock
from tests.conftest import Storage
from tests.integration.helpers_attribution import migrated_views

START = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)


@pytest.fixture
def engine(storage: Storage) -> Iterator[Engine]:
    with migrated_views(storage) as views:
        yield views


def entry(position: int, recorded_at: datetime | None) -> UpstreamEntry[None]:
    return UpstreamEntry(position, None, recorded_at=recorded_at)


def test_times_of_changed_entries_and_the_last_are_recorded_and_a_shards_row_is_kept(
    engine: Engine,
) -> None:
    views = writer(engine)
    # A first page: positions 1-5, of which 2 and 4 changed a view; 5 is the page's last.
    berlin = timezone(timedelta(hours=2))
    page = [entry(p, START + timedelta(microseconds=p)) for p in range(1, 6)]
    page[3] = entry(4, (START + timedelta(seconds=4)).astimezone(berlin))
    with views.begin() as conn:
        record_times(conn, "attribution", page, {2, 4})
    # Another shard of the same log records 4 again (with another time) and 6-7; 6 has no time.
    other = [
        entry(4, START + timedelta(days=1)),
        entry(6, None),
        entry(7, START + timedelta(days=2)),
    ]
    with views.begin() as conn:
        record_times(conn, "attribution/shard-1", other, {4, 6, 7})
        rows = conn.execute(
            select(log_clock.c.upstream, log_clock.c.position, log_clock.c.recorded_at).order_by(
                log_clock.c.position
            )
        ).all()
        assert [(u, p) for u, p, _ in rows] == [
            ("attribution", 2),
            ("attribution", 4),
            ("attribution", 5),
            ("attribution", 7),
        ]
        assert time_of(conn, "attribution", 4) == START + timedelta(seconds=4)
        assert time_of(conn, "attribution", 3) == START + timedelta(microseconds=2)
        assert time_of(conn, "attribution", 7) == START + timedelta(days=2)
        assert position_at(conn, "attribution", START + timedelta(microseconds=5)) == 5
        assert position_at(conn, "attribution", START) == 0


def test_a_page_without_known_times_records_nothing(engine: Engine) -> None:
    with writer(engine).begin() as conn:
        record_times(conn, "ingest", [entry(1, None), entry(2, None)], {1, 2})
        record_times(conn, "ingest", [], set())
        assert conn.execute(select(log_clock.c.position)).all() == []
