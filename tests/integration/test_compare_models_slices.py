"""Model comparisons per week, filtered by a dimension and compared with the previous period:
hand-computed expectations on SQLite and PostgreSQL, in the application and over gRPC."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console
from sqlalchemy import Engine

from common.follower import UpstreamEntry
from common.grpc_errors import bad_request_of
from common.money import Money
from common.wire import from_money_pb, to_timestamp
from convtrack.attribution.v1 import attribution_pb2
from convtrack.common.v1 import common_pb2
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.cli import main
from services.commands.report_output import print_table
from services.commands.reports import fetch_report
from services.reporting.application import ReportingApplication
from services.reporting.domainmodel import (
    DimensionFilter,
    GroupBy,
    Interval,
    ModelComparison,
    ReportQuery,
)
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.upstream import attribution_of
from tests.conftest import Storage
from tests.integration.helpers_attribution import (
    migrated_views,
    serving_log,
    serving_reporting,
    wait_for_position,
)

PROPERTY = "shop"
MODELS = ["last_click", "first_click"]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def eur_pb(units: int) -> common_pb2.Money:
    return common_pb2.Money(currency_code="EUR", units=units)


def eur(units: float) -> Money:
    return Money.from_micros("EUR", round(units * 1_000_000))


def touch(channel: str, device_type: str, units: int) -> attribution_pb2.Credit:
    return attribution_pb2.Credit(
        touchpoint_id=f"tp-{channel}-{device_type}",
        channel=channel,
        source=channel,
        fraction=1.0,
        value=eur_pb(units),
        device_type=device_type,
    )


def entry(
    position: int, number: int, at: str, first: tuple[str, str], last: tuple[str, str], units: int
) -> attribution_pb2.LogEntry:
    """Conversion `number`: first_click credits its first touch (channel, device type),
    last_click its last."""
    return attribution_pb2.LogEntry(
        position=position,
        conversion_attributed=attribution_pb2.ConversionAttributed(
            property_id=PROPERTY,
            conversion_id=f"c{number}",
            event_id=f"e{number}",
            conversion_name="purchase",
            occurred_at=to_timestamp(utc(at)),
            reporting_value=eur_pb(units),
            revision=1,
            models=[
                attribution_pb2.ModelCredits(model="last_click", credits=[touch(*last, units)]),
                attribution_pb2.ModelCredits(model="first_click", credits=[touch(*first, units)]),
            ],
        ),
    )


# The report covers the weeks of Monday 3 and 10 March 2025 (UTC, the default zone); the
# previous period the weeks of 17 and 24 February.
LOG = [
    entry(1, 1, "2025-03-03T10:00", ("email", "mobile"), ("paid_search", "mobile"), 10),
    entry(2, 2, "2025-03-04T10:00", ("email", "desktop"), ("email", "desktop"), 20),
    entry(3, 3, "2025-03-11T10:00", ("social", "mobile"), ("paid_search", "mobile"), 30),
    entry(4, 4, "2025-03-12T10:00", ("paid_search", "desktop"), ("paid_search", "desktop"), 40),
    entry(5, 5, "2025-02-25T10:00", ("email", "mobile"), ("paid_search", "mobile"), 5),
    entry(6, 6, "2025-02-18T10:00", ("social", "desktop"), ("email", "desktop"), 8),
]
START, END = utc("2025-03-03T00:00"), utc("2025-03-17T00:00")
PREVIOUS_START = utc("2025-02-17T00:00")

# Mobile credits only (conversions 2, 4 and 6 are on desktop). Last click: 1 and 3 to
# paid_search, and 5, in the second previous week, to paid_search; first click: 1 and 5 to
# email, 3 to social. Rows: (period, group, per model (conversions, value, share,
# (previous conversions, previous value))).
NONE = (0.0, eur(0), 0.0, (0.0, eur(0)))
EXPECTED = [
    ("2025-03-03", "paid_search", [(1.0, eur(10), 0.5, (0.0, eur(0))), NONE]),
    ("2025-03-03", "email", [NONE, (1.0, eur(10), 0.5, (0.0, eur(0)))]),
    ("2025-03-10", "paid_search", [(1.0, eur(30), 0.5, (1.0, eur(5))), NONE]),
    ("2025-03-10", "social", [NONE, (1.0, eur(30), 0.5, (0.0, eur(0)))]),
    ("2025-03-10", "email", [NONE, (0.0, eur(0), 0.0, (1.0, eur(5)))]),
]


@pytest.fixture
def engine(storage: Storage) -> Iterator[Engine]:
    with migrated_views(storage) as engine:
        yield engine


@pytest.fixture
def app(engine: Engine) -> ReportingApplication:
    found = [attribution_of(e) for e in LOG]
    entries = [UpstreamEntry(e.position, a) for e, a in zip(LOG, found, strict=True) if a]
    ConversionCreditsProjection(engine).process_page("attribution", entries)
    return ReportingApplication(engine, ["attribution"])


def table(comparison: ModelComparison) -> list[object]:
    return [
        (
            row.period,
            row.group,
            [
                (
                    f.conversions,
                    f.value,
                    f.share,
                    f.previous and (f.previous.conversions, f.previous.value),
                )
                for f in row.figures
            ],
        )
        for row in comparison.rows
    ]


def test_models_compare_per_week_under_a_filter_with_the_previous_period(
    app: ReportingApplication,
) -> None:
    comparison = app.compare_models(
        ReportQuery(
            PROPERTY,
            "",
            start=START,
            end=END,
            filters=(DimensionFilter(GroupBy.DEVICE_TYPE, ("mobile",)),),
            interval=Interval.WEEK,
            compare_start=PREVIOUS_START,
            compare_end=START,
        ),
        MODELS,
    )

    assert table(comparison) == EXPECTED
    assert [r.period_start for r in comparison.rows[::2]] == [
        START,
        utc("2025-03-10T00:00"),
        utc("2025-03-10T00:00"),
    ]
    ratios = comparison.rows[2].figures[0].previous
    assert ratios is not None
    assert (ratios.conversions_change_ratio, ratios.value_change_ratio) == (0.0, 5.0)
    assert comparison.interval is Interval.WEEK
    assert comparison.time_zone == "UTC"
    assert (comparison.compare_start, comparison.compare_end) == (PREVIOUS_START, START)


def test_a_filter_alone_narrows_every_model_and_leaves_rows_unsplit(
    app: ReportingApplication,
) -> None:
    comparison = app.compare_models(
        ReportQuery(PROPERTY, "", filters=(DimensionFilter(GroupBy.DEVICE_TYPE, ("desktop",)),)),
        MODELS,
    )

    # Desktop: conversions 2 (email, email), 4 (paid_search, paid_search), 6 (email, social).
    assert [
        (r.period, r.group, [(f.conversions, f.value, f.previous) for f in r.figures])
        for r in comparison.rows
    ] == [
        ("", "email", [(2.0, eur(28), None), (1.0, eur(20), None)]),
        ("", "paid_search", [(1.0, eur(40), None), (1.0, eur(40), None)]),
        ("", "social", [(0.0, eur(0), None), (1.0, eur(8), None)]),
    ]
    assert comparison.interval is Interval.NONE


def test_models_compare_by_several_dimensions_each_row_carrying_every_value(
    app: ReportingApplication,
) -> None:
    comparison = app.compare_models(
        ReportQuery(
            PROPERTY, "", start=START, end=END, dimensions=(GroupBy.CHANNEL, GroupBy.DEVICE_TYPE)
        ),
        MODELS,
    )

    # Last click: 1 and 3 to paid_search on mobile, 2 to email and 4 to paid_search on
    # desktop; first click: 1 to email and 3 to social on mobile, 2 and 4 as last click.
    # Last click's order first (most conversions, then by values), then first click's rest.
    assert [
        (r.dimension_values, r.group, [(f.conversions, f.value, f.share) for f in r.figures])
        for r in comparison.rows
    ] == [
        (("paid_search", "mobile"), "paid_search / mobile", [(2.0, eur(40), 0.5), ZERO]),
        (("email", "desktop"), "email / desktop", [(1.0, eur(20), 0.25), (1.0, eur(20), 0.25)]),
        (
            ("paid_search", "desktop"),
            "paid_search / desktop",
            [(1.0, eur(40), 0.25), (1.0, eur(40), 0.25)],
        ),
        (("email", "mobile"), "email / mobile", [ZERO, (1.0, eur(10), 0.25)]),
        (("social", "mobile"), "social / mobile", [ZERO, (1.0, eur(30), 0.25)]),
    ]
    assert [f.dimension_values for f in comparison.rows[0].figures] == [
        ("paid_search", "mobile"),
        ("paid_search", "mobile"),
    ]
    assert comparison.dimensions == (GroupBy.CHANNEL, GroupBy.DEVICE_TYPE)


ZERO = (0.0, eur(0), 0.0)


@pytest.fixture
def reporting_addr(storage: Storage) -> Iterator[str]:
    with serving_log(LOG) as attribution_addr, serving_reporting(storage, attribution_addr) as at:
        with grpc.insecure_channel(at) as channel:
            wait_for_position(reporting_pb2_grpc.ReportingServiceStub(channel), LOG[-1].position)
        yield at


@pytest.fixture
def reporting(reporting_addr: str) -> Iterator[reporting_pb2_grpc.ReportingServiceStub]:
    with grpc.insecure_channel(reporting_addr) as channel:
        yield reporting_pb2_grpc.ReportingServiceStub(channel)


def request(**fields: object) -> reporting_pb2.CompareModelsRequest:
    return reporting_pb2.CompareModelsRequest(
        property_id=PROPERTY,
        models=MODELS,
        start_time=to_timestamp(START),
        end_time=to_timestamp(END),
        **fields,  # type: ignore[arg-type]
    )


def test_compare_models_over_grpc_takes_interval_filters_and_the_previous_period(
    reporting: reporting_pb2_grpc.ReportingServiceStub,
) -> None:
    response = reporting.CompareModels(
        request(
            filters=[
                reporting_pb2.DimensionFilter(
                    dimension=reporting_pb2.GROUP_BY_DEVICE_TYPE, values=["mobile"]
                )
            ],
            interval=reporting_pb2.REPORT_INTERVAL_WEEK,
            compare_to=reporting_pb2.ComparePeriod(previous_period=True),
        ),
        timeout=10,
    )

    rows = [
        (
            row.period,
            row.group,
            [
                (
                    f.conversions,
                    from_money_pb(f.value),
                    f.share,
                    (f.previous.conversions, from_money_pb(f.previous.value)),
                )
                for f in row.figures
            ],
        )
        for row in response.rows
    ]
    assert rows == EXPECTED
    assert [f.model for f in response.rows[0].figures] == MODELS
    assert response.rows[0].period_start.ToDatetime(UTC) == START
    assert response.interval == reporting_pb2.REPORT_INTERVAL_WEEK
    assert response.time_zone == "UTC"
    assert response.compare_start_time.ToDatetime(UTC) == PREVIOUS_START
    assert response.compare_end_time.ToDatetime(UTC) == START
    previous = response.rows[2].figures[0].previous
    assert previous.conversions_change_ratio == 0.0
    assert previous.value_change_ratio == 5.0
    assert not response.rows[3].figures[1].previous.HasField("conversions_change_ratio")


def test_compare_models_without_the_new_fields_answers_as_before(
    reporting: reporting_pb2_grpc.ReportingServiceStub,
) -> None:
    response = reporting.CompareModels(request(), timeout=10)

    assert response.interval == reporting_pb2.REPORT_INTERVAL_UNSPECIFIED
    assert not response.HasField("compare_start_time")
    assert [(r.group, r.period, r.HasField("period_start")) for r in response.rows] == [
        ("paid_search", "", False),
        ("email", "", False),
        ("social", "", False),
    ]
    assert [f.conversions for f in response.rows[0].figures] == [3.0, 1.0]
    assert not response.rows[0].figures[0].HasField("previous")
    assert list(response.dimensions) == [reporting_pb2.GROUP_BY_CHANNEL]
    assert [list(r.dimension_values) for r in response.rows] == [
        ["paid_search"],
        ["email"],
        ["social"],
    ]


def test_compare_models_over_grpc_groups_by_several_dimensions_with_the_previous_period(
    reporting: reporting_pb2_grpc.ReportingServiceStub,
) -> None:
    response = reporting.CompareModels(
        request(
            dimensions=[reporting_pb2.GROUP_BY_CHANNEL, reporting_pb2.GROUP_BY_DEVICE_TYPE],
            compare_to=reporting_pb2.ComparePeriod(previous_period=True),
        ),
        timeout=10,
    )

    # Previous period: 5 (last click paid_search, first click email, on mobile, 5 EUR) and
    # 6 (last click email, first click social, on desktop, 8 EUR).
    assert list(response.dimensions) == [
        reporting_pb2.GROUP_BY_CHANNEL,
        reporting_pb2.GROUP_BY_DEVICE_TYPE,
    ]
    assert [
        (
            list(row.dimension_values),
            [
                (
                    f.conversions,
                    from_money_pb(f.value),
                    f.previous.conversions,
                    from_money_pb(f.previous.value),
                )
                for f in row.figures
            ],
        )
        for row in response.rows
    ] == [
        (["paid_search", "mobile"], [(2.0, eur(40), 1.0, eur(5)), NOTHING]),
        (["email", "desktop"], [(1.0, eur(20), 1.0, eur(8)), (1.0, eur(20), 0.0, eur(0))]),
        (["paid_search", "desktop"], [(1.0, eur(40), 0.0, eur(0)), (1.0, eur(40), 0.0, eur(0))]),
        (["email", "mobile"], [NOTHING, (1.0, eur(10), 1.0, eur(5))]),
        (["social", "mobile"], [NOTHING, (1.0, eur(30), 0.0, eur(0))]),
        (["social", "desktop"], [NOTHING, (0.0, eur(0), 1.0, eur(8))]),
    ]
    assert response.rows[0].group == "paid_search / mobile"
    assert list(response.conversion_names) == ["purchase"]


NOTHING = (0.0, eur(0), 0.0, eur(0))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"dimensions": [99]}, "dimensions[0]"),
        ({"dimensions": [reporting_pb2.GROUP_BY_CHANNEL] * 2}, "dimensions"),
        ({"dimensions": list(range(1, 7))}, "dimensions"),
        (
            {
                "dimensions": [reporting_pb2.GROUP_BY_CHANNEL],
                "group_by": reporting_pb2.GROUP_BY_SOURCE,
            },
            "group_by",
        ),
    ],
)
def test_bad_dimensions_of_a_comparison_are_invalid_as_in_a_conversion_report(
    reporting: reporting_pb2_grpc.ReportingServiceStub, fields: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.RpcError) as compared:
        reporting.CompareModels(request(**fields), timeout=10)
    with pytest.raises(grpc.RpcError) as reported:
        reporting.GetConversionReport(
            reporting_pb2.GetConversionReportRequest(
                property_id=PROPERTY,
                model=MODELS[0],
                **fields,  # type: ignore[arg-type]
            ),
            timeout=10,
        )

    assert compared.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    problems = [(p.field, p.description) for p in bad_request_of(compared.value)]
    assert field in [f for f, _ in problems]
    assert problems == [(p.field, p.description) for p in bad_request_of(reported.value)]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"interval": 99}, "interval"),
        ({"compare_to": reporting_pb2.ComparePeriod()}, "compare_to"),
        (
            {"filters": [reporting_pb2.DimensionFilter(dimension=reporting_pb2.GROUP_BY_COUNTRY)]},
            "filters[0].values",
        ),
    ],
)
def test_bad_slices_of_a_comparison_are_invalid_naming_the_field(
    reporting: reporting_pb2_grpc.ReportingServiceStub, fields: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        reporting.CompareModels(request(**fields), timeout=10)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in [p.field for p in bad_request_of(raised.value)]


def test_a_filter_on_an_unknown_conversion_name_is_not_found(
    reporting: reporting_pb2_grpc.ReportingServiceStub,
) -> None:
    unknown = reporting_pb2.DimensionFilter(
        dimension=reporting_pb2.GROUP_BY_CONVERSION_NAME, values=["refund"]
    )
    with pytest.raises(grpc.RpcError) as raised:
        reporting.CompareModels(request(filters=[unknown]), timeout=10)

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "'refund'" in (raised.value.details() or "")


def test_report_compare_takes_interval_and_filter_on_the_command_line(
    reporting_addr: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "report",
            "compare",
            "--property",
            PROPERTY,
            "--addr",
            reporting_addr,
            "--models",
            ",".join(MODELS),
            "--since",
            START.isoformat(),
            "--until",
            END.isoformat(),
            "--interval",
            "week",
            "--filter",
            "device_type=mobile",
            "--format",
            "csv",
        ]
    )

    assert status == 0
    records = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [
        (r["period"], r["group"], r["last_click_conversions"], r["first_click_conversions"])
        for r in records
    ] == [
        ("2025-03-03", "paid_search", "1.0", "0.0"),
        ("2025-03-03", "email", "0.0", "1.0"),
        ("2025-03-10", "paid_search", "1.0", "0.0"),
        ("2025-03-10", "social", "0.0", "1.0"),
    ]
    assert records[2]["last_click_value"] == "30.000000000"


def test_report_compare_table_names_its_interval_and_filter(
    reporting_addr: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["report", "compare", "--property", PROPERTY, "--addr", reporting_addr, "--models"]
    args.append(",".join(MODELS))
    status = main([*args, "--interval", "month", "--filter", "device_type=desktop"])

    assert status == 0
    out = capsys.readouterr().out
    assert "by month (Monday to Sunday)" not in out
    assert "by month in UTC" in out
    assert "filters: device_type=desktop" in out
    assert "2025-02-01" in out and "2025-03-01" in out


def compare_args(reporting_addr: str, *more: str) -> list[str]:
    """`report compare` of the two models over the report's weeks, with `more` options."""
    return [
        "report",
        "compare",
        "--property",
        PROPERTY,
        "--addr",
        reporting_addr,
        "--models",
        ",".join(MODELS),
        "--since",
        START.isoformat(),
        "--until",
        END.isoformat(),
        *more,
    ]


def test_report_compare_table_shows_each_models_previous_figures_by_two_dimensions(
    reporting_addr: str,
) -> None:
    report = fetch_report(
        reporting_addr,
        "compare",
        property_id=PROPERTY,
        models=MODELS,
        group_by="channel,device_type",
        start=START,
        end=END,
        compare="previous",
    )
    console = Console(width=100, record=True, file=io.StringIO(), color_system=None)

    print_table(report, console)
    text = console.export_text()

    assert max(len(line) for line in text.splitlines()) <= 100, text
    lines = text.splitlines()
    # One table per model, each titled with it; under last click, paid_search on mobile had
    # 2 conversions (40 EUR) against 1 (5 EUR) then; first click had none there.
    assert [line.strip() for line in lines if line.strip() in MODELS] == MODELS
    rows = [line.split() for line in lines if line.startswith(("paid_search", "social"))]
    assert rows[0] == [
        "paid_search",
        "mobile",
        *["2.00", "40.00", "1.00", "+1.00", "(+100%)", "5.00"],
        "+35.00",
        "(+700%)",
    ]
    assert rows[4] == ["paid_search", "mobile", *["0.00", "0.00", "0.00", "+0.00", "0.00", "+0.00"]]
    assert rows[-1][:8] == ["social", "desktop", "0.00", "0.00", "1.00", "-1.00", "(-100%)", "8.00"]
    totals = [line.split() for line in lines if line.startswith("total")]
    assert totals[0] == [
        "total",
        *["4.00", "100.00", "2.00", "+2.00", "(+100%)", "13.00", "+87.00", "(+669%)"],
    ]
    flat = " ".join(text.split())
    assert "grouped by channel, device_type; compared with 2025-02-17T00:00:00+00:00" in flat
    for label in ("conv.", "prev.", "Δ"):
        assert label in flat


def test_report_compare_csv_and_json_carry_each_models_previous_figures_by_two_dimensions(
    reporting_addr: str, capsys: pytest.CaptureFixture[str]
) -> None:
    more = ["--group-by", "channel,device_type", "--compare", "previous"]
    assert main([*compare_args(reporting_addr, *more), "--format", "csv"]) == 0
    records = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert main([*compare_args(reporting_addr, *more), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)

    assert [
        (
            r["channel"],
            r["device_type"],
            r["last_click_conversions"],
            r["last_click_previous_conversions"],
            r["last_click_value_change"],
            r["first_click_previous_value"],
            r["first_click_conversions_change_ratio"],
        )
        for r in records
    ] == [
        ("paid_search", "mobile", "2.0", "1.0", "35.000000000", "0.000000000", ""),
        ("email", "desktop", "1.0", "1.0", "12.000000000", "0.000000000", ""),
        ("paid_search", "desktop", "1.0", "0.0", "40.000000000", "0.000000000", ""),
        ("email", "mobile", "0.0", "0.0", "0.000000000", "5.000000000", "0.0"),
        ("social", "mobile", "0.0", "0.0", "0.000000000", "0.000000000", ""),
        ("social", "desktop", "0.0", "0.0", "0.000000000", "8.000000000", "-1.0"),
    ]
    assert list(records[0])[:4] == ["group", "channel", "device_type", "currency"]
    assert list(document["rows"][0]) == list(records[0])
    assert [
        (r["channel"], r["device_type"], r["last_click_value_change"]) for r in document["rows"]
    ] == [(r["channel"], r["device_type"], r["last_click_value_change"]) for r in records]
    assert document["dimensions"] == ["channel", "device_type"]
    assert document["compared_period"].startswith("2025-02-17T00:00:00+00:00 to 2025-03-03")
    totals = document["totals"]
    assert (totals["last_click_conversions"], totals["last_click_previous_conversions"]) == (
        4.0,
        2.0,
    )
    assert (totals["first_click_previous_value"], totals["first_click_value_change"]) == (
        "13.000000000",
        "87.000000000",
    )
    assert totals["first_click_conversions_change_ratio"] == 1.0


def test_report_compare_parquet_types_each_models_comparison_columns(
    reporting_addr: str, tmp_path: Path
) -> None:
    written = tmp_path / "compare.parquet"
    more = ["--group-by", "channel,device_type", "--compare", "previous", "--format", "parquet"]
    assert main([*compare_args(reporting_addr, *more), "--output", str(written)]) == 0

    table = pq.read_table(written)
    decimal = pa.decimal128(38, 9)
    assert table.schema.field("last_click_previous_value").type == decimal
    assert table.schema.field("first_click_value_change").type == decimal
    assert table.schema.field("first_click_value_change_ratio").type == pa.float64()
    assert table.schema.field("last_click_previous_conversions").type == pa.float64()
    rows = table.to_pylist()
    assert [(r["channel"], r["device_type"]) for r in rows][:2] == [
        ("paid_search", "mobile"),
        ("email", "desktop"),
    ]
    assert rows[0]["last_click_value_change"] == Decimal("35")
    assert rows[-1]["first_click_conversions_change_ratio"] == -1.0


def test_report_compare_checks_its_dimensions_as_report_conversions_does(
    reporting_addr: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(compare_args(reporting_addr, "--group-by", "channel,channel"))

    assert status == 1
    assert "INVALID_ARGUMENT" in capsys.readouterr().err
