"""Offline resolution of an observations file: parsing, phone normalisation, output lines."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import pytest

from common.input_problems import ProblemTally
from services.identity.observations import ObservationRecord
from services.identity.offline import (
    ObservationFileError,
    hash_phone,
    parse_observation,
    read_observations,
    resolve_file,
)

EMAIL = hashlib.sha256(b"ada@example.com").hexdigest()
UK_MOBILE = hashlib.sha256(b"+447700900123").hexdigest()


def lines(*objects: dict[str, object]) -> list[str]:
    return [json.dumps(obj) for obj in objects]


def test_a_raw_phone_is_normalised_to_e164_with_the_default_region_and_hashed() -> None:
    for raw in ("07700 900123", "+44 7700 900123", "(07700) 900-123", "0044 7700 900123"):
        assert hash_phone(raw, "GB") == UK_MOBILE
    assert hash_phone("7700 900123", "US") != UK_MOBILE


def test_an_observation_is_parsed_into_typed_identifiers_and_signals() -> None:
    obs = parse_observation(
        {
            "obs_id": "r1",
            "ts": "2026-03-01T10:00:00Z",
            "source": "crm",
            "anonymous_id": "c-1",
            "user_id": 42,
            "email_sha256": EMAIL.upper(),
            "phone": "07700 900123",
            "crm_id": "CRM-9",
            "ip": "81.2.69.160",
            "ua": "Mozilla/5.0",
            "first_name": "Ada",
            "postcode": "SW1A 1AA",
            "order_id": "o-7",
            "value": 12.5,
        },
        1,
        "GB",
    )
    assert obs is not None
    assert obs.identifiers == (
        "user:42",
        "crm:CRM-9",
        "anon:c-1",
        f"email:{EMAIL}",
        f"phone:{UK_MOBILE}",
    )
    assert obs.obs_id == "r1" and obs.source == "crm" and obs.user_agent == "Mozilla/5.0"
    assert obs.ts is not None and obs.ts.utcoffset() is not None
    assert obs.phone_sha256 == UK_MOBILE and obs.first_name == "Ada"


def test_address_fields_and_a_national_id_are_read_as_signals_not_ignored() -> None:
    problems = ProblemTally("line")
    obs = parse_observation(
        {
            "crm_id": "rec-1",
            "street_number": "7",
            "address_1": "wallaby place",
            "address_2": "delmar",
            "state": "sa",
            "national_id": "1804974",
        },
        1,
        "GB",
        problems,
    )

    assert obs is not None
    assert (obs.street_number, obs.address_1, obs.address_2, obs.state, obs.national_id) == (
        "7",
        "wallaby place",
        "delmar",
        "sa",
        "1804974",
    )
    assert obs.identifiers == ("crm:rec-1",), "a national id is a signal, not an identifier"
    assert not problems.summary(), "no field was ignored"


def test_absent_and_empty_fields_are_simply_absent() -> None:
    obs = parse_observation({"anonymous_id": "c-1", "user_id": "", "phone": None}, 3, "GB")
    assert obs is not None
    assert obs.identifiers == ("anon:c-1",)
    assert obs.obs_id == "line-3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('{"email_sha256": "abc"}', "line 2: email_sha256: not 64 hexadecimal digits"),
        ('{"email": "ada"}', "line 2: email 'ada': email address must contain exactly one '@'"),
        ('{"phone": "call me"}', "line 2: phone 'call me' is not a phone number"),
        ('{"ts": "yesterday", "anonymous_id": "a"}', "line 2: ts 'yesterday' is not ISO 8601"),
        ('{"user_id": {"id": 1}}', "line 2: user_id must be a string, not an object"),
        ("[1, 2]", "line 2: expected a JSON object, not an array"),
    ],
)
def test_a_bad_line_is_reported_with_its_number(text: str, message: str) -> None:
    with pytest.raises(ObservationFileError, match=message.replace("(", r"\(")):
        list(resolve_file(['{"anonymous_id": "ok"}', text], "deterministic"))


def test_the_output_is_one_line_per_identifier_with_its_person() -> None:
    file = lines(
        {"anonymous_id": "laptop", "user_id": "u1"},
        {"anonymous_id": "phone", "email_sha256": EMAIL},
        {"anonymous_id": "phone", "user_id": "u1"},
        {},
        {"anonymous_id": "tablet", "user_id": "undefined"},
    )
    mapping = list(resolve_file([*file, "   "], "deterministic"))
    assert all(set(row) == {"identifier", "person"} for row in mapping)
    assert [row["identifier"] for row in mapping] == [
        "user:u1",
        "anon:laptop",
        "anon:phone",
        f"email:{EMAIL}",
        "anon:tablet",
    ]
    persons = {row["identifier"]: row["person"] for row in mapping}
    assert len({persons[i] for i in ("anon:laptop", "user:u1", "anon:phone")}) == 1
    assert persons["anon:tablet"] != persons["anon:laptop"]


def test_naive_mode_joins_through_placeholder_ids_and_deterministic_does_not() -> None:
    file = lines(
        {"anonymous_id": "a", "user_id": "undefined"},
        {"anonymous_id": "b", "user_id": "undefined"},
    )
    naive = {r["identifier"]: r["person"] for r in resolve_file(file, "naive")}
    guarded = {r["identifier"]: r["person"] for r in resolve_file(file, "deterministic")}
    assert naive["anon:a"] == naive["anon:b"] == naive["user:undefined"]
    assert guarded["anon:a"] != guarded["anon:b"] and "user:undefined" not in guarded


def test_probabilistic_mode_needs_a_linker_and_uses_its_links() -> None:
    file = lines(
        {"crm_id": "1", "first_name": "Ada", "postcode": "N1 1AA"},
        {"crm_id": "2", "first_name": "Adda", "postcode": "N1 1AA"},
        {"crm_id": "3", "user_id": "ada", "first_name": "Ada"},
    )
    with pytest.raises(ValueError, match="probabilistic_linker"):
        list(resolve_file(file, "probabilistic"))

    def linker(records: Sequence[ObservationRecord]) -> list[tuple[str, str, float]]:
        assert [r.first_name for r in records] == ["Ada", "Adda", "Ada"]
        return [("crm:1", "crm:2", 12.0), ("crm:2", "user:ada", 10.0)]

    deterministic = {r["identifier"]: r["person"] for r in resolve_file(file, "deterministic")}
    linked = {
        r["identifier"]: r["person"] for r in resolve_file(file, "probabilistic", "GB", linker)
    }
    assert deterministic["crm:1"] != deterministic["crm:2"]
    # a link between two CRM records says they are duplicates: they count as one record
    assert linked["crm:1"] == linked["crm:2"]
    # but joining them to a person with a CRM record of its own would break crm's limit
    assert linked["crm:2"] != linked["user:ada"]


def test_probabilistic_mode_joins_records_that_no_limit_keeps_apart() -> None:
    file = lines({"anonymous_id": "cookie", "ip": "1.2.3.4"}, {"crm_id": "7", "first_name": "A"})
    linked = {
        r["identifier"]: r["person"]
        for r in resolve_file(
            file, "probabilistic", "GB", lambda _: [("anon:cookie", "crm:7", 8.0)]
        )
    }
    assert linked["anon:cookie"] == linked["crm:7"]


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        list(resolve_file([], "fuzzy"))  # type: ignore[arg-type]


def test_a_bad_timestamp_or_signal_is_dropped_and_the_observation_kept() -> None:
    problems = ProblemTally("line")
    (record,) = read_observations(
        lines({"anonymous_id": "a", "ts": "yesterday", "first_name": ["Ada"], "ip": "1.2.3.4"}),
        problems=problems,
    )

    assert record.identifiers == ("anon:a",) and record.ts is None
    assert record.first_name == "" and record.ip == "1.2.3.4"
    assert problems.summary() == [
        "dropped 1 ts value: not ISO 8601 (line 1)",
        "dropped 1 first_name value: not a string (line 1)",
    ]
    assert problems.dropped_values == 2 and problems.skipped_lines == 0


def test_a_raw_value_and_its_hash_on_one_line_give_one_identifier() -> None:
    obs = parse_observation(
        {
            "email": " ADA@example.com",
            "email_sha256": EMAIL,
            "phone": "07700 900123",
            "phone_sha256": UK_MOBILE,
        },
        1,
        "GB",
    )

    assert obs is not None
    assert obs.identifiers == (f"email:{EMAIL}", f"phone:{UK_MOBILE}")
    assert obs.phone_sha256 == UK_MOBILE
