"""Channel rules per property: each property's custom channel rules in ingest's store, compiled
once per stored version and looked up on the ingestion path through a short cache.

Each property's rules are a `PropertyChannelRules` aggregate (so every change is an event,
audited and replayable); property id "*" holds the deployment default for properties without
their own; where nobody chose, the built-in default channel group applies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEvent, event
from eventsourcing.persistence import IntegrityError

from services.ingest.channel_groups import DEFAULT_CHANNEL_GROUP, ChannelGroup
from services.ingest.custom_channels import ChannelRules, compiled_group

DEFAULT_PROPERTY = "*"
# How long a replica classifies with what it read before reading a property's rules again
# (another replica's change applies within this time).
CACHE_SECONDS = 1.0
CACHE_LIMIT = 10_000
SAVE_ATTEMPTS = 20


class ChannelRulesSource(StrEnum):
    """Where the channel rules that apply to a property come from."""

    BUILT_IN = "built_in"
    DEFAULT = "default"
    PROPERTY = "property"


@dataclass(frozen=True, slots=True)
class AppliedChannelRules:
    """The channel rules of one property and where they come from."""

    rules: ChannelRules
    source: ChannelRulesSource


def channel_rules_id(property_id: str) -> UUID:
    """The id of a property's channel rules aggregate."""
    return uuid5(NAMESPACE_URL, f"https://convtrack.dev/ns/ingest-channel-rules/{property_id}")


class PropertyChannelRules(Aggregate):
    """One property's channel rules (or the deployment default's, "*")."""

    Opened: ClassVar[type[DomainEvent]]
    Chosen: ClassVar[type[DomainEvent]]

    @event("Opened")
    def __init__(self, *, id: UUID, property_id: str) -> None:
        self.property_id = property_id
        self.stored: dict[str, Any] = ChannelRules().to_dict()

    @event("Chosen")
    def choose(self, *, rules: dict[str, Any], chosen_at: datetime) -> None:
        """Records the property's rules (in `ChannelRules.to_dict` form)."""
        self.stored = rules
        self.chosen_at = chosen_at

    @property
    def rules(self) -> ChannelRules:
        """The rules chosen."""
        return ChannelRules.from_dict(self.stored)


@dataclass(frozen=True, slots=True)
class _Read:
    """What a replica read of one property: when, the aggregate's id and version (None when
    the property has no rules of its own) and its rules."""

    at: float
    version: tuple[UUID, int] | None
    rules: ChannelRules | None


class ChannelRulesBook:
    """The channel rules use cases on ingest's event store: each property's rules, and the
    compiled channel group the ingestion path classifies its touchpoints with."""

    def __init__(self, app: Application[UUID], clock: Callable[[], float] = time.monotonic) -> None:
        self._app = app
        self._clock = clock
        self._lock = threading.Lock()
        self._reads: dict[str, _Read] = {}
        self._groups: dict[str, tuple[float, ChannelGroup]] = {}
        self._compiled: dict[tuple[UUID, int], ChannelGroup] = {}

    def applying_to(self, property_id: str) -> AppliedChannelRules:
        """The rules that apply to `property_id` (or, for "*", to every property without its
        own) and where they come from."""
        own = self._read(property_id).rules
        if own is not None:
            source = (
                ChannelRulesSource.DEFAULT
                if property_id == DEFAULT_PROPERTY
                else ChannelRulesSource.PROPERTY
            )
            return AppliedChannelRules(own, source)
        if property_id != DEFAULT_PROPERTY:
            default = self._read(DEFAULT_PROPERTY).rules
            if default is not None:
                return AppliedChannelRules(default, ChannelRulesSource.DEFAULT)
        return AppliedChannelRules(ChannelRules(), ChannelRulesSource.BUILT_IN)

    def group_for(self, property_id: str) -> ChannelGroup:
        """The channel group `property_id`'s touchpoints are classified with: its own rules,
        else the deployment default's, else the built-in group. Called once per touchpoint:
        answers from memory, reading the store again at most once a second per property and
        compiling rules once per stored version."""
        cached = self._groups.get(property_id)
        now = self._clock()
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        read = self._read(property_id)
        if read.version is None and property_id != DEFAULT_PROPERTY:
            read = self._read(DEFAULT_PROPERTY)
        group = self._group(read)
        with self._lock:
            if len(self._groups) >= CACHE_LIMIT:
                self._groups.clear()
            self._groups[property_id] = (now, group)
        return group

    def choose(
        self, property_id: str, rules: ChannelRules, *, now: datetime
    ) -> AppliedChannelRules:
        """Stores the property's rules (checked with `custom_channels.rule_problems` first);
        they apply to touchpoints received from now on (on other replicas within a second).
        Returns what applies from now on."""
        compiled_group(rules)  # refuses rules that could not be compiled
        for _ in range(SAVE_ATTEMPTS):
            aggregate = self._load(property_id) or PropertyChannelRules(
                id=channel_rules_id(property_id), property_id=property_id
            )
            aggregate.choose(rules=rules.to_dict(), chosen_at=now)
            try:
                self._app.save(aggregate)
            except IntegrityError:  # another replica chose at the same moment: read again
                continue
            with self._lock:
                self._reads.pop(property_id, None)
                if property_id == DEFAULT_PROPERTY:  # every property may fall back to it
                    self._groups.clear()
                else:
                    self._groups.pop(property_id, None)
            return self.applying_to(property_id)
        raise RuntimeError("could not store the channel rules: concurrent writers conflicted")

    def _group(self, read: _Read) -> ChannelGroup:
        if read.version is None or read.rules is None:
            return DEFAULT_CHANNEL_GROUP
        group = self._compiled.get(read.version)
        if group is None:
            group = compiled_group(read.rules)
            with self._lock:
                if len(self._compiled) >= CACHE_LIMIT:
                    self._compiled.clear()
                self._compiled[read.version] = group
        return group

    def _read(self, property_id: str) -> _Read:
        now = self._clock()
        cached = self._reads.get(property_id)
        if cached is not None and now - cached.at < CACHE_SECONDS:
            return cached
        aggregate = self._load(property_id)
        read = (
            _Read(now, None, None)
            if aggregate is None
            else _Read(now, (aggregate.id, aggregate.version), aggregate.rules)
        )
        with self._lock:
            if len(self._reads) >= CACHE_LIMIT:
                self._reads.clear()
            self._reads[property_id] = read
        return read

    def _load(self, property_id: str) -> PropertyChannelRules | None:
        try:
            aggregate: PropertyChannelRules = self._app.repository.get(
                channel_rules_id(property_id)
            )
        except AggregateNotFoundError:
            return None
        return aggregate
