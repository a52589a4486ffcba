"""Reporting's schema under Alembic and its generations of views: migrations equal the table
definitions, a service on an unmigrated or outdated database says what to run, a database
from before generations keeps its settings, and a rebuild while serving never answers a
blank or smaller report and ends equal to a fresh replay of all three logs (ingest, identity,
attribution); on SQLite and PostgreSQL, with one shard and with two."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from sqlalchemy import func, insert, select, text

from common.audit import open_audit_log
from common.eventlog import MissingTablesError
from common.server import RunningService
from common.wire import to_timestamp
from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from convtrack.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services import launcher
from services.cli import main
from services.reporting import schema
from services.reporting.filter_totals import summarise_all
from services.reporting.generations import LIVE, ReportViews
from services.reporting.server import (
    ReportingSettings,
    database_of,
    migrate,
    open_views,
    rebuild_reports,
    start,
)
from services.reporting.views import (
    VIEWS_SCHEMA,
    conversion_credits,
    conversion_day_counts,
    conversion_day_totals,
    conversion_month_totals,
    filter_summarised_days,
    identity_links,
    log_clock,
    metadata,
    person_events,
    projection_positions,
    property_settings,
    session_starts,
    spend,
)
from tests.conftest import Storage, fresh_postgres_database

PROPERTY = "genshop"
DEADLINE = 15.0
DAY = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
SOURCES = (("google", "cpc"), ("newsletter", "email"), ("facebook", "social"))
MAX_SENT = 1000


@pytest.fixture
def settings(storage: Storage) -> ReportingSettings:
    return ReportingSettings(
        database_url=storage.database_url, data_dir=storage.data_dir, create_tables=False
    )


@pytest.fixture
def views(settings: ReportingSettings) -> Iterator[ReportViews]:
    views = open_views(replace(settings, create_tables=True))
    yield views
    views.engine.dispose()


def test_migrations_from_empty_equal_the_table_definitions(views: ReportViews) -> None:
    schema.migrate(views)

    live = views.live()
    assert live == 1
    assert schema.revision_of(views) == schema.head(schema.SETTINGS)
    assert schema.revision_of(views, live) == schema.head(schema.VIEWS)
    assert schema.autogenerate_diff(views) == []
    assert schema.autogenerate_diff(views, live) == []
    schema.check(views)


def test_the_diff_with_the_definitions_sees_a_partial_index_that_lost_or_changed_its_where(
    views: ReportViews,
) -> None:
    # Alembic's autogenerate compares an index's columns, not its WHERE: ours does.
    schema.migrate(views)
    live = views.live()
    assert live is not None
    where = views.location(live)

    def replace_index(table: str, index: str, definition: str) -> None:
        # SQLite names the index's schema, PostgreSQL the table's.
        on = f"{where}.{table}" if views.is_postgres else table
        named = index if views.is_postgres else f"{where}.{index}"
        conn.exec_driver_sql(f"DROP INDEX {where}.{index}")
        conn.exec_driver_sql(f"CREATE INDEX {named} ON {on} {definition}")

    with views.begin(live) as conn:
        replace_index(
            "conversion_credits",
            "ix_conversion_credits_history",
            "(property_id, conversion_name, model, occurred_at) WHERE valid_to IS NULL",
        )
        replace_index(
            "conversion_paths",
            "ix_conversion_paths_property_name_time",
            "(property_id, conversion_name, occurred_at)",
        )

    assert schema.autogenerate_diff(views, live) == [
        (
            "modify_index_where",
            "conversion_credits",
            "ix_conversion_credits_history",
            "valid_to is null",
            "valid_to is not null",
        ),
        (
            "modify_index_where",
            "conversion_paths",
            "ix_conversion_paths_property_name_time",
            None,
            "valid_to is null",
        ),
    ]


def test_migrating_again_changes_nothing(views: ReportViews) -> None:
    schema.migrate(views)
    schema.migrate(views)

    assert [(g.number, g.status) for g in views.generations()] == [(1, LIVE)]


def test_the_day_totals_revision_gives_stored_credits_their_fraction_units(
    views: ReportViews,
) -> None:
    # A generation at v0003 holds a linear split of three and a superseded last click.
    schema.migrate(views)
    with schema._engine_for(views, 1) as engine, engine.begin() as conn:
        schema.command.downgrade(schema._config(schema.VIEWS, conn), "v0003")
        for model, index, fraction, valid_to in [
            ("linear", 0, 1 / 3, None),
            ("linear", 1, 1 / 3, None),
            ("linear", 2, 1 / 3, None),
            ("last_click", 0, 1.0, 7),
        ]:
            conn.execute(
                text(
                    "INSERT INTO conversion_credits (property_id, conversion_id, model, "
                    "credit_index, conversion_name, occurred_at, channel, source, medium, "
                    "campaign, fraction, value_micros, currency_code, revision, valid_from, "
                    "valid_to) VALUES ('shop', 'c1', :model, :index, 'purchase', "
                    "'2025-03-01 12:00:00+00:00', 'email', '', '', '', :fraction, 5, 'EUR', 1, "
                    "1, :valid_to)"
                ),
                {"model": model, "index": index, "fraction": fraction, "valid_to": valid_to},
            )

    schema.migrate(views)

    with views.connect(1) as conn:
        units = conn.execute(
            select(conversion_credits.c.model, conversion_credits.c.fraction_units).order_by(
                conversion_credits.c.model, conversion_credits.c.credit_index
            )
        ).all()
    assert [tuple(row) for row in units] == [
        ("last_click", 1_000_000_000),
        ("linear", 333_333_334),
        ("linear", 333_333_333),
        ("linear", 333_333_333),
    ]
    assert schema.revision_of(views, 1) == schema.head(schema.VIEWS)


def test_the_catch_up_revision_keeps_the_day_rows_in_their_key_alone_on_sqlite(
    views: ReportViews,
) -> None:
    # A generation at v0005 holds a day total and a day count.
    schema.migrate(views)
    with schema._engine_for(views, 1) as engine, engine.begin() as conn:
        schema.command.downgrade(schema._config(schema.VIEWS, conn), "v0005")
        conn.exec_driver_sql(
            "INSERT INTO conversion_day_totals VALUES "
            "('shop', 'purchase', 'linear', 'channel', 20000, 'email', 'EUR', 3, 5, 0, 1, 2)"
        )
        conn.exec_driver_sql(
            "INSERT INTO conversion_day_counts VALUES ('shop', 'purchase', 'linear', 20000, 2, 1)"
        )

    schema.migrate(views)

    with views.connect(1) as conn:
        totals = conn.execute(select(conversion_day_totals)).all()
        counts = conn.execute(select(conversion_day_counts)).all()
        if not views.is_postgres:
            definitions = conn.exec_driver_sql(
                f"SELECT sql FROM {views.location(1)}.sqlite_master WHERE name IN "
                "('conversion_day_totals', 'conversion_day_counts')"
            ).scalars()
            assert [d.endswith("WITHOUT ROWID") for d in definitions] == [True, True]
    assert [tuple(row) for row in totals] == [
        ("shop", "purchase", "linear", "channel", 20000, "email", "EUR", 3, 5, 0, 1, 2)
    ]
    # (changed at 0 since revision v0010)
    assert [tuple(row) for row in counts] == [("shop", "purchase", "linear", 20000, 2, 1, 0)]
    assert schema.revision_of(views, 1) == schema.head(schema.VIEWS)


def test_the_funnel_prefix_revision_orders_event_names_by_code_point_on_postgresql(
    views: ReportViews,
) -> None:
    # Migrated, taken back below the revision and migrated again.
    schema.migrate(views)
    with schema._engine_for(views, 1) as engine, engine.begin() as conn:
        schema.command.downgrade(schema._config(schema.VIEWS, conn), "v0006")
    before = _name_time_index(views)
    schema.migrate(views)

    after = _name_time_index(views)

    if views.is_postgres:
        assert "text_pattern_ops" not in before
        assert "(property_id, kind, name text_pattern_ops, occurred_us)" in after
    else:
        assert before == after
        assert "(property_id, kind, name, occurred_us)" in after.replace('"', "")


def _name_time_index(views: ReportViews) -> str:
    with views.connect(1) as conn:
        if views.is_postgres:
            query = (
                "SELECT indexdef FROM pg_indexes WHERE schemaname = :schema "
                "AND indexname = 'ix_person_events_property_kind_name_time'"
            )
            return str(conn.execute(text(query), {"schema": views.location(1)}).scalar_one())
        return str(
            conn.exec_driver_sql(
                f"SELECT sql FROM {views.location(1)}.sqlite_master "
                "WHERE name = 'ix_person_events_property_kind_name_time'"
            ).scalar_one()
        )


def test_a_service_on_an_unmigrated_database_says_to_run_migrate(
    settings: ReportingSettings,
) -> None:
    with pytest.raises(MissingTablesError, match="convtrack migrate"):
        start(replace(settings, listen="127.0.0.1:0", ingest_addr=""))


def test_a_service_on_an_outdated_database_names_the_revisions(
    views: ReportViews, settings: ReportingSettings
) -> None:
    schema.migrate(views)
    with schema._engine_for(views, None) as engine, engine.begin() as conn:
        schema.command.stamp(schema._config(schema.SETTINGS, conn), "s0001")

    with pytest.raises(MissingTablesError, match=r"revision s0001.*needs s0002.*migrate"):
        schema.check(views)


def test_a_database_from_before_generations_keeps_its_settings_and_replays_its_views(
    views: ReportViews,
) -> None:
    # What versions before Alembic created: the views beside the settings, no versions
    # (only the tables those versions had: later ones never existed there).
    with views.engine.begin() as translated:
        current = translated.get_execution_options().get("schema_translate_map") or {}
        legacy = views.schema if views.is_postgres else None
        translated.execution_options(schema_translate_map={**current, VIEWS_SCHEMA: legacy})
        metadata.create_all(
            translated, tables=[t for t in metadata.sorted_tables if t.name in schema.LEGACY_VIEWS]
        )
        property_settings.create(translated)
        translated.execute(
            insert(property_settings).values(
                property_id=PROPERTY, time_zone="Europe/Berlin", updated_at=DAY
            )
        )
        translated.execute(
            insert(projection_positions).values(
                consumer="conversion_credits", upstream="attribution", position=42
            )
        )

    schema.migrate(views)

    assert schema.autogenerate_diff(views) == []
    with views.engine.connect() as conn:
        assert conn.execute(select(property_settings.c.time_zone)).scalar_one() == ("Europe/Berlin")
        assert conn.execute(select(func.count()).select_from(projection_positions)).scalar() == 0


# -- rebuilding while serving ----------------------------------------------------------------


@dataclass
class System:
    env: dict[str, str]
    addresses: launcher.Addresses
    running: list[RunningService]
    ingest: ingest_pb2_grpc.IngestServiceStub
    reporting: reporting_pb2_grpc.ReportingServiceStub

    def settings(self) -> ReportingSettings:
        return ReportingSettings.from_env(self.env)


@pytest.fixture(
    params=[
        "sqlite",
        "sqlite-2-shards",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("postgres-2-shards", marks=pytest.mark.postgres),
    ]
)
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    env = {
        "CONVTRACK_DATA_DIR": str(tmp_path_factory.mktemp("generations") / "data"),
        # The replaced generation stays, so that the test can look at it.
        "REPORTING_REBUILD_GRACE_SECONDS": "600",
    }
    if request.param.endswith("2-shards"):
        env["REPORTING_SHARDS"] = "2"
    with ExitStack() as cleanup:
        if request.param.startswith("postgres"):
            admin_url = request.getfixturevalue("postgres_admin_url")
            env["CONVTRACK_DATABASE_URL"] = cleanup.enter_context(
                fresh_postgres_database(admin_url)
            )
            env["INGEST_VAULT_SECRET"] = secrets.token_hex(32)
        running, addresses = launcher.start_all(env, any_port=True)
        cleanup.callback(launcher.stop_all, running)
        ingest = cleanup.enter_context(grpc.insecure_channel(addresses.ingest))
        reporting = cleanup.enter_context(grpc.insecure_channel(addresses.reporting))
        yield System(
            env,
            addresses,
            running,
            ingest_pb2_grpc.IngestServiceStub(ingest),
            reporting_pb2_grpc.ReportingServiceStub(reporting),
        )


def journeys(first: int, count: int) -> list[ingest_pb2.Event]:
    """Visitors `first` to `first + count - 1`: a campaign visit, then a purchase of 10 USD
    (and every third visitor a second visit from another source before buying)."""
    events = []
    for n in range(first, first + count):
        visitor, at = f"v{n}", DAY + timedelta(minutes=n)
        sources = [SOURCES[n % 3]] + ([SOURCES[(n + 1) % 3]] if n % 3 == 0 else [])
        for k, (source, medium) in enumerate(sources):
            events.append(
                _event(
                    f"t{n}-{k}",
                    at + timedelta(seconds=k),
                    visitor,
                    touchpoint=ingest_pb2.Touchpoint(
                        type=ingest_pb2.TOUCHPOINT_TYPE_VISIT,
                        landing_url="https://shop.example.com/",
                        utm=ingest_pb2.Utm(source=source, medium=medium),
                    ),
                )
            )
        purchase = ingest_pb2.Conversion(name="purchase")
        purchase.value.CopyFrom(common_pb2.Money(currency_code="USD", units=10))
        # Every fourth buyer is logged in, two visitors to a user: identity links them.
        user = f"u{n // 8}" if n % 4 == 0 else ""
        events.append(
            _event(f"c{n}", at + timedelta(seconds=30), visitor, user, conversion=purchase)
        )
    return events


def _event(
    event_id: str, at: datetime, visitor: str, user: str = "", **kind: object
) -> ingest_pb2.Event:
    message = ingest_pb2.Event(
        property_id=PROPERTY,
        event_id=event_id,
        identity=ingest_pb2.Identity(anonymous_id=visitor, user_id=user),
        **kind,  # type: ignore[arg-type]
    )
    message.timestamp.CopyFrom(to_timestamp(at))
    return message


def record_spend(system: System, units: int) -> None:
    """Spend on the first source's campaign on DAY: sent again, it supersedes its figure (the
    views keep the old one as history)."""
    source, medium = SOURCES[0]
    cost = common_pb2.Money(currency_code="USD", units=units)
    system.ingest.RecordSpend(
        ingest_pb2.RecordSpendRequest(
            rows=[
                ingest_pb2.SpendRow(
                    property_id=PROPERTY,
                    date=DAY.date().isoformat(),
                    source=source,
                    medium=medium,
                    campaign="spring",
                    cost=cost,
                )
            ]
        ),
        timeout=DEADLINE,
    )


def track(system: System, events: list[ingest_pb2.Event]) -> None:
    tracked = system.ingest.TrackEvents(
        ingest_pb2.TrackEventsRequest(events=events), timeout=DEADLINE
    )
    assert tracked.rejected_count == 0, tracked


def conversions(system: System) -> float:
    report = system.reporting.GetConversionReport(
        reporting_pb2.GetConversionReportRequest(
            property_id=PROPERTY, model="last_click", conversion_name="purchase"
        ),
        timeout=DEADLINE,
    )
    return report.total_conversions


def view_rows(views: ReportViews, generation: int) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every view table of a generation, sorted."""
    found: dict[str, list[tuple[object, ...]]] = {}
    with views.connect(generation) as conn:
        for table in metadata.sorted_tables:
            found[table.name] = sorted(
                (tuple(row) for row in conn.execute(select(table))), key=repr
            )
    return found


def wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_rebuild_while_serving_never_answers_blank_or_less_and_equals_a_fresh_replay(
    system: System,
) -> None:
    # A hundred purchases are in the live views, and spend with a corrected figure.
    record_spend(system, 40)
    track(system, journeys(0, 100))
    record_spend(system, 55)
    launcher.wait_for_sync(system.addresses, timeout=60)
    assert conversions(system) == 100.0

    # A rebuild starts; purchases keep arriving while reports are asked for all along.
    started = system.reporting.RebuildViews(reporting_pb2.RebuildViewsRequest(), timeout=DEADLINE)
    assert (started.generation, started.started) == (2, True)
    again = system.reporting.RebuildViews(reporting_pb2.RebuildViewsRequest(), timeout=DEADLINE)
    assert (again.generation, again.started) == (2, False)
    sending = threading.Event()
    sending.set()
    sent = [100]

    def keep_sending() -> None:
        # At most MAX_SENT purchases: on a loaded machine the rebuild must still catch up with
        # the live views (and the events' times stay in the past).
        while sending.is_set() and sent[0] < MAX_SENT:
            track(system, journeys(sent[0], 10))
            sent[0] += 10
            if sent[0] % 50 == 0:
                record_spend(system, sent[0])
            time.sleep(0.05)

    sender = threading.Thread(target=keep_sending)
    sender.start()
    seen: list[float] = []
    statuses: list[reporting_pb2.GetRebuildStatusResponse] = []
    try:
        while True:
            seen.append(conversions(system))
            status = system.reporting.GetRebuildStatus(
                reporting_pb2.GetRebuildStatusRequest(), timeout=DEADLINE
            )
            statuses.append(status)
            if status.live_generation == 2 and len(seen) > 5:
                break
            assert len(seen) < 5000, "the rebuild never went live"
    finally:
        sending.clear()
        sender.join()

    # Never blank, never fewer purchases than a moment before, never more than were sent.
    assert all(b >= a for a, b in itertools.pairwise(seen)), seen
    assert seen[0] >= 100.0 and seen[-1] <= sent[0]
    building = [s for s in statuses if s.building_generation == 2]
    assert building and building[0].live_generation == 1
    assert {p.upstream for p in building[0].progress} == {"attribution", "ingest", "identity"}
    assert statuses[-1].building_generation == 0 and statuses[-1].HasField("live_since")

    # Once everything sent is processed, the rebuilt generation equals a fresh replay.
    launcher.wait_for_sync(system.addresses, timeout=60)
    assert conversions(system) == float(sent[0])
    views = open_views(system.settings())
    try:
        # The filter totals follower runs to its end on each generation before comparing.
        summarise_all(views.of(2))
        rebuilt = view_rows(views, 2)
        assert len(rebuilt[conversion_credits.name]) > 0
        # It went live with the planner's statistics gathered (autovacuum may be off).
        assert conversion_credits.name in analyzed_tables(views, 2)
        # The history was rebuilt too: superseded spend figures, and the log clock.
        assert any(row[-1] is not None for row in rebuilt[spend.name])
        assert {row[0] for row in rebuilt[log_clock.name]} == {"attribution", "identity", "ingest"}
        # And the views of all three logs: ingest's events, identity's links.
        assert rebuilt[person_events.name] and rebuilt[identity_links.name]
        assert rebuild_reports(system.settings()) == 3
        launcher.wait_for_sync(system.addresses, timeout=60)
        assert views.live() == 3
        summarise_all(views.of(3))
        fresh = view_rows(views, 3)
        assert _without_positions(rebuilt) == _without_positions(fresh)
        # The replaced generation was left as it was when it was swapped out.
        with views.connect(1) as conn:
            assert conn.execute(select(func.count()).select_from(conversion_credits)).scalar()
    finally:
        views.engine.dispose()
    assert conversions(system) == float(sent[0])


def analyzed_tables(views: ReportViews, generation: int) -> set[str]:
    """The tables of a generation that ANALYZE has gathered statistics of."""
    schema = views.location(generation)
    with views.connect(generation) as conn:
        if views.is_postgres:
            found = conn.execute(
                text(
                    "SELECT relname FROM pg_stat_user_tables"
                    " WHERE schemaname = :schema AND last_analyze IS NOT NULL"
                ),
                {"schema": schema},
            )
        else:
            found = conn.exec_driver_sql(f'SELECT tbl FROM "{schema}".sqlite_stat1')
        return {str(row[0]) for row in found}


def _without_positions(rows: dict[str, list[tuple[object, ...]]]) -> dict[str, object]:
    """The rows, with positions per upstream only (the rebuild records them unsharded, a
    sharded replay per shard), and of ingest's log clock only the times of the entries that
    changed spend or a session's start: it also keeps the last entry of each page read, and
    pages differ."""
    positions: dict[str, int] = {}
    for _consumer, upstream, position in rows[projection_positions.name]:
        base = str(upstream).split("/", 1)[0]
        positions[base] = max(positions.get(base, 0), int(position))  # type: ignore[call-overload]
    changes = {
        position
        for table in (spend.name, session_starts.name)
        for row in rows[table]
        for position in row[-2:]
    }
    # Without the day counts' and the filter summaries' `changed_at` (columns 6 and 4): the
    # position of the page that last changed a day, and pages differ.
    for table, column in ((conversion_day_counts.name, 6), (filter_summarised_days.name, 4)):
        rows = {
            **rows,
            table: sorted((r[:column] + r[column + 1 :] for r in rows[table]), key=repr),
        }
    clock = [row for row in rows[log_clock.name] if row[0] != "ingest" or row[1] in changes]
    kept = {k: v for k, v in rows.items() if k not in (projection_positions.name, log_clock.name)}
    return {**kept, "at": positions, log_clock.name: clock}


def test_the_migrate_step_upgrades_the_views_a_service_then_starts_on(
    storage: Storage, settings: ReportingSettings
) -> None:
    migrate(settings)
    running = start(replace(settings, listen="127.0.0.1:0", ingest_addr=""))
    running.stop(0)


@pytest.mark.parametrize("system", ["sqlite"], indirect=True)
def test_the_rebuild_command_waits_until_the_new_views_are_live(
    system: System, capsys: pytest.CaptureFixture[str]
) -> None:
    track(system, journeys(0, 20))
    launcher.wait_for_sync(system.addresses, timeout=60)

    assert main(["rebuild-reports", "--addr", system.addresses.reporting]) == 0

    out = capsys.readouterr().out
    assert "Rebuilding the report views into generation 2." in out
    assert "Generation 2 of the report views is live" in out
    assert conversions(system) == 20.0
    assert main(["rebuild-reports", "--addr", system.addresses.reporting, "--no-wait"]) == 0
    assert "generation 3" in capsys.readouterr().out
    audit = open_audit_log(database_of(system.settings()))
    try:
        recorded = audit.list().records
    finally:
        audit.close()
    assert [(r.rpc, r.outcome) for r in recorded] == [("RebuildViews", "OK")] * 2


def test_the_month_totals_revision_sums_the_stored_day_totals_per_month(
    views: ReportViews,
) -> None:
    # A generation at v0006 holds day totals on 31 January and 1 and 2 February 1970.
    schema.migrate(views)
    with schema._engine_for(views, 1) as engine, engine.begin() as conn:
        schema.command.downgrade(schema._config(schema.VIEWS, conn), "v0006")
        for day, credits in ((30, 1), (31, 2), (32, 4)):
            conn.exec_driver_sql(
                "INSERT INTO conversion_day_totals VALUES ('shop', 'purchase', 'linear', "
                f"'channel', {day}, 'email', 'EUR', {credits}, {credits * 10}, 0, 1, 2)"
            )

    schema.migrate(views)

    with views.connect(1) as conn:
        months = conn.execute(
            select(conversion_month_totals).order_by(conversion_month_totals.c.month)
        ).all()
    assert [tuple(row) for row in months] == [
        ("shop", "purchase", "linear", "channel", 0, "email", "EUR", 1, 10, 0, 1, 2),
        ("shop", "purchase", "linear", "channel", 1, "email", "EUR", 6, 60, 0, 2, 4),
    ]
    assert schema.revision_of(views, 1) == schema.head(schema.VIEWS)


def test_the_filter_totals_revision_stamps_the_day_counts_at_0_and_starts_no_summary(
    views: ReportViews,
) -> None:
    # A generation at v0009 holds a day count.
    schema.migrate(views)
    with schema._engine_for(views, 1) as engine, engine.begin() as conn:
        schema.command.downgrade(schema._config(schema.VIEWS, conn), "v0009")
        conn.exec_driver_sql(
            "INSERT INTO conversion_day_counts VALUES ('shop', 'purchase', 'linear', 20000, 2, 1)"
        )

    schema.migrate(views)

    # Changed at 0 (before any page of attribution's log): stale until summarised.
    with views.connect(1) as conn:
        counts = conn.execute(select(conversion_day_counts)).all()
        assert [tuple(row) for row in counts] == [("shop", "purchase", "linear", 20000, 2, 1, 0)]
        summaries = conn.execute(select(func.count()).select_from(filter_summarised_days))
        assert summaries.scalar() == 0
    assert schema.revision_of(views, 1) == schema.head(schema.VIEWS)
