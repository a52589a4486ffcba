"""Reporting's use cases: conversion reports from the conversion credits view."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Integer,
    Select,
    Subquery,
    Table,
    and_,
    case,
    cast,
    delete,
    extract,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
)

from common.money import NANOS_PER_MICRO, NANOS_PER_UNIT, Money
from services.reporting.as_of import ATTRIBUTION, current, live_position, resolve
from services.reporting.day_totals import recompute
from services.reporting.domainmodel import (
    NOT_SET,
    AsOf,
    ComparisonRow,
    ConversionReport,
    Freshness,
    GroupBy,
    Interval,
    ModelComparison,
    Page,
    PreviousFigures,
    PropertySettings,
    ReportQuery,
    ReportRow,
)
from services.reporting.errors import (
    InvalidComparisonError,
    InvalidTimeZoneError,
    MissingPropertyError,
    MixedCurrencyError,
    UnknownPropertyError,
)
from services.reporting.filter_totals import FILTER_DIMENSIONS
from services.reporting.fraction_units import UNITS_PER_CONVERSION
from services.reporting.generations import Connectable, writer
from services.reporting.log_clock import time_of
from services.reporting.periods import (
    EPOCH,
    EPOCH_ORDINAL,
    day_key_sql,
    first_day,
    key_of,
    key_of_day,
    local_day,
    period_key_sql,
    period_start,
)
from services.reporting.scope import (
    check_request,
    configured_models_of,
    counted_name,
    credited_models,
    require_model,
    snapshot,
    unknown_name,
    utc,
)
from services.reporting.value_parts import joined_value, value_part_sums
from services.reporting.views import (
    conversion_credits,
    conversion_day_counts,
    conversion_day_totals,
    conversion_month_totals,
    day_total_zones,
    filter_day_counts,
    filter_day_totals,
    filter_summarised_days,
    property_settings,
    unconsented_conversions,
)


class ReportingApplication:
    """Answers report queries from the views that the projections keep up to date."""

    def __init__(
        self,
        engine: Connectable,
        upstreams: Sequence[str] = (),
        shards: int = 1,
        *,
        filter_totals: bool = False,
    ) -> None:
        """`upstreams` are the logs whose positions each report carries as its freshness;
        `shards`, how many shards the followers run in (a report's positions are those of its
        property's shard); `filter_totals`, whether reports filtered by one value of a filter
        dimension read the days the filter totals summarise (off: the credits, as when no
        follower sums them)."""
        self._engine = engine
        self._shards = shards
        self._filter_totals = filter_totals
        self._writer = writer(engine)
        self._upstreams = tuple(upstreams)

    def conversion_report(
        self, query: ReportQuery, offset: int = 0, limit: int | None = None
    ) -> ConversionReport:
        """Conversions, value and share per group under one model, for one conversion name
        (the query's, or the property's only one) unless the query filters or groups by
        conversion names; per day, week or month in the property's time zone with an
        interval; with the compared period's figures and the change per row when the query
        has a comparison period. Rows `offset` to `offset + limit` of the report (all when
        `limit` is None).

        Without an interval rows come by conversions (most first), then previous
        conversions, then group; with one, by period first. Fractions are added as integer
        fraction units (exact, in any order), so the same credits give the same report, bit
        for bit, however the rows were written. A live query grouped by one dimension without
        filters reads the whole local days of its range from the day totals and only the
        partial days at its edges from the credits (docs/architecture.md, "Reporting").
        """
        with snapshot(self._engine) as conn:
            scoped = self._scoped(conn, query, [query.model])
            zone_name = self._settings(conn, query.property_id).time_zone
            totals = _totals_zone(conn, query.property_id) == zone_name
            report = self._report(conn, scoped, ZoneInfo(zone_name), totals)
            rows = report.rows
            end = len(rows) if limit is None else offset + limit
            return replace(
                report,
                rows=rows[offset:end],
                total_rows=len(rows),
                next_offset=end if end < len(rows) else 0,
                conversion_name=scoped.conversion_name,
                conversion_names=self._counted_names(conn, scoped),
                time_zone=zone_name,
                freshness=self._freshness(conn, scoped, [query.model]),
            )

    def property_settings(self, property_id: str) -> PropertySettings:
        """What the property chose for its reports (the defaults when it never chose)."""
        with snapshot(self._engine) as conn:
            return self._settings(conn, property_id)

    def set_property_settings(
        self, property_id: str, settings: PropertySettings
    ) -> PropertySettings:
        """Replaces what the property chose for its reports, and its day totals by those in
        the new time zone, in one transaction; durable when this returns. Raises
        InvalidTimeZoneError for a time zone that is no IANA zone name."""
        if not property_id:
            raise MissingPropertyError("property_id is required")
        try:
            ZoneInfo(settings.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise InvalidTimeZoneError(
                f"{settings.time_zone!r} is no IANA time zone name (for example "
                "Europe/Berlin or America/New_York)"
            ) from error
        t = property_settings.c
        with self._writer.begin() as conn:
            conn.execute(delete(property_settings).where(t.property_id == property_id))
            conn.execute(
                insert(property_settings).values(
                    property_id=property_id,
                    time_zone=settings.time_zone,
                    updated_at=datetime.now(UTC),
                )
            )
            if _totals_zone(conn, property_id) != settings.time_zone:
                position = live_position(conn, ATTRIBUTION, property_id, self._shards)
                recompute(conn, property_id, settings.time_zone, position)
        return settings

    def compare_models(self, query: ReportQuery, models: Sequence[str]) -> ModelComparison:
        """The report of `query` under each model, side by side (the model in `query` is
        ignored), all from one snapshot, with the query's filters, interval and comparison
        period, grouped by the query's dimensions (each row carries its value of each).
        Rows follow the first model's order (with an interval, periods first); groups
        missing under a model show zero there."""
        if not models:
            raise ValueError("at least one model is required")
        with snapshot(self._engine) as conn:
            scoped = self._scoped(conn, query, models)
            zone_name = self._settings(conn, query.property_id).time_zone
            zone = ZoneInfo(zone_name)
            totals = _totals_zone(conn, query.property_id) == zone_name
            reports = [
                self._report(conn, replace(scoped, model=model), zone, totals) for model in models
            ]
            freshness = self._freshness(conn, scoped, models)
            names = self._counted_names(conn, scoped, models)
        currency = next((r.total_value.currency_code for r in reports if r.rows), "")
        order: dict[tuple[str, tuple[str, ...]], ReportRow] = {}
        for report in reports:
            for row in report.rows:
                order.setdefault((row.period, row.dimension_values), row)
        keys = list(order)
        if scoped.interval is not Interval.NONE:
            keys.sort(key=lambda key: order[key].period_start or utc(EPOCH))
        by_key = [
            {(row.period, row.dimension_values): row for row in report.rows} for report in reports
        ]
        compared = scoped.compare_start is not None
        rows = tuple(
            ComparisonRow(
                group=order[key].group,
                figures=tuple(
                    found.get(key, _zero_row(order[key], currency, compared)) for found in by_key
                ),
                period_start=order[key].period_start,
                period=key[0],
                dimension_values=key[1],
            )
            for key in keys
        )
        exceeding = tuple(m for m, r in zip(models, reports, strict=True) if r.exceeds_conversions)
        return ModelComparison(
            models=tuple(models),
            rows=rows,
            exceeding_models=exceeding,
            conversion_name=scoped.conversion_name,
            freshness=freshness,
            interval=scoped.interval,
            time_zone=zone_name,
            compare_start=scoped.compare_start,
            compare_end=scoped.compare_end,
            dimensions=scoped.grouped_by,
            conversion_names=names,
        )

    def list_properties(self, page_size: int, after: str = "") -> Page:
        """The properties that have attributed conversions, in order, after `after`.

        Read from the day counts (one row per property, name, model and day with live
        conversions), which hold a property exactly while it has live credits."""
        z, d = day_total_zones.c, conversion_day_counts.c
        counted = select(d.property_id).where(d.property_id == z.property_id).exists()
        with snapshot(self._engine) as conn:
            return _page(conn, z.property_id, [z.property_id > after, counted], page_size)

    def list_conversion_names(self, property_id: str, page_size: int, after: str = "") -> Page:
        """The conversion names of a property's attributed conversions, in order, after
        `after` (from the day counts, like `list_properties`)."""
        d = conversion_day_counts.c
        with snapshot(self._engine) as conn:
            self._require_property(conn, property_id, None)
            conditions = [d.property_id == property_id, d.conversion_name > after]
            return _page(conn, d.conversion_name, conditions, page_size)

    def list_report_models(
        self, property_id: str, conversion_name: str = "", as_of: AsOf | None = None
    ) -> tuple[str, ...]:
        """The models that have credits in the property (for the conversion name, if given),
        in order; as they stood at `as_of` when given."""
        with snapshot(self._engine) as conn:
            at = resolve(conn, as_of, property_id, self._shards).attribution
            self._require_property(conn, property_id, at)
            if conversion_name:
                self._require_conversion_name(conn, property_id, conversion_name, at)
            return credited_models(conn, property_id, conversion_name, at)

    def configured_models(self, property_id: str, as_of: AsOf | None = None) -> tuple[str, ...]:
        """The models attribution is configured with for the property, in its order, as its
        log last said (empty before it said); as it had said at `as_of` when given."""
        with snapshot(self._engine) as conn:
            at = resolve(conn, as_of, property_id, self._shards).attribution
            return configured_models_of(conn, property_id, at) or ()

    def _scoped(self, conn: Connection, query: ReportQuery, models: Sequence[str]) -> ReportQuery:
        """The query with its conversion name filled in (unless it filters or groups by
        conversion names) and its as-of moment resolved to a position of attribution's log
        (None: live), once the property, the names and every model are known to have
        credits then, and its comparison period checked."""
        views = resolve(conn, query.as_of, query.property_id, self._shards)
        at = views.attribution
        query = replace(query, as_of=None if at is None else AsOf(attribution_position=at))
        check_request(query.property_id, query.start, query.end)
        if (query.compare_start is None) != (query.compare_end is None):
            raise InvalidComparisonError("a comparison period needs a start and an end")
        if (
            query.compare_start is not None
            and query.compare_end is not None
            and utc(query.compare_end) <= utc(query.compare_start)
        ):
            raise InvalidComparisonError("the compared period must end after its start")
        self._require_property(conn, query.property_id, at)
        names = query.conversion_names
        for name in names:
            self._require_conversion_name(conn, query.property_id, name, at)
        if not names and GroupBy.CONVERSION_NAME not in query.grouped_by:
            found = self._conversion_names(conn, query.property_id, at)
            name = counted_name(
                query.property_id,
                "",
                found,
                alternatives="or filter by conversion names, or group by conversion_name",
            )
            names = (name,)
            query = replace(query, conversion_name=name)
        for model in models:
            require_model(conn, query.property_id, names, model, at)
        return query

    def _report(
        self, conn: Connection, query: ReportQuery, zone: ZoneInfo, totals: bool
    ) -> ConversionReport:
        """The whole report (every row) of a scoped query; `totals`: whether the property's
        day totals are in `zone`."""
        current = self._period_sums(conn, query, zone, totals)
        previous: _PeriodSums | None = None
        if query.compare_start is not None and query.compare_end is not None:
            compared = replace(query, start=query.compare_start, end=query.compare_end)
            previous = self._period_sums(conn, compared, zone, totals)
        currencies = current.currencies | (previous.currencies if previous else set())
        if len(currencies) > 1:
            raise MixedCurrencyError(
                f"model {query.model!r} of property {query.property_id!r} has credits in "
                f"several reporting currencies ({', '.join(sorted(currencies))}): "
                "narrow the time range to one currency"
            )
        currency = next(iter(currencies), "")
        total, total_value, saturated = current.totals(currency)
        keys = list(current.groups)
        if previous is not None:
            keys += [key for key in previous.groups if key not in current.groups]
        first_key = (
            key_of(query.interval, utc(query.start), zone)
            if query.start is not None and query.interval is not Interval.NONE
            else 0
        )
        aligned = previous is not None and query.interval is not Interval.NONE
        rows = []
        for key in keys:
            found = current.groups.get(key)
            conversions = found.units / UNITS_PER_CONVERSION if found else 0.0
            micros = found.value_micros if found else 0
            value, row_saturated = _money(currency, micros)
            values, index = key
            period_key = None if index is None else index + (first_key if aligned else 0)
            rows.append(
                ReportRow(
                    group=" / ".join(values),
                    conversions=conversions,
                    value=value,
                    share=conversions / total if total else 0.0,
                    value_saturated=row_saturated,
                    dimension_values=values,
                    period_start=(
                        None
                        if period_key is None
                        else period_start(query.interval, period_key, zone)
                    ),
                    period=(
                        ""
                        if period_key is None
                        else first_day(query.interval, period_key).isoformat()
                    ),
                    previous=(
                        None
                        if previous is None
                        else _previous_figures(
                            currency, conversions, micros, previous.groups.get(key)
                        )
                    ),
                )
            )
        previous_total = None
        if previous is not None:
            previous_count, _, _ = previous.totals(currency)
            previous_total = _change(
                currency,
                total,
                sum(g.value_micros for g in current.groups.values()),
                previous_count,
                sum(g.value_micros for g in previous.groups.values()),
            )

        def order(row: ReportRow) -> tuple[datetime, float, float, tuple[str, ...]]:
            earlier = row.previous.conversions if row.previous else 0.0
            return (
                row.period_start or utc(EPOCH),
                -row.conversions,
                -earlier,
                row.dimension_values,
            )

        return ConversionReport(
            rows=tuple(sorted(rows, key=order)),
            total_conversions=total,
            total_value=total_value,
            exceeds_conversions=current.exceeds,
            total_value_saturated=saturated,
            dimensions=query.grouped_by,
            interval=query.interval,
            previous_total=previous_total,
            compare_start=query.compare_start,
            compare_end=query.compare_end,
            unconsented_conversions=current.unconsented,
        )

    def _period_sums(
        self, conn: Connection, query: ReportQuery, zone: ZoneInfo, totals: bool
    ) -> _PeriodSums:
        """The sums per group (and period, with an interval; a period is then given by its
        index from the period holding the query's start when the query compares, else by
        its key), the count of distinct conversions and of unconsented ones: the whole
        local days from the day totals when the query can read them (`totals`: they are in
        `zone`), the rest from the credits."""
        first_key = 0
        if (
            query.interval is not Interval.NONE
            and query.compare_start is not None
            and query.start is not None
        ):
            first_key = key_of(query.interval, utc(query.start), zone)
        filtered = _filtered_by(query) if self._filter_totals else None
        if not (totals and _reads_day_totals(query, filtered)):
            return self._credit_sums(conn, query, zone, first_key)
        first, last = _whole_days(query, zone)
        if first is not None and last is not None and first >= last:
            return self._credit_sums(conn, query, zone, first_key)
        if filtered is None:
            sums = _day_sums(conn, query, first, last, first_key)
        else:
            sums = self._filtered_day_sums(conn, query, filtered, zone, first, last, first_key)
        if first is not None and query.start is not None:
            whole_from = period_start(Interval.DAY, first, zone)
            if utc(query.start) < whole_from:
                edge = self._credit_sums(conn, replace(query, end=whole_from), zone, first_key)
                sums = sums.merged(edge)
        if last is not None and query.end is not None:
            whole_until = period_start(Interval.DAY, last, zone)
            if whole_until < utc(query.end):
                edge = self._credit_sums(conn, replace(query, start=whole_until), zone, first_key)
                sums = sums.merged(edge)
        return sums

    def _filtered_day_sums(
        self,
        conn: Connection,
        query: ReportQuery,
        filtered: tuple[str, str],
        zone: ZoneInfo,
        first: int | None,
        last: int | None,
        first_key: int,
    ) -> _PeriodSums:
        """The period sums of the whole days [first, last) of a query filtered by one value
        of a filter dimension: the days whose filter summary is current from the filter
        totals, each run of the others (days being written, or not summarised yet) from the
        credits."""
        names = list(query.conversion_names) or _day_names(conn, query.property_id, query.model)
        stale = _stale_days(conn, query, names, zone.key, first, last)
        sums = _filter_day_sums(conn, query, names, filtered, zone.key, first, last, first_key)
        for low, high in _runs(stale):
            part = replace(
                query,
                start=period_start(Interval.DAY, low, zone),
                end=period_start(Interval.DAY, high, zone),
            )
            sums = sums.merged(self._credit_sums(conn, part, zone, first_key))
        return sums

    def _credit_sums(
        self, conn: Connection, query: ReportQuery, zone: ZoneInfo, first_key: int
    ) -> _PeriodSums:
        """The period sums of the query read from the credits (periods as indexes from
        `first_key`)."""
        period: ColumnElement[int] | None = None
        if query.interval is not Interval.NONE:
            bounds = self._time_bounds(conn, query)
            if bounds is None:
                return _PeriodSums({}, 0, 0)
            period = self._period_expression(query.interval, zone, *bounds)
        width = len(query.grouped_by)
        groups: dict[tuple[tuple[str, ...], int | None], _GroupSums] = {}
        conversions = unconsented = 0
        for row in conn.execute(self._report_statement(query, period)):
            kind, keys = row[0], row[1:]
            rest = keys[width + (0 if period is None else 1) :]
            if kind == _COUNTS_ROW:
                conversions, unconsented = int(rest[0] or 0), int(rest[1] or 0)
                continue
            values = tuple(str(v) for v in keys[:width])
            index = None if period is None else int(keys[width]) - first_key
            units, high, middle, low, lowest, highest = rest
            groups[(values, index)] = _GroupSums(
                int(units or 0), joined_value(high, middle, low), lowest, highest
            )
        return _PeriodSums(groups, conversions, unconsented)

    def _time_bounds(
        self, conn: Connection, query: ReportQuery
    ) -> tuple[datetime, datetime] | None:
        """The query's time range, bounded by its data where the query leaves it open; None
        when nothing matches."""
        c = conversion_credits.c
        if query.start is not None and query.end is not None:
            return utc(query.start), utc(query.end)
        lowest, highest = conn.execute(
            select(func.min(c.occurred_at), func.max(c.occurred_at)).where(*self._conditions(query))
        ).one()
        if lowest is None:
            return None
        start = utc(query.start) if query.start is not None else utc(lowest)
        end = utc(query.end) if query.end is not None else utc(highest) + timedelta(seconds=1)
        return start, end

    def _period_expression(
        self, interval: Interval, zone: ZoneInfo, start: datetime, end: datetime
    ) -> ColumnElement[int]:
        """The period key of each credit's conversion time, in SQL: seconds since 1970 plus
        the zone's offset at that moment (a CASE over the offset changes between `start`
        and `end`), as a local day number, then its week or month."""
        c = conversion_credits.c
        seconds: ColumnElement[int]
        if self._engine.dialect.name == "postgresql":
            seconds = cast(func.floor(extract("epoch", c.occurred_at)), BigInteger)
        else:
            seconds = cast(func.strftime("%s", c.occurred_at), Integer)
        return period_key_sql(seconds, interval, zone, start, end)

    def _settings(self, conn: Connection, property_id: str) -> PropertySettings:
        t = property_settings.c
        zone = conn.execute(
            select(t.time_zone).where(t.property_id == property_id)
        ).scalar_one_or_none()
        return PropertySettings() if zone is None else PropertySettings(time_zone=zone)

    def _counted_names(
        self, conn: Connection, query: ReportQuery, models: Sequence[str] = ()
    ) -> tuple[str, ...]:
        """The conversion names of the credits the query counts (under any of `models`, when
        given), in order."""
        c = conversion_credits.c
        names = query.conversion_names or self._conversion_names(
            conn, query.property_id, _at(query)
        )
        conditions = self._conditions(query, models)
        return tuple(
            name for name in names if _exists_credit(conn, *conditions, c.conversion_name == name)
        )

    def _freshness(self, conn: Connection, query: ReportQuery, models: Sequence[str]) -> Freshness:
        """The positions and the newest conversion time of the snapshot `conn` reads, as of
        the scoped query's position."""
        c = conversion_credits.c
        found = [
            conn.execute(
                select(c.occurred_at)
                .where(*self._conditions(replace(query, model=model)))
                .order_by(c.occurred_at.desc())
                .limit(1)
            ).scalar_one_or_none()
            for model in (models or (query.model,))
        ]
        newest = max((utc(f) for f in found if f is not None), default=None)
        at = _at(query)
        positions = tuple(
            (
                name,
                live_position(conn, name, query.property_id, self._shards)
                if at is None or name != ATTRIBUTION
                else at,
            )
            for name in self._upstreams
        )
        return Freshness(
            positions,
            None if newest is None else utc(newest),
            None if at is None else time_of(conn, ATTRIBUTION, at),
        )

    def _require_property(self, conn: Connection, property_id: str, at: int | None) -> None:
        c = conversion_credits.c
        if not _exists_credit(conn, c.property_id == property_id, current(c, at)):
            raise UnknownPropertyError(
                f"property {property_id!r} has no attributed conversion{_then(at)}"
            )

    def _require_conversion_name(
        self, conn: Connection, property_id: str, name: str, at: int | None
    ) -> None:
        c = conversion_credits.c
        if not _exists_credit(
            conn, c.property_id == property_id, c.conversion_name == name, current(c, at)
        ):
            names = self._conversion_names(conn, property_id, at)
            raise unknown_name(property_id, f"attributed {name!r} conversion{_then(at)}", names)

    def _conversion_names(self, conn: Connection, property_id: str, at: int | None) -> list[str]:
        """The property's conversion names, in order: one index seek per name (a DISTINCT
        read every credit of the property)."""
        c = conversion_credits.c
        names: list[str] = []
        while True:
            conditions = [c.property_id == property_id, current(c, at)]
            if names:
                conditions.append(c.conversion_name > names[-1])
            found = conn.execute(select(func.min(c.conversion_name)).where(*conditions)).scalar()
            if found is None:
                return names
            names.append(str(found))

    def _conditions(
        self, query: ReportQuery, models: Sequence[str] = ()
    ) -> list[ColumnElement[bool]]:
        """The query's filters, under its model (or any of `models`), on the credits current
        at the scoped query's position."""
        c = conversion_credits.c
        model = c.model.in_(models) if models else c.model == query.model
        conditions = [c.property_id == query.property_id, model, current(c, _at(query))]
        if query.start is not None:
            conditions.append(c.occurred_at >= utc(query.start))
        if query.end is not None:
            conditions.append(c.occurred_at < utc(query.end))
        if query.conversion_name:
            conditions.append(c.conversion_name == query.conversion_name)
        for found in query.filters:
            column = c[found.dimension.value]
            values = [v for v in found.values if v != NOT_SET]
            matches: list[ColumnElement[bool]] = [column.in_(values)] if values else []
            if NOT_SET in found.values:
                matches.append(func.coalesce(column, "") == "")
            conditions.append(or_(*matches))
        return conditions

    def _report_statement(
        self, query: ReportQuery, period: ColumnElement[int] | None
    ) -> Select[Any]:
        """One statement over the query's credits, read once (a materialised CTE): a row
        per group (and period) with its fraction units, value in three parts (see
        value_parts) and the lowest and highest currency code, and a _COUNTS_ROW with the
        distinct conversions and the unconsented ones among them in the first two figures.
        Each row starts with its kind (_GROUP_ROW or _COUNTS_ROW). Consent is looked up once
        per distinct conversion, not once per credit (a conversion has a credit per touch)."""
        c, u = conversion_credits.c, unconsented_conversions.c
        groups: list[ColumnElement[Any]] = [
            case((func.coalesce(c[d.value], "") == "", NOT_SET), else_=c[d.value]).label(f"g{n}")
            for n, d in enumerate(query.grouped_by)
        ]
        if period is not None:
            groups.append(period.label("period"))
        credits = (
            select(
                *groups,
                c.conversion_id,
                c.fraction_units,
                c.value_micros,
                c.currency_code,
            )
            .where(*self._conditions(query))
            .cte("report_credits")
            .prefix_with("MATERIALIZED")
        )
        keys = [credits.c[g.name] for g in groups]
        per_group = select(
            literal(_GROUP_ROW).label("kind"),
            *keys,
            func.sum(credits.c.fraction_units),
            *value_part_sums(credits.c.value_micros),
            func.min(credits.c.currency_code),
            func.max(credits.c.currency_code),
        ).group_by(*keys)
        conversions = select(credits.c.conversion_id).distinct().subquery("report_conversions")
        flagged = (
            select(u.conversion_id)
            .where(
                u.property_id == query.property_id,
                u.conversion_id == conversions.c.conversion_id,
                current(u, _at(query)),
            )
            .exists()
        )
        counts = select(
            literal(_COUNTS_ROW),
            *(null() for _ in keys),
            cast(func.count(), BigInteger),
            cast(func.count(case((flagged, 1), else_=None)), BigInteger),
            *(null() for _ in range(4)),
        ).select_from(conversions)
        return select(union_all(per_group, counts).subquery())


_GROUP_ROW = 0
_COUNTS_ROW = 1


@dataclass(frozen=True, slots=True)
class _GroupSums:
    """One group's sums as the report queries return them."""

    units: int
    value_micros: int
    lowest_currency: str
    highest_currency: str

    def merged(self, other: _GroupSums) -> _GroupSums:
        """The sums of this group's credits and `other`'s."""
        return _GroupSums(
            self.units + other.units,
            self.value_micros + other.value_micros,
            min(self.lowest_currency, other.lowest_currency),
            max(self.highest_currency, other.highest_currency),
        )


@dataclass(frozen=True, slots=True)
class _PeriodSums:
    """A period's sums per (dimension values, period index or None), how many distinct
    conversions it counts and how many of them are unconsented."""

    groups: dict[tuple[tuple[str, ...], int | None], _GroupSums]
    distinct_conversions: int
    unconsented: int

    @property
    def currencies(self) -> set[str]:
        return {
            code for g in self.groups.values() for code in (g.lowest_currency, g.highest_currency)
        }

    @property
    def exceeds(self) -> bool:
        """Whether the credits add up to more than the distinct conversions (participation)."""
        credited = sum(g.units for g in self.groups.values())
        return credited > self.distinct_conversions * UNITS_PER_CONVERSION

    def totals(self, currency: str) -> tuple[float, Money, bool]:
        """Total conversions (distinct ones under participation), value and whether the
        value saturated."""
        credited = sum(g.units for g in self.groups.values()) / UNITS_PER_CONVERSION
        total = float(self.distinct_conversions) if self.exceeds else credited
        micros = sum(g.value_micros for g in self.groups.values())
        value, saturated = _money(currency, micros) if currency else (Money.zero(""), False)
        return total, value, saturated

    def merged(self, other: _PeriodSums) -> _PeriodSums:
        """The sums of this period's credits and of `other`'s (a disjoint time range)."""
        groups = dict(self.groups)
        for key, found in other.groups.items():
            mine = groups.get(key)
            groups[key] = found if mine is None else mine.merged(found)
        return _PeriodSums(
            groups,
            self.distinct_conversions + other.distinct_conversions,
            self.unconsented + other.unconsented,
        )


def _change(
    currency: str, conversions: float, micros: int, earlier: float, earlier_micros: int
) -> PreviousFigures:
    """The earlier figures and the change from them to the current ones."""
    value, saturated = _money(currency, earlier_micros)
    change, _ = _money(currency, micros - earlier_micros)
    return PreviousFigures(
        conversions=earlier,
        value=value,
        conversions_change=conversions - earlier,
        value_change=change,
        conversions_change_ratio=(conversions - earlier) / earlier if earlier else None,
        value_change_ratio=(micros - earlier_micros) / earlier_micros if earlier_micros else None,
        value_saturated=saturated,
    )


def _zero_row(like: ReportRow, currency: str, compared: bool) -> ReportRow:
    """The group's row of `like` under a model that credits it nothing (nor in the compared
    period)."""
    previous = _change(currency, 0.0, 0, 0.0, 0) if compared else None
    return ReportRow(
        like.group,
        0.0,
        Money.zero(currency),
        0.0,
        dimension_values=like.dimension_values,
        previous=previous,
    )


def _previous_figures(
    currency: str, conversions: float, micros: int, earlier: _GroupSums | None
) -> PreviousFigures:
    if earlier is None:
        return _change(currency, conversions, micros, 0.0, 0)
    earlier_conversions = earlier.units / UNITS_PER_CONVERSION
    return _change(currency, conversions, micros, earlier_conversions, earlier.value_micros)


_LARGEST_MONEY_NANOS = (2**63 - 1) * NANOS_PER_UNIT + NANOS_PER_UNIT - 1
"""The largest amount Money carries (its units are int64), in nanos."""


def _money(currency: str, micros: int) -> tuple[Money, bool]:
    """The amount as Money, and False; or, beyond the range of Money (int64 units), the
    largest Money of that sign, and True."""
    nanos = micros * NANOS_PER_MICRO
    if abs(nanos) <= _LARGEST_MONEY_NANOS:
        return Money.from_nanos(currency, nanos), False
    largest = _LARGEST_MONEY_NANOS if nanos > 0 else -_LARGEST_MONEY_NANOS
    return Money.from_nanos(currency, largest), True


def _at(query: ReportQuery) -> int | None:
    """The position of attribution's log a scoped query reads at (None: live)."""
    return None if query.as_of is None else query.as_of.attribution_position


def _then(at: int | None) -> str:
    """ " as of position N" for an error about a past position."""
    return "" if at is None else f" as of attribution position {at}"


def _page(
    conn: Connection, column: ColumnElement[str], conditions: list[ColumnElement[bool]], size: int
) -> Page:
    """The next `size` distinct values of `column` under the conditions, in order."""
    statement = select(column).where(*conditions).distinct().order_by(column).limit(size + 1)
    found = list(conn.execute(statement).scalars())
    items = tuple(found[:size])
    return Page(items, items[-1] if len(found) > size else "")


def _exists_credit(conn: Connection, *conditions: ColumnElement[bool]) -> bool:
    """Whether any credit meets the conditions."""
    c = conversion_credits.c
    return conn.execute(select(c.property_id).where(*conditions).limit(1)).first() is not None


def _totals_zone(conn: Connection, property_id: str) -> str | None:
    """The time zone the property's day totals are in (None: it has none)."""
    z = day_total_zones.c
    return conn.execute(
        select(z.time_zone).where(z.property_id == property_id)
    ).scalar_one_or_none()


def _reads_day_totals(query: ReportQuery, filtered: tuple[str, str] | None) -> bool:
    """Whether the day totals (or the filter totals, for the whole days summarised) answer
    the query's whole days: live, grouped by one dimension (or conversion names), and no
    filter or one value of a filter dimension (`filtered`, see `_filtered_by`)."""
    return (
        query.as_of is None
        and len(query.grouped_by) == 1
        and (not query.filters or filtered is not None)
    )


def _filtered_by(query: ReportQuery) -> tuple[str, str] | None:
    """The (dimension, stored value) of the query's filter when it is one value of one of
    the filter totals' dimensions (None otherwise; "(not set)" is stored as empty)."""
    if len(query.filters) != 1 or len(query.filters[0].values) != 1:
        return None
    found = query.filters[0]
    if found.dimension.value not in FILTER_DIMENSIONS:
        return None
    value = found.values[0]
    return found.dimension.value, "" if value == NOT_SET else value


def _day_range(
    column: ColumnElement[int], low: int | None, high: int | None
) -> list[ColumnElement[bool]]:
    """`column` in [low, high) (None: open on that side)."""
    found = []
    if low is not None:
        found.append(column >= low)
    if high is not None:
        found.append(column < high)
    return found


def _stale_days(
    conn: Connection,
    query: ReportQuery,
    names: Sequence[str],
    zone_name: str,
    first: int | None,
    last: int | None,
) -> list[int]:
    """The days in [first, last) with live credits of the query's names and model whose
    filter summary is missing, or was made at another `changed_at` or in another zone, in
    order."""
    n, s = conversion_day_counts.c, filter_summarised_days.c
    statement = (
        select(n.day)
        .outerjoin(
            filter_summarised_days,
            and_(
                s.property_id == n.property_id,
                s.conversion_name == n.conversion_name,
                s.model == n.model,
                s.day == n.day,
            ),
        )
        .where(
            n.property_id == query.property_id,
            n.conversion_name.in_(names),
            n.model == query.model,
            *_day_range(n.day, first, last),
            or_(s.day.is_(None), s.changed_at != n.changed_at, s.time_zone != zone_name),
        )
        .distinct()
        .order_by(n.day)
    )
    return [int(day) for day in conn.execute(statement).scalars()]


def _runs(days: Sequence[int]) -> list[tuple[int, int]]:
    """Ordered days as runs of consecutive ones, [first, last)."""
    runs: list[tuple[int, int]] = []
    for day in days:
        if runs and runs[-1][1] == day:
            runs[-1] = (runs[-1][0], day + 1)
        else:
            runs.append((day, day + 1))
    return runs


def _filter_day_sums(
    conn: Connection,
    query: ReportQuery,
    names: Sequence[str],
    filtered: tuple[str, str],
    zone_name: str,
    first: int | None,
    last: int | None,
    first_key: int,
) -> _PeriodSums:
    """The period sums of the days in [first, last) whose filter summary is current (made
    at their count row's `changed_at`, in `zone_name`) from the filter totals and counts of
    the filter's value (periods as indexes from `first_key`)."""
    t, k = filter_day_totals.c, filter_day_counts.c
    n, s = conversion_day_counts.c, filter_summarised_days.c
    dimension = query.grouped_by[0]
    by_name = dimension is GroupBy.CONVERSION_NAME
    summed = GroupBy.CHANNEL.value if by_name else dimension.value
    grouped = t.conversion_name if by_name else t.value

    def where(table: Any) -> list[ColumnElement[bool]]:
        current = (
            select(s.day)
            .join_from(
                filter_summarised_days,
                conversion_day_counts,
                and_(
                    n.property_id == s.property_id,
                    n.conversion_name == s.conversion_name,
                    n.model == s.model,
                    n.day == s.day,
                    n.changed_at == s.changed_at,
                ),
            )
            .where(
                s.property_id == table.property_id,
                s.conversion_name == table.conversion_name,
                s.model == table.model,
                s.day == table.day,
                s.time_zone == zone_name,
            )
            .exists()
        )
        return [
            table.property_id == query.property_id,
            table.conversion_name.in_(names),
            table.model == query.model,
            table.filter_dimension == filtered[0],
            table.filter_value == filtered[1],
            *_day_range(table.day, first, last),
            current,
        ]

    counted = where(k)
    day_key: ColumnElement[int] | None = None
    if query.interval is not Interval.NONE:
        lowest, highest = conn.execute(
            select(func.min(k.day), func.max(k.day)).where(*counted)
        ).one()
        if lowest is None:
            return _PeriodSums({}, 0, 0)
        day_key = day_key_sql(t.day, query.interval, int(lowest), int(highest))
    groups: list[ColumnElement[Any]] = [
        case((func.coalesce(grouped, "") == "", NOT_SET), else_=grouped).label("g0")
    ]
    if day_key is not None:
        groups.append(day_key.label("period"))
    rows = (
        select(
            *groups,
            t.fraction_units,
            t.value_high,
            t.value_middle,
            t.value_low,
            t.currency_code,
        )
        .where(*where(t), t.dimension == summed)
        .subquery()
    )
    counts = select(func.sum(k.conversions), func.sum(k.unconsented)).where(*counted)
    return _grouped_period_sums(conn, rows, day_key is not None, first_key, counts)


def _grouped_period_sums(
    conn: Connection, rows: Subquery, periodic: bool, first_key: int, counts: Select[Any]
) -> _PeriodSums:
    """The period sums of summed rows (`rows`: g0, period when `periodic`, fraction units,
    value parts and currency code), grouped by g0 (and period, as an index from
    `first_key`), with the conversions and unconsented conversions `counts` sums."""
    keys = [rows.c.g0, *([rows.c.period] if periodic else [])]
    statement = select(
        *keys,
        func.sum(rows.c.fraction_units),
        func.sum(rows.c.value_high),
        func.sum(rows.c.value_middle),
        func.sum(rows.c.value_low),
        func.min(rows.c.currency_code),
        func.max(rows.c.currency_code),
    ).group_by(*keys)
    found: dict[tuple[tuple[str, ...], int | None], _GroupSums] = {}
    for row in conn.execute(statement):
        index = int(row[1]) - first_key if periodic else None
        units, high, middle, low, lowest_code, highest_code = row[2 if periodic else 1 :]
        found[((str(row[0]),), index)] = _GroupSums(
            int(units), joined_value(high, middle, low), lowest_code, highest_code
        )
    conversions, unconsented = conn.execute(counts).one()
    return _PeriodSums(found, int(conversions or 0), int(unconsented or 0))


def _whole_days(query: ReportQuery, zone: ZoneInfo) -> tuple[int | None, int | None]:
    """The local days wholly inside the query's range, as [first, last) day numbers (None:
    open on that side)."""
    first = last = None
    if query.start is not None:
        start = utc(query.start)
        first = local_day(start, zone)
        if period_start(Interval.DAY, first, zone) != start:
            first += 1
    if query.end is not None:
        last = local_day(utc(query.end), zone)
    return first, last


def _day_sums(
    conn: Connection, query: ReportQuery, first: int | None, last: int | None, first_key: int
) -> _PeriodSums:
    """The period sums of the days [first, last) from the day totals, and from the month
    totals for the months wholly inside them when the query has no interval or a monthly
    one (periods as indexes from `first_key`)."""
    n = conversion_day_counts.c
    names = list(query.conversion_names) or _day_names(conn, query.property_id, query.model)
    counted = [
        n.property_id == query.property_id,
        n.conversion_name.in_(names),
        n.model == query.model,
    ]
    if first is not None:
        counted.append(n.day >= first)
    if last is not None:
        counted.append(n.day < last)
    day_key: Callable[[ColumnElement[int]], ColumnElement[int]] | None = None
    month_key: Callable[[ColumnElement[int]], ColumnElement[int]] | None = None
    if query.interval is not Interval.NONE:
        lowest, highest = conn.execute(
            select(func.min(n.day), func.max(n.day)).where(*counted)
        ).one()
        if lowest is None:
            return _PeriodSums({}, 0, 0)
        day_key = partial(
            day_key_sql, interval=query.interval, first=int(lowest), last=int(highest)
        )
        month_key = _month_itself

    months = None
    if query.interval in (Interval.NONE, Interval.MONTH):
        months = _whole_months(first, last)
    spans: list[tuple[Table, int | None, int | None]] = [(conversion_day_totals, first, last)]
    if months is not None:
        lowest_month, highest_month = months
        spans = [(conversion_month_totals, lowest_month, highest_month)]
        if lowest_month is not None and first is not None:
            spans.append((conversion_day_totals, first, _month_first_day(lowest_month)))
        if highest_month is not None and last is not None:
            spans.append((conversion_day_totals, _month_first_day(highest_month), last))
    parts = [
        _totals_rows(
            query,
            names,
            table,
            low_key,
            high_key,
            month_key if table is conversion_month_totals else day_key,
        )
        for table, low_key, high_key in spans
        if low_key is None or high_key is None or low_key < high_key
    ]
    rows = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    counts = select(func.sum(n.conversions), func.sum(n.unconsented)).where(*counted)
    return _grouped_period_sums(conn, rows, day_key is not None, first_key, counts)


def _totals_rows(
    query: ReportQuery,
    names: Sequence[str],
    table: Table,
    low: int | None,
    high: int | None,
    period_key: Callable[[ColumnElement[int]], ColumnElement[int]] | None,
) -> Select[Any]:
    """The rows of the day or month totals `table` in [low, high) (None: open on that side)
    that the query sums: its group (`g0`), period (`period`, with `period_key` of the
    table's day or month), fraction units, value parts and currency."""
    t = table.c
    span = t.month if table is conversion_month_totals else t.day
    dimension = query.grouped_by[0]
    summed = GroupBy.CHANNEL if dimension is GroupBy.CONVERSION_NAME else dimension
    grouped = t.conversion_name if dimension is GroupBy.CONVERSION_NAME else t.value
    conditions = [
        t.property_id == query.property_id,
        t.conversion_name.in_(names),
        t.model == query.model,
        t.dimension == summed.value,
    ]
    if low is not None:
        conditions.append(span >= low)
    if high is not None:
        conditions.append(span < high)
    groups: list[ColumnElement[Any]] = [
        case((func.coalesce(grouped, "") == "", NOT_SET), else_=grouped).label("g0")
    ]
    if period_key is not None:
        groups.append(period_key(span).label("period"))
    return select(
        *groups,
        t.fraction_units,
        t.value_high,
        t.value_middle,
        t.value_low,
        t.currency_code,
    ).where(*conditions)


def _month_itself(month: ColumnElement[int]) -> ColumnElement[int]:
    """A month key's period key under a monthly interval: itself."""
    return month


def _whole_months(first: int | None, last: int | None) -> tuple[int | None, int | None] | None:
    """The local months wholly inside the days [first, last) as [first, last) month keys
    (None: open on that side, like the days), or None when no month is."""
    lowest = highest = None
    if first is not None:
        lowest = key_of_day(Interval.MONTH, first)
        if _month_first_day(lowest) != first:
            lowest += 1
    if last is not None:
        highest = key_of_day(Interval.MONTH, last)
    if lowest is not None and highest is not None and lowest >= highest:
        return None
    return lowest, highest


def _month_first_day(month: int) -> int:
    """The local day number of a month's first day."""
    return first_day(Interval.MONTH, month).toordinal() - EPOCH_ORDINAL


def _day_names(conn: Connection, property_id: str, model: str) -> list[str]:
    """The conversion names of a property's day counts under a model."""
    n = conversion_day_counts.c
    statement = (
        select(n.conversion_name)
        .where(n.property_id == property_id, n.model == model)
        .distinct()
        .order_by(n.conversion_name)
    )
    return list(conn.execute(statement).scalars())
