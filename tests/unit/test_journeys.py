"""Which touchpoints make a conversion's journey: windows, view-through, earlier conversions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.attribution.journeys import Lookback, LookbackPolicy, journey_for
from services.attribution.models import JourneyTouch

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def touch(name: str, days_before: float, touch_type: str = "click") -> JourneyTouch:
    return JourneyTouch(name, T0 - timedelta(days=days_before), "ch", "", "", "", touch_type)


def names(journey: list[JourneyTouch]) -> list[str]:
    return [t.touchpoint_id for t in journey]


def test_clicks_count_for_thirty_days_and_impressions_for_one_day_by_default() -> None:
    touches = [touch("click-29d", 29), touch("click-31d", 31), touch("view-12h", 0.5, "impression")]
    assert names(journey_for(touches, T0, Lookback())) == ["click-29d"]


def test_impressions_count_only_when_there_is_no_click_or_visit() -> None:
    views = [touch("view-2h", 2 / 24, "impression"), touch("view-3d", 3, "impression")]
    assert names(journey_for(views, T0, Lookback())) == ["view-2h"]
    with_visit = [*views, touch("visit-5d", 5, "visit")]
    assert names(journey_for(with_visit, T0, Lookback())) == ["visit-5d"]


def test_touchpoints_after_the_conversion_never_count_but_one_at_the_same_instant_does() -> None:
    touches = [touch("same-time", 0), touch("later", -0.01)]
    assert names(journey_for(touches, T0, Lookback())) == ["same-time"]


def test_ties_in_time_are_ordered_by_touchpoint_id() -> None:
    touches = [touch("b", 1), touch("a", 1), touch("c", 2)]
    assert names(journey_for(touches, T0, Lookback())) == ["c", "a", "b"]


def test_a_conversion_looks_back_only_to_the_previous_conversion_of_its_name() -> None:
    touches = [touch("before-first", 10), touch("between", 3)]
    previous = T0 - timedelta(days=5)
    assert names(journey_for(touches, T0, Lookback(), after=previous)) == ["between"]


def test_lookbacks_can_differ_per_conversion_name() -> None:
    policy = LookbackPolicy(
        default=Lookback(), by_conversion={"lead": Lookback(clicks=timedelta(days=90))}
    )
    touches = [touch("click-60d", 60)]
    assert names(journey_for(touches, T0, policy.for_conversion("lead"))) == ["click-60d"]
    assert names(journey_for(touches, T0, policy.for_conversion("purchase"))) == []
    assert policy.longest == timedelta(days=90)
