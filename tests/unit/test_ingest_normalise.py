"""Ingest's normaliser: events whose every identifier is a placeholder, and conversion values
that do not fit the reporting currency, are rejected on their field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from common.identifiers import hash_email
from common.money import ExchangeRates, Money
from services.ingest.domainmodel import (
    Conversion,
    EventKind,
    IncomingConversion,
    IncomingEvent,
)
from services.ingest.enrichment import UserAgentParser
from services.ingest.normalise import Limits, Normaliser, Violation
from services.ingest.url_privacy import UrlScrubber
from services.ingest.vault import Sealed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.fixture(scope="module")
def user_agents() -> UserAgentParser:
    return UserAgentParser()


def normaliser(
    user_agents: UserAgentParser,
    reporting_currency: str = "USD",
    rates: ExchangeRates | None = None,
) -> Normaliser:
    return Normaliser(
        limits=Limits(),
        rates=rates or ExchangeRates.reference(),
        reporting_currency=reporting_currency,
        user_agents=user_agents,
        urls=UrlScrubber(),
    )


def purchase(value: Money | None = None, **identity: str) -> IncomingEvent:
    return IncomingEvent(
        kind=EventKind.CONVERSION,
        property_id="shop",
        event_id="evt-1",
        timestamp=NOW - timedelta(minutes=5),
        conversion=IncomingConversion(name="purchase", value=value),
        **identity,
    )


def normalised(normaliser: Normaliser, event: IncomingEvent) -> Conversion | list[Violation]:
    valid = normaliser.validate(event, NOW, timedelta(0))
    if isinstance(valid, list):
        return valid
    sealed = {key: Sealed(f"pseudonym-{key}", "token") for key in valid.identifier_keys}
    result = normaliser.fact(valid, NOW, sealed)
    assert isinstance(result, Conversion)
    return result


@pytest.mark.parametrize(
    ("identity", "fields"),
    [
        ({"anonymous_id": "undefined"}, ["identity.anonymous_id"]),
        ({"user_id": "NULL"}, ["identity.user_id"]),
        ({"anonymous_id": "NaN", "user_id": "0"}, ["identity.anonymous_id", "identity.user_id"]),
        ({"anonymous_id": "{00000000-0000-0000-0000-000000000000}"}, ["identity.anonymous_id"]),
        ({"email_sha256": EMPTY_SHA256.upper()}, ["identity.email_sha256"]),
    ],
)
def test_an_event_whose_every_identifier_is_a_placeholder_is_rejected_on_each(
    user_agents: UserAgentParser, identity: dict[str, str], fields: list[str]
) -> None:
    result = normalised(normaliser(user_agents), purchase(**identity))

    assert isinstance(result, list)
    assert [v.field for v in result] == fields
    for violation in result:
        assert '" is a placeholder (' in violation.description
        assert "at least one real identifier is required" in violation.description


def test_the_reason_quotes_the_placeholder_as_sent(user_agents: UserAgentParser) -> None:
    [violation] = normalised(normaliser(user_agents), purchase(user_id=" Undefined "))

    assert violation == Violation(
        "identity.user_id",
        '"Undefined" is a placeholder (blocked value), and the event has no other identifier: '
        "at least one real identifier is required",
    )


def test_a_placeholder_beside_a_real_identifier_is_dropped_not_rejected(
    user_agents: UserAgentParser,
) -> None:
    result = normalised(normaliser(user_agents), purchase(anonymous_id="c-1", user_id="null"))

    assert isinstance(result, Conversion)
    assert result.identifiers == ["pseudonym-anon:c-1"]


def test_an_event_without_identifiers_still_says_one_is_required(
    user_agents: UserAgentParser,
) -> None:
    result = normalised(normaliser(user_agents), purchase(anonymous_id="  "))

    assert result == [
        Violation(
            "identity", "at least one of anonymous_id, user_id, email, email_sha256 is required"
        )
    ]


def test_a_value_past_the_stored_limit_in_the_reporting_currency_is_rejected(
    user_agents: UserAgentParser,
) -> None:
    rupiah = normaliser(user_agents, reporting_currency="IDR")

    result = normalised(rupiah, purchase(Money("GBP", 999_999_999_999, 0), anonymous_id="c-1"))

    assert result == [
        Violation(
            "conversion.value",
            "is more than 9,223,372,036,854.775807 IDR once converted to IDR, the reporting "
            "currency (the largest value stored)",
        )
    ]


def test_a_value_beyond_money_in_the_reporting_currency_is_rejected_not_raised(
    user_agents: UserAgentParser,
) -> None:
    worthless = ExchangeRates({"KRW": Decimal(10**12)})
    won = normaliser(user_agents, reporting_currency="KRW", rates=worthless)

    result = normalised(won, purchase(Money("EUR", 10**11, 0), anonymous_id="c-1"))

    assert isinstance(result, list)
    assert [v.field for v in result] == ["conversion.value"]


def test_a_value_just_inside_the_stored_limit_is_kept_to_the_micro(
    user_agents: UserAgentParser,
) -> None:
    # 999,999,999,999.999999 USD reported in USD: 10^18 - 1 micros.
    result = normalised(
        normaliser(user_agents), purchase(Money("USD", 999_999_999_999, 999_999_000), user_id="u")
    )

    assert isinstance(result, Conversion)
    assert result.reporting_value_micros == 10**18 - 1


def test_a_value_seen_before_gets_the_same_verdict_from_the_normalisers_memory(
    user_agents: UserAgentParser,
) -> None:
    checker = normaliser(user_agents)
    # The same invalid email twice: each event is rejected with the same reason.
    first = normalised(checker, purchase(email="not-an-address@@example.com"))
    second = normalised(checker, purchase(email="not-an-address@@example.com"))
    assert isinstance(first, list) and isinstance(second, list)
    assert [v.field for v in first] == [v.field for v in second] == ["identity.email"]
    assert first[0].description == second[0].description

    # The same valid email twice (as sent, with a gmail dot): the same identifier each time.
    kept = [
        checker.validate(purchase(email="Jane.Doe@gmail.com"), NOW, timedelta(0)) for _ in range(2)
    ]
    assert not isinstance(kept[0], list) and not isinstance(kept[1], list)
    assert kept[0].identifier_keys == kept[1].identifier_keys
    assert kept[0].identifier_keys == (f"email:{hash_email('janedoe@gmail.com')}",)
