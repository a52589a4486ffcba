"""`python -m bench.fx`: the cost of exchange rates in ingest — loading the bundled ECB
history, a rate lookup per (currency, day), and converting a value, per event."""

from __future__ import annotations

import time
from datetime import date, timedelta

from bench.table import Row, format_table, per_second
from common.money import ExchangeRates, Money

CURRENCIES = ("EUR", "GBP", "AED", "JPY", "CHF")
DAYS = 90
EVENTS = 200_000


def measure() -> list[Row]:
    """CPU seconds of loading the rates, then of converting `EVENTS` values in several
    currencies over `DAYS` days (warm per-(currency, day) cache after the first pass)."""
    started = time.process_time()
    rates = ExchangeRates.reference()
    newest = rates.newest_date or date.today()
    rates.rate("USD", newest)
    loaded = time.process_time() - started
    days = [newest - timedelta(days=n) for n in range(DAYS)]
    values = [Money(code, 100 + n, 990_000_000) for n, code in enumerate(CURRENCIES * 20)]
    started = time.process_time()
    for n in range(EVENTS):
        rates.convert(values[n % len(values)], "USD", days[n % DAYS])
    converting = time.process_time() - started
    started = time.process_time()
    for n in range(EVENTS):
        rates.rate(CURRENCIES[n % len(CURRENCIES)], days[n % DAYS])
    looking_up = time.process_time() - started
    return [
        Row("fx load ECB history + first lookup", "-", "1", loaded, "-", "CPU seconds"),
        Row(
            "fx convert to USD",
            "-",
            f"{EVENTS:,}",
            converting,
            per_second(EVENTS, converting, "events"),
            f"{converting / EVENTS * 1e6:.1f} µs/event (CPU)",
        ),
        Row(
            "fx rate lookup (cached)",
            "-",
            f"{EVENTS:,}",
            looking_up,
            per_second(EVENTS, looking_up, "lookups"),
            f"{looking_up / EVENTS * 1e6:.2f} µs/lookup (CPU)",
        ),
    ]


if __name__ == "__main__":
    print(format_table(measure()))
