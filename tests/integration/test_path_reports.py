"""Conversion paths end to end: attribution's path summary, reporting's path views and the
top paths, path length, time lag and assisted conversion reports, hand-computed on a small
scenario, the same on SQLite and PostgreSQL and after a rebuild; `convtrack report paths`
and `convtrack chart` against the running services."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from PIL import Image
from sqlalchemy import select

from common.wire import from_money_pb, to_timestamp
from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2
from services import launcher
from services.cli import main
from services.reporting.server import build_engine, rebuild_reports
from services.reporting.views import conversion_path_channels, conversion_paths
from tests.integration.helpers_system import BACKENDS, FourServices, four_services

PROPERTY = "pathshop"
DEADLINE = 15.0
DAY = (datetime.now(UTC) - timedelta(days=20)).replace(hour=0, minute=0, second=0, microsecond=0)
H = timedelta(hours=1)
D = timedelta(days=1)
M = timedelta(minutes=1)


def usd(units: int) -> common_pb2.Money:
    return common_pb2.Money(currency_code="USD", units=units)


def _event(event_id: str, at: datetime, visitor: str, **kind: object) -> ingest_pb2.Event:
    message = ingest_pb2.Event(
        property_id=PROPERTY,
        event_id=event_id,
        identity=ingest_pb2.Identity(anonymous_id=visitor),
        **kind,  # type: ignore[arg-type]
    )
    message.timestamp.CopyFrom(to_timestamp(at))
    return message


def visit(event_id: str, at: datetime, visitor: str, source: str = "", medium: str = ""):  # type: ignore[no-untyped-def]
    return _event(
        event_id,
        at,
        visitor,
        touchpoint=ingest_pb2.Touchpoint(
            type=ingest_pb2.TOUCHPOINT_TYPE_VISIT,
            landing_url="https://shop.example.com/",
            utm=ingest_pb2.Utm(source=source, medium=medium),
        ),
    )


def email(event_id: str, at: datetime, visitor: str) -> ingest_pb2.Event:
    return visit(event_id, at, visitor, "newsletter", "email")  # type: ignore[no-any-return]


def search(event_id: str, at: datetime, visitor: str) -> ingest_pb2.Event:
    return visit(event_id, at, visitor, "google", "cpc")  # type: ignore[no-any-return]


def conversion(
    event_id: str, at: datetime, visitor: str, value: int | None, name: str = "purchase"
) -> ingest_pb2.Event:
    converted = ingest_pb2.Conversion(name=name)
    if value is not None:
        converted.value.CopyFrom(usd(value))
    return _event(event_id, at, visitor, conversion=converted)


def scenario() -> list[ingest_pb2.Event]:
    """Purchases (value, path, days from first touch):
    a 100: email > paid_search ×2 > direct, 2 days; b 50: paid_search, 0 (b also signs up);
    c 30: email > direct, 0; d 20: email > paid_search ×2, 12; e 10: email > paid_search, 1;
    f 5: direct, 0; g 1: no touchpoint."""
    return [
        email("a1", DAY + H, "a"),
        search("a2", DAY + D, "a"),
        search("a3", DAY + D + H, "a"),
        visit("a4", DAY + 2 * D, "a"),
        conversion("a5", DAY + 2 * D + H, "a", 100),
        search("b1", DAY + 3 * D, "b"),
        conversion("b2", DAY + 3 * D + 10 * M, "b", None, name="signup"),
        conversion("b3", DAY + 3 * D + H, "b", 50),
        email("c1", DAY + 4 * D, "c"),
        visit("c2", DAY + 4 * D + 10 * M, "c"),
        conversion("c3", DAY + 4 * D + 30 * M, "c", 30),
        email("d1", DAY, "d"),
        search("d2", DAY + D, "d"),
        search("d3", DAY + D + H, "d"),
        conversion("d4", DAY + 12 * D, "d", 20),
        email("e1", DAY + 5 * D, "e"),
        search("e2", DAY + 6 * D, "e"),
        conversion("e3", DAY + 6 * D + H, "e", 10),
        visit("f1", DAY + 7 * D, "f"),
        conversion("f2", DAY + 7 * D + 5 * M, "f", 5),
        conversion("g1", DAY + 8 * D, "g", 1),
    ]


PathSystem = FourServices


@pytest.fixture(scope="module", params=BACKENDS)
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PathSystem]:
    """The four services with the scenario sent and attributed."""
    with four_services(request, tmp_path_factory, "paths") as system:
        tracked = system.track(scenario())
        assert tracked.rejected_count == 0, tracked
        system.sync()
        yield system


def top_paths(system: PathSystem, **fields: object) -> reporting_pb2.GetPathReportResponse:
    request = reporting_pb2.GetPathReportRequest(
        **{"property_id": PROPERTY, "conversion_name": "purchase", **fields}  # type: ignore[arg-type]
    )
    return system.reporting.GetPathReport(request, timeout=DEADLINE)


def distribution(
    system: PathSystem, kind: int, **fields: object
) -> reporting_pb2.GetPathDistributionResponse:
    request = reporting_pb2.GetPathDistributionRequest(
        **{"property_id": PROPERTY, "conversion_name": "purchase", "kind": kind, **fields}  # type: ignore[arg-type]
    )
    return system.reporting.GetPathDistribution(request, timeout=DEADLINE)


def assisted(system: PathSystem) -> reporting_pb2.GetAssistedConversionsResponse:
    request = reporting_pb2.GetAssistedConversionsRequest(
        property_id=PROPERTY, conversion_name="purchase"
    )
    return system.reporting.GetAssistedConversions(request, timeout=DEADLINE)


def path_rows(response: reporting_pb2.GetPathReportResponse) -> list[tuple[str, int, Decimal]]:
    return [(r.path, r.conversions, from_money_pb(r.value).to_decimal()) for r in response.rows]


EXPECTED_PATHS = {
    ("email > paid_search ×2 > direct", 1, Decimal(100)),
    ("paid_search", 1, Decimal(50)),
    ("email > direct", 1, Decimal(30)),
    ("email > paid_search ×2", 1, Decimal(20)),
    ("email > paid_search", 1, Decimal(10)),
    ("direct", 1, Decimal(5)),
    ("(none)", 1, Decimal(1)),
}


def test_top_paths_list_each_channel_sequence_with_its_conversions_and_value(
    system: PathSystem,
) -> None:
    report = top_paths(system)
    assert set(path_rows(report)) == EXPECTED_PATHS
    assert [r.path for r in report.rows] == [  # ties in path order, on both backends
        "direct",
        "email > direct",
        "email > paid_search",
        "email > paid_search ×2 > direct",
        "email > paid_search ×2",
        "paid_search",
        "(none)",
    ]
    assert report.summary.total_conversions == 7
    assert from_money_pb(report.summary.total_value).to_decimal() == Decimal(216)
    assert report.summary.conversion_name == "purchase"
    first = next(r for r in report.rows if r.path == "email > paid_search ×2 > direct")
    assert [(s.channel, s.touchpoints) for s in first.steps] == [
        ("email", 1),
        ("paid_search", 2),
        ("direct", 1),
    ]
    assert first.touchpoints == 4
    assert first.conversion_share == pytest.approx(1 / 7)
    assert first.value_share == pytest.approx(100 / 216)
    positions = {p.upstream: p.position for p in report.summary.freshness.upstream_positions}
    assert positions["attribution"] > 0
    assert report.summary.freshness.newest_conversion_time.ToDatetime(tzinfo=UTC) == DAY + 12 * D


def test_collapsing_repeats_joins_paths_that_differ_only_in_repeats(system: PathSystem) -> None:
    report = top_paths(system, collapse_repeats=True)
    assert path_rows(report)[0] == ("email > paid_search", 2, Decimal(30))
    assert report.collapse_repeats
    assert len(report.rows) == 6


def test_paths_filter_by_time_range_and_conversion_name(system: PathSystem) -> None:
    ranged = top_paths(
        system, start_time=to_timestamp(DAY + 3 * D), end_time=to_timestamp(DAY + 8 * D)
    )
    assert {r.path for r in ranged.rows} == {
        "paid_search",
        "email > direct",
        "email > paid_search",
        "direct",
    }
    assert ranged.summary.total_conversions == 4
    signups = top_paths(system, conversion_name="signup")
    assert [(r.path, r.conversions) for r in signups.rows] == [("paid_search", 1)]


def test_top_paths_page_through_in_a_stable_order(system: PathSystem) -> None:
    whole = path_rows(top_paths(system))
    pages, token = [], ""
    while True:
        page = top_paths(system, page_size=3, page_token=token)
        pages += path_rows(page)
        token = page.next_page_token
        if not token:
            break
    assert pages == whole
    with pytest.raises(grpc.RpcError) as refused:
        top_paths(
            system, collapse_repeats=True, page_token=top_paths(system, page_size=3).next_page_token
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_path_length_distribution_counts_touchpoints(system: PathSystem) -> None:
    report = distribution(system, reporting_pb2.PATH_DISTRIBUTION_KIND_PATH_LENGTH)
    counts = {b.label: b.conversions for b in report.buckets if b.conversions}
    assert counts == {"0": 1, "1": 2, "2": 2, "3": 1, "4": 1}
    assert report.buckets[-1].label == "12+" and not report.buckets[-1].HasField("high")
    assert report.without_touchpoints == 1
    two = next(b for b in report.buckets if b.label == "2")
    assert from_money_pb(two.value).to_decimal() == Decimal(40)


def test_a_distribution_over_a_range_without_conversions_has_empty_buckets(
    system: PathSystem,
) -> None:
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    report = distribution(
        system,
        reporting_pb2.PATH_DISTRIBUTION_KIND_PATH_LENGTH,
        start_time=to_timestamp(long_ago),
        end_time=to_timestamp(long_ago + timedelta(days=1)),
    )
    assert report.buckets and not any(b.conversions for b in report.buckets)
    assert not any(b.HasField("value") for b in report.buckets)


def test_time_lag_distribution_counts_days_from_first_touch(system: PathSystem) -> None:
    report = distribution(system, reporting_pb2.PATH_DISTRIBUTION_KIND_TIME_LAG)
    counts = {
        b.label: (b.conversions, from_money_pb(b.value).to_decimal())
        for b in report.buckets
        if b.conversions
    }
    assert counts == {
        "0": (3, Decimal(85)),
        "1": (1, Decimal(10)),
        "2": (1, Decimal(100)),
        "12-30": (1, Decimal(20)),
    }
    assert report.without_touchpoints == 1
    assert sum(b.conversion_share for b in report.buckets) == pytest.approx(1.0)


def test_assisted_and_last_touch_conversions_per_channel(system: PathSystem) -> None:
    report = assisted(system)
    rows = {
        r.channel: (
            r.assisted_conversions,
            from_money_pb(r.assisted_value).to_decimal(),
            r.last_touch_conversions,
            from_money_pb(r.last_touch_value).to_decimal(),
            r.assisted_per_last_touch,
        )
        for r in report.rows
    }
    assert rows == {
        "direct": (2, Decimal(130), 1, Decimal(5), 2.0),
        "email": (3, Decimal(130), 1, Decimal(30), 3.0),
        "paid_search": (0, Decimal(0), 4, Decimal(180), 0.0),
    }


def test_path_reports_refuse_bad_requests_with_field_details(system: PathSystem) -> None:
    with pytest.raises(grpc.RpcError) as unnamed:
        top_paths(system, conversion_name="")
    assert unnamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "conversion_name" in (unnamed.value.details() or "")
    with pytest.raises(grpc.RpcError) as unknown:
        top_paths(system, property_id="nobody-here")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as no_kind:
        distribution(system, reporting_pb2.PATH_DISTRIBUTION_KIND_UNSPECIFIED)
    assert no_kind.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as backwards:
        top_paths(system, start_time=to_timestamp(DAY + D), end_time=to_timestamp(DAY))
    assert backwards.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_report_paths_command_writes_every_view(system: PathSystem, tmp_path: Path) -> None:
    out = tmp_path / "paths.json"
    common = ["--property", PROPERTY, "--conversion", "purchase", "--addr"]
    address = system.addresses.reporting
    assert (
        main(["report", "paths", *common, address, "--format", "json", "--output", str(out)]) == 0
    )
    written = json.loads(out.read_text())
    assert {(r["path"], r["conversions"], Decimal(r["value"])) for r in written["rows"]} == (
        EXPECTED_PATHS
    )
    assert written["totals"]["conversions"] == 7
    for view in ("length", "lag", "assisted"):
        table = tmp_path / f"{view}.txt"
        assert (
            main(["report", "paths", *common, address, "--view", view, "--output", str(table)]) == 0
        )
        assert "Conversion name: purchase" in table.read_text()
    assert main(["report", "paths", *common, address, "--models", "linear"]) == 2


@pytest.mark.parametrize("kind", ["models", "trend", "path-length", "cost"])
def test_each_chart_is_a_png_of_the_asked_size_with_content(
    system: PathSystem, tmp_path: Path, kind: str
) -> None:
    if system.backend != "sqlite":
        pytest.skip("charts read reports; one backend is enough")
    out = tmp_path / f"{kind}.png"
    args = ["chart", kind, "--output", str(out), "--property", PROPERTY]
    args += ["--conversion", "purchase", "--addr", system.addresses.reporting]
    args += ["--width", "900", "--height", "500"]
    if kind == "trend":
        args += ["--since", (DAY).isoformat(), "--until", (DAY + 14 * D).isoformat()]
    assert main(args) == 0
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (900, 500)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 10


def _view_rows(system: PathSystem) -> dict[str, list[tuple[object, ...]]]:
    engine = build_engine(system.settings())
    try:
        with engine.connect() as conn:
            return {
                table.name: sorted(tuple(row) for row in conn.execute(select(table)))
                for table in (conversion_paths, conversion_path_channels)
            }
    finally:
        engine.dispose()


def test_rebuilt_path_views_equal_the_live_ones(system: PathSystem) -> None:
    live = _view_rows(system)
    live_report = path_rows(top_paths(system))
    rebuild_reports(system.settings())
    launcher.wait_for_sync(system.addresses, timeout=60)
    assert _view_rows(system) == live
    assert path_rows(top_paths(system)) == live_report
    assert len(live["conversion_paths"]) == 8
