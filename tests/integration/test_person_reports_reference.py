"""Funnels and cohorts equal a plain reference computed from the same events and identity, on
random small worlds (persons of several visitors, probabilistic links, blended or not), on
SQLite and PostgreSQL: the SQL may be restructured for speed, the answers may not change."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from common.follower import UpstreamEntry
from services.reporting.activity import IngestActivityProjection
from services.reporting.domainmodel import ConfiguredModels
from services.reporting.person_projection import IdentityLinksProjection
from services.reporting.person_reports import PersonReports
from services.reporting.person_values import (
    NO_FIRST_TOUCH,
    CohortQuery,
    EventKind,
    FunnelQuery,
    FunnelStep,
    IdentityChange,
    MatchMode,
    PersonEvent,
    StepKind,
)
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.server import ReportingSettings, migrate, open_views
from tests.conftest import Storage

W0 = datetime(2026, 2, 2, tzinfo=UTC)
"""A Monday."""
NOW = W0 + timedelta(weeks=12)
VISITORS = tuple(f"anon:v{n}" for n in range(6))
CHANNELS = ("email", "paid_search", "direct")
WITHIN = timedelta(days=10)
STEPS = (
    FunnelStep(StepKind.PAGE, "/pricing", MatchMode.PREFIX),
    FunnelStep(StepKind.CONVERSION, "purchase"),
)
PERIODS = 4
_properties = itertools.count()

touches = st.lists(
    st.tuples(
        st.sampled_from(VISITORS),
        st.integers(0, 40 * 24),
        st.sampled_from(CHANNELS),
        st.sampled_from(("/pricing", "/about")),
    ),
    max_size=8,
)
purchases = st.lists(
    st.tuples(st.sampled_from(VISITORS), st.integers(0, 40 * 24), st.integers(1, 50)),
    max_size=6,
)
groups = st.lists(st.integers(0, 3), min_size=len(VISITORS), max_size=len(VISITORS))
"""Per visitor, its deterministic person (0: none, a visitor of its own)."""
links = st.lists(st.tuples(st.sampled_from(VISITORS), st.sampled_from(VISITORS)), max_size=2)


@pytest.fixture
def engine(storage: Storage) -> Iterator[Engine]:
    settings_ = ReportingSettings(database_url=storage.database_url, data_dir=storage.data_dir)
    migrate(settings_)
    views = open_views(settings_)
    yield views.engine
    views.engine.dispose()


class _Feeder:
    def __init__(self, engine: Engine) -> None:
        self.sinks: dict[str, Any] = {
            "attribution": ConversionCreditsProjection(engine),
            "ingest": IngestActivityProjection(engine),
            "identity": IdentityLinksProjection(engine),
        }

    def feed(self, log: str, values: list[Any]) -> None:
        after = self.sinks[log].position(log)
        entries = [
            UpstreamEntry(after + n, value, recorded_at=W0 + timedelta(minutes=after + n))
            for n, value in enumerate(values, start=1)
        ]
        if entries:
            self.sinks[log].process_page(log, entries)


def _persons(group: list[int], probable: list[tuple[str, str]], blended: bool) -> dict[str, str]:
    """Each visitor's person: its blended component (when a probabilistic link joins it and
    the identity is blended), else its deterministic person, else itself."""
    person = {v: (f"person-{g}" if g else v) for v, g in zip(VISITORS, group, strict=True)}
    if not blended:
        return person
    parent = {v: v for v in VISITORS}

    def root(v: str) -> str:
        while parent[v] != v:
            v = parent[v]
        return v

    for a in VISITORS:
        for b in VISITORS:
            if person[a] == person[b] or (a, b) in probable or (b, a) in probable:
                parent[root(a)] = root(b)
    linked = {root(a) for a, b in probable if a != b}
    return {v: ("~" + root(v) if root(v) in linked else person[v]) for v in VISITORS}


def _week(at: datetime) -> int:
    return ((at - datetime(1970, 1, 1, tzinfo=UTC)).days + 3) // 7


def _reference(
    person: dict[str, str],
    touch_rows: list[tuple[str, datetime, str, str, str]],
    purchase_rows: list[tuple[str, datetime, str, int]],
) -> tuple[dict[str, list[int]], list[Any]]:
    firsts: dict[str, tuple[datetime, str, str]] = {}
    for visitor, at, channel, _, record in touch_rows:
        p = person[visitor]
        if p not in firsts or (at, record) < firsts[p][:2]:
            firsts[p] = (at, record, channel)
    entered: dict[str, datetime] = {}
    for visitor, at, _, page, _ in touch_rows:
        if page.startswith("/pricing"):
            p = person[visitor]
            entered[p] = min(at, entered.get(p, at))
    funnel: dict[str, list[int]] = {}
    for p, start in entered.items():
        channel = firsts[p][2] if p in firsts else NO_FIRST_TOUCH
        counts = funnel.setdefault(channel, [0, 0])
        counts[0] += 1
        if any(person[v] == p and start <= at <= start + WITHIN for v, at, _, _ in purchase_rows):
            counts[1] += 1
    cohorts: dict[tuple[int, str], dict[str, Any]] = {}
    for p, (at, _, channel) in firsts.items():
        row = cohorts.setdefault((_week(at), channel), {"persons": 0, "convs": []})
        row["persons"] += 1
        for visitor, when, _, units in purchase_rows:
            period = _week(when) - _week(at)
            if person[visitor] == p and 0 <= period < PERIODS:
                row["convs"].append((p, period, units * 1_000_000))
    rows = []
    for (week, channel), row in sorted(cohorts.items()):
        periods = []
        for index in range(PERIODS):
            counted = [c for c in row["convs"] if c[1] <= index]
            periods.append(
                (index, len(counted), len({c[0] for c in counted}), sum(c[2] for c in counted))
            )
        rows.append((week, channel, row["persons"], periods))
    return funnel, rows


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(touches, purchases, groups, links, st.booleans())
def test_funnels_and_cohorts_equal_the_reference_on_random_worlds(
    engine: Engine,
    touch_list: list[tuple[str, int, str, str]],
    purchase_list: list[tuple[str, int, int]],
    group: list[int],
    probable: list[tuple[str, str]],
    blended: bool,
) -> None:
    property_id = f"world-{next(_properties)}"
    feeder = _Feeder(engine)
    touch_rows = [
        (v, W0 + timedelta(hours=h), c, page, f"t{n}")
        for n, (v, h, c, page) in enumerate(touch_list)
    ]
    purchase_rows = [
        (v, W0 + timedelta(hours=h), f"c{n}", units)
        for n, (v, h, units) in enumerate(purchase_list)
    ]
    events = [
        PersonEvent(property_id, record, v, EventKind.TOUCHPOINT, page, at, channel)
        for v, at, channel, page, record in touch_rows
    ] + [
        PersonEvent(
            property_id,
            record,
            v,
            EventKind.CONVERSION,
            "purchase",
            at,
            "",
            units * 1_000_000,
            "USD",
        )
        for v, at, record, units in purchase_rows
    ]
    feeder.feed("ingest", events)
    members: dict[int, list[str]] = {}
    for visitor, g in zip(VISITORS, group, strict=True):
        if g:
            members.setdefault(g, []).append(visitor)
    changes = [
        IdentityChange(property_id, ((f"person-{g}", tuple(vs)),)) for g, vs in members.items()
    ]
    changes += [IdentityChange(property_id, (), ((a, b, True),)) for a, b in probable]
    feeder.feed("identity", changes)
    feeder.feed("attribution", [ConfiguredModels(property_id, None, blended)])
    if not events:
        return
    expected_funnel, expected_cohorts = _reference(
        _persons(group, [(a, b) for a, b in probable], blended), touch_rows, purchase_rows
    )

    reports = PersonReports(engine)
    funnel = reports.funnel(FunnelQuery(property_id, STEPS, within=WITHIN))
    assert {c.channel: [s.persons for s in c.steps] for c in funnel.channels} == expected_funnel
    report = reports.cohorts(CohortQuery(property_id, periods=PERIODS), now=NOW)
    got = [
        (
            _week(row.start),
            row.channel,
            row.persons,
            [(p.index, p.conversions, p.converted_persons, p.value_micros) for p in row.periods],
        )
        for row in report.rows
    ]
    assert got == expected_cohorts
