"""The linker: fits a Fellegi-Sunter model to records, then scores and links identifier pairs."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from services.identity.observations import ObservationRecord
from services.identity.probabilistic.arrays import BoolArray, FloatArray, IntArray, LevelArray
from services.identity.probabilistic.blocking import (
    DEFAULT_BLOCKING_RULES,
    BlockingResult,
    BlockingRule,
    block,
)
from services.identity.probabilistic.comparisons import DEFAULT_COMPARISONS, NULL_LEVEL, Comparison
from services.identity.probabilistic.config import LinkerConfig
from services.identity.probabilistic.em import (
    ComparisonParams,
    FellegiSunterParams,
    ProbabilisticModelError,
    expectation_maximisation,
    level_sums,
)
from services.identity.probabilistic.features import Features, encode_profiles
from services.identity.probabilistic.household import (
    concurrent_device_conflicts,
    device_only_on_shared_ip,
    different_birth_dates,
)
from services.identity.probabilistic.profiles import IdentifierProfile, build_profiles
from services.identity.probabilistic.signals import UaSignature, parse_user_agent


@dataclass(frozen=True, slots=True)
class ScoredPair:
    """A scored identifier pair: match weight (log2 Bayes factor), posterior, per-signal weights."""

    a_identifier: str
    b_identifier: str
    match_weight: float
    match_probability: float
    per_signal: dict[str, float] = field(hash=False)


@dataclass(frozen=True, slots=True)
class PreparedRecords:
    """Profiles and encoded features of a set of records, shared by fit, score and links."""

    profiles: list[IdentifierProfile]
    features: Features
    together: IntArray  # a * n + b keys of profile pairs seen together in one observation
    groups: IntArray  # per profile, its group of known matches or -1 (`_known_match_groups`)


class ProbabilisticLinker:
    """Scores identifier pairs with a Fellegi-Sunter model; links those above a threshold."""

    def __init__(
        self,
        config: LinkerConfig | None = None,
        *,
        comparisons: Sequence[Comparison] = DEFAULT_COMPARISONS,
        blocking_rules: Sequence[BlockingRule] = DEFAULT_BLOCKING_RULES,
        ua_signature: UaSignature = parse_user_agent,
    ) -> None:
        """Configure the linker; nothing is computed until `fit` or `score`."""
        self.config = config or LinkerConfig()
        self.comparisons = tuple(comparisons)
        self.blocking_rules = tuple(blocking_rules)
        self._ua_signature = ua_signature

    def prepare(self, records: Iterable[ObservationRecord]) -> PreparedRecords:
        """Profiles and encoded features of the records, reusable across fit and score."""
        profiles, together = build_profiles(records, self._ua_signature)
        index = {p.identifier: i for i, p in enumerate(profiles)}
        keys = np.fromiter(
            (index[x] * len(profiles) + index[y] for x, y in together),
            dtype=np.int64,
            count=len(together),
        )
        seen_together = np.unique(keys)
        group = _known_match_groups(seen_together, len(profiles), self.config.max_block_size)
        entity = np.where(group >= 0, group, len(profiles) + np.arange(len(profiles)))
        features = encode_profiles(profiles, self.config, entity)
        return PreparedRecords(profiles, features, seen_together, group)

    def candidate_pairs(self, prepared: PreparedRecords) -> BlockingResult:
        """Blocked pairs, less pairs of identifiers already seen together in one observation
        (those are linked deterministically and would teach the model nothing)."""
        result = block(prepared.profiles, self.blocking_rules, self.config.max_block_size)
        if prepared.together.size == 0:
            return result
        by_rule = {
            name: keys[~np.isin(keys, prepared.together)] for name, keys in result.by_rule.items()
        }
        width = max(len(prepared.profiles), 1)
        keep = ~np.isin(result.a * width + result.b, prepared.together)
        return BlockingResult(
            result.a[keep], result.b[keep], by_rule, result.skipped_blocks, result.largest_skipped
        )

    def fit(
        self,
        records: Iterable[ObservationRecord] | PreparedRecords,
        held_out: IntArray | None = None,
    ) -> FellegiSunterParams:
        """Train the model on this data, unsupervised; the known device pairs whose
        `a * n + b` keys are in `held_out` are left out of training (see `selfcheck`).

        1. u from random profile pairs (nearly all non-matches), as Splink does; u stays fixed.
        2. m by EM on each blocking rule's pairs, with a Dirichlet prior of `m_prior_strength`
           pseudo-pairs centred on each comparison's `m_prior`. A rule trains the comparisons
           its `trains` allows, less those it conditions on; a comparison it `forces` to a
           level or closer is trained on those levels only, with m and u renormalised over
           them. Each comparison's m is the average over the rules that trained it fully,
           weighted by their expected matches; the split among forced levels is then the
           same average over the rules that forced them.
           Pairs of cookies in one group of known matches that were never seen together
           (`known_device_pairs`: a person's other devices and replaced cookies) count as
           labelled matches in both averages, one pair each, under the same prior on m.
           A comparison's `labelled_split` levels keep their total m, divided among them as
           the labelled matches (with the prior) are: whether one device's cookies follow
           each other or two devices of one build are active at once on one IP, EM on pairs
           sharing an IP cannot tell, since its latent class there is the household.
        3. The match prior λ, the probability that two random profiles match, from the
           matches the data already shows plus those the model expects: see
           `_random_pair_match_prior`.
        """
        prepared = records if isinstance(records, PreparedRecords) else self.prepare(records)
        params, _, _ = self._fit(prepared, self.candidate_pairs(prepared), held_out)
        return params

    def _fit(
        self, prepared: PreparedRecords, blocked: BlockingResult, held_out: IntArray | None = None
    ) -> tuple[FellegiSunterParams, LevelArray, FloatArray]:
        """`fit`, also returning the comparison levels and term frequencies of `blocked`."""
        n = len(prepared.profiles)
        config = self.config
        rng = np.random.default_rng(config.seed)
        ra = rng.integers(0, max(n, 1), config.u_random_pairs)
        rb = rng.integers(0, max(n, 1), config.u_random_pairs)
        distinct = ra != rb
        random_gamma, _ = self._compare(prepared.features, ra[distinct], rb[distinct])
        ones = np.ones(random_gamma.shape[0])
        u = [
            level_sums(random_gamma[:, k], ones, len(c.levels)) + 1.0
            for k, c in enumerate(self.comparisons)
        ]
        u = [x / x.sum() for x in u]
        m_prior = [np.asarray(c.m_prior, dtype=np.float64) for c in self.comparisons]
        m_sum = [np.zeros_like(x) for x in m_prior]
        m_support = np.zeros(len(self.comparisons))
        split_sum: dict[tuple[int, int], FloatArray] = {}
        split_support: dict[tuple[int, int], float] = {}
        iterations, converged = 0, True
        gamma_all, tf_all = self._compare(prepared.features, blocked.a, blocked.b)
        width = max(n, 1)
        all_keys = blocked.a * width + blocked.b
        for rule in self.blocking_rules:
            keys = blocked.by_rule.get(rule.name)
            if keys is None or keys.size == 0:
                continue
            gamma = gamma_all[np.searchsorted(all_keys, keys)]
            forced = dict(rule.forces)
            tops: list[int] = []
            for k, comparison in enumerate(self.comparisons):
                top = len(comparison.levels) - 1
                if comparison.name in forced:
                    top = comparison.levels.index(forced[comparison.name])
                    gamma[gamma[:, k] > top, k] = NULL_LEVEL
                if comparison.name in rule.conditions_on or (
                    rule.trains is not None and comparison.name not in rule.trains
                ):
                    gamma[:, k] = NULL_LEVEL
                tops.append(top)
            start_m = [x[: t + 1] / x[: t + 1].sum() for x, t in zip(m_prior, tops, strict=True)]
            start_u = [x[: t + 1] / x[: t + 1].sum() for x, t in zip(u, tops, strict=True)]
            result = expectation_maximisation(
                gamma,
                start_m,
                start_u,
                config.initial_match_prior,
                fix_u=True,
                tol=config.em_tol,
                max_iterations=config.em_max_iterations,
                m_prior_counts=[config.m_prior_strength * x for x in start_m],
            )
            iterations += result.iterations
            converged &= result.converged
            for k, matched in enumerate(result.expected_matches):
                if matched <= 0:
                    continue
                if tops[k] < len(self.comparisons[k].levels) - 1:
                    key = (k, tops[k])
                    split_sum[key] = split_sum.get(key, 0.0) + matched * result.m[k]
                    split_support[key] = split_support.get(key, 0.0) + matched
                else:
                    m_sum[k] += matched * result.m[k]
                    m_support[k] += matched
        known_a, known_b = known_device_pairs(prepared)
        if held_out is not None and held_out.size:
            kept = ~np.isin(known_a * width + known_b, held_out)
            known_a, known_b = known_a[kept], known_b[kept]
        strength = config.m_prior_strength
        labelled = [np.zeros(len(c.levels)) for c in self.comparisons]
        if known_a.size:
            # Labelled matches, with the same Dirichlet prior on m as EM's.
            known_gamma, _ = self._compare(prepared.features, known_a, known_b)
            ones = np.ones(known_a.size)
            labelled = [
                level_sums(known_gamma[:, k], ones, len(c.levels))
                for k, c in enumerate(self.comparisons)
            ]
            for k, counts in enumerate(labelled):
                if counts.sum() > 0:
                    m_sum[k] += counts + strength * m_prior[k]
                    m_support[k] += counts.sum() + strength
            for (k, top), total in split_sum.items():
                head = labelled[k][: top + 1]
                if head.sum() > 0:
                    prior_head = m_prior[k][: top + 1] / m_prior[k][: top + 1].sum()
                    total[: top + 1] += head + strength * prior_head
                    split_support[(k, top)] += head.sum() + strength
        m = [
            s / support if support > 0 else prior
            for s, support, prior in zip(m_sum, m_support, m_prior, strict=True)
        ]
        for k, top in sorted(split_sum, key=lambda key: -key[1]):
            head = m[k][: top + 1].sum()
            m[k] = m[k].copy()
            m[k][: top + 1] = head * split_sum[(k, top)] / split_support[(k, top)]
        for k, comparison in enumerate(self.comparisons):
            split = list(comparison.labelled_split)
            if split:
                prior_split = m_prior[k][split] / m_prior[k][split].sum()
                counts = labelled[k][split] + strength * prior_split
                m[k] = m[k].copy()
                m[k][split] = m[k][split].sum() * counts / counts.sum()
        params = FellegiSunterParams(
            comparisons=tuple(
                ComparisonParams(c.name, c.levels, tuple(mk.tolist()), tuple(uk.tolist()))
                for c, mk, uk in zip(self.comparisons, m, u, strict=True)
            ),
            match_prior=0.5,
            iterations=iterations,
            converged=converged,
            candidate_pairs=int(blocked.a.size),
            random_pairs=int(distinct.sum()),
        )
        weights = self._weights_of(gamma_all, tf_all, params)
        group = prepared.groups
        unknown = (group[blocked.a] < 0) | (group[blocked.a] != group[blocked.b])
        sizes = np.bincount(group[group >= 0])
        known = int((sizes * (sizes - 1) // 2).sum())
        prior = _random_pair_match_prior(weights.sum(axis=1)[unknown], known, n * (n - 1) // 2)
        return replace(params, match_prior=prior), gamma_all, tf_all

    def score(
        self, records: Iterable[ObservationRecord] | PreparedRecords, params: FellegiSunterParams
    ) -> list[ScoredPair]:
        """Score every candidate pair of the records."""
        prepared = records if isinstance(records, PreparedRecords) else self.prepare(records)
        blocked = self.candidate_pairs(prepared)
        return self._scored(prepared, blocked.a, blocked.b, params)

    def score_pairs(
        self,
        records: Iterable[ObservationRecord] | PreparedRecords,
        pairs: Iterable[tuple[str, str]],
        params: FellegiSunterParams,
    ) -> list[ScoredPair]:
        """Score the given identifier pairs, blocked or not (for explanations and audits)."""
        prepared = records if isinstance(records, PreparedRecords) else self.prepare(records)
        index = {p.identifier: i for i, p in enumerate(prepared.profiles)}
        wanted = [(index[x], index[y]) for x, y in pairs]
        a = np.asarray([x for x, _ in wanted], dtype=np.int64)
        b = np.asarray([y for _, y in wanted], dtype=np.int64)
        return self._scored(prepared, a, b, params)

    def links(
        self,
        records: Iterable[ObservationRecord] | PreparedRecords,
        threshold: float | None = None,
        params: FellegiSunterParams | None = None,
        *,
        min_weight: float | None = None,
    ) -> list[tuple[str, str, float]]:
        """(identifier a, identifier b, match weight) for the pairs `proposed` keeps: at or
        above the threshold and past the household guards.

        `threshold` is a match probability (default `config.min_probability`, 0.99); with
        `min_weight` a pair must also reach that match weight. Without `params` the model is
        fitted on these records first.
        """
        prepared = records if isinstance(records, PreparedRecords) else self.prepare(records)
        blocked = self.candidate_pairs(prepared)
        a, b = blocked.a, blocked.b
        if params is None:
            params, gamma, tf = self._fit(prepared, blocked)
            weights = self._weights_of(gamma, tf, params)
        else:
            weights, _ = self._weights(prepared.features, a, b, params)
        total = weights.sum(axis=1)
        probability = _probability(total, params.match_prior)
        keep = self.proposed(prepared, a, b, weights, probability, threshold, min_weight=min_weight)
        ids = [p.identifier for p in prepared.profiles]
        return [
            (ids[x], ids[y], w)
            for x, y, w in zip(
                a[keep].tolist(), b[keep].tolist(), total[keep].tolist(), strict=True
            )
        ]

    def proposed(
        self,
        prepared: PreparedRecords,
        a: IntArray,
        b: IntArray,
        weights: FloatArray,
        probability: FloatArray,
        threshold: float | None = None,
        *,
        min_weight: float | None = None,
    ) -> BoolArray:
        """Which scored pairs (a[i], b[i]) a run proposes, given their per-signal weights.

        A pair needs match probability `threshold` (default `config.min_probability`) and,
        with `min_weight`, that match weight, both before the guards below see it; a pair
        whose only evidence is device and network signals on an IP that
        `config.household_min_people` identified people use needs at least
        `config.household_min_probability`, and so does a pair whose dates of birth are two
        people's with no identity number agreeing (`household.different_birth_dates`);
        and a pair is refused when, with the stronger pairs, it would join two cookies
        active at once on one IP with one device build
        (`household.concurrent_device_conflicts`).
        """
        config = self.config
        bar = config.min_probability if threshold is None else threshold
        keep = probability >= bar
        if min_weight is not None:
            keep &= weights.sum(axis=1) >= min_weight
        names = [c.name for c in self.comparisons]
        profiles, groups = prepared.profiles, prepared.groups
        candidates = np.flatnonzero(
            keep & (probability < max(bar, config.household_min_probability))
        )
        household = device_only_on_shared_ip(
            profiles,
            groups,
            a[candidates],
            b[candidates],
            weights[candidates],
            names,
            config.household_min_people,
        )
        keep[candidates[household]] = False
        chosen = np.flatnonzero(keep)
        unsure = chosen[probability[chosen] < config.household_min_probability]
        two_people = different_birth_dates(
            prepared.features, a[unsure], b[unsure], weights[unsure], names
        )
        keep[unsure[two_people]] = False
        chosen = np.flatnonzero(keep)
        conflicts = concurrent_device_conflicts(
            profiles, groups, a[chosen], b[chosen], weights[chosen].sum(axis=1)
        )
        keep[chosen[conflicts]] = False
        return keep

    def _compare(self, f: Features, a: IntArray, b: IntArray) -> tuple[LevelArray, FloatArray]:
        gamma = np.empty((a.size, len(self.comparisons)), dtype=np.int8)
        tf = np.empty((a.size, len(self.comparisons)), dtype=np.float64)
        step = max(self.config.chunk_pairs, 1)
        for start in range(0, a.size, step):
            part = slice(start, start + step)
            for k, comparison in enumerate(self.comparisons):
                gamma[part, k], tf[part, k] = comparison.evaluate(f, a[part], b[part])
        return gamma, tf

    def _weights(
        self, f: Features, a: IntArray, b: IntArray, params: FellegiSunterParams
    ) -> tuple[FloatArray, LevelArray]:
        """Per pair and comparison: log2 Bayes factor, 0 for null, term-frequency adjusted."""
        gamma, tf = self._compare(f, a, b)
        return self._weights_of(gamma, tf, params), gamma

    def _weights_of(
        self, gamma: LevelArray, tf: FloatArray, params: FellegiSunterParams
    ) -> FloatArray:
        fitted = [(c.name, c.levels) for c in params.comparisons]
        if fitted != [(c.name, c.levels) for c in self.comparisons]:
            raise ProbabilisticModelError("parameters were fitted for other comparisons")
        weights = np.zeros(gamma.shape, dtype=np.float64)
        for k, (comparison, cp) in enumerate(
            zip(self.comparisons, params.comparisons, strict=True)
        ):
            g = gamma[:, k]
            table = np.asarray(cp.log2_bayes_factors())
            weights[:, k] = np.where(g >= 0, table[np.maximum(g, 0)], 0.0)
            if comparison.tf_adjusted:
                adjusted = ~np.isnan(tf[:, k]) & (g >= 0)
                share = np.ones(len(cp.u))
                for group in comparison.tf_shared_levels:
                    u_group = sum(cp.u[level] for level in group)
                    for level in group:
                        share[level] = cp.u[level] / u_group
                levels = g[adjusted]
                weights[adjusted, k] = (
                    np.log2(np.asarray(cp.m))[levels]
                    - np.log2(np.maximum(tf[adjusted, k], self.config.tf_min_u))
                    - np.log2(share[levels])
                )
        return weights

    def probabilities(
        self, prepared: PreparedRecords, a: IntArray, b: IntArray, params: FellegiSunterParams
    ) -> FloatArray:
        """Posterior match probability of the profile pairs (a[i], b[i])."""
        weights, _ = self._weights(prepared.features, a, b, params)
        return _probability(weights.sum(axis=1), params.match_prior)

    def _scored(
        self,
        prepared: PreparedRecords,
        a: IntArray,
        b: IntArray,
        params: FellegiSunterParams,
    ) -> list[ScoredPair]:
        weights, _ = self._weights(prepared.features, a, b, params)
        total = weights.sum(axis=1)
        probability = _probability(total, params.match_prior)
        ids = [p.identifier for p in prepared.profiles]
        names = [c.name for c in self.comparisons]
        return [
            ScoredPair(ids[x], ids[y], w, p, dict(zip(names, row, strict=True)))
            for x, y, w, p, row in zip(
                a.tolist(),
                b.tolist(),
                total.tolist(),
                probability.tolist(),
                weights.tolist(),
                strict=True,
            )
        ]


def _probability(match_weight: FloatArray, match_prior: float) -> FloatArray:
    """Posterior match probability from the summed log2 Bayes factor and the prior."""
    log2_odds = match_weight + math.log2(match_prior / (1.0 - match_prior))
    return 1.0 / (1.0 + np.exp2(-np.clip(log2_odds, -1000, 1000)))


def _known_match_groups(together: IntArray, n: int, max_size: int) -> IntArray:
    """Per profile, its group of known matches (-1 for none): the connected components of the
    seen-together graph, which is how the deterministic resolver joins identifiers. A
    component of more than `max_size` profiles is chained through a shared identifier (a
    kiosk, a help-desk email) rather than one person, so its profiles count as ungrouped."""
    from scipy.sparse import coo_matrix  # loaded on first use, not at import time
    from scipy.sparse.csgraph import connected_components

    group = np.full(n, -1, dtype=np.int64)
    if n == 0 or together.size == 0:
        return group
    width = max(n, 1)
    edges = coo_matrix(
        (np.ones(together.size), (together // width, together % width)), shape=(n, n)
    )
    _, labels = connected_components(edges, directed=False)
    sizes = np.bincount(labels)
    kept = (sizes[labels] >= 2) & (sizes[labels] <= max_size)
    group[kept] = labels[kept]
    return group


def known_device_pairs(prepared: PreparedRecords) -> tuple[IntArray, IntArray]:
    """Pairs of device-bound profiles (cookies) in one group of known matches that were
    never seen together: one person's other devices and replaced cookies, labelled matches
    of the kind the model is asked to find."""
    group = prepared.groups
    chosen = np.flatnonzero((group >= 0) & prepared.features.device_bound)
    if chosen.size < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    chosen = chosen[np.argsort(group[chosen], kind="stable")]
    _, starts, sizes = np.unique(group[chosen], return_index=True, return_counts=True)
    found: list[IntArray] = []
    for size in np.unique(sizes[sizes >= 2]).tolist():
        members = chosen[starts[sizes == size][:, None] + np.arange(size)]
        i, j = np.triu_indices(size, 1)
        found.append(
            (
                np.minimum(members[:, i], members[:, j]) * len(group)
                + np.maximum(members[:, i], members[:, j])
            ).ravel()
        )
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    keys = np.unique(np.concatenate(found))
    keys = keys[~np.isin(keys, prepared.together)]
    return keys // len(group), keys % len(group)


def _random_pair_match_prior(match_weights: FloatArray, known: int, all_pairs: int) -> float:
    """Probability λ that two random profiles match, estimated the way record-linkage tools
    do from labels-free deterministic rules, but without having to assume those rules'
    recall: λ = (known + expected) / all pairs, a fixed point in λ.

    - `known` matches are the pairs inside one group of identifiers seen together in
      observations (see `_known_match_groups`): a cookie seen with a login and another
      cookie seen with the same login are one person's, whether or not blocking pairs them.
    - `expected` matches are the posterior sum, at λ, over the candidate pairs that are not
      known (`match_weights`), which is where the model adds to the deterministic rules.

    Matches that are neither known nor blocked count as non-matches, so λ errs low (a
    stricter threshold), never high. Estimated from candidate pairs alone, λ would miss
    every match the identifiers already tell, several times the probabilistic ones here.
    """
    if all_pairs <= 0:
        return 0.5
    prior = min(0.5, max(known, 1) / all_pairs)
    for _ in range(200):
        expected = float(_probability(match_weights, prior).sum())
        updated = min(max((known + expected) / all_pairs, 1e-12), 0.5)
        if abs(updated - prior) <= 1e-9 * prior:
            return updated
        prior = updated
    return prior
