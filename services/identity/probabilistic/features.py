"""Profiles encoded as arrays (value codes, frequencies, time spans) for vectorised comparison."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from services.identity.observations import IdentifierKind
from services.identity.probabilistic.arrays import BoolArray, FloatArray, IntArray
from services.identity.probabilistic.config import LinkerConfig
from services.identity.probabilistic.profiles import IdentifierProfile
from services.identity.probabilistic.strings import postcode_district

DEVICE_BOUND_PREFIX = f"{IdentifierKind.ANONYMOUS.value}:"
"""Identifiers of one browser or device (cookies): a replaced one is succeeded by the next."""


@dataclass(frozen=True, slots=True)
class SetSignal:
    """A multi-valued signal as sorted (profile, value) rows, CSR-indexed by profile."""

    keys: IntArray  # profile * n_values + value, sorted
    value: IntArray
    offsets: IntArray  # rows of profile p: offsets[p]:offsets[p + 1]
    freq: FloatArray  # per value: share of profiles with this signal that carry it
    first: FloatArray
    last: FloatArray
    n_values: int
    vocabulary: dict[str, int]

    @property
    def present(self) -> BoolArray:
        return np.diff(self.offsets) > 0


def _set_signal(
    n_profiles: int, rows: Iterable[tuple[int, str, float, float]], entity: IntArray
) -> SetSignal:
    """From (profile, value, first seen, last seen) rows, at most one per profile and value.

    A value's frequency, the chance that a non-match carries it, is the share of entities
    carrying it among those with the signal, where an entity is a group of profiles known to
    match (`entity[profile]`): counting profiles would count a person's many identifiers as
    many people."""
    vocabulary: dict[str, int] = {}
    owners: list[int] = []
    values: list[int] = []
    firsts: list[float] = []
    lasts: list[float] = []
    for owner, text, first, last in rows:
        owners.append(owner)
        values.append(vocabulary.setdefault(text, len(vocabulary)))
        firsts.append(first)
        lasts.append(last)
    n_values = max(len(vocabulary), 1)
    owner_arr = np.asarray(owners, dtype=np.int64)
    value_arr = np.asarray(values, dtype=np.int64)
    keys = owner_arr * n_values + value_arr
    order = np.argsort(keys, kind="stable")
    per_owner = np.bincount(owner_arr, minlength=n_profiles)
    owner_entity = entity[owner_arr]
    carriers = int(np.unique(owner_entity).size)
    distinct = np.unique(owner_entity * n_values + value_arr)
    df = np.bincount(distinct % n_values, minlength=n_values).astype(np.float64)
    offsets = np.zeros(n_profiles + 1, dtype=np.int64)
    np.cumsum(per_owner, out=offsets[1:])
    return SetSignal(
        keys=keys[order],
        value=value_arr[order],
        offsets=offsets,
        freq=df / max(carriers, 1),
        first=np.asarray(firsts, dtype=np.float64)[order],
        last=np.asarray(lasts, dtype=np.float64)[order],
        n_values=n_values,
        vocabulary=vocabulary,
    )


def shared_values(
    signal: SetSignal, a: IntArray, b: IntArray, slack: float | None = None
) -> tuple[BoolArray, FloatArray]:
    """Whether each pair shares a value (with overlapping spans, given a slack) and the rarest's
    frequency (inf where nothing is shared). Vectorised: a's rows are looked up in b's."""
    counts = signal.offsets[a + 1] - signal.offsets[a]
    shared = np.zeros(a.size, dtype=np.bool_)
    rarest = np.full(a.size, np.inf)
    total = int(counts.sum())
    if total == 0 or signal.keys.size == 0:
        return shared, rarest
    pair = np.repeat(np.arange(a.size), counts)
    row_a = np.repeat(signal.offsets[a] - np.cumsum(counts) + counts, counts) + np.arange(total)
    keys = b[pair] * signal.n_values + signal.value[row_a]
    row_b = np.minimum(np.searchsorted(signal.keys, keys), signal.keys.size - 1)
    hit = signal.keys[row_b] == keys
    if slack is not None:
        hit &= signal.first[row_a] - slack <= signal.last[row_b]
        hit &= signal.first[row_b] - slack <= signal.last[row_a]
    shared[pair[hit]] = True
    np.minimum.at(rarest, pair[hit], signal.freq[signal.value[row_a[hit]]])
    return shared, rarest


def similar_values(
    signal: SetSignal, a: IntArray, b: IntArray, similar: Callable[[str, str], bool]
) -> BoolArray:
    """Whether each pair has two different values, one on each side, for which `similar`
    holds (each distinct pair of values is judged once)."""
    out = np.zeros(a.size, dtype=np.bool_)
    count_a = signal.offsets[a + 1] - signal.offsets[a]
    count_b = signal.offsets[b + 1] - signal.offsets[b]
    combos = count_a * count_b
    total = int(combos.sum())
    if total == 0:
        return out
    pair = np.repeat(np.arange(a.size), combos)
    within = np.arange(total) - np.repeat(np.cumsum(combos) - combos, combos)
    value_a = signal.value[signal.offsets[a][pair] + within // count_b[pair]]
    value_b = signal.value[signal.offsets[b][pair] + within % count_b[pair]]
    differ = value_a != value_b
    if not differ.any():
        return out
    width = signal.n_values
    keys = np.minimum(value_a[differ], value_b[differ]) * width + np.maximum(
        value_a[differ], value_b[differ]
    )
    unique, inverse = np.unique(keys, return_inverse=True)
    names = list(signal.vocabulary)
    verdicts = np.fromiter(
        (similar(names[k // width], names[k % width]) for k in unique.tolist()),
        dtype=np.bool_,
        count=unique.size,
    )
    out[pair[differ][verdicts[inverse.reshape(-1)]]] = True
    return out


@dataclass(frozen=True, slots=True)
class CodeSignal:
    """A single-valued signal as integer codes (-1 where missing) with value frequencies."""

    codes: IntArray
    freq: FloatArray
    values: tuple[str, ...]


def _code_signal(values: Sequence[str]) -> CodeSignal:
    vocabulary: dict[str, int] = {}
    codes = np.asarray(
        [vocabulary.setdefault(v, len(vocabulary)) if v else -1 for v in values], dtype=np.int64
    )
    counts = np.bincount(codes[codes >= 0], minlength=max(len(vocabulary), 1)).astype(np.float64)
    return CodeSignal(codes, counts / max(counts.sum(), 1.0), tuple(vocabulary))


@dataclass(frozen=True, slots=True)
class Features:
    """The signals of a list of profiles, encoded for comparison; indexed by profile position."""

    ip: SetSignal
    network: SetSignal
    ip_device: SetSignal
    ua_device: SetSignal
    ua_family: SetSignal
    city: SetSignal
    device_bound: BoolArray  # anonymous (cookie or device) identifiers
    active_from: FloatArray  # first and last timestamped observation (±inf if none)
    active_until: FloatArray
    hours: FloatArray  # smoothed, L2-normalised hour histograms
    hours_present: BoolArray
    first_name: CodeSignal
    last_name: CodeSignal
    postcode: CodeSignal
    district: CodeSignal
    phone: CodeSignal
    dob: CodeSignal
    street_number: CodeSignal
    address_1: CodeSignal
    address_2: CodeSignal
    state: CodeSignal
    national_id: CodeSignal
    config: LinkerConfig


def _networks(p: IdentifierProfile) -> dict[str, tuple[float, float]]:
    """The profile's networks with the union of their IPs' spans."""
    out: dict[str, tuple[float, float]] = {}
    for s in p.ip_spans:
        if s.network:
            lo, hi = out.get(s.network, (math.inf, -math.inf))
            out[s.network] = (min(lo, s.first_seen), max(hi, s.last_seen))
    return out


def _device_bound(p: IdentifierProfile) -> bool:
    return p.identifier.startswith(DEVICE_BOUND_PREFIX)


def _identified_carriers(signal: SetSignal, entity: IntArray, identified: BoolArray) -> IntArray:
    """Per value of the signal, how many identified entities carry it."""
    row_entity = entity[signal.keys // signal.n_values]
    kept = identified[row_entity]
    distinct = np.unique(row_entity[kept] * signal.n_values + signal.value[kept])
    return np.bincount(distinct % signal.n_values, minlength=signal.n_values)


def encode_profiles(
    profiles: Sequence[IdentifierProfile], config: LinkerConfig, entity: IntArray
) -> Features:
    """The profiles' signals as arrays; `entity[profile]` names the profile's group of known
    matches, so that value frequencies count people rather than identifiers."""
    n = len(profiles)
    raw = np.asarray([p.hour_histogram for p in profiles], dtype=np.float64).reshape(-1, 24)
    smoothed = 0.5 * raw + 0.25 * (np.roll(raw, 1, axis=1) + np.roll(raw, -1, axis=1))
    norms = np.linalg.norm(smoothed, axis=1, keepdims=True)
    ip = _set_signal(
        n,
        ((i, s.ip, s.first_seen, s.last_seen) for i, p in enumerate(profiles) for s in p.ip_spans),
        entity,
    )
    ua_device = _set_signal(
        n,
        (
            (i, f"{f}|{d}", 0.0, 0.0)
            for i, p in enumerate(profiles)
            for f, d in p.ua_signatures
            if d
        ),
        entity,
    )
    combos = sorted({c for p in profiles for c in p.ip_devices})
    code = {c: k for k, c in enumerate(combos)}
    ip_device = _set_signal(
        n,
        ((i, str(code[c]), 0.0, 0.0) for i, p in enumerate(profiles) for c in p.ip_devices),
        entity,
    )
    # A non-match shares an IP and a device build about as often as it shares the IP times
    # the share of the IP's people using that build. Counting profiles (or groups of known
    # matches) would count one person's many cookies as many people, so that share is the
    # device build's overall frequency, except where identified people (groups holding a
    # login, an email, a phone or a CRM record, whom nothing joins) show it: when two or
    # more of them use the build on the IP (an office's managed browser; two household
    # members with one phone model), the share of the IP's identified people using it.
    identified = np.zeros(int(entity.max(initial=-1)) + 1, dtype=np.bool_)
    identified[entity[[i for i, p in enumerate(profiles) if not _device_bound(p)]]] = True
    people_with_combo = _identified_carriers(ip_device, entity, identified)
    people_on_ip = _identified_carriers(ip, entity, identified)
    combo_freq = np.ones(ip_device.n_values)
    for text, k in ip_device.vocabulary.items():
        address, device = combos[int(text)]
        share = ua_device.freq[ua_device.vocabulary[device]]
        on_ip = people_on_ip[ip.vocabulary[address]]
        if people_with_combo[k] >= 2 and on_ip > 0:
            share = max(share, people_with_combo[k] / on_ip)
        combo_freq[k] = ip.freq[ip.vocabulary[address]] * share
    return Features(
        ip=ip,
        network=_set_signal(
            n,
            (
                (i, net, first, last)
                for i, p in enumerate(profiles)
                for net, (first, last) in _networks(p).items()
            ),
            entity,
        ),
        ip_device=replace(ip_device, freq=combo_freq),
        ua_device=ua_device,
        ua_family=_set_signal(
            n,
            (
                (i, f, 0.0, 0.0)
                for i, p in enumerate(profiles)
                for f in dict.fromkeys(f for f, _ in p.ua_signatures)
            ),
            entity,
        ),
        city=_set_signal(
            n, ((i, c, 0.0, 0.0) for i, p in enumerate(profiles) for c in p.cities), entity
        ),
        device_bound=np.asarray([_device_bound(p) for p in profiles], dtype=np.bool_),
        active_from=np.asarray([p.active_from for p in profiles], dtype=np.float64),
        active_until=np.asarray([p.active_until for p in profiles], dtype=np.float64),
        hours=smoothed / np.where(norms > 0, norms, 1.0),
        hours_present=raw.sum(axis=1) >= config.min_pattern_events,
        first_name=_code_signal([p.first_name for p in profiles]),
        last_name=_code_signal([p.last_name for p in profiles]),
        postcode=_code_signal([p.postcode for p in profiles]),
        district=_code_signal([postcode_district(p.postcode) for p in profiles]),
        phone=_code_signal([p.phone_sha256 for p in profiles]),
        dob=_code_signal([p.date_of_birth for p in profiles]),
        street_number=_code_signal([p.street_number for p in profiles]),
        address_1=_code_signal([p.address_1 for p in profiles]),
        address_2=_code_signal([p.address_2 for p in profiles]),
        state=_code_signal([p.state for p in profiles]),
        national_id=_code_signal([p.national_id for p in profiles]),
        config=config,
    )
