"""Reporting's use cases: conversion reports from the conversion credits view."""

from __future__ import annotations

import math
from collections.abc import Sequence
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
from services.reporting.domainmodel import (
    BUILT_IN_MODELS,
    NOT_SET,
    ComparisonRow,
    ConversionReport,
    GroupBy,
    ModelComparison,
    ReportQuery,
    ReportRow,
)
from services.reporting.views import conversion_credits


class ReportingError(Exception):
    """Base of reporting's errors."""


class MissingPropertyError(ReportingError):
    """A report query without a property: reports never mix properties."""


class UnknownModelError(ReportingError):
    """The attribution model is neither built in nor present in the property's data."""


class InvalidTimeRangeError(ReportingError):
    """The time range ends before or where it starts."""


class MixedCurrencyError(ReportingError):
    """The credits to add up are in more than one reporting currency."""


class ReportingApplication:
    """Answers report queries from the views that the projections keep up to date."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def conversion_report(self, query: ReportQuery) -> ConversionReport:
        """Conversions, value and share per group under one model, most conversions first.

        Fractions are added in SQL in a fixed order (conversion id, credit index), so the
        same credits give the same report, bit for bit, however the rows were written.
        """
        if not query.property_id:
            raise MissingPropertyError("property_id is required")
        if query.start and query.end and _utc(query.end) <= _utc(query.start):
            raise InvalidTimeRangeError("the end of the time range must be after its start")
        with self._engine.connect() as conn:
            if query.model not in BUILT_IN_MODELS and query.model not in self._models(conn, query):
                raise UnknownModelError(
                    f"unknown attribution model {query.model!r} in property {query.property_id!r}"
                )
            groups = [
                _GroupSums(str(group), float(conversions), _joined_value(*parts), low, high)
                for group, conversions, *parts, low, high in conn.execute(
                    self._report_statement(query)
                )
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
        )

    def compare_models(self, query: ReportQuery, models: Sequence[str]) -> ModelComparison:
        """The report of `query` under each model, side by side (the model in `query` is
        ignored). Rows follow the first model's order; groups missing under a model show
        zero there."""
        if not models:
            raise UnknownModelError("at least one model is required")
        reports = [self.conversion_report(replace(query, model=model)) for model in models]
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
        return ModelComparison(models=tuple(models), rows=rows, exceeding_models=exceeding)

    def _models(self, conn: Connection, query: ReportQuery) -> set[str]:
        c = conversion_credits.c
        found = conn.execute(
            select(c.model).where(c.property_id == query.property_id).distinct()
        ).scalars()
        return set(found)

    def _conditions(self, query: ReportQuery) -> list[ColumnElement[bool]]:
        c = conversion_credits.c
        conditions = [c.property_id == query.property_id, c.model == query.model]
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
