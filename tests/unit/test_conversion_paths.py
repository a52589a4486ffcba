"""Conversion paths: attribution's compact, bounded channel sequence, its stored form and
upcast, and reporting's keys, texts, lags and buckets."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from services.attribution import paths
from services.attribution.domainmodel import Conversion
from services.attribution.models import JourneyTouch
from services.reporting.path_values import (
    BUCKETS,
    DistributionKind,
    PathSummary,
    collapsed_key,
    lag_days,
    path_text,
    steps_key,
    steps_of_key,
)

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def journey(*channels: str) -> list[JourneyTouch]:
    return [
        JourneyTouch(f"t{i}", T0 + timedelta(hours=i), channel, "s", "m", "c")
        for i, channel in enumerate(channels)
    ]


def test_a_path_is_the_journeys_channels_as_runs_with_its_first_touch_and_length() -> None:
    path = paths.conversion_path(journey("email", "email", "paid_search", "direct", "email"))
    assert path.channels == ("email", "paid_search", "direct", "email")
    assert path.run_lengths == (2, 1, 1, 1)
    assert path.touchpoint_count == 5
    assert path.first_touch_at == T0
    assert path.last_non_direct_channel == "email"
    assert path.omitted_runs == 0


def test_last_non_direct_skips_direct_and_is_direct_only_when_all_are() -> None:
    assert paths.conversion_path(journey("email", "direct")).last_non_direct_channel == "email"
    assert paths.conversion_path(journey("direct", "direct")).last_non_direct_channel == "direct"
    empty = paths.conversion_path([])
    assert (empty.last_non_direct_channel, empty.touchpoint_count) == ("(none)", 0)
    assert empty.first_touch_at is None


def test_a_very_long_alternating_path_keeps_its_ends_and_counts_what_lies_between() -> None:
    channels = ["email", "display"] * 1500 + ["affiliate", "referral"]
    path = paths.conversion_path(journey(*channels))
    assert path.touchpoint_count == 3002
    assert len(path.channels) == paths.MAX_PATH_RUNS
    assert path.head_runs == paths.MAX_PATH_RUNS // 2
    assert path.channels[-2:] == ("affiliate", "referral")
    assert path.omitted_runs == 3002 - paths.MAX_PATH_RUNS
    assert path.omitted_touchpoints == path.omitted_runs
    assert path.omitted_channels == ("email", "display")
    assert path.last_non_direct_channel == "referral"
    summary = PathSummary(**paths.path_to_dict(path))
    assert sum(n for _, n in summary.steps()) == 3002
    assert summary.distinct_channels() == ["email", "display", "affiliate", "referral"]


def test_a_long_path_of_few_channels_is_kept_whole() -> None:
    path = paths.conversion_path(journey(*(["email"] * 600 + ["direct"] * 600)))
    assert (path.channels, path.run_lengths, path.omitted_runs) == (
        ("email", "direct"),
        (600, 600),
        0,
    )


def test_the_stored_form_round_trips() -> None:
    path = paths.conversion_path(journey("email", "direct"))
    assert paths.path_from_dict(paths.path_to_dict(path)) == path


def test_an_attribution_stored_before_paths_gets_the_path_of_its_kept_journey() -> None:
    whole = {
        "journey": [
            {
                "touchpoint_id": t.touchpoint_id,
                "occurred_at": t.occurred_at,
                "channel": t.channel,
                "source": "s",
                "medium": "m",
                "campaign": "c",
            }
            for t in journey("email", "email", "direct")
        ],
        "journey_length": 3,
        "credits": {"linear": [{"channel": "email"}, {"channel": "direct"}]},
    }
    Conversion.Attributed.upcast_v3_v4(whole)
    assert whole["path"]["channels"] == ["email", "direct"]
    assert whole["path"]["run_lengths"] == [2, 1]
    summarised = {**whole, "journey_length": 203, "credits": {"linear": [{"channel": "video"}]}}
    del summarised["path"]
    Conversion.Attributed.upcast_v3_v4(summarised)
    stored = summarised["path"]
    assert stored["touchpoint_count"] == 203
    assert (stored["head_runs"], stored["omitted_touchpoints"]) == (1, 200)
    assert stored["omitted_channels"] == ["video"]


def test_path_keys_texts_and_collapsed_keys() -> None:
    steps = [("paid_search", 2), ("email", 1), ("", 1234), ("direct", 3)]
    assert steps_of_key(steps_key(steps)) == steps
    assert path_text(steps) == "paid_search ×2 > email > … 1,234 touchpoints … > direct ×3"
    assert steps_of_key(collapsed_key(steps)) == [
        ("paid_search", 1),
        ("email", 1),
        ("", 1234),
        ("direct", 1),
    ]
    assert path_text([]) == "(none)"


def test_time_lag_is_whole_days_from_the_first_touch() -> None:
    assert lag_days(T0, T0 + timedelta(hours=23)) == 0
    assert lag_days(T0, T0 + timedelta(days=1)) == 1
    assert lag_days(T0, T0 + timedelta(days=45, hours=3)) == 45
    assert lag_days(None, T0) is None


def test_buckets_cover_every_length_and_lag_once() -> None:
    for kind in DistributionKind:
        buckets = BUCKETS[kind]
        assert buckets[0].low == 0 and buckets[-1].high is None
        for before, after in itertools.pairwise(buckets):
            assert before.high is not None and after.low == before.high + 1
    assert [b.label for b in BUCKETS[DistributionKind.TIME_LAG][-4:]] == [
        "12-30",
        "31-60",
        "61-90",
        "91+",
    ]
