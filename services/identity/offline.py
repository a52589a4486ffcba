"""Offline resolution of an observations file (JSON lines) into identifier → person lines."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import phonenumbers

from common.identifiers import InvalidEmailError, hash_email, is_sha256_hex
from common.input_problems import (
    InputProblem,
    InputProblemError,
    ProblemTally,
    UnusableValueError,
)
from services.identity.observations import IdentifierKind, ObservationRecord
from services.identity.offline_resolvers import NaiveResolver, Resolver
from services.identity.resolution import IdentityRules, ResolutionError

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
    "street_number": "street_number",
    "address_1": "address_1",
    "address_2": "address_2",
    "state": "state",
    "national_id": "national_id",
}
_JSON_TYPES = {dict: "an object", list: "an array", bool: "a boolean"}


class ObservationFileError(InputProblemError, ResolutionError):
    """The observations file, or a line of it, cannot be used; the message says where and why."""


def hash_phone(raw: str, default_region: str = "GB") -> str:
    """SHA-256 hex of a phone number in E.164, parsed with `default_region` when national.

    Raises `UnusableValueError` when `raw` is not a phone number or not a possible one.
    """
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as error:
        raise UnusableValueError(
            "not a phone number", f"phone {raw!r} is not a phone number: {error}"
        ) from error
    if not phonenumbers.is_possible_number(number):
        reason = f"not a possible number in region {default_region}"
        raise UnusableValueError(reason, f"phone {raw!r} is {reason}")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return hashlib.sha256(e164.encode("ascii")).hexdigest()


def _hash_raw_email(raw: str, _default_region: str) -> str:
    """The email as ingest hashes it (`common.identifiers.hash_email`)."""
    try:
        return hash_email(raw)
    except InvalidEmailError as error:
        raise UnusableValueError("not a valid email address", f"email {raw!r}: {error}") from error


def _check_sha256(value: str, _default_region: str) -> str:
    digest = value.lower()
    if not is_sha256_hex(digest):
        raise UnusableValueError("not 64 hexadecimal digits (SHA-256)")
    return digest


@dataclass(frozen=True, slots=True)
class _HashedKind:
    """An identifier that files give hashed (`hashed_field`) or raw (`raw_field`)."""

    kind: IdentifierKind
    hashed_field: str
    raw_field: str
    hash_raw: Callable[[str, str], str]


_HASHED_KINDS = (
    _HashedKind(IdentifierKind.EMAIL, "email_sha256", "email", _hash_raw_email),
    _HashedKind(IdentifierKind.PHONE, "phone_sha256", "phone", hash_phone),
)
_IDENTIFIER_FIELDS = frozenset(
    [name for name, _ in _ID_FIELDS]
    + [field for k in _HASHED_KINDS for field in (k.hashed_field, k.raw_field)]
)
KNOWN_FIELDS = _IDENTIFIER_FIELDS | {"obs_id", "ts", *_TEXT_FIELDS}


def _strict_tally() -> ProblemTally:
    return ProblemTally("line", strict=True, error=ObservationFileError)


def parse_observation(
    obj: dict[str, Any],
    line: int,
    default_region: str = "GB",
    problems: ProblemTally | None = None,
) -> ObservationRecord | None:
    """One observation from a decoded JSON object; absent or empty fields are simply absent.

    A value that cannot be used is reported to `problems` and left out, and the rest of the
    line is used; a line that this leaves without any identifier is reported and skipped
    (None). Without `problems`, the first unusable value raises `ObservationFileError`.
    Raw emails are normalised and hashed as ingest does; raw phones are hashed in E.164.
    """
    tally = problems if problems is not None else _strict_tally()
    lost_identifier = False

    def drop(field: str, error: UnusableValueError) -> None:
        nonlocal lost_identifier
        tally.add(InputProblem(line, error.reason, field, error.detail))
        lost_identifier = lost_identifier or field in _IDENTIFIER_FIELDS

    def text(name: str) -> str:
        value = obj.get(name)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            kind = _JSON_TYPES.get(type(value), type(value).__name__)
            drop(name, UnusableValueError("not a string", f"{name} must be a string, not {kind}"))
            return ""
        return str(value).strip()

    for name in obj:
        if name not in KNOWN_FIELDS:
            tally.ignore_field(name)
    identifiers: list[str] = []
    for name, kind in _ID_FIELDS:
        value = text(name)
        if value:
            identifiers.append(f"{kind.value}:{value}")
    first_phone = ""
    for hashed in _HASHED_KINDS:
        digests: list[str] = []
        for field, normalise in (
            (hashed.hashed_field, _check_sha256),
            (hashed.raw_field, hashed.hash_raw),
        ):
            value = text(field)
            if value:
                try:
                    digests.append(normalise(value, default_region))
                except UnusableValueError as error:
                    drop(field, error)
        unique = list(dict.fromkeys(digests))
        identifiers.extend(f"{hashed.kind.value}:{digest}" for digest in unique)
        if hashed.kind is IdentifierKind.PHONE and unique:
            first_phone = unique[0]
    if lost_identifier and not identifiers:
        tally.add(InputProblem(line, "no usable identifier left"))
        return None
    ts_text = text("ts")
    ts: datetime | None = None
    if ts_text:
        try:
            ts = datetime.fromisoformat(ts_text)
        except ValueError:
            drop("ts", UnusableValueError("not ISO 8601", f"ts {ts_text!r} is not ISO 8601"))
        else:
            ts = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    extra = {attr: text(name) for name, attr in _TEXT_FIELDS.items()}
    return ObservationRecord(
        obs_id=text("obs_id") or f"line-{line}",
        identifiers=tuple(identifiers),
        ts=ts,
        phone_sha256=first_phone,
        **extra,
    )


def read_observations(
    lines: Iterable[str | bytes],
    default_region: str = "GB",
    problems: ProblemTally | None = None,
) -> list[ObservationRecord]:
    """Every usable observation of a JSON-lines file (text or UTF-8 bytes; blank lines skipped).

    Lines that are not UTF-8, not JSON or not a JSON object are reported to `problems` and
    skipped; without `problems`, the first of them raises `ObservationFileError`.
    """
    tally = problems if problems is not None else _strict_tally()
    records: list[ObservationRecord] = []
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                tally.add(InputProblem(number, "not UTF-8 text"))
                continue
        text = raw.removeprefix("\ufeff") if number == 1 else raw
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as error:
            tally.add(InputProblem(number, "not valid JSON", detail=f"not valid JSON: {error.msg}"))
            continue
        if not isinstance(obj, dict):
            kind = _JSON_TYPES.get(type(obj), type(obj).__name__)
            tally.add(
                InputProblem(
                    number, "not a JSON object", detail=f"expected a JSON object, not {kind}"
                )
            )
            continue
        record = parse_observation(obj, number, default_region, tally)
        if record is not None:
            records.append(record)
    return records


def phone_region(default_region: str) -> str:
    """The region code for national phone numbers, upper case; ValueError when unknown."""
    region = default_region.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"default region {default_region!r} is not a region with phone numbers "
            "(an ISO 3166-1 alpha-2 code such as GB or US)"
        )
    return region


def resolve_file(
    lines: Iterable[str | bytes],
    mode: Mode,
    default_region: str = "GB",
    probabilistic_linker: ProbabilisticLinker | None = None,
    rules: IdentityRules | None = None,
    problems: ProblemTally | None = None,
) -> Iterator[dict[str, str]]:
    """Resolves a JSON-lines observations file; yields {"identifier", "person"} per identifier.

    Identifiers come in the order first seen. In deterministic and probabilistic modes,
    identifiers that never take part (blocked values like "undefined") have no line.
    `probabilistic_linker(records)` yields (identifier a, identifier b, match weight).
    Unusable values and lines go to `problems` (see `read_observations`); a file of which no
    line is usable raises `ObservationFileError`.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "probabilistic" and probabilistic_linker is None:
        raise ValueError("mode 'probabilistic' needs a probabilistic_linker (none was given)")
    tally = problems if problems is not None else _strict_tally()
    records = read_observations(lines, phone_region(default_region), tally)
    if not records and tally.skipped_lines:
        raise ObservationFileError(f"no usable line in the file ({tally.skipped_lines:,} skipped)")
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
    "KNOWN_FIELDS",
    "MODES",
    "Mode",
    "ObservationFileError",
    "ProbabilisticLinker",
    "hash_phone",
    "parse_observation",
    "phone_region",
    "read_observations",
    "resolve_file",
]
