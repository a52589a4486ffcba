"""Consent defaults per property: what an event whose consent for a purpose is unknown counts
as. A property that requires opt-in chooses "denied until granted"; the others count unknown
as granted (as before defaults existed).

Each property's choice is a `PropertyConsentDefaults` aggregate in ingest's store (so every
change is an event, audited and replayable); property id "*" holds the deployment default
for properties without their own; the environment (`INGEST_CONSENT_DEFAULT_ANALYTICS`,
`_ADVERTISING`) applies where nobody chose.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEvent, event
from eventsourcing.persistence import IntegrityError

from common.consent import Consent, ConsentState
from common.settings import SettingsError, env_str

DEFAULT_PROPERTY = "*"
# How long a replica answers from what it read before reading a property's choice again
# (another replica's change is seen within this time).
CACHE_SECONDS = 1.0
CACHE_LIMIT = 10_000
SAVE_ATTEMPTS = 20


class ConsentDefaultsSource(StrEnum):
    """Where the defaults that apply to a property come from."""

    ENVIRONMENT = "environment"
    DEFAULT = "default"
    PROPERTY = "property"


@dataclass(frozen=True, slots=True)
class ConsentDefaults:
    """Whether unknown consent counts as denied, per purpose."""

    analytics_denied: bool = False
    advertising_denied: bool = False

    def applied_to(self, consent: Consent) -> Consent:
        """`consent` with each unknown purpose denied where the defaults deny it."""
        return Consent(
            ConsentState.DENIED
            if self.analytics_denied and consent.analytics is ConsentState.UNKNOWN
            else consent.analytics,
            ConsentState.DENIED
            if self.advertising_denied and consent.advertising is ConsentState.UNKNOWN
            else consent.advertising,
        )


@dataclass(frozen=True, slots=True)
class AppliedDefaults:
    """The defaults of one property and where they come from."""

    defaults: ConsentDefaults
    source: ConsentDefaultsSource


def consent_defaults_settings(env: Mapping[str, str]) -> ConsentDefaults:
    """`INGEST_CONSENT_DEFAULT_ANALYTICS` and `INGEST_CONSENT_DEFAULT_ADVERTISING`: `granted`
    (the default) or `denied`, for properties that never chose."""
    denied = {}
    for purpose in ("analytics", "advertising"):
        key = f"INGEST_CONSENT_DEFAULT_{purpose.upper()}"
        value = env_str(env, key, "granted").lower()
        if value not in ("granted", "denied"):
            raise SettingsError(f"{key} must be granted or denied, not {value!r}")
        denied[purpose] = value == "denied"
    return ConsentDefaults(denied["analytics"], denied["advertising"])


def consent_defaults_id(property_id: str) -> UUID:
    """The id of a property's consent defaults aggregate."""
    return uuid5(NAMESPACE_URL, f"https://convtrack.dev/ns/ingest-consent-defaults/{property_id}")


class PropertyConsentDefaults(Aggregate):
    """One property's choice of consent defaults (or the deployment default's, "*")."""

    Opened: ClassVar[type[DomainEvent]]
    Chosen: ClassVar[type[DomainEvent]]

    @event("Opened")
    def __init__(self, *, id: UUID, property_id: str) -> None:
        self.property_id = property_id
        self.defaults = ConsentDefaults()

    @event("Chosen")
    def choose(
        self, *, analytics_denied: bool, advertising_denied: bool, chosen_at: datetime
    ) -> None:
        """Records the property's choice."""
        self.defaults = ConsentDefaults(analytics_denied, advertising_denied)
        self.chosen_at = chosen_at


class ConsentDefaultsBook:
    """The consent defaults use cases on ingest's event store: each property's defaults,
    read through a short cache on the ingestion path."""

    def __init__(
        self,
        app: Application[UUID],
        environment: ConsentDefaults,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._app = app
        self._environment = environment
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, ConsentDefaults | None]] = {}

    def applying_to(self, property_id: str) -> AppliedDefaults:
        """The defaults that apply to `property_id` (or, for "*", to every property without
        its own) and where they come from."""
        own = self._chosen(property_id)
        if own is not None:
            source = (
                ConsentDefaultsSource.DEFAULT
                if property_id == DEFAULT_PROPERTY
                else ConsentDefaultsSource.PROPERTY
            )
            return AppliedDefaults(own, source)
        if property_id != DEFAULT_PROPERTY:
            default = self._chosen(DEFAULT_PROPERTY)
            if default is not None:
                return AppliedDefaults(default, ConsentDefaultsSource.DEFAULT)
        return AppliedDefaults(self._environment, ConsentDefaultsSource.ENVIRONMENT)

    def choose(
        self,
        property_id: str,
        *,
        analytics_denied: bool | None,
        advertising_denied: bool | None,
        now: datetime,
    ) -> AppliedDefaults:
        """Stores the property's choice; a purpose given as None keeps what applies to it
        now. Returns what applies from now on."""
        current = self.applying_to(property_id).defaults
        chosen = replace(
            current,
            **{
                name: value
                for name, value in (
                    ("analytics_denied", analytics_denied),
                    ("advertising_denied", advertising_denied),
                )
                if value is not None
            },
        )
        for _ in range(SAVE_ATTEMPTS):
            aggregate = self._load(property_id) or PropertyConsentDefaults(
                id=consent_defaults_id(property_id), property_id=property_id
            )
            aggregate.choose(
                analytics_denied=chosen.analytics_denied,
                advertising_denied=chosen.advertising_denied,
                chosen_at=now,
            )
            try:
                self._app.save(aggregate)
            except IntegrityError:  # another replica chose at the same moment: read again
                continue
            with self._lock:
                self._cache[property_id] = (self._clock(), chosen)
            return self.applying_to(property_id)
        raise RuntimeError("could not store the consent defaults: concurrent writers conflicted")

    def _chosen(self, property_id: str) -> ConsentDefaults | None:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(property_id)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        aggregate = self._load(property_id)
        chosen = aggregate.defaults if aggregate is not None else None
        with self._lock:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[property_id] = (now, chosen)
        return chosen

    def _load(self, property_id: str) -> PropertyConsentDefaults | None:
        try:
            aggregate: PropertyConsentDefaults = self._app.repository.get(
                consent_defaults_id(property_id)
            )
        except AggregateNotFoundError:
            return None
        return aggregate
