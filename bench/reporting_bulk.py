"""A fast loader of the conversion views for the report benchmark at the issue's scale.

It writes exactly the rows `ConversionCreditsProjection.process_page` writes for the same
log, with the projection's own row builders (`_accepted_revisions`, `_insert_credits`,
`insert_paths`, `record_times`, `_end_current`, and the day totals' `zones_for` and
`subtract_live`), but in transactions of `CHUNK` entries and without looking up stored
revisions: it remembers each conversion's latest revision itself, and ends the current rows
only of conversions it has seen before. tests/unit/test_reporting_bench.py checks that the
views equal those the projection loads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select

from common.follower import UpstreamEntry
from common.sql_positions import record_position
from services.reporting.day_totals import subtract_live, zones_for
from services.reporting.domainmodel import ConversionAttribution, ReportingInput
from services.reporting.generations import Connectable, writer
from services.reporting.log_clock import record_times
from services.reporting.path_projection import PATH_TABLES, insert_paths
from services.reporting.projections import (
    PROJECTION_NAME,
    _accepted_revisions,
    _end_current,
    _insert_credits,
)
from services.reporting.views import (
    conversion_credits,
    projection_positions,
    unconsented_conversions,
)

CHUNK = 20_000
"""Upstream entries per transaction."""

UPSTREAM = "attribution"
REVISED_TABLES = (conversion_credits, unconsented_conversions, *PATH_TABLES)


def bulk_load(
    engine: Connectable,
    entries: Iterable[UpstreamEntry[ReportingInput | None]],
    chunk_size: int = CHUNK,
) -> tuple[int, int]:
    """Loads the attributions of `entries` (a log from position 1, attributions only) into
    empty views as the projection would, `chunk_size` entries per transaction; (entries,
    last position)."""
    write = writer(engine)
    latest: dict[tuple[str, str], int] = {}
    count = last = 0
    chunk: list[UpstreamEntry[ReportingInput | None]] = []

    def flush() -> None:
        attributions = []
        for e in chunk:
            if not isinstance(e.value, ConversionAttribution):
                raise ValueError(f"the bulk loader takes attributions only, not {e.value!r}")
            attributions.append((e.position, e.value))
        revisions = _accepted_revisions(attributions, latest)
        ends: dict[tuple[str, str], int] = {}
        for r in revisions:
            if r.key in latest:
                ends.setdefault(r.key, r.valid_from)
        position = chunk[-1].position
        with write.begin() as conn:
            zones = zones_for(conn, {r.key[0] for r in revisions}, position)
            subtract_live(conn, ends, zones, position)
            _end_current(conn, REVISED_TABLES, ends)
            _insert_credits(conn, revisions, zones, position)
            insert_paths(conn, revisions)
            record_times(conn, UPSTREAM, chunk, {e.position for e in chunk})
        for r in revisions:
            latest[r.key] = r.attribution.revision

    for entry in entries:
        chunk.append(entry)
        count += 1
        last = entry.position
        if len(chunk) == chunk_size:
            flush()
            chunk = []
    if chunk:
        flush()
    with write.begin() as conn:
        record_position(conn, projection_positions, PROJECTION_NAME, UPSTREAM, last)
    return count, last


def analyse(engine: Connectable) -> None:
    """Gathers the planner's statistics (PostgreSQL: autovacuum's job after a load; SQLite:
    `ANALYZE`, which its planner uses when present)."""
    with writer(engine).begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def timed(step: Any, *args: Any) -> tuple[Any, float, float]:
    """`step(*args)`, its wall and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = step(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def view_rows(conn: Connection, tables: Sequence[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of each table, sorted: for comparing two loads."""
    return {
        t.name: sorted(tuple(row) for row in conn.execute(select(t)))  # type: ignore[misc]
        for t in tables
    }
