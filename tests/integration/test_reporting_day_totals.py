"""The day and month totals give the same reports as the credits alone, on SQLite and
PostgreSQL: random scenarios over ten weeks (a whole month and parts of two) with revisions,
retractions, two currencies, participation, unconsented conversions, a zone that changes to
summer time and odd start and end times."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, delete, func, select

from common.follower import UpstreamEntry
from services.reporting.application import ReportingApplication
from services.reporting.day_totals import recompute
from services.reporting.domainmodel import (
    AttributedCredit,
    ConversionAttribution,
    GroupBy,
    Interval,
    ModelCredits,
    PropertySettings,
    ReportingInput,
    ReportQuery,
    Retraction,
)
from services.reporting.periods import key_of_day
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.views import (
    conversion_day_counts,
    conversion_day_totals,
    conversion_month_totals,
    day_total_zones,
)
from tests.conftest import Storage
from tests.integration.helpers_attribution import migrated_views

PROPERTY = "shop"
ZONE = "Europe/Berlin"
START = datetime(2025, 3, 20, tzinfo=UTC)
"""Ten days before Berlin moves to summer time (30 March)."""
DAYS = 70
"""To 29 May: the whole of April, and parts of March and May."""
CONVERSIONS = 150
CHANNELS = ("paid_search", "email", "", "referral")
COUNTRIES = ("de", "fr", "")
NAMES = {"purchase": "EUR", "lead": "USD"}
MODELS = ("last_click", "linear", "participation")


@pytest.fixture
def engine(storage: Storage) -> Iterator[Engine]:
    with migrated_views(storage) as views:
        yield views


def credit(rng: random.Random, fraction: float) -> AttributedCredit:
    return AttributedCredit(
        touchpoint_id=f"tp-{rng.randrange(99)}",
        channel=rng.choice(CHANNELS),
        source=rng.choice(("google", "news", "")),
        medium="cpc",
        campaign=rng.choice(("spring", "")),
        fraction=fraction,
        value_micros=rng.randrange(0, 3) * 333_333_333 + rng.randrange(1_000_000),
        country=rng.choice(COUNTRIES),
        device_type=rng.choice(("mobile", "desktop")),
    )


def attribution(rng: random.Random, number: int, revision: int) -> ConversionAttribution:
    name = "purchase" if number % 5 else "lead"
    touches = rng.randrange(1, 5)
    journey = [credit(rng, 1 / touches) for _ in range(touches)]
    return ConversionAttribution(
        property_id=PROPERTY,
        conversion_id=f"c{number}",
        event_id=f"e{number}",
        conversion_name=name,
        occurred_at=START + timedelta(seconds=rng.randrange(DAYS * 86_400)),
        currency_code=NAMES[name],
        value_micros=sum(c.value_micros for c in journey),
        revision=revision,
        models=(
            ModelCredits("last_click", (replace(journey[-1], fraction=1.0),)),
            ModelCredits("linear", tuple(journey)),
            ModelCredits("participation", tuple(replace(c, fraction=1.0) for c in journey)),
        ),
        unconsented=rng.random() < 0.2,
    )


def the_log(seed: int) -> list[ReportingInput | None]:
    """Conversions; some attributed again (the same time), some retracted, in random order."""
    rng = random.Random(seed)
    log: list[ReportingInput | None] = []
    for number in range(CONVERSIONS):
        first = attribution(rng, number, 1)
        log.append(first)
        if rng.random() < 0.3:
            again = replace(attribution(rng, number, 2), occurred_at=first.occurred_at)
            log.insert(rng.randrange(len(log), len(log) + 20), again)
        if rng.random() < 0.1:
            log.append(Retraction(PROPERTY, f"c{number}"))
    return log


def feed(projection: ConversionCreditsProjection, log: list[ReportingInput | None]) -> None:
    rng = random.Random(len(log))
    position = 0
    while position < len(log):
        size = rng.randrange(1, 30)
        page = [
            UpstreamEntry(position + i + 1, v)
            for i, v in enumerate(log[position : position + size])
        ]
        projection.process_page("attribution", page)
        position += size


def moment(rng: random.Random) -> datetime | None:
    """None, a local midnight in Berlin, or any second of the scenario's days."""
    kind = rng.random()
    if kind < 0.1:
        return None
    day = START - timedelta(days=2) + timedelta(days=rng.randrange(DAYS + 4))
    if kind < 0.5:
        return datetime.combine(day.date(), time(0), tzinfo=ZoneInfo(ZONE)).astimezone(UTC)
    return day + timedelta(seconds=rng.randrange(86_400))


def random_query(rng: random.Random) -> ReportQuery:
    start, end = moment(rng), moment(rng)
    if start is not None and end is not None and end <= start:
        start, end = end, start + timedelta(hours=1)
    grouped = rng.choice(list(GroupBy))
    name = "" if grouped is GroupBy.CONVERSION_NAME else rng.choice(list(NAMES))
    query = ReportQuery(
        PROPERTY,
        rng.choice(MODELS),
        group_by=grouped,
        start=start,
        end=end,
        conversion_name=name,
        interval=rng.choice(list(Interval)),
    )
    if start is not None and end is not None and rng.random() < 0.5:
        length = end - start
        query = replace(query, compare_start=start - length, compare_end=start)
    return query


def covers_a_whole_month(query: ReportQuery) -> bool:
    """Whether the query can read April from the month totals: no interval or a monthly
    one, and a range holding all of April in Berlin."""
    april = datetime(2025, 4, 1, tzinfo=ZoneInfo(ZONE))
    may = datetime(2025, 5, 1, tzinfo=ZoneInfo(ZONE))
    return (
        query.interval in (Interval.NONE, Interval.MONTH)
        and (query.start is None or query.start <= april)
        and (query.end is None or query.end >= may)
    )


def answer(app: ReportingApplication, query: ReportQuery) -> object:
    try:
        return app.conversion_report(query)
    except Exception as error:
        return (type(error).__name__, str(error))


def day_rows(engine: Engine) -> list[list[tuple[object, ...]]]:
    """The rows of the day tables, without the day counts' `changed_at` (the position of
    the page that last changed a day: a recompute's differs)."""
    with engine.connect() as conn:
        return [
            sorted(
                tuple(row)
                for row in conn.execute(select(*(c for c in table.c if c.name != "changed_at")))
            )
            for table in (
                conversion_day_totals,
                conversion_day_counts,
                day_total_zones,
                conversion_month_totals,
            )
        ]


def rolled_up_months(day_totals: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """The day totals' rows summed per local month, in Python (periods.key_of_day)."""
    months: dict[tuple[object, ...], list[int]] = {}
    for row in day_totals:
        day = row[4]
        assert isinstance(day, int)
        key = (*row[:4], key_of_day(Interval.MONTH, day), *row[5:7])
        sums = months.setdefault(key, [0] * 5)
        for n, figure in enumerate(row[7:]):
            assert isinstance(figure, int)
            sums[n] += figure
    return sorted((*key, *sums) for key, sums in months.items() if sums[0])


@pytest.mark.parametrize("seed", [1, 2])
def test_reports_from_the_day_totals_equal_those_from_the_credits(
    engine: Engine, seed: int
) -> None:
    # Berlin time from the start; the scenario is fed in pages of random sizes.
    app = ReportingApplication(engine, ("attribution",))
    app.set_property_settings(PROPERTY, PropertySettings(time_zone=ZONE))
    feed(ConversionCreditsProjection(engine), the_log(seed))
    rng = random.Random(seed)
    queries = [random_query(rng) for _ in range(60)]

    # The totals kept page by page equal those recomputed from the live credits.
    kept = day_rows(engine)
    assert kept[0] and kept[1] and kept[2] == [(PROPERTY, ZONE)]
    assert kept[3] == rolled_up_months(kept[0])
    with engine.begin() as conn:
        recompute(conn, PROPERTY, ZONE, len(the_log(seed)))
    assert day_rows(engine) == kept
    from_totals = [answer(app, query) for query in queries]

    # Without a zone recorded, reports read the credits alone: the same answers.
    with engine.begin() as conn:
        conn.execute(delete(day_total_zones))
    from_credits = [answer(app, query) for query in queries]
    for query, found, expected in zip(queries, from_totals, from_credits, strict=True):
        assert found == expected, query
    assert sum(not isinstance(found, tuple) for found in from_totals) > 30
    assert sum(covers_a_whole_month(query) for query in queries) >= 5


def test_a_new_time_zone_recomputes_the_day_totals_in_the_same_transaction(
    engine: Engine,
) -> None:
    app = ReportingApplication(engine, ("attribution",))
    feed(ConversionCreditsProjection(engine), the_log(3))
    utc_days = day_rows(engine)
    assert utc_days[2] == [(PROPERTY, "UTC")]

    app.set_property_settings(PROPERTY, PropertySettings(time_zone="America/New_York"))

    moved = day_rows(engine)
    assert moved[2] == [(PROPERTY, "America/New_York")]
    assert moved[0] != utc_days[0]
    assert moved[3] == rolled_up_months(moved[0])
    with engine.connect() as conn:
        conversions = conn.execute(select(func.sum(conversion_day_counts.c.conversions))).scalar()
    assert conversions == sum(row[4] for row in utc_days[1])
    with engine.begin() as conn:
        recompute(conn, PROPERTY, "America/New_York", len(the_log(3)))
    assert day_rows(engine) == moved

    # Reports in the new zone from the totals equal those from the credits alone.
    rng = random.Random(3)
    queries = [random_query(rng) for _ in range(30)]
    from_totals = [answer(app, query) for query in queries]
    with engine.begin() as conn:
        conn.execute(delete(day_total_zones))
    assert [answer(app, query) for query in queries] == from_totals
