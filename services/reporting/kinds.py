"""Report kinds as a table: each kind's name to the query object's method that answers it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.reporting.application import ReportingApplication
from services.reporting.metrics import MetricsReports
from services.reporting.outcome_reports import OutcomeReports
from services.reporting.path_reports import PathReports
from services.reporting.person_reports import PersonReports


@dataclass(frozen=True, slots=True)
class ReportKind:
    """How a server answers one kind of report: `answer` (None when the server has no views
    for it) and what to say then. Every answer carries its freshness."""

    answer: Callable[..., Any] | None
    unavailable: str = ""


def report_kinds(
    app: ReportingApplication,
    metrics: MetricsReports | None = None,
    paths: PathReports | None = None,
    outcomes: OutcomeReports | None = None,
    people: PersonReports | None = None,
) -> dict[str, ReportKind]:
    """The kinds a server answers with these query objects, by the name its latency is
    recorded under."""
    no_metrics = "this server has no spend or sessions"
    no_paths = "this server has no path views"
    no_people = "this server has no person views"
    return {
        "conversion_report": ReportKind(app.conversion_report),
        "compare_models": ReportKind(app.compare_models),
        "cost_report": ReportKind(None if metrics is None else metrics.cost_report, no_metrics),
        "rate_report": ReportKind(None if metrics is None else metrics.rate_report, no_metrics),
        "path_report": ReportKind(None if paths is None else paths.top_paths, no_paths),
        "path_distribution": ReportKind(None if paths is None else paths.distribution, no_paths),
        "assisted_conversions": ReportKind(None if paths is None else paths.assisted, no_paths),
        "outcome_report": ReportKind(
            None if outcomes is None else outcomes.outcome_report,
            "this server has no outcome views",
        ),
        "funnel": ReportKind(None if people is None else people.funnel, no_people),
        "cohorts": ReportKind(None if people is None else people.cohorts, no_people),
    }
