"""Reporting's use cases: conversion reports from the conversion credits view."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Select,
    case,
    func,
    literal,
    select,
)

from common.money import NANOS_PER_MICRO, NANOS_PER_UNIT, Money
from common.sql_positions import stored_position
from services.reporting.domainmodel import (
    DEFAULT_SCOPE,
    NOT_SET,
    ComparisonRow,
    ConversionReport,
    Freshness,
    GroupBy,
    ModelComparison,
    Page,
    ReportQuery,
    ReportRow,
)
from services.reporting.projections import PROJECTION_NAME
from services.reporting.views import (
    configured_models,
    conversion_credits,
    projection_positions,
    unconsented_conversions,
)


class ReportingError(Exception):
    """Base of reporting's errors."""


class MissingPropertyError(ReportingError):
    """A report query without a property: reports never mix properties."""


class NotFoundError(ReportingError):
    """What a query names has no attributed conversion in the views."""


class UnknownPropertyError(NotFoundError):
    """The property has no attributed conversion."""


class UnknownConversionNameError(NotFoundError):
    """The property has no attributed conversion of that name."""


class ConversionNameRequiredError(ReportingError):
    """The query names no conversion and the property has conversions of several names."""


class ModelWithoutCreditsError(ReportingError):
    """The model has no credits for the property and conversion name: attribution is not
    configured with it for the property (or, for a data-driven model, has not fitted it yet,
    or is still re-attributing the property's conversions under it)."""


class InvalidTimeRangeError(ReportingError):
    """The time range ends before or where it starts."""


class MixedCurrencyError(ReportingError):
    """The credits to add up are in more than one reporting currency."""


NAMES_IN_MESSAGES = 20
"""At most this many names are listed in an error message."""


class ReportingApplication:
    """Answers report queries from the views that the projections keep up to date."""

    def __init__(self, engine: Engine, upstreams: Sequence[str] = ()) -> None:
        """`upstreams` are the logs whose positions each report carries as its freshness."""
        self._engine = engine
        self._upstreams = tuple(upstreams)

    def conversion_report(self, query: ReportQuery) -> ConversionReport:
        """Conversions, value and share per group under one model, most conversions first,
        for one conversion name (the query's, or the property's only one).

        Fractions are added in SQL in a fixed order (conversion id, credit index), so the
        same credits give the same report, bit for bit, however the rows were written.
        """
        with self._snapshot() as conn:
            scoped = self._scoped(conn, query, [query.model])
            report = self._report(conn, scoped)
            return replace(
                report,
                conversion_name=scoped.conversion_name,
                freshness=self._freshness(conn, scoped, [query.model]),
            )

    def compare_models(self, query: ReportQuery, models: Sequence[str]) -> ModelComparison:
        """The report of `query` under each model, side by side (the model in `query` is
        ignored), all from one snapshot. Rows follow the first model's order; groups missing
        under a model show zero there."""
        if not models:
            raise ValueError("at least one model is required")
        with self._snapshot() as conn:
            scoped = self._scoped(conn, query, models)
            reports = [self._report(conn, replace(scoped, model=model)) for model in models]
            freshness = self._freshness(conn, scoped, models)
        currency = next((r.total_value.currency_code for r in reports if r.rows), "")
        order: dict[str, None] = {}
        for report in reports:
            order.update(dict.fromkeys(row.group for row in report.rows))
        by_group = [{row.group: row for row in report.rows} for report in reports]
        rows = tuple(
            ComparisonRow(
                group=group,
                figures=tuple(
                    found.get(group, ReportRow(group, 0.0, Money.zero(currency), 0.0))
                    for found in by_group
                ),
            )
            for group in order
        )
        exceeding = tuple(m for m, r in zip(models, reports, strict=True) if r.exceeds_conversions)
        return ModelComparison(
            models=tuple(models),
            rows=rows,
            exceeding_models=exceeding,
            conversion_name=scoped.conversion_name,
            freshness=freshness,
        )

    def list_properties(self, page_size: int, after: str = "") -> Page:
        """The properties that have attributed conversions, in order, after `after`."""
        c = conversion_credits.c
        with self._snapshot() as conn:
            return _page(conn, c.property_id, [c.property_id > after], page_size)

    def list_conversion_names(self, property_id: str, page_size: int, after: str = "") -> Page:
        """The conversion names of a property's attributed conversions, in order, after
        `after`."""
        c = conversion_credits.c
        with self._snapshot() as conn:
            self._require_property(conn, property_id)
            conditions = [c.property_id == property_id, c.conversion_name > after]
            return _page(conn, c.conversion_name, conditions, page_size)

    def list_report_models(self, property_id: str, conversion_name: str = "") -> tuple[str, ...]:
        """The models that have credits in the property (for the conversion name, if given),
        in order."""
        with self._snapshot() as conn:
            self._require_property(conn, property_id)
            if conversion_name:
                self._require_conversion_name(conn, property_id, conversion_name)
            return self._models(conn, property_id, conversion_name)

    def configured_models(self, property_id: str) -> tuple[str, ...]:
        """The models attribution is configured with for the property, in its order, as its
        log last said (empty before it said)."""
        with self._snapshot() as conn:
            return self._configured_models(conn, property_id) or ()

    def _configured_models(self, conn: Connection, property_id: str) -> tuple[str, ...] | None:
        """The models attribution credits in the property: its own choice, else the
        default's; None when attribution's log has not said (a log written before
        attribution's settings were logged)."""
        c = configured_models.c
        rows = dict(
            conn.execute(
                select(c.property_id, c.models).where(
                    c.property_id.in_([property_id, DEFAULT_SCOPE])
                )
            ).all()
        )
        for scope in (property_id, DEFAULT_SCOPE):
            if rows.get(scope) is not None:
                return tuple(rows[scope])
        return None

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A connection whose reads all see one snapshot, rows and positions alike (SQLite
        holds a read transaction's snapshot anyway; PostgreSQL needs REPEATABLE READ)."""
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn

    def _scoped(self, conn: Connection, query: ReportQuery, models: Sequence[str]) -> ReportQuery:
        """The query with its conversion name filled in, once the property, the name and
        every model are known to have credits."""
        if not query.property_id:
            raise MissingPropertyError("property_id is required")
        if query.start and query.end and _utc(query.end) <= _utc(query.start):
            raise InvalidTimeRangeError("the end of the time range must be after its start")
        self._require_property(conn, query.property_id)
        name = query.conversion_name
        if name:
            self._require_conversion_name(conn, query.property_id, name)
        else:
            names = self._conversion_names(conn, query.property_id)
            if len(names) > 1:
                raise ConversionNameRequiredError(
                    f"property {query.property_id!r} has conversions of several names "
                    f"({_listed(names)}): a report counts one, name it in conversion_name"
                )
            name = names[0]
        for model in models:
            if not self._has_credits(conn, query.property_id, name, model):
                raise self._without_credits(conn, query.property_id, name, model)
        return replace(query, conversion_name=name)

    def _without_credits(
        self, conn: Connection, property_id: str, name: str, model: str
    ) -> ModelWithoutCreditsError:
        """The error for a model without credits, saying why and how to enable it."""
        with_credits = _listed(self._models(conn, property_id, name))
        configured = self._configured_models(conn, property_id)
        enable = (
            f"enable it for this property with attribution's ConfigureModels (property_id "
            f"{property_id!r}; `convtrack attribution configure-models --property "
            f"{property_id} --models ...`), or for every property that follows the default "
            "with property_id '*' (ATTRIBUTION_MODELS while nobody chose)"
        )
        if configured is None:
            return ModelWithoutCreditsError(
                f"model {model!r} has no credits for {name!r} conversions of property "
                f"{property_id!r} (models with credits: {with_credits}). Attribution credits "
                f"the models configured for the property: {enable}; a data-driven model "
                "(markov, shapley) credits after its first fit (RefitModel)"
            )
        if model not in configured:
            return ModelWithoutCreditsError(
                f"model {model!r} is not configured for property {property_id!r} (its "
                f"models: {_listed(configured)}): {enable}"
            )
        return ModelWithoutCreditsError(
            f"model {model!r} is configured for property {property_id!r} but has no credits "
            f"for its {name!r} conversions yet (models with credits: {with_credits}): a "
            "data-driven model (markov, shapley) credits after its first fit (RefitModel, "
            "or the scheduled refit); any model once attribution's re-attribution job after "
            "the configuration change has reached them"
        )

    def _report(self, conn: Connection, query: ReportQuery) -> ConversionReport:
        groups = [
            _GroupSums(str(group), float(conversions), _joined_value(*parts), low, high)
            for group, conversions, *parts, low, high in conn.execute(self._report_statement(query))
        ]
        conversions_count = self._distinct_conversions(conn, query)
        currencies = {code for g in groups for code in (g.lowest_currency, g.highest_currency)}
        if len(currencies) > 1:
            raise MixedCurrencyError(
                f"model {query.model!r} of property {query.property_id!r} has credits in "
                f"several reporting currencies ({', '.join(sorted(currencies))}): "
                "narrow the time range to one currency"
            )
        currency = next(iter(currencies), "")
        credited = math.fsum(g.conversions for g in groups)
        exceeds = credited > conversions_count + 1e-9
        total = float(conversions_count) if exceeds else credited
        total_micros = sum(g.value_micros for g in groups)
        total_value, saturated = (
            _money(currency, total_micros) if currency else (Money.zero(""), False)
        )
        rows = []
        for g in groups:
            value, row_saturated = _money(currency, g.value_micros)
            share = g.conversions / total if total else 0.0
            rows.append(ReportRow(g.group, g.conversions, value, share, row_saturated))
        return ConversionReport(
            rows=tuple(sorted(rows, key=lambda row: (-row.conversions, row.group))),
            total_conversions=total,
            total_value=total_value,
            exceeds_conversions=exceeds,
            total_value_saturated=saturated,
            unconsented_conversions=self._unconsented_conversions(conn, query),
        )

    def _freshness(self, conn: Connection, query: ReportQuery, models: Sequence[str]) -> Freshness:
        """The positions and the newest conversion time of the snapshot `conn` reads."""
        c = conversion_credits.c
        newest = conn.execute(
            select(func.max(c.occurred_at)).where(*self._conditions(query, models))
        ).scalar_one()
        positions = tuple(
            (name, stored_position(conn, projection_positions, PROJECTION_NAME, name))
            for name in self._upstreams
        )
        return Freshness(positions, None if newest is None else _utc(newest))

    def _require_property(self, conn: Connection, property_id: str) -> None:
        c = conversion_credits.c
        if not _exists(conn, c.property_id == property_id):
            raise UnknownPropertyError(f"property {property_id!r} has no attributed conversion")

    def _require_conversion_name(self, conn: Connection, property_id: str, name: str) -> None:
        c = conversion_credits.c
        if not _exists(conn, c.property_id == property_id, c.conversion_name == name):
            raise UnknownConversionNameError(
                f"property {property_id!r} has no attributed {name!r} conversion (its "
                f"conversion names: {_listed(self._conversion_names(conn, property_id))})"
            )

    def _has_credits(self, conn: Connection, property_id: str, name: str, model: str) -> bool:
        c = conversion_credits.c
        return _exists(
            conn, c.property_id == property_id, c.conversion_name == name, c.model == model
        )

    def _conversion_names(self, conn: Connection, property_id: str) -> list[str]:
        c = conversion_credits.c
        statement = (
            select(c.conversion_name)
            .where(c.property_id == property_id)
            .distinct()
            .order_by(c.conversion_name)
        )
        return list(conn.execute(statement).scalars())

    def _models(self, conn: Connection, property_id: str, name: str = "") -> tuple[str, ...]:
        c = conversion_credits.c
        conditions = [c.property_id == property_id]
        if name:
            conditions.append(c.conversion_name == name)
        statement = select(c.model).where(*conditions).distinct().order_by(c.model)
        return tuple(conn.execute(statement).scalars())

    def _conditions(
        self, query: ReportQuery, models: Sequence[str] = ()
    ) -> list[ColumnElement[bool]]:
        """The query's filters, under its model (or any of `models`)."""
        c = conversion_credits.c
        model = c.model.in_(models) if models else c.model == query.model
        conditions = [c.property_id == query.property_id, model]
        if query.start is not None:
            conditions.append(c.occurred_at >= _utc(query.start))
        if query.end is not None:
            conditions.append(c.occurred_at < _utc(query.end))
        if query.conversion_name:
            conditions.append(c.conversion_name == query.conversion_name)
        return conditions

    def _distinct_conversions(self, conn: Connection, query: ReportQuery) -> int:
        c = conversion_credits.c
        statement = select(func.count(func.distinct(c.conversion_id))).where(
            *self._conditions(query)
        )
        return int(conn.execute(statement).scalar_one())

    def _unconsented_conversions(self, conn: Connection, query: ReportQuery) -> int:
        """How many of the report's conversions were counted without analytics consent."""
        c, u = conversion_credits.c, unconsented_conversions.c
        statement = (
            select(func.count(func.distinct(c.conversion_id)))
            .select_from(
                conversion_credits.join(
                    unconsented_conversions,
                    (u.property_id == c.property_id) & (u.conversion_id == c.conversion_id),
                )
            )
            .where(*self._conditions(query))
        )
        return int(conn.execute(statement).scalar_one())

    def _report_statement(
        self, query: ReportQuery
    ) -> Select[str, float, int | Decimal, int | Decimal, int | Decimal, str, str]:
        c = conversion_credits.c
        dimension = {
            GroupBy.CHANNEL: c.channel,
            GroupBy.SOURCE: c.source,
            GroupBy.MEDIUM: c.medium,
            GroupBy.CAMPAIGN: c.campaign,
        }[query.group_by]
        group = case((func.coalesce(dimension, "") == "", NOT_SET), else_=dimension)
        conversion_order: ColumnElement[str] = c.conversion_id
        if self._engine.dialect.name == "postgresql":
            conversion_order = c.conversion_id.collate("C")
        conditions = self._conditions(query)
        # A running sum in a fixed order, per group; fractions are never negative, so the
        # group's largest running sum is its total.
        credits = (
            select(
                group.label("grp"),
                func.sum(c.fraction)
                .over(
                    partition_by=group,
                    order_by=(conversion_order, c.credit_index),
                    rows=(None, 0),
                )
                .label("running"),
                c.value_micros,
                c.currency_code,
            )
            .where(*conditions)
            .subquery()
        )
        return select(
            credits.c.grp,
            func.max(credits.c.running),
            *_value_part_sums(credits.c.value_micros),
            func.min(credits.c.currency_code),
            func.max(credits.c.currency_code),
        ).group_by(credits.c.grp)


VALUE_PART_BITS = 21
"""Values are added up in three parts of 21 bits (value = high·2^42 + middle·2^21 + low).

SQLite's SUM of integers fails with "integer overflow" past int64, and ten values near
ingest's limit (10^18 micros each) get there. A part is below 2^21, so its sum stays inside
int64 for up to 2^42 rows, more than any database here can hold; the parts are joined in
Python, exactly, on SQLite and PostgreSQL alike.
"""
_VALUE_PART_MASK = (1 << VALUE_PART_BITS) - 1


def _value_part_sums(micros: ColumnElement[int]) -> list[ColumnElement[int]]:
    """The sums of the high, middle and low parts of `micros` (see VALUE_PART_BITS)."""
    # PostgreSQL shifts a bigint by an integer only.
    high = micros.bitwise_rshift(literal(2 * VALUE_PART_BITS, Integer))
    middle = micros.bitwise_rshift(literal(VALUE_PART_BITS, Integer))
    return [
        func.sum(high),
        func.sum(middle.bitwise_and(_VALUE_PART_MASK)),
        func.sum(micros.bitwise_and(_VALUE_PART_MASK)),
    ]


def _joined_value(high: int | Decimal, middle: int | Decimal, low: int | Decimal) -> int:
    """The exact sum of values from the sums of their parts (see VALUE_PART_BITS); SQLite
    gives ints, PostgreSQL exact NUMERIC Decimals."""
    return (int(high) << (2 * VALUE_PART_BITS)) + (int(middle) << VALUE_PART_BITS) + int(low)


@dataclass(frozen=True, slots=True)
class _GroupSums:
    """One group's sums as the report query returns them."""

    group: str
    conversions: float
    value_micros: int
    lowest_currency: str
    highest_currency: str


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


def _utc(moment: datetime) -> datetime:
    """The moment in UTC, as stored; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _exists(conn: Connection, *conditions: ColumnElement[bool]) -> bool:
    """Whether any credit meets the conditions."""
    c = conversion_credits.c
    return conn.execute(select(c.property_id).where(*conditions).limit(1)).first() is not None


def _page(
    conn: Connection, column: ColumnElement[str], conditions: list[ColumnElement[bool]], size: int
) -> Page:
    """The next `size` distinct values of `column` under the conditions, in order."""
    statement = select(column).where(*conditions).distinct().order_by(column).limit(size + 1)
    found = list(conn.execute(statement).scalars())
    items = tuple(found[:size])
    return Page(items, items[-1] if len(found) > size else "")


def _listed(names: Sequence[str]) -> str:
    """Names for an error message, at most NAMES_IN_MESSAGES of them."""
    if not names:
        return "none"
    shown = ", ".join(names[:NAMES_IN_MESSAGES])
    more = len(names) - NAMES_IN_MESSAGES
    return shown + (f" and {more} more" if more > 0 else "")
