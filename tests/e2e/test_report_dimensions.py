"""End to end through gRPC only: the dimensions ingest derives reach reports, which group,
filter, split by day in the property's time zone and compare periods."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import grpc
import pyarrow.parquet as pq
import pytest

from common.grpc_errors import bad_request_of
from common.wire import to_timestamp
from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2
from services.cli import main
from tests.e2e.system import DEADLINE, NOW, PROPERTY, System, event

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def visit_and_purchase(
    name: str, hours_ago: float, agent: str, country: str, url: str, units: int
) -> list[ingest_pb2.Event]:
    who = ingest_pb2.Identity(anonymous_id=f"cookie-{name}")
    context = ingest_pb2.Context(user_agent=agent, geo_country=country)
    return [
        event(
            f"{name}-click",
            hours_ago + 1,
            identity=who,
            context=context,
            touchpoint=ingest_pb2.Touchpoint(
                type=ingest_pb2.TOUCHPOINT_TYPE_CLICK, landing_url=url
            ),
        ),
        event(
            f"{name}-purchase",
            hours_ago,
            identity=who,
            context=context,
            conversion=ingest_pb2.Conversion(
                name="purchase", value=common_pb2.Money(currency_code="USD", units=units)
            ),
        ),
    ]


def test_reports_group_and_filter_by_what_ingest_derived_and_compare_periods(
    system: System,
) -> None:
    system.track(
        *visit_and_purchase(
            "a",
            10,
            IPHONE,
            "DE",
            "https://shop.example.com/boots?utm_source=news"
            "&utm_medium=email&utm_term=winter&utm_content=banner",
            30,
        ),
        *visit_and_purchase("b", 12, WINDOWS, "FR", "https://shop.example.com/?gclid=x1", 50),
        *visit_and_purchase("c", 40, IPHONE, "DE", "https://shop.example.com/boots?q=1", 20),
    )
    system.sync()
    settings = system.reporting.SetPropertySettings(
        reporting_pb2.SetPropertySettingsRequest(
            property_id=PROPERTY,
            settings=reporting_pb2.PropertySettings(time_zone="Asia/Tokyo"),
        ),
        timeout=DEADLINE,
    )
    assert settings.settings.time_zone == "Asia/Tokyo"

    request = reporting_pb2.GetConversionReportRequest(
        property_id=PROPERTY,
        model="last_click",
        dimensions=[reporting_pb2.GROUP_BY_DEVICE_TYPE, reporting_pb2.GROUP_BY_LANDING_PAGE],
        filters=[
            reporting_pb2.DimensionFilter(dimension=reporting_pb2.GROUP_BY_COUNTRY, values=["DE"])
        ],
        compare_to=reporting_pb2.ComparePeriod(previous_period=True),
    )
    request.start_time.CopyFrom(to_timestamp(NOW - timedelta(hours=24)))
    request.end_time.CopyFrom(to_timestamp(NOW))
    report = system.reporting.GetConversionReport(request, timeout=DEADLINE)

    # Now: a (DE, iPhone, /boots); the day before: c, on the same page.
    assert [
        (list(r.dimension_values), r.conversions, r.value.units, r.previous.conversions)
        for r in report.rows
    ] == [(["mobile", "/boots"], 1.0, 30, 1.0)]
    assert report.rows[0].previous.HasField("conversions_change_ratio")
    assert report.rows[0].previous.value_change.units == 10
    assert report.time_zone == "Asia/Tokyo"
    assert list(report.conversion_names) == ["purchase"]

    by_term = system.reporting.GetConversionReport(
        reporting_pb2.GetConversionReportRequest(
            property_id=PROPERTY,
            model="last_click",
            dimensions=[
                reporting_pb2.GROUP_BY_TERM,
                reporting_pb2.GROUP_BY_CONTENT,
                reporting_pb2.GROUP_BY_BROWSER,
            ],
            interval=reporting_pb2.REPORT_INTERVAL_DAY,
        ),
        timeout=DEADLINE,
    )
    assert sorted(tuple(r.dimension_values) for r in by_term.rows) == [
        ("(not set)", "(not set)", "Chrome"),
        ("(not set)", "(not set)", "Mobile Safari"),
        ("winter", "banner", "Mobile Safari"),
    ]
    assert all(len(r.period) == 10 for r in by_term.rows)


def test_bad_report_requests_name_their_fields(system: System) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        system.reporting.GetConversionReport(
            reporting_pb2.GetConversionReportRequest(
                property_id=PROPERTY,
                model="last_click",
                group_by=reporting_pb2.GROUP_BY_SOURCE,
                dimensions=[reporting_pb2.GROUP_BY_COUNTRY, reporting_pb2.GROUP_BY_COUNTRY],
                compare_to=reporting_pb2.ComparePeriod(previous_period=True),
            ),
            timeout=DEADLINE,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {p.field for p in bad_request_of(raised.value)} == {
        "group_by",
        "dimensions",
        "compare_to.previous_period",
    }

    with pytest.raises(grpc.RpcError) as raised:
        system.reporting.SetPropertySettings(
            reporting_pb2.SetPropertySettingsRequest(
                property_id=PROPERTY,
                settings=reporting_pb2.PropertySettings(time_zone="Europe/Atlantis"),
            ),
            timeout=DEADLINE,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [p.field for p in bad_request_of(raised.value)] == ["settings.time_zone"]


def test_the_report_command_groups_splits_filters_and_compares(
    system: System, tmp_path: Path
) -> None:
    system.track(
        *visit_and_purchase("a", 10, IPHONE, "DE", "https://shop.example.com/?gclid=a1", 30),
        *visit_and_purchase("b", 12, WINDOWS, "FR", "https://shop.example.com/?gclid=b1", 50),
        *visit_and_purchase("c", 40, IPHONE, "DE", "https://shop.example.com/?gclid=c1", 20),
    )
    system.sync()
    since = (NOW - timedelta(hours=24)).isoformat()
    common = [
        "report",
        "conversions",
        "--property",
        PROPERTY,
        "--addr",
        system.addresses.reporting,
        "--group-by",
        "channel,device_type",
        "--interval",
        "week",
        "--filter",
        "country=DE",
        "--compare",
        "previous",
        "--since",
        since,
        "--until",
        NOW.isoformat(),
    ]
    for output_format in ("table", "json", "csv", "parquet"):
        written = tmp_path / f"report.{output_format}"
        assert main([*common, "--format", output_format, "--output", str(written)]) == 0

    document = json.loads((tmp_path / "report.json").read_text())
    rows = document["rows"]
    # One purchase now (a), one in the previous 24 hours (c): in the same week of each
    # period, or in different ones when a week starts in between.
    assert {(r["channel"], r["device_type"]) for r in rows} == {("paid_search", "mobile")}
    assert sum(r["conversions"] for r in rows) == sum(r["previous_conversions"] for r in rows) == 1
    totals = document["totals"]
    assert (totals["previous_conversions"], totals["conversions_change_ratio"]) == (1.0, 0.0)
    assert totals["value_change"] == "10.000000000"
    assert document["filters"] == ["country=DE"]
    assert document["interval"] == "week"
    with (tmp_path / "report.csv").open(newline="") as csv_file:
        from_csv = list(csv.DictReader(csv_file))
    assert [(r["period"], r["device_type"]) for r in from_csv] == [
        (r["period"], r["device_type"]) for r in rows
    ]
    from_parquet = pq.read_table(tmp_path / "report.parquet").to_pylist()
    assert [r["value_change"] for r in from_parquet] == [Decimal(r["value_change"]) for r in rows]
    table = (tmp_path / "report.table").read_text()
    assert max(len(line) for line in table.splitlines()) <= 120
    flat = " ".join(table.split())
    for label in (
        "period",
        "channel",
        "device_type",
        "prev. conv.",
        "conv. Δ",
        "value Δ",
    ):
        assert label in flat, table
    assert "by week (Monday to Sunday) in UTC" in flat
    assert "filters: country=DE" in flat
