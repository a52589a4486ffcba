"""Ad spend through ingest, sessions and spend in reporting, and the cost and conversion rate
reports: hand-computed on a small scenario, the same on SQLite and PostgreSQL, and the same
after the views are rebuilt from the logs."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest
from sqlalchemy import select

from common.grpc_errors import bad_request_of
from common.wire import from_money_pb, to_timestamp
from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2
from services import launcher
from services.commands.reports import fetch_metric_table
from services.commands.spend_import import send_spend
from services.reporting.server import build_engine, rebuild_reports
from services.reporting.views import session_visitors, sessions, spend
from tests.integration.helpers_system import BACKENDS, FourServices, four_services

PROPERTY = "spendshop"
DEADLINE = 15.0
DAY = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
NEXT_DAY = DAY + timedelta(days=1)


def usd(units: int, cents: int = 0) -> common_pb2.Money:
    return common_pb2.Money(currency_code="USD", units=units, nanos=cents * 10_000_000)


def _event(event_id: str, at: datetime, visitor: str, **kind: object) -> ingest_pb2.Event:
    message = ingest_pb2.Event(
        property_id=PROPERTY,
        event_id=event_id,
        identity=ingest_pb2.Identity(anonymous_id=visitor),
        **kind,  # type: ignore[arg-type]
    )
    message.timestamp.CopyFrom(to_timestamp(at))
    return message


def visit(
    event_id: str,
    at: datetime,
    visitor: str,
    source: str = "",
    medium: str = "",
    campaign: str = "",
) -> ingest_pb2.Event:
    return _event(
        event_id,
        at,
        visitor,
        touchpoint=ingest_pb2.Touchpoint(
            type=ingest_pb2.TOUCHPOINT_TYPE_VISIT,
            landing_url="https://shop.example.com/",
            utm=ingest_pb2.Utm(source=source, medium=medium, campaign=campaign),
        ),
    )


def page(event_id: str, at: datetime, visitor: str) -> ingest_pb2.Event:
    return _event(
        event_id, at, visitor, page_view=ingest_pb2.PageView(url="https://shop.example.com/p")
    )


def purchase(
    event_id: str, at: datetime, visitor: str, value: common_pb2.Money
) -> ingest_pb2.Event:
    return _event(
        event_id, at, visitor, conversion=ingest_pb2.Conversion(name="purchase", value=value)
    )


def scenario() -> list[ingest_pb2.Event]:
    """Visitor a: a paid search session, a page view 40 minutes later (a direct session), a
    paid social click (new campaign) and a purchase of 100. Visitor b: paid search at 23:50,
    a page view after midnight (new session), paid search again (new campaign against the
    direct session) and a purchase of 50. Visitor c: an email visit, a direct visit that
    continues it, and a purchase of 30."""
    h = timedelta(hours=1)
    m = timedelta(minutes=1)
    return [
        visit("a1", DAY + 10 * h, "a", "google", "cpc", "spring"),
        page("a2", DAY + 10 * h + 10 * m, "a"),
        page("a3", DAY + 10 * h + 20 * m, "a"),
        page("a4", DAY + 11 * h, "a"),
        visit("a5", DAY + 11 * h + 5 * m, "a", "facebook", "paid_social", "retarget"),
        purchase("a6", DAY + 11 * h + 10 * m, "a", usd(100)),
        visit("b1", DAY + 23 * h + 50 * m, "b", "google", "cpc", "spring"),
        page("b2", NEXT_DAY + 5 * m, "b"),
        visit("b3", NEXT_DAY + 10 * m, "b", "google", "cpc", "spring"),
        purchase("b4", NEXT_DAY + 15 * m, "b", usd(50)),
        visit("c1", DAY + 12 * h, "c", "newsletter", "email", "digest"),
        visit("c2", DAY + 12 * h + 5 * m, "c"),
        purchase("c3", DAY + 12 * h + 10 * m, "c", usd(30)),
    ]


def spend_row(
    day: datetime, source: str, medium: str, campaign: str, cost: common_pb2.Money
) -> ingest_pb2.SpendRow:
    return ingest_pb2.SpendRow(
        property_id=PROPERTY,
        date=day.date().isoformat(),
        source=source,
        medium=medium,
        campaign=campaign,
        cost=cost,
    )


@dataclass
class SpendSystem(FourServices):
    """The four services, and ingest's answers to the scenario's spend and its correction."""

    first_spend: ingest_pb2.RecordSpendResponse
    correction: ingest_pb2.RecordSpendResponse


@pytest.fixture(scope="module", params=BACKENDS)
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SpendSystem]:
    """The four services with the scenario and its spend (one day corrected) sent."""
    with four_services(request, tmp_path_factory, "spend") as started:
        tracked = started.track(scenario())
        assert tracked.rejected_count == 0, tracked
        first = started.ingest.RecordSpend(
            ingest_pb2.RecordSpendRequest(
                rows=[
                    spend_row(DAY, "google", "cpc", "spring", usd(40)),
                    spend_row(NEXT_DAY, "google", "CPC ", "spring", usd(20)),
                    spend_row(DAY, "facebook", "paid_social", "retarget", usd(80)),
                ]
            ),
            timeout=DEADLINE,
        )
        correction = started.ingest.RecordSpend(
            ingest_pb2.RecordSpendRequest(
                rows=[
                    spend_row(NEXT_DAY, "google", "cpc", "spring", usd(10)),
                    spend_row(DAY, "google", "cpc", "spring", usd(40)),
                ]
            ),
            timeout=DEADLINE,
        )
        started.sync()
        shared = {f.name: getattr(started, f.name) for f in fields(started)}
        yield SpendSystem(**shared, first_spend=first, correction=correction)


def cost_rows(response: reporting_pb2.GetCostReportResponse) -> dict[str, tuple[object, ...]]:
    def row(r: reporting_pb2.CostRow) -> tuple[object, ...]:
        return (
            from_money_pb(r.cost).to_decimal(),
            r.conversions,
            from_money_pb(r.value).to_decimal(),
            from_money_pb(r.cost_per_conversion).to_decimal()
            if r.HasField("cost_per_conversion")
            else None,
            round(r.roas, 9) if r.HasField("roas") else None,
            round(r.roi, 9) if r.HasField("roi") else None,
        )

    return {**{r.group: row(r) for r in response.rows}, "total": row(response.totals)}


def rate_rows(
    response: reporting_pb2.GetConversionRateReportResponse,
) -> dict[str, tuple[object, ...]]:
    def row(r: reporting_pb2.ConversionRateRow) -> tuple[object, ...]:
        return (
            r.visitors,
            r.sessions,
            r.conversions,
            round(r.conversions_per_session, 9) if r.HasField("conversions_per_session") else None,
            round(r.conversions_per_visitor, 9) if r.HasField("conversions_per_visitor") else None,
        )

    return {**{r.group: row(r) for r in response.rows}, "total": row(response.totals)}


EXPECTED_COST = {
    "direct": (Decimal("0"), 1.0, Decimal("30"), Decimal("0"), None, None),
    "paid_search": (Decimal("50"), 1.0, Decimal("50"), Decimal("50"), 1.0, 0.0),
    "paid_social": (Decimal("80"), 1.0, Decimal("100"), Decimal("80"), 1.25, 0.25),
    "total": (
        Decimal("130"),
        3.0,
        Decimal("180"),
        Decimal("43.333333"),
        round(180 / 130, 9),
        round(50 / 130, 9),
    ),
}
EXPECTED_RATES = {
    "direct": (2, 2, 1.0, 0.5, 0.5),
    "email": (1, 1, 0.0, 0.0, 0.0),
    "paid_search": (2, 3, 1.0, round(1 / 3, 9), 0.5),
    "paid_social": (1, 1, 1.0, 1.0, 1.0),
    "total": (3, 7, 3.0, round(3 / 7, 9), 1.0),
}


def cost_report(system: SpendSystem, **fields: object) -> reporting_pb2.GetCostReportResponse:
    return system.reporting.GetCostReport(
        reporting_pb2.GetCostReportRequest(**{"property_id": PROPERTY, **fields}),  # type: ignore[arg-type]
        timeout=DEADLINE,
    )


def rate_report(
    system: SpendSystem, **fields: object
) -> reporting_pb2.GetConversionRateReportResponse:
    return system.reporting.GetConversionRateReport(
        reporting_pb2.GetConversionRateReportRequest(**{"property_id": PROPERTY, **fields}),  # type: ignore[arg-type]
        timeout=DEADLINE,
    )


def test_spend_rows_are_recorded_and_a_resent_day_replaces_its_figure(system: SpendSystem) -> None:
    assert [v.outcome for v in system.first_spend.verdicts] == [
        ingest_pb2.SPEND_OUTCOME_RECORDED
    ] * 3
    assert [v.outcome for v in system.correction.verdicts] == [
        ingest_pb2.SPEND_OUTCOME_CORRECTED,
        ingest_pb2.SPEND_OUTCOME_UNCHANGED,
    ]
    assert system.correction.verdicts[0].record_id == system.first_spend.verdicts[1].record_id


def test_cost_report_gives_cost_conversions_roas_and_roi_per_channel(system: SpendSystem) -> None:
    report = cost_report(system, model="last_click")
    assert cost_rows(report) == EXPECTED_COST
    assert report.currency_code == "USD"
    assert report.conversion_name == "purchase"
    positions = {p.upstream: p.position for p in report.freshness.upstream_positions}
    assert positions["ingest"] > 0 and positions["attribution"] > 0


def test_the_cost_command_shows_no_cost_per_conversion_where_no_cost_is_recorded(
    system: SpendSystem,
) -> None:
    table = fetch_metric_table(system.addresses.reporting, "cost", property_id=PROPERTY)

    per_conversion = {r["group"]: r["cost_per_conversion"] for r in table.rows}
    assert per_conversion == {
        "direct": None,
        "paid_search": "50.000000000",
        "paid_social": "80.000000000",
    }
    assert table.totals["cost_per_conversion"] == "43.333333000"


def test_cost_report_by_campaign_and_within_a_day(system: SpendSystem) -> None:
    by_campaign = cost_report(system, group_by=reporting_pb2.GROUP_BY_CAMPAIGN)
    assert {r.group: from_money_pb(r.cost).to_decimal() for r in by_campaign.rows} == {
        "spring": Decimal("50"),
        "retarget": Decimal("80"),
        "(not set)": Decimal("0"),
    }
    first_day = cost_report(system, start_time=to_timestamp(DAY), end_time=to_timestamp(NEXT_DAY))
    assert cost_rows(first_day)["paid_search"] == (
        Decimal("40"),
        0.0,
        Decimal("0"),
        None,
        0.0,
        -1.0,
    )


def test_conversion_rate_report_counts_sessions_visitors_and_conversions(
    system: SpendSystem,
) -> None:
    assert rate_rows(rate_report(system)) == EXPECTED_RATES


def test_reports_page_through_groups_in_order(system: SpendSystem) -> None:
    first = rate_report(system, page_size=3)
    second = rate_report(system, page_size=3, page_token=first.next_page_token)
    assert [r.group for r in first.rows] == ["direct", "email", "paid_search"]
    assert [r.group for r in second.rows] == ["paid_social"]
    assert second.next_page_token == ""
    assert rate_rows(second)["total"] == EXPECTED_RATES["total"]
    with pytest.raises(grpc.RpcError) as refused:
        cost_report(system, page_token=first.next_page_token)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("report", [cost_report, rate_report])
def test_unknown_property_is_not_found_and_unconfigured_model_fails_precondition(
    system: SpendSystem, report: object
) -> None:
    with pytest.raises(grpc.RpcError) as unknown:
        report(system, property_id="nobody-here")  # type: ignore[operator]
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as unconfigured:
        report(system, model="markov")  # type: ignore[operator]
    assert unconfigured.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_invalid_spend_rows_are_rejected_with_field_paths(system: SpendSystem) -> None:
    tomorrow_plus = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    rows = [
        spend_row(DAY, "google", "cpc", "neg", common_pb2.Money(currency_code="USD", units=-1)),
        spend_row(DAY, "google", "cpc", "xyz", common_pb2.Money(currency_code="XYZ", units=1)),
        ingest_pb2.SpendRow(
            property_id=PROPERTY, date="03/01/2026", source="g", medium="cpc", cost=usd(1)
        ),
        ingest_pb2.SpendRow(
            property_id=PROPERTY, date=tomorrow_plus, source="g", medium="cpc", cost=usd(1)
        ),
        ingest_pb2.SpendRow(property_id=PROPERTY, date=DAY.date().isoformat(), cost=usd(1)),
    ]
    response = system.ingest.RecordSpend(ingest_pb2.RecordSpendRequest(rows=rows), timeout=DEADLINE)
    assert response.rejected_count == 5
    fields = [sorted(v.field for v in verdict.violations) for verdict in response.verdicts]
    assert fields == [
        ["rows[0].cost"],
        ["rows[1].cost.currency_code"],
        ["rows[2].date"],
        ["rows[3].date"],
        ["rows[4].medium", "rows[4].source"],
    ]


def test_spend_import_reads_csv_and_reports_bad_lines(system: SpendSystem) -> None:
    text = io.StringIO(
        "date,source,medium,campaign,cost,currency\n"
        f"{DAY.date()},bing,cpc,spring,12.50,USD\n"
        f"{DAY.date()},bing,cpc,autumn,lots,USD\n"
        f"{DAY.date()},bing,cpc,winter,-3,USD\n"
    )
    tally = send_spend(system.addresses.ingest, text, property_id="csvshop")
    assert (tally.recorded, tally.rejected) == (1, 2)
    assert tally.errors == [
        "3: cost: 'lots' is not a number",
        "4: cost: must not be negative",
    ]


def _view_rows(system: SpendSystem) -> dict[str, list[tuple[object, ...]]]:
    engine = build_engine(system.settings())
    try:
        with engine.connect() as conn:
            return {
                table.name: sorted(tuple(row) for row in conn.execute(select(table)))
                for table in (spend, sessions, session_visitors)
            }
    finally:
        engine.dispose()


def test_rebuilt_views_equal_the_live_ones(system: SpendSystem) -> None:
    # Earlier tests of the module may have sent spend that reporting has not applied yet.
    launcher.wait_for_sync(system.addresses, timeout=60)
    live_rows = _view_rows(system)
    live_cost, live_rates = cost_rows(cost_report(system)), rate_rows(rate_report(system))
    rebuild_reports(system.settings())
    launcher.wait_for_sync(system.addresses, timeout=60)
    assert _view_rows(system) == live_rows
    assert cost_rows(cost_report(system)) == live_cost
    assert rate_rows(rate_report(system)) == live_rates
    assert len(live_rows["sessions"]) >= 7


def test_sample_spend_is_accepted(system: SpendSystem) -> None:
    from services import sample_data

    config = sample_data.SampleConfig(property_id="sample", end=DAY, visitors=300, days=3)
    response = system.ingest.RecordSpend(
        ingest_pb2.RecordSpendRequest(rows=sample_data.generate_spend(config)), timeout=DEADLINE
    )
    assert response.rejected_count == 0
    assert response.recorded_count == 3 * 11  # 4 + 4 search and 3 social campaigns a day


@pytest.mark.parametrize("report", [cost_report, rate_report])
def test_cost_and_rate_reports_group_only_by_what_spend_and_sessions_are_kept_by(
    system: SpendSystem, report: object
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        report(system, group_by=reporting_pb2.GROUP_BY_DEVICE_TYPE)  # type: ignore[operator]
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    problems = bad_request_of(refused.value)
    assert [p.field for p in problems] == ["group_by"]
    assert "GROUP_BY_CAMPAIGN" in problems[0].description


def test_sessions_end_at_midnight_in_the_property_time_zone(system: SpendSystem) -> None:
    """23:50 and 00:05 UTC are 18:50 and 19:05 in New York: one session there (two in UTC)."""
    zoned = "tzshop"
    system.reporting.SetPropertySettings(
        reporting_pb2.SetPropertySettingsRequest(
            property_id=zoned,
            settings=reporting_pb2.PropertySettings(time_zone="America/New_York"),
        ),
        timeout=DEADLINE,
    )
    events = [
        visit("z1", DAY + timedelta(hours=23, minutes=50), "z", "google", "cpc", "spring"),
        page("z2", NEXT_DAY + timedelta(minutes=5), "z"),
    ]
    for event in events:
        event.property_id = zoned
    tracked = system.ingest.TrackEvents(
        ingest_pb2.TrackEventsRequest(events=events), timeout=DEADLINE
    )
    assert tracked.rejected_count == 0, tracked
    launcher.wait_for_sync(system.addresses, timeout=60)
    totals = rate_report(system, property_id=zoned).totals
    assert (totals.visitors, totals.sessions) == (1, 1)
