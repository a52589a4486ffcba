"""Credit fractions as exact fixed-point integers: nano-conversions that add up per conversion."""

from __future__ import annotations

from collections.abc import Sequence

UNITS_PER_CONVERSION = 10**9
"""Fraction units in one whole conversion: 10M conversions stay far inside int64."""


def fraction_units(fractions: Sequence[float]) -> list[int]:
    """The fractions of one conversion under one model as units (`UNITS_PER_CONVERSION` a
    whole conversion) that add up to exactly round(sum of the fractions x 10^9), rounding
    half to even, by the largest remainder: each gets its exact value rounded down, and the
    units left go one each to the largest remainders (the first credit on a tie). So a
    linear split of 3 gives 333333334 + 333333333 + 333333333. Exact (floats are binary
    fractions, computed here as integers), so the same fractions always give the same units."""
    if not fractions:
        return []
    ratios = [fraction.as_integer_ratio() for fraction in fractions]
    common = max(denominator for _, denominator in ratios)
    scaled = [
        numerator * (common // denominator) * UNITS_PER_CONVERSION
        for numerator, denominator in ratios
    ]
    floors = [value // common for value in scaled]
    quotient, remainder = divmod(sum(scaled), common)
    if 2 * remainder > common or (2 * remainder == common and quotient % 2):
        quotient += 1
    left = quotient - sum(floors)
    if left:
        order = sorted(range(len(scaled)), key=lambda n: (-(scaled[n] % common), n))
        for n in order[:left]:
            floors[n] += 1
    return floors
