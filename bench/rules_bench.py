"""Rule-based attribution in batch: crediting n random conversions with every named model."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from services.attribution.rules import NAMED_RULES, batch_weights

N_CHANNELS = 10
DIRECT_CODE = 0
MAX_TOUCHES = 8
LOOKBACK_DAYS = 30.0
REPEATS = 3


def journeys(
    n_conversions: int, seed: int
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.int64]
]:
    """Seeded random journeys of 1-8 touches over 10 channels (code 0 is "direct").

    Returns (offsets, ages_days, is_direct, channel_codes), oldest touch first per journey.
    """
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, MAX_TOUCHES + 1, size=n_conversions)
    offsets = np.zeros(n_conversions + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    n_touches = int(offsets[-1])
    journey = np.repeat(np.arange(n_conversions), lengths)
    ages = rng.uniform(0.0, LOOKBACK_DAYS, size=n_touches)
    ages = ages[np.lexsort((-ages, journey))]
    codes = rng.integers(0, N_CHANNELS, size=n_touches).astype(np.int64)
    return offsets, ages, codes == DIRECT_CODE, codes


def run(n_conversions: int = 1_000_000, seed: int = 1) -> list[tuple[str, float, float]]:
    """(model name, seconds, conversions per second) of batch crediting with each named model.

    Seconds are the best of three runs on the same journeys; generation is not timed.
    """
    offsets, ages, is_direct, codes = journeys(n_conversions, seed)
    results: list[tuple[str, float, float]] = []
    for name, model in NAMED_RULES.items():
        best = float("inf")
        for _ in range(REPEATS):
            started = time.perf_counter()
            batch_weights(model, offsets, ages, is_direct, codes)
            best = min(best, time.perf_counter() - started)
        results.append((name, best, n_conversions / best if best > 0 else float("inf")))
    return results
