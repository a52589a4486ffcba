"""`convtrack identity resolve-file`: the offline resolver from the command line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from common.identifiers import hash_email
from services.cli import main

OBSERVATIONS = [
    {"obs_id": "1", "anonymous_id": "laptop", "user_id": "u1"},
    {"obs_id": "2", "anonymous_id": "phone", "user_id": "u1"},
    {"obs_id": "3", "anonymous_id": "undefined", "user_id": "u2"},
    {"obs_id": "4", "anonymous_id": "kiosk", "user_id": "u3"},
]


def resolve(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, str]:
    path = tmp_path / "observations.jsonl"
    path.write_text("\n".join(json.dumps(o) for o in OBSERVATIONS) + "\n")
    assert main(["identity", "resolve-file", str(path), *args]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return {line["identifier"]: line["person"] for line in lines}


def test_devices_sharing_a_user_id_resolve_to_one_person(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = resolve(tmp_path, capsys)
    assert mapping["anon:laptop"] == mapping["anon:phone"] == mapping["user:u1"]
    assert mapping["user:u3"] != mapping["user:u1"]


def test_blocked_values_are_left_out_except_in_naive_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "anon:undefined" not in resolve(tmp_path, capsys, "--mode", "deterministic")
    assert "anon:undefined" in resolve(tmp_path, capsys, "--mode", "naive")


def test_a_malformed_line_is_skipped_or_with_strict_reported_with_its_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"obs_id": "1", "anonymous_id": "a"}\nnot json\n')
    assert main(["identity", "resolve-file", str(path)]) == 0
    assert "skipped 1 line: not valid JSON (line 2)" in capsys.readouterr().err
    assert main(["identity", "resolve-file", str(path), "--strict"]) == 1
    assert "line 2: not valid JSON" in capsys.readouterr().err


def run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes, *args: str
) -> tuple[int, dict[str, str], str]:
    path = tmp_path / "crm.jsonl"
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    code = main(["identity", "resolve-file", str(path), *args])
    captured = capsys.readouterr()
    mapping = {}
    for line in captured.out.splitlines():
        row = json.loads(line)
        mapping[row["identifier"]] = row["person"]
    return code, mapping, captured.err


def jsonl(*objects: object) -> str:
    return "".join(json.dumps(o) + "\n" for o in objects)


US_MOBILE = hashlib.sha256(b"+12025550143").hexdigest()
CRM_EXPORT = (
    jsonl(
        {"crm_id": "1", "phone": "(202) 555-0143", "anonymous_id": "a1"},
        {"crm_id": "2", "phone": "12345", "anonymous_id": "a2"},  # not possible in the US
        {"phone": "+1 555"},  # nothing else on the line
        {"crm_id": "3", "user_id": {"id": 3}, "phone_sha256": "abc"},
        {"user_id": "u4", "phone": "202 555 0143"},
    )
    + "not json\n"
)


def test_unusable_values_are_dropped_and_counted_and_the_rest_of_the_line_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, mapping, err = run(tmp_path, capsys, CRM_EXPORT, "--default-region", "US")

    assert code == 0
    # line 2 keeps its CRM id and cookie without the impossible phone
    assert mapping["crm:2"] == mapping["anon:a2"] != mapping["crm:1"]
    # line 4 keeps its CRM id without the object user id and the short hash
    assert "crm:3" in mapping
    # lines 1 and 5 share a phone, written two ways: one person
    assert mapping["crm:1"] == mapping[f"phone:{US_MOBILE}"] == mapping["user:u4"]
    assert set(mapping) == {
        "crm:1",
        "crm:2",
        "crm:3",
        "user:u4",
        "anon:a1",
        "anon:a2",
        f"phone:{US_MOBILE}",
    }
    assert err.splitlines() == [
        "convtrack identity resolve-file: dropped 2 phone values: "
        "not a possible number in region US (first on line 2)",
        "convtrack identity resolve-file: skipped 1 line: no usable identifier left (line 3)",
        "convtrack identity resolve-file: dropped 1 user_id value: not a string (line 4)",
        "convtrack identity resolve-file: dropped 1 phone_sha256 value: "
        "not 64 hexadecimal digits (SHA-256) (line 4)",
        "convtrack identity resolve-file: skipped 1 line: not valid JSON (line 6)",
    ]


def test_strict_stops_at_the_first_unusable_value_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, mapping, err = run(tmp_path, capsys, CRM_EXPORT, "--default-region", "US", "--strict")

    assert code == 1
    assert mapping == {}
    assert err.strip() == (
        "convtrack identity resolve-file: line 2: "
        "phone '12345' is not a possible number in region US"
    )


def test_a_raw_email_is_normalised_and_hashed_as_ingest_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hashed = hash_email("ada@example.com")
    code, mapping, err = run(
        tmp_path,
        capsys,
        jsonl(
            {"crm_id": "1", "email": "  Ada@Example.COM "},
            {"anonymous_id": "laptop", "email_sha256": hashed},
            {"crm_id": "2", "email": "ada@@example.com"},
        ),
    )

    assert code == 0
    assert hashed == hashlib.sha256(b"ada@example.com").hexdigest()
    assert mapping["crm:1"] == mapping[f"email:{hashed}"] == mapping["anon:laptop"]
    assert "crm:2" in mapping
    assert "ada" not in json.dumps(sorted(mapping))
    assert err.splitlines() == [
        "convtrack identity resolve-file: dropped 1 email value: not a valid email address (line 3)"
    ]
    code, _, err = run(
        tmp_path, capsys, jsonl({"crm_id": "2", "email": "ada@@example.com"}), "--strict"
    )
    assert code == 1
    assert "line 1: email 'ada@@example.com': email address must contain exactly one '@'" in err


def test_fields_the_resolver_does_not_use_are_named_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, mapping, err = run(
        tmp_path, capsys, jsonl({"crm_id": "1", "emial": "a@b.c", "order_id": "o-1"})
    )

    assert code == 0 and set(mapping) == {"crm:1"}
    assert err.splitlines() == [
        "convtrack identity resolve-file: ignored fields it does not use: emial, order_id"
    ]


def test_a_line_that_is_not_utf8_is_skipped_and_a_byte_order_mark_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = (
        b"\xef\xbb\xbf"
        + jsonl({"crm_id": "1"}).encode()
        + b'{"crm_id": "2", "last_name": "M\xfcller"}\n'
        + jsonl({"crm_id": "3"}).encode()
    )
    code, mapping, err = run(tmp_path, capsys, content)

    assert code == 0 and set(mapping) == {"crm:1", "crm:3"}
    assert "skipped 1 line: not UTF-8 text (line 2)" in err


def test_a_file_with_no_usable_line_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, mapping, err = run(tmp_path, capsys, "not json\n[1]\n")

    assert code == 1 and mapping == {}
    assert "skipped 1 line: not valid JSON (line 1)" in err
    assert "skipped 1 line: not a JSON object (line 2)" in err
    assert "no usable line in" in err


def test_an_unknown_default_region_is_refused_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(tmp_path, capsys, CRM_EXPORT, "--default-region", "XX")

    assert code == 1
    assert "default region 'XX' is not a region" in err
