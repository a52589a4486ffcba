"""Reports "as of" a past moment, as one contract on SQLite and PostgreSQL: answers recorded
live while a scenario is fed (late data re-attributes conversions and corrects spend, then a
model change re-attributes every conversion) equal the answers as of those moments, by time
and by position; a rebuild from the logs (a new generation of the views) keeps the same
history."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Engine, select

from common.follower import UpstreamEntry
from services.reporting.activity import IngestActivityProjection
from services.reporting.application import (
    ReportingApplication,
)
from services.reporting.domainmodel import (
    AsOf,
    AttributedCredit,
    ConfiguredModels,
    ConversionAttribution,
    Freshness,
    GroupBy,
    MetricsQuery,
    ModelCredits,
    ReportQuery,
    SpendEntry,
    VisitEvent,
)
from services.reporting.errors import (
    ModelWithoutCreditsError,
    UnknownPropertyError,
)
from services.reporting.filter_totals import summarise_all
from services.reporting.generations import BUILDING, Connectable, ReportViews
from services.reporting.metrics import MetricsReports
from services.reporting.path_reports import PathReports
from services.reporting.path_values import DistributionKind, PathQuery, PathSummary
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.server import ReportingSettings, migrate, open_views
from services.reporting.views import metadata
from tests.conftest import Storage

PROPERTY = "asof-shop"
DAY = datetime(2026, 2, 20, tzinfo=UTC)
CLOCK = datetime(2026, 3, 1, tzinfo=UTC)
"""When the scenario's first entry is recorded; each later one a minute after the one before."""
CHANNELS = ("paid_search", "email", "organic_social", "referral", "direct")


def credit(channel: str, fraction: float, micros: int) -> AttributedCredit:
    return AttributedCredit(f"tp-{channel}", channel, f"src-{channel}", "", "", fraction, micros)


def attribution(
    number: int, revision: int, models: tuple[str, ...], late_touch: str = ""
) -> ConversionAttribution:
    """Conversion `number` with a journey of 1 to 3 channels (and a late touch at its end),
    credited under `models`: last_click, linear and first_click as named."""
    micros = 10_000_000 + 1_000_000 * number
    journey = [CHANNELS[(number + k) % 4] for k in range(1 + number % 3)]
    if late_touch:
        journey.append(late_touch)
    shares = [micros // len(journey)] * len(journey)
    shares[-1] += micros - sum(shares)
    by_model = {
        "last_click": (credit(journey[-1], 1.0, micros),),
        "first_click": (credit(journey[0], 1.0, micros),),
        "linear": tuple(
            credit(c, 1 / len(journey), s) for c, s in zip(journey, shares, strict=True)
        ),
    }
    occurred_at = DAY + timedelta(hours=5 * number)
    return ConversionAttribution(
        property_id=PROPERTY,
        conversion_id=f"conv-{number:02d}",
        event_id=f"evt-{number}",
        conversion_name="purchase",
        occurred_at=occurred_at,
        currency_code="EUR",
        value_micros=micros,
        revision=revision,
        models=tuple(ModelCredits(m, by_model[m]) for m in models),
        path=PathSummary(
            channels=tuple(journey),
            run_lengths=tuple(1 for _ in journey),
            touchpoint_count=len(journey),
            first_touch_at=occurred_at - timedelta(days=number % 4),
            last_non_direct_channel=next((c for c in reversed(journey) if c != "direct"), "direct"),
        ),
    )


def spend(day: int, channel: str, units: int, revision: int = 1) -> SpendEntry:
    return SpendEntry(
        property_id=PROPERTY,
        day=(DAY + timedelta(days=day)).date().isoformat(),
        channel=channel,
        source=f"src-{channel}",
        medium="",
        campaign="spring",
        currency_code="EUR",
        cost_micros=units * 1_000_000,
        original_currency_code="EUR",
        original_cost_micros=units * 1_000_000,
        revision=revision,
    )


def visit(visitor: str, minutes: int, channel: str = "") -> VisitEvent:
    """A page view (no channel) or campaign touchpoint of `visitor`, `minutes` after 10:00 on
    the scenario's first day."""
    return VisitEvent(
        property_id=PROPERTY,
        visitor=visitor,
        occurred_at=DAY + timedelta(hours=10, minutes=minutes),
        campaign_touch=bool(channel),
        channel=channel,
        source=f"src-{channel}" if channel else "",
        medium="",
        campaign="spring" if channel else "",
    )


TWO = ("last_click", "linear")
THREE = ("last_click", "linear", "first_click")

Step = tuple[str, Any]
"""One entry of the scenario: ("attribution", value) or ("ingest", value); None values are
entries reporting does not use."""


def scenario() -> list[list[Step]]:
    """Three phases, each ending at a moment the live answers are recorded."""
    first: list[Step] = [
        ("attribution", ConfiguredModels("*", TWO)),
        *[("attribution", attribution(n, 1, TWO)) for n in range(8)],
        ("ingest", spend(0, "paid_search", 40)),
        ("ingest", None),
        ("ingest", spend(1, "email", 10)),
        ("ingest", visit("v1", 0, "paid_search")),
        ("ingest", visit("v2", 60, "email")),
        ("attribution", None),
    ]
    late: list[Step] = [
        ("attribution", attribution(0, 2, TWO, late_touch="email")),
        ("attribution", attribution(3, 2, TWO, late_touch="referral")),
        ("ingest", spend(0, "paid_search", 55, revision=2)),
        ("attribution", attribution(8, 1, TWO)),
        ("ingest", spend(2, "referral", 7)),
        ("ingest", visit("v1", -20)),  # an earlier page view moves v1's session start
        ("ingest", visit("v3", 24 * 60, "referral")),
        ("attribution", attribution(3, 1, TWO)),  # a stale revision arrives late: ignored
    ]
    model_change: list[Step] = [
        ("ingest", None),
        ("ingest", visit("v1", -45)),  # and again, before 9:30
        ("attribution", ConfiguredModels(PROPERTY, THREE)),
        *[
            ("attribution", attribution(n, 3, THREE, late_touch="email" if n == 0 else ""))
            for n in range(9)
        ],
    ]
    return [first, late, model_change]


@dataclass
class Moment:
    """A moment between phases: when, the attribution position, and the answers then."""

    time: datetime
    position: int
    answers: dict[str, Any]


class Feeder:
    """Feeds the scenario's entries to the projections, in pages, with positions per log
    and recorded times one minute apart across both logs."""

    def __init__(self, engine: Connectable) -> None:
        self.credits = ConversionCreditsProjection(engine)
        self.activity = IngestActivityProjection(engine)
        self.positions = {"attribution": 0, "ingest": 0}
        self.clock = CLOCK

    def feed(self, steps: list[Step], page_size: int) -> None:
        pages: dict[str, list[UpstreamEntry[Any]]] = {"attribution": [], "ingest": []}
        for log, value in steps:
            self.positions[log] += 1
            self.clock += timedelta(minutes=1)
            pages[log].append(UpstreamEntry(self.positions[log], value, recorded_at=self.clock))
        for start in range(0, len(pages["attribution"]), page_size):
            self.credits.process_page(
                "attribution", pages["attribution"][start : start + page_size]
            )
        for start in range(0, len(pages["ingest"]), page_size):
            self.activity.process_page("ingest", pages["ingest"][start : start + page_size])


def answers(engine: Engine, as_of: AsOf | None = None) -> dict[str, Any]:
    """Every report kind that has an as-of, for the property, each freshness without its
    as-of time (which only as-of answers carry)."""
    app = ReportingApplication(engine, ("attribution",))
    metrics = MetricsReports(engine)
    paths = PathReports(engine)
    found: dict[str, Any] = {}

    def ask(name: str, question: Callable[[], Any]) -> None:
        try:
            found[name] = _without_as_of_time(question())
        except (UnknownPropertyError, ModelWithoutCreditsError) as error:
            found[name] = type(error).__name__

    for model in THREE:
        for group_by in (GroupBy.CHANNEL, GroupBy.SOURCE):
            ask(
                f"conversions/{model}/{group_by.value}",
                partial(app.conversion_report, ReportQuery(PROPERTY, model, group_by, as_of=as_of)),
            )
    ask(
        "compare",
        lambda: app.compare_models(ReportQuery(PROPERTY, "", as_of=as_of), TWO),
    )
    ask("models", lambda: app.list_report_models(PROPERTY, as_of=as_of))
    ask("configured", lambda: app.configured_models(PROPERTY, as_of=as_of))
    ask("cost", lambda: metrics.cost_report(MetricsQuery(PROPERTY, as_of=as_of)))
    ask("linear cost", lambda: metrics.cost_report(MetricsQuery(PROPERTY, "linear", as_of=as_of)))
    ask("rates", lambda: metrics.rate_report(MetricsQuery(PROPERTY, as_of=as_of)))
    from_half_past_nine = MetricsQuery(
        PROPERTY, start=DAY + timedelta(hours=9, minutes=30), as_of=as_of
    )
    ask("rates from 9:30", lambda: metrics.rate_report(from_half_past_nine))
    ask("paths", lambda: paths.top_paths(PathQuery(PROPERTY, as_of=as_of)))
    ask(
        "lengths",
        lambda: paths.distribution(PathQuery(PROPERTY, as_of=as_of), DistributionKind.PATH_LENGTH),
    )
    ask("assisted", lambda: paths.assisted(PathQuery(PROPERTY, as_of=as_of)))
    return found


def _without_as_of_time(answer: Any) -> Any:
    """The answer with its freshness's as-of time (and a path summary's) cleared."""
    if hasattr(answer, "freshness") and isinstance(answer.freshness, Freshness):
        answer = replace(answer, freshness=replace(answer.freshness, as_of_time=None))
    if hasattr(answer, "totals") and hasattr(answer.totals, "freshness"):
        totals = answer.totals
        answer = replace(
            answer, totals=replace(totals, freshness=replace(totals.freshness, as_of_time=None))
        )
    return answer


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


def play(engine: Engine, page_size: int) -> list[Moment]:
    """Feeds the scenario phase by phase, recording the live answers after each phase."""
    feeder = Feeder(engine)
    moments = []
    for phase in scenario():
        feeder.feed(phase, page_size)
        moments.append(Moment(feeder.clock, feeder.positions["attribution"], answers(engine)))
    return moments


def view_rows(engine: Connectable) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view (history included), sorted, without `changed_at` (the
    position of the page that last changed a day: where pages end)."""
    with engine.connect() as conn:
        return {
            table.name: sorted(
                (
                    tuple(str(v) for v in row)
                    for row in conn.execute(select(*(c for c in table.c if c.name != "changed_at")))
                ),
            )
            for table in metadata.sorted_tables
        }


def test_as_of_answers_equal_the_live_answers_recorded_at_that_moment(engine: Engine) -> None:
    moments = play(engine, page_size=4)
    first, late, changed = moments

    # The scenario changed every kind of answer between the moments.
    assert (
        first.answers["conversions/last_click/channel"]
        != late.answers["conversions/last_click/channel"]
    )
    assert first.answers["cost"] != late.answers["cost"]
    assert first.answers["paths"] != late.answers["paths"]
    assert first.answers["rates"] != late.answers["rates"]
    assert late.answers["rates from 9:30"] != changed.answers["rates from 9:30"]
    assert late.answers["conversions/first_click/channel"] == "ModelWithoutCreditsError"
    assert changed.answers["configured"] == THREE
    assert late.answers["configured"] == TWO

    for moment in moments:
        by_time = answers(engine, AsOf(time=moment.time + timedelta(seconds=30)))
        by_position = answers(engine, AsOf(attribution_position=moment.position))
        assert by_time == moment.answers
        assert by_position == moment.answers


def test_before_the_first_entry_the_property_is_unknown_and_after_the_last_it_is_live(
    engine: Engine,
) -> None:
    *_, live = play(engine, page_size=50)

    before = answers(engine, AsOf(time=CLOCK))
    future = answers(engine, AsOf(time=datetime(2100, 1, 1, tzinfo=UTC)))

    assert before["conversions/last_click/channel"] == "UnknownPropertyError"
    assert before["paths"] == "UnknownPropertyError"
    assert future == live.answers
    report = ReportingApplication(engine, ("attribution",)).conversion_report(
        ReportQuery(PROPERTY, "last_click", as_of=AsOf(time=datetime(2100, 1, 1, tzinfo=UTC)))
    )
    assert report.freshness.as_of_time is None


def test_as_of_answers_say_the_positions_and_the_recorded_time_they_reflect(
    engine: Engine,
) -> None:
    first, *_ = play(engine, page_size=4)
    app = ReportingApplication(engine, ("attribution",))

    report = app.conversion_report(
        ReportQuery(PROPERTY, "last_click", as_of=AsOf(time=first.time + timedelta(seconds=30)))
    )
    cost = MetricsReports(engine).cost_report(
        MetricsQuery(PROPERTY, as_of=AsOf(attribution_position=first.position))
    )

    assert dict(report.freshness.positions) == {"attribution": first.position}
    assert report.freshness.as_of_time == first.time
    assert dict(cost.freshness.positions) == dict(first.answers["cost"].freshness.positions)
    assert cost.freshness.as_of_time == first.time


def test_as_of_a_past_moment_sessions_count_with_the_start_they_had_then(
    engine: Engine,
) -> None:
    first, late, changed = play(engine, page_size=4)
    metrics = MetricsReports(engine)
    from_half_past_nine = DAY + timedelta(hours=9, minutes=30)

    def sessions_then(position: int) -> int:
        query = MetricsQuery(
            PROPERTY, start=from_half_past_nine, as_of=AsOf(attribution_position=position)
        )
        return metrics.rate_report(query).totals.sessions

    # v1's session started at 10:00, then 9:40 (both counted from 9:30), then 9:15 (not).
    assert [sessions_then(m.position) for m in (first, late, changed)] == [2, 3, 2]


def test_a_rebuild_keeps_the_same_history(views: ReportViews) -> None:
    engine = views.engine
    moments = play(engine, page_size=3)
    summarise_all(engine)
    live_rows = view_rows(engine)
    assert any(row[-1] != "None" for row in live_rows["conversion_credits"])  # superseded
    assert live_rows["log_clock"]

    # A rebuild replays the logs into a new generation, in other pages, then swaps it in.
    building = views.create(BUILDING)
    feeder = Feeder(views.of(building))
    feeder.feed([step for phase in scenario() for step in phase], page_size=50)
    # The filter totals follower runs to its end on the new generation too.
    summarise_all(views.of(building))
    assert view_rows(views.of(building)) == live_rows
    views.swap(building)

    assert views.live() == building
    assert view_rows(engine) == live_rows
    for moment in moments:
        assert answers(engine, AsOf(attribution_position=moment.position)) == moment.answers


def test_live_queries_read_the_partial_index_of_current_rows(engine: Engine) -> None:
    play(engine, page_size=4)
    if engine.dialect.name != "sqlite":
        pytest.skip("the plan is checked on SQLite; PostgreSQL picks by statistics")
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT sum(fraction) FROM conversion_credits "
            "WHERE property_id = ? AND conversion_name = ? AND model = ? "
            "AND valid_to IS NULL",
            (PROPERTY, "purchase", "last_click"),
        ).all()
    assert "ix_conversion_credits_live_window" in " ".join(str(r) for r in plan)
