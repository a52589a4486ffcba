"""Reporting's plain values for conversion paths: a conversion's path, path queries and
reports, and the rules that turn a path into report keys (no SQL, no gRPC)."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime

from services.reporting.domainmodel import AsOf, Freshness

OMITTED = ""
"""The channel of the step that stands for a long path's omitted middle."""

REPEAT_SIGN = "×"
"""Written between a channel and how many touchpoints in a row it had: "email ×3"."""

DAY_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class PathSummary:
    """A conversion's path as attribution's log carries it (see attribution's
    `ConversionPath`): runs of one channel, the first touch and the touchpoint count."""

    channels: tuple[str, ...]
    run_lengths: tuple[int, ...]
    touchpoint_count: int
    first_touch_at: datetime | None
    last_non_direct_channel: str
    head_runs: int = 0
    omitted_runs: int = 0
    omitted_touchpoints: int = 0
    omitted_channels: tuple[str, ...] = ()

    def steps(self) -> list[tuple[str, int]]:
        """(channel, touchpoints) per run; the omitted middle as one (`OMITTED`, count) step."""
        runs = list(zip(self.channels, self.run_lengths, strict=True))
        if not self.omitted_runs:
            return runs
        return [
            *runs[: self.head_runs],
            (OMITTED, self.omitted_touchpoints),
            *runs[self.head_runs :],
        ]

    def distinct_channels(self) -> list[str]:
        """Every channel of the path once, in order of first appearance."""
        return list(dict.fromkeys([*self.channels, *self.omitted_channels]))


def steps_key(steps: list[tuple[str, int]]) -> str:
    """The stored key of a path: its steps as compact JSON (equal paths, equal keys)."""
    return json.dumps(steps, ensure_ascii=False, separators=(",", ":"))


def collapsed_key(steps: list[tuple[str, int]]) -> str:
    """The stored key of a path with consecutive repeats of a channel collapsed into one."""
    return steps_key([(channel, 1 if channel != OMITTED else n) for channel, n in steps])


def steps_of_key(key: str) -> list[tuple[str, int]]:
    """The steps a stored key holds."""
    return [(str(channel), int(n)) for channel, n in json.loads(key)]


def path_text(steps: list[tuple[str, int]]) -> str:
    """A path for people: "paid_search ×2 > email > direct"; an omitted middle reads
    "… 1,234 touchpoints …"; a path without touchpoints reads "(none)"."""
    if not steps:
        return "(none)"
    return " > ".join(
        f"… {n:,} touchpoints …"
        if channel == OMITTED
        else (f"{channel} {REPEAT_SIGN}{n}" if n > 1 else channel)
        for channel, n in steps
    )


def lag_days(first_touch_at: datetime | None, occurred_at: datetime) -> int | None:
    """Whole days from the first touch to the conversion (0 within 24 hours); None without
    touchpoints."""
    if first_touch_at is None:
        return None
    return max(0, int((occurred_at - first_touch_at).total_seconds() // DAY_SECONDS))


class DistributionKind(enum.Enum):
    """What a path distribution counts conversions by."""

    PATH_LENGTH = "path_length"
    TIME_LAG = "time_lag"


@dataclass(frozen=True, slots=True)
class Bucket:
    """A range of path lengths (touchpoints) or time lags (days): `low` to `high`
    inclusive, no upper end when `high` is None."""

    low: int
    high: int | None

    @property
    def label(self) -> str:
        """ "3", "12-30" or "91+"."""
        if self.high is None:
            return f"{self.low}+"
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


BUCKETS = {
    DistributionKind.PATH_LENGTH: (
        *(Bucket(n, n) for n in range(0, 12)),
        Bucket(12, None),
    ),
    DistributionKind.TIME_LAG: (
        *(Bucket(n, n) for n in range(0, 12)),
        Bucket(12, 30),
        Bucket(31, 60),
        Bucket(61, 90),
        Bucket(91, None),
    ),
}
"""The buckets of each distribution (those of Google Analytics' multi-channel funnels):
path lengths 0 (no touchpoint) to 11 one by one, then 12 and more; time lags 0 to 11 days one
by one, then 12-30, 31-60, 61-90 and more than 90 days."""


@dataclass(frozen=True, slots=True)
class PathQuery:
    """A path report's parameters: [start, end) bounds of the conversion time (optional), a
    conversion name (empty: the property's only one) and, for top paths, whether
    consecutive repeats of a channel are collapsed and which page (an offset) to answer."""

    property_id: str
    start: datetime | None = None
    end: datetime | None = None
    conversion_name: str = ""
    collapse_repeats: bool = False
    page_size: int = 100
    offset: int = 0
    as_of: AsOf | None = None


@dataclass(frozen=True, slots=True)
class PathRow:
    """One path: its steps (channel, touchpoints in a row), the conversions that followed it
    and their value (micros of the report's currency), and their shares of the report's."""

    steps: tuple[tuple[str, int], ...]
    conversions: int
    value_micros: int
    conversion_share: float
    value_share: float

    @property
    def text(self) -> str:
        """The path for people (`path_text`)."""
        return path_text(list(self.steps))

    @property
    def touchpoints(self) -> int:
        """The path's length."""
        return sum(n for _, n in self.steps)


@dataclass(frozen=True, slots=True)
class PathTotals:
    """What every path report says about its scope: the conversion name, conversions and
    value counted, the currency, conversions left out for lack of analytics consent, and
    the freshness."""

    conversion_name: str
    conversions: int
    value_micros: int
    currency_code: str
    unconsented_conversions: int
    freshness: Freshness


@dataclass(frozen=True, slots=True)
class PathReport:
    """Top conversion paths, most conversions first (then most value, then path), one page."""

    rows: tuple[PathRow, ...]
    totals: PathTotals
    collapse_repeats: bool
    next_offset: int = 0


@dataclass(frozen=True, slots=True)
class BucketRow:
    """A bucket's conversions and value (micros), and their shares of the report's."""

    bucket: Bucket
    conversions: int
    value_micros: int
    conversion_share: float
    value_share: float


@dataclass(frozen=True, slots=True)
class PathDistribution:
    """Conversions per path length or time lag bucket, every bucket listed in order.
    Conversions without touchpoints have no time lag: they are left out of the time lag
    buckets and counted in `without_touchpoints`."""

    kind: DistributionKind
    rows: tuple[BucketRow, ...]
    totals: PathTotals
    without_touchpoints: int


@dataclass(frozen=True, slots=True)
class AssistRow:
    """A channel's assisted and last-touch conversions and value (micros), and
    assisted / last-touch conversions (None without last-touch conversions)."""

    channel: str
    assisted_conversions: int
    assisted_value_micros: int
    last_touch_conversions: int
    last_touch_value_micros: int
    ratio: float | None


@dataclass(frozen=True, slots=True)
class AssistReport:
    """Assisted versus last-touch conversions per channel, in channel order."""

    rows: tuple[AssistRow, ...]
    totals: PathTotals
