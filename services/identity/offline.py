"""Offline resolution of an observations file (JSON lines) into identifier → person lines."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import phonenumbers

from services.identity.observations import IdentifierKind, ObservationRecord
from services.identity.resolution import (
    IdentityRules,
    NaiveResolver,
    ResolutionError,
    Resolver,
)

Mode = Literal["naive", "deterministic", "probabilistic"]
ProbabilisticLinker = Callable[[Sequence[ObservationRecord]], Iterable[tuple[str, str, float]]]
MODES: tuple[Mode, ...] = ("naive", "deterministic", "probabilistic")

_ID_FIELDS = (
    ("user_id", IdentifierKind.USER),
    ("crm_id", IdentifierKind.CRM),
    ("anonymous_id", IdentifierKind.ANONYMOUS),
)
_TEXT_FIELDS = {
    "source": "source",
    "event": "event",
    "ip": "ip",
    "ua": "user_agent",
    "geo_city": "geo_city",
    "first_name": "first_name",
    "last_name": "last_name",
    "postcode": "postcode",
    "date_of_birth": "date_of_birth",
}
_HEX = frozenset("0123456789abcdef")


class ObservationFileError(ResolutionError):
    """A line of the observations file cannot be used; the message names the line and field."""


def hash_phone(raw: str, default_region: str = "GB") -> str:
    """SHA-256 hex of a phone number in E.164, parsed with `default_region` when national."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as error:
        raise ValueError(f"phone {raw!r} is not a phone number: {error}") from error
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"phone {raw!r} is not a possible number in region {default_region}")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return hashlib.sha256(e164.encode("ascii")).hexdigest()


def parse_observation(
    obj: dict[str, Any], default_region: str = "GB", line: int | None = None
) -> ObservationRecord:
    """One observation from a decoded JSON object; absent or empty fields are simply absent."""
    where = f"line {line}" if line is not None else "observation"

    def text(name: str) -> str:
        value = obj.get(name)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ObservationFileError(f"{where}: {name} must be a string")
        return str(value).strip()

    def sha256(name: str) -> str:
        value = text(name).lower()
        if value and (len(value) != 64 or not set(value) <= _HEX):
            raise ObservationFileError(f"{where}: {name} must be 64 hexadecimal digits (SHA-256)")
        return value

    if not isinstance(obj, dict):
        raise ObservationFileError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    identifiers: list[str] = []
    for name, kind in _ID_FIELDS:
        value = text(name)
        if value:
            identifiers.append(f"{kind.value}:{value}")
    email = sha256("email_sha256")
    if email:
        identifiers.append(f"{IdentifierKind.EMAIL.value}:{email}")
    phones = [sha256("phone_sha256")]
    raw_phone = text("phone")
    if raw_phone:
        try:
            phones.append(hash_phone(raw_phone, default_region))
        except ValueError as error:
            raise ObservationFileError(f"{where}: {error}") from error
    phones = [p for p in dict.fromkeys(phones) if p]
    identifiers.extend(f"{IdentifierKind.PHONE.value}:{p}" for p in phones)
    ts_text = text("ts")
    ts: datetime | None = None
    if ts_text:
        try:
            ts = datetime.fromisoformat(ts_text)
        except ValueError as error:
            raise ObservationFileError(f"{where}: ts {ts_text!r} is not ISO 8601") from error
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
    extra = {attr: text(name) for name, attr in _TEXT_FIELDS.items()}
    return ObservationRecord(
        obs_id=text("obs_id") or (f"line-{line}" if line is not None else ""),
        identifiers=tuple(identifiers),
        ts=ts,
        phone_sha256=phones[0] if phones else "",
        **extra,
    )


def read_observations(lines: Iterable[str], default_region: str = "GB") -> list[ObservationRecord]:
    """Every observation of a JSON-lines file (blank lines skipped); errors name the line."""
    records: list[ObservationRecord] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            raise ObservationFileError(f"line {number}: not valid JSON: {error.msg}") from error
        records.append(parse_observation(obj, default_region, line=number))
    return records


def resolve_file(
    lines: Iterable[str],
    mode: Mode,
    default_region: str = "GB",
    probabilistic_linker: ProbabilisticLinker | None = None,
    rules: IdentityRules | None = None,
) -> Iterator[dict[str, str]]:
    """Resolves a JSON-lines observations file; yields {"identifier", "person"} per identifier.

    Identifiers come in the order first seen. In deterministic and probabilistic modes,
    identifiers that never take part (blocked values like "undefined") have no line.
    `probabilistic_linker(records)` yields (identifier a, identifier b, match weight).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "probabilistic" and probabilistic_linker is None:
        raise ValueError("mode 'probabilistic' needs a probabilistic_linker (none was given)")
    records = read_observations(lines, default_region)
    if mode == "naive":
        naive = NaiveResolver()
        for record in records:
            naive.observe(record)
        clusters = naive.clusters()
    else:
        resolver = Resolver(rules, keep_log=False)
        for record in records:
            resolver.observe(record)
        if probabilistic_linker is not None and mode == "probabilistic":
            for a, b, weight in probabilistic_linker(records):
                if resolver.person_of(a) is not None and resolver.person_of(b) is not None:
                    resolver.add_probabilistic_link(a, b, weight)
        clusters = resolver.clusters(include_probabilistic=mode == "probabilistic")
    emitted: set[str] = set()
    for record in records:
        for identifier in record.identifiers:
            person = clusters.get(identifier)
            if person is not None and identifier not in emitted:
                emitted.add(identifier)
                yield {"identifier": identifier, "person": person}


__all__ = [
    "MODES",
    "Mode",
    "ObservationFileError",
    "ProbabilisticLinker",
    "hash_phone",
    "parse_observation",
    "read_observations",
    "resolve_file",
]
