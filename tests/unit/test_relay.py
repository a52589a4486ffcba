"""The webhook relay's parts: signatures a receiver can verify, backoff, its state file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.settings import SettingsError
from services.commands.relay import Backoff, StateFile, signature, verify_signature

SECRET = b"whsec-unit"
BODY = b'{"id":"c:1"}'
NOW = 1_800_000_000


def test_a_signature_verifies_with_its_secret_only_and_only_for_its_body() -> None:
    header = signature(SECRET, BODY, NOW)
    assert header.startswith(f"t={NOW},v1=")
    assert verify_signature(SECRET, header, BODY, now=NOW)
    assert not verify_signature(b"other", header, BODY, now=NOW)
    assert not verify_signature(SECRET, header, BODY + b" ", now=NOW)


def test_an_old_signature_is_refused_as_a_possible_replay() -> None:
    header = signature(SECRET, BODY, NOW)
    assert verify_signature(SECRET, header, BODY, now=NOW + 299)
    assert not verify_signature(SECRET, header, BODY, now=NOW + 301)


def test_any_of_several_signatures_may_match_while_a_secret_is_rotated() -> None:
    new = signature(SECRET, BODY, NOW)
    old = signature(b"old secret", BODY, NOW).partition(",")[2]
    assert verify_signature(SECRET, f"{new},{old}", BODY, now=NOW)
    assert verify_signature(b"old secret", f"{new},{old}", BODY, now=NOW)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=x,v1=abc", f"t={NOW}", f"t={NOW},t=1,v1=a"])
def test_malformed_signature_headers_do_not_verify(header: str) -> None:
    assert not verify_signature(SECRET, header, BODY, now=NOW)


def test_backoff_doubles_with_jitter_up_to_its_maximum_and_honours_retry_after() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        delays = [backoff.delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), attempt
    assert backoff.delay(1, retry_after=3.0) == 3.0
    assert backoff.delay(1, retry_after=600.0) == 8.0


def test_the_state_file_keeps_a_position_per_property(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state.json"
    state = StateFile(path, "shop")
    assert state.read() is None
    state.write(42)
    assert StateFile(path, "shop").read() == 42
    assert json.loads(path.read_text())["property_id"] == "shop"
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temporary left
    with pytest.raises(SettingsError, match="belongs to property 'shop'"):
        StateFile(path, "rival").read()
    path.write_text("{not json")
    with pytest.raises(SettingsError, match="cannot read"):
        state.read()


def test_a_retraction_is_posted_with_its_own_type_key_and_body() -> None:
    from convtrack.attribution.v1 import attribution_pb2
    from services.commands.relay import idempotency_key, payload

    message = attribution_pb2.WatchConversionsResponse(
        position=42,
        kind=attribution_pb2.WATCH_EVENT_KIND_RETRACTED,
        retraction=attribution_pb2.ConversionRetracted(
            property_id="shop", conversion_id="c-1", conversion_name="deal"
        ),
    )
    body = payload(message)
    assert body["type"] == "conversion.retracted"
    assert body["id"] == idempotency_key(message) == "c-1:retracted"
    assert body["property_id"] == "shop"
    assert body["retraction"]["conversion_name"] == "deal" and "attribution" not in body
    json.dumps(body)
