"""Ad spend rows: validated, their channel derived and their cost converted like conversion
values, into the figures a spend key holds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from common.fields import PROPERTY_ID_PATTERN, PROPERTY_ID_RULE
from common.money import ExchangeRates, Money, MoneyError, UnknownRateError, is_known_currency
from services.ingest.channel_groups import Channel
from services.ingest.domainmodel import SpendFigure
from services.ingest.enrichment import CampaignTags, ClickIds, classify_traffic
from services.ingest.normalise import MAX_MICROS, MAX_VALUE_UNITS, Violation

MAX_SPEND_ROWS = 1000
MAX_TAG_LENGTH = 256
DAY_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
CHANNELS = frozenset(c.value for c in Channel)


@dataclass(frozen=True, slots=True)
class IncomingSpend:
    """A spend row as sent; `cost` is None when no cost was sent."""

    property_id: str = ""
    day: str = ""
    channel: str = ""
    source: str = ""
    medium: str = ""
    campaign: str = ""
    cost: Money | None = None


class SpendNormaliser:
    """Checks spend rows and turns valid ones into figures in the reporting currency."""

    def __init__(self, rates: ExchangeRates, reporting_currency: str) -> None:
        self._rates = rates
        self._reporting_currency = reporting_currency

    def figure(self, row: IncomingSpend, today: date) -> SpendFigure | list[Violation]:
        """The row's figure, or every problem with it (field paths relative to the row)."""
        violations: list[Violation] = []
        if not row.property_id:
            violations.append(Violation("property_id", "is required"))
        elif not PROPERTY_ID_PATTERN.fullmatch(row.property_id):
            violations.append(Violation("property_id", PROPERTY_ID_RULE))
        day = _day(row.day, today, violations)
        source = row.source.strip().lower()
        medium = row.medium.strip().lower()
        campaign = row.campaign.strip()
        for field, value in (("source", source), ("medium", medium)):
            if not value:
                violations.append(Violation(field, "is required"))
        for field, value in (("source", source), ("medium", medium), ("campaign", campaign)):
            if len(value) > MAX_TAG_LENGTH or "\x00" in value:
                violations.append(
                    Violation(field, f"must be at most {MAX_TAG_LENGTH} characters, without NUL")
                )
        channel = row.channel.strip().lower()
        if channel and channel not in CHANNELS:
            violations.append(
                Violation("channel", f"must be empty or one of {', '.join(sorted(CHANNELS))}")
            )
        reporting_micros = self._reporting_micros(row.cost, day, violations)
        if violations or day is None or row.cost is None:
            return violations
        if not channel:
            traffic = classify_traffic(
                landing_url="",
                referrer="",
                tags=CampaignTags(source=source, medium=medium, campaign=campaign),
                click_ids=ClickIds(),
            )
            channel = str(traffic.channel)
        return SpendFigure(
            property_id=row.property_id,
            day=day.isoformat(),
            channel=channel,
            source=source,
            medium=medium,
            campaign=campaign,
            currency_code=row.cost.currency_code,
            cost_micros=row.cost.to_micros(),
            reporting_currency_code=self._reporting_currency,
            reporting_cost_micros=reporting_micros,
        )

    def _reporting_micros(
        self, cost: Money | None, day: date | None, violations: list[Violation]
    ) -> int:
        """The cost in the reporting currency at the day's rates (micros); 0 with violations
        when it cannot be."""
        if cost is None:
            violations.append(Violation("cost", "is required"))
            return 0
        if not is_known_currency(cost.currency_code):
            violations.append(
                Violation(
                    "cost.currency_code", f"{cost.currency_code!r} is not an ISO 4217 currency code"
                )
            )
            return 0
        if not -999_999_999 <= cost.nanos <= 999_999_999:
            violations.append(Violation("cost.nanos", "must be between -999999999 and 999999999"))
            return 0
        if (cost.units > 0 and cost.nanos < 0) or (cost.units < 0 and cost.nanos > 0):
            violations.append(Violation("cost", "units and nanos must have the same sign"))
            return 0
        if cost.units < 0 or cost.nanos < 0:
            violations.append(Violation("cost", "must not be negative"))
            return 0
        if cost.units >= MAX_VALUE_UNITS:
            violations.append(Violation("cost", f"must be less than {MAX_VALUE_UNITS:,} units"))
            return 0
        if day is None:
            return 0
        reporting = self._reporting_currency
        try:
            converted = self._rates.convert(cost, reporting, day)
        except UnknownRateError as exc:
            violations.append(
                Violation(
                    "cost.currency_code",
                    f"no exchange rate from {cost.currency_code} to {reporting} on {day}: "
                    f"{exc.code} is neither among the ECB reference rates nor pegged to one; "
                    "its rates can be given in the deployment's rates file "
                    "(INGEST_FX_RATES_FILE)",
                )
            )
            return 0
        except MoneyError:
            converted = None
        if converted is None or converted.to_micros() > MAX_MICROS:
            violations.append(Violation("cost", f"is too large once converted to {reporting}"))
            return 0
        return converted.to_micros()


def _day(text: str, today: date, violations: list[Violation]) -> date | None:
    """The row's day: an ISO date no later than tomorrow."""
    if not text:
        violations.append(Violation("date", "is required"))
        return None
    try:
        if not DAY_PATTERN.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        violations.append(Violation("date", f"{text[:40]!r} is not a date in YYYY-MM-DD form"))
        return None
    if day > today + timedelta(days=1):
        violations.append(Violation("date", f"{day} is in the future"))
        return None
    return day


def today_utc(now: datetime) -> date:
    """Today's date in UTC."""
    return now.astimezone(UTC).date()
