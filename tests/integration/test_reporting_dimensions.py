"""Reports by any dimension, per day, week or month in the property's time zone, filtered and
compared with another period: hand-computed expectations, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from common.follower import UpstreamEntry
from common.money import Money
from services.reporting.application import (
    ReportingApplication,
)
from services.reporting.domainmodel import (
    AttributedCredit,
    ConversionAttribution,
    ConversionReport,
    DimensionFilter,
    GroupBy,
    Interval,
    ModelCredits,
    PropertySettings,
    ReportQuery,
)
from services.reporting.errors import (
    ConversionNameRequiredError,
    InvalidTimeZoneError,
)
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.server import ReportingSettings, rebuild_reports
from tests.conftest import Storage
from tests.integration.helpers_attribution import migrated_views

PROPERTY = "shop"
BERLIN = "Europe/Berlin"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def conversion(
    number: int,
    at: str,
    channel: str,
    device_type: str,
    country: str,
    units: int,
    *,
    name: str = "purchase",
    landing_page: str = "",
) -> ConversionAttribution:
    """A conversion with one touchpoint; Europe/Berlin changes to summer time on 2025-03-30
    at 01:00 UTC."""
    micros = units * 1_000_000
    credit = AttributedCredit(
        f"tp-{number}",
        channel,
        "google" if channel == "paid_search" else "newsletter",
        "cpc" if channel == "paid_search" else "email",
        "spring",
        1.0,
        micros,
        term="shoes" if channel == "paid_search" else "",
        content="",
        device_type=device_type,
        browser="Chrome",
        country=country,
        landing_page=landing_page,
    )
    return ConversionAttribution(
        property_id=PROPERTY,
        conversion_id=f"c{number}",
        event_id=f"e{number}",
        conversion_name=name,
        occurred_at=utc(at),
        currency_code="EUR",
        value_micros=micros,
        revision=1,
        models=(ModelCredits("last_click", (credit,)),),
    )


SCENARIO = [
    # Saturday 29 March, 23:30 in Berlin.
    conversion(1, "2025-03-29T22:30", "paid_search", "mobile", "DE", 10, landing_page="/shoes"),
    # Sunday 30 March, 00:30 in Berlin (still the 29th in UTC).
    conversion(2, "2025-03-29T23:30", "email", "desktop", "DE", 20, landing_page="/"),
    # Monday 31 March, 00:30 in Berlin in summer time (23:30 on the 30th at winter time's +1).
    conversion(3, "2025-03-30T22:30", "paid_search", "desktop", "FR", 30),
    conversion(4, "2025-03-31T10:00", "paid_search", "mobile", "DE", 40),
    # Sunday 23 March, the week before.
    conversion(5, "2025-03-23T12:00", "paid_search", "mobile", "DE", 5),
    conversion(6, "2025-03-30T10:00", "referral", "desktop", "DE", 0, name="sign_up"),
]


@pytest.fixture
def settings(storage: Storage) -> ReportingSettings:
    return ReportingSettings(database_url=storage.database_url, data_dir=storage.data_dir)


@pytest.fixture
def engine(storage: Storage) -> Iterator[Engine]:
    with migrated_views(storage) as engine:
        yield engine


@pytest.fixture
def app(engine: Engine) -> ReportingApplication:
    projection = ConversionCreditsProjection(engine)
    projection.process_page(
        "attribution", [UpstreamEntry(n, a) for n, a in enumerate(SCENARIO, start=1)]
    )
    app = ReportingApplication(engine, ["attribution"])
    app.set_property_settings(PROPERTY, PropertySettings(BERLIN))
    return app


def eur(units: float) -> Money:
    return Money.from_micros("EUR", round(units * 1_000_000))


def table(report: ConversionReport) -> list[tuple[str, tuple[str, ...], float, Money]]:
    return [(r.period, r.dimension_values, r.conversions, r.value) for r in report.rows]


def test_days_are_counted_in_the_property_time_zone_across_the_change_to_summer_time(
    app: ReportingApplication,
) -> None:
    report = app.conversion_report(
        ReportQuery(
            PROPERTY,
            "last_click",
            start=utc("2025-03-28T23:00"),  # 29 March, 00:00 in Berlin
            end=utc("2025-03-31T22:00"),  # 1 April, 00:00 in Berlin
            conversion_name="purchase",
            dimensions=(GroupBy.CHANNEL, GroupBy.DEVICE_TYPE),
            interval=Interval.DAY,
        )
    )

    assert table(report) == [
        ("2025-03-29", ("paid_search", "mobile"), 1.0, eur(10)),
        ("2025-03-30", ("email", "desktop"), 1.0, eur(20)),
        ("2025-03-31", ("paid_search", "desktop"), 1.0, eur(30)),
        ("2025-03-31", ("paid_search", "mobile"), 1.0, eur(40)),
    ]
    # Local midnight: 23:00 UTC in winter time, 22:00 UTC in summer time.
    assert [r.period_start for r in report.rows[:3]] == [
        utc("2025-03-28T23:00"),
        utc("2025-03-29T23:00"),
        utc("2025-03-30T22:00"),
    ]
    assert report.time_zone == BERLIN
    assert report.total_conversions == 4.0
    assert report.total_value == eur(100)


def test_utc_is_the_default_time_zone(app: ReportingApplication) -> None:
    app.set_property_settings(PROPERTY, PropertySettings())

    report = app.conversion_report(
        ReportQuery(PROPERTY, "last_click", conversion_name="purchase", interval=Interval.DAY)
    )

    assert [(r.period, r.conversions) for r in report.rows] == [
        ("2025-03-23", 1.0),
        ("2025-03-29", 1.0),
        ("2025-03-29", 1.0),
        ("2025-03-30", 1.0),
        ("2025-03-31", 1.0),
    ]


def test_weeks_start_on_monday_and_compare_with_the_previous_period_under_filters(
    app: ReportingApplication,
) -> None:
    report = app.conversion_report(
        ReportQuery(
            PROPERTY,
            "last_click",
            start=utc("2025-03-23T23:00"),  # Monday 24 March, 00:00 in Berlin
            end=utc("2025-04-06T22:00"),  # Monday 7 April, 00:00 in Berlin (335 hours)
            conversion_name="purchase",
            filters=(
                DimensionFilter(GroupBy.COUNTRY, ("DE",)),
                DimensionFilter(GroupBy.CHANNEL, ("paid_search", "email")),
            ),
            interval=Interval.WEEK,
            compare_start=utc("2025-03-10T00:00"),
            compare_end=utc("2025-03-23T23:00"),
        )
    )

    # Conversion 3 is in France; conversion 5 falls in the second week of the previous
    # period (the week of 17 March), compared with the second week of this one.
    rows = [
        (
            r.period,
            r.group,
            r.conversions,
            r.value,
            r.previous and (r.previous.conversions, r.previous.value),
            r.previous and (r.previous.conversions_change_ratio, r.previous.value_change_ratio),
        )
        for r in report.rows
    ]
    assert rows == [
        ("2025-03-24", "email", 1.0, eur(20), (0.0, eur(0)), (None, None)),
        ("2025-03-24", "paid_search", 1.0, eur(10), (0.0, eur(0)), (None, None)),
        ("2025-03-31", "paid_search", 1.0, eur(40), (1.0, eur(5)), (0.0, 7.0)),
    ]
    total = report.previous_total
    assert total is not None
    assert (total.conversions, total.value) == (1.0, eur(5))
    assert (total.conversions_change, total.value_change) == (2.0, eur(65))
    assert (total.conversions_change_ratio, total.value_change_ratio) == (2.0, 13.0)


def test_a_comparison_with_an_empty_period_has_no_relative_change(
    app: ReportingApplication,
) -> None:
    report = app.conversion_report(
        ReportQuery(
            PROPERTY,
            "last_click",
            GroupBy.COUNTRY,
            start=utc("2025-03-29T00:00"),
            end=utc("2025-04-01T00:00"),
            conversion_name="purchase",
            compare_start=utc("2024-03-29T00:00"),
            compare_end=utc("2024-04-01T00:00"),
        )
    )

    assert [(r.group, r.conversions, r.value) for r in report.rows] == [
        ("DE", 3.0, eur(70)),
        ("FR", 1.0, eur(30)),
    ]
    for row in report.rows:
        assert row.previous is not None
        assert (row.previous.conversions, row.previous.value) == (0.0, eur(0))
        assert row.previous.conversions_change == row.conversions
        assert row.previous.value_change == row.value
        assert row.previous.conversions_change_ratio is None
        assert row.previous.value_change_ratio is None
    assert report.previous_total is not None
    assert report.previous_total.conversions == 0.0


def test_rows_of_the_previous_period_only_show_with_zero_conversions(
    app: ReportingApplication,
) -> None:
    report = app.conversion_report(
        ReportQuery(
            PROPERTY,
            "last_click",
            GroupBy.DEVICE_TYPE,
            start=utc("2025-03-31T00:00"),
            end=utc("2025-04-01T00:00"),
            conversion_name="purchase",
            compare_start=utc("2025-03-23T00:00"),
            compare_end=utc("2025-03-30T00:00"),
        )
    )

    # Now: conversion 4 (mobile). Then: conversions 5 and 1 (mobile), 2 (desktop).
    assert [
        (r.group, r.conversions, r.previous and r.previous.conversions) for r in report.rows
    ] == [("mobile", 1.0, 2.0), ("desktop", 0.0, 1.0)]
    desktop = report.rows[1].previous
    assert desktop is not None and desktop.conversions_change_ratio == -1.0


def test_conversion_names_are_a_dimension_and_a_filter(app: ReportingApplication) -> None:
    with pytest.raises(ConversionNameRequiredError):
        app.conversion_report(ReportQuery(PROPERTY, "last_click", GroupBy.COUNTRY))

    by_name = app.conversion_report(
        ReportQuery(
            PROPERTY,
            "last_click",
            dimensions=(GroupBy.CONVERSION_NAME, GroupBy.COUNTRY),
            filters=(DimensionFilter(GroupBy.COUNTRY, ("DE",)),),
        )
    )
    sign_ups = app.conversion_report(
        ReportQuery(
            PROPERTY,
            "last_click",
            GroupBy.DEVICE_TYPE,
            filters=(DimensionFilter(GroupBy.CONVERSION_NAME, ("sign_up",)),),
        )
    )

    assert [(r.dimension_values, r.conversions) for r in by_name.rows] == [
        (("purchase", "DE"), 4.0),
        (("sign_up", "DE"), 1.0),
    ]
    assert by_name.conversion_names == ("purchase", "sign_up")
    assert [(r.group, r.conversions) for r in sign_ups.rows] == [("desktop", 1.0)]
    assert sign_ups.conversion_names == ("sign_up",)


def test_a_model_comparison_by_conversion_name_and_country_names_every_name_it_counts(
    app: ReportingApplication,
) -> None:
    query = ReportQuery(
        PROPERTY,
        "last_click",
        dimensions=(GroupBy.CONVERSION_NAME, GroupBy.COUNTRY),
        filters=(DimensionFilter(GroupBy.COUNTRY, ("DE",)),),
    )

    comparison = app.compare_models(query, ["last_click"])
    report = app.conversion_report(query)

    assert [(r.dimension_values, r.figures[0].conversions) for r in comparison.rows] == [
        (("purchase", "DE"), 4.0),
        (("sign_up", "DE"), 1.0),
    ]
    assert [(r.dimension_values, r.figures[0]) for r in comparison.rows] == [
        (r.dimension_values, r) for r in report.rows
    ]
    assert comparison.conversion_names == ("purchase", "sign_up")
    assert comparison.conversion_name == ""


def test_not_set_values_are_grouped_and_filtered_by_name(app: ReportingApplication) -> None:
    query = ReportQuery(PROPERTY, "last_click", GroupBy.LANDING_PAGE, conversion_name="purchase")

    pages = app.conversion_report(query)
    unknown = app.conversion_report(
        ReportQuery(
            PROPERTY,
            "last_click",
            GroupBy.TERM,
            conversion_name="purchase",
            filters=(DimensionFilter(GroupBy.LANDING_PAGE, ("(not set)", "/")),),
        )
    )

    assert [(r.group, r.conversions) for r in pages.rows] == [
        ("(not set)", 3.0),
        ("/", 1.0),
        ("/shoes", 1.0),
    ]
    assert [(r.group, r.conversions) for r in unknown.rows] == [("shoes", 3.0), ("(not set)", 1.0)]


def test_months_and_pages(app: ReportingApplication) -> None:
    query = ReportQuery(
        PROPERTY,
        "last_click",
        GroupBy.CHANNEL,
        conversion_name="purchase",
        interval=Interval.MONTH,
        end=utc("2025-03-31T05:00"),
    )

    first = app.conversion_report(query, 0, 1)
    second = app.conversion_report(query, first.next_offset, 1)

    # Conversions 1, 3 and 5 by paid search, 2 by email; 4 is after the end.
    assert [(r.period, r.group, r.conversions) for r in (*first.rows, *second.rows)] == [
        ("2025-03-01", "paid_search", 3.0),
        ("2025-03-01", "email", 1.0),
    ]
    assert (first.total_rows, first.next_offset, second.next_offset) == (2, 1, 0)
    assert first.total_conversions == 4.0


def test_the_time_zone_is_validated_and_survives_a_rebuild(
    app: ReportingApplication, settings: ReportingSettings
) -> None:
    with pytest.raises(InvalidTimeZoneError):
        app.set_property_settings(PROPERTY, PropertySettings("Mars/Olympus_Mons"))

    rebuild_reports(settings)

    assert app.property_settings(PROPERTY) == PropertySettings(BERLIN)
    assert app.property_settings("other") == PropertySettings("UTC")
