"""Probabilistic identity linkage: a Fellegi-Sunter model over weak signals, trained by EM."""

from __future__ import annotations

import ipaddress
import math
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from services.identity.observations import IdentifierKind, ObservationRecord

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
LevelArray = npt.NDArray[np.int8]

DEVICE_BOUND_PREFIX = f"{IdentifierKind.ANONYMOUS.value}:"
"""Identifiers of one browser or device (cookies): a replaced one is succeeded by the next."""

NULL_LEVEL = -1
"""Level of a comparison where either side has no value; it contributes weight 0."""

UaSignature = Callable[[str], tuple[str, str]]
"""Maps a user-agent string to (family, device): e.g. ("Chrome/Windows", "Other/131/10")."""


class ProbabilisticModelError(ValueError):
    """Parameters that do not fit the linker's comparisons, or malformed stored parameters."""


# --- string similarity ------------------------------------------------------------------------


def jaro(a: str, b: str) -> float:
    """Jaro similarity in [0, 1]."""
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    window = max(max(la, lb) // 2 - 1, 0)
    a_hit = [False] * la
    b_hit = [False] * lb
    matches = 0
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(i + window + 1, lb)):
            if not b_hit[j] and b[j] == ch:
                a_hit[i] = b_hit[j] = True
                matches += 1
                break
    if not matches:
        return 0.0
    half_transpositions = 0
    j = 0
    for i in range(la):
        if a_hit[i]:
            while not b_hit[j]:
                j += 1
            half_transpositions += a[i] != b[j]
            j += 1
    t = half_transpositions / 2
    return (matches / la + matches / lb + (matches - t) / matches) / 3


def jaro_winkler(a: str, b: str, prefix_scale: float = 0.1, boost_threshold: float = 0.7) -> float:
    """Jaro-Winkler similarity: Jaro boosted by a common prefix of up to 4 characters."""
    sim = jaro(a, b)
    if sim <= boost_threshold:
        return sim
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return sim + prefix * prefix_scale * (1.0 - sim)


_NICKNAMES: dict[str, tuple[str, ...]] = {
    "robert": ("bob", "bobby", "rob", "robbie", "bert"),
    "william": ("bill", "billy", "will", "willie", "liam"),
    "elizabeth": ("liz", "lizzie", "beth", "betty", "eliza", "libby"),
    "katherine": ("kate", "katie", "kathy", "kat", "catherine", "kathryn", "cathy"),
    "james": ("jim", "jimmy", "jamie"),
    "michael": ("mike", "mikey", "mick"),
    "richard": ("rick", "ricky", "dick", "rich"),
    "thomas": ("tom", "tommy"),
    "david": ("dave", "davy"),
    "christopher": ("chris", "kit"),
    "christine": ("chris", "chrissy", "tina"),
    "daniel": ("dan", "danny"),
    "samuel": ("sam", "sammy"),
    "samantha": ("sam", "sammy"),
    "benjamin": ("ben", "benny"),
    "joseph": ("joe", "joey"),
    "anthony": ("tony",),
    "stephen": ("steve", "steven"),
    "andrew": ("andy", "drew"),
    "alexander": ("alex", "sandy"),
    "alexandra": ("alex", "sandra", "sandy"),
    "matthew": ("matt",),
    "nicholas": ("nick", "nicky"),
    "patrick": ("pat", "paddy"),
    "patricia": ("pat", "patty", "trish"),
    "margaret": ("maggie", "meg", "peggy", "peg", "marge"),
    "susan": ("sue", "susie"),
    "jennifer": ("jen", "jenny"),
    "jessica": ("jess", "jessie"),
    "rebecca": ("becky", "becca"),
    "edward": ("ed", "eddie", "ted", "ned"),
    "charles": ("charlie", "chuck"),
    "jonathan": ("jon", "jonny"),
    "victoria": ("vicky", "tori"),
    "deborah": ("deb", "debbie"),
}
_NICKNAME_GROUPS: dict[str, frozenset[str]] = {}
for _canonical, _variants in _NICKNAMES.items():
    for _name in (_canonical, *_variants):
        _NICKNAME_GROUPS[_name] = _NICKNAME_GROUPS.get(_name, frozenset()) | {_canonical}


def same_given_name(a: str, b: str, threshold: float = 0.9) -> bool:
    """True when two normalised first names are nicknames of one name or close by Jaro-Winkler."""
    groups = _NICKNAME_GROUPS.get(a, frozenset({a})) & _NICKNAME_GROUPS.get(b, frozenset({b}))
    return bool(groups) or jaro_winkler(a, b) >= threshold


_SOUNDEX_CODES = {
    ch: digit
    for digit, letters in (
        ("1", "BFPV"),
        ("2", "CGJKQSXZ"),
        ("3", "DT"),
        ("4", "L"),
        ("5", "MN"),
        ("6", "R"),
    )
    for ch in letters
}


def soundex(name: str) -> str:
    """American Soundex code ("Robert" → "R163"); "" for a name without ASCII letters."""
    letters = [ch for ch in name.upper() if "A" <= ch <= "Z"]
    if not letters:
        return ""
    code = [letters[0]]
    previous = _SOUNDEX_CODES.get(letters[0], "")
    for ch in letters[1:]:
        digit = _SOUNDEX_CODES.get(ch, "")
        if digit and digit != previous:
            code.append(digit)
            if len(code) == 4:
                break
        if ch not in "HW":
            previous = digit
    return "".join(code).ljust(4, "0")


# --- normalisation ----------------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)
def normalise_name(name: str) -> str:
    """Lower-case letters only, accents removed ("O'Brien" → "obrien", "José" → "jose")."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if ch.isalpha())


@lru_cache(maxsize=1 << 16)
def normalise_postcode(postcode: str) -> str:
    """Upper-case alphanumerics only ("sw1a 1aa" → "SW1A1AA")."""
    return "".join(ch for ch in postcode.upper() if ch.isalnum())


def postcode_district(postcode: str) -> str:
    """The UK outward code of a normalised postcode ("SW1A1AA" → "SW1A"), else a 3-char prefix."""
    if len(postcode) >= 5 and postcode[-3].isdigit() and postcode[-2:].isalpha():
        return postcode[:-3]
    return postcode[:3] if len(postcode) > 3 else ""


@lru_cache(maxsize=1 << 16)
def ip_network(ip: str) -> str:
    """The /24 network of an IPv4 address, the /64 of an IPv6 one, "" for anything else."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@lru_cache(maxsize=1)
def _ua_parser() -> Any:
    import ua_parser  # loaded on first use, not at import time

    return ua_parser.Parser(ua_parser.BestAvailableResolver(ua_parser.load_lazy_builtins()))


def _version(major: str | None, minor: str | None = None) -> str:
    """ "major.minor", "major" or "", as ingest writes versions."""
    if not major:
        return ""
    return f"{major}.{minor}" if minor else major


@lru_cache(maxsize=1 << 14)
def parse_user_agent(user_agent: str) -> tuple[str, str]:
    """(browser/OS family, "device/browser major/OS version") of a user agent, with ua-parser,
    in the format ingest forwards (unknown versions empty); ("", "") if blank."""
    if not user_agent.strip():
        return "", ""
    parsed = _ua_parser().parse(user_agent.strip()).with_defaults()
    family = f"{parsed.user_agent.family}/{parsed.os.family}"
    browser = _version(parsed.user_agent.major)
    device = f"{parsed.device.family}/{browser}/{_version(parsed.os.major, parsed.os.minor)}"
    return family, device


_UNKNOWN_VERSIONS = frozenset({"", "none", "null", "other"})


@lru_cache(maxsize=1 << 14)
def device_build(device: str) -> str:
    """The device build ("device/browser major/OS version") when it names a browser version,
    else "": without one (ua-parser gives none for many Safari strings; ingest leaves it
    empty) every device of a model shares the build, which then says no more than the
    browser family. A literal "None" from older parses counts as unknown; an unknown OS
    minor is dropped ("10.None" is "10")."""
    parts = [part.strip() for part in device.split("/")]
    if len(parts) != 3 or parts[1].casefold() in _UNKNOWN_VERSIONS:
        return ""
    os_major, _, os_minor = parts[2].partition(".")
    os_version = "" if os_major.casefold() in _UNKNOWN_VERSIONS else os_major
    if os_version and os_minor.casefold() not in _UNKNOWN_VERSIONS:
        os_version = f"{os_version}.{os_minor}"
    return f"{parts[0]}/{parts[1]}/{os_version}"


# --- profiles ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IpSpan:
    """An IP address an identifier was seen on, and when (epoch seconds; ±inf when unknown).

    `ip` and `network` are opaque: raw addresses offline, keyed pseudonyms in the service.
    """

    ip: str
    first_seen: float
    last_seen: float
    network: str = ""


@dataclass(frozen=True, slots=True)
class IdentifierProfile:
    """What the observations of one identifier say about its owner: the weak signals, merged.

    `ua_signatures` are (browser family, device build) with the build "" when it is unknown
    (see `device_build`); `ip_devices` are the (IP, "family|build") combinations seen in one
    observation, for known builds only; `active_from`/`active_until` bound the identifier's
    timestamped observations.
    """

    identifier: str
    ip_spans: tuple[IpSpan, ...] = ()
    ua_signatures: tuple[tuple[str, str], ...] = ()
    cities: tuple[str, ...] = ()
    hour_histogram: tuple[int, ...] = (0,) * 24
    first_name: str = ""
    last_name: str = ""
    postcode: str = ""
    phone_sha256: str = ""
    date_of_birth: str = ""
    ip_devices: tuple[tuple[str, str], ...] = ()
    active_from: float = math.inf
    active_until: float = -math.inf


_CRM_FIELDS = ("first", "last", "postcode", "phone", "dob")


class _ProfileBuilder:
    __slots__ = ("active", "cities", "hours", "ip_devices", "ips", "uas", "values")

    def __init__(self) -> None:
        self.ips: dict[str, list[Any]] = {}
        self.uas: set[tuple[str, str]] = set()
        self.ip_devices: set[tuple[str, str]] = set()
        self.cities: set[str] = set()
        self.hours = [0] * 24
        self.values: dict[str, Counter[str]] = {}
        self.active = [math.inf, -math.inf]

    def build(self, identifier: str) -> IdentifierProfile:
        def top(key: str) -> str:
            counts = self.values.get(key)
            return min(counts, key=lambda v: (-counts[v], v)) if counts else ""

        crm = [top(key) for key in _CRM_FIELDS] if self.values else [""] * 5
        return IdentifierProfile(
            identifier=identifier,
            ip_spans=tuple(IpSpan(ip, s[0], s[1], s[2]) for ip, s in sorted(self.ips.items())),
            ua_signatures=tuple(sorted(self.uas)),
            cities=tuple(sorted(self.cities)),
            hour_histogram=tuple(self.hours),
            first_name=crm[0],
            last_name=crm[1],
            postcode=crm[2],
            phone_sha256=crm[3],
            date_of_birth=crm[4],
            ip_devices=tuple(sorted(self.ip_devices)),
            active_from=self.active[0],
            active_until=self.active[1],
        )


def _record_ua(record: ObservationRecord, ua_signature: UaSignature) -> tuple[str, str]:
    """(family, device build): as ingest parsed it when given, else parsed from the user
    agent; the build is "" when it names no browser version (see `device_build`)."""
    if record.ua_family:
        return record.ua_family.strip(), device_build(record.ua_device)
    if not record.user_agent:
        return "", ""
    family, device = ua_signature(record.user_agent)
    return family, device_build(device) if family else ""


def build_profiles(
    records: Iterable[ObservationRecord], ua_signature: UaSignature = parse_user_agent
) -> tuple[list[IdentifierProfile], set[tuple[str, str]]]:
    """One profile per identifier (sorted), and the identifier pairs seen in one observation.

    An observation's signals are credited to every identifier on it. Multi-valued signals
    (IPs with their network and time span, user agents, IP and device combinations, cities,
    hours) are unions; CRM fields take the identifier's most frequent normalised value. The
    network is `record.ip_network` when given (ingest sends it pseudonymised, like the IP),
    else derived from the IP; the user agent is `record.ua_family`/`ua_device` when given,
    else parsed from `record.user_agent`.
    """
    builders: dict[str, _ProfileBuilder] = {}
    together: set[tuple[str, str]] = set()
    for record in records:
        ids = sorted(set(record.identifiers) - {""})
        if len(ids) > 1:
            together.update(
                (ids[x], ids[y]) for x in range(len(ids)) for y in range(x + 1, len(ids))
            )
        ts = record.ts
        if ts is not None and ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        seconds = ts.timestamp() if ts is not None else math.nan
        ip = record.ip.strip()
        network = (record.ip_network.strip() or ip_network(ip)) if ip else ""
        ua = _record_ua(record, ua_signature)
        city = record.geo_city.strip().casefold()
        crm: list[tuple[str, str]] = []
        if record.first_name or record.last_name or record.postcode:
            crm += [
                ("first", normalise_name(record.first_name)),
                ("last", normalise_name(record.last_name)),
                ("postcode", normalise_postcode(record.postcode)),
            ]
        crm += [
            ("phone", record.phone_sha256.strip().lower()),
            ("dob", record.date_of_birth.strip()),
        ]
        crm = [(key, value) for key, value in crm if value]
        ip_device = (ip, f"{ua[0]}|{ua[1]}") if ip and ua[1] else None
        for identifier in ids:
            builder = builders.get(identifier)
            if builder is None:
                builder = builders[identifier] = _ProfileBuilder()
            if ip:
                span = builder.ips.get(ip)
                if span is None:
                    span = builder.ips[ip] = [math.inf, -math.inf, network]
                if math.isnan(seconds):
                    span[0], span[1] = -math.inf, math.inf
                else:
                    span[0], span[1] = min(span[0], seconds), max(span[1], seconds)
            if ua[0]:
                builder.uas.add(ua)
            if ip_device is not None:
                builder.ip_devices.add(ip_device)
            if city:
                builder.cities.add(city)
            if ts is not None:
                builder.hours[ts.hour] += 1
                active = builder.active
                active[0], active[1] = min(active[0], seconds), max(active[1], seconds)
            for key, value in crm:
                counts = builder.values.get(key)
                if counts is None:
                    counts = builder.values[key] = Counter()
                counts[value] += 1
    profiles = [builders[i].build(i) for i in sorted(builders)]
    return profiles, together


# --- encoded features -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SetSignal:
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
) -> _SetSignal:
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
    return _SetSignal(
        keys=keys[order],
        value=value_arr[order],
        offsets=offsets,
        freq=df / max(carriers, 1),
        first=np.asarray(firsts, dtype=np.float64)[order],
        last=np.asarray(lasts, dtype=np.float64)[order],
        n_values=n_values,
        vocabulary=vocabulary,
    )


def _shared(
    signal: _SetSignal, a: IntArray, b: IntArray, slack: float | None = None
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


@dataclass(frozen=True, slots=True)
class _CodeSignal:
    """A single-valued signal as integer codes (-1 where missing) with value frequencies."""

    codes: IntArray
    freq: FloatArray
    values: tuple[str, ...]


def _code_signal(values: Sequence[str]) -> _CodeSignal:
    vocabulary: dict[str, int] = {}
    codes = np.asarray(
        [vocabulary.setdefault(v, len(vocabulary)) if v else -1 for v in values], dtype=np.int64
    )
    counts = np.bincount(codes[codes >= 0], minlength=max(len(vocabulary), 1)).astype(np.float64)
    return _CodeSignal(codes, counts / max(counts.sum(), 1.0), tuple(vocabulary))


@dataclass(frozen=True, slots=True)
class _Features:
    ip: _SetSignal
    network: _SetSignal
    ip_device: _SetSignal
    ua_device: _SetSignal
    ua_family: _SetSignal
    city: _SetSignal
    device_bound: BoolArray  # anonymous (cookie or device) identifiers
    active_from: FloatArray  # first and last timestamped observation (±inf if none)
    active_until: FloatArray
    hours: FloatArray  # smoothed, L2-normalised hour histograms
    hours_present: BoolArray
    first_name: _CodeSignal
    last_name: _CodeSignal
    postcode: _CodeSignal
    district: _CodeSignal
    phone: _CodeSignal
    dob: _CodeSignal
    config: LinkerConfig


def _networks(p: IdentifierProfile) -> dict[str, tuple[float, float]]:
    """The profile's networks with the union of their IPs' spans."""
    out: dict[str, tuple[float, float]] = {}
    for s in p.ip_spans:
        if s.network:
            lo, hi = out.get(s.network, (math.inf, -math.inf))
            out[s.network] = (min(lo, s.first_seen), max(hi, s.last_seen))
    return out


def _encode(
    profiles: Sequence[IdentifierProfile], config: LinkerConfig, entity: IntArray
) -> _Features:
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
    # A non-match shares an IP and a device build about as often as it shares each of them
    # (independently); the combination's own frequency would count mostly the matches.
    combo_freq = np.ones(ip_device.n_values)
    for text, k in ip_device.vocabulary.items():
        address, device = combos[int(text)]
        combo_freq[k] = (
            ip.freq[ip.vocabulary[address]] * ua_device.freq[ua_device.vocabulary[device]]
        )
    return _Features(
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
        device_bound=np.asarray(
            [p.identifier.startswith(DEVICE_BOUND_PREFIX) for p in profiles], dtype=np.bool_
        ),
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
        config=config,
    )


# --- comparisons ------------------------------------------------------------------------------

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


def _compare_ip_device(f: _Features, a: IntArray, b: IntArray) -> Evaluation:
    """IP and device build together, since a household shares its home IP but not its
    devices, and a device whose cookie was replaced shows the same IP and build with one
    cookie's activity ending before the next one's begins."""
    combo, combo_u = _shared(f.ip_device, a, b)
    successive = (f.active_until[a] < f.active_from[b]) | (f.active_until[b] < f.active_from[a])
    successive &= f.device_bound[a] & f.device_bound[b]
    same_ip, ip_u = _shared(f.ip, a, b, slack=f.config.ip_overlap_slack_seconds)
    same_net, net_u = _shared(f.network, a, b)
    device, device_u = _shared(f.ua_device, a, b)
    family, _ = _shared(f.ua_family, a, b)
    has_ip, has_ua = f.ip.present, f.ua_family.present
    null = ~((has_ip[a] & has_ip[b]) | (has_ua[a] & has_ua[b]))
    level = _levels(null, combo & successive, combo, same_ip, same_net, device, family)
    return level, _tf(level, {0: combo_u, 1: combo_u, 2: ip_u, 3: net_u, 4: device_u})


def _compare_city(f: _Features, a: IntArray, b: IntArray) -> Evaluation:
    same, freq = _shared(f.city, a, b)
    level = _levels(~(f.city.present[a] & f.city.present[b]), same)
    return level, _tf(level, {0: freq})


def _compare_hours(f: _Features, a: IntArray, b: IntArray) -> Evaluation:
    cosine = np.einsum("ij,ij->i", f.hours[a], f.hours[b])
    null = ~(f.hours_present[a] & f.hours_present[b])
    level = _levels(null, cosine >= f.config.hour_similarity_threshold)
    return level, np.full(a.size, np.nan)


def _compare_exact(signal: _CodeSignal, a: IntArray, b: IntArray) -> Evaluation:
    ca, cb = signal.codes[a], signal.codes[b]
    level = _levels((ca < 0) | (cb < 0), ca == cb)
    return level, _tf(level, {0: signal.freq[np.maximum(ca, 0)]})


def _compare_fuzzy(
    signal: _CodeSignal, a: IntArray, b: IntArray, similar: Callable[[str, str], bool]
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


def _compare_first_name(f: _Features, a: IntArray, b: IntArray) -> Evaluation:
    threshold = f.config.name_similarity_threshold
    return _compare_fuzzy(f.first_name, a, b, lambda x, y: same_given_name(x, y, threshold))


def _compare_last_name(f: _Features, a: IntArray, b: IntArray) -> Evaluation:
    threshold = f.config.name_similarity_threshold
    return _compare_fuzzy(f.last_name, a, b, lambda x, y: jaro_winkler(x, y) >= threshold)


def _compare_postcode(f: _Features, a: IntArray, b: IntArray) -> Evaluation:
    ca, cb = f.postcode.codes[a], f.postcode.codes[b]
    da, db = f.district.codes[a], f.district.codes[b]
    level = _levels((ca < 0) | (cb < 0), ca == cb, (da >= 0) & (da == db))
    return level, _tf(level, {0: f.postcode.freq[np.maximum(ca, 0)]})


@dataclass(frozen=True, slots=True)
class Comparison:
    """One signal's comparison: ordered levels (most to least alike, the last is "else"),
    prior m-probabilities for EM, and whether exact levels get term-frequency adjustment."""

    name: str
    levels: tuple[str, ...]
    m_prior: tuple[float, ...]
    evaluate: Callable[[_Features, IntArray, IntArray], Evaluation]
    tf_adjusted: bool = False
    tf_shared_levels: tuple[tuple[int, ...], ...] = ()
    """Groups of levels that agree on the same value and differ otherwise (how the spans
    relate): a value's frequency is the u of the whole group, which the group's trained u
    splits among its levels."""


IP_DEVICE_LEVELS = (
    "successive_same_ip_device",
    "same_ip_device",
    "same_ip",
    "same_network",
    "same_device",
    "same_family",
    "else",
)
"""Levels of the "ip_device" comparison: an IP and a device build seen together in one
observation of each, with one's activity ending before the other's begins (a replaced
cookie) or not; an IP with overlapping spans; a network (or an IP at other times); the
device build, or the browser family, alone."""

DEFAULT_COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "ip_device",
        IP_DEVICE_LEVELS,
        (0.2, 0.3, 0.2, 0.1, 0.1, 0.05, 0.05),
        _compare_ip_device,
        True,
        ((0, 1),),
    ),
    Comparison("geo_city", ("exact", "else"), (0.85, 0.15), _compare_city, True),
    Comparison("hour_pattern", ("similar", "else"), (0.7, 0.3), _compare_hours),
    Comparison(
        "first_name", ("exact", "fuzzy", "else"), (0.85, 0.1, 0.05), _compare_first_name, True
    ),
    Comparison(
        "last_name", ("exact", "fuzzy", "else"), (0.88, 0.08, 0.04), _compare_last_name, True
    ),
    Comparison(
        "postcode", ("exact", "district", "else"), (0.85, 0.1, 0.05), _compare_postcode, True
    ),
    Comparison(
        "phone", ("exact", "else"), (0.9, 0.1), lambda f, a, b: _compare_exact(f.phone, a, b), True
    ),
    Comparison(
        "date_of_birth",
        ("exact", "else"),
        (0.92, 0.08),
        lambda f, a, b: _compare_exact(f.dob, a, b),
    ),
)
"""Web signals (IP with time overlap, user agent, city, hour-of-day pattern) and CRM fields."""


# --- blocking ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockingRule:
    """Profiles sharing any key of a rule are candidate pairs (within a size-capped block).

    How m is trained on the rule's pairs (see `ProbabilisticLinker.fit`):

    - `conditions_on` names the comparisons the rule's keys are derived from: they are left
      out, since the block forces them to agree.
    - `forces` names (comparison, level) pairs where the block forces the comparison to that
      level or a closer one, not to one level: EM learns how matches split among those
      levels (pairs blocked on a shared IP tell how matches share it).
    - `trains`, when given, limits the comparisons trained at all. Pairs sharing a home IP
      or a surname and postcode district are mostly members of one household, so on those
      EM's latent "match" class is the household: such rules train only what tells a
      person's devices apart from their household's (IP with device, hours), or, for the
      surname rule, only person-level fields, never the address-level ones the household
      shares. Pairs sharing a network are mostly neighbours, whose latent class is the
      neighbourhood: that rule trains hours only, not how matches split among IP levels.
    """

    name: str
    keys: Callable[[IdentifierProfile], Iterable[str]]
    conditions_on: tuple[str, ...] = ()
    forces: tuple[tuple[str, str], ...] = ()
    trains: tuple[str, ...] | None = None


def _ip_ua_keys(p: IdentifierProfile) -> Iterable[str]:
    nets = {s.network for s in p.ip_spans} - {""}
    families = {family for family, _ in p.ua_signatures}
    return (f"{n}|{f}" for n in nets for f in families)


DEFAULT_BLOCKING_RULES: tuple[BlockingRule, ...] = (
    BlockingRule(
        "network_ua_family",
        _ip_ua_keys,
        ("geo_city",),
        forces=(("ip_device", "same_network"),),
        trains=("hour_pattern",),
    ),
    BlockingRule(
        "ip",
        lambda p: [s.ip for s in p.ip_spans],
        ("geo_city",),
        forces=(("ip_device", "same_network"),),
        trains=("ip_device", "hour_pattern"),
    ),
    BlockingRule(
        "surname_soundex_district",
        lambda p: (
            [f"{soundex(p.last_name)}|{postcode_district(p.postcode)}"]
            if p.last_name and postcode_district(p.postcode)
            else []
        ),
        ("last_name", "postcode"),
        trains=("first_name", "phone", "date_of_birth"),
    ),
    BlockingRule("phone", lambda p: [p.phone_sha256] if p.phone_sha256 else [], ("phone",)),
    BlockingRule(
        "dob_first_initial",
        lambda p: (
            [f"{p.date_of_birth}|{p.first_name[0]}"] if p.date_of_birth and p.first_name else []
        ),
        ("date_of_birth", "first_name"),
    ),
)


@dataclass(frozen=True, slots=True)
class BlockingResult:
    """Candidate pairs (profile indices, a < b; all rules, and per rule as a * n + b keys), and
    the number of blocks skipped per rule for exceeding the cap."""

    a: IntArray
    b: IntArray
    by_rule: dict[str, IntArray]
    skipped_blocks: dict[str, int]
    largest_skipped: int


def block(
    profiles: Sequence[IdentifierProfile], rules: Sequence[BlockingRule], max_block_size: int
) -> BlockingResult:
    """Candidate pairs: every pair inside a block of at most `max_block_size` profiles.

    A block is the set of profiles sharing one key of one rule. Larger blocks are skipped,
    not truncated: a carrier NAT IP or a kiosk shared by thousands says nothing about who is
    who, and pairing its users would cost O(size²). Their members still pair through other
    rules and blocks. Pairs found by several rules are kept once.
    """
    n = len(profiles)
    by_rule: dict[str, IntArray] = {}
    skipped: dict[str, int] = {}
    largest = 0
    for rule in rules:
        vocabulary: dict[str, int] = {}
        codes: list[int] = []
        owners: list[int] = []
        for index, profile in enumerate(profiles):
            for key in set(rule.keys(profile)):
                codes.append(vocabulary.setdefault(key, len(vocabulary)))
                owners.append(index)
        if not codes:
            continue
        table = np.column_stack(
            (np.asarray(codes, dtype=np.int64), np.asarray(owners, dtype=np.int64))
        )
        table = table[np.lexsort((table[:, 1], table[:, 0]))]
        _, starts, sizes = np.unique(table[:, 0], return_index=True, return_counts=True)
        oversized = sizes > max_block_size
        skipped[rule.name] = int(oversized.sum())
        largest = max(largest, int(sizes[oversized].max(initial=0)))
        found: list[IntArray] = []
        for size in np.unique(sizes[(sizes >= 2) & ~oversized]).tolist():
            members = table[starts[sizes == size][:, None] + np.arange(size), 1]
            i, j = np.triu_indices(size, 1)
            lo = np.minimum(members[:, i], members[:, j]).ravel()
            hi = np.maximum(members[:, i], members[:, j]).ravel()
            found.append(lo * n + hi)
        if found:
            by_rule[rule.name] = np.unique(np.concatenate(found))
    every = list(by_rule.values())
    pair_keys = np.unique(np.concatenate(every)) if every else np.zeros(0, dtype=np.int64)
    width = max(n, 1)
    return BlockingResult(pair_keys // width, pair_keys % width, by_rule, skipped, largest)


# --- parameters and EM ------------------------------------------------------------------------


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


def _level_sums(gamma: LevelArray, weights: FloatArray, n_levels: int) -> FloatArray:
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
            counts = _level_sums(gamma[:, k], matched_weight, size) + prior_counts
            new_m.append(counts / counts.sum())
            if fix_u:
                new_u.append(u_now[k])
            else:
                counts = _level_sums(gamma[:, k], weight - matched_weight, size) + pseudo_count
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


# --- the linker -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkerConfig:
    """Knobs of the probabilistic linker; defaults suit web and CRM identity data.

    - `max_block_size`: blocks with more profiles are skipped (see `block`); 50 keeps a
      household, a small office or a surname within a postcode district, and drops carrier
      NAT IPs, public Wi-Fi and very common surname/district combinations.
    - `ip_overlap_slack_seconds`: two spans on one IP overlap if they come within this of each
      other (a day: home IPs are reassigned over days, NAT IPs within minutes).
    - `hour_similarity_threshold`, `min_pattern_events`: cosine of smoothed 24-bin hour
      histograms for the "similar" level; fewer timestamped events than this is null.
    - `tf_min_u`: floor of term-frequency u, so a value seen on only two profiles cannot
      outweigh everything else (log2(1 / 1e-6) is about 20 bits).
    - `u_random_pairs`: random profile pairs sampled to estimate u.
    - `m_prior_strength`: pseudo-pairs of the Dirichlet prior on m (see `fit`).
    - `min_probability`: default link threshold on the match probability. The prior is the
      chance that two random profiles match, so on n profiles a link needs roughly
      log2(n) + 7 bits of evidence: a shared rare home IP with the same browser build, city
      and hours, or name + postcode + date of birth or phone.
    """

    max_block_size: int = 50
    ip_overlap_slack_seconds: float = 86_400.0
    hour_similarity_threshold: float = 0.8
    min_pattern_events: int = 4
    name_similarity_threshold: float = 0.9
    tf_min_u: float = 1e-6
    u_random_pairs: int = 200_000
    initial_match_prior: float = 0.1
    m_prior_strength: float = 20.0
    em_tol: float = 1e-5
    em_max_iterations: int = 200
    min_probability: float = 0.99
    chunk_pairs: int = 200_000
    seed: int = 0


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
    features: _Features
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
        features = _encode(profiles, self.config, entity)
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

    def fit(self, records: Iterable[ObservationRecord] | PreparedRecords) -> FellegiSunterParams:
        """Train the model on this data, unsupervised.

        1. u from random profile pairs (nearly all non-matches), as Splink does; u stays fixed.
        2. m by EM on each blocking rule's pairs, with a Dirichlet prior of `m_prior_strength`
           pseudo-pairs centred on each comparison's `m_prior`. A rule trains the comparisons
           its `trains` allows, less those it conditions on; a comparison it `forces` to a
           level or closer is trained on those levels only, with m and u renormalised over
           them. Each comparison's m is the average over the rules that trained it fully,
           weighted by their expected matches; the split among forced levels is then the
           same average over the rules that forced them.
           Pairs of cookies in one group of known matches that were never seen together
           (`_known_device_pairs`: a person's other devices and replaced cookies) count as
           labelled matches in both averages, one pair each, under the same prior on m.
        3. The match prior λ, the probability that two random profiles match, from the
           matches the data already shows plus those the model expects: see
           `_random_pair_match_prior`.
        """
        prepared = records if isinstance(records, PreparedRecords) else self.prepare(records)
        params, _, _ = self._fit(prepared, self.candidate_pairs(prepared))
        return params

    def _fit(
        self, prepared: PreparedRecords, blocked: BlockingResult
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
            _level_sums(random_gamma[:, k], ones, len(c.levels)) + 1.0
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
        known_a, known_b = _known_device_pairs(prepared)
        if known_a.size:
            # Labelled matches, with the same Dirichlet prior on m as EM's.
            known_gamma, _ = self._compare(prepared.features, known_a, known_b)
            ones = np.ones(known_a.size)
            strength = config.m_prior_strength
            labelled = [
                _level_sums(known_gamma[:, k], ones, len(c.levels))
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
        """(identifier a, identifier b, match weight) for pairs at or above the threshold.

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
        keep = probability >= (self.config.min_probability if threshold is None else threshold)
        if min_weight is not None:
            keep &= total >= min_weight
        ids = [p.identifier for p in prepared.profiles]
        return [
            (ids[x], ids[y], w)
            for x, y, w in zip(
                a[keep].tolist(), b[keep].tolist(), total[keep].tolist(), strict=True
            )
        ]

    def _compare(self, f: _Features, a: IntArray, b: IntArray) -> tuple[LevelArray, FloatArray]:
        gamma = np.empty((a.size, len(self.comparisons)), dtype=np.int8)
        tf = np.empty((a.size, len(self.comparisons)), dtype=np.float64)
        step = max(self.config.chunk_pairs, 1)
        for start in range(0, a.size, step):
            part = slice(start, start + step)
            for k, comparison in enumerate(self.comparisons):
                gamma[part, k], tf[part, k] = comparison.evaluate(f, a[part], b[part])
        return gamma, tf

    def _weights(
        self, f: _Features, a: IntArray, b: IntArray, params: FellegiSunterParams
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


def _known_device_pairs(prepared: PreparedRecords) -> tuple[IntArray, IntArray]:
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
