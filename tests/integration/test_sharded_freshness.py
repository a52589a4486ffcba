"""Freshness of every attribution-based report kind when reporting's followers run in shards:
a report says the positions of its property's shard, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from common.follower import UpstreamEntry
from common.shards import ShardSink, shard_of, shard_tracking_name
from services.reporting.activity import IngestActivityProjection
from services.reporting.application import ReportingApplication
from services.reporting.domainmodel import AsOf, ConfiguredModels, MetricsQuery, ReportQuery
from services.reporting.generations import ReportViews
from services.reporting.metrics import MetricsReports
from services.reporting.outcome_reports import OutcomeQuery, OutcomeReports
from services.reporting.path_reports import PathReports
from services.reporting.path_values import DistributionKind, PathQuery
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.server import ReportingSettings, migrate, open_views
from tests.conftest import Storage
from tests.integration.test_reporting_as_of import CLOCK, PROPERTY, TWO, attribution, spend

SHARDS = 2
OWN = shard_of(PROPERTY, SHARDS)
OTHER = 1 - OWN


@pytest.fixture
def engine(storage: Storage) -> Iterator[Engine]:
    settings = ReportingSettings(database_url=storage.database_url, data_dir=storage.data_dir)
    migrate(settings)
    views: ReportViews = open_views(settings)
    yield views.engine
    views.engine.dispose()


def _entries(values: list[Any], first: int) -> list[UpstreamEntry[Any]]:
    return [UpstreamEntry(first + k, value, recorded_at=CLOCK) for k, value in enumerate(values)]


def test_every_report_kind_says_its_propertys_shard_position_not_the_unsharded_one(
    engine: Engine,
) -> None:
    credits = ConversionCreditsProjection(engine)
    activity = IngestActivityProjection(engine)
    # One follower read attribution's log to 3 and ingest's to 1, then reporting moved to
    # two shards: the property's shard reads on to 9 and 3, the other one only to 4 and 2
    # (entries of other shards' properties are None to a shard).
    credits.process_page(
        "attribution",
        _entries([ConfiguredModels("*", TWO), attribution(0, 1, TWO), attribution(1, 1, TWO)], 1),
    )
    activity.process_page("ingest", _entries([spend(0, "paid_search", 40)], 1))
    sharded_credits = ShardSink(credits, "attribution")
    sharded_activity = ShardSink(activity, "ingest")
    sharded_credits.process_page(
        shard_tracking_name("attribution", OWN, SHARDS),
        _entries([attribution(n, 1, TWO) for n in range(2, 8)], 4),
    )
    sharded_credits.process_page(
        shard_tracking_name("attribution", OTHER, SHARDS), _entries([None], 4)
    )
    sharded_activity.process_page(
        shard_tracking_name("ingest", OWN, SHARDS),
        _entries([spend(1, "email", 10), spend(2, "referral", 7)], 2),
    )
    sharded_activity.process_page(shard_tracking_name("ingest", OTHER, SHARDS), _entries([None], 2))
    attribution_at = {"attribution": 9}

    app = ReportingApplication(engine, ("attribution",), shards=SHARDS)
    metrics = MetricsReports(engine, shards=SHARDS)
    paths = PathReports(engine, shards=SHARDS)
    outcomes = OutcomeReports(engine, shards=SHARDS)
    freshness = {
        "conversions": app.conversion_report(ReportQuery(PROPERTY, "last_click")).freshness,
        "compare": app.compare_models(ReportQuery(PROPERTY, ""), TWO).freshness,
        "cost": metrics.cost_report(MetricsQuery(PROPERTY)).freshness,
        "paths": paths.top_paths(PathQuery(PROPERTY)).totals.freshness,
        "lengths": paths.distribution(
            PathQuery(PROPERTY), DistributionKind.PATH_LENGTH
        ).totals.freshness,
        "assisted": paths.assisted(PathQuery(PROPERTY)).totals.freshness,
        "outcomes": outcomes.outcome_report(OutcomeQuery(PROPERTY)).freshness,
    }

    positions = {kind: dict(found.positions) for kind, found in freshness.items()}
    assert positions == {
        "conversions": attribution_at,
        "compare": attribution_at,
        "cost": {**attribution_at, "ingest": 3},
        "paths": attribution_at,
        "lengths": attribution_at,
        "assisted": attribution_at,
        "outcomes": attribution_at,
    }


def test_an_as_of_position_the_unsharded_follower_passed_but_the_shard_did_not_is_not_live(
    engine: Engine,
) -> None:
    credits = ConversionCreditsProjection(engine)
    # The single follower stopped at 3; the property's shard read on to 9.
    credits.process_page(
        "attribution",
        _entries([ConfiguredModels("*", TWO), attribution(0, 1, TWO), attribution(1, 1, TWO)], 1),
    )
    ShardSink(credits, "attribution").process_page(
        shard_tracking_name("attribution", OWN, SHARDS),
        _entries([attribution(n, 1, TWO) for n in range(2, 8)], 4),
    )
    at_five = AsOf(attribution_position=5)

    app = ReportingApplication(engine, ("attribution",), shards=SHARDS)
    paths = PathReports(engine, shards=SHARDS)
    report = app.conversion_report(ReportQuery(PROPERTY, "last_click", as_of=at_five))
    totals = paths.top_paths(PathQuery(PROPERTY, as_of=at_five)).totals
    live = paths.top_paths(PathQuery(PROPERTY)).totals

    # Position 5 is past what the views reflected when one follower ran, not past what they
    # reflect now: the answers are as of 5 (conversions 0 to 3), not live (0 to 7).
    assert dict(report.freshness.positions) == {"attribution": 5}
    assert report.freshness.as_of_time is not None
    assert dict(totals.freshness.positions) == {"attribution": 5}
    assert (totals.conversions, live.conversions) == (4, 8)
