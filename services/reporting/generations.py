"""Generations of the report views: where each lives, which one is live, and connections that
read the live one (or a given one).

Every view table (views.metadata) has the placeholder schema VIEWS_SCHEMA. A generation `n`
is a PostgreSQL schema `<service schema>_views_<n>`, or on SQLite a file
`<database>.views-<n>.db` beside the main one, attached to each connection as `views_<n>`.
The settings tables and the `view_generations` pointer stay in the service's own schema or
file. Every connection of an engine with ReportViews installed first reads the pointer and
translates VIEWS_SCHEMA to the live generation, so queries and the live followers need not
know generations exist; a rebuild's followers ask for their generation explicitly.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Dialect, Engine, event, insert, select, update
from sqlalchemy.exc import DBAPIError

from common import storage
from common.storage import SQLITE_COMPANION_SUFFIXES, prepare_sqlite_file
from services.reporting.views import VIEWS_SCHEMA, view_generations

log = logging.getLogger(__name__)

BUILDING = "building"
LIVE = "live"
RETIRED = "retired"
DROPPED = "dropped"
ROUTED = (LIVE, BUILDING)
"""The generations a connection may read: the live one and one being built."""

_ATTACHED = "convtrack_attached_generations"


class Connectable(Protocol):
    """What the projections and queries connect through: an Engine with ReportViews
    installed (the live generation), or a GenerationEngine."""

    @property
    def dialect(self) -> Dialect:
        """The database's dialect."""
        ...

    def connect(self) -> contextlib.AbstractContextManager[Connection]:
        """A connection."""
        ...

    def begin(self) -> contextlib.AbstractContextManager[Connection]:
        """A connection in a transaction."""
        ...


class GenerationError(Exception):
    """A generation change that does not apply to the generations as they are."""


@dataclass(frozen=True, slots=True)
class Generation:
    """One generation of the views, as `view_generations` records it."""

    number: int
    status: str
    created_at: datetime
    swapped_at: datetime | None


class ReportViews:
    """The report views of one reporting database, and the generations they exist in.

    Creating it installs the routing on `engine`: from then on each connection reads the
    live generation (one small query of the pointer as it is checked out). `engine` is
    reporting's engine: an SQLite file, or PostgreSQL with the service's schema as the
    translation of the default schema.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"
        translate = engine.get_execution_options().get("schema_translate_map") or {}
        self.schema: str = translate.get(None) or ("public" if self.is_postgres else "")
        self.sqlite_path = None if self.is_postgres else Path(engine.url.database or "")
        event.listen(engine, "engine_connect", self._route)

    # -- where generations live ---------------------------------------------------------

    def location(self, generation: int) -> str:
        """The schema a generation's tables are in: a PostgreSQL schema, or the name its
        SQLite file is attached under."""
        if self.is_postgres:
            return f"{self.schema}_views_{generation}"
        return f"views_{generation}"

    def sqlite_file(self, generation: int) -> Path:
        """The SQLite file of a generation (SQLite only)."""
        assert self.sqlite_path is not None
        return self.sqlite_path.with_name(f"{self.sqlite_path.stem}.views-{generation}.db")

    # -- connections ---------------------------------------------------------------------

    def _route(self, conn: Connection) -> None:
        """Translates VIEWS_SCHEMA to the live generation on a connection just checked out
        (before it begins a transaction), attaching and detaching SQLite files as needed."""
        if conn.get_execution_options().get("convtrack_unrouted"):
            return
        generations = self._read_pointer(conn)
        live = next((n for n, status in generations.items() if status == LIVE), None)
        if not self.is_postgres:
            self._sync_attached(conn, {n for n, s in generations.items() if s in ROUTED})
        if live is not None:
            self._translate(conn, live)

    def _translate(self, conn: Connection, generation: int) -> None:
        current = dict(conn.get_execution_options().get("schema_translate_map") or {})
        current[VIEWS_SCHEMA] = self.location(generation)
        conn.execution_options(schema_translate_map=current)

    def _read_pointer(self, conn: Connection) -> dict[int, str]:
        """The generations a connection may need, by number (empty before migrations)."""
        if self.is_postgres:
            statement = (
                f'SELECT generation, status FROM "{self.schema}".view_generations '
                f"WHERE status IN ('{LIVE}', '{BUILDING}')"
            )
            try:
                rows = conn.exec_driver_sql(statement).all()
            except DBAPIError:
                rows = []
            conn.rollback()
            return {int(n): str(s) for n, s in rows}
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(
                "SELECT generation, status FROM main.view_generations WHERE status IN (?, ?)",
                (LIVE, BUILDING),
            )
            return {int(n): str(s) for n, s in cursor.fetchall()}
        except sqlite3.OperationalError:
            return {}
        finally:
            cursor.close()

    def _sync_attached(self, conn: Connection, wanted: set[int]) -> None:
        """Attaches the SQLite files of `wanted` generations that exist, and detaches others
        (outside any transaction: the connection has not begun one)."""
        attached: set[int] = conn.info.setdefault(_ATTACHED, set())
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        try:
            for generation in sorted(attached - wanted):
                with contextlib.suppress(sqlite3.OperationalError):
                    cursor.execute(f"DETACH DATABASE {self.location(generation)}")
                attached.discard(generation)
            for generation in sorted(wanted - attached):
                path = self.sqlite_file(generation)
                if not path.exists():
                    continue
                cursor.execute(f"ATTACH DATABASE ? AS {self.location(generation)}", (str(path),))
                attached.add(generation)
        finally:
            cursor.close()

    @contextmanager
    def connect(
        self, generation: int | None = None, *, write: bool = False
    ) -> Iterator[Connection]:
        """A connection whose view tables are those of `generation` (the live one if None);
        with `write`, its transactions take the write lock at once (common.storage.writer)."""
        engine = storage.writer(self.engine) if write else self.engine
        with engine.connect() as conn:
            if generation is not None:
                if not self.is_postgres:
                    attached: set[int] = conn.info.setdefault(_ATTACHED, set())
                    self._sync_attached(conn, attached | {generation})
                self._translate(conn, generation)
            yield conn

    @contextmanager
    def begin(self, generation: int | None = None, *, write: bool = False) -> Iterator[Connection]:
        """A connection in a transaction, committed on leaving (rolled back on an error)."""
        with self.connect(generation, write=write) as conn, conn.begin():
            yield conn

    def of(self, generation: int | None) -> GenerationEngine:
        """What the projections and queries connect through: `generation`'s views (the live
        ones, whichever they are at each connection, if None)."""
        return GenerationEngine(self, generation)

    # -- the pointer ---------------------------------------------------------------------

    def generations(self) -> list[Generation]:
        """Every generation, oldest first."""
        g = view_generations.c
        with self._unrouted() as conn:
            rows = conn.execute(select(view_generations).order_by(g.generation)).mappings()
            return [
                Generation(
                    number=r["generation"],
                    status=r["status"],
                    created_at=_utc(r["created_at"]),
                    swapped_at=_utc(r["swapped_at"]) if r["swapped_at"] else None,
                )
                for r in rows
            ]

    def live(self) -> int | None:
        """The live generation's number (None before the first)."""
        return next((g.number for g in self.generations() if g.status == LIVE), None)

    def building(self) -> int | None:
        """The generation a rebuild follows the logs into, if any."""
        return next((g.number for g in self.generations() if g.status == BUILDING), None)

    @contextmanager
    def _unrouted(self) -> Iterator[Connection]:
        with self.engine.execution_options(convtrack_unrouted=True).connect() as conn:
            yield conn

    def create(self, status: str) -> int:
        """Makes a new, empty generation at the views' newest revision and records it as
        `status` (BUILDING for a rebuild; LIVE only when there is no live one yet, or to
        replace it at once: the old one is then retired). Returns its number."""
        from services.reporting import schema  # imports alembic: only when creating

        number = max((g.number for g in self.generations()), default=0) + 1
        self._create_storage(number)
        schema.upgrade_generation(self, number)
        now = datetime.now(UTC)
        g = view_generations.c
        with self._unrouted() as conn, conn.begin():
            if status == LIVE:
                conn.execute(
                    update(view_generations)
                    .where(g.status == LIVE)
                    .values(status=RETIRED, swapped_at=now)
                )
            elif status == BUILDING:
                building = conn.execute(
                    select(g.generation).where(g.status == BUILDING)
                ).scalar_one_or_none()
                if building is not None:
                    raise GenerationError(f"generation {building} is being built already")
            conn.execute(
                insert(view_generations).values(
                    generation=number, status=status, created_at=now, swapped_at=None
                )
            )
        log.info("created generation %d of the report views (%s)", number, status)
        return number

    def swap(self, building: int) -> int | None:
        """Makes the `building` generation live, retiring the live one (returned) in the
        same transaction: queries move from one complete generation to the other."""
        now = datetime.now(UTC)
        g = view_generations.c
        with self._unrouted() as conn, conn.begin():
            status = conn.execute(
                select(g.status).where(g.generation == building)
            ).scalar_one_or_none()
            if status != BUILDING:
                raise GenerationError(f"generation {building} is {status}, not {BUILDING}")
            old = conn.execute(select(g.generation).where(g.status == LIVE)).scalar_one_or_none()
            conn.execute(
                update(view_generations)
                .where(g.status == LIVE)
                .values(status=RETIRED, swapped_at=now)
            )
            conn.execute(
                update(view_generations)
                .where(g.generation == building)
                .values(status=LIVE, swapped_at=now)
            )
        log.info("generation %d of the report views is live (was %s)", building, old)
        return int(old) if old is not None else None

    def analyze(self, generation: int) -> None:
        """Gathers the query planner's statistics of a generation's tables (ANALYZE): a
        generation loaded in one go, as a rebuild loads it, is queried with good plans at
        once, not only after autovacuum got to it (or never, where autovacuum is off)."""
        from services.reporting.views import metadata

        schema = self.location(generation)
        with self.begin(generation, write=True) as conn:
            if self.is_postgres:
                for table in metadata.sorted_tables:
                    conn.exec_driver_sql(f'ANALYZE "{schema}"."{table.name}"')
            else:
                conn.exec_driver_sql(f'ANALYZE "{schema}"')

    def drop(self, generation: int) -> None:
        """Drops a retired (or abandoned building) generation's tables and records it
        dropped. Never the live one."""
        g = view_generations.c
        with self._unrouted() as conn, conn.begin():
            status = conn.execute(
                select(g.status).where(g.generation == generation)
            ).scalar_one_or_none()
            if status == LIVE:
                raise GenerationError(f"generation {generation} is live")
            conn.execute(
                update(view_generations).where(g.generation == generation).values(status=DROPPED)
            )
        self._drop_storage(generation)
        log.info("dropped generation %d of the report views", generation)

    def _create_storage(self, generation: int) -> None:
        if self.is_postgres:
            with self._unrouted() as conn, conn.begin():
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.location(generation)}"')
            return
        path = self.sqlite_file(generation)
        prepare_sqlite_file(path)
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("PRAGMA journal_mode=WAL")

    def _drop_storage(self, generation: int) -> None:
        if self.is_postgres:
            with self._unrouted() as conn, conn.begin():
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.location(generation)}" CASCADE')
            return
        path = self.sqlite_file(generation)
        for file in (path, *(path.with_name(path.name + s) for s in SQLITE_COMPANION_SUFFIXES)):
            file.unlink(missing_ok=True)


class GenerationEngine:
    """The part of an Engine that the projections and queries use (`connect`, `begin`,
    `dialect`), on one generation of the views or on whichever is live."""

    def __init__(self, views: ReportViews, generation: int | None, write: bool = False) -> None:
        self.views = views
        self.generation = generation
        self.write = write

    def writer(self) -> GenerationEngine:
        """The same views, with write transactions (see `writer`)."""
        return GenerationEngine(self.views, self.generation, write=True)

    @property
    def dialect(self) -> Dialect:
        """The database's dialect."""
        return self.views.engine.dialect

    def connect(self) -> contextlib.AbstractContextManager[Connection]:
        """A connection on this generation's views."""
        return self.views.connect(self.generation, write=self.write)

    def begin(self) -> contextlib.AbstractContextManager[Connection]:
        """A connection in a transaction on this generation's views."""
        return self.views.begin(self.generation, write=self.write)


def writer(engine: Connectable) -> Connectable:
    """What to open write transactions with (common.storage.writer: on SQLite they begin
    IMMEDIATE, so the followers of one file wait for each other), for an Engine or a
    generation's views."""
    if isinstance(engine, GenerationEngine):
        return engine.writer()
    assert isinstance(engine, Engine)
    return storage.writer(engine)


def _utc(moment: Any) -> datetime:
    value: datetime = moment
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
