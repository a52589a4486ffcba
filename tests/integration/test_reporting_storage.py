"""The reporting projection and report queries, as one contract on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError

from common.follower import UpstreamEntry
from common.money import Money
from services.reporting.application import (
    ReportingApplication,
)
from services.reporting.domainmodel import (
    AsOf,
    AttributedCredit,
    ConversionAttribution,
    ConversionReport,
    GroupBy,
    MetricsQuery,
    ModelCredits,
    ReportingInput,
    ReportQuery,
    Retraction,
)
from services.reporting.errors import (
    MixedCurrencyError,
)
from services.reporting.metrics import MetricsReports
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.server import ReportingSettings, build_engine, migrate, rebuild_reports
from tests.conftest import Storage

PROPERTY = "shop"
DAY = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CHANNELS = ("paid_search", "email", "organic_social", "referral")


def touch(channel: str, fraction: float, micros: int) -> AttributedCredit:
    return AttributedCredit(
        touchpoint_id=f"tp-{channel}",
        channel=channel,
        source=f"src-{channel}" if channel != "email" else "",
        medium="cpc" if channel == "paid_search" else "",
        campaign="spring" if channel != "referral" else "",
        fraction=fraction,
        value_micros=micros,
    )


def attribution(
    number: int, *, revision: int = 1, currency: str = "EUR", name: str = "purchase"
) -> ConversionAttribution:
    """Conversion `number`: a journey of 0 to 3 touchpoints, value 1.5 + number units."""
    micros = 1_500_000 + 1_000_000 * number
    journey = [CHANNELS[(number + k + revision) % len(CHANNELS)] for k in range(number % 4)]
    if journey:
        parts = [micros // len(journey)] * len(journey)
        parts[-1] += micros - sum(parts)
        last = (touch(journey[-1], 1.0, micros),)
        linear = tuple(touch(c, 1 / len(journey), p) for c, p in zip(journey, parts, strict=True))
    else:
        last = linear = (AttributedCredit("", "(none)", "", "", "", 1.0, micros),)
    return ConversionAttribution(
        property_id=PROPERTY,
        conversion_id=f"conv-{number:03d}",
        event_id=f"evt-{number}",
        conversion_name=name,
        occurred_at=DAY + timedelta(hours=number),
        currency_code=currency,
        value_micros=micros,
        revision=revision,
        models=(ModelCredits("last_click", last), ModelCredits("linear", linear)),
    )


def the_log() -> list[ConversionAttribution | None]:
    log: list[ConversionAttribution | None] = [attribution(n) for n in range(30)]
    log.insert(5, None)
    log += [attribution(n, revision=2) for n in range(0, 30, 3)]
    log.append(attribution(4, revision=1))
    return log


@pytest.fixture
def settings(storage: Storage) -> ReportingSettings:
    return ReportingSettings(database_url=storage.database_url, data_dir=storage.data_dir)


@pytest.fixture
def engine(settings: ReportingSettings) -> Iterator[Engine]:
    migrate(settings)
    engine = build_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def projection(engine: Engine) -> ConversionCreditsProjection:
    return ConversionCreditsProjection(engine)


def feed_in_pages(
    projection: ConversionCreditsProjection, log: list[ConversionAttribution | None], size: int
) -> None:
    for start in range(0, len(log), size):
        page = [UpstreamEntry(start + i + 1, a) for i, a in enumerate(log[start : start + size])]
        projection.process_page("attribution", page)


def reports(app: ReportingApplication) -> list[ConversionReport]:
    return [
        app.conversion_report(ReportQuery(PROPERTY, model, group_by))
        for model in ("last_click", "linear")
        for group_by in GroupBy
    ]


def test_the_views_live_in_their_generation_and_the_settings_in_the_reporting_schema(
    storage: Storage, engine: Engine, projection: ConversionCreditsProjection
) -> None:
    postgres = storage.backend == "postgres"

    settings = set(inspect(engine).get_table_names(schema="reporting" if postgres else None))
    with engine.connect() as conn:
        views = set(
            inspect(conn).get_table_names(schema="reporting_views_1" if postgres else "views_1")
        )

    assert {"property_settings", "view_generations", "alembic_version"} <= settings
    assert {"conversion_credits", "projection_positions", "alembic_version"} <= views
    assert "conversion_credits" not in settings


def test_reports_add_up_the_latest_credits_of_every_conversion(
    projection: ConversionCreditsProjection, engine: Engine
) -> None:
    app = ReportingApplication(engine)

    feed_in_pages(projection, the_log(), size=8)

    last_click = app.conversion_report(ReportQuery(PROPERTY, "last_click"))
    linear = app.conversion_report(ReportQuery(PROPERTY, "linear"))
    expected_value = Money.from_micros("EUR", sum(1_500_000 + 1_000_000 * n for n in range(30)))
    for result in (last_click, linear):
        assert math.isclose(result.total_conversions, 30.0)
        assert result.total_value == expected_value
        assert sum(row.value.to_micros() for row in result.rows) == expected_value.to_micros()
        assert math.isclose(math.fsum(row.share for row in result.rows), 1.0)
        conversions = [row.conversions for row in result.rows]
        assert conversions == sorted(conversions, reverse=True)
    assert {row.group for row in last_click.rows} == {*CHANNELS, "(none)"}
    assert projection.position("attribution") == len(the_log())


def test_filters_and_groupings_select_the_same_rows_on_every_backend(
    projection: ConversionCreditsProjection, engine: Engine
) -> None:
    app = ReportingApplication(engine)
    log: list[ConversionAttribution | None] = [
        attribution(n, name="sign_up" if n % 5 == 0 else "purchase") for n in range(20)
    ]
    feed_in_pages(projection, log, size=50)

    window = app.conversion_report(
        ReportQuery(
            PROPERTY,
            "last_click",
            start=DAY + timedelta(hours=2),
            end=DAY + timedelta(hours=6),
            conversion_name="purchase",
        )
    )
    sign_ups = app.conversion_report(ReportQuery(PROPERTY, "last_click", conversion_name="sign_up"))
    by_campaign = app.conversion_report(
        ReportQuery(PROPERTY, "linear", GroupBy.CAMPAIGN, conversion_name="purchase")
    )

    # Purchases 2, 3 and 4 (conversion 5, in the window too, is a sign-up).
    assert window.total_conversions == 3.0
    assert window.total_value == Money.from_micros("EUR", 3_500_000 + 4_500_000 + 5_500_000)
    assert window.freshness.newest_conversion_at == DAY + timedelta(hours=4)
    assert sign_ups.total_conversions == 4.0
    assert sign_ups.freshness.newest_conversion_at == DAY + timedelta(hours=15)
    assert {row.group for row in by_campaign.rows} == {"spring", "(not set)"}


def test_reports_carry_the_positions_they_reflect(
    projection: ConversionCreditsProjection, engine: Engine
) -> None:
    app = ReportingApplication(engine, ["attribution"])
    feed_in_pages(projection, the_log(), size=50)

    report = app.conversion_report(ReportQuery(PROPERTY, "linear"))
    comparison = app.compare_models(ReportQuery(PROPERTY, ""), ["last_click", "linear"])

    expected = (("attribution", len(the_log())),)
    assert report.freshness.positions == comparison.freshness.positions == expected
    assert report.freshness.newest_conversion_at == DAY + timedelta(hours=29)
    assert comparison.freshness.newest_conversion_at == DAY + timedelta(hours=29)
    assert report.conversion_name == comparison.conversion_name == "purchase"


def test_properties_and_conversion_names_are_listed_in_pages(
    projection: ConversionCreditsProjection, engine: Engine
) -> None:
    app = ReportingApplication(engine)
    log: list[ConversionAttribution | None] = [
        replace(attribution(n, name=f"goal_{n % 3}"), property_id=f"site-{n % 5}")
        for n in range(15)
    ]
    feed_in_pages(projection, log, size=50)

    first = app.list_properties(2)
    second = app.list_properties(2, first.next_after)
    last = app.list_properties(2, second.next_after)
    names = app.list_conversion_names("site-1", 2)
    rest = app.list_conversion_names("site-1", 2, names.next_after)

    assert (first.items, second.items, last.items) == (
        ("site-0", "site-1"),
        ("site-2", "site-3"),
        ("site-4",),
    )
    assert last.next_after == ""
    # site-1 holds conversions 1, 6 and 11: goals 1, 0 and 2.
    assert (names.items, rest.items, rest.next_after) == (("goal_0", "goal_1"), ("goal_2",), "")
    assert app.list_report_models("site-1", "goal_2") == ("last_click", "linear")


def test_listings_drop_what_revisions_and_retractions_leave_without_live_credits(
    projection: ConversionCreditsProjection, engine: Engine
) -> None:
    app = ReportingApplication(engine)
    gone = replace(attribution(1, name="lead"), property_id="site-gone")
    renamed = attribution(2, name="trial")
    kept = attribution(3)
    log: list[ReportingInput | None] = [gone, renamed, kept]
    log += [Retraction("site-gone", gone.conversion_id), attribution(2, revision=2)]
    for start in range(0, len(log), 2):
        page = [UpstreamEntry(start + i + 1, v) for i, v in enumerate(log[start : start + 2])]
        projection.process_page("attribution", page)

    assert app.list_properties(10).items == (PROPERTY,)
    assert app.list_conversion_names(PROPERTY, 10).items == ("purchase",)
    assert app.list_report_models(PROPERTY) == ("last_click", "linear")
    assert app.list_report_models(PROPERTY, "purchase", AsOf(attribution_position=3)) == (
        "last_click",
        "linear",
    )


def test_cost_reports_add_tenths_of_a_conversion_exactly(
    projection: ConversionCreditsProjection, engine: Engine
) -> None:
    base = attribution(1)
    tenths = tuple(touch("email", 0.1, 250_000) for _ in range(10))
    ten_touches = replace(base, models=(ModelCredits("linear", tenths),), value_micros=2_500_000)
    feed_in_pages(projection, [ten_touches], size=10)

    report = MetricsReports(engine).cost_report(MetricsQuery(PROPERTY, "linear"))

    # Ten floats of 0.1 add up to 0.9999999999999999; ten credits of 10**8 units to 1.
    assert [(r.group, r.conversions) for r in report.rows] == [("email", 1.0)]


def test_a_failing_page_rolls_back_its_rows_and_its_position(
    projection: ConversionCreditsProjection, engine: Engine
) -> None:
    app = ReportingApplication(engine)
    feed_in_pages(projection, [attribution(1)], size=10)
    broken = attribution(2)
    twice = replace(broken, models=(broken.models[0], broken.models[0]))

    with pytest.raises(IntegrityError):
        projection.process_page(
            "attribution", [UpstreamEntry(2, attribution(3)), UpstreamEntry(3, twice)]
        )

    assert projection.position("attribution") == 1
    assert app.conversion_report(ReportQuery(PROPERTY, "last_click")).total_conversions == 1.0


def test_mixed_currencies_are_refused(
    projection: ConversionCreditsProjection, engine: Engine
) -> None:
    feed_in_pages(projection, [attribution(1), attribution(2, currency="USD")], size=10)

    with pytest.raises(MixedCurrencyError):
        ReportingApplication(engine).conversion_report(ReportQuery(PROPERTY, "linear"))


def test_rebuilding_and_replaying_gives_identical_reports(
    settings: ReportingSettings, projection: ConversionCreditsProjection, engine: Engine
) -> None:
    app = ReportingApplication(engine)
    feed_in_pages(projection, the_log(), size=3)
    before = reports(app)

    rebuild_reports(settings)
    assert projection.position("attribution") == 0
    feed_in_pages(projection, the_log(), size=500)

    assert reports(app) == before


def test_values_at_the_int64_limit_add_up_exactly_on_every_backend(
    projection: ConversionCreditsProjection, engine: Engine
) -> None:
    # Twelve conversions of the largest value a credit row holds (int64 micros, about
    # 9.2 trillion units): the value split over three channels under linear, whole to the
    # last one under last click; then one of 1.000001 units with no touchpoint.
    largest = 2**63 - 1
    third = largest // 3
    big = [
        replace(
            attribution(n, currency="USD"),
            value_micros=largest,
            models=(
                ModelCredits("last_click", (touch("email", 1.0, largest),)),
                ModelCredits(
                    "linear",
                    tuple(
                        touch(channel, 1 / 3, third + (largest - 3 * third if k == 2 else 0))
                        for k, channel in enumerate(("paid_search", "referral", "email"))
                    ),
                ),
            ),
        )
        for n in range(12)
    ]
    unattributed = AttributedCredit("", "(none)", "", "", "", 1.0, 1_000_001)
    small = replace(
        attribution(12, currency="USD"),
        value_micros=1_000_001,
        models=tuple(ModelCredits(m, (unattributed,)) for m in ("last_click", "linear")),
    )
    feed_in_pages(projection, [*big, small], size=5)
    app = ReportingApplication(engine)

    expected_total = Money.from_micros("USD", 12 * largest + 1_000_001)
    for model in ("last_click", "linear"):
        for group_by in GroupBy:
            report = app.conversion_report(ReportQuery(PROPERTY, model, group_by))
            assert report.total_value == expected_total
            assert sum(row.value.to_micros() for row in report.rows) == 12 * largest + 1_000_001
            assert not report.total_value_saturated
    by_channel = app.conversion_report(ReportQuery(PROPERTY, "linear"))
    values = {row.group: row.value.to_micros() for row in by_channel.rows}
    assert values == {
        "paid_search": 12 * third,
        "referral": 12 * third,
        "email": 12 * (largest - 2 * third),
        "(none)": 1_000_001,
    }
