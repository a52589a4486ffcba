"""The person views benchmark at a tiny size: its synthetic log's shape and one row per
question. No timing is asserted."""

from __future__ import annotations

from collections import Counter

from bench import person_scale
from bench.person_scale import person_log
from services.reporting.person_values import EventKind
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
