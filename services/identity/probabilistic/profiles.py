"""Identifier profiles: the weak signals of each identifier's observations, merged."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from services.identity.observations import ObservationRecord
from services.identity.probabilistic.signals import (
    UaSignature,
    device_build,
    ip_network,
    parse_user_agent,
)
from services.identity.probabilistic.strings import (
    normalise_address,
    normalise_code,
    normalise_name,
    normalise_place,
    normalise_postcode,
    one_typo_apart,
    same_given_name,
    similar_dates,
)


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
    street_number: str = ""
    address_1: str = ""
    address_2: str = ""
    state: str = ""
    national_id: str = ""


_CRM_FIELDS = (
    "first",
    "last",
    "postcode",
    "phone",
    "dob",
    "street_number",
    "address_1",
    "address_2",
    "state",
    "national_id",
)


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

        crm = [top(key) for key in _CRM_FIELDS] if self._one_person() else [""] * len(_CRM_FIELDS)
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
            street_number=crm[5],
            address_1=crm[6],
            address_2=crm[7],
            state=crm[8],
            national_id=crm[9],
            ip_devices=tuple(sorted(self.ip_devices)),
            active_from=self.active[0],
            active_until=self.active[1],
        )

    def _one_person(self) -> bool:
        """Whether the identifier's records describe one person: no two given names that are
        not the same name (nicknames and typos are), no two dates of birth and no two national
        identity numbers that are not one keying error apart. A family mailbox in two
        partners' records describes two, so its records' fields compare it with nobody."""
        if not self.values:
            return False

        def agree(key: str, alike: Callable[[str, str], bool]) -> bool:
            seen = list(self.values.get(key, ()))
            return all(alike(x, y) for i, x in enumerate(seen) for y in seen[i + 1 :])

        return (
            agree("first", same_given_name)
            and agree("dob", similar_dates)
            and agree("national_id", one_typo_apart)
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
        city = normalise_place(record.geo_city)
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
            ("street_number", normalise_code(record.street_number)),
            ("address_1", normalise_address(record.address_1)),
            ("address_2", normalise_address(record.address_2)),
            ("state", normalise_code(record.state)),
            ("national_id", normalise_code(record.national_id)),
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
