"""Rule-based attribution models: known answers, edge cases, invariants and the batch path."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.money import split_micros
from services.attribution.models import JourneyTouch
from services.attribution.rules import (
    NAMED_RULES,
    InvalidJourneyError,
    InvalidModelError,
    RuleKind,
    RuleModel,
    batch_weights,
    pack_journeys,
)

CONVERTED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CHANNELS = ("direct", "email", "paid_search", "organic_search", "display")


def journey(*channels: str, days_before: Sequence[float] | None = None) -> list[JourneyTouch]:
    """Touches oldest first, one day apart unless `days_before` says when each happened."""
    ages = days_before if days_before is not None else range(len(channels) - 1, -1, -1)
    return [
        JourneyTouch(f"t{i}", CONVERTED_AT - timedelta(days=age), channel, channel, "m", "c")
        for i, (channel, age) in enumerate(zip(channels, ages, strict=True))
    ]


def weights(model: RuleModel | RuleKind, touches: Sequence[JourneyTouch]) -> list[float]:
    chosen = model if isinstance(model, RuleModel) else RuleModel(model)
    return chosen.weights(touches, CONVERTED_AT)


FOUR = journey("display", "email", "paid_search", "organic_search")
# FOUR's touches are one day apart: with a 7-day half-life each weighs 2^(-age/7).
DECAY = [2 ** (-age / 7) for age in (3, 2, 1, 0)]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (RuleKind.FIRST_TOUCH, [1.0, 0.0, 0.0, 0.0]),
        (RuleKind.LAST_TOUCH, [0.0, 0.0, 0.0, 1.0]),
        (RuleKind.LAST_NON_DIRECT, [0.0, 0.0, 0.0, 1.0]),
        (RuleKind.LINEAR, [0.25, 0.25, 0.25, 0.25]),
        (RuleKind.POSITION_BASED, [0.4, 0.1, 0.1, 0.4]),
        (RuleKind.W_SHAPED, [0.3, 0.3, 0.1, 0.3]),
        (RuleKind.J_SHAPED, [0.2, 0.1, 0.1, 0.6]),
        (RuleKind.INVERSE_J, [0.6, 0.1, 0.1, 0.2]),
        (RuleKind.TIME_DECAY, [w / sum(DECAY) for w in DECAY]),
        (RuleKind.PARTICIPATION, [1.0, 1.0, 1.0, 1.0]),
    ],
)
def test_each_model_credits_four_distinct_touches_as_computed_by_hand(
    kind: RuleKind, expected: list[float]
) -> None:
    assert weights(kind, FOUR) == pytest.approx(expected, rel=1e-12)


def test_position_based_spreads_the_middle_fifth_over_three_middle_touches() -> None:
    five = journey("display", "email", "email", "paid_search", "organic_search")
    assert weights(RuleKind.POSITION_BASED, five) == pytest.approx(
        [0.4, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.4]
    )


def test_w_shaped_gives_the_key_share_to_the_middle_touch_and_spreads_the_rest() -> None:
    five = journey("display", "email", "email", "paid_search", "organic_search")
    assert weights(RuleKind.W_SHAPED, five) == pytest.approx([0.3, 0.05, 0.3, 0.05, 0.3])


def test_w_shaped_key_touch_of_an_even_journey_is_the_earlier_middle_one() -> None:
    six = journey("display", "email", "email", "paid_search", "referral", "organic_search")
    assert weights(RuleKind.W_SHAPED, six) == pytest.approx(
        [0.3, 0.1 / 3, 0.3, 0.1 / 3, 0.1 / 3, 0.3]
    )


def test_w_shaped_over_three_touches_renormalises_first_key_and_last() -> None:
    three = journey("display", "email", "paid_search")
    assert weights(RuleKind.W_SHAPED, three) == pytest.approx([1 / 3, 1 / 3, 1 / 3])


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (RuleKind.POSITION_BASED, [0.5, 0.5]),
        (RuleKind.W_SHAPED, [0.5, 0.5]),
        (RuleKind.J_SHAPED, [0.25, 0.75]),
        (RuleKind.INVERSE_J, [0.75, 0.25]),
    ],
)
def test_two_touch_shapes_renormalise_the_first_and_last_shares(
    kind: RuleKind, expected: list[float]
) -> None:
    assert weights(kind, journey("email", "paid_search")) == pytest.approx(expected)


def test_j_shape_over_three_touches_gives_the_middle_its_fifth() -> None:
    three = journey("display", "email", "paid_search")
    assert weights(RuleKind.J_SHAPED, three) == pytest.approx([0.2, 0.2, 0.6])


def test_configured_position_shares_replace_the_defaults() -> None:
    model = RuleModel(RuleKind.POSITION_BASED, first_share=0.3, last_share=0.5)
    assert weights(model, FOUR) == pytest.approx([0.3, 0.1, 0.1, 0.5])
    assert weights(model, FOUR[:2]) == pytest.approx([0.375, 0.625])


def test_custom_positions_normalise_a_first_middle_last_triple() -> None:
    model = RuleModel(RuleKind.CUSTOM_POSITIONS, position_weights=(3, 4, 3))
    assert weights(model, FOUR) == pytest.approx([0.3, 0.2, 0.2, 0.3])
    assert weights(model, FOUR[:3]) == pytest.approx([0.3, 0.4, 0.3])
    assert weights(model, FOUR[:2]) == pytest.approx([0.5, 0.5])


def test_custom_positions_with_only_a_middle_weight_split_two_touches_equally() -> None:
    model = RuleModel(RuleKind.CUSTOM_POSITIONS, position_weights=(0, 1, 0))
    assert weights(model, FOUR) == pytest.approx([0.0, 0.5, 0.5, 0.0])
    assert weights(model, FOUR[:2]) == pytest.approx([0.5, 0.5])


def test_time_decay_splits_a_fifty_dollar_order_over_four_weekly_touches() -> None:
    # Touches 21, 14, 7 and 0 days before the order, half-life 7 days:
    # weights ∝ 1/8, 1/4, 1/2, 1, i.e. 1/15, 2/15, 4/15, 8/15 of $50.
    touches = journey("display", "email", "paid_search", "email", days_before=[21, 14, 7, 0])
    shares = weights(RuleKind.TIME_DECAY, touches)
    assert shares == pytest.approx([1 / 15, 2 / 15, 4 / 15, 8 / 15], rel=1e-15)
    assert split_micros(50_000_000, shares) == [3_333_333, 6_666_667, 13_333_333, 26_666_667]
    assert split_micros(5_000, shares) == [333, 667, 1_333, 2_667]


def test_time_decay_halves_the_credit_of_a_touch_one_half_life_older() -> None:
    model = RuleModel(RuleKind.TIME_DECAY, half_life_days=1.0)
    touches = journey("email", "paid_search", days_before=[1.5, 0.5])
    assert weights(model, touches) == pytest.approx([1 / 3, 2 / 3])


def test_time_decay_gives_touches_at_the_same_time_equal_credit() -> None:
    touches = journey("email", "paid_search", "display", days_before=[3, 3, 0])
    first, second, last = weights(RuleKind.TIME_DECAY, touches)
    assert first == second
    assert last == pytest.approx(2 ** (3 / 7) * first)


def test_time_decay_keeps_very_old_journeys_finite() -> None:
    touches = journey("email", "paid_search", days_before=[100_000, 99_999])
    model = RuleModel(RuleKind.TIME_DECAY, half_life_days=1.0)
    assert weights(model, touches) == pytest.approx([1 / 3, 2 / 3])


def test_time_decay_rejects_a_touch_after_the_conversion() -> None:
    with pytest.raises(InvalidJourneyError):
        weights(RuleKind.TIME_DECAY, journey("email", days_before=[-0.5]))


def test_last_non_direct_skips_a_direct_last_touch() -> None:
    touches = journey("email", "paid_search", "direct", "direct")
    assert weights(RuleKind.LAST_NON_DIRECT, touches) == [0.0, 1.0, 0.0, 0.0]


def test_last_non_direct_falls_back_to_the_last_touch_when_all_are_direct() -> None:
    touches = journey("direct", "direct", "direct")
    assert weights(RuleKind.LAST_NON_DIRECT, touches) == [0.0, 0.0, 1.0]


def test_participation_shares_one_full_credit_among_the_touches_of_a_channel() -> None:
    touches = journey("email", "direct", "email", "paid_search", "email")
    assert weights(RuleKind.PARTICIPATION, touches) == pytest.approx(
        [1 / 3, 1.0, 1 / 3, 1.0, 1 / 3]
    )


@pytest.mark.parametrize("kind", list(RuleKind))
def test_a_single_touch_gets_all_the_credit_under_every_model(kind: RuleKind) -> None:
    model = RuleModel(kind, position_weights=(1, 1, 1) if kind == "custom_positions" else ())
    assert model.weights(journey("email"), CONVERTED_AT) == [1.0]


@pytest.mark.parametrize("kind", list(RuleKind))
def test_an_empty_journey_is_refused_under_every_model(kind: RuleKind) -> None:
    model = RuleModel(kind, position_weights=(1, 1, 1) if kind == "custom_positions" else ())
    with pytest.raises(ValueError, match="empty"):
        model.weights([], CONVERTED_AT)


def test_only_participation_does_not_conserve_credit() -> None:
    assert [name for name, m in NAMED_RULES.items() if not m.conserves_credit] == ["participation"]


def test_named_rules_are_the_default_models_by_their_usual_names() -> None:
    assert {name: model.kind for name, model in NAMED_RULES.items()} == {
        "first_click": RuleKind.FIRST_TOUCH,
        "last_click": RuleKind.LAST_TOUCH,
        "last_non_direct_click": RuleKind.LAST_NON_DIRECT,
        "linear": RuleKind.LINEAR,
        "position_based": RuleKind.POSITION_BASED,
        "w_shaped": RuleKind.W_SHAPED,
        "j_shaped": RuleKind.J_SHAPED,
        "inverse_j": RuleKind.INVERSE_J,
        "time_decay": RuleKind.TIME_DECAY,
        "participation": RuleKind.PARTICIPATION,
    }
    assert NAMED_RULES["time_decay"].half_life_days == 7.0


def test_defaults_are_resolved_so_a_model_equals_its_explicit_spelling() -> None:
    assert RuleModel("j_shaped") == RuleModel(  # type: ignore[arg-type]
        RuleKind.J_SHAPED, first_share=0.2, last_share=0.6
    )
    assert RuleModel(RuleKind.W_SHAPED).key_share == 0.3


@pytest.mark.parametrize(
    "arguments",
    [
        {"kind": "u_shaped"},
        {"kind": RuleKind.POSITION_BASED, "first_share": -0.1},
        {"kind": RuleKind.POSITION_BASED, "first_share": 0.7, "last_share": 0.4},
        {"kind": RuleKind.W_SHAPED, "key_share": 0.5},
        {"kind": RuleKind.J_SHAPED, "key_share": 0.1},
        {"kind": RuleKind.LINEAR, "first_share": 0.5},
        {"kind": RuleKind.INVERSE_J, "last_share": math.nan},
        {"kind": RuleKind.TIME_DECAY, "half_life_days": 0.0},
        {"kind": RuleKind.TIME_DECAY, "half_life_days": -7.0},
        {"kind": RuleKind.TIME_DECAY, "half_life_days": math.inf},
        {"kind": RuleKind.CUSTOM_POSITIONS},
        {"kind": RuleKind.CUSTOM_POSITIONS, "position_weights": (0.5, 0.5)},
        {"kind": RuleKind.CUSTOM_POSITIONS, "position_weights": (0, 0, 0)},
        {"kind": RuleKind.CUSTOM_POSITIONS, "position_weights": (1, -1, 1)},
        {"kind": RuleKind.LINEAR, "position_weights": (1, 1, 1)},
    ],
)
def test_invalid_parameters_are_refused_with_invalid_model_error(
    arguments: dict[str, object],
) -> None:
    with pytest.raises(InvalidModelError):
        RuleModel(**arguments)  # type: ignore[arg-type]


# Property-based tests.

ages_strategy = st.one_of(
    st.floats(min_value=0, max_value=90, allow_nan=False),
    st.sampled_from([0.0, 1.0, 7.0]),  # ties in time
)


@st.composite
def journeys(draw: st.DrawFn) -> list[JourneyTouch]:
    """1 to 12 touches, oldest first, random ages (ties included) and channels."""
    ages = sorted(draw(st.lists(ages_strategy, min_size=1, max_size=12)), reverse=True)
    channels = draw(st.lists(st.sampled_from(CHANNELS), min_size=len(ages), max_size=len(ages)))
    return journey(*channels, days_before=ages)


shares = st.floats(min_value=0, max_value=1, allow_nan=False)


@st.composite
def models(draw: st.DrawFn) -> RuleModel:
    """Any kind of model, with random valid parameters half the time."""
    kind = draw(st.sampled_from(list(RuleKind)))
    if kind == RuleKind.CUSTOM_POSITIONS:
        triple = draw(st.tuples(shares, shares, shares).filter(lambda t: sum(t) > 0))
        return RuleModel(kind, position_weights=triple)
    if not draw(st.booleans()):
        return RuleModel(kind)
    if kind == RuleKind.TIME_DECAY:
        return RuleModel(kind, half_life_days=draw(st.floats(min_value=0.1, max_value=60)))
    if kind == RuleKind.W_SHAPED:
        first, key, last = draw(st.tuples(shares, shares, shares).filter(lambda t: sum(t) <= 1))
        return RuleModel(kind, first_share=first, key_share=key, last_share=last)
    if kind in (RuleKind.POSITION_BASED, RuleKind.J_SHAPED, RuleKind.INVERSE_J):
        first, last = draw(st.tuples(shares, shares).filter(lambda t: sum(t) <= 1))
        return RuleModel(kind, first_share=first, last_share=last)
    return RuleModel(kind)


@given(models(), journeys())
def test_every_conserving_model_shares_out_exactly_one_credit(
    model: RuleModel, touches: list[JourneyTouch]
) -> None:
    credit = model.weights(touches, CONVERTED_AT)
    assert len(credit) == len(touches)
    assert all(w >= 0 for w in credit)
    if model.conserves_credit:
        assert math.fsum(credit) == pytest.approx(1.0, rel=1e-12)


@given(journeys())
def test_participation_credits_each_distinct_channel_once_in_full(
    touches: list[JourneyTouch],
) -> None:
    credit = NAMED_RULES["participation"].weights(touches, CONVERTED_AT)
    per_channel: dict[str, float] = defaultdict(float)
    for touch, share in zip(touches, credit, strict=True):
        per_channel[touch.channel] += share
    assert set(per_channel) == {t.channel for t in touches}
    assert all(total == pytest.approx(1.0) for total in per_channel.values())
    assert math.fsum(credit) == pytest.approx(len(per_channel))


@settings(max_examples=300)
@given(models(), st.lists(journeys(), min_size=1, max_size=20))
def test_batch_weights_equal_the_weights_of_each_journey(
    model: RuleModel, batch: list[list[JourneyTouch]]
) -> None:
    conversions = [(touches, CONVERTED_AT + timedelta(hours=i)) for i, touches in enumerate(batch)]
    packed = pack_journeys(conversions)
    expected = [w for touches, at in conversions for w in model.weights(touches, at)]
    np.testing.assert_allclose(packed.weights(model), expected, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("scale", [1, 10**12])
def test_batch_participation_accepts_sparse_channel_codes(scale: int) -> None:
    # 2,000 one-touch journeys over 2,000 channels: too many (journey, channel) pairs to
    # count with a dense table, and with scale 10**12 codes too far apart to use directly.
    n = 2_000
    offsets = np.arange(n + 1)
    codes = np.arange(n, dtype=np.int64) * scale
    result = batch_weights(
        NAMED_RULES["participation"], offsets, np.zeros(n), np.zeros(n, bool), codes
    )
    assert result.tolist() == [1.0] * n


def test_batch_participation_accepts_channel_names_as_codes() -> None:
    names = np.array(["email", "direct", "email", "email", "display"])
    result = batch_weights(
        NAMED_RULES["participation"], [0, 3, 5], np.zeros(5), names == "direct", names
    )
    assert result.tolist() == pytest.approx([0.5, 1.0, 0.5, 1.0, 1.0])


def test_batch_last_non_direct_looks_only_within_each_journey() -> None:
    is_direct = np.array([False, True, True, False, True])
    result = batch_weights(NAMED_RULES["last_non_direct_click"], [0, 3, 4, 5], [0] * 5, is_direct)
    assert result.tolist() == [1.0, 0.0, 0.0, 1.0, 1.0]


def test_batch_refuses_an_empty_journey() -> None:
    with pytest.raises(InvalidJourneyError, match="empty"):
        batch_weights(NAMED_RULES["linear"], [0, 2, 2, 3], np.zeros(3), np.zeros(3, bool))


@pytest.mark.parametrize("offsets", [[1, 3], [0, 2], [[0, 3]], [0.0, 3.0]])
def test_batch_refuses_offsets_that_do_not_cover_the_touches(offsets: object) -> None:
    with pytest.raises(InvalidJourneyError):
        batch_weights(NAMED_RULES["linear"], offsets, np.zeros(3), np.zeros(3, bool))  # type: ignore[arg-type]


def test_batch_participation_needs_channel_codes() -> None:
    with pytest.raises(InvalidJourneyError, match="channel_codes"):
        batch_weights(NAMED_RULES["participation"], [0, 1], [0.0], [False])


def test_batch_time_decay_refuses_touches_after_the_conversion() -> None:
    with pytest.raises(InvalidJourneyError):
        batch_weights(NAMED_RULES["time_decay"], [0, 2], [1.0, -1.0], [False, False])


def test_batch_time_decay_keeps_very_old_journeys_finite() -> None:
    model = RuleModel(RuleKind.TIME_DECAY, half_life_days=1.0)
    result = batch_weights(model, [0, 2], [100_000.0, 99_999.0], [False, False])
    assert result.tolist() == pytest.approx([1 / 3, 2 / 3])


def test_batch_of_no_journeys_is_empty() -> None:
    for model in NAMED_RULES.values():
        result = batch_weights(model, [0], np.zeros(0), np.zeros(0, bool), np.zeros(0, int))
        assert result.shape == (0,)
