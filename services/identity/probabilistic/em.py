"""Fellegi-Sunter parameters (m and u per comparison level) and their estimation by EM."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.identity.probabilistic.arrays import FloatArray, LevelArray


class ProbabilisticModelError(ValueError):
    """Parameters that do not fit the linker's comparisons, or malformed stored parameters."""


@dataclass(frozen=True, slots=True)
class ComparisonParams:
    """Trained m- and u-probabilities of one comparison, one per level (null excluded)."""

    name: str
    levels: tuple[str, ...]
    m: tuple[float, ...]
    u: tuple[float, ...]

    def log2_bayes_factors(self) -> tuple[float, ...]:
        """Match weight of each level: log2(m / u)."""
        return tuple(math.log2(m / u) for m, u in zip(self.m, self.u, strict=True))


@dataclass(frozen=True, slots=True)
class FellegiSunterParams:
    """A fitted model: per-comparison m/u, the match prior among candidate pairs, fit facts."""

    comparisons: tuple[ComparisonParams, ...]
    match_prior: float
    iterations: int
    converged: bool
    candidate_pairs: int
    random_pairs: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (floats, ints, lists), e.g. for a `Model.Fitted` event."""
        return {
            "comparisons": [
                {"name": c.name, "levels": list(c.levels), "m": list(c.m), "u": list(c.u)}
                for c in self.comparisons
            ],
            "match_prior": self.match_prior,
            "iterations": self.iterations,
            "converged": self.converged,
            "candidate_pairs": self.candidate_pairs,
            "random_pairs": self.random_pairs,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FellegiSunterParams:
        """Inverse of `to_dict`; raises ProbabilisticModelError on malformed input."""
        try:
            comparisons = tuple(
                ComparisonParams(
                    name=str(c["name"]),
                    levels=tuple(str(level) for level in c["levels"]),
                    m=tuple(float(x) for x in c["m"]),
                    u=tuple(float(x) for x in c["u"]),
                )
                for c in data["comparisons"]
            )
            params = cls(
                comparisons=comparisons,
                match_prior=float(data["match_prior"]),
                iterations=int(data["iterations"]),
                converged=bool(data["converged"]),
                candidate_pairs=int(data["candidate_pairs"]),
                random_pairs=int(data["random_pairs"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ProbabilisticModelError(f"malformed parameters: {error}") from error
        for c in comparisons:
            if not len(c.levels) == len(c.m) == len(c.u) or min(c.m + c.u, default=0) <= 0:
                raise ProbabilisticModelError(f"comparison {c.name!r}: bad m/u")
        if not 0 < params.match_prior < 1:
            raise ProbabilisticModelError("match_prior must be in (0, 1)")
        return params


@dataclass(frozen=True, slots=True)
class EmResult:
    """Output of `expectation_maximisation`."""

    m: tuple[FloatArray, ...]
    u: tuple[FloatArray, ...]
    match_prior: float
    iterations: int
    converged: bool
    expected_matches: tuple[float, ...]
    """Per comparison: posterior-weighted count of matched pairs with a non-null level."""


def level_sums(gamma: LevelArray, weights: FloatArray, n_levels: int) -> FloatArray:
    """Per level, the sum of `weights` over the pairs at that level (null levels left out)."""
    valid = gamma >= 0
    return np.bincount(gamma[valid], weights=weights[valid], minlength=n_levels).astype(np.float64)


def expectation_maximisation(
    gamma: LevelArray,
    m: Sequence[FloatArray],
    u: Sequence[FloatArray],
    match_prior: float,
    *,
    fix_u: bool = False,
    tol: float = 1e-5,
    max_iterations: int = 200,
    pseudo_count: float = 1.0,
    m_prior_counts: Sequence[FloatArray] | None = None,
) -> EmResult:
    """Fit m (and u unless `fix_u`) and the match prior to comparison vectors by EM.

    `gamma` is (pairs x comparisons) of level indices, NULL_LEVEL where missing; null
    entries are left out of both the likelihood and the updates (conditional independence
    across comparisons is assumed). `pseudo_count` per level keeps probabilities off zero;
    `m_prior_counts` replaces it for m with a Dirichlet prior (pseudo-pairs per level), which
    keeps weakly identified comparisons near their prior. Stops when no probability moves by
    more than `tol`.
    """
    m_now = [np.asarray(x, dtype=np.float64) for x in m]
    u_now = [np.asarray(x, dtype=np.float64) for x in u]
    # Pairs with the same comparison vector have the same posterior: iterate over the
    # distinct vectors, weighted by how many pairs have each.
    if gamma.shape[0]:
        gamma, weight = np.unique(gamma, axis=0, return_counts=True)
    else:
        weight = np.zeros(0, dtype=np.int64)
    weight = weight.astype(np.float64)
    total = max(float(weight.sum()), 1.0)
    prior = match_prior
    posterior = np.full(gamma.shape[0], prior)
    iterations, change = 0, math.inf
    while iterations < max_iterations and change >= tol:
        iterations += 1
        log_ratio = np.full(gamma.shape[0], math.log(prior / (1 - prior)))
        for k in range(gamma.shape[1]):
            g = gamma[:, k]
            table = np.log(m_now[k]) - np.log(u_now[k])
            log_ratio += np.where(g >= 0, table[np.maximum(g, 0)], 0.0)
        posterior = 1.0 / (1.0 + np.exp(-np.clip(log_ratio, -700, 700)))
        matched_weight = posterior * weight
        new_prior = float(np.clip(matched_weight.sum() / total, 1e-6, 1 - 1e-6))
        new_m, new_u = [], []
        for k in range(gamma.shape[1]):
            size = m_now[k].size
            prior_counts = pseudo_count if m_prior_counts is None else m_prior_counts[k]
            counts = level_sums(gamma[:, k], matched_weight, size) + prior_counts
            new_m.append(counts / counts.sum())
            if fix_u:
                new_u.append(u_now[k])
            else:
                counts = level_sums(gamma[:, k], weight - matched_weight, size) + pseudo_count
                new_u.append(counts / counts.sum())
        change = max(
            [abs(new_prior - prior)]
            + [float(np.abs(x - y).max()) for x, y in zip(new_m, m_now, strict=True)]
            + [float(np.abs(x - y).max()) for x, y in zip(new_u, u_now, strict=True)]
        )
        m_now, u_now, prior = new_m, new_u, new_prior
    matched_weight = posterior * weight
    matched = tuple(float(matched_weight[gamma[:, k] >= 0].sum()) for k in range(gamma.shape[1]))
    return EmResult(tuple(m_now), tuple(u_now), prior, iterations, change < tol, matched)
