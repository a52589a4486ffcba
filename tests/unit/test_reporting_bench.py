"""The report query benchmark at its tiny scale: the synthetic log's shape, the views it
loads (with superseded revisions for as-of queries) and one row per query kind. No timing
is asserted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace

from sqlalchemy import func, select

from bench import reporting_queries
from bench.reporting_bulk import bulk_load, view_rows
from bench.reporting_queries import (
    MODELS,
    SCALES,
    attribution_log,
    load,
    log_entries,
    query_kinds,
)
from services.reporting.application import ReportingApplication
from services.reporting.domainmodel import AsOf, ConversionAttribution, GroupBy, ReportQuery
from services.reporting.server import ReportingSettings, build_engine, migrate
from services.reporting.views import (
    conversion_credits,
    conversion_day_counts,
    conversion_day_totals,
    conversion_month_totals,
    conversion_path_channels,
    conversion_paths,
    day_total_zones,
    log_clock,
    projection_positions,
    unconsented_conversions,
)
from tests.conftest import POSTGRES_ADMIN_URL, Storage, fresh_postgres_database

LOADED_VIEWS = (
    conversion_credits,
    unconsented_conversions,
    conversion_paths,
    conversion_path_channels,
    conversion_day_totals,
    conversion_day_counts,
    conversion_month_totals,
    day_total_zones,
    log_clock,
    projection_positions,
)


def _env(storage: Storage) -> dict[str, str]:
    env = {"CONVTRACK_DATA_DIR": str(storage.data_dir)}
    if storage.database_url:
        env["CONVTRACK_DATABASE_URL"] = storage.database_url
    return env


def test_the_synthetic_log_revises_a_share_of_conversions_after_their_first_attribution() -> None:
    entries = [e for e in attribution_log(2000) if isinstance(e, ConversionAttribution)]
    first = [e for e in entries if e.revision == 1]
    revised = [e for e in entries if e.revision == 2]
    assert len(first) == 2000
    assert 100 < len(revised) < 300
    seen: set[str] = set()
    for entry in entries:
        if entry.revision == 2:
            assert entry.conversion_id in seen
        seen.add(entry.conversion_id)
        assert [m.model for m in entry.models] == list(MODELS)
        for model in entry.models:
            assert abs(sum(c.fraction for c in model.credits) - 1.0) < 1e-9
    assert len({e.property_id for e in first}) == len(reporting_queries.PROPERTIES)
    # Skewed: the most common channel of first touches is far above the average share.
    channels = Counter(e.models[0].credits[0].channel for e in first)
    assert channels.most_common(1)[0][1] > 2 * len(first) / len(channels)


def test_tiny_scale_loads_history_and_answers_every_query_kind(storage: Storage) -> None:
    env = _env(storage)
    settings = ReportingSettings.from_env(env)
    migrate(settings)
    engine = build_engine(settings)
    try:
        loaded = load(engine, 300)
        c = conversion_credits.c
        with engine.connect() as conn:
            superseded = conn.execute(
                select(func.count()).select_from(conversion_credits).where(c.valid_to.is_not(None))
            ).scalar_one()
        assert superseded > 0
        reports = ReportingApplication(engine, ("attribution",))
        query = ReportQuery(
            property_id="shop-eu",
            model="linear",
            conversion_name="purchase",
            group_by=GroupBy.CHANNEL,
        )
        live = reports.conversion_report(query)
        early = reports.conversion_report(replace(query, as_of=AsOf(attribution_position=20)))
        assert early.total_conversions < live.total_conversions
        kinds = query_kinds(engine, loaded.last_position)
        timings = reporting_queries.time_queries(kinds, SCALES["tiny"])
        assert [t.kind for t in timings] == list(kinds)
        assert all(len(t.seconds) >= 3 for t in timings)
    finally:
        engine.dispose()


def test_the_rows_name_the_scale_and_the_catch_up_rate(storage: Storage) -> None:
    rows = reporting_queries.run(_env(storage), storage.backend, SCALES["tiny"])
    assert rows[0].benchmark == "reporting projection catch-up"
    assert rows[0].rate.endswith("entries/s")
    assert rows[1].benchmark == "filter totals follower, every day to its end"
    assert rows[1].rate.endswith("credits/s") and "us per credit" in rows[1].note
    assert {row.size for row in rows[2:]} == {"tiny: 600 conv"}
    assert all(row.rate.startswith("p50 ") for row in rows[2:])


@contextmanager
def _second_env(storage: Storage) -> Iterator[dict[str, str]]:
    """Settings on storage of the same backend as `storage`, apart from it."""
    data = str(storage.data_dir.parent / "second")
    if not storage.database_url:
        yield {"CONVTRACK_DATA_DIR": data}
        return
    with fresh_postgres_database(POSTGRES_ADMIN_URL) as url:
        yield {"CONVTRACK_DATA_DIR": data, "CONVTRACK_DATABASE_URL": url}


def test_the_bulk_loader_writes_the_rows_the_projection_writes(storage: Storage) -> None:
    with ExitStack() as stack:
        envs = [_env(storage), stack.enter_context(_second_env(storage))]
        engines = []
        for env in envs:
            settings = ReportingSettings.from_env(env)
            migrate(settings)
            engine = build_engine(settings)
            stack.callback(engine.dispose)
            engines.append(engine)
        projected, bulk = engines
        # The projection's pages as the bench feeds them; the bulk loader's chunks of 40
        # entries, so that most re-attributions end a revision an earlier chunk loaded.
        load(projected, 300)
        bulk_load(bulk, log_entries(300), chunk_size=40)
        with projected.connect() as conn:
            expected = view_rows(conn, LOADED_VIEWS)
        with bulk.connect() as conn:
            found = view_rows(conn, LOADED_VIEWS)
        # The day counts without `changed_at`: the position of the page (or chunk) that last
        # changed a day, and the two load in pages of different sizes.
        for rows in (expected, found):
            counts = rows[conversion_day_counts.name]
            rows[conversion_day_counts.name] = sorted(row[:-1] for row in counts)
        for table in LOADED_VIEWS:
            assert found[table.name] == expected[table.name], table.name
        c = conversion_credits.c
        with bulk.connect() as conn:
            ended = conn.execute(
                select(func.count(func.distinct(c.conversion_id))).where(c.valid_to.is_not(None))
            ).scalar_one()
        assert ended > 10
