"""The linker checks itself: a run's expected precision from the model and from known pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.identity.probabilistic.arrays import BoolArray, FloatArray, IntArray
from services.identity.probabilistic.linker import (
    PreparedRecords,
    ProbabilisticLinker,
    known_device_pairs,
)

LOGIN_KIND = "user"


@dataclass(frozen=True, slots=True)
class PrecisionEstimate:
    """How precise a run's proposed links are expected to be, estimated two ways.

    - `model_precision`: the mean match probability of the proposed pairs (the fitted
      posterior); 1.0 when nothing is proposed.
    - `held_out_precision`: 1 - (false-positive rate on known non-matches) x (candidate pairs
      not known to match) / (proposed pairs); None without known non-matches to measure on.
    - `held_out_recall`: the share of held-out known matches the model, fitted without them,
      scores at or above the threshold; None when there was nothing to hold out. It is
      reported, not part of the estimate: precision needs the false links, which recall
      does not count.
    """

    model_precision: float
    held_out_precision: float | None
    held_out_recall: float | None
    known_matches_held_out: int
    known_non_matches: int
    known_non_matches_above_threshold: int

    @property
    def expected_precision(self) -> float:
        """The lower of the two estimates (the model's alone when there is no held-out one)."""
        if self.held_out_precision is None:
            return self.model_precision
        return min(self.model_precision, self.held_out_precision)


def estimate_precision(
    linker: ProbabilisticLinker,
    prepared: PreparedRecords,
    candidates: tuple[IntArray, IntArray],
    probability: FloatArray,
    held_out_fraction: float,
    proposed: BoolArray | None = None,
) -> PrecisionEstimate:
    """Estimate the precision of the proposed candidate pairs: `proposed` (what
    `ProbabilisticLinker.proposed` keeps), by default those at or above the threshold.

    Known matches are pairs of cookies one person's login or email joins that were never seen
    together (`known_device_pairs`); a seeded `held_out_fraction` of them is left out of a
    second fit and scored by it. Known non-matches are candidate pairs whose two sides belong
    to groups of identifiers seen together that each hold one login, different ones: two
    people a login separates. Both come from the deterministic graph, never from labels.
    """
    a, b = candidates
    if proposed is None:
        proposed = probability >= linker.config.min_probability
    model = float(probability[proposed].mean()) if proposed.any() else 1.0
    recall, held_count = _held_out_recall(linker, prepared, held_out_fraction)
    group = prepared.groups
    login_of = _single_login_per_group(prepared)
    first, second = login_of[np.maximum(group[a], 0)], login_of[np.maximum(group[b], 0)]
    separated = (group[a] >= 0) & (group[b] >= 0) & (first >= 0) & (second >= 0)
    separated &= first != second
    same_group = (group[a] >= 0) & (group[a] == group[b])
    known_non_matches = int(separated.sum())
    false_links = int((separated & proposed).sum())
    held_out: float | None = None
    if known_non_matches:
        rate = false_links / known_non_matches
        not_known = int((~same_group).sum())
        links = int(proposed.sum())
        held_out = max(0.0, 1.0 - rate * not_known / links) if links else 1.0
    return PrecisionEstimate(
        model_precision=model,
        held_out_precision=held_out,
        held_out_recall=recall,
        known_matches_held_out=held_count,
        known_non_matches=known_non_matches,
        known_non_matches_above_threshold=false_links,
    )


def _held_out_recall(
    linker: ProbabilisticLinker, prepared: PreparedRecords, fraction: float
) -> tuple[float | None, int]:
    """Recall on a seeded random share of the known device pairs, by a model fitted without
    them; (None, 0) when no pair is held out."""
    known_a, known_b = known_device_pairs(prepared)
    rng = np.random.default_rng(linker.config.seed)
    chosen = rng.random(known_a.size) < fraction
    if not chosen.any():
        return None, 0
    width = max(len(prepared.profiles), 1)
    held_a, held_b = known_a[chosen], known_b[chosen]
    params = linker.fit(prepared, held_out=held_a * width + held_b)
    scores = linker.probabilities(prepared, held_a, held_b, params)
    return float((scores >= linker.config.min_probability).mean()), int(chosen.sum())


def _single_login_per_group(prepared: PreparedRecords) -> IntArray:
    """Per group of known matches, the profile index of its one login (-1 for none or more)."""
    group = prepared.groups
    size = int(group.max()) + 1 if group.size and group.max() >= 0 else 1
    login = np.full(size, -1, dtype=np.int64)
    count = np.zeros(size, dtype=np.int64)
    for index, profile in enumerate(prepared.profiles):
        if group[index] >= 0 and profile.identifier.partition(":")[0] == LOGIN_KIND:
            login[group[index]] = index
            count[group[index]] += 1
    login[count != 1] = -1
    return login


__all__ = ["PrecisionEstimate", "estimate_precision"]
