"""Data-driven attribution: exact Markov removal effects, Shapley values, path files, weights."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.attribution.datadriven import (
    InvalidPathDataError,
    PathTable,
    fit_markov,
    fit_shapley,
    journey_weights,
    read_path_csv,
)

Row = tuple[tuple[str, ...], int, int]

rows_strategy = st.lists(
    st.tuples(
        st.lists(st.sampled_from("abcde"), min_size=1, max_size=5).map(tuple),
        st.integers(0, 5),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=12,
).filter(lambda rows: sum(c for _, c, _ in rows) > 0)


def table_of(rows: Sequence[Row]) -> PathTable:
    return PathTable.from_paths(
        [p for p, _, _ in rows],
        [c for _, c, _ in rows],
        [10.0 * c for _, c, _ in rows],
        [u for _, _, u in rows],
    )


# ---------- brute force references, written independently of the module ----------


def brute_force_markov(
    rows: Sequence[Row],
    order: int,
    collapse: bool,
    removed: str | None,
    values: Sequence[float] | None = None,
) -> tuple[float, float]:
    """P(conversion) and the expected conversion value per journey, by counting transitions in
    plain Python and power-iterating the chain.

    A conversion reached from a state is worth the mean value of the observed conversions whose
    paths end in that state (ChannelAttribution's definition); ``values`` (one per row, default
    10 per conversion) are the rows' total conversion values.
    """
    row_values = values if values is not None else [10.0 * c for _, c, _ in rows]
    counts: dict[object, dict[object, float]] = defaultdict(lambda: defaultdict(float))
    value_ending: dict[object, float] = defaultdict(float)
    conversions_ending: dict[object, float] = defaultdict(float)
    for (path, conversions, nulls), value in zip(rows, row_values, strict=True):
        steps = list(path)
        if collapse:
            steps = [s for i, s in enumerate(steps) if i == 0 or steps[i - 1] != s]
        states: list[object] = [
            tuple(steps[max(0, i - order + 1) : i + 1]) for i in range(len(steps))
        ]
        chain: list[object] = ["start", *states]
        for a, b in itertools.pairwise(chain):
            counts[a][b] += conversions + nulls
        counts[chain[-1]][f"conv from {chain[-1]}"] += conversions
        counts[chain[-1]]["null"] += nulls
        if conversions:
            value_ending[chain[-1]] += value
            conversions_ending[chain[-1]] += conversions
    names = sorted({s for s in counts} | {t for d in counts.values() for t in d}, key=repr)
    index = {s: i for i, s in enumerate(names)}
    matrix = np.zeros((len(names), len(names)))
    for a, targets in counts.items():
        total = sum(targets.values())
        for b, weight in targets.items():
            if total > 0:
                target = b
                if removed is not None and isinstance(b, tuple) and removed in b:
                    target = "null"
                matrix[index[a], index[target]] += weight / total
    absorbing = ["null", *(f"conv from {s}" for s in conversions_ending)]
    for state in absorbing:
        if state in index:
            matrix[index[state], :] = 0.0
            matrix[index[state], index[state]] = 1.0
    distribution = np.zeros(len(names))
    distribution[index["start"]] = 1.0
    for _ in range(20000):
        following = distribution @ matrix
        if np.abs(following - distribution).max() < 1e-15:
            break
        distribution = following
    probability = sum(float(distribution[index[f"conv from {s}"]]) for s in conversions_ending)
    expected_value = sum(
        float(distribution[index[f"conv from {s}"]]) * value_ending[s] / conversions_ending[s]
        for s in conversions_ending
    )
    return probability, expected_value


def value_of(rows: Sequence[Row], coalition: frozenset[str]) -> float:
    return float(sum(c for path, c, _ in rows if set(path) <= coalition))


def shapley_by_orderings(rows: Sequence[Row]) -> dict[str, float]:
    players = sorted({ch for path, _, _ in rows for ch in path})
    credit = dict.fromkeys(players, 0.0)
    orderings = list(itertools.permutations(players))
    for ordering in orderings:
        before: frozenset[str] = frozenset()
        for player in ordering:
            after = before | {player}
            credit[player] += value_of(rows, after) - value_of(rows, before)
            before = after
    return {p: v / len(orderings) for p, v in credit.items()}


# ---------- Markov ----------


def test_two_touch_chain_has_the_hand_computed_answer() -> None:
    # a > b converts once, a alone does not: P(conv) = 1/2, removing either channel kills it.
    fit = fit_markov(table_of([(("a", "b"), 1, 0), (("a",), 0, 1)]))

    assert fit.conversion_probability == pytest.approx(0.5)
    assert fit.removal_effects == pytest.approx({"a": 1.0, "b": 1.0})
    assert fit.conversion_credit == pytest.approx({"a": 0.5, "b": 0.5})
    assert fit.value_credit == pytest.approx({"a": 5.0, "b": 5.0})


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("collapse", [True, False])
def test_markov_matches_brute_force_power_iteration_on_small_chains(
    order: int, collapse: bool
) -> None:
    rows: list[Row] = [
        (("a", "b", "c"), 3, 5),
        (("a", "a", "b"), 1, 4),
        (("b", "a", "c", "b"), 2, 1),
        (("c",), 0, 6),
        (("b", "c"), 4, 2),
        (("c", "a", "a", "c"), 1, 0),
    ]
    fit = fit_markov(table_of(rows), order=order, collapse_repeats=collapse)

    base, _ = brute_force_markov(rows, order, collapse, None)
    assert fit.conversion_probability == pytest.approx(base, abs=1e-10)
    for channel in "abc":
        without, _ = brute_force_markov(rows, order, collapse, channel)
        assert fit.removal_effects[channel] == pytest.approx(1 - without / base, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(rows_strategy, st.integers(1, 3), st.booleans())
def test_markov_matches_brute_force_on_random_tables(
    rows: list[Row], order: int, collapse: bool
) -> None:
    fit = fit_markov(table_of(rows), order=order, collapse_repeats=collapse)

    base, _ = brute_force_markov(rows, order, collapse, None)
    assert fit.conversion_probability == pytest.approx(base, abs=1e-9)
    for channel in fit.channels:
        without, _ = brute_force_markov(rows, order, collapse, channel)
        assert fit.removal_effects[channel] == pytest.approx(1 - without / base, abs=1e-8)


def test_value_credit_follows_value_removal_effects_not_conversion_shares() -> None:
    # c > a converts once for 100, c > b once for 10. Conversions: c is on every path
    # (removal effect 1), a and b on half (1/2 each): shares 1/2, 1/4, 1/4.
    # Value: E[value] = 1/2 * 100 + 1/2 * 10 = 55; without a it is 5, without b 50, without
    # c 0, so the value removal effects are 10/11, 1/11 and 1: shares 5/11, 1/22, 1/2 of 110.
    table = PathTable.from_paths([("c", "a"), ("c", "b")], [1, 1], [100.0, 10.0])

    fit = fit_markov(table)

    assert fit.conversion_credit == pytest.approx({"a": 0.5, "b": 0.5, "c": 1.0})
    assert fit.value_credit == pytest.approx({"a": 50.0, "b": 5.0, "c": 55.0})
    assert fit.expected_value == pytest.approx(55.0)
    assert fit.value_removal_effects == pytest.approx({"a": 10 / 11, "b": 1 / 11, "c": 1.0})


valued_rows_strategy = st.lists(
    st.tuples(
        st.lists(st.sampled_from("abcde"), min_size=1, max_size=5).map(tuple),
        st.integers(0, 5),
        st.integers(0, 5),
        st.integers(1, 500),
    ),
    min_size=1,
    max_size=12,
).filter(lambda rows: sum(c for _, c, _, _ in rows) > 0)


@settings(max_examples=60, deadline=None)
@given(valued_rows_strategy, st.integers(1, 3), st.booleans())
def test_value_credit_matches_brute_force_value_removal_effects(
    valued: list[tuple[tuple[str, ...], int, int, int]], order: int, collapse: bool
) -> None:
    rows: list[Row] = [(p, c, u) for p, c, u, _ in valued]
    values = [float(c * v) for _, c, _, v in valued]
    table = PathTable.from_paths(
        [p for p, _, _ in rows], [c for _, c, _ in rows], values, [u for _, _, u in rows]
    )
    fit = fit_markov(table, order=order, collapse_repeats=collapse)

    _, base = brute_force_markov(rows, order, collapse, None, values)
    effects = {
        channel: 1 - brute_force_markov(rows, order, collapse, channel, values)[1] / base
        for channel in fit.channels
    }
    total_effect = sum(effects.values())
    for channel in fit.channels:
        expected = effects[channel] / total_effect * sum(values)
        assert fit.value_credit[channel] == pytest.approx(expected, rel=1e-7, abs=1e-7)
        assert fit.value_removal_effects[channel] == pytest.approx(effects[channel], abs=1e-8)
    assert fit.expected_value == pytest.approx(base, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(valued_rows_strategy, st.integers(1, 3), st.booleans())
def test_modelled_value_per_journey_equals_the_observed_value_per_journey(
    valued: list[tuple[tuple[str, ...], int, int, int]], order: int, collapse: bool
) -> None:
    table = PathTable.from_paths(
        [p for p, _, _, _ in valued],
        [c for _, c, _, _ in valued],
        [float(c * v) for _, c, _, v in valued],
        [u for _, _, u, _ in valued],
    )
    fit = fit_markov(table, order=order, collapse_repeats=collapse)

    assert fit.expected_value == pytest.approx(fit.observed_value_per_journey, rel=1e-9)
    assert fit.observed_value_per_journey == pytest.approx(table.total_value / table.total_journeys)


def test_value_credit_falls_back_to_conversion_shares_when_conversions_carry_no_value() -> None:
    table = PathTable.from_paths([("a", "b"), ("b",)], [2, 1], [0.0, 0.0], [0, 3])

    fit = fit_markov(table)

    assert fit.expected_value == 0.0
    assert fit.value_removal_effects == {"a": 0.0, "b": 0.0}
    assert fit.value_credit == {"a": 0.0, "b": 0.0}
    assert sum(fit.conversion_credit.values()) == pytest.approx(3.0)


@settings(max_examples=150, deadline=None)
@given(rows_strategy)
def test_modelled_conversion_probability_equals_observed_rate_at_first_order(
    rows: list[Row],
) -> None:
    fit = fit_markov(table_of(rows), order=1, collapse_repeats=False)

    assert fit.conversion_probability == pytest.approx(fit.observed_conversion_rate, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(rows_strategy, st.integers(1, 3), st.booleans())
def test_the_rate_invariant_also_holds_for_higher_orders_and_collapsed_paths(
    rows: list[Row], order: int, collapse: bool
) -> None:
    fit = fit_markov(table_of(rows), order=order, collapse_repeats=collapse)

    assert fit.conversion_probability == pytest.approx(fit.observed_conversion_rate, rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(rows_strategy, st.integers(1, 2), st.booleans())
def test_removal_effects_lie_in_the_unit_interval_and_credits_sum_to_the_totals(
    rows: list[Row], order: int, collapse: bool
) -> None:
    table = table_of(rows)
    fit = fit_markov(table, order=order, collapse_repeats=collapse)

    assert all(0.0 <= e <= 1.0 for e in fit.removal_effects.values())
    assert sum(fit.conversion_credit.values()) == pytest.approx(table.total_conversions)
    assert sum(fit.value_credit.values()) == pytest.approx(table.total_value)


def test_a_table_without_conversions_credits_nothing() -> None:
    fit = fit_markov(table_of([(("a", "b"), 0, 3)]))

    assert fit.conversion_probability == 0.0
    assert fit.conversion_credit == {"a": 0.0, "b": 0.0}


def test_collapsing_repeats_does_not_change_first_order_removal_effects() -> None:
    rows: list[Row] = [(("a", "a", "b"), 2, 1), (("b", "b"), 0, 3), (("a", "c", "c"), 1, 1)]

    kept = fit_markov(table_of(rows), collapse_repeats=False)
    collapsed = fit_markov(table_of(rows), collapse_repeats=True)

    assert kept.removal_effects == pytest.approx(collapsed.removal_effects)


def test_markov_fits_a_large_table_through_the_sparse_solver() -> None:
    # 30 channels at order 2 make several hundred states, beyond the dense path.
    rng = np.random.default_rng(3)
    names = [f"c{i:02d}" for i in range(30)]
    rows: list[Row] = [
        (tuple(rng.choice(names, size=int(rng.integers(1, 6)))), int(rng.integers(0, 3)), 1)
        for _ in range(3000)
    ]
    fit = fit_markov(table_of(rows), order=2)

    assert fit.n_states > 64
    assert fit.conversion_probability == pytest.approx(fit.observed_conversion_rate)
    assert fit.expected_value == pytest.approx(fit.observed_value_per_journey)
    assert sum(fit.conversion_credit.values()) == pytest.approx(sum(c for _, c, _ in rows))


# ---------- Shapley ----------


@settings(max_examples=80, deadline=None)
@given(rows_strategy)
def test_exact_shapley_equals_the_average_over_all_orderings(rows: list[Row]) -> None:
    fit = fit_shapley(table_of(rows))

    assert fit.exact
    assert fit.conversion_credit == pytest.approx(shapley_by_orderings(rows), abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(rows_strategy)
def test_exact_shapley_equals_the_closed_form_of_splitting_each_path_equally(
    rows: list[Row],
) -> None:
    expected: dict[str, float] = defaultdict(float)
    for path, conversions, _ in rows:
        for channel in set(path):
            expected[channel] += conversions / len(set(path))

    fit = fit_shapley(table_of(rows))

    assert fit.conversion_credit == pytest.approx(dict(expected), abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(rows_strategy)
def test_shapley_credits_sum_to_the_value_of_all_channels(rows: list[Row]) -> None:
    table = table_of(rows)
    fit = fit_shapley(table)

    assert sum(fit.conversion_credit.values()) == pytest.approx(table.total_conversions)
    assert sum(fit.value_credit.values()) == pytest.approx(table.total_value)


def test_symmetric_channels_get_equal_shapley_credit() -> None:
    # a and b play interchangeable roles: swapping them leaves every coalition value unchanged.
    rows: list[Row] = [(("a", "c"), 3, 0), (("b", "c"), 3, 0), (("a", "b"), 2, 0), (("c",), 1, 0)]

    fit = fit_shapley(table_of(rows))

    assert fit.conversion_credit["a"] == pytest.approx(fit.conversion_credit["b"])


def test_a_channel_that_never_adds_conversions_is_a_null_player() -> None:
    # d only appears on journeys that did not convert.
    rows: list[Row] = [(("a", "b"), 3, 1), (("d", "a"), 0, 4), (("d",), 0, 2), (("b",), 1, 0)]

    fit = fit_shapley(table_of(rows))

    assert fit.conversion_credit["d"] == 0.0


def test_sampled_shapley_is_flagged_and_close_to_exact_for_six_channels() -> None:
    rng = np.random.default_rng(7)
    names = list("abcdef")
    rows: list[Row] = [
        (tuple(rng.choice(names, size=int(rng.integers(1, 5)))), int(rng.integers(0, 4)), 0)
        for _ in range(60)
    ]
    table = table_of(rows)

    exact = fit_shapley(table)
    sampled = fit_shapley(table, max_exact_channels=5, samples=20000, seed=1)

    assert exact.exact and not sampled.exact and sampled.samples == 20000
    for channel in names:
        assert sampled.conversion_credit[channel] == pytest.approx(
            exact.conversion_credit[channel], abs=0.02 * table.total_conversions
        )
    assert sum(sampled.conversion_credit.values()) == pytest.approx(table.total_conversions)


def test_sampled_shapley_handles_more_channels_than_a_bitmask_holds() -> None:
    rng = np.random.default_rng(11)
    names = [f"c{i:02d}" for i in range(70)]
    rows: list[Row] = [
        (tuple(rng.choice(names, size=int(rng.integers(1, 4)))), int(rng.integers(1, 3)), 0)
        for _ in range(400)
    ]
    expected: dict[str, float] = defaultdict(float)
    for path, conversions, _ in rows:
        for channel in set(path):
            expected[channel] += conversions / len(set(path))

    fit = fit_shapley(table_of(rows), samples=4000)

    assert not fit.exact
    assert sum(fit.conversion_credit.values()) == pytest.approx(sum(c for _, c, _ in rows))
    for channel, credit in expected.items():
        assert fit.conversion_credit[channel] == pytest.approx(credit, abs=1.5)


def test_sampled_shapley_is_reproducible_with_a_seed() -> None:
    table = table_of([(("a", "b", "c"), 2, 0), (("c", "d"), 1, 0), (("a",), 1, 0)])

    first = fit_shapley(table, max_exact_channels=2, samples=300, seed=5)
    again = fit_shapley(table, max_exact_channels=2, samples=300, seed=5)

    assert first.conversion_credit == again.conversion_credit


# ---------- path tables and files ----------


def test_from_paths_aggregates_duplicate_paths_and_sorts_the_vocabulary() -> None:
    table = PathTable.from_paths([["b", "a"], ["b", "a"], ["c"]], [1, 2, 0], nulls=[0, 1, 5])

    assert table.channels == ("a", "b", "c")
    assert table.n_paths == 2
    by_path = {table.path(i): (table.conversions[i], table.nulls[i]) for i in range(2)}
    assert by_path == {("b", "a"): (3.0, 1.0), ("c",): (0.0, 5.0)}


def test_from_codes_aggregates_like_from_paths() -> None:
    coded = PathTable.from_codes(
        ["y", "x"], [0, 2, 3, 5], [0, 1, 0, 0, 1], [1, 1, 2], values=[5, 0, 7]
    )

    assert coded.channels == ("x", "y")
    paths = {coded.path(i): (coded.conversions[i], coded.values[i]) for i in range(coded.n_paths)}
    assert paths == {("y", "x"): (3.0, 12.0), ("y",): (1.0, 0.0)}


def test_from_paths_rejects_an_empty_path() -> None:
    with pytest.raises(InvalidPathDataError, match="empty"):
        PathTable.from_paths([["a"], []], [1, 1])


def test_from_paths_rejects_negative_counts() -> None:
    with pytest.raises(InvalidPathDataError, match="non-negative"):
        PathTable.from_paths([["a"], ["b"]], [1, -1])


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "paths.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_path_csv_reads_the_common_column_format(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "path,total_conversions,total_conversion_value,total_null\n"
        "email > paid search,2,30.5,7\n"
        "display,0,0,12\n",
    )

    table = read_path_csv(path)

    assert table.channels == ("display", "email", "paid search")
    rows = {
        table.path(i): (table.conversions[i], table.values[i], table.nulls[i])
        for i in range(table.n_paths)
    }
    assert rows == {("email", "paid search"): (2.0, 30.5, 7.0), ("display",): (0.0, 0.0, 12.0)}


def test_read_path_csv_strips_spaces_and_sums_duplicate_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        " Path ; total_conversions ; total_null\n"  # spaces in the header too
        "a>b;1;0\n"
        "  a >  b ;1;1\n"
        "\n"
        '"a > b";0;1\n',
    )

    table = read_path_csv(path)

    assert table.n_paths == 1
    assert table.path(0) == ("a", "b")
    assert (table.conversions[0], table.values[0], table.nulls[0]) == (2.0, 0.0, 2.0)


def test_read_path_csv_defaults_missing_value_and_null_columns_to_zero(tmp_path: Path) -> None:
    table = read_path_csv(write(tmp_path, "total_conversions,path\n1,x\n1,x\n"))

    assert table.path(0) == ("x",)
    assert (table.conversions[0], table.values[0], table.nulls[0]) == (2.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("a,1,0\n,1,0\n", 3, "empty path"),
        ("a,1,0\na > > b,1,0\n", 3, "empty path or channel"),
        ("a,1,0\nb,-2,0\n", 3, "non-negative"),
        ("a,1,0\nb,1,-1\n", 3, "total_null must be"),
        ("a,1,0\nb,x,0\n", 3, "not a number"),
        ("a,1,0\nb,nan,0\n", 3, "non-negative number"),
        ("a,1,0\nb\n", 3, "fields"),
        ('"a\n> b",1,0\nc,-1,0\n', 4, "non-negative"),
    ],
)
def test_read_path_csv_rejects_bad_rows_naming_the_line(
    tmp_path: Path, body: str, line: int, message: str
) -> None:
    path = write(tmp_path, "path,total_conversions,total_null\n" + body)

    with pytest.raises(InvalidPathDataError, match=f"line {line}: .*{message}"):
        read_path_csv(path)


def test_read_path_csv_requires_the_path_and_conversions_columns(tmp_path: Path) -> None:
    with pytest.raises(InvalidPathDataError, match="line 1"):
        read_path_csv(write(tmp_path, "journey,conversions\na,1\n"))


def test_a_path_file_fits_the_same_as_the_same_paths_in_memory(tmp_path: Path) -> None:
    rows: list[Row] = [(("a", "b"), 2, 3), (("b",), 1, 4), (("c", "a"), 0, 2)]
    text = "path,total_conversions,total_conversion_value,total_null\n" + "".join(
        f"{' > '.join(p)},{c},{10 * c},{u}\n" for p, c, u in rows
    )

    from_file = fit_markov(read_path_csv(write(tmp_path, text)))
    in_memory = fit_markov(table_of(rows))

    assert from_file.conversion_credit == pytest.approx(in_memory.conversion_credit)
    assert from_file.value_credit == pytest.approx(in_memory.value_credit)


# ---------- journey weights ----------


def test_journey_weights_follow_fitted_credit_split_across_repeated_touches() -> None:
    weights = journey_weights({"a": 3.0, "b": 1.0}, ["a", "b", "a"])

    assert weights == pytest.approx([0.375, 0.25, 0.375])


def test_journey_weights_give_unknown_channels_nothing_when_others_are_fitted() -> None:
    assert journey_weights({"a": 2.0}, ["x", "a"]) == pytest.approx([0.0, 1.0])


def test_journey_weights_fall_back_to_linear_without_fitted_credit() -> None:
    assert journey_weights({"a": 0.0}, ["a", "x", "y", "x"]) == pytest.approx([0.25] * 4)
    assert journey_weights({}, []) == []


def test_journey_weights_take_the_given_weights_when_no_channel_has_credit() -> None:
    # Value shares all zero for the journey's channels: value follows the conversion weights.
    assert journey_weights({"a": 0.0}, ["a", "b"], otherwise=[0.75, 0.25]) == [0.75, 0.25]
    assert journey_weights({"a": 1.0}, ["a", "b"], otherwise=[0.75, 0.25]) == [1.0, 0.0]


@given(
    st.dictionaries(st.sampled_from("abcd"), st.floats(0, 100)),
    st.lists(st.sampled_from("abcdef"), min_size=1, max_size=8),
)
def test_journey_weights_always_sum_to_one(weights: dict[str, float], journey: list[str]) -> None:
    result = journey_weights(weights, journey)

    assert len(result) == len(journey)
    assert math.fsum(result) == pytest.approx(1.0)
    assert all(w >= 0 for w in result)


def test_an_empty_table_fits_to_zero_credit_for_every_channel() -> None:
    table = PathTable.from_codes(["a", "b"], [0], [], [])

    assert fit_markov(table).conversion_credit == {"a": 0.0, "b": 0.0}
    assert fit_shapley(table).conversion_credit == {"a": 0.0, "b": 0.0}
    assert fit_shapley(table, max_exact_channels=0).conversion_credit == {"a": 0.0, "b": 0.0}
