"""A filtered report's conversion counts (distinct conversions, participation, unconsented
ones) equal those counted in Python from the stored credits, live and as of past positions,
on SQLite and PostgreSQL: random filters (one or two values, "(not set)"), groupings, ranges
and models over a scenario with revisions, retractions and unconsented conversions."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from services.reporting.application import ReportingApplication
from services.reporting.domainmodel import (
    NOT_SET,
    AsOf,
    DimensionFilter,
    GroupBy,
    ReportQuery,
)
from services.reporting.errors import ReportingError
from services.reporting.fraction_units import UNITS_PER_CONVERSION
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.views import conversion_credits, unconsented_conversions
from tests.conftest import Storage
from tests.integration.helpers_attribution import migrated_views
from tests.integration.test_reporting_day_totals import (
    DAYS,
    MODELS,
    NAMES,
    PROPERTY,
    START,
    feed,
    the_log,
)

FILTERED = {
    GroupBy.CHANNEL: ("paid_search", "email", NOT_SET, "referral"),
    GroupBy.COUNTRY: ("de", "fr", NOT_SET),
    GroupBy.DEVICE_TYPE: ("mobile", "desktop"),
    GroupBy.SOURCE: ("google", "news", NOT_SET),
}


@pytest.fixture
def engine(storage: Storage) -> Iterator[Engine]:
    with migrated_views(storage) as views:
        yield views


def random_query(rng: random.Random, last_position: int) -> ReportQuery:
    start = START + timedelta(seconds=rng.randrange(DAYS * 86_400))
    end = start + timedelta(days=rng.choice((1, 7, 30, 90)))
    dimension = rng.choice(list(FILTERED))
    values = tuple(rng.sample(FILTERED[dimension], rng.choice((1, 2))))
    at = rng.randrange(last_position // 2, last_position) if rng.random() < 0.4 else None
    return ReportQuery(
        PROPERTY,
        rng.choice(MODELS),
        group_by=rng.choice([g for g in GroupBy if g is not GroupBy.CONVERSION_NAME]),
        start=start,
        end=end,
        conversion_name=rng.choice(list(NAMES)),
        filters=(DimensionFilter(dimension, values),),
        as_of=None if at is None else AsOf(attribution_position=at),
    )


def is_current(valid_from: int, valid_to: int | None, at: int | None) -> bool:
    if at is None:
        return valid_to is None
    return valid_from <= at and (valid_to is None or valid_to > at)


def counted(
    credits: list[dict[str, object]], unconsented: list[dict[str, object]], query: ReportQuery
) -> tuple[float, bool, int]:
    """(total conversions, whether participation exceeds them, unconsented conversions) of
    the query, counted in Python from every stored row."""
    at = None if query.as_of is None else query.as_of.attribution_position
    assert query.start is not None and query.end is not None
    (wanted,) = query.filters
    values = {"" if v == NOT_SET else v for v in wanted.values}
    units = 0
    conversions: set[object] = set()
    for row in credits:
        occurred = row["occurred_at"]
        assert isinstance(occurred, datetime)
        occurred = occurred if occurred.tzinfo else occurred.replace(tzinfo=UTC)
        valid_from, valid_to = row["valid_from"], row["valid_to"]
        assert isinstance(valid_from, int) and (valid_to is None or isinstance(valid_to, int))
        if (
            row["model"] == query.model
            and row["conversion_name"] == query.conversion_name
            and query.start <= occurred < query.end
            and is_current(valid_from, valid_to, at)
            and row[wanted.dimension.value] in values
        ):
            fraction_units = row["fraction_units"]
            assert isinstance(fraction_units, int)
            units += fraction_units
            conversions.add(row["conversion_id"])
    flagged = set()
    for row in unconsented:
        valid_from, valid_to = row["valid_from"], row["valid_to"]
        assert isinstance(valid_from, int) and (valid_to is None or isinstance(valid_to, int))
        if is_current(valid_from, valid_to, at):
            flagged.add(row["conversion_id"])
    exceeds = units > len(conversions) * UNITS_PER_CONVERSION
    total = float(len(conversions)) if exceeds else units / UNITS_PER_CONVERSION
    return total, exceeds, len(conversions & flagged)


@pytest.mark.parametrize("seed", [4, 5])
def test_filtered_counts_equal_those_counted_from_the_stored_credits(
    engine: Engine, seed: int
) -> None:
    # A scenario with revisions, retractions and unconsented conversions, fed in pages.
    log = the_log(seed)
    feed(ConversionCreditsProjection(engine), log)
    app = ReportingApplication(engine, ("attribution",))
    with engine.connect() as conn:
        credits = [dict(row._mapping) for row in conn.execute(select(conversion_credits))]
        unconsented = [dict(row._mapping) for row in conn.execute(select(unconsented_conversions))]

    # Random filtered queries, live and as of past positions, count what Python counts.
    rng = random.Random(seed)
    answered = as_of = flagged = 0
    for _ in range(60):
        query = random_query(rng, len(log))
        try:
            report = app.conversion_report(query, limit=3)
        except ReportingError:
            continue
        expected = counted(credits, unconsented, query)
        found = (report.total_conversions, report.exceeds_conversions)
        assert (*found, report.unconsented_conversions) == pytest.approx(expected), query
        answered += 1
        as_of += query.as_of is not None
        flagged += report.unconsented_conversions > 0
    assert answered > 40 and as_of > 10 and flagged > 10
