"""Ingest's outcome events (CRM stages, value changes, refunds, retractions): checked field by
field, kept without identifiers, and pointing at their conversion by name and order id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.money import ExchangeRates, Money
from services.ingest.domainmodel import (
    ConversionOutcome,
    EventKind,
    IncomingOutcome,
    conversion_record_id,
)
from services.ingest.domainmodel import (
    IncomingEvent as Event,
)
from services.ingest.enrichment import UserAgentParser
from services.ingest.normalise import Limits, Normaliser, Violation
from services.ingest.url_privacy import UrlScrubber

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def normaliser() -> Normaliser:
    return Normaliser(
        limits=Limits(),
        rates=ExchangeRates.reference(),
        reporting_currency="EUR",
        user_agents=UserAgentParser(),
        urls=UrlScrubber(),
    )


def outcome(event_id: str = "o-1", **fields: object) -> Event:
    return Event(
        kind=EventKind.OUTCOME,
        property_id="crm",
        event_id=event_id,
        timestamp=NOW - timedelta(hours=1),
        outcome=IncomingOutcome(**{"conversion_name": "deal", "order_id": "D-1", **fields}),  # type: ignore[arg-type]
    )


def checked(normaliser: Normaliser, event: Event) -> ConversionOutcome | list[Violation]:
    valid = normaliser.validate(event, NOW, timedelta(0))
    if isinstance(valid, list):
        return valid
    fact = normaliser.fact(valid, NOW, {})
    assert isinstance(fact, ConversionOutcome)
    return fact


def fields_of(result: object) -> list[str]:
    assert isinstance(result, list), result
    return [v.field for v in result]


def test_a_stage_needs_no_identifier_and_points_at_the_conversion_of_its_order(
    normaliser: Normaliser,
) -> None:
    fact = checked(normaliser, outcome(stage="qualified"))
    assert isinstance(fact, ConversionOutcome)
    assert fact.conversion_id == str(conversion_record_id("crm", "any", "deal", "D-1"))
    assert (fact.stage, fact.retracted, fact.currency_code) == ("qualified", False, "")
    assert fact.identifiers == [] and fact.sealed_identifiers == {}


def test_identifiers_sent_with_an_outcome_are_not_kept(normaliser: Normaliser) -> None:
    event = outcome(stage="won")
    valid = normaliser.validate(
        Event(**{**{f: getattr(event, f) for f in event.__slots__}, "user_id": "u-1"}),  # type: ignore[arg-type]
        NOW,
        timedelta(0),
    )
    assert not isinstance(valid, list)
    assert valid.identifier_keys == ()


def test_a_new_value_is_converted_to_the_reporting_currency(normaliser: Normaliser) -> None:
    fact = checked(normaliser, outcome(stage="won", value=Money("EUR", 5000, 0)))
    assert isinstance(fact, ConversionOutcome)
    assert (fact.currency_code, fact.value_micros) == ("EUR", 5_000_000_000)
    assert (fact.reporting_currency_code, fact.reporting_value_micros) == ("EUR", 5_000_000_000)
    assert fact.refund_currency_code == ""


def test_a_refund_is_kept_as_sent_and_converted(normaliser: Normaliser) -> None:
    fact = checked(normaliser, outcome(refund=Money("EUR", 20, 500_000_000)))
    assert isinstance(fact, ConversionOutcome)
    assert (fact.refund_currency_code, fact.refund_micros) == ("EUR", 20_500_000)
    assert fact.reporting_refund_micros == 20_500_000
    assert fact.currency_code == ""


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"conversion_name": ""}, ["outcome.conversion_name"]),
        ({"conversion_name": "Deal Won", "stage": "won"}, ["outcome.conversion_name"]),
        ({"order_id": " ", "stage": "won"}, ["outcome.order_id"]),
        ({"stage": "Closed Won"}, ["outcome.stage"]),
        ({}, ["outcome"]),
        (
            {"value": Money("EUR", 10, 0), "refund": Money("EUR", 1, 0)},
            ["outcome.refund"],
        ),
        ({"retracted": True, "refund": Money("EUR", 1, 0)}, ["outcome.retracted"]),
        ({"value": Money("EUR", -1, 0)}, ["outcome.value"]),
        ({"refund": Money("XXY", 1, 0)}, ["outcome.refund.currency_code"]),
        ({"value": Money("EUR", 1, 2_000_000_000)}, ["outcome.value.nanos"]),
    ],
)
def test_an_invalid_outcome_is_rejected_on_its_fields(
    normaliser: Normaliser, fields: dict[str, object], expected: list[str]
) -> None:
    if "conversion_name" in fields and not fields["conversion_name"]:
        fields = {**fields, "stage": "won"}
    assert fields_of(checked(normaliser, outcome(**fields))) == expected


def test_a_retraction_alone_is_valid(normaliser: Normaliser) -> None:
    fact = checked(normaliser, outcome(retracted=True))
    assert isinstance(fact, ConversionOutcome)
    assert fact.retracted


def test_an_outcome_is_keyed_by_its_event_id_not_by_its_order(normaliser: Normaliser) -> None:
    first = normaliser.validate(outcome("o-1", stage="lead"), NOW, timedelta(0))
    second = normaliser.validate(outcome("o-2", stage="won"), NOW, timedelta(0))
    again = normaliser.validate(outcome("o-1", stage="lead"), NOW, timedelta(0))
    assert not isinstance(first, list) and not isinstance(second, list)
    assert not isinstance(again, list)
    assert first.record_id != second.record_id
    assert first.record_id == again.record_id
