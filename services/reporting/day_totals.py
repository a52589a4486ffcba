"""The day totals: live credits summed per local day, kept by the credits projection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, delete, insert, select, tuple_

from services.reporting.bulk import delete_keys, qualified_name, stage_values
from services.reporting.domainmodel import GroupBy
from services.reporting.periods import local_day, month_of_day_sql
from services.reporting.value_parts import VALUE_PART_BITS, VALUE_PART_MASK
from services.reporting.views import (
    conversion_credits,
    conversion_day_counts,
    conversion_day_totals,
    conversion_month_totals,
    day_total_zones,
    property_settings,
    unconsented_conversions,
)

DIMENSIONS = tuple(g.value for g in GroupBy if g is not GroupBy.CONVERSION_NAME)
"""The credits columns the day totals sum by (conversion names are a key of their own)."""

DEFAULT_ZONE = "UTC"
LOOKUP_CHUNK = 500
_TOTAL_KEYS = ("property_id", "conversion_name", "model", "dimension", "day", "value",
               "currency_code")  # fmt: skip
_TOTAL_SUMS = ("credits", "fraction_units", "value_high", "value_middle", "value_low")
_MONTH_KEYS = tuple("month" if k == "day" else k for k in _TOTAL_KEYS)
_COUNT_KEYS = ("property_id", "conversion_name", "model", "day")
_COUNT_SUMS = ("conversions", "unconsented")
SORT_MEMORY = "256MB"
"""PostgreSQL's work_mem for the day sums of a transaction (its default, 4MB, sorted a
catch-up transaction's 350k credit-dimension rows on disk)."""
_DAYS_TABLE = "staged_conversion_days"
_DAYS_COLUMNS = (("property_id", "VARCHAR"), ("conversion_id", "VARCHAR"), ("day", "BIGINT"),
                 ("unconsented", "BIGINT"))  # fmt: skip

_SUMMED_TABLE = "summed_day_totals"
_SUMMED_COLUMNS = (
    *((k, "BIGINT" if k == "day" else "VARCHAR") for k in _TOTAL_KEYS),
    *((s, "BIGINT") for s in _TOTAL_SUMS),
)
"""A temporary table of a page's credits summed per day-totals key (signed): the day totals
and the month totals are both added from it."""

STAGED_EXTRA = ("day", "unconsented")
"""The columns a page's staged credits have besides conversion_credits' (bulk.stage_rows):
the local day of a live credit (in its property's zone, `zones_for`) and 1 for a credit
of a conversion counted without consent."""


def add_staged_credits(conn: Connection, staged: str, position: int) -> None:
    """Adds the live credits (`valid_to` NULL) of the staged table `staged` (conversion_credits'
    columns plus STAGED_EXTRA) to the day totals and counts, as changed at `position` (of
    attribution's log: the page's)."""
    if conn.dialect.name == "postgresql":
        # With statistics, the sums are grouped by hashing, not by sorting text keys.
        conn.exec_driver_sql(f"ANALYZE {staged}")
    _add_to_day_tables(conn, f"{staged} AS c", "c.day", "c.unconsented", 1, position)


def subtract_live(
    conn: Connection,
    keys: Iterable[tuple[str, str]],
    zones: dict[str, ZoneInfo],
    position: int,
) -> None:
    """Takes the live credits of the (property, conversion) `keys` away from the day totals
    and counts (before a new revision or a retraction ends them), as changed at `position`,
    deleting the rows left without credits (or conversions)."""
    ordered = sorted(set(keys))
    if not ordered:
        return
    c, u = conversion_credits.c, unconsented_conversions.c
    days: list[tuple[str, str, int, int]] = []
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ordered[start : start + LOOKUP_CHUNK]
        unconsented = {
            (p, i)
            for p, i in conn.execute(
                select(u.property_id, u.conversion_id).where(
                    tuple_(u.property_id, u.conversion_id).in_(chunk), u.valid_to.is_(None)
                )
            )
        }
        found = conn.execute(
            select(c.property_id, c.conversion_id, c.occurred_at)
            .distinct()
            .where(tuple_(c.property_id, c.conversion_id).in_(chunk), c.valid_to.is_(None))
        )
        days += _days(found, zones, unconsented)
    _add_stored(conn, days, -1, position)


def _days(
    rows: Iterable[Sequence[Any]],
    zones: dict[str, ZoneInfo],
    unconsented: set[tuple[str, str]],
) -> list[tuple[str, str, int, int]]:
    """(property, conversion, local day, 1 if counted without consent) of each live
    conversion among (property, conversion, time) `rows`."""
    days = []
    for property_id, conversion_id, occurred_at in rows:
        assert isinstance(occurred_at, datetime)
        moment = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)
        key = (property_id, conversion_id)
        days.append((*key, local_day(moment, zones[property_id]), int(key in unconsented)))
    return days


def _add_stored(
    conn: Connection, days: Sequence[tuple[str, str, int, int]], sign: int, position: int
) -> None:
    """Adds (sign 1) or takes away (-1) the live stored credits of the conversions `days`
    names (with their local days) to or from the day tables, as changed at `position`."""
    if not days:
        return
    staged = stage_values(conn, _DAYS_TABLE, _DAYS_COLUMNS, days)
    if conn.dialect.name == "postgresql":
        # A new temporary table has no statistics: without them the join may scan the credits.
        conn.exec_driver_sql(f"ANALYZE {staged}")
    source = (
        f"{qualified_name(conn, conversion_credits)} AS c JOIN {staged} AS k "
        "ON c.property_id = k.property_id AND c.conversion_id = k.conversion_id"
    )
    _add_to_day_tables(conn, source, "k.day", "k.unconsented", sign, position)


def _add_to_day_tables(
    conn: Connection, source: str, day: str, unconsented: str, sign: int, position: int
) -> None:
    """Adds (sign 1) or takes away (-1) the live credits of `source` (SQL naming them `c`,
    with `day` and `unconsented` expressions) to or from the day totals, month totals and
    counts, summed by the database (one statement sums the credits of every dimension per
    day, and both totals are added from its rows; one statement for the counts, which also
    sets each changed day's `changed_at` to `position`); after taking away, deletes the rows
    left without credits (or conversions)."""
    quote = conn.dialect.identifier_preparer.quote
    mask, bits = VALUE_PART_MASK, VALUE_PART_BITS
    if conn.dialect.name == "postgresql":
        # A catch-up transaction's credits, ten times over, sort in memory rather than on disk.
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
    per_dimension = " UNION ALL ".join(
        f"SELECT c.property_id, c.conversion_name, c.model, '{d}' AS dimension, {day} AS day, "
        f"c.{quote(d)} AS value, c.currency_code, COALESCE(c.fraction_units, 0) AS units, "
        f"c.value_micros AS micros FROM {source} WHERE c.valid_to IS NULL"
        for d in DIMENSIONS
    )
    keys = ", ".join(_TOTAL_KEYS)
    summed = stage_values(conn, _SUMMED_TABLE, _SUMMED_COLUMNS, [])
    conn.exec_driver_sql(
        f"INSERT INTO {summed} SELECT {keys}, {sign} * COUNT(*), {sign} * SUM(units), "
        f"{sign} * SUM(micros >> {2 * bits}), {sign} * SUM((micros >> {bits}) & {mask}), "
        f"{sign} * SUM(micros & {mask}) FROM ({per_dimension}) AS credits GROUP BY {keys}"
    )
    # SQLite reads "ON CONFLICT" after a SELECT without WHERE as part of the SELECT: the
    # `WHERE 1 = 1` keeps the upsert's clause apart (its documented workaround).
    sums = ", ".join(_TOTAL_SUMS)
    _upsert(
        conn,
        conversion_day_totals,
        _TOTAL_KEYS,
        _TOTAL_SUMS,
        f"SELECT {keys}, {sums} FROM {summed} WHERE 1 = 1",
        sign,
    )
    month = month_of_day_sql(conn.dialect.name, "day")
    month_keys = ", ".join(month if k == "day" else k for k in _TOTAL_KEYS)
    _upsert(
        conn,
        conversion_month_totals,
        _MONTH_KEYS,
        _TOTAL_SUMS,
        f"SELECT {month_keys}, {', '.join(f'SUM({s})' for s in _TOTAL_SUMS)} FROM {summed} "
        f"WHERE 1 = 1 GROUP BY {month_keys}",
        sign,
    )
    _upsert(
        conn,
        conversion_day_counts,
        _COUNT_KEYS,
        _COUNT_SUMS,
        f"SELECT c.property_id, c.conversion_name, c.model, {day}, {sign} * COUNT(*), "
        f"{sign} * SUM({unconsented}), {int(position)} FROM {source} WHERE c.valid_to IS NULL "
        f"AND c.credit_index = 0 GROUP BY c.property_id, c.conversion_name, c.model, {day}",
        sign,
        replaced=("changed_at",),
    )


def _upsert(
    conn: Connection,
    table: Table,
    keys: Sequence[str],
    sums: Sequence[str],
    selected: str,
    sign: int,
    replaced: Sequence[str] = (),
) -> None:
    """Adds the sums of `selected` (keys, sums, then the `replaced` columns; each key once)
    to the rows of `table` with their keys, setting their `replaced` columns, inserting the
    missing ones; after negative sums, deletes the rows whose first sum (the count) became 0."""
    added = ", ".join(
        (
            *(f"{s} = old.{s} + excluded.{s}" for s in sums),
            *(f"{r} = excluded.{r}" for r in replaced),
        )
    )
    columns = ", ".join((*keys, *sums, *replaced))
    statement = (
        f"INSERT INTO {qualified_name(conn, table)} AS old ({columns}) "
        f"{selected} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {added}"
    )
    if sign > 0:
        conn.exec_driver_sql(statement)
        return
    changed = conn.exec_driver_sql(f"{statement} RETURNING {', '.join(keys)}, {sums[0]}")
    emptied = [row[:-1] for row in changed if row[-1] == 0]
    delete_keys(conn, table, keys, emptied)


def zones_for(conn: Connection, property_ids: Iterable[str], position: int) -> dict[str, ZoneInfo]:
    """The time zone each property's day totals are in, made its setting first where they
    are in another one or in none (recomputed from the live credits, as changed at
    `position`, the page's). On PostgreSQL the
    properties' `day_total_zones` rows stay locked to the transaction's end, so a change of
    the setting waits for a page being written."""
    wanted = sorted(set(property_ids))
    recorded: dict[str, str] = {}
    settings: dict[str, str] = {}
    z, s = day_total_zones.c, property_settings.c
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        statement = select(z.property_id, z.time_zone).where(z.property_id.in_(chunk))
        if conn.dialect.name == "postgresql":
            statement = statement.with_for_update()
        recorded.update((p, z) for p, z in conn.execute(statement))
        chosen = select(s.property_id, s.time_zone).where(s.property_id.in_(chunk))
        settings.update((p, z) for p, z in conn.execute(chosen))
    zones = {}
    for property_id in wanted:
        name = settings.get(property_id, DEFAULT_ZONE)
        if recorded.get(property_id) != name:
            recompute(conn, property_id, name, position)
        zones[property_id] = ZoneInfo(name)
    return zones


def recompute(conn: Connection, property_id: str, zone_name: str, position: int) -> None:
    """Replaces a property's day totals by those of its live credits in the zone, as changed
    at `position` (no lower than any page of the property's so far: the property's position
    of attribution's log), and records the zone."""
    # The zone's row first: a page being written holds it (PostgreSQL), and waits for none.
    for table in (
        day_total_zones,
        conversion_day_totals,
        conversion_month_totals,
        conversion_day_counts,
    ):
        conn.execute(delete(table).where(table.c.property_id == property_id))
    c, u = conversion_credits.c, unconsented_conversions.c
    unconsented = {
        (property_id, conversion_id)
        for conversion_id in conn.execute(
            select(u.conversion_id).where(u.property_id == property_id, u.valid_to.is_(None))
        ).scalars()
    }
    found = conn.execute(
        select(c.property_id, c.conversion_id, c.occurred_at)
        .distinct()
        .where(c.property_id == property_id, c.valid_to.is_(None))
    )
    _add_stored(conn, _days(found, {property_id: ZoneInfo(zone_name)}, unconsented), 1, position)
    conn.execute(insert(day_total_zones).values(property_id=property_id, time_zone=zone_name))
