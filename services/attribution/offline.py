"""Attribution of an offline path table (the format the common attribution tools export).

It runs the service's own model code: the rule-based models through the same `RuleModel`
(its batch path equals the per-journey weights), the data-driven ones through the same fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.input_problems import ProblemTally
from services.attribution.datadriven import PathTable, fit_markov, fit_shapley, read_path_csv
from services.attribution.models import DataDrivenKind, ModelSpec, UnknownModelError, named_model
from services.attribution.rules import DIRECT_CHANNEL, batch_weights

ALIASES = {
    "first": "first_click",
    "last": "last_click",
    "last_non_direct": "last_non_direct_click",
    "position": "position_based",
    "u_shaped": "position_based",
}


@dataclass(frozen=True, slots=True)
class ChannelCredit:
    """A channel's credited conversions and value under one model."""

    channel: str
    conversions: float
    value: float


@dataclass(frozen=True, slots=True)
class ModelResult:
    """One model's credits per channel; `note` says how it was computed."""

    model: str
    channels: tuple[ChannelCredit, ...]
    note: str = ""


def model_for(name: str, markov_order: int = 1) -> ModelSpec:
    """The model a command-line name stands for ("first", "last", "position", "markov", ...)."""
    name = ALIASES.get(name, name)
    if name == "markov" and markov_order != 1:
        name = f"markov_{markov_order}"
    return named_model(name)


def attribute_table(
    table: PathTable, models: Sequence[ModelSpec], step_days: float = 1.0
) -> list[ModelResult]:
    """Each model's credits per channel over the whole table.

    Paths carry no timestamps: for time decay, consecutive touches are `step_days` apart and
    the last one is `step_days` before the conversion.
    """
    lengths = np.diff(table.offsets)
    position_from_end = np.arange(len(table.codes)) - np.repeat(table.offsets[1:], lengths)
    ages_days = -position_from_end.astype(np.float64) * step_days
    is_direct = np.asarray(table.channels, dtype=object)[table.codes] == DIRECT_CHANNEL
    per_touch_conversions = np.repeat(table.conversions, lengths)
    per_touch_values = np.repeat(table.values, lengths)
    results = []
    for spec in models:
        if spec.rule is not None:
            weights = batch_weights(spec.rule, table.offsets, ages_days, is_direct, table.codes)
            conversions = np.bincount(
                table.codes, weights * per_touch_conversions, minlength=len(table.channels)
            )
            values = np.bincount(
                table.codes, weights * per_touch_values, minlength=len(table.channels)
            )
            credit = {
                c: (float(conversions[i]), float(values[i])) for i, c in enumerate(table.channels)
            }
            note = "" if spec.conserves_credit else "participation: totals exceed conversions"
        elif spec.data_driven is DataDrivenKind.MARKOV:
            fit = fit_markov(table, order=spec.markov_order)
            credit = {c: (fit.conversion_credit[c], fit.value_credit[c]) for c in fit.channels}
            note = (
                f"order {fit.order}, exact; modelled conversion rate "
                f"{fit.conversion_probability:.4%} (observed {fit.observed_conversion_rate:.4%}); "
                f"value from value removal effects, modelled value per journey "
                f"{fit.expected_value:,.2f} (observed {fit.observed_value_per_journey:,.2f})"
            )
        elif spec.data_driven is DataDrivenKind.SHAPLEY:
            shapley = fit_shapley(table)
            credit = {
                c: (shapley.conversion_credit[c], shapley.value_credit[c]) for c in shapley.channels
            }
            note = "exact" if shapley.exact else f"approximate ({shapley.samples} orderings)"
        else:
            raise UnknownModelError(f"model {spec.name!r} cannot credit a path table")
        channels = tuple(
            ChannelCredit(channel, conversions_, value)
            for channel, (conversions_, value) in sorted(
                credit.items(), key=lambda item: (-item[1][0], item[0])
            )
        )
        results.append(ModelResult(spec.name, channels, note))
    return results


def run_file(
    path: Path,
    model_names: Sequence[str],
    markov_order: int = 1,
    step_days: float = 1.0,
    problems: ProblemTally | None = None,
) -> list[ModelResult]:
    """Reads a path table CSV and credits it under each named model.

    Rows that cannot be used go to `problems` and are left out; without it, the first such
    row raises `InvalidPathDataError` (see `read_path_csv`).
    """
    models = [model_for(name.strip(), markov_order) for name in model_names if name.strip()]
    return attribute_table(read_path_csv(path, problems), models, step_days)
