"""The person views benchmark at a tiny size: its synthetic log's shape and one row per
question. No timing is asserted."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import delete

from bench import person_scale
from bench.person_scale import person_log
from bench.reporting_bulk import view_rows
from bench.reporting_queries import views_engine
from services.reporting.generations import writer
from services.reporting.person_values import EventKind
from services.reporting.views import (
    identity_links,
    person_events,
    projection_positions,
    visitor_first_touches,
)
from tests.conftest import Storage


def test_the_person_log_has_about_the_asked_touchpoints_with_identifies_and_purchases() -> None:
    events = list(person_log(2000))
    kinds = Counter(e.kind for e in events)
    assert 2000 <= kinds[EventKind.TOUCHPOINT] < 2008
    assert kinds[EventKind.IDENTIFY] > 100
    assert kinds[EventKind.CONVERSION] > 50
    assert any(e.name.startswith("/pricing") for e in events)


def test_a_tiny_run_loads_the_person_views_and_asks_every_question(storage: Storage) -> None:
    env = {"CONVTRACK_DATA_DIR": str(storage.data_dir)}
    if storage.database_url:
        env["CONVTRACK_DATABASE_URL"] = storage.database_url
    rows = person_scale.run(env, storage.backend, 600, 1)
    assert rows[0].benchmark.startswith("person views load")
    assert [row.benchmark for row in rows[1:]] == [
        "funnel, 7 days",
        "funnel, 30 days",
        "funnel, 90 days",
        "cohorts, 8 weeks",
        "cohorts, 26 weeks",
    ]
    assert all(row.rate.startswith("p50 ") for row in rows[1:])


def test_the_bulk_load_writes_the_rows_the_projections_write(storage: Storage) -> None:
    env = {"CONVTRACK_DATA_DIR": str(storage.data_dir)}
    if storage.database_url:
        env["CONVTRACK_DATABASE_URL"] = storage.database_url
    tables = (person_events, visitor_first_touches, identity_links, projection_positions)
    with views_engine(env) as engine:
        projected = person_scale.load(engine, 3000)
        with engine.connect() as conn:
            expected = view_rows(conn, tables)
        with writer(engine).begin() as conn:
            for table in tables:
                conn.execute(delete(table))
        bulk = person_scale.bulk_load(engine, 3000)
        with engine.connect() as conn:
            assert view_rows(conn, tables) == expected
    assert (bulk.events, bulk.visitors) == (projected.events, projected.visitors)
    assert len(expected["identity_links"]) > 100
    assert {row[0] for row in expected["projection_positions"]} == {
        "ingest_activity",
        "identity_links",
    }
