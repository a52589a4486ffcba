"""Journeys: which touchpoints may be credited for a conversion (lookback windows, view-through)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.attribution.models import JourneyTouch

IMPRESSION = "impression"


@dataclass(frozen=True, slots=True)
class Lookback:
    """How far back touchpoints count: clicks and visits, and impressions (view-through)."""

    clicks: timedelta = timedelta(days=30)
    views: timedelta = timedelta(days=1)

    def __post_init__(self) -> None:
        if self.clicks <= timedelta(0) or self.views < timedelta(0):
            raise ValueError("lookback windows must be positive")


@dataclass(frozen=True, slots=True)
class LookbackPolicy:
    """The default lookback and overrides per conversion name (as the ad platforms allow)."""

    default: Lookback = field(default_factory=Lookback)
    by_conversion: Mapping[str, Lookback] = field(default_factory=dict)

    def for_conversion(self, name: str) -> Lookback:
        """The lookback of a conversion name."""
        return self.by_conversion.get(name, self.default)

    @property
    def longest(self) -> timedelta:
        """The longest window of any conversion: how far a late touchpoint can matter."""
        windows = [self.default, *self.by_conversion.values()]
        return max(max(w.clicks, w.views) for w in windows)


def journey_for(
    touches: Sequence[JourneyTouch],
    conversion_at: datetime,
    lookback: Lookback,
    after: datetime | None = None,
) -> list[JourneyTouch]:
    """The touchpoints that may be credited for a conversion at `conversion_at`, oldest first.

    - Clicks and visits count within the click window, impressions within the view window,
      up to and including the conversion time; later touchpoints never count.
    - Impressions count only when no click or visit is in the journey (view-through).
    - With `after` (the previous conversion of the same name by the same person), only
      touchpoints strictly after it count: each conversion gets its own journey.
    - Ties in time are ordered by touchpoint id, so the order never depends on arrival.
    """
    engaged: dict[str, JourneyTouch] = {}
    viewed: dict[str, JourneyTouch] = {}
    for touch in touches:
        if touch.occurred_at > conversion_at or (after is not None and touch.occurred_at <= after):
            continue
        if touch.touch_type == IMPRESSION:
            if touch.occurred_at >= conversion_at - lookback.views:
                viewed[touch.touchpoint_id] = touch
        elif touch.occurred_at >= conversion_at - lookback.clicks:
            engaged[touch.touchpoint_id] = touch
    chosen = engaged or viewed
    return sorted(chosen.values(), key=lambda t: (t.occurred_at, t.touchpoint_id))
