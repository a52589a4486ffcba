"""The day totals: live credits summed per local day, kept by the credits projection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, delete, insert, select, tuple_

from services.reporting.bulk import add_to_sums
from services.reporting.domainmodel import GroupBy
from services.reporting.periods import local_day
from services.reporting.value_parts import value_parts
from services.reporting.views import (
    conversion_credits,
    conversion_day_counts,
    conversion_day_totals,
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
_COUNT_KEYS = ("property_id", "conversion_name", "model", "day")
_COUNT_SUMS = ("conversions", "unconsented")


@dataclass(frozen=True, slots=True)
class CreditFigures:
    """What the day totals need of one credit: its dimension values (in DIMENSIONS' order),
    fraction units and value."""

    values: tuple[str, ...]
    fraction_units: int
    value_micros: int


@dataclass
class DayDeltas:
    """Changes to the day totals gathered over a page, written at once by `apply`."""

    totals: dict[tuple[object, ...], list[int]] = field(default_factory=dict)
    counts: dict[tuple[object, ...], list[int]] = field(default_factory=dict)

    def add(
        self,
        property_id: str,
        conversion_name: str,
        model: str,
        day: int,
        currency: str,
        credits: Sequence[CreditFigures],
        unconsented: bool,
        sign: int,
    ) -> None:
        """Adds (sign 1) or takes away (-1) one conversion's credits under one model."""
        if not credits:
            return
        totals = self.totals
        for credit in credits:
            high, middle, low = value_parts(credit.value_micros)
            figures = (sign, sign * credit.fraction_units, sign * high, sign * middle, sign * low)
            for dimension, value in zip(DIMENSIONS, credit.values, strict=True):
                key = (property_id, conversion_name, model, dimension, day, value, currency)
                sums = totals.get(key)
                if sums is None:
                    totals[key] = list(figures)
                else:
                    sums[0] += figures[0]
                    sums[1] += figures[1]
                    sums[2] += figures[2]
                    sums[3] += figures[3]
                    sums[4] += figures[4]
        counted = self.counts.setdefault((property_id, conversion_name, model, day), [0, 0])
        counted[0] += sign
        counted[1] += sign * int(unconsented)

    def apply(self, conn: Connection) -> None:
        """Adds the gathered changes to the tables and deletes the rows left without credits
        (or conversions)."""
        totals = [(*k, *v) for k, v in self.totals.items() if any(v)]
        add_to_sums(conn, conversion_day_totals, _TOTAL_KEYS, _TOTAL_SUMS, totals, "credits")
        counts = [(*k, *v) for k, v in self.counts.items() if any(v)]
        add_to_sums(conn, conversion_day_counts, _COUNT_KEYS, _COUNT_SUMS, counts, "conversions")


def zones_for(conn: Connection, property_ids: Iterable[str]) -> dict[str, ZoneInfo]:
    """The time zone each property's day totals are in, made its setting first where they
    are in another one or in none (recomputed from the live credits). On PostgreSQL the
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
            recompute(conn, property_id, name)
        zones[property_id] = ZoneInfo(name)
    return zones


def recompute(conn: Connection, property_id: str, zone_name: str) -> None:
    """Replaces a property's day totals by those of its live credits in the zone, and
    records the zone."""
    # The zone's row first: a page being written holds it (PostgreSQL), and waits for none.
    for table in (day_total_zones, conversion_day_totals, conversion_day_counts):
        conn.execute(delete(table).where(table.c.property_id == property_id))
    zone = ZoneInfo(zone_name)
    c, u = conversion_credits.c, unconsented_conversions.c
    unconsented = {
        (property_id, conversion_id)
        for conversion_id in conn.execute(
            select(u.conversion_id).where(u.property_id == property_id, u.valid_to.is_(None))
        ).scalars()
    }
    deltas = DayDeltas()
    statement = (
        select(*_credit_columns())
        .where(c.property_id == property_id, c.valid_to.is_(None))
        .order_by(c.conversion_id, c.model, c.credit_index)
    )
    _add_rows(deltas, conn.execute(statement), {property_id: zone}, unconsented, 1)
    deltas.apply(conn)
    conn.execute(insert(day_total_zones).values(property_id=property_id, time_zone=zone_name))


def subtract_live(
    conn: Connection,
    deltas: DayDeltas,
    keys: Iterable[tuple[str, str]],
    zones: dict[str, ZoneInfo],
) -> None:
    """Takes the live credits of the (property, conversion) `keys` away from `deltas` (before
    a new revision or a retraction ends them)."""
    c, u = conversion_credits.c, unconsented_conversions.c
    ordered = sorted(set(keys))
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
        statement = (
            select(*_credit_columns())
            .where(tuple_(c.property_id, c.conversion_id).in_(chunk), c.valid_to.is_(None))
            .order_by(c.property_id, c.conversion_id, c.model, c.credit_index)
        )
        rows = conn.execute(statement)
        _add_rows(deltas, rows, zones, unconsented, -1)


def _credit_columns() -> list[ColumnElement[Any]]:
    c = conversion_credits.c
    heads = ("property_id", "conversion_id", "model", "conversion_name", "occurred_at",
             "currency_code", "fraction_units", "value_micros")  # fmt: skip
    return [c[name] for name in (*heads, *DIMENSIONS)]


def _add_rows(
    deltas: DayDeltas,
    rows: Iterable[tuple[object, ...]],
    zones: dict[str, ZoneInfo],
    unconsented: set[tuple[str, str]],
    sign: int,
) -> None:
    """Adds credits rows (ordered by conversion and model, as `_credit_columns`) to deltas;
    `unconsented` holds the (property, conversion) keys counted without consent."""
    group: list[CreditFigures] = []
    head: tuple[object, ...] | None = None

    def flush() -> None:
        if head is None:
            return
        property_id, conversion_id, model, name, occurred_at, currency = head
        assert isinstance(property_id, str) and isinstance(conversion_id, str)
        assert isinstance(occurred_at, datetime)
        flagged = (property_id, conversion_id) in unconsented
        moment = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)
        day = local_day(moment, zones[property_id])
        deltas.add(property_id, str(name), str(model), day, str(currency), group, flagged, sign)

    for row in rows:
        key = row[:6]
        if head is None or key[:3] != head[:3]:
            flush()
            group = []
            head = key
        units, micros = row[6], row[7]
        group.append(CreditFigures(tuple(str(v) for v in row[8:]), int(units or 0), int(micros)))  # type: ignore[call-overload]
    flush()
