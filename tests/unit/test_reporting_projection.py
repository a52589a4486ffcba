"""Unit tests for reporting: the conversion credits projection and conversion reports on SQLite."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from common.follower import UpstreamEntry
from common.money import Money
from common.storage import create_sql_engine
from services.reporting import schema
from services.reporting.application import (
    ReportingApplication,
)
from services.reporting.domainmodel import (
    AttributedCredit,
    ConfiguredModels,
    ConversionAttribution,
    ConversionReport,
    GroupBy,
    ModelCredits,
    ReportingInput,
    ReportQuery,
)
from services.reporting.errors import (
    ConversionNameRequiredError,
    MissingPropertyError,
    MixedCurrencyError,
    ModelWithoutCreditsError,
    UnknownConversionNameError,
    UnknownPropertyError,
)
from services.reporting.generations import LIVE, ReportViews
from services.reporting.projections import ConversionCreditsProjection
from services.reporting.views import conversion_credits

PROPERTY = "shop"
DAY = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

SEARCH = ("paid_search", "google", "cpc", "spring")
EMAIL = ("email", "newsletter", "email", "")
SOCIAL = ("organic_social", "facebook", "social", "spring")


def credit(touchpoint: tuple[str, str, str, str], fraction: float, micros: int) -> AttributedCredit:
    channel, source, medium, campaign = touchpoint
    return AttributedCredit(
        touchpoint_id=f"tp-{channel}",
        channel=channel,
        source=source,
        medium=medium,
        campaign=campaign,
        fraction=fraction,
        value_micros=micros,
    )


def unattributed(micros: int) -> AttributedCredit:
    return AttributedCredit("", "(none)", "", "", "", 1.0, micros)


def attribution(
    conversion_id: str,
    journey: list[tuple[str, str, str, str]],
    *,
    micros: int = 30_000_000,
    revision: int = 1,
    name: str = "purchase",
    occurred_at: datetime = DAY,
    currency: str = "USD",
    property_id: str = PROPERTY,
) -> ConversionAttribution:
    """An attribution under last click and linear, splitting the value evenly."""
    if journey:
        last = (credit(journey[-1], 1.0, micros),)
        share = micros // len(journey)
        parts = [share] * len(journey)
        parts[-1] += micros - share * len(journey)
        linear = tuple(
            credit(t, 1 / len(journey), part) for t, part in zip(journey, parts, strict=True)
        )
    else:
        last = linear = (unattributed(micros),)
    return ConversionAttribution(
        property_id=property_id,
        conversion_id=conversion_id,
        event_id=f"evt-{conversion_id}",
        conversion_name=name,
        occurred_at=occurred_at,
        currency_code=currency,
        value_micros=micros,
        revision=revision,
        models=(ModelCredits("last_click", last), ModelCredits("linear", linear)),
    )


@pytest.fixture
def views(tmp_path: Path) -> Iterator[ReportViews]:
    views = ReportViews(create_sql_engine(f"sqlite:///{tmp_path / 'reporting.db'}"))
    schema.migrate(views)
    yield views
    views.engine.dispose()


@pytest.fixture
def engine(views: ReportViews) -> Engine:
    return views.engine


@pytest.fixture
def projection(engine: Engine) -> ConversionCreditsProjection:
    return ConversionCreditsProjection(engine)


@pytest.fixture
def app(engine: Engine) -> ReportingApplication:
    return ReportingApplication(engine)


def feed(
    projection: ConversionCreditsProjection,
    attributions: Sequence[ReportingInput | None],
    *,
    first_position: int | None = None,
) -> None:
    """Feeds the attributions as one page, at positions after the recorded one."""
    start = projection.position("attribution") + 1 if first_position is None else first_position
    entries = [UpstreamEntry(start + i, a) for i, a in enumerate(attributions)]
    projection.process_page("attribution", entries)


def report(app: ReportingApplication, model: str = "linear", **options: object) -> ConversionReport:
    return app.conversion_report(ReportQuery(property_id=PROPERTY, model=model, **options))  # type: ignore[arg-type]


def table(result: ConversionReport) -> dict[str, tuple[float, str]]:
    return {row.group: (round(row.conversions, 9), str(row.value)) for row in result.rows}


def three_conversions() -> list[ConversionAttribution | None]:
    return [
        attribution("c1", [SEARCH, EMAIL, SOCIAL], micros=30_000_000),
        None,
        attribution("c2", [EMAIL, SEARCH], micros=10_000_000),
        attribution("c3", [], micros=5_000_000),
    ]


def test_last_click_credits_the_last_touchpoint_with_the_whole_conversion(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, three_conversions())

    result = report(app, "last_click")

    assert table(result) == {
        "organic_social": (1.0, "30 USD"),
        "paid_search": (1.0, "10 USD"),
        "(none)": (1.0, "5 USD"),
    }
    assert [row.group for row in result.rows] == ["(none)", "organic_social", "paid_search"]
    assert result.total_conversions == 3.0
    assert result.total_value == Money.from_micros("USD", 45_000_000)


def test_linear_spreads_each_conversion_evenly_over_its_journey(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, three_conversions())

    result = report(app, "linear")

    assert table(result) == {
        # Fraction units: c1's thirds are 333333334 (the first) + 333333333 + 333333333.
        "paid_search": (0.833333334, "15 USD"),
        "email": (0.833333333, "15 USD"),
        "(none)": (1.0, "5 USD"),
        "organic_social": (0.333333333, "10 USD"),
    }
    # Most conversions first: paid search's extra nano-conversion puts it before email.
    assert [row.group for row in result.rows] == [
        "(none)",
        "paid_search",
        "email",
        "organic_social",
    ]
    assert result.total_conversions == 3.0


def test_shares_sum_to_one(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, three_conversions())

    for model in ("last_click", "linear"):
        for group_by in GroupBy:
            result = report(app, model, group_by=group_by)
            assert math.isclose(math.fsum(row.share for row in result.rows), 1.0)


def test_reports_group_by_source_medium_and_campaign_with_empty_values_not_set(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, three_conversions())

    by_source = table(report(app, "last_click", group_by=GroupBy.SOURCE))
    by_medium = table(report(app, "last_click", group_by=GroupBy.MEDIUM))
    by_campaign = table(report(app, "linear", group_by=GroupBy.CAMPAIGN))

    assert by_source == {
        "facebook": (1.0, "30 USD"),
        "google": (1.0, "10 USD"),
        "(not set)": (1.0, "5 USD"),
    }
    assert by_medium == {
        "social": (1.0, "30 USD"),
        "cpc": (1.0, "10 USD"),
        "(not set)": (1.0, "5 USD"),
    }
    assert by_campaign == {
        "spring": (round(2 / 3 + 1 / 2, 9), "25 USD"),
        "(not set)": (round(1 / 3 + 1 / 2 + 1, 9), "20 USD"),
    }


def test_unattributed_conversions_stay_in_the_none_channel(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, [attribution("c1", [])])

    result = report(app, "last_click")

    assert [(row.group, row.conversions, row.share) for row in result.rows] == [
        ("(none)", 1.0, 1.0)
    ]


def test_a_re_attribution_replaces_the_earlier_credits(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, [attribution("c1", [SEARCH])])
    assert table(report(app, "last_click")) == {"paid_search": (1.0, "30 USD")}

    feed(projection, [attribution("c1", [SEARCH, EMAIL], revision=2)])

    assert table(report(app, "last_click")) == {"email": (1.0, "30 USD")}
    assert table(report(app, "linear")) == {
        "paid_search": (0.5, "15 USD"),
        "email": (0.5, "15 USD"),
    }


def test_a_lower_revision_is_ignored(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, [attribution("c1", [SEARCH, EMAIL], revision=2)])

    feed(projection, [attribution("c1", [SOCIAL], revision=1)])

    assert table(report(app, "last_click")) == {"email": (1.0, "30 USD")}
    assert projection.position("attribution") == 2


def test_within_one_page_the_highest_revision_wins(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(
        projection,
        [
            attribution("c1", [SEARCH], revision=1),
            attribution("c1", [EMAIL], revision=3),
            attribution("c1", [SOCIAL], revision=2),
        ],
    )

    assert table(report(app, "last_click")) == {"email": (1.0, "30 USD")}


def test_the_time_range_includes_its_start_and_excludes_its_end(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(
        projection,
        [
            attribution("before", [SEARCH], occurred_at=DAY - timedelta(microseconds=1)),
            attribution("at-start", [EMAIL], occurred_at=DAY),
            attribution("at-end", [SOCIAL], occurred_at=DAY + timedelta(days=1)),
        ],
    )

    result = report(app, "last_click", start=DAY, end=DAY + timedelta(days=1))
    from_start = report(app, "last_click", start=DAY)
    until_end = report(app, "last_click", end=DAY + timedelta(days=1))

    assert table(result) == {"email": (1.0, "30 USD")}
    assert set(table(from_start)) == {"email", "organic_social"}
    assert set(table(until_end)) == {"paid_search", "email"}


def test_time_bounds_in_other_time_zones_mean_the_same_moment(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, [attribution("c1", [SEARCH], occurred_at=DAY)])
    start = DAY.astimezone(ZoneInfo("Europe/Paris"))

    assert table(report(app, "last_click", start=start)) == {"paid_search": (1.0, "30 USD")}
    assert report(app, "last_click", start=start + timedelta(seconds=1)).rows == ()


def test_the_conversion_name_filter_keeps_only_that_conversion(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(
        projection,
        [
            attribution("c1", [SEARCH], name="purchase"),
            attribution("c2", [EMAIL], name="sign_up", micros=0),
        ],
    )

    assert table(report(app, "last_click", conversion_name="sign_up")) == {"email": (1.0, "0 USD")}
    assert table(report(app, "last_click", conversion_name="purchase")) == {
        "paid_search": (1.0, "30 USD")
    }


def test_a_report_never_adds_conversions_of_different_names(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(
        projection,
        [
            attribution("c1", [SEARCH], name="purchase"),
            attribution("c2", [EMAIL], name="sign_up", micros=0),
        ],
    )

    with pytest.raises(ConversionNameRequiredError, match=r"several names \(purchase, sign_up\)"):
        report(app, "last_click")
    with pytest.raises(ConversionNameRequiredError):
        app.compare_models(ReportQuery(property_id=PROPERTY, model=""), ["last_click"])


def test_a_property_with_one_conversion_name_reports_it_and_says_which(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, [attribution("c1", [SEARCH], name="sign_up")])

    result = report(app, "last_click")

    assert result.conversion_name == "sign_up"
    assert table(result) == {"paid_search": (1.0, "30 USD")}


def test_an_unknown_conversion_name_is_not_found_and_names_the_known_ones(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, [attribution("c1", [SEARCH], name="purchase")])

    with pytest.raises(UnknownConversionNameError, match="purchase"):
        report(app, "last_click", conversion_name="purchse")


def test_properties_are_never_mixed(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, [attribution("c1", [SEARCH]), attribution("c1", [EMAIL], property_id="other")])

    assert table(report(app, "last_click")) == {"paid_search": (1.0, "30 USD")}


def test_a_property_without_conversions_is_unknown_even_when_others_have_some(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, [attribution("c1", [SEARCH], property_id="other")])

    with pytest.raises(UnknownPropertyError, match="'shop'") as raised:
        report(app, "last_click")
    assert "other" not in str(raised.value)


def test_a_time_range_without_conversions_has_an_empty_report(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, [attribution("c1", [SEARCH])])

    result = report(app, "last_click", start=DAY + timedelta(days=1))

    assert result.rows == ()
    assert result.total_conversions == 0.0
    assert result.total_value == Money.zero("")
    assert result.freshness.newest_conversion_at is None


def test_a_model_without_credits_is_refused_saying_how_to_configure_it(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, [attribution("c1", [SEARCH])])

    with pytest.raises(ModelWithoutCreditsError) as raised:
        report(app, "time_decay")

    message = str(raised.value)
    assert "'time_decay'" in message and "last_click, linear" in message
    assert "ConfigureModels" in message and "ATTRIBUTION_MODELS" in message


def test_a_model_configured_for_another_property_only_is_refused_naming_this_one_s_models(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(
        projection,
        [
            ConfiguredModels("*", ("last_click", "linear")),
            ConfiguredModels("outlet", ("last_click", "markov")),
            attribution("c1", [SEARCH]),
        ],
    )

    with pytest.raises(ModelWithoutCreditsError) as raised:
        report(app, "markov")

    message = str(raised.value)
    assert "'markov' is not configured for property 'shop'" in message
    assert "(its models: last_click, linear)" in message
    assert "--property shop" in message and "'*'" in message
    assert app.configured_models("outlet") == ("last_click", "markov")
    assert app.configured_models(PROPERTY) == ("last_click", "linear")

    # The outlet follows the default again; the shop chooses markov, not fitted yet.
    feed(
        projection,
        [ConfiguredModels("outlet", None), ConfiguredModels(PROPERTY, ("linear", "markov"))],
    )
    assert app.configured_models("outlet") == ("last_click", "linear")
    with pytest.raises(ModelWithoutCreditsError) as raised:
        report(app, "markov")
    assert "is configured for property 'shop' but has no credits" in str(raised.value)
    assert "first fit" in str(raised.value)


def test_any_model_with_credits_is_reported(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    time_decay = ModelCredits("time_decay", (credit(SEARCH, 1.0, 30_000_000),))
    feed(projection, [replace(attribution("c1", [SEARCH]), models=(time_decay,))])

    assert table(report(app, "time_decay")) == {"paid_search": (1.0, "30 USD")}


def test_a_model_taken_out_of_the_configuration_loses_its_credits_on_re_attribution(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(projection, [attribution("c1", [SEARCH])])
    last_only = replace(
        attribution("c1", [EMAIL], revision=2),
        models=(ModelCredits("last_click", (credit(EMAIL, 1.0, 30_000_000),)),),
    )
    feed(projection, [last_only])

    assert app.list_report_models(PROPERTY) == ("last_click",)
    with pytest.raises(ModelWithoutCreditsError):
        report(app, "linear")


def test_a_query_without_a_property_is_an_error(app: ReportingApplication) -> None:
    with pytest.raises(MissingPropertyError):
        app.conversion_report(ReportQuery(property_id="", model="linear"))


def test_mixed_reporting_currencies_are_refused_rather_than_added(
    projection: ConversionCreditsProjection, app: ReportingApplication
) -> None:
    feed(
        projection,
        [
            attribution("c1", [SEARCH], currency="USD", occurred_at=DAY),
            attribution("c2", [SEARCH], currency="EUR", occurred_at=DAY + timedelta(days=2)),
        ],
    )

    with pytest.raises(MixedCurrencyError, match="EUR, USD"):
        report(app, "last_click")
    assert table(report(app, "last_click", end=DAY + timedelta(days=1))) == {
        "paid_search": (1.0, "30 USD")
    }


def test_the_position_is_recorded_with_the_rows(
    projection: ConversionCreditsProjection,
) -> None:
    assert projection.position("attribution") == 0

    feed(projection, three_conversions(), first_position=7)

    assert projection.position("attribution") == 10
    assert projection.position("identity") == 0


def test_a_page_of_entries_without_events_still_advances_the_position(
    projection: ConversionCreditsProjection,
) -> None:
    feed(projection, [None, None], first_position=4)

    assert projection.position("attribution") == 5


def test_a_failing_page_leaves_neither_rows_nor_position(
    projection: ConversionCreditsProjection, app: ReportingApplication, engine: Engine
) -> None:
    feed(projection, [attribution("c1", [SEARCH])])
    broken = attribution("c3", [EMAIL])
    duplicate_model = replace(broken, models=(broken.models[0], broken.models[0]))

    with pytest.raises(IntegrityError):
        feed(projection, [attribution("c2", [SOCIAL]), duplicate_model])

    assert projection.position("attribution") == 1
    assert table(report(app, "last_click")) == {"paid_search": (1.0, "30 USD")}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(conversion_credits)).scalar() == 2


def test_a_reset_then_replay_gives_identical_reports(
    projection: ConversionCreditsProjection, app: ReportingApplication, views: ReportViews
) -> None:
    log = many_attributions()
    for start in range(0, len(log), 7):
        feed(projection, log[start : start + 7], first_position=start + 1)
    before = all_reports(app)

    views.create(LIVE)
    assert projection.position("attribution") == 0
    with pytest.raises(UnknownPropertyError):
        report(app, "linear")
    feed(projection, log, first_position=1)

    assert all_reports(app) == before
    assert projection.position("attribution") == len(log)


def many_attributions() -> list[ConversionAttribution | None]:
    touchpoints = [SEARCH, EMAIL, SOCIAL]
    log: list[ConversionAttribution | None] = []
    for i in range(60):
        journey = [touchpoints[(i + k) % 3] for k in range(i % 7)]
        log.append(
            attribution(
                f"c{i % 40:02d}",
                journey,
                micros=1_000_000 + 12_345 * i,
                revision=1 + i // 40,
                occurred_at=DAY + timedelta(hours=i),
            )
        )
        if i % 9 == 0:
            log.append(None)
    return log


def all_reports(app: ReportingApplication) -> list[ConversionReport]:
    return [
        report(app, model, group_by=group_by)
        for model in ("last_click", "linear")
        for group_by in GroupBy
    ]
