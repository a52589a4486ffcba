"""Data-driven attribution benchmark: path table, exact Markov (order 1, 2), Shapley, crediting.

`run(n)` generates `n` seeded journeys of 1-8 touches over 10 channels (about 4% converting,
basket size depending on the last channel) and returns (name, seconds, note) rows. Where the GPL
`ChannelAttribution` package imports (with pandas and matplotlib), its simulation-based
`markov_model` runs on the same path table as a reference only (it is never a dependency of
convtrack), at its default and at a large number of simulations, and its conversion and value
credits are compared with the exact fit's per channel.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from services.attribution.datadriven import (
    MarkovFit,
    PathTable,
    fit_markov,
    fit_shapley,
    journey_weights,
)

CHANNELS = tuple(
    [
        "direct",
        "display",
        "email",
        "affiliate",
        "organic_search",
        "paid_search",
        "paid_social",
        "organic_social",
        "referral",
        "video",
    ]
)
T = TypeVar("T")
REFERENCE_SIMULATIONS = (None, 10_000_000)


def generate(n_journeys: int, seed: int = 1) -> PathTable:
    """Seeded journeys: 1-8 touches, channel popularity skewed, conversion odds by channel,
    conversion value scaled by the last channel (from 2x for the first channel to 0.5x)."""
    rng = np.random.default_rng(seed)
    n = len(CHANNELS)
    lengths = np.minimum(rng.geometric(0.38, n_journeys), 8).astype(np.int64)
    offsets = np.zeros(n_journeys + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    popularity = 1.0 / np.arange(1, n + 1) ** 0.9
    popularity /= popularity.sum()
    codes = rng.choice(n, size=int(offsets[-1]), p=popularity).astype(np.int32)
    lift = np.linspace(0.6, 1.6, n)
    journey = np.repeat(np.arange(n_journeys), lengths)
    log_odds = np.bincount(journey, weights=np.log(lift[codes]), minlength=n_journeys)
    probability = 0.045 * np.exp(log_odds) * (1.0 + 0.12 * (lengths - 1))
    converted = rng.random(n_journeys) < np.minimum(probability, 1.0)
    basket = np.geomspace(2.0, 0.5, n)[codes[offsets[1:] - 1]]
    values = np.where(converted, rng.gamma(2.0, 40.0, n_journeys) * basket, 0.0)
    return PathTable.from_codes(
        CHANNELS,
        offsets,
        codes,
        converted.astype(np.float64),
        values,
        (~converted).astype(np.float64),
    )


def _timed(action: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """Silence stdout/stderr at the file-descriptor level (the reference prints from C++)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _difference(theirs: float, ours: float) -> float:
    return theirs / ours - 1.0 if ours > 0 else 0.0


def _reference(
    table: PathTable, ours: MarkovFit, ours_seconds: float, per_channel: bool
) -> list[tuple[str, float, str]]:
    """ChannelAttribution's order-1 Markov model on the same table, against the exact fit.

    Differences are relative, per channel. "Value as conversion share" is how far value credit
    split like conversions (what convtrack did before value removal effects) is from it.
    """
    try:
        with _silenced():
            reference: Any = importlib.import_module("ChannelAttribution")
            pandas: Any = importlib.import_module("pandas")
    except Exception as error:
        return [("ChannelAttribution markov order 1", float("nan"), f"not available: {error}")]
    frame = pandas.DataFrame(
        {
            "path": [">".join(table.path(i)) for i in range(table.n_paths)],
            "total_conversions": table.conversions,
            "total_conversion_value": table.values,
            "total_null": table.nulls,
        }
    )
    value_as_conversions = {
        c: credit / table.total_conversions * table.total_value
        for c, credit in ours.conversion_credit.items()
    }
    rows = []
    for simulations in REFERENCE_SIMULATIONS:

        def fit(simulations: int | None = simulations) -> Any:
            settings = {} if simulations is None else {"nsim_start": simulations}
            with _silenced():
                return reference.markov_model(
                    frame,
                    "path",
                    "total_conversions",
                    var_value="total_conversion_value",
                    var_null="total_null",
                    order=1,
                    verbose=False,
                    flg_pro=False,
                    **settings,
                )

        result, seconds = _timed(fit)
        conversions = dict(zip(result["channel_name"], result["total_conversions"], strict=True))
        values = dict(zip(result["channel_name"], result["total_conversion_value"], strict=True))
        theirs = {
            c: (float(conversions.get(c, 0.0)), float(values.get(c, 0.0))) for c in table.channels
        }
        conversion_gap = max(
            abs(_difference(theirs[c][0], ours.conversion_credit[c])) for c in table.channels
        )
        value_gap = max(
            abs(_difference(theirs[c][1], ours.value_credit[c])) for c in table.channels
        )
        old_gap = max(
            abs(_difference(theirs[c][1], value_as_conversions[c])) for c in table.channels
        )
        label = "default simulations" if simulations is None else f"{simulations:,} simulations"
        rows.append(
            (
                f"ChannelAttribution markov order 1, {label} (reference)",
                seconds,
                f"{seconds / ours_seconds:.1f}x our exact fit's time; max per-channel difference:"
                f" conversions {conversion_gap:.1%}, value {value_gap:.1%}"
                f" (value as conversion share: {old_gap:.1%})",
            )
        )
    if per_channel:
        rows += [
            (
                f"  vs exact: {c}",
                float("nan"),
                f"conversions {ours.conversion_credit[c]:,.1f} vs {theirs[c][0]:,.1f}"
                f" ({_difference(theirs[c][0], ours.conversion_credit[c]):+.1%});"
                f" value {ours.value_credit[c]:,.0f} vs {theirs[c][1]:,.0f}"
                f" ({_difference(theirs[c][1], ours.value_credit[c]):+.1%});"
                f" as conversion share {value_as_conversions[c]:,.0f}"
                f" ({_difference(theirs[c][1], value_as_conversions[c]):+.1%})",
            )
            for c in table.channels
        ]
    return rows


def run(n_journeys: int, seed: int = 1, per_channel: bool = False) -> list[tuple[str, float, str]]:
    """Time building the path table, each data-driven fit and per-conversion crediting;
    compare with ChannelAttribution where it is installed (`per_channel`: a row per channel)."""
    table, build_seconds = _timed(lambda: generate(n_journeys, seed))
    converted = table.total_conversions
    rows = [
        (
            "generate journeys + PathTable.from_codes",
            build_seconds,
            f"{n_journeys} journeys, {table.n_paths} distinct paths,"
            f" {converted / max(table.total_journeys, 1):.1%} converting",
        )
    ]
    first, first_seconds = _timed(lambda: fit_markov(table, order=1))
    rows.append(
        (
            "fit_markov order 1 (exact)",
            first_seconds,
            f"{first.n_states} states, P(conv) {first.conversion_probability:.4f}"
            f" = observed {first.observed_conversion_rate:.4f}",
        )
    )
    second, second_seconds = _timed(lambda: fit_markov(table, order=2))
    rows.append(("fit_markov order 2 (exact)", second_seconds, f"{second.n_states} states"))
    shapley, shapley_seconds = _timed(lambda: fit_shapley(table))
    rows.append(
        (
            "fit_shapley",
            shapley_seconds,
            f"exact={shapley.exact}, {len(shapley.channels)} channels",
        )
    )
    converting = np.flatnonzero(table.conversions > 0)
    journeys = [
        table.path(int(i)) for i in converting for _ in range(round(float(table.conversions[i])))
    ]

    def credit_all() -> int:
        for journey in journeys:
            journey_weights(first.conversion_credit, journey)
        return len(journeys)

    count, credit_seconds = _timed(credit_all)
    rows.append(
        (
            "journey_weights (Markov) every conversion",
            credit_seconds,
            f"{count} conversions, {count / max(credit_seconds, 1e-9):,.0f}/s",
        )
    )
    rows.extend(_reference(table, first, first_seconds, per_channel))
    return rows
