"""Reports under participation say that credits exceed conversions, and count them right."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Engine

from services.reporting.application import ReportingApplication
from services.reporting.domainmodel import ModelCredits, ReportQuery
from services.reporting.projections import ConversionCreditsProjection
from tests.unit.test_reporting_projection import (
    EMAIL,
    PROPERTY,
    SEARCH,
    attribution,
    credit,
    engine,
    feed,
    projection,
    views,
)

__all__ = ["engine", "projection", "views"]


def participating(conversion_id: str, journey: list[tuple[str, str, str, str]]) -> object:
    base = attribution(conversion_id, journey)
    everyone = ModelCredits("participation", tuple(credit(t, 1.0, 30_000_000) for t in journey))
    return replace(base, models=(*base.models, everyone))


def test_participation_reports_distinct_conversions_and_says_credits_exceed_them(
    projection: ConversionCreditsProjection, engine: Engine
) -> None:
    feed(
        projection,
        [participating("c1", [SEARCH, EMAIL]), participating("c2", [EMAIL])],  # type: ignore[list-item]
    )
    app = ReportingApplication(engine)
    report = app.conversion_report(ReportQuery(PROPERTY, "participation"))
    assert report.exceeds_conversions
    assert report.total_conversions == 2.0
    shares = {row.group: row.share for row in report.rows}
    assert shares == {"email": 1.0, "paid_search": 0.5}

    linear = app.conversion_report(ReportQuery(PROPERTY, "linear"))
    assert not linear.exceeds_conversions
    assert linear.total_conversions == 2.0
    comparison = app.compare_models(ReportQuery(PROPERTY, "linear"), ["linear", "participation"])
    assert comparison.exceeding_models == ("participation",)
