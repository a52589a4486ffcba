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
    term: str = ""
    content: str = ""
    device_type: str = ""
    browser: str = ""
    country: str = ""
    landing_page: str = ""


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


@dataclass(frozen=True, slots=True)
class Revision:
    """An attribution as the views keep it: current from the log position `valid_from`
    until `valid_to` (the position of the attribution that superseded it; None while it is
    current)."""

    attribution: ConversionAttribution
    valid_from: int
    valid_to: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The conversion's (property id, conversion id)."""
        return (self.attribution.property_id, self.attribution.conversion_id)


DEFAULT_SCOPE = "*"
"""The property id of attribution's deployment default settings."""


@dataclass(frozen=True, slots=True)
class ConfiguredModels:
    """The models attribution credits in a property (`DEFAULT_SCOPE`: by default), and
    whether it resolves persons by the blended reporting identity; each None when the
    property follows the default."""

    property_id: str
    models: tuple[str, ...] | None
    blended: bool | None = None


@dataclass(frozen=True, slots=True)
class StageChange:
    """A conversion's outcomes as they stand after a change: its current stage ("" for
    none), every stage reached (stage, first reached) in that order, and its current value."""

    property_id: str
    conversion_id: str
    conversion_name: str
    occurred_at: datetime
    stage: str
    stages: tuple[tuple[str, datetime], ...]
    currency_code: str
    value_micros: int


@dataclass(frozen=True, slots=True)
class Retraction:
    """A conversion was retracted: it leaves every view."""

    property_id: str
    conversion_id: str


ReportingInput = ConversionAttribution | ConfiguredModels | StageChange | Retraction
"""What reporting takes from attribution's log."""


class GroupBy(enum.Enum):
    """A dimension a report groups or filters credits by; its value is its column in the
    conversion credits view."""

    CHANNEL = "channel"
    SOURCE = "source"
    MEDIUM = "medium"
    CAMPAIGN = "campaign"
    TERM = "term"
    CONTENT = "content"
    DEVICE_TYPE = "device_type"
    BROWSER = "browser"
    COUNTRY = "country"
    LANDING_PAGE = "landing_page"
    CONVERSION_NAME = "conversion_name"


DIMENSION_DESCRIPTIONS = {
    GroupBy.CHANNEL: "the channel ingest derived from click ids, UTM tags and the referrer",
    GroupBy.SOURCE: "the traffic source (utm_source or the referring site)",
    GroupBy.MEDIUM: "the medium (utm_medium, or derived with the channel)",
    GroupBy.CAMPAIGN: "the campaign (utm_campaign)",
    GroupBy.TERM: "the paid keyword (utm_term)",
    GroupBy.CONTENT: "the ad or link variant (utm_content)",
    GroupBy.DEVICE_TYPE: "desktop, mobile, tablet, bot or other, from the user agent",
    GroupBy.BROWSER: "the browser family from the user agent, for example Chrome Mobile",
    GroupBy.COUNTRY: "the sender's country code, for example DE",
    GroupBy.LANDING_PAGE: "the landing page's path, without query or fragment",
    GroupBy.CONVERSION_NAME: "the conversion's name, for example purchase",
}
"""What each dimension holds, as ListDimensions describes it."""


class Interval(enum.Enum):
    """How a report splits its time range: not at all, or by calendar day, week (Monday to
    Sunday) or month in the property's time zone."""

    NONE = "none"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class DimensionFilter:
    """Only credits whose `dimension` is one of `values` ("(not set)" matches empty)."""

    dimension: GroupBy
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PropertySettings:
    """What a property chose for its reports: the IANA time zone that days, weeks and
    months are counted in."""

    time_zone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Freshness:
    """How recent a report's data is: the upstream log positions it reflects, and the event
    time of the newest conversion it counts (None for an empty report); for an answer as of
    a past moment, `as_of_time` is when attribution recorded the newest entry it reflects
    (None when unknown, or for a live answer)."""

    positions: tuple[tuple[str, int], ...]
    newest_conversion_at: datetime | None
    as_of_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class AsOf:
    """A past moment a report is asked as of: a time, or a position of attribution's log
    (exactly one). A moment at or after what the views reflect asks for the live report."""

    time: datetime | None = None
    attribution_position: int | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing, and the key to continue after (empty on the last page)."""

    items: tuple[str, ...]
    next_after: str = ""


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """A conversion report's parameters: [start, end) bounds are optional; an empty
    conversion name stands for the property's only one (unless `filters` name conversion
    names or `dimensions` group by them).

    `dimensions` (when empty: `group_by` alone) are grouped by in order; `filters` all hold;
    `compare_start` and `compare_end` bound the period compared with (both or neither).
    """

    property_id: str
    model: str
    group_by: GroupBy = GroupBy.CHANNEL
    start: datetime | None = None
    end: datetime | None = None
    conversion_name: str = ""
    dimensions: tuple[GroupBy, ...] = ()
    filters: tuple[DimensionFilter, ...] = ()
    interval: Interval = Interval.NONE
    compare_start: datetime | None = None
    compare_end: datetime | None = None
    as_of: AsOf | None = None

    @property
    def grouped_by(self) -> tuple[GroupBy, ...]:
        """The dimensions rows are grouped by, in order."""
        return self.dimensions or (self.group_by,)

    @property
    def conversion_names(self) -> tuple[str, ...]:
        """The conversion names the query is limited to (none: not limited by name)."""
        names = [self.conversion_name] if self.conversion_name else []
        for found in self.filters:
            if found.dimension is GroupBy.CONVERSION_NAME:
                names += found.values
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class PreviousFigures:
    """A row's figures in the period compared with, and the change to the report's period:
    absolute, and relative to the previous figure (None when that is 0)."""

    conversions: float
    value: Money
    conversions_change: float
    value_change: Money
    conversions_change_ratio: float | None
    value_change_ratio: float | None
    value_saturated: bool = False


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One group of a report: credited conversions, value and share of all conversions.

    A value beyond the range of Money (int64 units) is given as the largest Money and
    `value_saturated` is set. `dimension_values` are the group's value per grouped
    dimension (`group` joins them with " / "); with an interval, `period_start` is the
    start of the row's day, week or month and `period` its first local date (YYYY-MM-DD).
    """

    group: str
    conversions: float
    value: Money
    share: float
    value_saturated: bool = False
    dimension_values: tuple[str, ...] = ()
    period_start: datetime | None = None
    period: str = ""
    previous: PreviousFigures | None = None


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

    `rows` may be one page of `total_rows`; `next_offset` is where the next page starts (0
    on the last page). With a comparison, `previous_total` holds the compared period's
    totals and their change.
    """

    rows: tuple[ReportRow, ...]
    total_conversions: float
    total_value: Money
    exceeds_conversions: bool = False
    total_value_saturated: bool = False
    conversion_name: str = ""
    freshness: Freshness = Freshness((), None)
    conversion_names: tuple[str, ...] = ()
    dimensions: tuple[GroupBy, ...] = ()
    interval: Interval = Interval.NONE
    time_zone: str = "UTC"
    previous_total: PreviousFigures | None = None
    compare_start: datetime | None = None
    compare_end: datetime | None = None
    total_rows: int = 0
    next_offset: int = 0
    unconsented_conversions: int = 0


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One group's figures under each compared model (same order as the models); with an
    interval, in one period (`period_start` and `period` as in ReportRow).
    `dimension_values` are the group's value per grouped dimension (`group` joins them)."""

    group: str
    figures: tuple[ReportRow, ...]
    period_start: datetime | None = None
    period: str = ""
    dimension_values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelComparison:
    """Conversions and value per group under several models side by side."""

    models: tuple[str, ...]
    rows: tuple[ComparisonRow, ...]
    exceeding_models: tuple[str, ...] = ()
    conversion_name: str = ""
    freshness: Freshness = Freshness((), None)
    interval: Interval = Interval.NONE
    time_zone: str = ""
    compare_start: datetime | None = None
    compare_end: datetime | None = None
    dimensions: tuple[GroupBy, ...] = ()
    conversion_names: tuple[str, ...] = ()


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
    as_of: AsOf | None = None


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
