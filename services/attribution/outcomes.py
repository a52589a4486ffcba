"""A conversion's outcomes (CRM stages, value changes, refunds, retractions) folded into its
current stage and value: in order of their timestamps, ties by record id, so the result is the
same whatever order they arrived in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class OutcomeValue:
    """A value as sent and in the reporting currency, in micros ("" currency: none sent)."""

    currency_code: str
    value_micros: int
    reporting_currency_code: str
    reporting_value_micros: int


@dataclass(frozen=True, slots=True)
class OutcomeState:
    """Where a conversion stands after its outcomes: the current stage ("" when none named
    one), every stage reached with when it was first reached (in that order), its value, and
    whether (and when) it was retracted."""

    stage: str
    stages: tuple[tuple[str, datetime], ...]
    value: OutcomeValue
    retracted_at: datetime | None = None

    @property
    def retracted(self) -> bool:
        """Whether an outcome retracted the conversion."""
        return self.retracted_at is not None


def outcome_to_dict(
    *,
    record_id: str,
    occurred_at: datetime,
    stage: str,
    value: OutcomeValue | None,
    refund: OutcomeValue | None,
    retracted: bool,
) -> dict[str, Any]:
    """An outcome as attribution stores it."""
    return {
        "record_id": record_id,
        "occurred_at": occurred_at,
        "stage": stage,
        "value": None if value is None else _value_to_dict(value),
        "refund": None if refund is None else _value_to_dict(refund),
        "retracted": retracted,
    }


def _value_to_dict(value: OutcomeValue) -> dict[str, Any]:
    return {
        "currency_code": value.currency_code,
        "value_micros": value.value_micros,
        "reporting_currency_code": value.reporting_currency_code,
        "reporting_value_micros": value.reporting_value_micros,
    }


def _value_from_dict(data: dict[str, Any] | None) -> OutcomeValue | None:
    return None if data is None else OutcomeValue(**data)


def fold_outcomes(recorded: OutcomeValue, outcomes: Iterable[dict[str, Any]]) -> OutcomeState:
    """The state of a conversion recorded with value `recorded` after its outcomes (stored
    forms). A new value replaces the value; a refund lowers it, never below zero (the value as
    sent too when in the refund's currency; otherwise the value as sent becomes the reporting
    value); the first retraction retracts it for good."""
    ordered = sorted(outcomes, key=lambda o: (o["occurred_at"], o["record_id"]))
    stage = ""
    reached: dict[str, datetime] = {}
    value = recorded
    for outcome in ordered:
        if outcome["retracted"]:
            return OutcomeState(stage, _stages(reached), value, outcome["occurred_at"])
        if outcome["stage"]:
            stage = outcome["stage"]
            reached.setdefault(stage, outcome["occurred_at"])
        new_value = _value_from_dict(outcome["value"])
        refund = _value_from_dict(outcome["refund"])
        if new_value is not None:
            value = new_value
        elif refund is not None:
            value = _refunded(value, refund)
    return OutcomeState(stage, _stages(reached), value)


def _stages(reached: dict[str, datetime]) -> tuple[tuple[str, datetime], ...]:
    return tuple(sorted(reached.items(), key=lambda item: (item[1], item[0])))


def _refunded(value: OutcomeValue, refund: OutcomeValue) -> OutcomeValue:
    reporting = max(0, value.reporting_value_micros - refund.reporting_value_micros)
    if value.currency_code == refund.currency_code:
        return OutcomeValue(
            value.currency_code,
            max(0, value.value_micros - refund.value_micros),
            value.reporting_currency_code,
            reporting,
        )
    return OutcomeValue(
        value.reporting_currency_code, reporting, value.reporting_currency_code, reporting
    )


def stages_to_list(stages: tuple[tuple[str, datetime], ...]) -> list[dict[str, Any]]:
    """Stages reached as events store them."""
    return [{"stage": stage, "reached_at": at} for stage, at in stages]
