"""The filter totals follower, on SQLite and PostgreSQL: a report filtered by one value of a
filter dimension reads its summarised whole days from the filter totals and every other day
from the credits, and equals the credits' answer whether the follower is done, half done,
running while pages are written, or behind a time zone change."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, event, func, select

from common.follower import UpstreamEntry
from common.leadership import lock_key
from common.settings import SettingsError
from services.launcher import free_loopback_port
from services.reporting import server as reporting_server
from services.reporting.application import ReportingApplication
from services.reporting.domainmodel import (
    NOT_SET,
    DimensionFilter,
    GroupBy,
    Interval,
    PropertySettings,
    ReportingInput,
    ReportQuery,
)
from services.reporting.filter_totals import (
    FilterTotalsFollower,
    stale_days,
    summarise_all,
    summarise_batch,
)
from services.reporting.periods import period_start
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.server import ReportingSettings
from services.reporting.views import (
    conversion_credits,
    conversion_day_counts,
    filter_day_counts,
    filter_summarised_days,
)
from tests.conftest import Storage
from tests.integration.helpers_attribution import migrated_views
from tests.integration.test_leadership import eventually, lock_holders
from tests.integration.test_reporting_day_totals import (
    PROPERTY,
    ZONE,
    answer,
    attribution,
    feed,
    random_query,
    the_log,
)

FILTER_VALUES = {
    GroupBy.CHANNEL: ("paid_search", "email", NOT_SET, "video"),
    GroupBy.COUNTRY: ("de", "fr", NOT_SET),
    GroupBy.DEVICE_TYPE: ("mobile", "desktop"),
    GroupBy.SOURCE: ("google", NOT_SET),
}
"""Filter values: the filter totals' dimensions (with "(not set)" and a value no credit
has) and one dimension they leave to the credits."""


@pytest.fixture
def engine(storage: Storage) -> Iterator[Engine]:
    with migrated_views(storage) as views:
        yield views


def filtered_queries(seed: int, count: int) -> list[ReportQuery]:
    """Random report queries (ranges, groupings, intervals, comparisons), each filtered by
    one value of one dimension."""
    rng = random.Random(seed)
    queries = []
    for _ in range(count):
        dimension = rng.choice(list(FILTER_VALUES))
        chosen = DimensionFilter(dimension, (rng.choice(FILTER_VALUES[dimension]),))
        queries.append(replace(random_query(rng), filters=(chosen,)))
    return queries


def from_credits(query: ReportQuery) -> ReportQuery:
    """The same query with its one filter value given twice: the same credits, but no
    totals answer a filter of two values, so the report reads the credits alone."""
    (only,) = query.filters
    return replace(query, filters=(DimensionFilter(only.dimension, only.values * 2),))


def assert_exact(app: ReportingApplication, queries: list[ReportQuery]) -> None:
    for query in queries:
        assert answer(app, query) == answer(app, from_credits(query)), query


def pages(log: list[ReportingInput | None], size: int) -> Iterator[list[UpstreamEntry]]:  # type: ignore[type-arg]
    for start in range(0, len(log), size):
        yield [UpstreamEntry(start + i + 1, v) for i, v in enumerate(log[start : start + size])]


def credit_sums_read(engine: Engine, app: ReportingApplication, query: ReportQuery) -> int:
    """How many statements answering `query` sum credits of its window."""
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        app.conversion_report(query)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return sum("report_credits" in statement for statement in statements)


@pytest.mark.parametrize("seed", [1, 2])
def test_filtered_reports_from_the_filter_totals_equal_those_from_the_credits(
    engine: Engine, seed: int
) -> None:
    app = ReportingApplication(engine, ("attribution",), filter_totals=True)
    app.set_property_settings(PROPERTY, PropertySettings(time_zone=ZONE))
    feed(ConversionCreditsProjection(engine), the_log(seed))

    # The follower runs to its end: every day with live credits is summarised.
    assert summarise_all(engine).summarised > 0
    with engine.connect() as conn:
        assert stale_days(conn, 10) == []
        summarised = conn.execute(select(func.count()).select_from(filter_summarised_days))
        days = conn.execute(select(func.count()).select_from(conversion_day_counts))
        assert summarised.scalar() == days.scalar()

    queries = filtered_queries(seed, 80)
    assert_exact(app, queries)
    assert sum(not isinstance(answer(app, q), tuple) for q in queries) > 40


def test_reports_stay_exact_while_pages_change_days_and_the_follower_is_behind(
    engine: Engine,
) -> None:
    # Pages of the log arrive (revisions and retractions among them) while the follower
    # summarises three days at a time: at every step some days are summarised, some stale.
    app = ReportingApplication(engine, ("attribution",), filter_totals=True)
    app.set_property_settings(PROPERTY, PropertySettings(time_zone=ZONE))
    projection = ConversionCreditsProjection(engine)
    queries = filtered_queries(5, 25)
    for number, page in enumerate(pages(the_log(5), 40)):
        projection.process_page("attribution", page)
        summarise_batch(engine, 3)
        assert_exact(app, queries)
        if number == 3:
            # A zone change makes every summary stale; changed back, the summaries in the
            # first zone are current again only where no page changed their day since.
            app.set_property_settings(PROPERTY, PropertySettings(time_zone="America/New_York"))
            summarise_batch(engine, 3)
            assert_exact(app, queries)
            app.set_property_settings(PROPERTY, PropertySettings(time_zone=ZONE))
            assert_exact(app, queries)
    summarise_all(engine)
    assert_exact(app, queries)


def test_reports_stay_exact_with_the_follower_running_while_pages_are_written(
    engine: Engine,
) -> None:
    app = ReportingApplication(engine, ("attribution",), filter_totals=True)
    app.set_property_settings(PROPERTY, PropertySettings(time_zone=ZONE))
    projection = ConversionCreditsProjection(engine)
    follower = FilterTotalsFollower(engine, batch_days=2, pause_ratio=0.0, idle_seconds=0.01)
    written = threading.Event()

    def write() -> None:
        for page in pages(the_log(6), 15):
            projection.process_page("attribution", page)
        written.set()

    writer = threading.Thread(target=write)
    follower.start()
    writer.start()
    try:
        writer.join(120)
        assert written.is_set()
    finally:
        follower.stop()

    # Whatever the follower managed meanwhile, the answers are the credits'; and once it
    # has run to its end too.
    queries = filtered_queries(6, 30)
    assert_exact(app, queries)
    summarise_all(engine)
    assert_exact(app, queries)


def test_the_catch_up_stamps_each_changed_day_with_its_page_position(engine: Engine) -> None:
    projection = ConversionCreditsProjection(engine)
    first = the_log(7)[:60]
    second = [attribution(random.Random(7), 999, 1)]
    projection.process_page("attribution", [UpstreamEntry(i + 1, v) for i, v in enumerate(first)])
    with engine.connect() as conn:
        before = dict(
            ((p, n, m, d), at) for p, n, m, d, *_, at in conn.execute(select(conversion_day_counts))
        )
    assert set(before.values()) == {60}

    projection.process_page("attribution", [UpstreamEntry(61, second[0])])

    with engine.connect() as conn:
        after = dict(
            ((p, n, m, d), at) for p, n, m, d, *_, at in conn.execute(select(conversion_day_counts))
        )
    changed = {key for key, at in after.items() if at == 61}
    assert changed and all(before.get(key) != 61 for key in changed)
    assert {at for key, at in after.items() if key not in changed} == {60}


def test_a_batch_summarises_at_most_its_days_or_its_credits_and_counts_them(
    engine: Engine,
) -> None:
    app = ReportingApplication(engine, ("attribution",), filter_totals=True)
    app.set_property_settings(PROPERTY, PropertySettings(time_zone=ZONE))
    feed(ConversionCreditsProjection(engine), the_log(8))
    with engine.connect() as conn:
        first = stale_days(conn, 3)

    done = summarise_batch(engine, 3)

    assert done.summarised == 3
    zone = ZoneInfo(ZONE)
    c = conversion_credits.c
    with engine.connect() as conn:
        expected = 0
        for day in first:
            begin = period_start(Interval.DAY, day.day, zone)
            end = period_start(Interval.DAY, day.day + 1, zone)
            expected += conn.execute(
                select(func.count()).where(
                    c.property_id == day.property_id,
                    c.conversion_name == day.conversion_name,
                    c.model == day.model,
                    c.valid_to.is_(None),
                    c.occurred_at >= begin,
                    c.occurred_at < end,
                )
            ).scalar_one()
        assert done.credits == expected > 0
        assert conn.execute(select(func.count()).select_from(filter_summarised_days)).scalar() == 3
        assert conn.execute(select(func.count()).select_from(filter_day_counts)).scalar()

    # A batch also ends after the day that spends its budget of credits.
    assert summarise_batch(engine, 3, credit_budget=1).summarised == 1


def test_a_summarised_window_reads_no_credits_and_a_changed_day_reads_its_own(
    engine: Engine,
) -> None:
    app = ReportingApplication(engine, ("attribution",), filter_totals=True)
    app.set_property_settings(PROPERTY, PropertySettings(time_zone=ZONE))
    log = the_log(4)
    projection = ConversionCreditsProjection(engine)
    projection.process_page("attribution", [UpstreamEntry(i + 1, v) for i, v in enumerate(log)])
    summarise_all(engine)
    midnight = datetime(2025, 4, 2, tzinfo=ZoneInfo(ZONE))
    query = ReportQuery(
        PROPERTY,
        "linear",
        group_by=GroupBy.CAMPAIGN,
        conversion_name="purchase",
        start=midnight,
        end=midnight + timedelta(days=30),
        filters=(DimensionFilter(GroupBy.COUNTRY, ("de",)),),
    )

    # Whole local days, all summarised: the filter totals alone, for any grouping.
    for grouped in (GroupBy.CAMPAIGN, GroupBy.COUNTRY, GroupBy.CONVERSION_NAME):
        assert credit_sums_read(engine, app, replace(query, group_by=grouped)) == 0
    # Two values, or a dimension without filter totals: the credits.
    two = DimensionFilter(GroupBy.COUNTRY, ("de", "fr"))
    assert credit_sums_read(engine, app, replace(query, filters=(two,))) == 1
    source = DimensionFilter(GroupBy.SOURCE, ("google",))
    assert credit_sums_read(engine, app, replace(query, filters=(source,))) == 1

    # A page re-attributes a purchase inside the window: its day (one run) reads the credits.
    inside = next(
        a
        for a in log
        if a is not None
        and hasattr(a, "occurred_at")
        and a.conversion_name == "purchase"
        and midnight + timedelta(days=3) <= a.occurred_at < midnight + timedelta(days=27)
    )
    again = replace(inside, revision=inside.revision + 5)  # type: ignore[type-var]
    projection.process_page("attribution", [UpstreamEntry(len(log) + 1, again)])
    assert credit_sums_read(engine, app, query) == 1
    assert answer(app, query) == answer(app, from_credits(query))

    # Off (the default), the same summarised window reads the credits.
    default = ReportingApplication(engine, ("attribution",))
    assert credit_sums_read(engine, default, replace(query, group_by=GroupBy.COUNTRY)) == 1
    assert answer(default, query) == answer(app, query)


def test_the_filter_totals_are_off_unless_turned_on() -> None:
    assert ReportingSettings.from_env({}).filter_totals is False
    assert ReportingSettings.from_env({"REPORTING_FILTER_TOTALS": "on"}).filter_totals is True
    assert ReportingSettings.from_env({"REPORTING_FILTER_TOTALS": "No"}).filter_totals is False
    with pytest.raises(SettingsError, match="REPORTING_FILTER_TOTALS must be on or off"):
        ReportingSettings.from_env({"REPORTING_FILTER_TOTALS": "sometimes"})


@pytest.mark.postgres
@pytest.mark.parametrize("turned_on", [False, True])
def test_reporting_leads_the_filter_totals_task_only_when_they_are_on(
    postgres_database: str, tmp_path: Path, turned_on: bool
) -> None:
    # The task's leadership holds a PostgreSQL connection of its own: off, none is taken.
    settings = ReportingSettings(
        listen="127.0.0.1:0",
        database_url=postgres_database,
        data_dir=tmp_path,
        attribution_addr=f"127.0.0.1:{free_loopback_port()}",
        filter_totals=turned_on,
    )
    running = reporting_server.start(settings)
    try:
        key = lock_key("reporting:filter-totals")
        if turned_on:
            eventually(lambda: len(lock_holders(postgres_database, key)) == 1)
        else:
            # The rebuild's leadership, started beside it, is taken: the service is up.
            rebuild = lock_key("reporting:rebuild")
            eventually(lambda: len(lock_holders(postgres_database, rebuild)) == 1)
            assert lock_holders(postgres_database, key) == []
    finally:
        running.stop()
