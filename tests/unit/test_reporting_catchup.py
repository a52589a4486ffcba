"""Catching up several pages per transaction writes the same views as a page per
transaction, for each upstream reporting follows (the catch-up benchmark's logs)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bench.reporting_catchup import identity_log, ingest_log, mixed_logs, run
from bench.reporting_queries import attribution_log
from common.follower import UpstreamEntry
from services.reporting.activity import IngestActivityProjection
from services.reporting.domainmodel import ConversionAttribution
from services.reporting.person_projection import IdentityLinksProjection
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.server import ReportingSettings, build_engine, migrate
from services.reporting.views import metadata
from tests.conftest import POSTGRES_ADMIN_URL, Storage, fresh_postgres_database

ENTRIES = 1_200

LOGS: dict[str, tuple[Callable[[], list[Any]], Callable[[Any], Any]]] = {
    "attribution": (lambda: list(attribution_log(1_100))[:ENTRIES], ConversionCreditsProjection),
    "ingest": (lambda: ingest_log(ENTRIES), IngestActivityProjection),
    "identity": (lambda: identity_log(ENTRIES), IdentityLinksProjection),
}


def _engine(data_dir: Path, database_url: str) -> Engine:
    env = {"CONVTRACK_DATA_DIR": str(data_dir)}
    if database_url:
        env["CONVTRACK_DATABASE_URL"] = database_url
    settings = ReportingSettings.from_env(env)
    migrate(settings)
    return build_engine(settings)


def _views(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every view's rows without `changed_at` (the position of the page that last changed a
    day: where pages end). The filter totals follower does not run here (it would summarise
    thousands of small days per store): its tables are empty on both sides."""
    with engine.connect() as conn:
        return {
            table.name: sorted(
                (
                    tuple(row)
                    for row in conn.execute(select(*(c for c in table.c if c.name != "changed_at")))
                ),
                key=repr,
            )
            for table in metadata.sorted_tables
        }


def _feed(engine: Engine, upstream: str, values: list[Any], per_transaction: int) -> None:
    sink = LOGS[upstream][1](engine)
    entries = [UpstreamEntry(n, v) for n, v in enumerate(values, start=1)]
    for start in range(0, len(entries), per_transaction):
        sink.process_page(upstream, entries[start : start + per_transaction])


@pytest.mark.parametrize("upstream", list(LOGS))
def test_eight_pages_per_transaction_write_what_a_page_per_transaction_writes(
    storage: Storage, tmp_path: Path, upstream: str
) -> None:
    values = LOGS[upstream][0]()
    with ExitStack() as stack:
        # Two separate stores: the storage fixture's, and a second one like it.
        second = ""
        if storage.database_url:
            second = stack.enter_context(fresh_postgres_database(POSTGRES_ADMIN_URL))
        paged = _engine(tmp_path / "paged", storage.database_url)
        batched = _engine(tmp_path / "batched", second)
        stack.callback(paged.dispose)
        stack.callback(batched.dispose)
        _feed(paged, upstream, values, 100)
        _feed(batched, upstream, values, 800)
        by_page, by_batch = _views(paged), _views(batched)
    assert sum(len(rows) for rows in by_page.values()) > len(values)
    assert by_page == by_batch


def test_the_rows_name_each_upstream_and_both_transaction_sizes(storage: Storage) -> None:
    if storage.backend != "sqlite":
        pytest.skip("the bench makes its own fresh storage; one backend is enough here")
    rows = run("sqlite", 600)
    assert [(r.benchmark, r.note.split(" per ")[0]) for r in rows] == [
        (f"reporting catch-up: {upstream}", f"{pages} page(s) of 500")
        for upstream in (*LOGS, "mixed")
        for pages in (1, 8)
    ]
    assert all(r.seconds is not None and r.seconds > 0 for r in rows)


def test_the_mixed_logs_keep_the_demo_samples_proportions_and_share_of_attributions() -> None:
    logs = mixed_logs(43_144)

    assert {name: len(values) for name, values in logs.items()} == {
        "ingest": 19_761,
        "identity": 4_813,
        "attribution": 18_570,
    }
    attributions = [v for v in logs["attribution"] if v is not None]
    assert len(attributions) == 367
    assert all(isinstance(v, ConversionAttribution) for v in attributions)
