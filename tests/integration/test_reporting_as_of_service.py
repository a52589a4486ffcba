"""Reports as of a past moment through the running services, on SQLite and PostgreSQL:
answers recorded before late data arrived (a touchpoint before a purchase, a corrected spend
day) are what `as_of` answers later, by time (attribution's recorded times) and by position;
`convtrack report --as-of` says what it reflects."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from common.server import RunningService
from common.wire import to_timestamp
from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import launcher
from services.cli import main
from tests.integration.helpers_system import BACKENDS, four_services

PROPERTY = "asofsvc"
DEADLINE = 15.0
DAY = (datetime.now(UTC) - timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)
H = timedelta(hours=1)


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


def visit(event_id: str, at: datetime, visitor: str, source: str, medium: str) -> ingest_pb2.Event:
    return _event(
        event_id,
        at,
        visitor,
        touchpoint=ingest_pb2.Touchpoint(
            type=ingest_pb2.TOUCHPOINT_TYPE_VISIT,
            landing_url="https://shop.example.com/",
            utm=ingest_pb2.Utm(source=source, medium=medium, campaign="spring"),
        ),
    )


def purchase(event_id: str, at: datetime, visitor: str, units: int) -> ingest_pb2.Event:
    converted = ingest_pb2.Conversion(name="purchase")
    converted.value.CopyFrom(usd(units))
    return _event(event_id, at, visitor, conversion=converted)


def spend(units: int) -> ingest_pb2.RecordSpendRequest:
    return ingest_pb2.RecordSpendRequest(
        rows=[
            ingest_pb2.SpendRow(
                property_id=PROPERTY,
                date=DAY.date().isoformat(),
                source="google",
                medium="cpc",
                campaign="spring",
                cost=usd(units),
            )
        ]
    )


@dataclass
class Moment:
    time: datetime
    position: int
    answers: dict[str, Any]


@dataclass
class AsOfSystem:
    env: dict[str, str]
    addresses: launcher.Addresses
    running: list[RunningService]
    reporting: reporting_pb2_grpc.ReportingServiceStub
    before: Moment
    after: Moment


def answers(
    reporting: reporting_pb2_grpc.ReportingServiceStub, as_of: reporting_pb2.AsOf | None = None
) -> dict[str, Any]:
    """The report kinds with an as-of, their freshness's as-of time cleared."""
    found: dict[str, Any] = {}
    for model in ("last_click", "linear"):
        found[model] = reporting.GetConversionReport(
            reporting_pb2.GetConversionReportRequest(
                property_id=PROPERTY, model=model, as_of=as_of
            ),
            timeout=DEADLINE,
        )
    found["compare"] = reporting.CompareModels(
        reporting_pb2.CompareModelsRequest(
            property_id=PROPERTY, models=["last_click", "linear"], as_of=as_of
        ),
        timeout=DEADLINE,
    )
    found["cost"] = reporting.GetCostReport(
        reporting_pb2.GetCostReportRequest(property_id=PROPERTY, as_of=as_of), timeout=DEADLINE
    )
    found["paths"] = reporting.GetPathReport(
        reporting_pb2.GetPathReportRequest(property_id=PROPERTY, as_of=as_of), timeout=DEADLINE
    )
    found["assisted"] = reporting.GetAssistedConversions(
        reporting_pb2.GetAssistedConversionsRequest(property_id=PROPERTY, as_of=as_of),
        timeout=DEADLINE,
    )
    found["models"] = reporting.ListReportModels(
        reporting_pb2.ListReportModelsRequest(property_id=PROPERTY, as_of=as_of),
        timeout=DEADLINE,
    )
    for answer in found.values():
        freshness = answer.summary.freshness if hasattr(answer, "summary") else None
        if hasattr(answer, "freshness"):
            freshness = answer.freshness
        if freshness is not None:
            freshness.ClearField("as_of_time")
    return found


def moment(reporting: reporting_pb2_grpc.ReportingServiceStub) -> Moment:
    """The live answers now, with the attribution position they reflect and the time."""
    found = answers(reporting)
    positions = {u.upstream: u.position for u in found["last_click"].freshness.upstream_positions}
    now = datetime.now(UTC)
    time.sleep(0.05)  # entries recorded from here on are recorded after `now`
    return Moment(now, positions["attribution"], found)


@pytest.fixture(scope="module", params=BACKENDS)
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AsOfSystem]:
    """The services with two purchases and a day's spend, then late data: a touchpoint
    before the first purchase, and the day's spend corrected."""
    with four_services(request, tmp_path_factory, "asof") as started:
        ingest, reporting, addresses = started.ingest, started.reporting, started.addresses
        first = [
            visit("a1", DAY + 10 * H, "a", "newsletter", "email"),
            purchase("a2", DAY + 12 * H, "a", 100),
            visit("b1", DAY + 13 * H, "b", "google", "cpc"),
            purchase("b2", DAY + 14 * H, "b", 50),
        ]
        assert ingest.TrackEvents(
            ingest_pb2.TrackEventsRequest(events=first), timeout=DEADLINE
        ).accepted_count == len(first)
        ingest.RecordSpend(spend(40), timeout=DEADLINE)
        launcher.wait_for_sync(addresses, timeout=60)
        before = moment(reporting)
        late = [visit("a0", DAY + 8 * H, "a", "google", "cpc")]
        assert (
            ingest.TrackEvents(
                ingest_pb2.TrackEventsRequest(events=late), timeout=DEADLINE
            ).accepted_count
            == 1
        )
        ingest.RecordSpend(spend(55), timeout=DEADLINE)
        launcher.wait_for_sync(addresses, timeout=60)
        after = moment(reporting)
        yield AsOfSystem(started.env, addresses, started.running, reporting, before, after)


def test_the_late_data_changed_the_answers(system: AsOfSystem) -> None:
    before, after = system.before.answers, system.after.answers

    assert before["linear"] != after["linear"]
    assert before["cost"] != after["cost"]
    assert before["paths"] != after["paths"]
    assert system.after.position > system.before.position


def test_as_of_the_moment_before_the_late_data_answers_what_was_answered_then(
    system: AsOfSystem,
) -> None:
    by_time = answers(system.reporting, reporting_pb2.AsOf(time=to_timestamp(system.before.time)))
    by_position = answers(
        system.reporting, reporting_pb2.AsOf(attribution_position=system.before.position)
    )

    assert by_time == system.before.answers
    assert by_position == system.before.answers


def test_as_of_a_later_time_is_the_live_report(system: AsOfSystem) -> None:
    future = reporting_pb2.AsOf(time=to_timestamp(datetime.now(UTC) + timedelta(days=365)))
    largest = reporting_pb2.AsOf(attribution_position=2**64 - 1)

    assert answers(system.reporting, future) == system.after.answers
    assert answers(system.reporting, largest) == system.after.answers


def test_an_as_of_answer_carries_the_recorded_time_it_reflects(system: AsOfSystem) -> None:
    report = system.reporting.GetConversionReport(
        reporting_pb2.GetConversionReportRequest(
            property_id=PROPERTY,
            model="linear",
            as_of=reporting_pb2.AsOf(attribution_position=system.before.position),
        ),
        timeout=DEADLINE,
    )

    recorded = report.freshness.as_of_time.ToDatetime(tzinfo=UTC)
    assert report.freshness.HasField("as_of_time")
    assert recorded <= system.before.time


def test_an_empty_as_of_is_invalid_and_rates_answer_as_of_a_past_moment(
    system: AsOfSystem,
) -> None:
    with pytest.raises(grpc.RpcError) as empty:
        system.reporting.GetConversionReport(
            reporting_pb2.GetConversionReportRequest(
                property_id=PROPERTY, model="linear", as_of=reporting_pb2.AsOf()
            ),
            timeout=DEADLINE,
        )
    rates = system.reporting.GetConversionRateReport(
        reporting_pb2.GetConversionRateReportRequest(
            property_id=PROPERTY,
            as_of=reporting_pb2.AsOf(attribution_position=system.before.position),
        ),
        timeout=DEADLINE,
    )

    assert empty.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert rates.freshness.HasField("as_of_time")
    assert rates.freshness.as_of_time.ToDatetime(tzinfo=UTC) <= system.before.time


def test_the_command_reports_as_of_a_position(
    system: AsOfSystem, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "report.json"
    status = main(
        [
            "report",
            "conversions",
            "--property",
            PROPERTY,
            "--models",
            "linear",
            "--as-of",
            f"position:{system.before.position}",
            "--format",
            "json",
            "--output",
            str(output),
            "--addr",
            system.addresses.reporting,
        ]
    )

    assert status == 0, capsys.readouterr().err
    scope = json.loads(output.read_text())
    assert scope["upstream_positions"]["attribution"] == system.before.position
    assert scope["as_of"].startswith(f"attribution position {system.before.position}")
