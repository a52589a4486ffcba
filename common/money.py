"""Money as plain values: ISO 4217 currencies, exchange rates and exact splitting."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from types import MappingProxyType
from typing import Any

NANOS_PER_UNIT = 1_000_000_000
NANOS_PER_MICRO = 1_000
MICROS_PER_UNIT = 1_000_000
_MAX_NANOS = NANOS_PER_UNIT - 1
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_CODE_PATTERN = re.compile(r"[A-Z]{3}")


class MoneyError(ValueError):
    """Base error for invalid amounts, currencies and conversions."""


class UnknownCurrencyError(MoneyError):
    """The code is not an active ISO 4217 currency known to this module."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown currency code {code!r}")
        self.code = code


class UnknownRateError(MoneyError):
    """No exchange rate is known for the currency."""

    def __init__(self, code: str) -> None:
        super().__init__(f"no exchange rate for currency {code!r}")
        self.code = code


# Active ISO 4217 currencies and their minor units (ISO 4217 list one, 2025).
# Bond-market, fund and precious-metal codes (XAU, XDR, XTS, XXX, BOV, ...) are left out;
# CLF (Chilean Unidad de Fomento) is kept because prices are quoted in it.
# ANG stays alongside its successor XCG while both circulate.
_ISO_4217_MINOR_UNITS: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2,
    "AWG": 2, "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0,
    "BMD": 2, "BND": 2, "BOB": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2,
    "BZD": 2, "CAD": 2, "CDF": 2, "CHF": 2, "CLF": 4, "CLP": 0, "CNY": 2, "COP": 2,
    "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2,
    "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2,
    "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2,
    "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0,
    "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2,
    "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2,
    "LSL": 2, "LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2,
    "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2,
    "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2,
    "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2,
    "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2,
    "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2,
    "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2,
    "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2, "UYU": 2, "UZS": 2,
    "VED": 2, "VES": 2, "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XCG": 2,
    "XOF": 0, "XPF": 0, "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
}  # fmt: skip

ISO_4217_MINOR_UNITS: Mapping[str, int] = MappingProxyType(_ISO_4217_MINOR_UNITS)

REFERENCE_RATES_DATE = "2023-12-29"
"""Date of the ECB euro foreign exchange reference rates bundled in this module."""

# ECB euro foreign exchange reference rates of 29 December 2023: units of currency per 1 EUR.
_REFERENCE_RATES_PER_EUR: dict[str, str] = {
    "USD": "1.1050", "JPY": "156.33", "BGN": "1.9558", "CZK": "24.724",
    "DKK": "7.4529", "GBP": "0.86905", "HUF": "382.80", "PLN": "4.3395",
    "RON": "4.9756", "SEK": "11.0960", "CHF": "0.9260", "ISK": "150.50",
    "NOK": "11.2405", "TRY": "32.6531", "AUD": "1.6263", "BRL": "5.3618",
    "CAD": "1.4642", "CNY": "7.8509", "HKD": "8.6314", "IDR": "17079.71",
    "ILS": "3.9818", "INR": "91.9045", "KRW": "1433.66", "MXN": "18.7231",
    "MYR": "5.0775", "NZD": "1.7504", "PHP": "61.159", "SGD": "1.4591",
    "THB": "37.973", "ZAR": "20.3477",
}  # fmt: skip


def is_known_currency(code: str) -> bool:
    """Tell whether ``code`` is an active ISO 4217 currency code (upper case)."""
    return code in _ISO_4217_MINOR_UNITS


def minor_units(code: str) -> int:
    """Return the number of decimal places of the currency's minor unit (USD 2, JPY 0)."""
    try:
        return _ISO_4217_MINOR_UNITS[code]
    except KeyError:
        raise UnknownCurrencyError(code) from None


def _check_code(code: str) -> None:
    if not _CODE_PATTERN.fullmatch(code):
        raise MoneyError(f"currency code must be three upper-case letters, got {code!r}")


def _round_half_even_div(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency with ``google.type.Money`` semantics.

    A valid amount (see ``validate``) has ``units`` in the int64 range and ``nanos`` in
    [-999_999_999, 999_999_999], never of the opposite sign of ``units``.
    """

    currency_code: str
    units: int
    nanos: int

    def validate(self) -> Money:
        """Return ``self`` if it is a well-formed amount, else raise ``MoneyError`` saying why.

        Construction does not validate, so that request values can be checked field by field;
        every factory method of this class returns valid values.
        """
        _check_code(self.currency_code)
        if not _INT64_MIN <= self.units <= _INT64_MAX:
            raise MoneyError(f"units out of the int64 range: {self.units}")
        if not -_MAX_NANOS <= self.nanos <= _MAX_NANOS:
            raise MoneyError(f"nanos out of range: {self.nanos}")
        if (self.units > 0 and self.nanos < 0) or (self.units < 0 and self.nanos > 0):
            raise MoneyError(f"units {self.units} and nanos {self.nanos} have opposite signs")
        return self

    @classmethod
    def zero(cls, currency_code: str) -> Money:
        """Return zero in the given currency."""
        return cls(currency_code, 0, 0)

    @classmethod
    def from_nanos(cls, currency_code: str, total_nanos: int) -> Money:
        """Build from an integer number of billionths of a unit."""
        sign = -1 if total_nanos < 0 else 1
        units, nanos = divmod(abs(total_nanos), NANOS_PER_UNIT)
        return cls(currency_code, sign * units, sign * nanos).validate()

    @classmethod
    def from_decimal(cls, currency_code: str, amount: Decimal) -> Money:
        """Build from a Decimal amount; digits beyond nanos are rounded half-even."""
        if not amount.is_finite():
            raise MoneyError(f"amount must be finite, got {amount}")
        with localcontext() as ctx:
            ctx.prec = max(40, amount.adjusted() + 12)
            try:
                scaled = (amount * NANOS_PER_UNIT).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
            except InvalidOperation as exc:
                raise MoneyError(f"amount out of range: {amount}") from exc
        return cls.from_nanos(currency_code, int(scaled))

    @classmethod
    def from_micros(cls, currency_code: str, micros: int) -> Money:
        """Build from an integer number of millionths of a unit."""
        return cls.from_nanos(currency_code, micros * NANOS_PER_MICRO)

    def to_nanos(self) -> int:
        """Return the amount as an integer number of billionths of a unit."""
        return self.units * NANOS_PER_UNIT + self.nanos

    def to_micros(self) -> int:
        """Return the amount in millionths of a unit, rounding half-even from nanos."""
        return _round_half_even_div(self.to_nanos(), NANOS_PER_MICRO)

    def to_decimal(self) -> Decimal:
        """Return the exact amount as a Decimal with nine decimal places."""
        return Decimal(self.to_nanos()).scaleb(-9)

    def __str__(self) -> str:
        return f"{self.to_decimal().normalize():f} {self.currency_code}"


def _parse_rate(code: str, raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise MoneyError(f"rate for {code} must be a decimal string, got {raw!r}")
    try:
        rate = Decimal(raw)
    except InvalidOperation as exc:
        raise MoneyError(f"rate for {code} is not a number: {raw!r}") from exc
    if not rate.is_finite() or rate <= 0:
        raise MoneyError(f"rate for {code} must be positive, got {raw!r}")
    return rate


class ExchangeRates:
    """Exchange rates expressed as units of each currency per one euro."""

    BASE = "EUR"

    def __init__(self, rates_per_eur: Mapping[str, Decimal], *, date: str = "") -> None:
        """Build from a mapping of currency code to units of that currency per EUR."""
        rates: dict[str, Decimal] = {self.BASE: Decimal(1)}
        for code, raw in rates_per_eur.items():
            _check_code(code)
            rate = _parse_rate(code, raw)
            if code == self.BASE and rate != 1:
                raise MoneyError(f"the rate of the base currency must be 1, got {rate}")
            rates[code] = rate
        self._rates = MappingProxyType(rates)
        self.date = date

    @classmethod
    def reference(cls) -> ExchangeRates:
        """Return the bundled ECB reference rates of ``REFERENCE_RATES_DATE``."""
        rates = {code: Decimal(rate) for code, rate in _REFERENCE_RATES_PER_EUR.items()}
        return cls(rates, date=REFERENCE_RATES_DATE)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ExchangeRates:
        """Read ``{"base": "EUR", "date": "...", "rates": {"USD": "1.08", ...}}`` from JSON."""
        with open(path, encoding="utf-8") as handle:
            try:
                document = json.load(handle, parse_float=Decimal)
            except json.JSONDecodeError as exc:
                raise MoneyError(f"{os.fspath(path)}: invalid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise MoneyError(f"{os.fspath(path)}: expected a JSON object")
        base = document.get("base", cls.BASE)
        if base != cls.BASE:
            raise MoneyError(f"{os.fspath(path)}: base must be {cls.BASE!r}, got {base!r}")
        rates = document.get("rates")
        if not isinstance(rates, dict):
            raise MoneyError(f"{os.fspath(path)}: 'rates' must be an object")
        date = document.get("date", "")
        if not isinstance(date, str):
            raise MoneyError(f"{os.fspath(path)}: 'date' must be a string")
        return cls({code: _parse_rate(code, raw) for code, raw in rates.items()}, date=date)

    @property
    def codes(self) -> frozenset[str]:
        """Currency codes that have a rate, the base included."""
        return frozenset(self._rates)

    def rate(self, code: str) -> Decimal:
        """Return units of ``code`` per one euro."""
        try:
            return self._rates[code]
        except KeyError:
            raise UnknownRateError(code) from None

    def convert(self, money: Money, to_code: str) -> Money:
        """Convert through EUR, rounding half-even to the target currency's minor units.

        An amount already in ``to_code`` is returned unchanged; a malformed one raises.
        """
        money.validate()
        if money.currency_code == to_code:
            return money
        from_rate = self.rate(money.currency_code)
        to_rate = self.rate(to_code)
        step = Decimal(1).scaleb(-minor_units(to_code))
        with localcontext() as ctx:
            ctx.prec = 50
            converted = (money.to_decimal() * to_rate / from_rate).quantize(
                step, rounding=ROUND_HALF_EVEN
            )
        return Money.from_decimal(to_code, converted)


def split_micros(total_micros: int, weights: Sequence[float]) -> list[int]:
    """Split an integer amount in proportion to ``weights`` so that the parts sum to the total.

    Uses the largest-remainder method on exact fractions; ties go to the earlier index.
    A negative total is split as its magnitude and negated.
    """
    if not weights:
        raise MoneyError("weights must not be empty")
    ratios: list[tuple[int, int]] = []
    for weight in weights:
        if not math.isfinite(weight) or weight < 0:
            raise MoneyError(f"weights must be finite and non-negative, got {weight!r}")
        ratios.append(float(weight).as_integer_ratio())
    # Every float is n / 2**k: over the largest denominator the weights are exact integers,
    # so the split needs integer arithmetic only (Fraction sums are slow on long journeys).
    common = max(denominator for _, denominator in ratios)
    scaled = [numerator * (common // denominator) for numerator, denominator in ratios]
    weight_sum = sum(scaled)
    if weight_sum <= 0:
        raise MoneyError("weights must sum to more than zero")
    sign = -1 if total_micros < 0 else 1
    magnitude = abs(total_micros)
    parts: list[int] = []
    remainders: list[int] = []
    for weight in scaled:
        part, remainder = divmod(magnitude * weight, weight_sum)
        parts.append(part)
        remainders.append(remainder)
    leftover = magnitude - sum(parts)
    by_remainder = sorted(range(len(parts)), key=lambda i: (-remainders[i], i))
    for index in by_remainder[:leftover]:
        parts[index] += 1
    return [sign * part for part in parts]


__all__ = [
    "ISO_4217_MINOR_UNITS",
    "MICROS_PER_UNIT",
    "NANOS_PER_UNIT",
    "REFERENCE_RATES_DATE",
    "ExchangeRates",
    "Money",
    "MoneyError",
    "UnknownCurrencyError",
    "UnknownRateError",
    "is_known_currency",
    "minor_units",
    "split_micros",
]
