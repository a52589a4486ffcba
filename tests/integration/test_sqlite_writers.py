"""Two writers of one SQLite file (reporting's two followers): a transaction that read before
it writes waits for the other writer instead of failing with "database is locked"."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from common.storage import create_sql_engine, writer


def test_a_writer_that_read_first_waits_for_the_other_writer(tmp_path: Path) -> None:
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'reporting.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE positions (upstream TEXT, position INTEGER)"))
    writes = writer(engine)
    first_read, second_done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def first() -> None:
        try:
            with writes.begin() as conn:
                conn.execute(text("SELECT count(*) FROM positions")).scalar()
                first_read.set()
                # Deferred transactions let the other writer commit now, and this one then
                # fails to write; immediate ones make the other wait until this one commits.
                second_done.wait(timeout=1.0)
                conn.execute(text("INSERT INTO positions VALUES ('attribution', 1)"))
        except BaseException as error:
            failures.append(error)

    def second() -> None:
        first_read.wait()
        try:
            with writes.begin() as conn:
                conn.execute(text("INSERT INTO positions VALUES ('ingest', 1)"))
        except BaseException as error:
            failures.append(error)
        finally:
            second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM positions")).scalar() == 2
    engine.dispose()
