"""Ending a conversion's current rows (a new attribution revision) finds them by property and
conversion through an index, on both databases, so the projection does not slow down as the
views grow; views made before the index existed (before generations) are replaced by a
generation that has it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, inspect, text

from bench.reporting_queries import attribution_log
from common.follower import UpstreamEntry
from services.reporting import schema
from services.reporting.domainmodel import ReportingInput
from services.reporting.generations import ReportViews
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.server import ReportingSettings, migrate, open_views
from services.reporting.views import (
    VIEWS_SCHEMA,
    conversion_credits,
    conversion_paths,
    metadata,
)
from tests.conftest import Storage

TABLES = (conversion_credits, conversion_paths)
"""The largest views. (conversion_path_channels has the same index, but on a table this
small PostgreSQL without statistics ties it with the (property, name, time) one and may
pick either; unconsented_conversions' primary key starts with property and conversion.)"""


@pytest.fixture
def views(storage: Storage) -> Iterator[ReportViews]:
    settings = ReportingSettings(database_url=storage.database_url, data_dir=storage.data_dir)
    views = open_views(settings)
    yield views
    views.engine.dispose()


@pytest.fixture
def engine(storage: Storage, views: ReportViews) -> Engine:
    migrate(ReportingSettings(database_url=storage.database_url, data_dir=storage.data_dir))
    return views.engine


def _load(engine: Engine, conversions: int) -> None:
    projection = ConversionCreditsProjection(engine)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    page: list[UpstreamEntry[ReportingInput | None]] = [
        UpstreamEntry(n + 1, value, recorded_at=start + timedelta(seconds=n))
        for n, value in enumerate(attribution_log(conversions))
    ]
    for first in range(0, len(page), 500):
        projection.process_page("attribution", page[first : first + 500])


def _qualified(engine: Engine, name: str) -> str:
    """The name in the live generation of the views, for text SQL."""
    with engine.connect() as conn:
        return f"{conn.get_execution_options()['schema_translate_map'][VIEWS_SCHEMA]}.{name}"


def _plan(engine: Engine, table_name: str) -> str:
    table_name = _qualified(engine, table_name)
    update = (
        f"UPDATE {table_name} SET valid_to = 1 WHERE property_id = 'shop-eu' "
        "AND conversion_id = 'c00000001' AND valid_to IS NULL"
    )
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # As the projection sees it while it loads: no fresh planner statistics.
            rows = conn.execute(text(f"EXPLAIN {update}")).scalars()
        else:
            rows = (row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {update}")))
        plan = "\n".join(str(row) for row in rows)
        conn.rollback()
    return plan


def test_a_new_revision_finds_the_current_rows_by_conversion_through_an_index(
    engine: Engine,
) -> None:
    _load(engine, 1500)
    for table in TABLES:
        if engine.dialect.name == "postgresql" and table is not TABLES[0]:
            # Without statistics PostgreSQL costs the (property, name, time) index of the
            # smaller path tables the same as the conversion one and picks either from run to
            # run; conversion_credits (ten rows per conversion) is where the choice matters.
            continue
        plan = _plan(engine, table.name)
        if engine.dialect.name == "postgresql":
            conditions = [line for line in plan.splitlines() if "Index Cond" in line]
            assert conditions and "conversion_id" in conditions[0], plan
        else:
            assert "conversion_id=?" in plan, plan


def test_views_made_before_the_index_gain_it(views: ReportViews) -> None:
    # The views of a version before generations, beside the settings, without the index.
    with views.engine.begin() as legacy:
        translated = legacy.get_execution_options().get("schema_translate_map") or {}
        where = views.schema if views.is_postgres else None
        legacy.execution_options(schema_translate_map={**translated, VIEWS_SCHEMA: where})
        metadata.create_all(legacy)
        legacy.execute(
            text(f"DROP INDEX {where + '.' if where else ''}ix_conversion_credits_live_conversion")
        )

    schema.migrate(views)

    live = views.live()
    assert live is not None
    with views.connect(live) as conn:
        found = inspect(conn).get_indexes("conversion_credits", schema=views.location(live))
    assert "ix_conversion_credits_live_conversion" in {i["name"] for i in found}
    assert schema.autogenerate_diff(views, live) == []
