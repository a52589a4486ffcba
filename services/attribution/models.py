"""Attribution models: named, configured models and how they share a conversion's credit."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any

from common.money import split_micros
from services.attribution.datadriven import journey_weights
from services.attribution.rules import NAMED_RULES, RuleKind, RuleModel

UNATTRIBUTED_CHANNEL = "(none)"
MODEL_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
DEFAULT_TRAINING_WINDOW = timedelta(days=90)


DETAIL_DIMENSIONS = ("term", "content", "device_type", "browser", "country", "landing_page")
"""The dimensions a touchpoint and its credit carry for reports beyond channel, source,
medium and campaign ("" when unknown, and for touchpoints stored before they existed)."""


@dataclass(frozen=True, slots=True)
class JourneyTouch:
    """A touchpoint as attribution sees it; `touch_type` is click, impression or visit;
    `landing_page` is the landing URL's path, without query or fragment."""

    touchpoint_id: str
    occurred_at: datetime
    channel: str
    source: str
    medium: str
    campaign: str
    touch_type: str = "click"
    term: str = ""
    content: str = ""
    device_type: str = ""
    browser: str = ""
    country: str = ""
    landing_page: str = ""
    advertising_denied: bool = False


@dataclass(frozen=True, slots=True)
class Credit:
    """The share of one conversion credited to one touchpoint (or to "(none)"), or to
    `touchpoint_count` touchpoints of one channel, source, medium, campaign and detail
    dimensions (then `touchpoint_id` is empty; see `summary.py`)."""

    touchpoint_id: str
    channel: str
    source: str
    medium: str
    campaign: str
    fraction: float
    value_micros: int
    touchpoint_count: int = 1
    term: str = ""
    content: str = ""
    device_type: str = ""
    browser: str = ""
    country: str = ""
    landing_page: str = ""


def details_of(item: JourneyTouch | Credit) -> dict[str, str]:
    """The `DETAIL_DIMENSIONS` of a touchpoint or credit, by name."""
    return {name: getattr(item, name) for name in DETAIL_DIMENSIONS}


class UnknownModelError(ValueError):
    """A model name or configuration that convtrack does not know."""


class DataDrivenKind(StrEnum):
    """Models fitted on the property's own journeys."""

    MARKOV = "markov"
    SHAPLEY = "shapley"


@dataclass(frozen=True, slots=True)
class ChannelFit:
    """A data-driven model's fit for one property and conversion name: each channel's share
    of conversions (`channel_shares`) and of conversion value (`value_shares`)."""

    version: int
    channel_shares: Mapping[str, float]
    value_shares: Mapping[str, float]


@dataclass(frozen=True)
class ModelSpec:
    """A named, configured model: a rule-based one, or a data-driven one and its training."""

    name: str
    rule: RuleModel | None = None
    data_driven: DataDrivenKind | None = None
    markov_order: int = 1
    training_window: timedelta = DEFAULT_TRAINING_WINDOW

    def __post_init__(self) -> None:
        if not MODEL_NAME_PATTERN.fullmatch(self.name):
            raise UnknownModelError(
                f"model name {self.name!r} must be lower-case letters, digits and '_'"
            )
        if (self.rule is None) == (self.data_driven is None):
            raise UnknownModelError(f"model {self.name!r} must be either rule-based or data-driven")
        if self.rule is not None and not isinstance(self.rule, RuleModel):
            raise UnknownModelError(f"model {self.name!r} has no valid rule")
        if self.markov_order < 1 or self.markov_order > 4:
            raise UnknownModelError(f"model {self.name!r}: Markov order must be 1 to 4")
        if self.training_window <= timedelta(0):
            raise UnknownModelError(f"model {self.name!r}: the training window must be positive")

    @property
    def conserves_credit(self) -> bool:
        """False when credits add up to more than the conversion (participation)."""
        return self.rule is None or bool(self.rule.conserves_credit)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain values, for events: as they come back from the stored event
        (lists, not tuples), so that a stored spec compares equal to the one it was made of."""
        return {
            "name": self.name,
            "rule": None
            if self.rule is None
            else {
                **asdict(self.rule),
                "kind": self.rule.kind.value,
                "position_weights": list(self.rule.position_weights),
            },
            "data_driven": None if self.data_driven is None else self.data_driven.value,
            "markov_order": self.markov_order,
            "training_days": self.training_window.total_seconds() / 86400,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """The spec from its plain form."""
        rule = None
        if data.get("rule"):
            fields = dict(data["rule"])
            fields["kind"] = RuleKind(fields["kind"])
            fields["position_weights"] = tuple(fields.get("position_weights", ()))
            rule = RuleModel(**fields)
        return cls(
            name=data["name"],
            rule=rule,
            data_driven=DataDrivenKind(data["data_driven"]) if data.get("data_driven") else None,
            markov_order=int(data.get("markov_order", 1)),
            training_window=timedelta(days=float(data.get("training_days", 90))),
        )


def named_model(name: str) -> ModelSpec:
    """A model by the name users know: the named rules ("first_click", "time_decay", ...),
    "markov" (first order), "markov_2" / "markov_3" (higher orders) and "shapley"."""
    if name in NAMED_RULES:
        return ModelSpec(name=name, rule=NAMED_RULES[name])
    if name == "shapley":
        return ModelSpec(name=name, data_driven=DataDrivenKind.SHAPLEY)
    if match := re.fullmatch(r"markov(?:_(\d))?", name):
        return ModelSpec(
            name=name, data_driven=DataDrivenKind.MARKOV, markov_order=int(match[1] or 1)
        )
    raise UnknownModelError(f"unknown attribution model {name!r}")


def credit(
    spec: ModelSpec,
    journey: Sequence[JourneyTouch],
    conversion_at: datetime,
    value_micros: int,
    fit: ChannelFit | None = None,
) -> list[Credit] | None:
    """The credits of one conversion under a model, or None for a data-driven model that has
    no fit yet for the conversion's property and name.

    Fractions sum to 1 and value credits to the value exactly, except under participation,
    where each distinct channel gets the whole conversion. A data-driven fit splits the
    fraction by its conversion shares and the value by its value shares. A conversion without
    touchpoints is credited whole to the channel "(none)", so it is reported as unattributed.
    """
    if spec.data_driven is not None and fit is None:
        return None
    if not journey:
        return [Credit("", UNATTRIBUTED_CHANNEL, "", "", "", 1.0, value_micros, 0)]
    if spec.rule is not None:
        weights = value_weights = spec.rule.weights(journey, conversion_at)
    else:
        assert fit is not None
        channels = [t.channel for t in journey]
        weights = journey_weights(fit.channel_shares, channels)
        value_weights = journey_weights(fit.value_shares, channels, otherwise=weights)
    if spec.conserves_credit:
        values = split_micros(value_micros, value_weights) if value_micros else [0] * len(journey)
    else:
        values = [round(Fraction(w) * value_micros) for w in value_weights]  # exact past 2^53
    return [
        Credit(
            t.touchpoint_id,
            t.channel,
            t.source,
            t.medium,
            t.campaign,
            w,
            v,
            term=t.term,
            content=t.content,
            device_type=t.device_type,
            browser=t.browser,
            country=t.country,
            landing_page=t.landing_page,
        )
        for t, w, v in zip(journey, weights, values, strict=True)
        if w > 0 or v != 0
    ]
