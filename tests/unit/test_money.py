"""Unit tests for common.money: Money values, currencies, exchange rates and splitting."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.money import (
    ISO_4217_MINOR_UNITS,
    PEGS,
    ExchangeRates,
    Money,
    MoneyError,
    UnknownCurrencyError,
    UnknownRateError,
    is_known_currency,
    minor_units,
    split_micros,
)

INT64_MAX = 2**63 - 1
amounts = st.decimals(
    min_value=Decimal("-9223372036854775807.999999999"),
    max_value=Decimal("9223372036854775807.999999999"),
    places=9,
    allow_nan=False,
    allow_infinity=False,
)


def test_from_decimal_splits_units_and_nanos() -> None:
    assert Money.from_decimal("USD", Decimal("12.34")) == Money("USD", 12, 340_000_000)


def test_negative_amount_has_negative_units_and_nanos() -> None:
    assert Money.from_decimal("EUR", Decimal("-1.5")) == Money("EUR", -1, -500_000_000)
    assert Money.from_decimal("EUR", Decimal("-0.25")) == Money("EUR", 0, -250_000_000)


def test_from_decimal_rounds_beyond_nanos_half_even() -> None:
    assert Money.from_decimal("USD", Decimal("0.0000000005")).nanos == 0
    assert Money.from_decimal("USD", Decimal("0.0000000015")).nanos == 2


def test_to_decimal_is_exact() -> None:
    assert Money("GBP", 3, 50_000_000).to_decimal() == Decimal("3.05")


def test_zero_is_zero_in_the_currency() -> None:
    assert Money.zero("JPY") == Money("JPY", 0, 0)


def test_micros_round_trip_whole_micros() -> None:
    assert Money.from_micros("USD", 1_234_567).to_micros() == 1_234_567
    assert Money.from_micros("USD", -2_500_000) == Money("USD", -2, -500_000_000)


def test_to_micros_rounds_half_even() -> None:
    assert Money("USD", 0, 1_500).to_micros() == 2
    assert Money("USD", 0, 2_500).to_micros() == 2
    assert Money("USD", 0, 2_501).to_micros() == 3
    assert Money("USD", 0, -1_500).to_micros() == -2
    assert Money("USD", 0, -2_500).to_micros() == -2


def test_well_formed_money_validates_to_itself() -> None:
    money = Money("USD", -3, -5)
    assert money.validate() is money


@pytest.mark.parametrize(
    ("money", "message"),
    [
        (Money("USD", 1, 1_000_000_000), "nanos out of range"),
        (Money("USD", 1, -1), "opposite signs"),
        (Money("usd", 1, 0), "three upper-case letters"),
        (Money("", 0, 0), "three upper-case letters"),
        (Money("USD", INT64_MAX + 1, 0), "int64"),
    ],
)
def test_malformed_money_fails_validation(money: Money, message: str) -> None:
    with pytest.raises(MoneyError, match=message):
        money.validate()


def test_amount_beyond_int64_units_is_rejected() -> None:
    with pytest.raises(MoneyError, match="int64"):
        Money.from_decimal("USD", Decimal("1E+19"))


def test_infinite_decimal_is_rejected() -> None:
    with pytest.raises(MoneyError, match="finite"):
        Money.from_decimal("USD", Decimal("Infinity"))


def test_minor_units_follow_iso_4217() -> None:
    expected = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3, "CLF": 4}
    assert {code: minor_units(code) for code in expected} == expected


def test_currency_table_covers_active_codes_only() -> None:
    assert 150 <= len(ISO_4217_MINOR_UNITS) <= 165
    assert is_known_currency("CHF")
    assert not is_known_currency("XAU")
    assert not is_known_currency("XTS")
    assert not is_known_currency("XXX")
    assert not is_known_currency("usd")


def test_unknown_currency_has_no_minor_units() -> None:
    with pytest.raises(UnknownCurrencyError):
        minor_units("ABC")


DAY = date(2026, 10, 30)


def test_reference_rates_cover_majors_and_every_pegged_currency() -> None:
    rates = ExchangeRates.reference()
    majors = (
        "USD GBP JPY CHF SEK NOK DKK PLN CZK HUF CAD AUD NZD CNY INR BRL MXN ZAR SGD HKD KRW TRY"
    )
    for code in (*majors.split(), *PEGS):
        assert rates.has_rate(code, DAY), code
        assert is_known_currency(code), code
    assert rates.rate("EUR", DAY) == Decimal(1)
    newest = rates.newest_date
    assert newest is not None and newest >= DAY


def test_reference_rates_differ_between_two_dates() -> None:
    rates = ExchangeRates.reference()
    assert rates.rate("USD", date(2026, 10, 29)) == Decimal("1.113")
    assert rates.rate("USD", date(2026, 10, 30)) == Decimal("1.1172")


def test_reference_rate_of_a_weekend_or_holiday_is_the_previous_working_day() -> None:
    rates = ExchangeRates.reference()
    friday = rates.rate("USD", date(2026, 10, 23))
    assert rates.rate("USD", date(2026, 10, 24)) == friday
    assert rates.rate("USD", date(2026, 10, 25)) == friday
    # 1 May is a TARGET holiday: 30 April's rate.
    assert rates.rate("GBP", date(2025, 5, 1)) == rates.rate("GBP", date(2025, 4, 30))


def test_a_currency_the_ecb_stopped_quoting_has_no_rate_after_its_last_day() -> None:
    rates = ExchangeRates.reference()
    assert rates.rate("RUB", date(2022, 3, 1)) == Decimal("117.201")
    with pytest.raises(UnknownRateError, match="'RUB' on 2022-03-02"):
        rates.rate("RUB", date(2022, 3, 2))


def test_bgn_has_its_euro_conversion_rate_once_the_ecb_stopped_quoting_it() -> None:
    rates = ExchangeRates.reference()
    assert rates.rate("BGN", date(2025, 12, 31)) == Decimal("1.9558")
    assert rates.rate("BGN", date(2026, 1, 2)) == Decimal("1.95583")


def test_a_rate_before_the_first_known_day_is_unknown() -> None:
    with pytest.raises(UnknownRateError):
        ExchangeRates.reference().rate("USD", date(1998, 12, 31))


def test_a_pegged_rate_follows_its_anchor_of_the_day() -> None:
    rates = ExchangeRates.reference()
    for day in (date(2026, 10, 29), DAY):
        assert rates.rate("AED", day) == rates.rate("USD", day) * Decimal("3.6725")
    # 1000 XPF are worth 8.38 EUR.
    assert rates.convert(Money("XPF", 1000, 0), "EUR", DAY) == Money("EUR", 8, 380_000_000)
    # 1 KYD is worth 1.20 USD.
    assert rates.convert(Money("KYD", 100, 0), "USD", DAY) == Money("USD", 120, 0)


def test_a_floating_currency_the_ecb_does_not_quote_has_no_reference_rate() -> None:
    with pytest.raises(UnknownRateError) as caught:
        ExchangeRates.reference().convert(Money("CLP", 1000, 0), "USD", DAY)
    assert caught.value.code == "CLP"
    assert caught.value.on == DAY


def test_convert_from_eur_multiplies_by_the_rate() -> None:
    rates = ExchangeRates({"USD": Decimal("1.08")})
    converted = rates.convert(Money.from_decimal("EUR", Decimal("10")), "USD", DAY)
    assert converted == Money("USD", 10, 800_000_000)


def test_convert_goes_through_eur_and_rounds_half_even_to_minor_units() -> None:
    rates = ExchangeRates({"USD": Decimal("2"), "JPY": Decimal("5")})
    # 1.00 USD is 0.50 EUR which is 2.5 JPY, rounded half-even to 2 yen.
    one = Money.from_decimal("USD", Decimal("1"))
    assert rates.convert(one, "JPY", DAY) == Money("JPY", 2, 0)
    # 1.40 USD is 3.5 JPY, rounded half-even to 4 yen.
    one_forty = Money.from_decimal("USD", Decimal("1.4"))
    assert rates.convert(one_forty, "JPY", DAY) == Money("JPY", 4, 0)


def test_convert_rounds_to_three_decimals_for_kwd() -> None:
    rates = ExchangeRates({"KWD": Decimal("0.3333")})
    converted = rates.convert(Money.from_decimal("EUR", Decimal("1")), "KWD", DAY)
    assert converted.to_decimal() == Decimal("0.333")


def test_convert_to_same_currency_is_unchanged() -> None:
    money = Money("USD", 1, 234_567_891)
    assert ExchangeRates({}).convert(money, "USD", DAY) is money


def test_convert_without_rate_raises_unknown_rate_error() -> None:
    rates = ExchangeRates({"USD": Decimal("1.08")})
    with pytest.raises(UnknownRateError) as caught:
        rates.convert(Money.zero("USD"), "GBP", DAY)
    assert caught.value.code == "GBP"
    assert isinstance(caught.value, MoneyError)
    assert isinstance(caught.value, ValueError)


def test_convert_rejects_malformed_money() -> None:
    with pytest.raises(MoneyError, match="opposite signs"):
        ExchangeRates({"USD": Decimal("1.08")}).convert(Money("EUR", 1, -1), "USD", DAY)


def test_non_positive_rate_is_rejected() -> None:
    with pytest.raises(MoneyError, match="positive"):
        ExchangeRates({"USD": Decimal("0")})


def test_rates_are_read_from_a_json_file_with_one_set_of_rates(tmp_path: Path) -> None:
    path = tmp_path / "rates.json"
    path.write_text(
        json.dumps({"base": "EUR", "date": "2024-05-02", "rates": {"USD": "1.25", "GBP": 0.5}})
    )
    rates = ExchangeRates.from_file(path)
    for day in (date(2020, 1, 1), date(2024, 5, 2), DAY):
        assert rates.rate("USD", day) == Decimal("1.25")
        assert rates.rate("GBP", day) == Decimal("0.5")
    assert rates.convert(Money("USD", 5, 0), "GBP", DAY) == Money("GBP", 2, 0)
    assert rates.newest_date is None


def test_dated_rates_are_read_from_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "rates.json"
    path.write_text(
        json.dumps(
            {
                "base": "EUR",
                "rates": {
                    "2026-11-30": {"USD": "1.06"},
                    "2026-11-27": {"USD": "1.05", "CLP": "1020.5"},
                },
            }
        )
    )
    rates = ExchangeRates.from_file(path)
    assert rates.newest_date == date(2026, 11, 30)
    assert rates.rate("USD", date(2026, 11, 27)) == Decimal("1.05")
    assert rates.rate("USD", date(2026, 11, 29)) == Decimal("1.05")
    assert rates.rate("USD", date(2026, 11, 30)) == Decimal("1.06")
    assert rates.rate("CLP", date(2026, 12, 1)) == Decimal("1020.5")
    assert not rates.has_rate("USD", date(2026, 11, 26))


def test_file_rates_are_layered_over_the_reference_rates(tmp_path: Path) -> None:
    path = tmp_path / "rates.json"
    path.write_text(json.dumps({"rates": {"2026-10-30": {"USD": "2", "CLP": "1000"}}}))
    rates = ExchangeRates.from_file(path).over(ExchangeRates.reference())
    assert rates.rate("USD", DAY) == Decimal(2)
    assert rates.rate("USD", date(2026, 10, 29)) == Decimal("1.113")
    assert rates.rate("GBP", DAY) == ExchangeRates.reference().rate("GBP", DAY)
    # A peg follows its anchor's rate from the file.
    assert rates.rate("AED", DAY) == Decimal("7.345")
    assert rates.rate("CLP", DAY) == Decimal(1000)


@pytest.mark.parametrize(
    ("rates", "message"),
    [
        ({"2026-11-27": {"USD": "1.05"}, "GBP": "0.8"}, "not both"),
        ({"27/11/2026": {"USD": "1.05"}}, "YYYY-MM-DD"),
        ({"2026-02-30": {"USD": "1.05"}}, "is not a date"),
        ({"2026-11-27": {"usd": "1.05"}}, "three upper-case letters"),
        ({"2026-11-27": {"USD": "-1"}}, "positive"),
    ],
)
def test_a_malformed_rates_file_is_rejected_saying_why(
    tmp_path: Path, rates: dict[str, object], message: str
) -> None:
    path = tmp_path / "rates.json"
    path.write_text(json.dumps({"base": "EUR", "rates": rates}))
    with pytest.raises(MoneyError, match=message) as caught:
        ExchangeRates.from_file(path)
    assert str(path) in str(caught.value)


def test_rates_file_with_another_base_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "rates.json"
    path.write_text(json.dumps({"base": "USD", "date": "2024-05-02", "rates": {"EUR": "0.9"}}))
    with pytest.raises(MoneyError, match="base must be 'EUR'"):
        ExchangeRates.from_file(path)


def test_split_sums_to_total() -> None:
    assert split_micros(100, [1, 1, 1]) == [34, 33, 33]


def test_split_gives_extra_units_to_largest_remainders() -> None:
    # Exact shares 3.5, 1.75, 1.75: the two later parts have the larger remainders.
    assert split_micros(7, [2, 1, 1]) == [3, 2, 2]
    assert split_micros(10, [0.15, 0.35, 0.5]) == [2, 3, 5]


def test_split_ties_go_to_the_earlier_index() -> None:
    assert split_micros(1, [1, 1]) == [1, 0]
    assert split_micros(2, [1, 1, 1]) == [1, 1, 0]


def test_split_of_negative_total_mirrors_positive() -> None:
    assert split_micros(-100, [1, 1, 1]) == [-34, -33, -33]


def test_split_gives_nothing_to_zero_weights() -> None:
    assert split_micros(5, [0, 3, 0]) == [0, 5, 0]


def test_split_rejects_bad_weights() -> None:
    with pytest.raises(MoneyError, match="empty"):
        split_micros(1, [])
    with pytest.raises(MoneyError, match="non-negative"):
        split_micros(1, [1, -1])
    with pytest.raises(MoneyError, match="more than zero"):
        split_micros(1, [0, 0])
    with pytest.raises(MoneyError, match="finite"):
        split_micros(1, [float("nan")])


weights_strategy = st.lists(
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=20,
).filter(lambda ws: sum(ws) > 0)


@given(total=st.integers(min_value=-(10**15), max_value=10**15), weights=weights_strategy)
def test_split_parts_sum_to_total_and_stay_within_one_of_exact_share(
    total: int, weights: list[float]
) -> None:
    parts = split_micros(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == total
    weight_sum = sum(Fraction(w) for w in weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - total * Fraction(weight) / weight_sum) < 1


@given(total=st.integers(min_value=0, max_value=10**12), count=st.integers(1, 12))
def test_equal_split_gives_extra_units_to_earliest_parts(total: int, count: int) -> None:
    parts = split_micros(total, [1.0] * count)
    base, extra = divmod(total, count)
    assert parts == [base + 1] * extra + [base] * (count - extra)


@given(amount=amounts)
def test_decimal_round_trip_is_exact(amount: Decimal) -> None:
    money = Money.from_decimal("USD", amount)
    assert money.to_decimal() == amount
    assert Money.from_decimal("USD", money.to_decimal()) == money


@given(micros=st.integers(min_value=-(10**24), max_value=10**24))
def test_micros_round_trip_is_exact(micros: int) -> None:
    assert Money.from_micros("EUR", micros).to_micros() == micros


@given(amount=amounts)
def test_units_and_nanos_never_have_opposite_signs(amount: Decimal) -> None:
    money = Money.from_decimal("EUR", amount)
    assert money.units * money.nanos >= 0
    assert abs(money.nanos) < 1_000_000_000
