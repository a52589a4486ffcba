"""Per-property attribution settings: what each property chose, and what applies to it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypeVar

from services.attribution.domainmodel import (
    DEFAULT_SCOPE,
    PropertyAttributionSettings,
    ReportingIdentity,
)
from services.attribution.journeys import Lookback, LookbackPolicy
from services.attribution.models import ModelSpec

T = TypeVar("T")


class SettingSource(StrEnum):
    """Where a property's setting comes from."""

    ENVIRONMENT = "environment"
    """Nobody chose: attribution's environment (`ATTRIBUTION_MODELS`, ...) applies."""
    DEFAULT = "default"
    """The deployment default chosen with property id `*` applies."""
    PROPERTY = "property"
    """The property chose it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Attribution settings: the models (with their data-driven settings), the lookback
    windows and the reporting identity."""

    models: tuple[ModelSpec, ...]
    lookbacks: LookbackPolicy
    reporting_identity: ReportingIdentity

    def model(self, name: str) -> ModelSpec | None:
        """The model of that name, if configured."""
        return next((m for m in self.models if m.name == name), None)


@dataclass(frozen=True, slots=True)
class PropertySettings:
    """The settings that apply to one property (or to the default), and where each of them
    comes from."""

    property_id: str
    settings: Settings
    models_source: SettingSource
    lookbacks_source: SettingSource
    reporting_identity_source: SettingSource


@dataclass(frozen=True, slots=True)
class _Chosen:
    """What one property (or the default) chose; None where it did not."""

    models: tuple[ModelSpec, ...] | None
    lookbacks: LookbackPolicy | None
    reporting_identity: ReportingIdentity | None


class SettingsBook:
    """Every property's own choices and the default's; answers what applies to a property.

    A property's unset setting follows the default (property id `*`); the default's unset
    setting follows the environment. Only the application's lock holder uses it.
    """

    def __init__(self, environment: Settings) -> None:
        self.environment = environment
        self._chosen: dict[str, _Chosen] = {}
        self._resolved: dict[str, PropertySettings] = {}

    def learn(self, stored: PropertyAttributionSettings) -> None:
        """Takes in a property's stored choices (replacing what was known of it)."""
        self._chosen[stored.property_id] = _Chosen(
            models=(
                None
                if stored.models is None
                else tuple(ModelSpec.from_dict(m) for m in stored.models)
            ),
            lookbacks=None if stored.lookbacks is None else lookbacks_from_dict(stored.lookbacks),
            reporting_identity=(
                ReportingIdentity(stored.reporting_identity) if stored.reporting_identity else None
            ),
        )
        self._resolved.clear()

    def chose(self, property_id: str) -> bool:
        """Whether the property chose any setting of its own."""
        chosen = self._chosen.get(property_id)
        return chosen is not None and any(
            v is not None for v in (chosen.models, chosen.lookbacks, chosen.reporting_identity)
        )

    def properties(self) -> list[str]:
        """The properties (and `*`) with stored settings."""
        return sorted(self._chosen)

    def for_property(self, property_id: str) -> PropertySettings:
        """The settings that apply to a property (`*`: the deployment default)."""
        found = self._resolved.get(property_id)
        if found is None:
            found = self._resolve(property_id)
            self._resolved[property_id] = found
        return found

    def _resolve(self, property_id: str) -> PropertySettings:
        env = self.environment
        default = self._chosen.get(DEFAULT_SCOPE, _Chosen(None, None, None))
        own = (
            self._chosen.get(property_id, _Chosen(None, None, None))
            if property_id != DEFAULT_SCOPE
            else _Chosen(None, None, None)
        )
        models, models_source = _pick(own.models, default.models, env.models)
        lookbacks, lookbacks_source = _pick(own.lookbacks, default.lookbacks, env.lookbacks)
        identity, identity_source = _pick(
            own.reporting_identity, default.reporting_identity, env.reporting_identity
        )
        return PropertySettings(
            property_id,
            Settings(models, lookbacks, identity),
            models_source,
            lookbacks_source,
            identity_source,
        )


def _pick(own: T | None, default: T | None, environment: T) -> tuple[T, SettingSource]:
    if own is not None:
        return own, SettingSource.PROPERTY
    if default is not None:
        return default, SettingSource.DEFAULT
    return environment, SettingSource.ENVIRONMENT


def models_to_dicts(models: Iterable[ModelSpec]) -> list[dict[str, Any]]:
    """Models as stored in events."""
    return [m.to_dict() for m in models]


def lookbacks_to_dict(policy: LookbackPolicy) -> dict[str, Any]:
    """Lookback windows as stored in events (seconds)."""
    return {
        "default": _window_to_dict(policy.default),
        "by_conversion": {n: _window_to_dict(w) for n, w in sorted(policy.by_conversion.items())},
    }


def lookbacks_from_dict(data: dict[str, Any]) -> LookbackPolicy:
    """Lookback windows from their stored form."""
    return LookbackPolicy(
        default=_window_from_dict(data["default"]),
        by_conversion={n: _window_from_dict(w) for n, w in data["by_conversion"].items()},
    )


def _window_to_dict(window: Lookback) -> dict[str, float]:
    return {"clicks": window.clicks.total_seconds(), "views": window.views.total_seconds()}


def _window_from_dict(data: dict[str, float]) -> Lookback:
    return Lookback(
        clicks=timedelta(seconds=data["clicks"]), views=timedelta(seconds=data["views"])
    )
