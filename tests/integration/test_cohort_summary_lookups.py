"""The cohort summary's lookups of a page's persons read each key through an index led by
(property, key), on SQLite and PostgreSQL, with and without planner statistics: a lookup
that reads the property's whole range of an index (as `property_id = ? AND key IN (...)`
was planned on PostgreSQL) costs the catch-up time in proportion to the property's size."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event

from services.reporting.bulk import insert_rows, qualified_name
from services.reporting.cohort_summary import (
    conversion_visitors,
    refresh_persons,
    refresh_visitors,
)
from services.reporting.server import ReportingSettings, migrate, open_views
from services.reporting.views import (
    cohort_conversions,
    cohort_persons,
    conversion_values,
    identity_links,
    person_events,
    visitor_first_touches,
)
from tests.conftest import Storage

PROPERTY = "shop"
PERSONS = 1_500
GROWN = (
    identity_links,
    visitor_first_touches,
    person_events,
    conversion_values,
    cohort_persons,
    cohort_conversions,
)
KEYS = ("identifier", "person_id", "visitor", "record_id", "conversion_id")
"""The columns a lookup may key a grown table by, beside the property."""


@pytest.fixture
def engine(storage: Storage) -> Iterator[Engine]:
    settings = ReportingSettings(database_url=storage.database_url, data_dir=storage.data_dir)
    migrate(settings)
    views = open_views(settings)
    yield views.engine
    views.engine.dispose()


def _load(conn: Connection) -> None:
    """A property of PERSONS persons of two identifiers each (some moved from another person
    before), as many visitors of their own, their first touches, page views, touchpoints and
    conversions (some with an outcome's value)."""
    if conn.dialect.name == "postgresql":
        for table in GROWN:
            # As on this project's server: no statistics unless the test makes them.
            conn.exec_driver_sql(
                f"ALTER TABLE {qualified_name(conn, table)} SET (autovacuum_enabled = false)"
            )
    links, touches, events, values = [], [], [], []
    for n in range(PERSONS):
        for identifier in (f"anon:a{n}", f"email:e{n}"):
            links.append(_link(identifier, f"p{n}", 2, None))
        if n % 5 == 0:
            links.append(_link(f"email:e{n}", f"p{n + 1}", 1, 2))
    for visitor in [f"anon:a{n}" for n in range(PERSONS)] + [f"anon:s{n}" for n in range(PERSONS)]:
        touches.append(
            {
                "property_id": PROPERTY,
                "visitor": visitor,
                "occurred_us": 1_000 * len(touches),
                "record_id": f"t-{visitor}",
                "channel": "email",
                "valid_from": 1,
                "valid_to": None,
            }
        )
        for kind in ("page_view", "touchpoint", "conversion"):
            record = f"{kind}-{visitor}"
            events.append(
                {
                    "property_id": PROPERTY,
                    "record_id": record,
                    "visitor": visitor,
                    "kind": kind,
                    "name": "purchase" if kind == "conversion" else "/",
                    "occurred_us": 2_000 * len(events),
                    "value_micros": 5_000_000,
                    "currency_code": "EUR",
                    "valid_from": 1,
                    "valid_to": None,
                }
            )
            if kind == "conversion" and len(values) < PERSONS // 2:
                values.append(
                    {
                        "property_id": PROPERTY,
                        "conversion_id": record,
                        "value_micros": 7_000_000,
                        "currency_code": "EUR",
                        "valid_from": 3,
                        "valid_to": None,
                    }
                )
    for table, rows in (
        (identity_links, links),
        (visitor_first_touches, touches),
        (person_events, events),
        (conversion_values, values),
    ):
        insert_rows(conn, table, rows)
    # The summary's rows of every person (its first fill).
    refresh_visitors(conn, [], [PROPERTY])


def _link(identifier: str, person: str, start: int, end: int | None) -> dict[str, Any]:
    return {
        "property_id": PROPERTY,
        "identifier": identifier,
        "person_id": person,
        "valid_from": start,
        "valid_to": end,
    }


def _lookups(conn: Connection) -> list[tuple[str, Any]]:
    """The SELECTs (statement, parameters) of recomputing a few persons' summary."""
    seen: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        statement, parameters = args[2], args[3]
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", capture)
    try:
        refresh_visitors(conn, [(PROPERTY, f"anon:a{n}") for n in range(0, PERSONS, 97)])
        refresh_visitors(conn, [(PROPERTY, f"anon:s{n}") for n in range(0, PERSONS, 89)])
        refresh_persons(conn, [(PROPERTY, f"p{n}") for n in range(0, PERSONS, 101)])
        conversion_visitors(conn, [(PROPERTY, f"conversion-anon:a{n}") for n in range(0, 300, 7)])
    finally:
        event.remove(conn, "before_cursor_execute", capture)
    return seen


def _scans(conn: Connection, statement: str, parameters: Any) -> list[tuple[str, str]]:
    """(table, how it is read: the index conditions, or "scan") of each grown table the
    statement reads."""
    names = {t.name for t in GROWN}
    if conn.dialect.name == "sqlite":
        found = []
        for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters):
            words = str(row[-1]).split()
            if len(words) > 1 and words[1] in names:
                found.append((words[1], str(row[-1]) if words[0] == "SEARCH" else "scan"))
        return found
    (plan,) = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).one()
    document = plan if isinstance(plan, list) else json.loads(plan)
    found = []

    def walk(node: dict[str, Any]) -> None:
        children = node.get("Plans", [])
        if node.get("Relation Name") in names:
            conditions = [node.get("Index Cond", "")]
            conditions += [c.get("Index Cond", "") for c in children]
            how = " ".join(c for c in conditions if c) or "scan"
            found.append((node["Relation Name"], how))
        for child in children:
            walk(child)

    walk(document[0]["Plan"])
    return found


def _reads_by_property_alone(conn: Connection) -> list[tuple[str, str, str]]:
    wrong = []
    for statement, parameters in _lookups(conn):
        for table, how in _scans(conn, statement, parameters):
            if not any(key in how for key in KEYS):
                wrong.append((table, how, " ".join(statement.split())[:300]))
    return wrong


def test_the_summary_looks_up_persons_by_key_with_and_without_statistics(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        _load(conn)

    with engine.begin() as conn:
        assert _reads_by_property_alone(conn) == []
        conn.rollback()

    with engine.begin() as conn:
        for table in GROWN:
            conn.exec_driver_sql(f"ANALYZE {qualified_name(conn, table)}")
    with engine.begin() as conn:
        assert _reads_by_property_alone(conn) == []
        conn.rollback()
