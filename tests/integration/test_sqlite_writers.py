"""Two writers of one SQLite file (reporting's two followers): a transaction that read before
it writes waits for the other writer instead of failing with "database is locked", on a plain
engine and on a generation of the report views (an attached file)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Connection, func, insert, select, text

from common.storage import create_sql_engine, writer
from services.reporting import generations, schema
from services.reporting.generations import Connectable, ReportViews
from services.reporting.views import projection_positions


def test_a_writer_that_read_first_waits_for_the_other_writer(tmp_path: Path) -> None:
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'reporting.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE positions (upstream TEXT, position INTEGER)"))
    writes = writer(engine)
    assert _two_writers(writes, writes) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM positions")).scalar() == 2
    engine.dispose()


def test_the_writers_of_a_generation_of_the_views_wait_for_each_other_too(
    tmp_path: Path,
) -> None:
    views = ReportViews(create_sql_engine(f"sqlite:///{tmp_path / 'reporting.db'}"))
    try:
        schema.migrate(views)
        live = views.live()
        assert live is not None
        # The live followers' engine (routed) and a rebuild's (the generation named).
        routed = generations.writer(views.engine)
        named = generations.writer(views.of(live))

        assert _two_writers(routed, named, table=True) == []
        with views.connect(live) as conn:
            count = select(func.count()).select_from(projection_positions)
            assert conn.execute(count).scalar() == 2
    finally:
        views.engine.dispose()


def _two_writers(
    first_writes: Connectable, second_writes: Connectable, table: bool = False
) -> list[BaseException]:
    """The first writer reads, lets the second try to write, then writes; their failures."""
    first_read, second_done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def write(conn: Connection, upstream: str) -> None:
        if table:
            conn.execute(
                insert(projection_positions).values(consumer="test", upstream=upstream, position=1)
            )
        else:
            conn.execute(text(f"INSERT INTO positions VALUES ('{upstream}', 1)"))

    def read(conn: Connection) -> None:
        statement = (
            select(func.count()).select_from(projection_positions)
            if table
            else text("SELECT count(*) FROM positions")
        )
        conn.execute(statement).scalar()

    def first() -> None:
        try:
            with first_writes.begin() as conn:
                read(conn)
                first_read.set()
                # Deferred transactions let the other writer commit now, and this one then
                # fails to write; immediate ones make the other wait until this one commits.
                second_done.wait(timeout=1.0)
                write(conn, "attribution")
        except BaseException as error:
            failures.append(error)

    def second() -> None:
        first_read.wait()
        try:
            with second_writes.begin() as conn:
                write(conn, "ingest")
        except BaseException as error:
            failures.append(error)
        finally:
            second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures
