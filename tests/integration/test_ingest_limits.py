"""Ingest over gRPC, on SQLite and PostgreSQL: events whose every identifier is a placeholder,
and values too large for the reporting currency, are rejected on their field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from common.server import RunningService
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.server import IngestSettings, start
from tests.conftest import Storage
from tests.integration.helpers_ingest import (
    conversion,
    envelope,
    identify,
    logged_event_ids,
    money_of,
    page_view,
    read_log,
    touchpoint,
    track,
)

ACCEPTED = ingest_pb2.VERDICT_ACCEPTED
REJECTED = ingest_pb2.VERDICT_REJECTED
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

Stub = ingest_pb2_grpc.IngestServiceStub


def serve(storage: Storage, **settings: object) -> Iterator[Stub]:
    service: RunningService = start(
        IngestSettings(
            listen="127.0.0.1:0",
            database_url=storage.database_url,
            data_dir=storage.data_dir,
            **settings,  # type: ignore[arg-type]
        )
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield ingest_pb2_grpc.IngestServiceStub(channel)
    finally:
        service.stop(0)


@pytest.fixture
def stub(storage: Storage) -> Iterator[Stub]:
    """An ingest server reporting in USD with the bundled rates."""
    yield from serve(storage)


def violations(verdict: ingest_pb2.EventVerdict) -> list[tuple[str, str]]:
    return [(v.field, v.description) for v in verdict.violations]


@pytest.mark.parametrize(
    ("identity", "fields"),
    [
        pytest.param(ingest_pb2.Identity(user_id="null"), ["identity.user_id"], id="null"),
        pytest.param(
            ingest_pb2.Identity(anonymous_id="undefined", user_id="NaN"),
            ["identity.anonymous_id", "identity.user_id"],
            id="undefined_and_nan",
        ),
        pytest.param(ingest_pb2.Identity(anonymous_id=" 0 "), ["identity.anonymous_id"], id="0"),
        pytest.param(
            ingest_pb2.Identity(anonymous_id="00000000-0000-0000-0000-000000000000"),
            ["identity.anonymous_id"],
            id="all_zero_uuid",
        ),
        pytest.param(
            ingest_pb2.Identity(email_sha256=EMPTY_SHA256),
            ["identity.email_sha256"],
            id="hash_of_nothing",
        ),
    ],
)
def test_a_conversion_whose_every_identifier_is_a_placeholder_is_rejected_on_those_fields(
    stub: Stub, identity: ingest_pb2.Identity, fields: list[str]
) -> None:
    response = track(stub, [page_view("good"), conversion("bad", identity=identity)])

    good, bad = response.verdicts
    assert (good.verdict, bad.verdict) == (ACCEPTED, REJECTED)
    assert [field for field, _ in violations(bad)] == fields
    assert all("is a placeholder" in reason for _, reason in violations(bad))
    assert "at least one real identifier" in violations(bad)[0][1]
    assert logged_event_ids(stub) == ["good"]


def test_the_reason_names_the_placeholder_sent(stub: Stub) -> None:
    response = track(stub, [conversion("bad", identity=ingest_pb2.Identity(user_id="null"))])

    [(field, reason)] = violations(response.verdicts[0])
    assert field == "identity.user_id"
    assert reason.startswith('"null" is a placeholder')


def test_touchpoints_page_views_and_identify_calls_need_a_real_identifier_too(
    stub: Stub,
) -> None:
    nobody = ingest_pb2.Identity(anonymous_id="undefined", user_id="null")
    click = touchpoint("click")
    click.identity.CopyFrom(nobody)
    response = track(stub, [click, page_view("view", identity=nobody), identify("login", nobody)])

    assert [v.verdict for v in response.verdicts] == [REJECTED] * 3
    for verdict in response.verdicts:
        assert {field for field, _ in violations(verdict)} >= {
            "identity.anonymous_id",
            "identity.user_id",
        }
    assert logged_event_ids(stub) == []


def test_a_placeholder_beside_a_real_identifier_is_accepted_and_dropped(stub: Stub) -> None:
    response = track(
        stub, [conversion("ok", identity=ingest_pb2.Identity(anonymous_id="c-1", user_id="null"))]
    )

    assert response.verdicts[0].verdict == ACCEPTED
    [entry] = read_log(stub)
    assert len(envelope(entry).identifiers) == 1


@pytest.fixture
def rupiah_stub(storage: Storage) -> Iterator[Stub]:
    """An ingest server reporting in Indonesian rupiah (about 15,500 per US dollar)."""
    yield from serve(storage, reporting_currency="IDR")


def test_a_value_too_large_in_the_reporting_currency_is_rejected_on_the_value(
    rupiah_stub: Stub,
) -> None:
    # 999,999,999,999 USD is within the limit as sent, and about 1.5 * 10^16 IDR.
    largest = money_of("USD", 999_999_999_999)
    fits = money_of("USD", 500_000_000)
    response = track(
        rupiah_stub, [conversion("huge", value=largest), conversion("fits", value=fits)]
    )

    huge, ok = response.verdicts
    assert ok.verdict == ACCEPTED
    assert huge.verdict == REJECTED
    [(field, reason)] = violations(huge)
    assert field == "conversion.value"
    assert "once converted to IDR" in reason
    assert "9,223,372,036,854.775807 IDR" in reason
    assert logged_event_ids(rupiah_stub) == ["fits"]


@pytest.fixture
def extreme_rate_stub(storage: Storage, tmp_path: Path) -> Iterator[Stub]:
    """An ingest server reporting in KRW with a rates file that makes KRW worth almost
    nothing (10^12 per euro): a large euro value is beyond the range of Money in KRW."""
    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps({"base": "EUR", "rates": {"KRW": "1000000000000"}}))
    yield from serve(storage, reporting_currency="KRW", fx_rates_file=str(rates))


def test_a_value_beyond_money_in_the_reporting_currency_rejects_only_its_event(
    extreme_rate_stub: Stub,
) -> None:
    response = track(
        extreme_rate_stub,
        [
            page_view("before"),
            conversion("huge", value=money_of("EUR", 10**11)),
            page_view("after"),
        ],
    )

    before, huge, after = response.verdicts
    assert (before.verdict, huge.verdict, after.verdict) == (ACCEPTED, REJECTED, ACCEPTED)
    [(field, reason)] = violations(huge)
    assert field == "conversion.value"
    assert "once converted to KRW" in reason
    assert logged_event_ids(extreme_rate_stub) == ["before", "after"]
