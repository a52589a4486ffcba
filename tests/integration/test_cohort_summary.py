"""The cohort summary answers exactly what the person views answer: random histories of
touches, conversions, merges and un-merges, retractions (from ingest's and attribution's logs)
and value changes, checked after every few pages on SQLite and PostgreSQL, over cut and whole
cohorts, weeks and months, with and without a conversion name, in UTC and in a zone with
summer time; after the property's zone changes; and filled from views that had none."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select

from common.follower import UpstreamEntry
from services.reporting.activity import IngestActivityProjection
from services.reporting.cohort_summary import summary_figures
from services.reporting.domainmodel import Retraction, StageChange
from services.reporting.errors import MixedCurrencyError
from services.reporting.person_projection import IdentityLinksProjection
from services.reporting.person_reports import PersonReports
from services.reporting.person_values import (
    CohortInterval,
    CohortQuery,
    CohortReport,
    ConversionRetraction,
    EventKind,
    IdentityChange,
    PersonEvent,
)
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.scope import snapshot
from services.reporting.server import ReportingSettings, migrate, open_views
from services.reporting.views import (
    cohort_conversions,
    cohort_persons,
    cohort_totals,
    cohort_zones,
    property_settings,
)
from tests.conftest import Storage

W0 = datetime(2026, 3, 2, tzinfo=UTC)
"""A Monday, four weeks before summer time starts in Europe."""
NOW = W0 + timedelta(weeks=16)
VISITORS = tuple(f"anon:v{n}" for n in range(10))
PERSONS = tuple(f"person-{n}" for n in range(4))
CHANNELS = ("email", "paid_search", "direct")
NAMES = ("purchase", "signup")
SUMMARY_TABLES = (cohort_persons, cohort_conversions, cohort_totals, cohort_zones)
_properties = itertools.count()


@pytest.fixture
def engine(storage: Storage) -> Iterator[Engine]:
    settings_ = ReportingSettings(database_url=storage.database_url, data_dir=storage.data_dir)
    migrate(settings_)
    views = open_views(settings_)
    yield views.engine
    views.engine.dispose()


class _History:
    """A random history of one property fed to the three projections, log by log."""

    def __init__(self, engine: Engine, seed: int) -> None:
        self.rng = random.Random(seed)
        self.property_id = f"cohorts-{seed}-{next(_properties)}"
        self.sinks: dict[str, Any] = {
            "attribution": ConversionCreditsProjection(engine),
            "ingest": IngestActivityProjection(engine),
            "identity": IdentityLinksProjection(engine),
        }
        self.conversions: list[tuple[str, str, datetime]] = []
        self.records = itertools.count()

    def feed(self, log: str, values: list[Any]) -> None:
        after = self.sinks[log].position(log)
        entries = [
            UpstreamEntry(after + n, value, recorded_at=W0 + timedelta(minutes=after + n))
            for n, value in enumerate(values, start=1)
        ]
        if entries:
            self.sinks[log].process_page(log, entries)

    def _moment(self) -> datetime:
        return W0 + timedelta(minutes=self.rng.randrange(0, 70 * 24 * 60))

    def ingest_page(self) -> None:
        rng, values = self.rng, []
        for _ in range(rng.randint(1, 5)):
            visitor, record = rng.choice(VISITORS), f"r{next(self.records)}"
            draw = rng.random()
            if draw < 0.5:
                channel = rng.choice(CHANNELS)
                values.append(
                    PersonEvent(
                        self.property_id,
                        record,
                        visitor,
                        EventKind.TOUCHPOINT,
                        "/",
                        self._moment(),
                        channel,
                    )
                )
            elif draw < 0.85 or not self.conversions:
                name, at = rng.choice(NAMES), self._moment()
                values.append(
                    PersonEvent(
                        self.property_id,
                        record,
                        visitor,
                        EventKind.CONVERSION,
                        name,
                        at,
                        "",
                        rng.randint(1, 90) * 1_000_000,
                        "EUR",
                    )
                )
                self.conversions.append((record, name, at))
            else:
                retracted = rng.choice(self.conversions)[0]
                values.append(ConversionRetraction(self.property_id, retracted))
        self.feed("ingest", values)

    def identity_page(self) -> None:
        rng, moves = self.rng, []
        for _ in range(rng.randint(1, 2)):
            identifiers = tuple(rng.sample(VISITORS, rng.randint(1, 3)))
            person = rng.choice(PERSONS) if rng.random() < 0.8 else ""
            moves.append((person, identifiers))
        self.feed("identity", [IdentityChange(self.property_id, tuple(moves))])

    def attribution_page(self) -> None:
        if not self.conversions:
            return
        rng, values = self.rng, []
        for _ in range(rng.randint(1, 2)):
            record, name, at = rng.choice(self.conversions)
            if rng.random() < 0.8:
                currency = "EUR" if rng.random() < 0.95 else "USD"
                values.append(
                    StageChange(
                        self.property_id,
                        record,
                        name,
                        at,
                        "won",
                        (("won", at),),
                        currency,
                        rng.randint(0, 120) * 1_000_000,
                    )
                )
            else:
                values.append(Retraction(self.property_id, record))
        self.feed("attribution", values)

    def step(self) -> None:
        draw = self.rng.random()
        if draw < 0.55:
            self.ingest_page()
        elif draw < 0.8:
            self.identity_page()
        else:
            self.attribution_page()


def _queries(property_id: str) -> list[CohortQuery]:
    ranges: list[tuple[datetime | None, datetime | None]] = [
        (None, None),
        (W0, W0 + timedelta(weeks=4)),
        (W0 + timedelta(days=3, hours=5), W0 + timedelta(days=40)),
        (W0 + timedelta(days=10), W0 + timedelta(days=12)),
        (W0 - timedelta(days=9), None),
        (None, W0 + timedelta(days=33, hours=7)),
    ]
    return [
        CohortQuery(property_id, interval, start, end, names, periods)
        for interval in (CohortInterval.WEEK, CohortInterval.MONTH)
        for start, end in ranges
        for names, periods in (((), 8), (("purchase",), 3))
    ]


def _answer(reports: PersonReports, query: CohortQuery) -> CohortReport | str:
    try:
        return reports.cohorts(query, now=NOW)
    except MixedCurrencyError as error:
        return f"mixed currencies: {error}"


def _assert_summary_answers_as_the_views(engine: Engine, property_id: str) -> None:
    summary, views = PersonReports(engine), PersonReports(engine, cohort_summary=False)
    zone = _zone(engine, property_id)
    for query in _queries(property_id):
        with snapshot(engine) as conn:
            assert summary_figures(conn, query, zone) is not None
        assert _answer(summary, query) == _answer(views, query), query


def _zone(engine: Engine, property_id: str) -> str:
    with engine.connect() as conn:
        found = conn.execute(
            select(property_settings.c.time_zone).where(
                property_settings.c.property_id == property_id
            )
        ).scalar_one_or_none()
    return str(found or "UTC")


def _set_zone(engine: Engine, property_id: str, zone: str) -> None:
    t = property_settings.c
    with engine.begin() as conn:
        conn.execute(delete(property_settings).where(t.property_id == property_id))
        conn.execute(
            insert(property_settings).values(property_id=property_id, time_zone=zone, updated_at=W0)
        )


def _summary_rows(engine: Engine, property_id: str) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            t.name: sorted(
                tuple(row) for row in conn.execute(select(t).where(t.c.property_id == property_id))
            )
            for t in SUMMARY_TABLES
        }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_summary_answers_what_the_person_views_answer_through_a_random_history(
    engine: Engine, seed: int
) -> None:
    history = _History(engine, seed)
    if seed == 3:
        _set_zone(engine, history.property_id, "Europe/Berlin")
    for _checkpoint in range(4):
        for _ in range(12):
            history.step()
        history.ingest_page()
        _assert_summary_answers_as_the_views(engine, history.property_id)
    rows = _summary_rows(engine, history.property_id)
    assert rows["cohort_persons"], "the history made no person with a first touch"
    assert any(r[8] for r in rows["cohort_totals"]), "the history counted no conversion"


def test_after_a_zone_change_cohorts_read_the_views_until_the_summary_is_in_the_new_zone(
    engine: Engine,
) -> None:
    history = _History(engine, 4)
    for _ in range(30):
        history.step()
    history.ingest_page()
    _set_zone(engine, history.property_id, "America/New_York")
    query = CohortQuery(history.property_id, CohortInterval.MONTH)
    with snapshot(engine) as conn:
        assert summary_figures(conn, query, "America/New_York") is None
    assert _answer(PersonReports(engine), query) == _answer(
        PersonReports(engine, cohort_summary=False), query
    )
    history.ingest_page()
    _assert_summary_answers_as_the_views(engine, history.property_id)


def test_a_property_without_a_summary_gets_the_one_kept_live_on_its_next_page(
    engine: Engine,
) -> None:
    history = _History(engine, 5)
    for _ in range(30):
        history.step()
    history.ingest_page()
    kept = _summary_rows(engine, history.property_id)
    with engine.begin() as conn:
        for table in SUMMARY_TABLES:
            conn.execute(delete(table).where(table.c.property_id == history.property_id))
    query = CohortQuery(history.property_id)
    with snapshot(engine) as conn:
        assert summary_figures(conn, query, "UTC") is None
    history.feed(
        "ingest",
        [PersonEvent(history.property_id, "view", VISITORS[0], EventKind.PAGE_VIEW, "/", NOW)],
    )
    assert _summary_rows(engine, history.property_id) == kept
