"""Blocking: the candidate pairs worth comparing, from profiles that share a rule's key."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from services.identity.probabilistic.arrays import IntArray
from services.identity.probabilistic.profiles import IdentifierProfile
from services.identity.probabilistic.strings import postcode_district, soundex


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


def _joined(*parts: str) -> list[str]:
    """One key of the parts when every part is present, else none."""
    return ["|".join(parts)] if all(parts) else []


def _ip_ua_keys(p: IdentifierProfile) -> Iterable[str]:
    nets = {s.network for s in p.ip_spans} - {""}
    families = {family for family, _ in p.ua_signatures}
    return (f"{n}|{f}" for n in nets for f in families)


_ADDRESS = ("street_number", "address_1", "address_2", "state")
"""Address-level comparisons, which a household shares."""

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
        trains=("first_name", "phone", "date_of_birth", "national_id"),
    ),
    BlockingRule("phone", lambda p: [p.phone_sha256] if p.phone_sha256 else [], ("phone",)),
    BlockingRule(
        "dob_first_initial",
        lambda p: _joined(p.date_of_birth, p.first_name[:1]),
        ("date_of_birth", "first_name"),
    ),
    # Person-level passes, so that a pair with errors in any two of name, surname, postcode
    # and date of birth still meets in one block: each pass keys on other fields, and on
    # pieces of the date (year; month and day) that one typo leaves apart.
    BlockingRule(
        "names_soundex",
        lambda p: _joined(*sorted((soundex(p.first_name), soundex(p.last_name)))),
        ("first_name", "last_name"),
        trains=("postcode", "phone", "date_of_birth", *_ADDRESS, "national_id"),
    ),
    BlockingRule(
        "postcode_name_soundex",
        lambda p: [
            k for name in (p.first_name, p.last_name) for k in _joined(p.postcode, soundex(name))
        ],
        ("postcode",),
        trains=("first_name", "phone", "date_of_birth", "national_id"),
    ),
    BlockingRule(
        "city_name_soundex",
        lambda p: [
            k
            for city in p.cities
            for name in (p.first_name, p.last_name)
            for k in _joined(city, soundex(name))
        ],
        ("geo_city",),
        trains=(),
    ),
    BlockingRule(
        "birth_year_last_soundex",
        lambda p: _joined(p.date_of_birth[:4], soundex(p.last_name)),
        ("last_name",),
        trains=("first_name", "postcode", "phone", *_ADDRESS, "national_id"),
    ),
    BlockingRule(
        "birth_day_first_soundex",
        lambda p: _joined(p.date_of_birth[4:], soundex(p.first_name)),
        ("first_name",),
        trains=("last_name", "postcode", "phone", *_ADDRESS, "national_id"),
    ),
    BlockingRule(
        "dob_postcode",
        lambda p: _joined(p.date_of_birth, p.postcode),
        ("date_of_birth", "postcode"),
    ),
    BlockingRule(
        "dob_city",
        lambda p: [k for city in p.cities for k in _joined(p.date_of_birth, city)],
        ("date_of_birth", "geo_city"),
    ),
    # CRM records with an address or a national identity number (offline files): the number
    # alone, and the street number with the postcode or the street's sound, which a
    # household shares, so that rule trains only person-level fields.
    BlockingRule("national_id", lambda p: _joined(p.national_id), ("national_id",)),
    BlockingRule(
        "street_address",
        lambda p: [
            *_joined(p.street_number, p.postcode),
            *_joined(p.street_number, soundex(p.address_1)),
        ],
        ("street_number",),
        trains=("first_name", "phone", "date_of_birth", "national_id"),
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
