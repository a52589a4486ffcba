"""Attribution models: how a conversion's credit is shared among the touchpoints of its journey."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from common.money import split_micros

UNATTRIBUTED_CHANNEL = "(none)"


@dataclass(frozen=True, slots=True)
class JourneyTouch:
    """A touchpoint as attribution sees it."""

    touchpoint_id: str
    occurred_at: datetime
    channel: str
    source: str
    medium: str
    campaign: str
    touch_type: str = "click"


@dataclass(frozen=True, slots=True)
class Credit:
    """The share of one conversion credited to one touchpoint (or to "(none)")."""

    touchpoint_id: str
    channel: str
    source: str
    medium: str
    campaign: str
    fraction: float
    value_micros: int


Weights = Callable[[Sequence[JourneyTouch]], list[float]]


def last_click(journey: Sequence[JourneyTouch]) -> list[float]:
    """All credit to the last touchpoint."""
    return [0.0] * (len(journey) - 1) + [1.0]


def linear(journey: Sequence[JourneyTouch]) -> list[float]:
    """Equal credit to every touchpoint."""
    return [1.0 / len(journey)] * len(journey)


MODELS: dict[str, Weights] = {"last_click": last_click, "linear": linear}


class UnknownModelError(ValueError):
    """A model name that is not configured."""


def credit(model: str, journey: Sequence[JourneyTouch], value_micros: int) -> list[Credit]:
    """The credits of one conversion under `model`; fractions sum to 1 and values to the value.

    A conversion without touchpoints is credited whole to the channel "(none)", so it is
    reported as unattributed instead of being dropped.
    """
    if model not in MODELS:
        raise UnknownModelError(f"unknown attribution model {model!r}")
    if not journey:
        return [Credit("", UNATTRIBUTED_CHANNEL, "", "", "", 1.0, value_micros)]
    weights = MODELS[model](journey)
    values = split_micros(value_micros, weights) if value_micros else [0] * len(journey)
    return [
        Credit(t.touchpoint_id, t.channel, t.source, t.medium, t.campaign, w, v)
        for t, w, v in zip(journey, weights, values, strict=True)
        if w > 0
    ]
