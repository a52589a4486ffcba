"""Funnels and cohorts through the four services: hand-computed on a small scenario with a
person identity joins across two devices, the same on SQLite and PostgreSQL, the same after
the views are rebuilt from the logs, and following identity when it takes a person apart."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import grpc
import pyarrow.parquet as pq
import pytest
from google.protobuf.duration_pb2 import Duration
from PIL import Image
from sqlalchemy import select

from common.grpc_errors import bad_request_of
from common.wire import from_money_pb, to_timestamp
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2
from services import launcher
from services.cli import main
from services.reporting.server import build_engine, rebuild_reports
from services.reporting.views import (
    cohort_conversions,
    cohort_persons,
    cohort_totals,
    cohort_zones,
    identity_links,
    person_events,
    visitor_first_touches,
)
from tests.integration.helpers_system import BACKENDS, FourServices, four_services

PROPERTY = "funnelshop"
DEADLINE = 15.0
_TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
W0 = _TODAY - timedelta(days=_TODAY.weekday(), weeks=5)
"""A Monday five weeks before this week's: every period of the cohorts below has begun."""
W1 = W0 + timedelta(weeks=1)
H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)


def _event(
    event_id: str, at: datetime, anonymous_id: str, user_id: str = "", **kind: object
) -> ingest_pb2.Event:
    message = ingest_pb2.Event(
        property_id=PROPERTY,
        event_id=event_id,
        identity=ingest_pb2.Identity(anonymous_id=anonymous_id, user_id=user_id),
        **kind,  # type: ignore[arg-type]
    )
    message.timestamp.CopyFrom(to_timestamp(at))
    return message


def touch(
    event_id: str, at: datetime, visitor: str, path: str, source: str = "", medium: str = ""
) -> ingest_pb2.Event:
    return _event(
        event_id,
        at,
        visitor,
        touchpoint=ingest_pb2.Touchpoint(
            type=ingest_pb2.TOUCHPOINT_TYPE_VISIT,
            landing_url=f"https://shop.example.com{path}?utm_x=1",
            utm=ingest_pb2.Utm(source=source, medium=medium),
        ),
    )


def page(event_id: str, at: datetime, visitor: str, path: str) -> ingest_pb2.Event:
    return _event(
        event_id, at, visitor, page_view=ingest_pb2.PageView(url=f"https://shop.example.com{path}")
    )


def login(event_id: str, at: datetime, visitor: str, user: str) -> ingest_pb2.Event:
    return _event(event_id, at, visitor, user, identify=ingest_pb2.Identify())


def purchase(event_id: str, at: datetime, visitor: str, units: int) -> ingest_pb2.Event:
    value = common_pb2.Money(currency_code="USD", units=units)
    return _event(
        event_id, at, visitor, conversion=ingest_pb2.Conversion(name="purchase", value=value)
    )


def scenario() -> list[ingest_pb2.Event]:
    """P uses two devices that identity joins by logins as u1: on d1 a paid search visit
    (Monday 09:00), /pricing, a login; on d2 an email visit (Tuesday), /pricing/pro, a login
    and a purchase of 100 on Friday. Q: a paid social visit, /pricing, a purchase of 30 two
    weeks later, no login. R: no touchpoint; /pricing, a login and a purchase of 50 a week
    after the others. S: a paid search visit to /features only, a week later. T: a direct
    visit landing on /pricing, a login, a purchase of 20 nine days later (past 7 days)."""
    return [
        touch("p1", W0 + 9 * H, "d1", "/", "google", "cpc"),
        page("p2", W0 + 9 * H + 5 * M, "d1", "/pricing"),
        login("p3", W0 + 9 * H + 10 * M, "d1", "u1"),
        touch("p4", W0 + D + 10 * H, "d2", "/blog", "newsletter", "email"),
        page("p5", W0 + D + 10 * H + 5 * M, "d2", "/pricing/pro"),
        login("p6", W0 + D + 10 * H + 10 * M, "d2", "u1"),
        purchase("p7", W0 + 4 * D + 12 * H, "d2", 100),
        touch("q1", W0 + 2 * D + 15 * H, "q", "/", "facebook", "paid_social"),
        page("q2", W0 + 2 * D + 15 * H + 2 * M, "q", "/pricing"),
        purchase("q3", W0 + 17 * D, "q", 30),
        page("r1", W1 + 8 * H, "r", "/pricing"),
        login("r2", W1 + 8 * H + 5 * M, "r", "u2"),
        purchase("r3", W1 + 8 * H + 10 * M, "r", 50),
        touch("s1", W1 + D + 9 * H, "s", "/", "google", "cpc"),
        page("s2", W1 + D + 9 * H + 1 * M, "s", "/features"),
        touch("t1", W0 + 3 * D + 11 * H, "t", "/pricing"),
        login("t2", W0 + 3 * D + 11 * H + 1 * M, "t", "u3"),
        purchase("t3", W0 + 12 * D + 11 * H, "t", 20),
    ]


PersonSystem = FourServices


@pytest.fixture(scope="module", params=BACKENDS)
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PersonSystem]:
    """The four services with the scenario sent."""
    with four_services(request, tmp_path_factory, "people") as system:
        tracked = system.track(scenario())
        assert tracked.rejected_count == 0, tracked
        system.sync()
        yield system


def step(kind: str, value: str) -> reporting_pb2.FunnelStep:
    return reporting_pb2.FunnelStep(
        kind=reporting_pb2.FunnelStepKind.Value(f"FUNNEL_STEP_KIND_{kind.upper()}"), value=value
    )


STEPS = [step("page", "/pricing"), step("event", "identify"), step("conversion", "purchase")]


def funnel(system: PersonSystem, **fields: object) -> reporting_pb2.GetFunnelReportResponse:
    defaults: dict[str, object] = {
        "property_id": PROPERTY,
        "steps": STEPS,
        "within": Duration(seconds=7 * 86_400),
    }
    request = reporting_pb2.GetFunnelReportRequest(**{**defaults, **fields})  # type: ignore[arg-type]
    return system.reporting.GetFunnelReport(request, timeout=DEADLINE)


def funnel_figures(
    response: reporting_pb2.GetFunnelReportResponse,
) -> dict[str, list[tuple[int, float, float, int]]]:
    def figures(steps: object) -> list[tuple[int, float, float, int]]:
        return [
            (
                s.persons,
                round(s.conversion_from_previous, 9),
                round(s.conversion_from_first, 9),
                s.dropped,
            )
            for s in steps  # type: ignore[attr-defined]
        ]

    return {
        "all": figures(response.steps),
        **{c.channel: figures(c.steps) for c in response.channels},
    }


def cohorts(system: PersonSystem, **fields: object) -> reporting_pb2.GetCohortReportResponse:
    defaults: dict[str, object] = {"property_id": PROPERTY, "periods": 4}
    request = reporting_pb2.GetCohortReportRequest(**{**defaults, **fields})  # type: ignore[arg-type]
    return system.reporting.GetCohortReport(request, timeout=DEADLINE)


def cohort_rows(
    response: reporting_pb2.GetCohortReportResponse,
) -> dict[tuple[str, str], tuple[int, list[tuple[int, int, float, Decimal]]]]:
    return {
        (row.period, row.channel): (
            row.persons,
            [
                (
                    p.conversions,
                    p.converted_persons,
                    round(p.conversion_rate, 9),
                    from_money_pb(p.value).to_decimal(),
                )
                for p in row.periods
            ],
        )
        for row in response.rows
    }


# P (d1 and d2 joined) enters Monday 09:05 and finishes; Q stops at /pricing; R finishes;
# T's purchase comes nine days after it entered, past the 7 days.
EXPECTED_FUNNEL = {
    "all": [(4, 1.0, 1.0, 0), (3, 0.75, 0.75, 1), (2, round(2 / 3, 9), 0.5, 1)],
    "(none)": [(1, 1.0, 1.0, 0), (1, 1.0, 1.0, 0), (1, 1.0, 1.0, 0)],
    "direct": [(1, 1.0, 1.0, 0), (1, 1.0, 1.0, 0), (0, 0.0, 0.0, 1)],
    "paid_search": [(1, 1.0, 1.0, 0), (1, 1.0, 1.0, 0), (1, 1.0, 1.0, 0)],
    "paid_social": [(1, 1.0, 1.0, 0), (0, 0.0, 0.0, 1), (0, 0.0, 0.0, 0)],
}


def _none(periods: int) -> list[tuple[int, int, float, Decimal]]:
    return [(0, 0, 0.0, Decimal(0))] * periods


EXPECTED_COHORTS = {
    (W0.date().isoformat(), "direct"): (1, [*_none(1), *[(1, 1, 1.0, Decimal(20))] * 3]),
    (W0.date().isoformat(), "paid_search"): (1, [(1, 1, 1.0, Decimal(100))] * 4),
    (W0.date().isoformat(), "paid_social"): (1, [*_none(2), *[(1, 1, 1.0, Decimal(30))] * 2]),
    (W1.date().isoformat(), "paid_search"): (1, _none(4)),
}


def test_funnel_counts_persons_as_identity_joins_them_per_first_touch_channel(
    system: PersonSystem,
) -> None:
    response = funnel(system)
    assert funnel_figures(response) == EXPECTED_FUNNEL
    assert [c.channel for c in response.channels] == [
        "(none)",
        "direct",
        "paid_search",
        "paid_social",
    ]
    assert response.steps[0].step.match == reporting_pb2.FUNNEL_STEP_MATCH_PREFIX
    assert response.steps[1].drop_off == pytest.approx(0.25)
    assert response.within.seconds == 7 * 86_400
    positions = {p.upstream: p.position for p in response.freshness.upstream_positions}
    assert set(positions) == {"ingest", "identity"} and all(positions.values())
    assert response.freshness.newest_conversion_time.ToDatetime(tzinfo=UTC) == W0 + 17 * D


def test_funnel_time_range_limits_who_enters_and_a_longer_limit_lets_t_finish(
    system: PersonSystem,
) -> None:
    late = funnel(system, within=Duration(seconds=10 * 86_400))
    assert [s.persons for s in late.steps] == [4, 3, 3]
    request_start = to_timestamp(W1)
    in_second_week = funnel(system, start_time=request_start)
    assert [s.persons for s in in_second_week.steps] == [1, 1, 1]
    assert [c.channel for c in in_second_week.channels] == ["(none)"]


def test_funnel_steps_match_pages_by_prefix_or_exactly_and_events_by_name(
    system: PersonSystem,
) -> None:
    exact = reporting_pb2.FunnelStep(
        kind=reporting_pb2.FUNNEL_STEP_KIND_PAGE,
        value="/pricing/pro",
        match=reporting_pb2.FUNNEL_STEP_MATCH_EXACT,
    )
    response = funnel(system, steps=[exact, step("event", "purchase")])
    assert [s.persons for s in response.steps] == [1, 1]
    touched = funnel(system, steps=[step("event", "touchpoint"), step("page", "/features")])
    assert [s.persons for s in touched.steps] == [4, 1]


def test_funnel_pages_through_channels(system: PersonSystem) -> None:
    first = funnel(system, page_size=3)
    assert [c.channel for c in first.channels] == ["(none)", "direct", "paid_search"]
    second = funnel(system, page_size=3, page_token=first.next_page_token)
    assert [c.channel for c in second.channels] == ["paid_social"]
    assert second.next_page_token == ""
    assert [s.persons for s in second.steps] == [4, 3, 2]


def test_cohorts_give_cumulative_conversions_by_weeks_since_first_touch(
    system: PersonSystem,
) -> None:
    response = cohorts(system)
    assert cohort_rows(response) == EXPECTED_COHORTS
    assert response.interval == reporting_pb2.COHORT_INTERVAL_WEEK
    assert response.time_zone == "UTC"
    assert response.rows[0].period_start.ToDatetime(tzinfo=UTC) == W0
    only_w1 = cohorts(system, start_time=to_timestamp(W1))
    assert list(cohort_rows(only_w1)) == [(W1.date().isoformat(), "paid_search")]
    monthly = cohorts(system, interval=reporting_pb2.COHORT_INTERVAL_MONTH)
    assert sum(row.persons for row in monthly.rows) == 4
    assert all(row.period.endswith("-01") for row in monthly.rows)


def test_cohorts_count_only_the_named_conversions(system: PersonSystem) -> None:
    response = cohorts(system)
    named = cohorts(system, conversion_names=["sign_up"])
    assert [row.persons for row in named.rows] == [row.persons for row in response.rows]
    assert all(p.conversions == 0 for row in named.rows for p in row.periods)


def test_unknown_property_is_not_found_and_bad_requests_name_their_fields(
    system: PersonSystem,
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        funnel(system, property_id="nosuchshop")
    assert error.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as error:
        cohorts(system, property_id="nosuchshop")
    assert error.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as error:
        system.reporting.GetFunnelReport(
            reporting_pb2.GetFunnelReportRequest(property_id=PROPERTY), timeout=DEADLINE
        )
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert [p.field for p in bad_request_of(error.value)] == ["steps"]
    with pytest.raises(grpc.RpcError) as error:
        funnel(system, steps=[reporting_pb2.FunnelStep(value="/")], within=Duration(seconds=0))
    assert [p.field for p in bad_request_of(error.value)] == ["steps[0].kind", "within"]
    with pytest.raises(grpc.RpcError) as error:
        cohorts(system, periods=53)
    assert [p.field for p in bad_request_of(error.value)] == ["periods"]


CLI_STEPS = ["--step", "page:/pricing", "--step", "event:identify", "--step", "conversion:purchase"]


def test_report_funnel_command_writes_csv_json_and_parquet_that_read_back_equal(
    system: PersonSystem, tmp_path: Path
) -> None:
    if system.backend != "sqlite":
        pytest.skip("the command reads reports; one backend is enough")
    common = ["report", "funnel", "--property", PROPERTY, *CLI_STEPS, "--within", "7d"]
    common += ["--addr", system.addresses.reporting]
    files = {f: tmp_path / f"funnel.{f}" for f in ("csv", "json", "parquet", "txt")}
    for name, path in files.items():
        output_format = "table" if name == "txt" else name
        assert main([*common, "--format", output_format, "--output", str(path)]) == 0
    with files["csv"].open() as csv_file:
        from_csv = [
            (r["channel"], r["step"], int(r["persons"]), int(r["dropped"]))
            for r in csv.DictReader(csv_file)
        ]
    written = json.loads(files["json"].read_text())
    from_json = [(r["channel"], r["step"], r["persons"], r["dropped"]) for r in written["rows"]]
    parquet = pq.read_table(files["parquet"]).to_pylist()
    from_parquet = [(r["channel"], r["step"], r["persons"], r["dropped"]) for r in parquet]
    assert from_csv == from_json == from_parquet
    assert from_csv[:3] == [
        ("all", "page:/pricing*", 4, 0),
        ("all", "event:identify", 3, 1),
        ("all", "conversion:purchase", 2, 1),
    ]
    assert written["steps"] == ["page:/pricing*", "event:identify", "conversion:purchase"]
    assert written["within_seconds"] == 7 * 86_400
    table = files["txt"].read_text()
    assert "first-touch channel" in table and "paid_search" in table
    assert max(len(line) for line in table.splitlines() if "Funnel" not in line) <= 120


def test_report_cohorts_command_writes_one_row_per_cohort_and_period(
    system: PersonSystem, tmp_path: Path
) -> None:
    if system.backend != "sqlite":
        pytest.skip("the command reads reports; one backend is enough")
    out = tmp_path / "cohorts.json"
    args = ["report", "cohorts", "--property", PROPERTY, "--interval", "week", "--periods", "4"]
    args += ["--addr", system.addresses.reporting, "--format", "json", "--output", str(out)]
    assert main(args) == 0
    written = json.loads(out.read_text())
    found = {
        (r["cohort"], r["channel"], r["period"]): (r["conversions"], Decimal(r["value"]))
        for r in written["rows"]
    }
    assert len(found) == 16
    assert found[(W0.date().isoformat(), "direct", 1)] == (1, Decimal(20))
    assert written["totals"]["persons"] == 4


def test_funnel_chart_is_a_png_of_the_asked_size_with_content(
    system: PersonSystem, tmp_path: Path
) -> None:
    if system.backend != "sqlite":
        pytest.skip("charts read reports; one backend is enough")
    out = tmp_path / "funnel.png"
    args = ["chart", "funnel", "--output", str(out), "--property", PROPERTY, *CLI_STEPS]
    args += ["--addr", system.addresses.reporting, "--width", "900", "--height", "500"]
    assert main(args) == 0
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (900, 500)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 10
    assert main([*args[:-4], "--models", "linear"]) == 2


def _view_rows(system: PersonSystem) -> dict[str, list[tuple[object, ...]]]:
    engine = build_engine(system.settings())
    try:
        with engine.connect() as conn:
            return {
                table.name: sorted(tuple(row) for row in conn.execute(select(table)))
                for table in (
                    person_events,
                    visitor_first_touches,
                    identity_links,
                    cohort_persons,
                    cohort_conversions,
                    cohort_totals,
                    cohort_zones,
                )
            }
    finally:
        engine.dispose()


def test_rebuilt_views_equal_the_live_ones(system: PersonSystem) -> None:
    launcher.wait_for_sync(system.addresses, timeout=60)
    live_rows = _view_rows(system)
    live_funnel, live_cohorts = funnel_figures(funnel(system)), cohort_rows(cohorts(system))
    rebuild_reports(system.settings())
    launcher.wait_for_sync(system.addresses, timeout=60)
    assert _view_rows(system) == live_rows
    assert funnel_figures(funnel(system)) == live_funnel
    assert cohort_rows(cohorts(system)) == live_cohorts
    assert len(live_rows["person_events"]) == 18


def _track(system: PersonSystem, *events: ingest_pb2.Event) -> None:
    with grpc.insecure_channel(system.addresses.ingest) as channel:
        tracked = ingest_pb2_grpc.IngestServiceStub(channel).TrackEvents(
            ingest_pb2.TrackEventsRequest(events=events), timeout=DEADLINE
        )
    assert tracked.rejected_count == 0, tracked
    launcher.wait_for_sync(system.addresses, timeout=60)


def _order(event_id: str, at: datetime, order_id: str) -> ingest_pb2.Event:
    """S's purchase of 40 with an order id, the day after its paid search visit."""
    message = purchase(event_id, at, "s", 40)
    message.conversion.order_id = order_id
    return message


def _retraction(event_id: str, at: datetime, order_id: str) -> ingest_pb2.Event:
    message = ingest_pb2.Event(
        property_id=PROPERTY,
        event_id=event_id,
        outcome=ingest_pb2.Outcome(conversion_name="purchase", order_id=order_id, retracted=True),
    )
    message.timestamp.CopyFrom(to_timestamp(at))
    return message


def test_retracted_conversions_leave_funnels_and_cohorts(system: PersonSystem) -> None:
    """An outcome that retracts a conversion takes it out of both reports, whether it comes
    after the conversion or before it (a CRM export ahead of the web), live and rebuilt."""
    s_cohort = (W1.date().isoformat(), "paid_search")
    _track(system, _order("s3", W1 + 2 * D, "O-1"))
    assert cohort_rows(cohorts(system))[s_cohort] == (1, [(1, 1, 1.0, Decimal(40))] * 4)
    _track(
        system,
        _retraction("s3-retracted", W1 + 3 * D, "O-1"),
        _retraction("s4-retracted", W1 + 3 * D, "O-2"),
    )
    _track(system, _order("s4", W1 + 2 * D + H, "O-2"))
    purchases = [step("event", "page_view"), step("conversion", "purchase")]
    for rebuilt in (False, True):
        if rebuilt:
            rebuild_reports(system.settings())
            launcher.wait_for_sync(system.addresses, timeout=60)
        assert cohort_rows(cohorts(system)) == EXPECTED_COHORTS
        assert funnel_figures(funnel(system)) == EXPECTED_FUNNEL
        assert [f[0] for f in funnel_figures(funnel(system, steps=purchases))["paid_search"]] == [
            2,
            1,
        ]
        events = _view_rows(system)["person_events"]
        # s3's row ended at its retraction (kept for as-of); s4 came after its own: no row.
        assert len([e for e in events if e[-1] is None]) == 18
        assert len(events) == 19


def test_unlinking_the_login_takes_the_person_apart_in_the_funnel(system: PersonSystem) -> None:
    """Run last: it changes the identity graph. Without u1, d1 and d2 are two persons: d1
    (paid search) stops after its login, d2 (email) enters at /pricing/pro and purchases.
    Asked as of a moment before the unlink, the funnel and cohorts are those of then."""
    before = funnel_figures(funnel(system)), cohort_rows(cohorts(system))
    moment = datetime.now(UTC)
    user = common_pb2.Identifier(type=common_pb2.IDENTIFIER_TYPE_USER_ID, value="u1")
    system.identity.UnlinkIdentifier(
        identity_pb2.UnlinkIdentifierRequest(
            property_id=PROPERTY, identifier=user, note="a shared login"
        ),
        timeout=DEADLINE,
    )
    launcher.wait_for_sync(system.addresses, timeout=60)
    figures = funnel_figures(funnel(system))
    assert [f[0] for f in figures["all"]] == [5, 4, 2]
    assert [f[0] for f in figures["paid_search"]] == [1, 1, 0]
    assert [f[0] for f in figures["email"]] == [1, 1, 1]
    as_of = reporting_pb2.AsOf(time=to_timestamp(moment))
    past = funnel(system, as_of=as_of)
    assert (funnel_figures(past), cohort_rows(cohorts(system, as_of=as_of))) == before
    assert past.freshness.HasField("as_of_time")
