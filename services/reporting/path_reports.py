"""Conversion path views and reports: top paths, path length and time lag distributions,
and assisted versus last-touch conversions per channel."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from services.reporting.as_of import ATTRIBUTION, current, live_position, resolve
from services.reporting.domainmodel import AsOf, Freshness
from services.reporting.errors import (
    MixedCurrencyError,
    UnknownPropertyError,
)
from services.reporting.generations import Connectable
from services.reporting.log_clock import time_of
from services.reporting.path_values import (
    BUCKETS,
    AssistReport,
    AssistRow,
    BucketRow,
    DistributionKind,
    PathDistribution,
    PathQuery,
    PathReport,
    PathRow,
    PathTotals,
    steps_of_key,
)
from services.reporting.scope import check_request, counted_name, snapshot, utc
from services.reporting.value_parts import joined_value, value_part_sums
from services.reporting.views import (
    conversion_path_channels,
    conversion_paths,
    unconsented_conversions,
)


class PathReports:
    """Answers path queries from the path views, each from one snapshot."""

    def __init__(self, engine: Connectable, shards: int = 1) -> None:
        """`shards`: how many shards the followers run in (freshness is the property's shard's)."""
        self._engine = engine
        self._shards = shards

    def top_paths(self, query: PathQuery) -> PathReport:
        """Paths by conversions (most first, then by path), one page after `query.offset`."""
        with snapshot(self._engine) as conn:
            query = self._resolved(conn, query)
            name = self._scope(conn, query)
            totals = self._totals(conn, query, name)
            p = conversion_paths.c
            key = p.collapsed_steps if query.collapse_repeats else p.steps
            ordered_key = key.collate("C") if conn.dialect.name == "postgresql" else key
            count = func.count()
            statement = (
                select(key, count, *value_part_sums(p.value_micros))
                .where(*_conditions(p, query, name))
                .group_by(key)
                .order_by(count.desc(), ordered_key)
                .limit(query.page_size + 1)
                .offset(query.offset)
            )
            found = [tuple(r) for r in conn.execute(statement)]
            rows = tuple(
                PathRow(
                    steps=tuple(steps_of_key(str(k))),
                    conversions=int(n),
                    value_micros=joined_value(high, middle, low),
                    conversion_share=_share(int(n), totals.conversions),
                    value_share=_share(joined_value(high, middle, low), totals.value_micros),
                )
                for k, n, high, middle, low in found[: query.page_size]
            )
            more = len(found) > query.page_size
            return PathReport(
                rows=rows,
                totals=totals,
                collapse_repeats=query.collapse_repeats,
                next_offset=query.offset + query.page_size if more else 0,
            )

    def distribution(self, query: PathQuery, kind: DistributionKind) -> PathDistribution:
        """Conversions and value per path length (touchpoints) or time lag (whole days from
        the first touch) bucket."""
        with snapshot(self._engine) as conn:
            query = self._resolved(conn, query)
            name = self._scope(conn, query)
            totals = self._totals(conn, query, name)
            p = conversion_paths.c
            measure = p.touchpoints if kind is DistributionKind.PATH_LENGTH else p.lag_days
            statement = (
                select(measure, func.count(), *value_part_sums(p.value_micros))
                .where(*_conditions(p, query, name))
                .group_by(measure)
            )
            sums: dict[int | None, tuple[int, int]] = {
                (None if m is None else int(m)): (int(n), joined_value(high, middle, low))
                for m, n, high, middle, low in (tuple(r) for r in conn.execute(statement))
            }
            without = sums.pop(None, (0, 0))[0] if kind is DistributionKind.TIME_LAG else 0
            counted = sum(n for n, _ in sums.values())
            counted_value = sum(v for _, v in sums.values())
            rows = []
            for bucket in BUCKETS[kind]:
                inside = [
                    s
                    for m, s in sums.items()
                    if m is not None
                    and m >= bucket.low
                    and (bucket.high is None or m <= bucket.high)
                ]
                n = sum(c for c, _ in inside)
                value = sum(v for _, v in inside)
                rows.append(
                    BucketRow(bucket, n, value, _share(n, counted), _share(value, counted_value))
                )
            if kind is DistributionKind.PATH_LENGTH:
                without = sums.get(0, (0, 0))[0]
            return PathDistribution(kind, tuple(rows), totals, without)

    def assisted(self, query: PathQuery) -> AssistReport:
        """Per channel: conversions (and their whole value) whose path it assisted (it appears
        in the path but is not its last non-direct channel), and those it closed (it is)."""
        with snapshot(self._engine) as conn:
            query = self._resolved(conn, query)
            name = self._scope(conn, query)
            totals = self._totals(conn, query, name)
            c = conversion_path_channels.c
            statement = (
                select(c.channel, c.last_touch, func.count(), *value_part_sums(c.value_micros))
                .where(*_conditions(c, query, name))
                .group_by(c.channel, c.last_touch)
            )
            figures: dict[str, dict[bool, tuple[int, int]]] = {}
            for channel, last, n, high, middle, low in (tuple(r) for r in conn.execute(statement)):
                figures.setdefault(str(channel), {})[bool(last)] = (
                    int(n),
                    joined_value(high, middle, low),
                )
            rows = []
            for channel in sorted(figures):
                assisted = figures[channel].get(False, (0, 0))
                closed = figures[channel].get(True, (0, 0))
                rows.append(
                    AssistRow(
                        channel=channel,
                        assisted_conversions=assisted[0],
                        assisted_value_micros=assisted[1],
                        last_touch_conversions=closed[0],
                        last_touch_value_micros=closed[1],
                        ratio=assisted[0] / closed[0] if closed[0] else None,
                    )
                )
            return AssistReport(tuple(rows), totals)

    def _resolved(self, conn: Connection, query: PathQuery) -> PathQuery:
        """The query with its as-of moment as a position of attribution's log (None: live)."""
        at = resolve(conn, query.as_of, query.property_id, self._shards).attribution
        return replace(query, as_of=None if at is None else AsOf(attribution_position=at))

    def _scope(self, conn: Connection, query: PathQuery) -> str:
        """The conversion name the report counts, once the property and name are known."""
        check_request(query.property_id, query.start, query.end)
        p = conversion_paths.c
        names = list(
            conn.execute(
                select(p.conversion_name)
                .where(p.property_id == query.property_id, current(p, _at(query)))
                .distinct()
                .order_by(p.conversion_name)
            ).scalars()
        )
        if not names and query.as_of is not None:
            raise UnknownPropertyError(
                f"property {query.property_id!r} had no conversion path as of attribution "
                f"position {_at(query)}"
            )
        if not names:
            raise UnknownPropertyError(
                f"property {query.property_id!r} has no conversion path (conversions "
                "attributed before reporting kept paths get theirs after `convtrack "
                "rebuild-reports`)"
            )
        return counted_name(
            query.property_id,
            query.conversion_name,
            names,
            described="{name!r} conversion with a path",
        )

    def _totals(self, conn: Connection, query: PathQuery, name: str) -> PathTotals:
        p = conversion_paths.c
        row = conn.execute(
            select(
                func.count(),
                *value_part_sums(p.value_micros),
                func.min(p.currency_code),
                func.max(p.currency_code),
                func.max(p.occurred_at),
            ).where(*_conditions(p, query, name))
        ).one()
        count, high, middle, low, lowest, highest, newest = tuple(row)
        if lowest != highest:
            raise MixedCurrencyError(
                f"property {query.property_id!r} has values in several reporting currencies "
                f"({lowest}, {highest}): narrow the time range"
            )
        u = unconsented_conversions.c
        unconsented = conn.execute(
            select(func.count()).where(*_conditions(u, query, name))
        ).scalar_one()
        at = _at(query)
        position = (
            live_position(conn, ATTRIBUTION, query.property_id, self._shards) if at is None else at
        )
        return PathTotals(
            conversion_name=name,
            conversions=int(count),
            value_micros=joined_value(high or 0, middle or 0, low or 0),
            currency_code=lowest or "",
            unconsented_conversions=int(unconsented),
            freshness=Freshness(
                ((ATTRIBUTION, position),),
                None if newest is None else utc(newest),
                None if at is None else time_of(conn, ATTRIBUTION, at),
            ),
        )


def _conditions(columns: Any, query: PathQuery, name: str) -> list[ColumnElement[bool]]:
    """The query's filters on a table with property, conversion name, time and revision
    columns, on the rows current at its position."""
    conditions = [
        columns.property_id == query.property_id,
        columns.conversion_name == name,
        current(columns, _at(query)),
    ]
    if query.start is not None:
        conditions.append(columns.occurred_at >= utc(query.start))
    if query.end is not None:
        conditions.append(columns.occurred_at < utc(query.end))
    return conditions


def _at(query: PathQuery) -> int | None:
    return None if query.as_of is None else query.as_of.attribution_position


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
