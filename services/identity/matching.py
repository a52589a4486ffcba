"""Probabilistic matching runs: the Fellegi-Sunter linker over a property's observations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

from services.identity.domainmodel import Observation
from services.identity.observations import ObservationRecord
from services.identity.probabilistic import ProbabilisticLinker
from services.identity.probabilistic.selfcheck import PrecisionEstimate, estimate_precision
from services.identity.resolution import ProbabilisticLinkAdded

SIGNAL_WEIGHT_DIGITS = 4
DEFAULT_HELD_OUT_FRACTION = 0.2


class ObservationSource(Protocol):
    """Where a matching run reads observations with their weak signals (ingest's log)."""

    def observations(self, since: datetime) -> Iterable[Observation]:
        """Every observation of every property that happened at or after `since`."""
        ...


@dataclass(frozen=True, slots=True)
class ProposedLinks:
    """What the matcher proposes for one property's observations."""

    links: list[ProbabilisticLinkAdded]
    candidate_pairs: int
    precision: PrecisionEstimate


class Matcher(Protocol):
    """Scores identifier pairs of a property's observations and proposes links."""

    def propose(self, records: Sequence[ObservationRecord]) -> ProposedLinks:
        """Links at or above the matcher's threshold, each with its weight per signal."""
        ...


class FellegiSunterMatcher:
    """The `ProbabilisticLinker`: trained on the records it is given (unsupervised EM), then
    every blocked candidate pair is scored; the pairs `ProbabilisticLinker.proposed` keeps
    (at or above its match-probability threshold, past its household guards) become proposed
    links."""

    def __init__(
        self,
        linker: ProbabilisticLinker | None = None,
        held_out_fraction: float = DEFAULT_HELD_OUT_FRACTION,
    ) -> None:
        """`held_out_fraction` of the known matches is left out of a second fit that checks
        the model's recall (`estimate_precision`)."""
        self.linker = linker or ProbabilisticLinker()
        self.held_out_fraction = held_out_fraction

    def propose(self, records: Sequence[ObservationRecord]) -> ProposedLinks:
        """Fits the model on the records, scores their candidate pairs, keeps the likely ones
        and estimates their precision."""
        if not records:
            return ProposedLinks([], 0, PrecisionEstimate(1.0, None, None, 0, 0, 0))
        prepared = self.linker.prepare(records)
        params = self.linker.fit(prepared)
        scored = self.linker.score(prepared, params)
        index = {p.identifier: i for i, p in enumerate(prepared.profiles)}
        candidates = (
            np.fromiter((index[p.a_identifier] for p in scored), np.int64, len(scored)),
            np.fromiter((index[p.b_identifier] for p in scored), np.int64, len(scored)),
        )
        probability = np.fromiter((p.match_probability for p in scored), np.float64, len(scored))
        names = [c.name for c in self.linker.comparisons]
        weights = np.asarray(
            [[p.per_signal[name] for name in names] for p in scored], dtype=np.float64
        ).reshape(len(scored), len(names))
        proposed = self.linker.proposed(prepared, *candidates, weights, probability)
        precision = estimate_precision(
            self.linker, prepared, candidates, probability, self.held_out_fraction, proposed
        )
        links = [
            ProbabilisticLinkAdded(
                pair.a_identifier,
                pair.b_identifier,
                round(pair.match_weight, SIGNAL_WEIGHT_DIGITS),
                tuple(
                    (signal, round(weight, SIGNAL_WEIGHT_DIGITS))
                    for signal, weight in sorted(pair.per_signal.items())
                    if weight != 0.0
                ),
            )
            for pair, chosen in zip(scored, proposed.tolist(), strict=True)
            if chosen
        ]
        return ProposedLinks(links, len(scored), precision)


__all__ = ["FellegiSunterMatcher", "Matcher", "ObservationSource", "ProposedLinks"]
