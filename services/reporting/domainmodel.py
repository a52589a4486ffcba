"""Reporting's plain values: attributed conversions, report queries and reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from common.money import Money

if TYPE_CHECKING:
    from services.reporting.path_values import PathSummary

NONE_CHANNEL = "(none)"
"""The channel attribution gives the single credit of a conversion without touchpoints."""

NOT_SET = "(not set)"
"""The group name reports show for an empty channel, source, medium or campaign."""


@dataclass(frozen=True, slots=True)
class AttributedCredit:
    """The share of a conversion credited to one touchpoint (empty id: unattributed)."""

    touchpoint_id: str
    channel: str
    source: str
    medium: str
    campaign: str
    fraction: float
    value_micros: int


@dataclass(frozen=True, slots=True)
class ModelCredits:
    """A conversion's credits under one attribution model."""

    model: str
    credits: tuple[AttributedCredit, ...]


@dataclass(frozen=True, slots=True)
class ConversionAttribution:
    """One (re-)attribution of a conversion; a higher revision supersedes lower ones."""

    property_id: str
    conversion_id: str
    event_id: str
    conversion_name: str
    occurred_at: datetime
    currency_code: str
    value_micros: int
    revision: int
    models: tuple[ModelCredits, ...]
    unconsented: bool = False
    path: PathSummary | None = None


DEFAULT_SCOPE = "*"
"""The property id of attribution's deployment default settings."""


@dataclass(frozen=True, slots=True)
class ConfiguredModels:
    """The models attribution credits in a property (`DEFAULT_SCOPE`: by default); None when
    the property follows the default."""

    property_id: str
    models: tuple[str, ...] | None


ReportingInput = ConversionAttribution | ConfiguredModels
"""What reporting takes from attribution's log."""


class GroupBy(enum.Enum):
    """The dimension a report groups credits by."""

    CHANNEL = "channel"
    SOURCE = "source"
    MEDIUM = "medium"
    CAMPAIGN = "campaign"


DIMENSION_DESCRIPTIONS = {
    GroupBy.CHANNEL: "the channel ingest derived from click ids, UTM tags and the referrer",
    GroupBy.SOURCE: "the traffic source (utm_source or the referring site)",
    GroupBy.MEDIUM: "the medium (utm_medium, or derived with the channel)",
    GroupBy.CAMPAIGN: "the campaign (utm_campaign)",
}
"""What each dimension holds, as ListDimensions describes it."""


@dataclass(frozen=True, slots=True)
class Freshness:
    """How recent a report's data is: the upstream log positions it reflects, and the event
    time of the newest conversion it counts (None for an empty report)."""

    positions: tuple[tuple[str, int], ...]
    newest_conversion_at: datetime | None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing, and the key to continue after (empty on the last page)."""

    items: tuple[str, ...]
    next_after: str = ""


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """A conversion report's parameters: [start, end) bounds are optional; an empty
    conversion name stands for the property's only one."""

    property_id: str
    model: str
    group_by: GroupBy = GroupBy.CHANNEL
    start: datetime | None = None
    end: datetime | None = None
    conversion_name: str = ""


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One group of a report: credited conversions, value and share of all conversions.

    A value beyond the range of Money (int64 units) is given as the largest Money and
    `value_saturated` is set.
    """

    group: str
    conversions: float
    value: Money
    share: float
    value_saturated: bool = False


@dataclass(frozen=True, slots=True)
class ConversionReport:
    """A conversion report: rows by conversions (most first), then group name; totals.

    Under a model whose credits exceed one per conversion by design (participation),
    `exceeds_conversions` is set, `total_conversions` counts distinct conversions and each
    row's share is the part of those conversions the group took part in (shares add up to
    more than 1).

    `total_value` is in the reporting currency of the data; an empty report has an empty
    currency code. Beyond the range of Money (int64 units) it is the largest Money and
    `total_value_saturated` is set. `unconsented_conversions` of the report's conversions
    were counted without analytics consent.
    """

    rows: tuple[ReportRow, ...]
    total_conversions: float
    total_value: Money
    exceeds_conversions: bool = False
    total_value_saturated: bool = False
    conversion_name: str = ""
    freshness: Freshness = Freshness((), None)
    unconsented_conversions: int = 0


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One group's figures under each compared model (same order as the models)."""

    group: str
    figures: tuple[ReportRow, ...]


@dataclass(frozen=True, slots=True)
class ModelComparison:
    """Conversions and value per group under several models side by side."""

    models: tuple[str, ...]
    rows: tuple[ComparisonRow, ...]
    exceeding_models: tuple[str, ...] = ()
    conversion_name: str = ""
    freshness: Freshness = Freshness((), None)


@dataclass(frozen=True, slots=True)
class SpendEntry:
    """A spend key's figure from ingest's log (the latest revision of a key holds)."""

    property_id: str
    day: str
    channel: str
    source: str
    medium: str
    campaign: str
    currency_code: str
    cost_micros: int
    original_currency_code: str
    original_cost_micros: int
    revision: int


@dataclass(frozen=True, slots=True)
class VisitEvent:
    """A touchpoint (not an impression) or page view of a visitor, as sessions see it.

    `visitor` is the event's anonymous id pseudonym (its user id pseudonym when it has no
    anonymous id). `campaign_touch` is set for a touchpoint with campaign traffic (any channel
    but direct): one whose source, medium and campaign differ from its session's starts a new
    session.
    """

    property_id: str
    visitor: str
    occurred_at: datetime
    campaign_touch: bool
    channel: str
    source: str
    medium: str
    campaign: str


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    """A cost or conversion rate report's parameters: one model, one grouping, [start, end)
    bounds (optional), a conversion name (empty: the property's only one), and a page of
    groups after `after` in group order."""

    property_id: str
    model: str = "last_click"
    group_by: GroupBy = GroupBy.CHANNEL
    start: datetime | None = None
    end: datetime | None = None
    conversion_name: str = ""
    page_size: int = 100
    after: str = ""


@dataclass(frozen=True, slots=True)
class CostRow:
    """One group's cost and return: amounts in micros of the report's currency; the ratios
    None where their divisor is zero."""

    group: str
    cost_micros: int
    conversions: float
    value_micros: int
    cost_per_conversion_micros: int | None
    roas: float | None
    roi: float | None


@dataclass(frozen=True, slots=True)
class CostReport:
    """Cost and return per group (one page, in group order) and over all groups."""

    rows: tuple[CostRow, ...]
    totals: CostRow
    currency_code: str
    conversion_name: str
    model: str
    freshness: Freshness
    next_after: str = ""


@dataclass(frozen=True, slots=True)
class RateRow:
    """One group's visitors, sessions and credited conversions, and their ratios (None
    without sessions or visitors)."""

    group: str
    visitors: int
    sessions: int
    conversions: float
    per_session: float | None
    per_visitor: float | None


@dataclass(frozen=True, slots=True)
class RateReport:
    """Conversion rates per group (one page, in group order) and over all groups."""

    rows: tuple[RateRow, ...]
    totals: RateRow
    conversion_name: str
    model: str
    freshness: Freshness
    next_after: str = ""
