"""Guards against household links: which scored pairs above the threshold a run proposes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.identity.probabilistic.arrays import BoolArray, FloatArray, IntArray
from services.identity.probabilistic.comparisons import values_differing_so_that
from services.identity.probabilistic.features import Features
from services.identity.probabilistic.profiles import IdentifierProfile
from services.identity.probabilistic.strings import birth_dates_of_two_people

DEVICE_SIGNALS = frozenset({"ip_device", "geo_city", "hour_pattern"})
"""Signals a device and its network give; a pair with weight from no other signal has no
person-level evidence (names, postcode, phone, date of birth, address, national id)."""

DEVICE_BOUND_PREFIX = "anon:"


def _entities(groups: IntArray) -> IntArray:
    """Per profile, its group of known matches, or a group of its own."""
    n = groups.size
    return np.where(groups >= 0, groups, n + np.arange(n))


def identified_people_by_ip(
    profiles: Sequence[IdentifierProfile], groups: IntArray
) -> dict[str, int]:
    """Per IP, how many identified people were seen on it: groups of known matches that hold
    an identifier other than a cookie (a login, email, phone or CRM record)."""
    entity = _entities(groups)
    identified = {
        int(entity[i])
        for i, p in enumerate(profiles)
        if not p.identifier.startswith(DEVICE_BOUND_PREFIX)
    }
    people: dict[str, set[int]] = {}
    for i, profile in enumerate(profiles):
        if int(entity[i]) in identified:
            for span in profile.ip_spans:
                people.setdefault(span.ip, set()).add(int(entity[i]))
    return {ip: len(members) for ip, members in people.items()}


def device_only_on_shared_ip(
    profiles: Sequence[IdentifierProfile],
    groups: IntArray,
    a: IntArray,
    b: IntArray,
    weights: FloatArray,
    signal_names: Sequence[str],
    min_people: int,
) -> BoolArray:
    """Per pair (a[i], b[i]): whether its only evidence is device and network signals and an
    IP the two share (one where both were seen with one device build, else any) was used by
    `min_people` or more identified people. Such an IP is a household's or an office's, whose
    members share it and often a device model: the pair is more likely two of them than one
    person, however rare the build."""
    out = np.zeros(a.size, dtype=np.bool_)
    person_level = [k for k, name in enumerate(signal_names) if name not in DEVICE_SIGNALS]
    if a.size == 0:
        return out
    device_only = ~np.any(weights[:, person_level] != 0.0, axis=1)
    people = identified_people_by_ip(profiles, groups)
    for i in np.flatnonzero(device_only).tolist():
        pa, pb = profiles[int(a[i])], profiles[int(b[i])]
        common = {ip for ip, _ in set(pa.ip_devices) & set(pb.ip_devices)}
        if not common:
            common = {s.ip for s in pa.ip_spans} & {s.ip for s in pb.ip_spans}
        out[i] = max((people.get(ip, 0) for ip in common), default=0) >= min_people
    return out


def concurrent_device_conflicts(
    profiles: Sequence[IdentifierProfile],
    groups: IntArray,
    a: IntArray,
    b: IntArray,
    weights: FloatArray,
) -> BoolArray:
    """Per pair, strongest first: whether joining its two groups of known matches, with the
    stronger pairs not refused already joined, would put two cookies in one person that were
    seen on one IP with one device build while both were active. One browser holds one cookie
    at a time, so those are two devices of one build at once: two people of a household far
    more often than one person's, however each link looks on its own."""
    entity = _entities(groups)
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:
            parent[x], x = root, parent[x]
        return root

    cookies: dict[int, dict[tuple[str, str], list[tuple[float, float]]]] = {}
    for i, profile in enumerate(profiles):
        if profile.identifier.startswith(DEVICE_BOUND_PREFIX) and profile.ip_devices:
            spans = cookies.setdefault(int(entity[i]), {})
            for combo in profile.ip_devices:
                spans.setdefault(combo, []).append((profile.active_from, profile.active_until))
    refused = np.zeros(a.size, dtype=np.bool_)
    order = sorted(range(a.size), key=lambda i: (-float(weights[i]), int(a[i]), int(b[i])))
    for i in order:
        x, y = find(int(entity[int(a[i])])), find(int(entity[int(b[i])]))
        if x == y:
            continue
        first, second = cookies.get(x, {}), cookies.get(y, {})
        if len(second) < len(first):
            first, second = second, first
        if any(
            start <= other_end and other_start <= end
            for combo, spans in first.items()
            for start, end in spans
            for other_start, other_end in second.get(combo, ())
        ):
            refused[i] = True
            continue
        parent[y] = x
        merged = cookies.pop(y, {})
        target = cookies.setdefault(x, {})
        for combo, moved in merged.items():
            target.setdefault(combo, []).extend(moved)
    return refused


def different_birth_dates(
    features: Features,
    a: IntArray,
    b: IntArray,
    weights: FloatArray,
    signal_names: Sequence[str],
) -> BoolArray:
    """Per pair (a[i], b[i]): whether the two sides have dates of birth that cannot be one
    person's (`strings.birth_dates_of_two_people`) and no evidence that the pair is one
    person's that a household does not share (`PERSONAL_SIGNALS`: a national identity
    number agreeing). A date of birth does not change, so two of them are two people (a
    parent and a child of one name, partners or siblings at one address) however much the
    names, postcode, address and home IP agree; a date keyed wrong is rarer than a household,
    and where a record has an identity number it can say so."""
    personal = [k for k, name in enumerate(signal_names) if name in PERSONAL_SIGNALS]
    vouched: BoolArray = np.any(weights[:, personal] > 0.0, axis=1)
    two_dates = values_differing_so_that(features.dob, a, b, birth_dates_of_two_people)
    return np.logical_and(two_dates, np.logical_not(vouched))


PERSONAL_SIGNALS = frozenset({"national_id"})
"""Signals that one person has and a household does not share."""


__all__ = [
    "DEVICE_SIGNALS",
    "PERSONAL_SIGNALS",
    "concurrent_device_conflicts",
    "device_only_on_shared_ip",
    "different_birth_dates",
    "identified_people_by_ip",
]
