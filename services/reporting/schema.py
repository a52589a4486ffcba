"""Reporting's schema under Alembic: upgrading the settings tables and each generation of the
views to their newest revisions (`convtrack migrate`), and checking them at start."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, create_engine, inspect, text
from sqlalchemy.pool import NullPool

from common.eventlog import MissingTablesError
from common.storage import create_sql_engine
from services.reporting.generations import BUILDING, LIVE, ReportViews
from services.reporting.views import metadata, settings_metadata

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
SETTINGS = "settings"
VIEWS = "views"
BASELINE_SETTINGS_REVISION = "s0001"
"""The settings revision that describes what existed before Alembic (property_settings)."""


def unqualified_views() -> MetaData:
    """The view tables without their placeholder schema: as they are inside a generation
    (what the views migrations create, and what autogenerate compares a generation with)."""
    plain = MetaData()
    for table in metadata.sorted_tables:
        # None takes the (blank) schema of `plain`; the stubs know only strings.
        table.to_metadata(plain, schema=None)  # type: ignore[arg-type]
    return plain


def run_migrations(context: Any, target: MetaData) -> None:
    """The body of both env.py files: migrate the connection the caller handed over."""
    connection: Connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _config(kind: str, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS / kind))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head(kind: str) -> str:
    """The newest revision of `kind` (SETTINGS or VIEWS)."""
    found = ScriptDirectory.from_config(_config(kind)).get_current_head()
    assert found is not None
    return found


@contextmanager
def _engine_for(views: ReportViews, generation: int | None) -> Iterator[Engine]:
    """A plain engine (no routing, no pool) whose default schema is the settings' (None)
    or a generation's: Alembic's revisions name no schema."""
    if views.is_postgres:
        location = views.schema if generation is None else views.location(generation)
        url = views.engine.url.render_as_string(hide_password=False)
        engine = create_engine(
            url, poolclass=NullPool, connect_args={"options": f"-csearch_path={location}"}
        )
    else:
        assert views.sqlite_path is not None
        path = views.sqlite_path if generation is None else views.sqlite_file(generation)
        engine = create_sql_engine(f"sqlite:///{path}")
    try:
        yield engine
    finally:
        engine.dispose()


def revision_of(views: ReportViews, generation: int | None = None) -> str | None:
    """The revision the settings tables (None) or a generation's views are at."""
    with _engine_for(views, generation) as engine, engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _upgrade(views: ReportViews, kind: str, generation: int | None) -> None:
    with _engine_for(views, generation) as engine, engine.begin() as conn:
        command.upgrade(_config(kind, conn), "head")


def upgrade_generation(views: ReportViews, generation: int) -> None:
    """Brings a generation's view tables to the newest revision (creating them when new)."""
    _upgrade(views, VIEWS, generation)


LEGACY_VIEWS = (
    "conversion_credits",
    "configured_models",
    "unconsented_conversions",
    "projection_positions",
    "spend",
    "sessions",
    "session_visitors",
    "conversion_paths",
    "conversion_path_channels",
    "conversion_stages",
    "log_clock",
    "person_events",
    "visitor_first_touches",
    "retracted_conversions",
    "identity_links",
)
"""The view tables that versions before generations kept beside the settings."""


def _adopt_legacy(views: ReportViews) -> None:
    """A database from before Alembic: its settings tables are the baseline revision, and
    its views (rebuildable) are dropped; a new generation replays the logs from 0."""
    with _engine_for(views, None) as engine, engine.begin() as conn:
        tables = set(inspect(conn).get_table_names())
        if "alembic_version" in tables:
            return
        legacy = [t for t in LEGACY_VIEWS if t in tables]
        for name in legacy:
            conn.execute(text(f'DROP TABLE "{name}"'))
        if legacy:
            log.warning(
                "dropped the report views of a version before generations (%s): a new "
                "generation replays the logs from position 0",
                ", ".join(legacy),
            )
        if "property_settings" in tables:
            command.stamp(_config(SETTINGS, conn), BASELINE_SETTINGS_REVISION)


def migrate(views: ReportViews) -> None:
    """Upgrades the settings tables and every live or building generation to the newest
    revisions, and creates the first generation (live, empty: the followers replay the logs
    into it) when there is none. Safe to run again."""
    _adopt_legacy(views)
    _upgrade(views, SETTINGS, None)
    generations = views.generations()
    for generation in generations:
        if generation.status in (LIVE, BUILDING):
            upgrade_generation(views, generation.number)
    if not any(g.status == LIVE for g in generations):
        views.create(LIVE)


def check(views: ReportViews) -> None:
    """Raises MissingTablesError, saying what to run, unless the settings tables and the
    live generation are at the newest revisions (a service started without DDL)."""
    settings = revision_of(views)
    wanted = head(SETTINGS)
    if settings != wanted:
        raise MissingTablesError(
            f"reporting's tables are at revision {settings or 'none (not created)'}, this "
            f"version needs {wanted}: run `convtrack migrate` first"
        )
    live = views.live()
    if live is None:
        raise MissingTablesError(
            "reporting has no live generation of its views: run `convtrack migrate` first"
        )
    found, wanted = revision_of(views, live), head(VIEWS)
    if found != wanted:
        raise MissingTablesError(
            f"the report views (generation {live}) are at revision {found or 'none'}, this "
            f"version needs {wanted}: run `convtrack migrate` first"
        )


def autogenerate_diff(views: ReportViews, generation: int | None = None) -> list[Any]:
    """Alembic's differences between the database and the tables' definitions: the settings
    tables (None) or a generation's views, and the differences of partial indexes' WHERE
    clauses, which Alembic's autogenerate does not compare. Empty when the revisions match
    the code."""
    from alembic.autogenerate import compare_metadata

    target = settings_metadata if generation is None else unqualified_views()
    with _engine_for(views, generation) as engine, engine.connect() as conn:
        context = MigrationContext.configure(conn)
        return [*compare_metadata(context, target), *partial_index_differences(conn, target)]


def partial_index_differences(conn: Connection, target: MetaData) -> list[tuple[Any, ...]]:
    """("modify_index_where", table, index, in the database, in the definitions) for each
    index of `target` whose WHERE clause (`sqlite_where` / `postgresql_where`) differs from
    the database's, compared as text without case, brackets or repeated spaces. Indexes
    missing on either side are left to Alembic's comparison."""
    option = f"{conn.dialect.name}_where"
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    found: list[tuple[Any, ...]] = []
    for table in target.sorted_tables:
        if table.name not in existing:
            continue
        stored = {
            index["name"]: _where_text(index.get("dialect_options", {}).get(option))
            for index in inspector.get_indexes(table.name)
        }
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            if index.name not in stored:
                continue
            wanted = _where_text(index.dialect_kwargs.get(option))
            if stored[index.name] != wanted:
                found.append(
                    ("modify_index_where", table.name, index.name, stored[index.name], wanted)
                )
    return found


def _where_text(clause: Any) -> str | None:
    if clause is None:
        return None
    plain = " ".join(str(clause).replace("(", " ").replace(")", " ").split()).lower()
    return plain or None


def draft_revision(kind: str, rev_id: str, message: str) -> None:
    """Writes a draft revision of `kind` (SETTINGS or VIEWS) from what the table definitions
    have and the newest revision lacks (Alembic's autogenerate on a scratch SQLite file):
    `python -c 'from services.reporting.schema import draft_revision;
    draft_revision("views", "v0002", "credits valid from")'`. Read and tidy it before use."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        engine = create_sql_engine(f"sqlite:///{Path(scratch) / 'draft.db'}")
        try:
            with engine.begin() as conn:
                command.upgrade(_config(kind, conn), "head")
                command.revision(
                    _config(kind, conn), message=message, autogenerate=True, rev_id=rev_id
                )
        finally:
            engine.dispose()
