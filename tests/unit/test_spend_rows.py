"""Spend rows: validation, channels and currency conversion in ingest, and the CSV formats
`convtrack spend import` reads."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest

from common.money import ExchangeRates, Money
from services.commands.spend_import import CsvFormatError, SpendTally, read_rows
from services.ingest.domainmodel import SpendFigure
from services.ingest.spend import IncomingSpend, SpendNormaliser

DAY = date(2026, 3, 2)
RATES = ExchangeRates.dated({DAY: {"USD": Decimal("1.25"), "GBP": Decimal("0.8")}})


def normalised(**fields: object) -> SpendFigure | list[str]:
    row = IncomingSpend(
        **{  # type: ignore[arg-type]
            "property_id": "shop",
            "day": DAY.isoformat(),
            "source": "google",
            "medium": "cpc",
            "cost": Money("EUR", 80, 0),
            **fields,
        }
    )
    result = SpendNormaliser(RATES, "USD").figure(row, DAY)
    return [f"{v.field}: {v.description}" for v in result] if isinstance(result, list) else result


def test_cost_is_converted_to_the_reporting_currency_at_the_days_rate_and_kept_as_sent() -> None:
    figure = normalised()
    assert isinstance(figure, SpendFigure)
    assert (figure.currency_code, figure.cost_micros) == ("EUR", 80_000_000)
    assert (figure.reporting_currency_code, figure.reporting_cost_micros) == ("USD", 100_000_000)


def test_channel_is_derived_from_source_and_medium_when_not_given() -> None:
    search = normalised(source=" Google ", medium="CPC")
    social = normalised(source="facebook", medium="paid_social", channel="")
    assert isinstance(search, SpendFigure) and isinstance(social, SpendFigure)
    assert (search.source, search.medium, search.channel) == ("google", "cpc", "paid_search")
    assert social.channel == "paid_social"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"cost": Money("EUR", -5, 0)}, "cost: must not be negative"),
        (
            {"cost": Money("ABC", 5, 0)},
            "cost.currency_code: 'ABC' is not an ISO 4217 currency code",
        ),
        ({"day": "2026-02-30"}, "date: '2026-02-30' is not a date in YYYY-MM-DD form"),
        ({"day": "2026-03-09"}, "date: 2026-03-09 is in the future"),
        ({"channel": "tv"}, "channel: must be empty or one of "),
        ({"cost": None}, "cost: is required"),
    ],
)
def test_invalid_rows_say_which_field_is_wrong(fields: dict[str, object], problem: str) -> None:
    problems = normalised(**fields)
    assert isinstance(problems, list)
    assert len(problems) == 1 and problems[0].startswith(problem)


def rows_of(text: str, format_name: str = "auto") -> tuple[list[tuple[int, str]], SpendTally]:
    tally = SpendTally()
    rows = [
        (
            line,
            f"{r.date} {r.source}/{r.medium}/{r.campaign} {r.cost.units}.{r.cost.nanos:09d} "
            f"{r.cost.currency_code} {r.property_id}",
        )
        for line, r in read_rows(io.StringIO(text), format_name, "shop", tally)
    ]
    return rows, tally


def test_generic_columns_are_read_with_line_numbers() -> None:
    rows, tally = rows_of(
        "date,source,medium,campaign,channel,cost,currency\n"
        "2026-03-01,google,cpc,spring,,1234.5,USD\n"
        "\n"
        "2026-03-01,google,cpc,autumn,,n/a,USD\n"
    )
    assert rows == [(2, "2026-03-01 google/cpc/spring 1234.500000000 USD shop")]
    assert tally.errors == ["4: cost: 'n/a' is not a number"]


def test_a_google_ads_export_is_read_with_its_title_lines_and_totals() -> None:
    rows, tally = rows_of(
        "Campaign report\n"
        '"March 1, 2026 - March 2, 2026"\n'
        "Day,Campaign,Currency code,Cost,Impr.,Clicks\n"
        '2026-03-01,Brand search,EUR,"1,020.30",1000,50\n'
        '"Mar 2, 2026",Brand search,EUR,--,0,0\n'
        "Total: Account,,EUR,1020.30,1000,50\n"
    )
    assert rows == [
        (4, "2026-03-01 google/cpc/Brand search 1020.300000000 EUR shop"),
        (5, "2026-03-02 google/cpc/Brand search 0.000000000 EUR shop"),
    ]
    assert tally.errors == []


def test_a_meta_ads_manager_export_takes_the_currency_from_the_cost_header() -> None:
    rows, tally = rows_of(
        "Reporting starts,Reporting ends,Campaign name,Amount spent (USD),Impressions\n"
        "2026-03-01,2026-03-01,Retargeting,45.10,3000\n"
        "2026-03-01,2026-03-07,Prospecting,300,9000\n"
    )
    assert rows == [(2, "2026-03-01 facebook/paid_social/Retargeting 45.100000000 USD shop")]
    assert tally.errors == ["3: date: the row spans several days: export one row per day"]


def test_a_file_without_the_formats_columns_is_refused() -> None:
    with pytest.raises(CsvFormatError, match="needs columns for cost"):
        rows_of("date,source,medium,amount\n2026-03-01,g,cpc,1\n", "generic")
