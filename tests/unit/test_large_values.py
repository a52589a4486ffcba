"""Values near ingest's limit: exact credits, and report values beyond the range of Money
flagged, never a failed report."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    cast,
    insert,
    literal,
    null,
)
from sqlalchemy import select as sql_select

from common.money import Money
from services.attribution.models import JourneyTouch, credit, named_model
from services.reporting.application import ReportingApplication
from services.reporting.domainmodel import ReportQuery
from services.reporting.fraction_units import UNITS_PER_CONVERSION
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.views import conversion_credits
from tests.unit.test_reporting_projection import (
    DAY,
    EMAIL,
    PROPERTY,
    attribution,
    engine,
    feed,
    projection,
    views,
)

__all__ = ["engine", "projection", "views"]

LARGEST_ROW_MICROS = 2**63 - 1
"""The largest value a credit row holds (int64 micros)."""


def insert_email_credits(engine: Engine, count: int) -> None:
    """`count` last-click credits of the largest row value to email, written in SQL (a
    million rows through the projection would take minutes)."""
    numbers = sql_select(literal(1, Integer).label("n")).cte("numbers", recursive=True)
    numbers = numbers.union_all(sql_select(numbers.c.n + 1).where(numbers.c.n < count))
    columns = {
        "property_id": literal(PROPERTY),
        "conversion_id": literal("big-") + cast(numbers.c.n, String),
        "model": literal("last_click"),
        "credit_index": literal(0),
        "conversion_name": literal("purchase"),
        "occurred_at": literal(DAY, DateTime(timezone=True)),
        "channel": literal("email"),
        "fraction": literal(1.0, Float),
        "fraction_units": literal(UNITS_PER_CONVERSION, BigInteger),
        "value_micros": literal(LARGEST_ROW_MICROS, BigInteger),
        "currency_code": literal("USD"),
        "revision": literal(1),
        "valid_from": literal(1, BigInteger),
        "valid_to": null(),
    }
    for column in conversion_credits.c:
        columns.setdefault(column.name, literal(""))  # source, medium, campaign and details
    rows = sql_select(*columns.values())
    with engine.begin() as conn:
        conn.execute(insert(conversion_credits).from_select(list(columns), rows))


def test_values_beyond_the_range_of_money_are_the_largest_money_and_flagged(
    projection: ConversionCreditsProjection, engine: Engine
) -> None:
    # A million purchases of int64 micros each to email add up to exactly int64 units, the
    # largest Money's units; an unattributed purchase of 0.999999 units keeps "(none)" far
    # below it, and one more purchase of 1 unit after an email click takes email, and the
    # total, past it. (A report counts one conversion name.)
    insert_email_credits(engine, 1_000_000)
    feed(
        projection,
        [
            attribution("edge", [], micros=999_999),
            attribution("over", [EMAIL], micros=1_000_000),
        ],
    )
    app = ReportingApplication(engine)

    purchases = app.conversion_report(
        ReportQuery(PROPERTY, "last_click", conversion_name="purchase")
    )

    largest = Money("USD", 2**63 - 1, 999_999_999)
    assert {row.group: (row.value, row.value_saturated) for row in purchases.rows} == {
        "email": (largest, True),
        "(none)": (Money("USD", 0, 999_999_000), False),
    }
    assert (purchases.total_value, purchases.total_value_saturated) == (largest, True)
    assert purchases.total_conversions == 1_000_002


def test_participation_credits_a_value_near_the_limit_to_the_micro() -> None:
    # 999,999,999,999.123457 units: beyond a float's 53 bits in micros.
    value = 999_999_999_999_123_457
    touches = [
        JourneyTouch("t1", DAY - timedelta(hours=2), "email", "", "", ""),
        JourneyTouch("t2", DAY - timedelta(hours=1), "paid_search", "", "", ""),
    ]

    credits = credit(named_model("participation"), touches, DAY, value)

    assert credits is not None
    assert [c.value_micros for c in credits] == [value, value]
