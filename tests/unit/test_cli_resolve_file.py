"""`convtrack identity resolve-file`: the offline resolver from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def test_a_malformed_line_is_reported_with_its_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"obs_id": "1", "anonymous_id": "a"}\nnot json\n')
    assert main(["identity", "resolve-file", str(path)]) == 1
    assert "line 2" in capsys.readouterr().err
