"""Comparisons: how alike two profiles are on each signal, as levels, vectorised over pairs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from services.identity.probabilistic.arrays import BoolArray, FloatArray, IntArray, LevelArray
from services.identity.probabilistic.features import (
    CodeSignal,
    Features,
    shared_values,
    similar_values,
)
from services.identity.probabilistic.strings import (
    jaro_winkler,
    one_typo_apart,
    same_given_name,
    similar_dates,
)

NULL_LEVEL = -1
"""Level of a comparison where either side has no value; it contributes weight 0."""

Evaluation = tuple[LevelArray, FloatArray]
"""Per pair: the comparison level (NULL_LEVEL when missing) and, where the level is an exact
match on a value, that value's frequency for term-frequency adjustment (NaN elsewhere)."""


def _levels(null: BoolArray, *conditions: BoolArray) -> LevelArray:
    level = np.full(null.size, len(conditions), dtype=np.int8)
    for index in reversed(range(len(conditions))):
        level[conditions[index]] = index
    level[null] = NULL_LEVEL
    return level


def _tf(level: LevelArray, per_level: Mapping[int, FloatArray]) -> FloatArray:
    out = np.full(level.size, np.nan)
    for index, freq in per_level.items():
        mask = level == index
        out[mask] = freq[mask]
    return out


def _compare_ip_device(f: Features, a: IntArray, b: IntArray) -> Evaluation:
    """IP and device build together, since a household shares its home IP but not its
    devices, and a device whose cookie was replaced shows the same IP and build with one
    cookie's activity ending before the next one's begins. Two cookies of one build on one
    IP whose activity overlaps are two browsers at once (one browser holds one cookie at a
    time): two devices of one build, a person's or, more often, two household members'."""
    combo, combo_u = shared_values(f.ip_device, a, b)
    devices = f.device_bound[a] & f.device_bound[b]
    apart = (f.active_until[a] < f.active_from[b]) | (f.active_until[b] < f.active_from[a])
    same_ip, ip_u = shared_values(f.ip, a, b, slack=f.config.ip_overlap_slack_seconds)
    same_net, net_u = shared_values(f.network, a, b)
    device, device_u = shared_values(f.ua_device, a, b)
    family, _ = shared_values(f.ua_family, a, b)
    has_ip, has_ua = f.ip.present, f.ua_family.present
    null = ~((has_ip[a] & has_ip[b]) | (has_ua[a] & has_ua[b]))
    level = _levels(
        null,
        combo & devices & apart,
        combo & devices,
        combo,
        same_ip,
        same_net,
        device,
        family,
    )
    return level, _tf(level, {0: combo_u, 1: combo_u, 2: combo_u, 3: ip_u, 4: net_u, 5: device_u})


def _compare_city(f: Features, a: IntArray, b: IntArray) -> Evaluation:
    """A city (or suburb) in common, else two similar by Jaro-Winkler (a typo in a place
    name: "blacktown" and "blackown")."""
    threshold = f.config.place_similarity_threshold
    same, freq = shared_values(f.city, a, b)
    similar = ~same & similar_values(f.city, a, b, lambda x, y: jaro_winkler(x, y) >= threshold)
    level = _levels(~(f.city.present[a] & f.city.present[b]), same, similar)
    return level, _tf(level, {0: freq})


def _compare_hours(f: Features, a: IntArray, b: IntArray) -> Evaluation:
    cosine = np.einsum("ij,ij->i", f.hours[a], f.hours[b])
    null = ~(f.hours_present[a] & f.hours_present[b])
    level = _levels(null, cosine >= f.config.hour_similarity_threshold)
    return level, np.full(a.size, np.nan)


def _compare_exact(signal: CodeSignal, a: IntArray, b: IntArray) -> Evaluation:
    ca, cb = signal.codes[a], signal.codes[b]
    level = _levels((ca < 0) | (cb < 0), ca == cb)
    return level, _tf(level, {0: signal.freq[np.maximum(ca, 0)]})


def _compare_fuzzy(
    signal: CodeSignal, a: IntArray, b: IntArray, similar: Callable[[str, str], bool]
) -> Evaluation:
    ca, cb = signal.codes[a], signal.codes[b]
    null = (ca < 0) | (cb < 0)
    fuzzy = np.zeros(a.size, dtype=np.bool_)
    differ = ~null & (ca != cb)
    if differ.any():
        width = len(signal.values)
        pair_keys = np.minimum(ca[differ], cb[differ]) * width + np.maximum(ca[differ], cb[differ])
        unique, inverse = np.unique(pair_keys, return_inverse=True)
        verdicts = np.fromiter(
            (similar(signal.values[k // width], signal.values[k % width]) for k in unique.tolist()),
            dtype=np.bool_,
            count=unique.size,
        )
        fuzzy[differ] = verdicts[inverse.reshape(-1)]
    level = _levels(null, ca == cb, fuzzy)
    return level, _tf(level, {0: signal.freq[np.maximum(ca, 0)]})


def values_differing_so_that(
    signal: CodeSignal, a: IntArray, b: IntArray, predicate: Callable[[str, str], bool]
) -> BoolArray:
    """Per pair: whether both sides have a value, the values differ and `predicate` holds
    for them (each distinct pair of values is judged once)."""
    level, _ = _compare_fuzzy(signal, a, b, predicate)
    return np.equal(level, 1)


def _compare_graded(
    signal: CodeSignal, a: IntArray, b: IntArray, grade: Callable[[str, str], int]
) -> Evaluation:
    """Levels exact, then `grade(x, y)` + 1 for two different values (the number of graded
    levels for "else"); missing is null. Each distinct pair of values is graded once."""
    ca, cb = signal.codes[a], signal.codes[b]
    null = (ca < 0) | (cb < 0)
    level = np.zeros(a.size, dtype=np.int8)
    differ = ~null & (ca != cb)
    if differ.any():
        width = len(signal.values)
        pair_keys = np.minimum(ca[differ], cb[differ]) * width + np.maximum(ca[differ], cb[differ])
        unique, inverse = np.unique(pair_keys, return_inverse=True)
        grades = np.fromiter(
            (grade(signal.values[k // width], signal.values[k % width]) for k in unique.tolist()),
            dtype=np.int8,
            count=unique.size,
        )
        level[differ] = grades[inverse.reshape(-1)] + 1
    level[null] = NULL_LEVEL
    return level, _tf(level, {0: signal.freq[np.maximum(ca, 0)]})


ADDRESS_SIMILARITY = (0.92, 0.8)
"""Jaro-Winkler thresholds of the address comparisons' "close" and "similar" levels."""


def _address_grade(x: str, y: str) -> int:
    similarity = jaro_winkler(x, y)
    return next(
        (k for k, bar in enumerate(ADDRESS_SIMILARITY) if similarity >= bar),
        len(ADDRESS_SIMILARITY),
    )


def _compare_address(field: str) -> Callable[[Features, IntArray, IntArray], Evaluation]:
    def evaluate(f: Features, a: IntArray, b: IntArray) -> Evaluation:
        signal: CodeSignal = getattr(f, field)
        return _compare_graded(signal, a, b, _address_grade)

    return evaluate


def _compare_national_id(f: Features, a: IntArray, b: IntArray) -> Evaluation:
    return _compare_fuzzy(f.national_id, a, b, one_typo_apart)


def _names_swapped(f: Features, a: IntArray, b: IntArray) -> BoolArray:
    """Whether each pair's given name and surname are swapped (one record has the surname in
    the given-name field and the other way round), each close by Jaro-Winkler."""
    threshold = f.config.name_similarity_threshold
    fa, fb = f.first_name.codes[a], f.first_name.codes[b]
    la, lb = f.last_name.codes[a], f.last_name.codes[b]
    swapped = np.zeros(a.size, dtype=np.bool_)
    candidates = np.flatnonzero((fa >= 0) & (fb >= 0) & (la >= 0) & (lb >= 0) & (fa != fb))
    firsts, lasts = f.first_name.values, f.last_name.values
    for i in candidates.tolist():
        swapped[i] = (
            jaro_winkler(firsts[fa[i]], lasts[lb[i]]) >= threshold
            and jaro_winkler(lasts[la[i]], firsts[fb[i]]) >= threshold
        )
    return swapped


def _compare_name(
    signal: CodeSignal,
    f: Features,
    a: IntArray,
    b: IntArray,
    similar: Callable[[str, str], bool],
) -> Evaluation:
    level, tf = _compare_fuzzy(signal, a, b, similar)
    swapped = (level == 2) & _names_swapped(f, a, b)
    level[level == 2] = 3
    level[swapped] = 2
    return level, tf


def _compare_first_name(f: Features, a: IntArray, b: IntArray) -> Evaluation:
    threshold = f.config.name_similarity_threshold
    return _compare_name(f.first_name, f, a, b, lambda x, y: same_given_name(x, y, threshold))


def _compare_last_name(f: Features, a: IntArray, b: IntArray) -> Evaluation:
    threshold = f.config.name_similarity_threshold
    return _compare_name(f.last_name, f, a, b, lambda x, y: jaro_winkler(x, y) >= threshold)


def _compare_postcode(f: Features, a: IntArray, b: IntArray) -> Evaluation:
    ca, cb = f.postcode.codes[a], f.postcode.codes[b]
    da, db = f.district.codes[a], f.district.codes[b]
    typo, _ = _compare_fuzzy(f.postcode, a, b, one_typo_apart)
    level = _levels((ca < 0) | (cb < 0), ca == cb, (da >= 0) & (da == db), typo == 1)
    return level, _tf(level, {0: f.postcode.freq[np.maximum(ca, 0)]})


def _compare_dob(f: Features, a: IntArray, b: IntArray) -> Evaluation:
    return _compare_fuzzy(f.dob, a, b, similar_dates)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One signal's comparison: ordered levels (most to least alike, the last is "else"),
    prior m-probabilities for EM, and whether exact levels get term-frequency adjustment."""

    name: str
    levels: tuple[str, ...]
    m_prior: tuple[float, ...]
    evaluate: Callable[[Features, IntArray, IntArray], Evaluation]
    tf_adjusted: bool = False
    tf_shared_levels: tuple[tuple[int, ...], ...] = ()
    """Groups of levels that agree on the same value and differ otherwise (how the spans
    relate): a value's frequency is the u of the whole group, which the group's trained u
    splits among its levels."""
    labelled_split: tuple[int, ...] = ()
    """Levels whose split of m only labelled matches can tell (see `ProbabilisticLinker.fit`):
    EM on any blocking rule's pairs learns how a household's pairs split among them, so the
    levels' total m is trained as usual and divided among them as the labelled matches are."""


IP_DEVICE_LEVELS = (
    "successive_same_ip_device",
    "concurrent_same_ip_device",
    "same_ip_device",
    "same_ip",
    "same_network",
    "same_device",
    "same_family",
    "else",
)
"""Levels of the "ip_device" comparison: an IP and a device build seen together in one
observation of each, with one cookie's activity ending before the other's begins (a replaced
cookie), two cookies active at once (two devices of one build), or with one side not a
cookie (a login or an email); an IP with overlapping spans; a network (or an IP at other times); the
device build, or the browser family, alone."""

DEFAULT_COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "ip_device",
        IP_DEVICE_LEVELS,
        (0.2, 0.02, 0.28, 0.2, 0.1, 0.1, 0.05, 0.05),
        _compare_ip_device,
        True,
        ((0, 1, 2),),
        labelled_split=(0, 1),
    ),
    Comparison("geo_city", ("exact", "similar", "else"), (0.85, 0.05, 0.1), _compare_city, True),
    Comparison("hour_pattern", ("similar", "else"), (0.7, 0.3), _compare_hours),
    Comparison(
        "first_name",
        ("exact", "fuzzy", "swapped", "else"),
        (0.84, 0.1, 0.02, 0.04),
        _compare_first_name,
        True,
    ),
    Comparison(
        "last_name",
        ("exact", "fuzzy", "swapped", "else"),
        (0.87, 0.08, 0.02, 0.03),
        _compare_last_name,
        True,
    ),
    Comparison(
        "postcode",
        ("exact", "district", "typo", "else"),
        (0.84, 0.08, 0.04, 0.04),
        _compare_postcode,
        True,
    ),
    Comparison(
        "phone", ("exact", "else"), (0.9, 0.1), lambda f, a, b: _compare_exact(f.phone, a, b), True
    ),
    Comparison("date_of_birth", ("exact", "typo", "else"), (0.9, 0.05, 0.05), _compare_dob),
    Comparison(
        "street_number",
        ("exact", "else"),
        (0.9, 0.1),
        lambda f, a, b: _compare_exact(f.street_number, a, b),
        True,
    ),
    Comparison(
        "address_1",
        ("exact", "close", "similar", "else"),
        (0.8, 0.1, 0.05, 0.05),
        _compare_address("address_1"),
        True,
    ),
    Comparison(
        "address_2",
        ("exact", "close", "similar", "else"),
        (0.8, 0.1, 0.05, 0.05),
        _compare_address("address_2"),
        True,
    ),
    Comparison(
        "state",
        ("exact", "else"),
        (0.95, 0.05),
        lambda f, a, b: _compare_exact(f.state, a, b),
        True,
    ),
    Comparison(
        "national_id", ("exact", "typo", "else"), (0.85, 0.1, 0.05), _compare_national_id, True
    ),
)
"""Web signals (IP with time overlap, user agent, city exact or similar by Jaro-Winkler,
hour-of-day pattern) and CRM fields:
names exact, close (nicknames, Jaro-Winkler) or swapped between the given-name and surname
fields; postcodes exact, in one district or one typo apart; dates of birth exact or one
keying error apart (a digit, two adjacent digits, day and month swapped); street numbers
and states exact; address lines exact, close or similar by Jaro-Winkler
(`ADDRESS_SIMILARITY`); national identity numbers exact or one keying error apart (a digit,
two adjacent digits swapped). Address levels are household-level evidence: blocking rules
whose pairs are mostly households do not train them."""
