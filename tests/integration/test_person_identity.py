"""Funnels and cohorts resolve persons the way attribution does, and count conversions at
their value after outcomes; outcome reports as of a past moment. One contract on SQLite and
PostgreSQL: the logs' entries (identity's and attribution's as wire messages, translated by
reporting's own upstream code) are fed to the projections, and the reports read the views."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, select, text

from common.follower import UpstreamEntry
from convtrack.attribution.v1 import attribution_pb2
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2
from services.reporting import schema
from services.reporting.activity import IngestActivityProjection
from services.reporting.application import UnknownPropertyError
from services.reporting.domainmodel import (
    AsOf,
    AttributedCredit,
    ConversionAttribution,
    ModelCredits,
    Retraction,
    StageChange,
)
from services.reporting.generations import ReportViews
from services.reporting.outcome_reports import OutcomeQuery, OutcomeReport, OutcomeReports
from services.reporting.person_projection import IdentityLinksProjection
from services.reporting.person_reports import PersonReports
from services.reporting.person_values import (
    CohortQuery,
    ConversionRetraction,
    EventKind,
    FunnelQuery,
    FunnelStep,
    MatchMode,
    PersonEvent,
    StepKind,
)
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.server import ReportingSettings, migrate, open_views
from services.reporting.upstream import attribution_of, identity_of
from services.reporting.views import blended_links
from tests.conftest import Storage

PROPERTY = "blendshop"
OTHER = "othershop"
W0 = datetime(2026, 2, 2, tzinfo=UTC)
"""A Monday: the cohorts' first week."""
NOW = W0 + timedelta(weeks=8)
H = timedelta(hours=1)
D = timedelta(days=1)
CLOCK = datetime(2026, 3, 1, tzinfo=UTC)
STEPS = (
    FunnelStep(StepKind.PAGE, "/pricing", MatchMode.PREFIX),
    FunnelStep(StepKind.CONVERSION, "purchase"),
)


def anonymous(value: str) -> common_pb2.Identifier:
    return common_pb2.Identifier(type=common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID, value=value)


def event(
    record: str,
    visitor: str,
    kind: EventKind,
    at: datetime,
    name: str = "",
    channel: str = "",
    units: int = 0,
    property_id: str = PROPERTY,
) -> PersonEvent:
    return PersonEvent(
        property_id=property_id,
        record_id=record,
        visitor=f"anon:{visitor}",
        kind=kind,
        name=name,
        occurred_at=at,
        channel=channel,
        value_micros=units * 1_000_000,
        currency_code="USD" if kind is EventKind.CONVERSION else "",
    )


def person(person_id: str, *visitors: str, property_id: str = PROPERTY) -> Any:
    entry = identity_pb2.LogEntry(
        person_created=identity_pb2.PersonCreated(
            property_id=property_id,
            person_id=person_id,
            identifiers=[anonymous(v) for v in visitors],
        )
    )
    return identity_of(entry)


def probable(a: str, b: str, accepted: bool = True, property_id: str = PROPERTY) -> Any:
    link = {"property_id": property_id, "a": anonymous(a), "b": anonymous(b)}
    if accepted:
        entry = identity_pb2.LogEntry(
            probabilistic_link_added=identity_pb2.ProbabilisticLinkAdded(**link)  # type: ignore[arg-type]
        )
    else:
        entry = identity_pb2.LogEntry(
            probabilistic_link_removed=identity_pb2.ProbabilisticLinkRemoved(**link)  # type: ignore[arg-type]
        )
    return identity_of(entry)


def reporting_identity(property_id: str, identity: int | None) -> Any:
    """A settings entry of attribution's log: the property's reporting identity (None: it
    follows the default's)."""
    changed = attribution_pb2.AttributionSettingsChanged(
        property_id=property_id,
        models=[attribution_pb2.ModelConfig(name="last_click")],
        models_source=attribution_pb2.SETTING_SOURCE_PROPERTY,
    )
    if identity is None:
        changed.reporting_identity_source = attribution_pb2.SETTING_SOURCE_DEFAULT
    else:
        changed.reporting_identity = identity  # type: ignore[assignment]
        changed.reporting_identity_source = attribution_pb2.SETTING_SOURCE_PROPERTY
    return attribution_of(attribution_pb2.LogEntry(settings_changed=changed))


BLENDED = common_pb2.REPORTING_IDENTITY_BLENDED
DETERMINISTIC = common_pb2.REPORTING_IDENTITY_DETERMINISTIC


class Feeder:
    """Feeds entries to the three projections, a page per call, with positions per log and
    recorded times a minute apart across the logs."""

    def __init__(self, engine: Engine) -> None:
        self.sinks: dict[str, Any] = {
            "attribution": ConversionCreditsProjection(engine),
            "ingest": IngestActivityProjection(engine),
            "identity": IdentityLinksProjection(engine),
        }
        self.positions = dict.fromkeys(self.sinks, 0)
        self.clock = CLOCK

    def feed(self, log: str, *values: Any) -> None:
        entries = []
        for value in values:
            self.positions[log] += 1
            self.clock += timedelta(minutes=1)
            entries.append(UpstreamEntry(self.positions[log], value, recorded_at=self.clock))
        self.sinks[log].process_page(log, entries)


@pytest.fixture
def views(storage: Storage) -> Iterator[ReportViews]:
    settings = ReportingSettings(database_url=storage.database_url, data_dir=storage.data_dir)
    migrate(settings)
    views = open_views(settings)
    yield views
    views.engine.dispose()


@pytest.fixture
def engine(views: ReportViews) -> Engine:
    return views.engine


def journeys(feeder: Feeder, property_id: str = PROPERTY) -> None:
    """A laptop with a paid search visit to /pricing (Monday); a phone with an email visit to
    /pricing and a purchase of 100 the day after; a tablet identity links to the phone's
    person by a login. Identity links the laptop to the tablet only probabilistically."""
    feeder.feed(
        "ingest",
        event(
            "l1",
            "laptop",
            EventKind.TOUCHPOINT,
            W0 + 9 * H,
            "/pricing",
            "paid_search",
            0,
            property_id,
        ),
        event("p1", "phone", EventKind.TOUCHPOINT, W0 + D, "/pricing", "email", 0, property_id),
        event(
            "p2",
            "phone",
            EventKind.CONVERSION,
            W0 + D + H,
            "purchase",
            units=100,
            property_id=property_id,
        ),
        event("t1", "tablet", EventKind.IDENTIFY, W0 + 2 * D, property_id=property_id),
    )
    feeder.feed(
        "identity",
        person("person-laptop", "laptop", property_id=property_id),
        person("person-phone", "phone", "tablet", property_id=property_id),
        probable("laptop", "tablet", property_id=property_id),
    )


def funnel(engine: Engine, property_id: str = PROPERTY) -> dict[str, list[int]]:
    report = PersonReports(engine).funnel(FunnelQuery(property_id, STEPS))
    return {
        "all": [s.persons for s in report.steps],
        **{c.channel: [s.persons for s in c.steps] for c in report.channels},
    }


def cohort_persons(engine: Engine, property_id: str = PROPERTY) -> dict[str, int]:
    report = PersonReports(engine).cohorts(CohortQuery(property_id, periods=2), now=NOW)
    return {row.channel: row.persons for row in report.rows}


SEPARATE = {"all": [2, 1], "email": [1, 1], "paid_search": [1, 0]}
JOINED = {"all": [1, 1], "paid_search": [1, 1]}


def test_a_journey_joined_only_probabilistically_is_one_person_under_the_blended_identity(
    engine: Engine,
) -> None:
    feeder = Feeder(engine)
    journeys(feeder)
    # Before attribution's log says anything, persons are deterministic (its default).
    assert funnel(engine) == SEPARATE

    feeder.feed("attribution", reporting_identity("*", DETERMINISTIC))
    feeder.feed("attribution", reporting_identity(PROPERTY, BLENDED))
    assert funnel(engine) == JOINED
    assert cohort_persons(engine) == {"paid_search": 1}

    feeder.feed("attribution", reporting_identity(PROPERTY, DETERMINISTIC))
    assert funnel(engine) == SEPARATE
    assert cohort_persons(engine) == {"email": 1, "paid_search": 1}


def test_a_property_that_follows_the_default_takes_the_defaults_reporting_identity(
    engine: Engine,
) -> None:
    feeder = Feeder(engine)
    journeys(feeder)
    journeys(feeder, OTHER)
    feeder.feed(
        "attribution",
        reporting_identity("*", DETERMINISTIC),
        reporting_identity(PROPERTY, DETERMINISTIC),
        reporting_identity(OTHER, None),
    )
    feeder.feed("attribution", reporting_identity("*", BLENDED))

    assert funnel(engine, OTHER) == JOINED
    assert funnel(engine) == SEPARATE


def test_removing_the_probabilistic_link_takes_the_blended_person_apart(engine: Engine) -> None:
    feeder = Feeder(engine)
    journeys(feeder)
    feeder.feed("attribution", reporting_identity(PROPERTY, BLENDED))
    assert funnel(engine) == JOINED

    feeder.feed("identity", probable("tablet", "laptop", accepted=False))
    assert funnel(engine) == SEPARATE
    with engine.connect() as conn:
        rows = sorted(tuple(r) for r in conn.execute(select(blended_links)))
    # No probabilistic link joins anything now: the blended persons ended where it went.
    removed_at = 4
    assert [r[1:] for r in rows] == [
        ("anon:laptop", "~anon:laptop", 3, removed_at),
        ("anon:phone", "~anon:laptop", 3, removed_at),
        ("anon:tablet", "~anon:laptop", 3, removed_at),
    ]

    feeder.feed("identity", probable("laptop", "tablet"))
    assert funnel(engine) == JOINED


def test_a_merge_or_split_in_identity_moves_the_blended_persons_with_it(engine: Engine) -> None:
    """The tablet leaves the phone's person (a split): the laptop's probabilistic link to the
    tablet no longer reaches the phone."""
    feeder = Feeder(engine)
    journeys(feeder)
    feeder.feed("attribution", reporting_identity(PROPERTY, BLENDED))
    split = identity_pb2.LogEntry(
        person_split=identity_pb2.PersonSplit(
            property_id=PROPERTY,
            person_id="person-phone",
            parts=[
                identity_pb2.SplitPart(person_id="person-phone", identifiers=[anonymous("phone")]),
                identity_pb2.SplitPart(
                    person_id="person-tablet", identifiers=[anonymous("tablet")]
                ),
            ],
        )
    )
    feeder.feed("identity", identity_of(split))
    assert funnel(engine) == SEPARATE


def usd(units: int) -> int:
    return units * 1_000_000


def attributed(conversion_id: str, name: str, at: datetime, units: int) -> ConversionAttribution:
    credit = AttributedCredit("b1", "paid_search", "google", "cpc", "", 1.0, usd(units))
    return ConversionAttribution(
        property_id=PROPERTY,
        conversion_id=conversion_id,
        event_id=conversion_id,
        conversion_name=name,
        occurred_at=at,
        currency_code="USD",
        value_micros=usd(units),
        revision=1,
        models=(ModelCredits("last_click", (credit,)),),
    )


def staged(conversion_id: str, at: datetime, stage: str, units: int) -> StageChange:
    return StageChange(
        property_id=PROPERTY,
        conversion_id=conversion_id,
        conversion_name="deal",
        occurred_at=at,
        stage=stage,
        stages=(("lead", at + H), *(((stage, at + 2 * H),) if stage != "lead" else ())),
        currency_code="USD",
        value_micros=usd(units),
    )


def outcome_figures(report: OutcomeReport) -> dict[str, tuple[int, int]]:
    return {s.stage: (s.conversions, s.value_micros) for s in report.stages}


def cohort_values(engine: Engine, *names: str) -> list[int]:
    report = PersonReports(engine).cohorts(
        CohortQuery(PROPERTY, periods=2, conversion_names=names), now=NOW
    )
    [row] = report.rows
    return [p.value_micros for p in row.periods]


def test_cohort_values_are_the_values_after_outcomes_as_the_outcome_report_counts_them(
    engine: Engine,
) -> None:
    """A buyer (paid search, Monday) closes deal d1 sent at 100, raised to 80 by the CRM...
    (a value change), then refunded 30: 50. Deal d2, sent at 70, is retracted. A purchase of
    60 has no outcome. By hand: deals 50 in week 0; all conversions 50 + 60 = 110."""
    feeder = Feeder(engine)
    d1, d2, buy = W0 + 10 * H, W0 + 11 * H, W0 + D
    feeder.feed(
        "ingest",
        event("b1", "buyer", EventKind.TOUCHPOINT, W0 + 9 * H, "/", "paid_search"),
        event("d1", "buyer", EventKind.CONVERSION, d1, "deal", units=100),
        event("d2", "buyer", EventKind.CONVERSION, d2, "deal", units=70),
        event("b2", "buyer", EventKind.CONVERSION, buy, "purchase", units=60),
    )
    feeder.feed(
        "attribution",
        attributed("d1", "deal", d1, 100),
        attributed("d2", "deal", d2, 70),
        attributed("b2", "purchase", buy, 60),
        staged("d1", d1, "lead", 100),
        staged("d2", d2, "lead", 70),
    )
    feeder.feed("attribution", staged("d1", d1, "won", 80), attributed("d1", "deal", d1, 80))
    feeder.feed("attribution", staged("d1", d1, "won", 50), Retraction(PROPERTY, "d2"))
    feeder.feed("ingest", ConversionRetraction(PROPERTY, "d2"))

    outcomes = OutcomeReports(engine).outcome_report(OutcomeQuery(PROPERTY, conversion_name="deal"))
    assert outcome_figures(outcomes) == {"lead": (1, usd(50)), "won": (1, usd(50))}
    assert cohort_values(engine, "deal") == [usd(50), usd(50)]
    assert cohort_values(engine) == [usd(110), usd(110)]


def _without_as_of_time(report: OutcomeReport) -> OutcomeReport:
    return replace(report, freshness=replace(report.freshness, as_of_time=None))


def test_outcome_reports_as_of_a_past_moment_equal_the_live_ones_recorded_then(
    engine: Engine,
) -> None:
    feeder = Feeder(engine)
    reports = OutcomeReports(engine)
    query = OutcomeQuery(PROPERTY, conversion_name="deal")
    d1, d2 = W0 + 10 * H, W0 + 11 * H
    feeder.feed(
        "ingest",
        event("d1", "buyer", EventKind.CONVERSION, d1, "deal", units=100),
        event("d2", "buyer", EventKind.CONVERSION, d2, "deal", units=70),
    )
    phases = [
        [
            attributed("d1", "deal", d1, 100),
            attributed("d2", "deal", d2, 70),
            staged("d1", d1, "lead", 100),
            staged("d2", d2, "lead", 70),
        ],
        [staged("d1", d1, "won", 80), attributed("d1", "deal", d1, 80)],
        [staged("d1", d1, "won", 50), Retraction(PROPERTY, "d2")],
    ]
    recorded = []
    for phase in phases:
        feeder.feed("attribution", *phase)
        recorded.append(
            (feeder.clock, feeder.positions["attribution"], reports.outcome_report(query))
        )

    assert [outcome_figures(r) for *_, r in recorded] == [
        {"lead": (2, usd(170))},
        {"lead": (2, usd(150)), "won": (1, usd(80))},
        {"lead": (1, usd(50)), "won": (1, usd(50))},
    ]
    for moment, position, live in recorded:
        by_time = reports.outcome_report(
            replace(query, as_of=AsOf(time=moment + timedelta(seconds=30)))
        )
        by_position = reports.outcome_report(
            replace(query, as_of=AsOf(attribution_position=position))
        )
        assert _without_as_of_time(by_time) == live
        assert _without_as_of_time(by_position) == live
    first_time, first_position, _ = recorded[0]
    past = reports.outcome_report(replace(query, as_of=AsOf(attribution_position=first_position)))
    assert dict(past.freshness.positions) == {"attribution": first_position}
    assert past.freshness.as_of_time == first_time


def person_answers(engine: Engine, as_of: AsOf | None = None) -> dict[str, Any]:
    """The funnel and the cohorts (by every name and by purchases), each freshness without
    its as-of time (which only as-of answers carry)."""
    reports = PersonReports(engine)
    found: dict[str, Any] = {}
    for name, answer in (
        ("funnel", lambda: reports.funnel(FunnelQuery(PROPERTY, STEPS, as_of=as_of))),
        (
            "cohorts",
            lambda: reports.cohorts(CohortQuery(PROPERTY, periods=3, as_of=as_of), now=NOW),
        ),
        (
            "purchases",
            lambda: reports.cohorts(
                CohortQuery(PROPERTY, periods=3, conversion_names=("purchase",), as_of=as_of),
                now=NOW,
            ),
        ),
    ):
        try:
            report = answer()
            found[name] = replace(report, freshness=replace(report.freshness, as_of_time=None))
        except UnknownPropertyError as error:
            found[name] = type(error).__name__
    return found


def test_funnels_and_cohorts_as_of_a_past_moment_equal_the_live_ones_recorded_then(
    engine: Engine,
) -> None:
    """Three moments: the journeys under the deterministic identity; the property switched
    to blended (one person); then late data: an earlier referral touch of the phone (its
    first touch), a desk that buys for 40 (its outcome lowers it to 25), the phone's
    purchase retracted, and identity's probabilistic link removed."""
    feeder = Feeder(engine)
    moments: list[tuple[datetime, int, dict[str, Any]]] = []

    def record() -> None:
        moments.append((feeder.clock, feeder.positions["attribution"], person_answers(engine)))

    journeys(feeder)
    feeder.feed("attribution", reporting_identity("*", DETERMINISTIC))
    record()
    feeder.feed("attribution", reporting_identity(PROPERTY, BLENDED))
    record()
    feeder.feed(
        "ingest",
        event("p0", "phone", EventKind.TOUCHPOINT, W0 + 12 * H, "/", "referral"),
        event("k1", "desk", EventKind.TOUCHPOINT, W0 + D, "/pricing/team", "organic_search"),
        event("k2", "desk", EventKind.CONVERSION, W0 + D + H, "purchase", units=40),
        ConversionRetraction(PROPERTY, "p2"),
    )
    feeder.feed("identity", probable("laptop", "tablet", accepted=False))
    feeder.feed(
        "attribution",
        Retraction(PROPERTY, "p2"),
        replace(staged("k2", W0 + D + H, "won", 25), conversion_name="purchase"),
    )
    record()

    first, blended, late = (answers for *_, answers in moments)
    assert first["funnel"] != blended["funnel"] != late["funnel"]
    assert first["cohorts"] != blended["cohorts"] != late["cohorts"]
    late_values = {r.channel: r.periods[-1].value_micros for r in late["purchases"].rows}
    assert late_values == {"organic_search": usd(25), "paid_search": 0, "referral": 0}

    for moment, position, answers in moments:
        assert person_answers(engine, AsOf(time=moment + timedelta(seconds=30))) == answers
        assert person_answers(engine, AsOf(attribution_position=position)) == answers
    before = person_answers(engine, AsOf(time=CLOCK))
    assert before == dict.fromkeys(before, "UnknownPropertyError")


def test_revision_v0003_keeps_the_rows_of_a_generation_current_from_position_0(
    views: ReportViews,
) -> None:
    """A generation at v0001 with outcome stages and person rows, upgraded: every row is
    current from position 0 and each staged conversion has its value; downgraded: the
    current rows are back in the old shape."""
    generation = views.live()
    assert generation is not None
    rows = {
        "conversion_stages": "('p', 'c1', 'won', 'deal', '2026-02-02 10:00:00+00:00', "
        "'2026-02-03 10:00:00+00:00', TRUE, 5000000, 'USD')",
        "person_events": "('p', 'r1', 'anon:a', 'conversion', 'deal', 1, 5000000, 'USD')",
        "visitor_first_touches": "('p', 'anon:a', 1, 'r0', 'email')",
        "identity_links": "('p', 'anon:a', 'person-1')",
    }

    def migrate_to(target: str, down: bool = False) -> None:
        with schema._engine_for(views, generation) as plain, plain.begin() as conn:
            config = schema._config(schema.VIEWS, conn)
            (command.downgrade if down else command.upgrade)(config, target)

    def select_all(table: str) -> list[tuple[Any, ...]]:
        with schema._engine_for(views, generation) as plain, plain.connect() as conn:
            return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table}"))]

    migrate_to("v0001", down=True)
    with schema._engine_for(views, generation) as plain, plain.begin() as conn:
        for table, values in rows.items():
            conn.execute(text(f"INSERT INTO {table} VALUES {values}"))
    migrate_to("head")

    for table in rows:
        [row] = select_all(table)
        assert row[-2:] == (0, None), table
    assert [r[1:4] for r in select_all("conversion_values")] == [("c1", 5000000, "USD")]
    assert schema.autogenerate_diff(views, generation) == []

    migrate_to("v0001", down=True)
    for table in rows:
        assert len(select_all(table)) == 1, table
    migrate_to("head")
