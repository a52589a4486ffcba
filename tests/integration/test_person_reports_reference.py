"""Funnels and cohorts equal a plain reference computed from the same events and identity, on
random small worlds (persons of several visitors, probabilistic links, blended or not), on
SQLite and PostgreSQL: the SQL may be restructured for speed, the answers may not change."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from common.follower import UpstreamEntry
from services.reporting.activity import IngestActivityProjection
from services.reporting.domainmodel import AsOf, ConfiguredModels
from services.reporting.person_projection import IdentityLinksProjection
from services.reporting.person_reports import PersonReports
from services.reporting.person_values import (
    NO_FIRST_TOUCH,
    CohortQuery,
    ConversionRetraction,
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


WINDOW_STEPS = (
    FunnelStep(StepKind.PAGE, "/pricing", MatchMode.PREFIX),
    FunnelStep(StepKind.EVENT, "identify"),
    FunnelStep(StepKind.CONVERSION, "purchase"),
)
RECORDED = W0 + timedelta(days=100)
"""When the first version of a world's logs was recorded (the second: a day later)."""

HOURS = 10 * 24
"""The span of a narrow world's events, in hours (few events: dense enough to meet)."""
narrow_touches = st.lists(
    st.tuples(
        st.sampled_from(VISITORS),
        st.integers(0, HOURS),
        st.sampled_from(CHANNELS),
        st.sampled_from(("/pricing", "/pricing/plans", "/about")),
    ),
    max_size=8,
)
identifies = st.lists(st.tuples(st.sampled_from(VISITORS), st.integers(0, HOURS)), max_size=6)
narrow_purchases = st.lists(
    st.tuples(st.sampled_from(VISITORS), st.integers(0, HOURS), st.integers(1, 50)), max_size=6
)
revisions = st.lists(st.tuples(st.integers(0, 20), st.integers(-48, 48)), max_size=4)
"""Records sent again: (which, hours moved; a touchpoint only earlier)."""


def _feed_at(sink: Any, log: str, values: list[Any], at: datetime) -> None:
    after = sink.position(log)
    entries = [UpstreamEntry(after + n, v, recorded_at=at) for n, v in enumerate(values, 1)]
    if entries:
        sink.process_page(log, entries)


def _windowed_reference(
    person: dict[str, str],
    rows: dict[str, tuple[str, str, datetime, str, str]],
    start: datetime,
    end: datetime,
    within: timedelta,
) -> dict[str, list[int]]:
    """Per first-touch channel, the persons reaching each of WINDOW_STEPS; `rows` by record
    id: (kind, visitor, time, channel, page or name)."""
    firsts: dict[str, tuple[datetime, str, str]] = {}
    entered: dict[str, datetime] = {}
    for record, (kind, visitor, at, channel, page) in rows.items():
        p = person[visitor]
        if kind == "touchpoint" and (p not in firsts or (at, record) < firsts[p][:2]):
            firsts[p] = (at, record, channel)
        if kind == "touchpoint" and page.startswith("/pricing") and start <= at < end:
            entered[p] = min(at, entered.get(p, at))
    funnel: dict[str, list[int]] = {}
    for p, began in entered.items():
        counts = funnel.setdefault(firsts[p][2] if p in firsts else NO_FIRST_TOUCH, [0, 0, 0])
        counts[0] += 1
        reached = began
        for index, kind in enumerate(("identify", "conversion"), start=1):
            times = [
                at
                for k, v, at, _, _ in rows.values()
                if k == kind and person[v] == p and reached <= at <= began + within
            ]
            if not times:
                break
            reached = min(times)
            counts[index] += 1
    return funnel


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    narrow_touches,
    identifies,
    narrow_purchases,
    groups,
    groups,
    links,
    st.booleans(),
    revisions,
    st.sets(st.integers(0, 5), max_size=2),
    st.tuples(st.integers(0, HOURS), st.integers(1, 72), st.integers(1, 72)),
)
def test_a_narrow_funnel_counts_only_its_window_property_and_current_rows_as_the_reference(
    engine: Engine,
    touch_list: list[tuple[str, int, str, str]],
    identify_list: list[tuple[str, int]],
    purchase_list: list[tuple[str, int, int]],
    group: list[int],
    later_group: list[int],
    probable: list[tuple[str, str]],
    blended: bool,
    resent: list[tuple[int, int]],
    retracted: set[int],
    window: tuple[int, int, int],
) -> None:
    """Events before the window, after its end plus `within`, of another property (with
    identity of its own), rows superseded by a record sent again or retracted, and identity
    moved later: the funnel, live and as of before the changes, equals the reference."""
    property_id = f"narrow-{next(_properties)}"
    other = f"{property_id}-other"
    rows: dict[str, tuple[str, str, datetime, str, str]] = {}
    for n, (v, h, channel, page) in enumerate(touch_list):
        rows[f"t{n}"] = ("touchpoint", v, W0 + timedelta(hours=h), channel, page)
    for n, (v, h) in enumerate(identify_list):
        rows[f"i{n}"] = ("identify", v, W0 + timedelta(hours=h), "", "")
    for n, (v, h, _) in enumerate(purchase_list):
        rows[f"c{n}"] = ("conversion", v, W0 + timedelta(hours=h), "", "purchase")
    kinds = {"touchpoint": EventKind.TOUCHPOINT, "identify": EventKind.IDENTIFY}

    def event(prop: str, record: str, row: tuple[str, str, datetime, str, str]) -> PersonEvent:
        kind, visitor, at, channel, name = row
        if kind == "conversion":
            return PersonEvent(
                prop, record, visitor, EventKind.CONVERSION, name, at, "", 1_000_000, "USD"
            )
        return PersonEvent(prop, record, visitor, kinds[kind], name, at, channel)

    moved = dict(rows)
    records = sorted(rows)
    for which, hours in resent:
        if records:
            record = records[which % len(records)]
            kind, visitor, at, channel, name = moved[record]
            shift = -abs(hours) if kind == "touchpoint" else hours
            moved[record] = (kind, visitor, at + timedelta(hours=shift), channel, name)
    gone = {f"c{n}" for n in retracted if f"c{n}" in rows}
    current_rows = {r: row for r, row in moved.items() if r not in gone}

    def moves(prop: str, groups_: list[int]) -> list[IdentityChange]:
        return [
            IdentityChange(prop, ((f"person-{g}" if g else "", (v,)),))
            for v, g in zip(VISITORS, groups_, strict=True)
        ]

    ingest = IngestActivityProjection(engine)
    identity = IdentityLinksProjection(engine)
    attribution = ConversionCreditsProjection(engine)
    extra = [
        PersonEvent(other, "x-touch", v, EventKind.TOUCHPOINT, "/pricing/x", at, "email")
        for v in VISITORS
        for at in (W0 + timedelta(hours=window[0]), W0 + timedelta(hours=window[0] + 1))
    ] + [
        PersonEvent(other, f"x-{v}", v, EventKind.CONVERSION, "purchase", W0, "", 1, "USD")
        for v in VISITORS
    ]
    _feed_at(
        ingest,
        "ingest",
        [event(property_id, r, row) for r, row in rows.items()]
        + [event(other, r, row) for r, row in rows.items()]
        + extra,
        RECORDED,
    )
    first_identity = moves(property_id, group) + moves(other, later_group)
    first_identity += [IdentityChange(property_id, (), ((a, b, True),)) for a, b in probable]
    _feed_at(identity, "identity", first_identity, RECORDED)
    _feed_at(attribution, "attribution", [ConfiguredModels(property_id, None, blended)], RECORDED)
    later = RECORDED + timedelta(days=1)
    _feed_at(
        ingest,
        "ingest",
        [event(property_id, r, moved[r]) for r in moved if moved[r] != rows[r]]
        + [ConversionRetraction(property_id, r) for r in sorted(gone)],
        later,
    )
    _feed_at(identity, "identity", moves(property_id, later_group), later)
    _feed_at(attribution, "attribution", [ConfiguredModels(property_id, None, blended)], later)
    if not rows:
        return
    start = W0 + timedelta(hours=window[0])
    end = start + timedelta(hours=window[1])
    within = timedelta(hours=window[2])
    query = FunnelQuery(property_id, WINDOW_STEPS, within=within, start=start, end=end)
    pairs = [(a, b) for a, b in probable]
    reports = PersonReports(engine)

    def figures(report: Any) -> dict[str, list[int]]:
        return {c.channel: [s.persons for s in c.steps] for c in report.channels}

    live = _windowed_reference(
        _persons(later_group, pairs, blended), current_rows, start, end, within
    )
    assert figures(reports.funnel(query)) == live
    past = _windowed_reference(_persons(group, pairs, blended), rows, start, end, within)
    as_of = AsOf(time=RECORDED + timedelta(hours=1))
    assert figures(reports.funnel(replace(query, as_of=as_of))) == past


PAGES = ("/a", "/a%b", "/a_b", "/axb", "/a\\b", "/a\\\\b", "/ä", "/äx", "/a" + chr(0x10FFFF), "/b")
"""Page paths with LIKE's special characters, non-ASCII and the highest code point."""


@pytest.mark.parametrize(
    "prefix", ["", "/", "/a", "/a%", "/a_", "/a\\", "/ä", "/a" + chr(0x10FFFF), "/a" + chr(0xD7FF)]
)
def test_a_page_prefix_enters_exactly_the_pages_that_start_with_it(
    engine: Engine, prefix: str
) -> None:
    """Each visitor views one page; the funnel's first step enters those whose page starts
    with the prefix (however the databases' indexes are asked to seek it)."""
    property_id = f"prefix-{next(_properties)}"
    feeder = _Feeder(engine)
    feeder.feed(
        "ingest",
        [
            PersonEvent(property_id, f"t{n}", f"anon:p{n}", EventKind.TOUCHPOINT, page, W0, "email")
            for n, page in enumerate(PAGES)
        ],
    )
    step = FunnelStep(StepKind.PAGE, prefix, MatchMode.PREFIX)

    report = PersonReports(engine).funnel(FunnelQuery(property_id, (step,)))

    assert report.steps[0].persons == sum(page.startswith(prefix) for page in PAGES)
