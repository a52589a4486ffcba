"""End to end: conversion values near ingest's limit add up exactly in every report."""

from __future__ import annotations

from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2
from tests.e2e.system import DEADLINE, PROPERTY, System, event

LARGEST_UNITS = 999_999_999_999
NANOS_PER_MICRO = 1_000


def purchase(number: int, nanos: int, *, touched: bool) -> list[ingest_pb2.Event]:
    """A purchase of 999,999,999,999 USD and `nanos`, after a search ad click and an email
    click when `touched`, by a visitor of its own."""
    visitor = ingest_pb2.Identity(anonymous_id=f"big-spender-{number}")
    clicks = [
        event(
            f"click-{number}-{n}",
            10 - n,
            identity=visitor,
            touchpoint=ingest_pb2.Touchpoint(
                type=ingest_pb2.TOUCHPOINT_TYPE_CLICK, landing_url=url
            ),
        )
        for n, url in enumerate(
            (
                "https://shop.example.com/?gclid=Cj0KCQ",
                "https://shop.example.com/?utm_source=newsletter&utm_medium=email",
            )
        )
    ]
    bought = event(
        f"purchase-{number}",
        1,
        identity=visitor,
        conversion=ingest_pb2.Conversion(
            name="purchase",
            value=common_pb2.Money(currency_code="USD", units=LARGEST_UNITS, nanos=nanos),
        ),
    )
    return [*clicks, bought] if touched else [bought]


def stored_micros(nanos: int) -> int:
    """The value ingest stores for 999,999,999,999 USD and `nanos`: micros, half-even."""
    micros, rest = divmod(LARGEST_UNITS * 1_000_000_000 + nanos, NANOS_PER_MICRO)
    return micros + (rest > NANOS_PER_MICRO // 2 or (rest == NANOS_PER_MICRO // 2 and micros % 2))


def nanos_of(money: common_pb2.Money) -> int:
    return money.units * 1_000_000_000 + money.nanos


def test_conversions_at_the_value_limit_add_up_exactly_in_every_report(system: System) -> None:
    # Ten purchases of 999,999,999,999 USD after the same two clicks (over int64's range in
    # micros in each channel), then three unattributed ones with fractions of a cent, one of
    # them below a micro.
    fractions = [0] * 10 + [990_000_000, 123_456_789, 999_998_500]
    for number, nanos in enumerate(fractions):
        system.track(*purchase(number, nanos, touched=number < 10))
    system.sync()
    expected_micros = sum(stored_micros(nanos) for nanos in fractions)

    for model in ("last_click", "linear"):
        report = system.reporting.GetConversionReport(
            reporting_pb2.GetConversionReportRequest(property_id=PROPERTY, model=model),
            timeout=DEADLINE,
        )
        # The total is exact to the micro, and so is the sum of the groups.
        assert report.total_value.currency_code == "USD"
        assert nanos_of(report.total_value) == expected_micros * NANOS_PER_MICRO
        assert sum(nanos_of(row.value) for row in report.rows) == expected_micros * NANOS_PER_MICRO
        assert report.total_conversions == len(fractions)
        assert not report.total_value_saturated
        assert not any(row.value_saturated for row in report.rows)
    comparison = system.reporting.CompareModels(
        reporting_pb2.CompareModelsRequest(property_id=PROPERTY, models=["last_click", "linear"]),
        timeout=DEADLINE,
    )
    for column in range(2):
        column_nanos = sum(nanos_of(row.figures[column].value) for row in comparison.rows)
        assert column_nanos == expected_micros * NANOS_PER_MICRO
    # Cohorts: the ten touched purchases (the others have no first touch), summed from the
    # cohort summary over int64's range in micros.
    cohorts = system.reporting.GetCohortReport(
        reporting_pb2.GetCohortReportRequest(
            property_id=PROPERTY,
            interval=reporting_pb2.COHORT_INTERVAL_WEEK,
            conversion_names=["purchase"],
        ),
        timeout=DEADLINE,
    )
    cohort_nanos = sum(nanos_of(p.value) for row in cohorts.rows for p in row.periods)
    assert cohort_nanos == sum(stored_micros(n) for n in fractions[:10]) * NANOS_PER_MICRO
