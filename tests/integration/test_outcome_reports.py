"""CRM outcomes end to end: ingest's Outcome events (some before their conversion), attribution's
re-credits and retraction, reporting's outcome report and the other reports without the
retracted conversion, hand-computed on a small scenario, on SQLite and PostgreSQL, and the
same after a rebuild of the views."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from common.wire import from_money_pb, to_timestamp
from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2
from services import launcher
from services.cli import main
from services.reporting.server import build_engine, rebuild_reports
from services.reporting.views import (
    conversion_credits,
    conversion_path_channels,
    conversion_paths,
    conversion_stages,
)
from tests.integration.helpers_system import BACKENDS, FourServices, four_services

PROPERTY = "crmshop"
DEADLINE = 15.0
DAY = (datetime.now(UTC) - timedelta(days=20)).replace(hour=0, minute=0, second=0, microsecond=0)
H = timedelta(hours=1)
D = timedelta(days=1)


def usd(units: int) -> common_pb2.Money:
    return common_pb2.Money(currency_code="USD", units=units)


def _event(event_id: str, at: datetime, **kind: object) -> ingest_pb2.Event:
    message = ingest_pb2.Event(property_id=PROPERTY, event_id=event_id, **kind)  # type: ignore[arg-type]
    message.timestamp.CopyFrom(to_timestamp(at))
    return message


def visit(event_id: str, at: datetime, visitor: str, source: str, medium: str) -> ingest_pb2.Event:
    return _event(
        event_id,
        at,
        identity=ingest_pb2.Identity(anonymous_id=visitor),
        touchpoint=ingest_pb2.Touchpoint(
            type=ingest_pb2.TOUCHPOINT_TYPE_VISIT,
            landing_url="https://crm.example.com/",
            utm=ingest_pb2.Utm(source=source, medium=medium, campaign=f"{medium}-campaign"),
        ),
    )


def deal(event_id: str, at: datetime, visitor: str, order_id: str, value: int) -> ingest_pb2.Event:
    return _event(
        event_id,
        at,
        identity=ingest_pb2.Identity(anonymous_id=visitor),
        conversion=ingest_pb2.Conversion(name="deal", value=usd(value), order_id=order_id),
    )


def outcome(event_id: str, at: datetime, order_id: str, **fields: object) -> ingest_pb2.Event:
    return _event(
        event_id,
        at,
        outcome=ingest_pb2.Outcome(conversion_name="deal", order_id=order_id, **fields),  # type: ignore[arg-type]
    )


# Deals (journey, value, outcomes):
# A: paid_search > email, 1000; lead, qualified, won with value 5000 (last click: email).
# B: paid_search, 800; lead, lost (both sent before the deal itself).
# C: email, 300; lead, won, then refunded 300 in full (value 0).
# D: paid_search, 700; lead, then retracted: gone from every report.
EARLY_OUTCOMES = [
    outcome("ob1", DAY + 2 * D + H, "B", stage="lead"),
    outcome("ob2", DAY + 4 * D, "B", stage="lost"),
]
JOURNEYS = [
    visit("ta1", DAY, "a", "google", "cpc"),
    visit("ta2", DAY + D, "a", "newsletter", "email"),
    deal("ca", DAY + 2 * D, "a", "A", 1000),
    visit("tb1", DAY + D, "b", "google", "cpc"),
    deal("cb", DAY + 2 * D, "b", "B", 800),
    visit("tc1", DAY + D, "c", "newsletter", "email"),
    deal("cc", DAY + 3 * D, "c", "C", 300),
    visit("td1", DAY + 2 * D, "d", "google", "cpc"),
    deal("cd", DAY + 3 * D, "d", "D", 700),
]
LATE_OUTCOMES = [
    outcome("oa1", DAY + 2 * D + H, "A", stage="lead"),
    outcome("oa3", DAY + 5 * D, "A", stage="won", value=usd(5000)),
    outcome("oa2", DAY + 3 * D, "A", stage="qualified"),
    outcome("oc1", DAY + 3 * D + H, "C", stage="lead"),
    outcome("oc2", DAY + 4 * D, "C", stage="won"),
    outcome("oc3", DAY + 6 * D, "C", refund=usd(300)),
    outcome("od1", DAY + 3 * D + H, "D", stage="lead"),
    outcome("od2", DAY + 5 * D, "D", retracted=True),
]


OutcomeSystem = FourServices


@pytest.fixture(scope="module", params=BACKENDS)
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OutcomeSystem]:
    """The four services with the scenario sent and attributed."""
    with four_services(request, tmp_path_factory, "outcomes") as found:
        for batch in (EARLY_OUTCOMES, JOURNEYS):
            tracked = found.track(batch)
            assert tracked.accepted_count == len(batch), tracked
            found.sync()
        tracked = found.track([*LATE_OUTCOMES, LATE_OUTCOMES[0]])
        assert tracked.accepted_count == len(LATE_OUTCOMES), tracked
        assert tracked.verdicts[-1].verdict == ingest_pb2.VERDICT_DUPLICATE
        found.sync()
        yield found


def outcome_report(
    system: OutcomeSystem, **fields: object
) -> reporting_pb2.GetOutcomeReportResponse:
    request = reporting_pb2.GetOutcomeReportRequest(
        **{"property_id": PROPERTY, "conversion_name": "deal", **fields}  # type: ignore[arg-type]
    )
    return system.reporting.GetOutcomeReport(request, timeout=DEADLINE)  # type: ignore[no-any-return]


def money(value: common_pb2.Money) -> Decimal:
    return from_money_pb(value).to_decimal()


def stages_of(
    report: reporting_pb2.GetOutcomeReportResponse,
) -> list[tuple[str, int, int, Decimal, list[tuple[str, float, Decimal]]]]:
    return [
        (
            s.stage,
            s.conversions,
            s.current_conversions,
            money(s.value),
            [(g.group, round(g.conversions, 9), money(g.value)) for g in s.groups],
        )
        for s in report.stages
    ]


def test_each_stage_counts_its_conversions_and_credits_their_current_value(
    system: OutcomeSystem,
) -> None:
    report = outcome_report(system)
    assert stages_of(report) == [
        (
            "lead",
            3,
            0,
            Decimal(5800),
            [("email", 2, Decimal(5000)), ("paid_search", 1, Decimal(800))],
        ),
        ("won", 2, 2, Decimal(5000), [("email", 2, Decimal(5000))]),
        ("qualified", 1, 0, Decimal(5000), [("email", 1, Decimal(5000))]),
        ("lost", 1, 1, Decimal(800), [("paid_search", 1, Decimal(800))]),
    ]
    assert report.total_conversions == 3
    assert (report.conversion_name, report.model, report.currency_code) == (
        "deal",
        "last_click",
        "USD",
    )
    assert report.stages[0].conversion_share == pytest.approx(1.0)
    positions = {p.upstream: p.position for p in report.freshness.upstream_positions}
    assert positions["attribution"] > 0


def test_a_multi_touch_model_splits_each_stage_and_stages_can_be_chosen(
    system: OutcomeSystem,
) -> None:
    report = outcome_report(
        system,
        model="linear",
        group_by=reporting_pb2.GROUP_BY_CAMPAIGN,
        stages=["won", "lead", "open"],
    )
    assert stages_of(report) == [
        (
            "won",
            2,
            2,
            Decimal(5000),
            [("email-campaign", 1.5, Decimal(2500)), ("cpc-campaign", 0.5, Decimal(2500))],
        ),
        (
            "lead",
            3,
            0,
            Decimal(5800),
            [("cpc-campaign", 1.5, Decimal(3300)), ("email-campaign", 1.5, Decimal(2500))],
        ),
        ("open", 0, 0, Decimal(0), []),
    ]


def test_outcomes_are_counted_by_the_conversions_time(system: OutcomeSystem) -> None:
    report = outcome_report(system, start_time=to_timestamp(DAY + 3 * D))
    assert [(s.stage, s.conversions) for s in report.stages] == [("lead", 1), ("won", 1)]


def test_the_retracted_deal_is_gone_and_credits_carry_the_latest_values(
    system: OutcomeSystem,
) -> None:
    report = system.reporting.GetConversionReport(
        reporting_pb2.GetConversionReportRequest(
            property_id=PROPERTY, conversion_name="deal", model="last_click"
        ),
        timeout=DEADLINE,
    )
    assert [(r.group, r.conversions, money(r.value)) for r in report.rows] == [
        ("email", 2.0, Decimal(5000)),
        ("paid_search", 1.0, Decimal(800)),
    ]
    assert (report.total_conversions, money(report.total_value)) == (3.0, Decimal(5800))
    paths = system.reporting.GetPathReport(
        reporting_pb2.GetPathReportRequest(property_id=PROPERTY, conversion_name="deal"),
        timeout=DEADLINE,
    )
    assert paths.summary.total_conversions == 3
    assert money(paths.summary.total_value) == Decimal(5800)
    compared = system.reporting.CompareModels(
        reporting_pb2.CompareModelsRequest(
            property_id=PROPERTY, conversion_name="deal", models=["first_click", "linear"]
        ),
        timeout=DEADLINE,
    )
    assert sum(r.figures[0].conversions for r in compared.rows) == pytest.approx(3.0)


def test_invalid_outcomes_are_rejected_with_their_fields(system: OutcomeSystem) -> None:
    tracked = system.track(
        [
            outcome("bad1", DAY + 5 * D, "", stage="won"),
            outcome("bad2", DAY + 5 * D, "A", stage="Closed Won"),
            outcome("bad3", DAY + 5 * D, "A", retracted=True, refund=usd(1)),
        ]
    )
    assert [[v.field for v in verdict.violations] for verdict in tracked.verdicts] == [
        ["outcome.order_id"],
        ["outcome.stage"],
        ["outcome.retracted"],
    ]


def test_an_outcome_report_names_what_is_missing(system: OutcomeSystem) -> None:
    with pytest.raises(grpc.RpcError) as unknown:
        outcome_report(system, property_id="nobody")
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as model:
        outcome_report(system, model="markov")
    assert model.value.code() is grpc.StatusCode.FAILED_PRECONDITION


def _view_rows(system: OutcomeSystem) -> dict[str, list[tuple[object, ...]]]:
    engine = build_engine(system.settings())
    try:
        with engine.connect() as conn:
            return {
                table.name: sorted(tuple(row) for row in conn.execute(select(table)))
                for table in (
                    conversion_credits,
                    conversion_paths,
                    conversion_path_channels,
                    conversion_stages,
                )
            }
    finally:
        engine.dispose()


def test_rebuilt_views_equal_the_live_ones(system: OutcomeSystem) -> None:
    live = _view_rows(system)
    live_report = stages_of(outcome_report(system))
    rebuild_reports(system.settings())
    launcher.wait_for_sync(system.addresses, timeout=60)
    assert _view_rows(system) == live
    assert stages_of(outcome_report(system)) == live_report
    current_stages = [r for r in live["conversion_stages"] if r[-1] is None]  # valid_to
    assert len(current_stages) == 7
    assert len(live["conversion_stages"]) > 7  # and the superseded revisions
    assert _current_paths(system) == 3


def _current_paths(system: OutcomeSystem) -> int:
    """Conversions with a current path: the retracted one's rows are ended, not deleted."""
    engine = build_engine(system.settings())
    try:
        with engine.connect() as conn:
            return len(
                conn.execute(
                    select(conversion_paths.c.conversion_id).where(
                        conversion_paths.c.valid_to.is_(None)
                    )
                ).all()
            )
    finally:
        engine.dispose()


def test_report_outcomes_writes_the_stages_as_json_and_csv(
    system: OutcomeSystem, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["report", "outcomes", "--property", PROPERTY, "--conversion", "deal"]
    base += ["--addr", system.addresses.reporting]
    assert main([*base, "--format", "json"]) == 0
    written = json.loads(capsys.readouterr().out)
    rows = [(r["stage"], r["group"], r["conversions"], r["value"]) for r in written["rows"]]
    assert rows[:3] == [
        ("lead", "(all)", 3.0, "5800.000000000"),
        ("lead", "email", 2.0, "5000.000000000"),
        ("lead", "paid_search", 1.0, "800.000000000"),
    ]
    out = tmp_path / "outcomes.csv"
    assert main([*base, "--format", "csv", "--output", str(out)]) == 0
    with out.open(newline="") as text:
        assert [r["stage"] for r in csv.DictReader(text)].count("won") == 2
    assert main([*base]) == 0
    assert "now at stage" in capsys.readouterr().out


HUBSPOT_CSV = """Record ID,Deal Stage,Amount,Currency Code,Last Modified Date
E,Appointment Scheduled,,USD,{lead}
E,Closed Won,1200,USD,{won}
,Closed Won,5,USD,{won}
"""


def test_outcomes_import_sends_a_hubspot_export_once(
    system: OutcomeSystem, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deals.csv"
    path.write_text(
        HUBSPOT_CSV.format(lead=(DAY + 3 * D).isoformat(), won=(DAY + 4 * D).isoformat())
    )
    args = ["outcomes", "import", str(path), "--property", PROPERTY]
    args += ["--addr", system.addresses.ingest]
    assert main(args) == 1  # the row without a deal id is rejected
    printed = capsys.readouterr()
    assert "2 accepted" in printed.out and "1 rejected" in printed.out
    assert f"{path}:4: outcome.order_id" in printed.err
    assert main(args) == 1
    assert "2 already sent" in capsys.readouterr().out
