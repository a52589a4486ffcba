"""Training data for data-driven models: converting and non-converting paths from histories."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from services.attribution.datadriven import PathTable, fit_markov, fit_shapley, shares_of
from services.attribution.journeys import Lookback, journey_for
from services.attribution.models import DataDrivenKind, JourneyTouch, ModelSpec


@dataclass(frozen=True, slots=True)
class PastConversion:
    """A conversion of a person's history."""

    conversion_id: str
    name: str
    occurred_at: datetime
    value_micros: int


@dataclass(slots=True)
class PersonHistory:
    """Everything attribution knows of one person (or one unlinked visitor)."""

    touches: list[JourneyTouch] = field(default_factory=list)
    conversions: list[PastConversion] = field(default_factory=list)


@dataclass(slots=True)
class TrainingPaths:
    """Channel paths with their conversions, values and non-conversions, for fitting."""

    paths: list[tuple[str, ...]] = field(default_factory=list)
    conversions: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    nulls: list[float] = field(default_factory=list)

    def add(
        self, channels: tuple[str, ...], conversions: float, value: float, nulls: float
    ) -> None:
        """Adds one path."""
        self.paths.append(channels)
        self.conversions.append(conversions)
        self.values.append(value)
        self.nulls.append(nulls)

    @property
    def converting(self) -> int:
        """How many paths ended in a conversion."""
        return sum(1 for c in self.conversions if c > 0)

    @property
    def null(self) -> int:
        """How many paths ended without one."""
        return sum(1 for n in self.nulls if n > 0)


def training_paths(
    histories: Iterable[PersonHistory],
    conversion_name: str,
    window_start: datetime,
    window_end: datetime,
    lookback: Lookback,
) -> TrainingPaths:
    """The paths that train a data-driven model for one conversion name.

    Each conversion of that name in the window contributes its journey (exactly the journey
    it is credited from: same lookback, starting after the previous conversion of the name).
    The touchpoints in the window after a person's last such conversion, or all of them for a
    person without one, form a path without conversion. Paths are channel sequences.
    """
    result = TrainingPaths()
    for history in histories:
        touches = [t for t in history.touches if window_start <= t.occurred_at <= window_end]
        conversions = sorted(
            (
                c
                for c in history.conversions
                if c.name == conversion_name and window_start <= c.occurred_at <= window_end
            ),
            key=lambda c: (c.occurred_at, c.conversion_id),
        )
        previous: datetime | None = None
        for conversion in conversions:
            journey = journey_for(touches, conversion.occurred_at, lookback, after=previous)
            if journey:
                result.add(
                    tuple(t.channel for t in journey), 1.0, conversion.value_micros / 1e6, 0.0
                )
            previous = conversion.occurred_at
        rest = sorted(
            (t for t in touches if previous is None or t.occurred_at > previous),
            key=lambda t: (t.occurred_at, t.touchpoint_id),
        )
        if rest:
            result.add(tuple(t.channel for t in rest), 0.0, 0.0, 1.0)
    return result


@dataclass(frozen=True, slots=True)
class FittedShares:
    """A data-driven fit as each channel's share of conversions and of conversion value."""

    conversions: dict[str, float]
    value: dict[str, float]


def fit_channel_shares(spec: ModelSpec, paths: TrainingPaths) -> FittedShares:
    """Fits a data-driven model on the paths; returns each channel's share of the conversions
    and of the value (Markov: by conversion and by value removal effects; Shapley: by the
    conversion and the value coalition games)."""
    table = PathTable.from_paths(paths.paths, paths.conversions, paths.values, paths.nulls)
    if spec.data_driven is DataDrivenKind.MARKOV:
        fit = fit_markov(table, order=spec.markov_order)
        conversions, value = fit.conversion_credit, fit.value_credit
    elif spec.data_driven is DataDrivenKind.SHAPLEY:
        shapley = fit_shapley(table)
        conversions, value = shapley.conversion_credit, shapley.value_credit
    else:
        raise ValueError(f"{spec.name} is not a data-driven model")
    conversion_shares = shares_of(conversions)
    value_shares = shares_of(value) if sum(value.values()) > 0 else conversion_shares
    return FittedShares(conversion_shares, value_shares)
