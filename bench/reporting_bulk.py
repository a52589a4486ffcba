"""A fast loader of the conversion views for the report benchmark at the issue's scale.

It writes exactly the rows `ConversionCreditsProjection.process_page` writes for the same
log, with the projection's own row builders (`_accepted_revisions`, `_insert_credits`,
`insert_paths`, `record_times`, `_end_current`), but in transactions of `CHUNK` entries and
without what makes a page slow at scale: it does not look up stored revisions (it remembers
each conversion's latest revision itself, and ends the current rows only of conversions it
has seen before), and it derives the day totals at the end in SQL (`derive_day_totals`,
UTC days) instead of adding to them per page. tests/unit/test_reporting_bench.py
checks that the views equal those the projection loads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, insert, select

from common.follower import UpstreamEntry
from common.sql_positions import record_position
from services.reporting.day_totals import DEFAULT_ZONE, DIMENSIONS, DayDeltas
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
from services.reporting.value_parts import VALUE_PART_BITS, VALUE_PART_MASK
from services.reporting.views import (
    conversion_credits,
    conversion_day_counts,
    conversion_day_totals,
    day_total_zones,
    projection_positions,
    property_settings,
    unconsented_conversions,
)

CHUNK = 20_000
"""Upstream entries per transaction."""

UPSTREAM = "attribution"
REVISED_TABLES = (conversion_credits, unconsented_conversions, *PATH_TABLES)


class _NoDayDeltas(DayDeltas):
    """Day deltas that gather nothing: the loader recomputes the day totals at the end."""

    def add(self, *args: Any, **kwargs: Any) -> None:
        """Ignores the credits."""


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
    properties: set[str] = set()
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
            properties.add(r.key[0])
        zones = {p: ZoneInfo(DEFAULT_ZONE) for p in properties}
        with write.begin() as conn:
            _end_current(conn, REVISED_TABLES, ends)
            _insert_credits(conn, revisions, _NoDayDeltas(), zones)
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
        derive_day_totals(conn, sorted(properties))
        record_position(conn, projection_positions, PROJECTION_NAME, UPSTREAM, last)
    return count, last


def _day_number(conn: Connection) -> str:
    """SQL for a credit's day in UTC, as days since 1970-01-01 (periods.local_day)."""
    if conn.dialect.name == "postgresql":
        return "((c.occurred_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
    # SQLAlchemy stores SQLite's times as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC here).
    return "CAST(julianday(substr(c.occurred_at, 1, 10)) - 2440587.5 AS INTEGER)"


def derive_day_totals(conn: Connection, property_ids: Sequence[str]) -> None:
    """Fills `conversion_day_totals`, `conversion_day_counts` and `day_total_zones` of the
    properties from their live credits in SQL, in UTC (no property of the bench has a time
    zone setting): what `day_totals.recompute` writes, as the loader's test checks, without
    its pass of every credit through Python (~1 ms per conversion)."""
    for property_id in property_ids:
        if conn.execute(
            select(property_settings.c.time_zone).where(
                property_settings.c.property_id == property_id
            )
        ).scalar() not in (None, DEFAULT_ZONE):
            raise ValueError(f"{property_id} has a time zone: the bulk loader writes UTC days")
    if conn.dialect.name == "sqlite":
        # Each dimension's GROUP BY sorts the live credits: in memory, not in a temp file.
        conn.exec_driver_sql("PRAGMA temp_store = MEMORY")
        conn.exec_driver_sql("PRAGMA cache_size = -262144")
    day = _day_number(conn)
    totals = _qualified(conn, conversion_day_totals)
    counts = _qualified(conn, conversion_day_counts)
    credits = _qualified(conn, conversion_credits)
    # Without statistics SQLite groups through the (property, name, model, time) index, one
    # random table read per credit (10M credits: over 25 minutes); it scans the table instead.
    hint = " NOT INDEXED" if conn.dialect.name == "sqlite" else ""
    credits = f"{credits} AS c{hint}"
    unconsented = _qualified(conn, unconsented_conversions)
    bits, mask = VALUE_PART_BITS, VALUE_PART_MASK
    for dimension in DIMENSIONS:
        conn.exec_driver_sql(
            f"INSERT INTO {totals} (property_id, conversion_name, model, dimension, day, value, "
            "currency_code, credits, fraction_units, value_high, value_middle, value_low) "
            f"SELECT c.property_id, c.conversion_name, c.model, '{dimension}', {day}, "
            f"c.{dimension}, c.currency_code, COUNT(*), SUM(c.fraction_units), "
            f"SUM(c.value_micros >> {2 * bits}), SUM((c.value_micros >> {bits}) & {mask}), "
            f"SUM(c.value_micros & {mask}) FROM {credits} WHERE c.valid_to IS NULL "
            f"GROUP BY c.property_id, c.conversion_name, c.model, {day}, c.{dimension}, "
            "c.currency_code"
        )
    # A conversion with credits under a model has its first one (credit_index 0).
    conn.exec_driver_sql(
        f"INSERT INTO {counts} (property_id, conversion_name, model, day, conversions, "
        f"unconsented) SELECT c.property_id, c.conversion_name, c.model, {day}, COUNT(*), "
        "SUM(CASE WHEN u.conversion_id IS NULL THEN 0 ELSE 1 END) "
        f"FROM {credits} LEFT JOIN {unconsented} AS u ON u.property_id = c.property_id "
        "AND u.conversion_id = c.conversion_id AND u.valid_to IS NULL "
        "WHERE c.valid_to IS NULL AND c.credit_index = 0 "
        f"GROUP BY c.property_id, c.conversion_name, c.model, {day}"
    )
    conn.execute(
        insert(day_total_zones),
        [{"property_id": p, "time_zone": DEFAULT_ZONE} for p in property_ids],
    )


def _qualified(conn: Connection, table: Table) -> str:
    """The table's name as `conn` reaches it (schema translation applied)."""
    quote = conn.dialect.identifier_preparer.quote
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(table.schema, table.schema)
    return quote(table.name) if schema is None else f"{quote(schema)}.{quote(table.name)}"


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
