"""Plain values of the person reports (funnels and cohorts): the events and identity changes
they are built from, their queries and their answers."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.reporting.domainmodel import AsOf, Freshness, VisitEvent

NO_FIRST_TOUCH = "(none)"
"""The first-touch channel of a person without any touchpoint (click or visit)."""

DEFAULT_WITHIN = timedelta(days=30)
"""How long after entering a funnel a person may take to finish it, when a query says not."""


class EventKind(enum.Enum):
    """What a person event is; its value is the `kind` stored in the person events view and
    the name an EVENT step gives it."""

    PAGE_VIEW = "page_view"
    TOUCHPOINT = "touchpoint"
    CONVERSION = "conversion"
    IDENTIFY = "identify"


@dataclass(frozen=True, slots=True)
class PersonEvent:
    """An event of a visitor that funnels and cohorts count: `name` is the path of a page
    view or of a touchpoint's landing page, or a conversion's name; `channel` a touchpoint's
    (empty otherwise); `value_micros` a conversion's value in the reporting currency."""

    property_id: str
    record_id: str
    visitor: str
    kind: EventKind
    name: str
    occurred_at: datetime
    channel: str = ""
    value_micros: int = 0
    currency_code: str = ""


@dataclass(frozen=True, slots=True)
class TrackedVisit:
    """A touchpoint or page view from ingest's log: the visit sessions place and the event
    funnels count."""

    visit: VisitEvent
    event: PersonEvent

    @property
    def property_id(self) -> str:
        """The property."""
        return self.event.property_id


@dataclass(frozen=True, slots=True)
class ConversionRetraction:
    """From ingest's log: an outcome retracted the conversion (final, whatever came before or
    comes after it): funnels and cohorts no longer count it, even if it is recorded later."""

    property_id: str
    conversion_id: str


@dataclass(frozen=True, slots=True)
class IdentityChange:
    """From identity's log: for each (person id, identifiers) of `moves`, the identifiers now
    belong to the person, or to nobody (each its own person again) when the person id is
    empty (a forgotten person); for each (a, b, accepted) of `probable`, identity accepted
    or removed a probabilistic link between two identifiers."""

    property_id: str
    moves: tuple[tuple[str, tuple[str, ...]], ...]
    probable: tuple[tuple[str, str, bool], ...] = ()


class StepKind(enum.Enum):
    """What a funnel step matches."""

    PAGE = "page"
    EVENT = "event"
    CONVERSION = "conversion"


class MatchMode(enum.Enum):
    """How a step's value matches: exactly, or as a prefix (the default for pages)."""

    EXACT = "exact"
    PREFIX = "prefix"


@dataclass(frozen=True, slots=True)
class FunnelStep:
    """One step: a page path (page views and touchpoints' landing pages), an event name
    (a conversion's name or one of page_view, touchpoint, identify) or a conversion name."""

    kind: StepKind
    value: str
    match: MatchMode = MatchMode.EXACT

    @property
    def label(self) -> str:
        """The step for people: "page:/pricing*", "conversion:purchase"."""
        return f"{self.kind.value}:{self.value}{'*' if self.match is MatchMode.PREFIX else ''}"


@dataclass(frozen=True, slots=True)
class FunnelQuery:
    """A funnel: persons enter at their first event of the first step in [start, end) (each
    bound optional) and reach each later step at its first event at or after the previous
    step's, no later than `within` after they entered. A page of `page_size` channels of the
    breakdown after `after`; as the views stood at `as_of` when given."""

    property_id: str
    steps: tuple[FunnelStep, ...]
    within: timedelta = DEFAULT_WITHIN
    start: datetime | None = None
    end: datetime | None = None
    page_size: int = 100
    after: str = ""
    as_of: AsOf | None = None


@dataclass(frozen=True, slots=True)
class FunnelStepFigures:
    """Persons who reached a step, the part of the previous step's and the first step's
    persons that is, and the persons of the previous step who did not reach it."""

    step: FunnelStep
    persons: int
    from_previous: float
    from_first: float
    dropped: int


@dataclass(frozen=True, slots=True)
class FunnelBreakdown:
    """The funnel of the persons whose first touch was in one channel."""

    channel: str
    steps: tuple[FunnelStepFigures, ...]


@dataclass(frozen=True, slots=True)
class FunnelReport:
    """A funnel over all persons and per first-touch channel (a page, by channel)."""

    steps: tuple[FunnelStepFigures, ...]
    channels: tuple[FunnelBreakdown, ...]
    within: timedelta
    freshness: Freshness
    next_after: str = ""


class CohortInterval(enum.Enum):
    """How persons are grouped by first touch: calendar week (Monday to Sunday) or month in
    the property's time zone; periods since the first touch are counted in the same unit."""

    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class CohortQuery:
    """Cohorts of persons by first-touch week or month in [start, end) (each optional) and
    first-touch channel; their conversions (of the names, or of every name) in periods 0 to
    `periods - 1` since the first touch's. A page of `page_size` cohorts after `after`; as
    the views stood at `as_of` when given."""

    property_id: str
    interval: CohortInterval = CohortInterval.WEEK
    start: datetime | None = None
    end: datetime | None = None
    conversion_names: tuple[str, ...] = ()
    periods: int = 8
    page_size: int = 100
    after: str = ""
    as_of: AsOf | None = None


@dataclass(frozen=True, slots=True)
class CohortPeriod:
    """A cohort's figures up to the end of one period since its first touch (cumulative):
    its conversions, the persons among them who converted and their part of the cohort, and
    the conversions' value."""

    index: int
    conversions: int
    converted_persons: int
    rate: float
    value_micros: int


@dataclass(frozen=True, slots=True)
class CohortRow:
    """One cohort: persons whose first touch was in the period starting at `start` (its
    first local date `period`) and in `channel`."""

    start: datetime
    period: str
    channel: str
    persons: int
    periods: tuple[CohortPeriod, ...]


@dataclass(frozen=True, slots=True)
class CohortReport:
    """Cohorts by first-touch period (oldest first), then channel (a page)."""

    rows: tuple[CohortRow, ...]
    interval: CohortInterval
    time_zone: str
    conversion_names: tuple[str, ...]
    currency_code: str
    freshness: Freshness
    next_after: str = ""
