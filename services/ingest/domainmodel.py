"""Ingest's domain: incoming events as plain values, and the recorded facts of its log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from hashlib import sha1
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, SafeUUID, uuid5

from eventsourcing.domain import Aggregate, DomainEvent, event

from common.money import Money
from services.ingest.consent import IncomingConsent
from services.ingest.enrichment import CampaignTags, ClickIds

RECORD_NAMESPACE = uuid5(NAMESPACE_URL, "https://convtrack.dev/ns/ingest-record")
_RECORD_NAMESPACE_BYTES = RECORD_NAMESPACE.bytes
# A UUIDv5's int from the first 16 bytes of its SHA-1: the version (5) and the RFC 4122
# variant bits set as `UUID(bytes=..., version=5)` sets them.
_VERSION_5_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_5_SET = (5 << 76) | (0x8000 << 48)
# How `UUID.__init__` and `__setstate__` set an immutable UUID's slots.
_new_object = object.__new__
_set_attribute = object.__setattr__


class EventKind(StrEnum):
    """What an incoming event reports."""

    TOUCHPOINT = "touchpoint"
    PAGE_VIEW = "page_view"
    CONVERSION = "conversion"
    IDENTIFY = "identify"
    OUTCOME = "outcome"


class TouchpointType(StrEnum):
    """The kind of a marketing contact."""

    CLICK = "click"
    IMPRESSION = "impression"
    VISIT = "visit"


@dataclass(slots=True)
class IncomingTouchpoint:
    """A touchpoint as sent; `type` is None when the sender's type is not a known one.
    Treated as immutable, not frozen: one is built per touchpoint (see `IncomingEvent`)."""

    type: TouchpointType | None = TouchpointType.VISIT
    landing_url: str = ""
    referrer: str = ""
    tags: CampaignTags = field(default_factory=CampaignTags)
    click_ids: ClickIds = field(default_factory=ClickIds)


@dataclass(slots=True)
class IncomingPageView:
    """A page view as sent. Treated as immutable, not frozen: one is built per page view
    (see `IncomingEvent`)."""

    url: str = ""
    title: str = ""


@dataclass(frozen=True, slots=True)
class IncomingConversion:
    """A conversion as sent; `value` is None when no value was sent."""

    name: str = ""
    value: Money | None = None
    order_id: str = ""


@dataclass(frozen=True, slots=True)
class IncomingOutcome:
    """A conversion's outcome as sent; `value` and `refund` are None when not sent."""

    conversion_name: str = ""
    order_id: str = ""
    stage: str = ""
    value: Money | None = None
    refund: Money | None = None
    retracted: bool = False


@dataclass(slots=True)
class IncomingEvent:
    """One event of a batch, as sent, before validation. `kind` is None when missing.

    Treated as immutable, but not frozen: a frozen dataclass sets each of its 21 fields
    through `object.__setattr__`, which made building one cost ~3.5x as much, once per
    event on ingest's hot path.
    """

    kind: EventKind | None
    property_id: str = ""
    event_id: str = ""
    timestamp: datetime | None = None
    timestamp_error: str = ""
    anonymous_id: str = ""
    user_id: str = ""
    email: str = ""
    email_sha256: str = ""
    user_agent: str = ""
    page_url: str = ""
    referrer: str = ""
    ip_address: str = ""
    geo_country: str = ""
    geo_city: str = ""
    touchpoint: IncomingTouchpoint | None = None
    page_view: IncomingPageView | None = None
    conversion: IncomingConversion | None = None
    outcome: IncomingOutcome | None = None
    size_bytes: int = 0
    consent: IncomingConsent = field(default_factory=IncomingConsent)


def is_late(event: object) -> bool:
    """Whether a recorded fact's event arrived late; False for events stored before the flag."""
    return bool(getattr(event, "late", False))


def record_id(property_id: str, key: str) -> UUID:
    """The deterministic id of a recorded fact, from its property and de-duplication key."""
    # uuid5(RECORD_NAMESPACE, ...) without reading the namespace's bytes on every call
    # (a third of the cost of each id), and without `UUID.__init__`'s argument checks (a
    # third of the rest: one id per event); tests/unit/test_ingest_record_ids.py checks
    # equality, version, variant and safety with uuid5's.
    digest = sha1(_RECORD_NAMESPACE_BYTES + f"{property_id}\x1f{key}".encode()).digest()
    made = _new_object(UUID)
    _set_attribute(made, "int", int.from_bytes(digest[:16]) & _VERSION_5_CLEAR | _VERSION_5_SET)
    _set_attribute(made, "is_safe", SafeUUID.unknown)
    return made


def conversion_record_id(property_id: str, event_id: str, name: str, order_id: str) -> UUID:
    """A conversion's id: by (name, order id) when there is an order id, else by event id."""
    if order_id:
        return record_id(property_id, f"order\x1f{name}\x1f{order_id}")
    return record_id(property_id, event_id)


class RecordedFact(Aggregate):
    """Base of ingest's facts: one immutable fact per aggregate, stored once by its id.

    `network` holds the weak signals "ip_pseudonym", "network_pseudonym", "geo_country" and
    "geo_city" (never a raw IP address); facts recorded before it existed have none.
    `consent` is `common.consent.Consent.to_dict()`; facts recorded before it have none
    (read as unknown).
    """

    property_id: str
    event_id: str
    occurred_at: datetime
    received_at: datetime
    identifiers: list[str]
    device: dict[str, Any]
    trace_parent: str
    sealed_identifiers: dict[str, str]
    network: dict[str, str]
    late: bool
    consent: dict[str, str]


class Touchpoint(RecordedFact):
    """A marketing contact, with its derived channel."""

    Recorded: ClassVar[type[DomainEvent]]

    @event("Recorded")
    def __init__(
        self,
        *,
        id: UUID,
        property_id: str,
        event_id: str,
        occurred_at: datetime,
        received_at: datetime,
        identifiers: list[str],
        device: dict[str, Any],
        trace_parent: str,
        sealed_identifiers: dict[str, str],
        network: dict[str, str],
        late: bool = False,
        consent: dict[str, str] | None = None,
        touch_type: str,
        channel: str,
        source: str,
        medium: str,
        campaign: str,
        term: str,
        content: str,
        landing_url: str,
        referrer_host: str,
        click_id_type: str,
    ) -> None:
        self.property_id = property_id
        self.event_id = event_id
        self.occurred_at = occurred_at
        self.received_at = received_at
        self.identifiers = identifiers
        self.device = device
        self.trace_parent = trace_parent
        self.sealed_identifiers = sealed_identifiers
        self.network = network
        self.late = late
        self.consent = consent or {}
        self.touch_type = touch_type
        self.channel = channel
        self.source = source
        self.medium = medium
        self.campaign = campaign
        self.term = term
        self.content = content
        self.landing_url = landing_url
        self.referrer_host = referrer_host
        self.click_id_type = click_id_type


class PageView(RecordedFact):
    """A page view."""

    Recorded: ClassVar[type[DomainEvent]]

    @event("Recorded")
    def __init__(
        self,
        *,
        id: UUID,
        property_id: str,
        event_id: str,
        occurred_at: datetime,
        received_at: datetime,
        identifiers: list[str],
        device: dict[str, Any],
        trace_parent: str,
        sealed_identifiers: dict[str, str],
        network: dict[str, str],
        late: bool = False,
        consent: dict[str, str] | None = None,
        url: str,
        title: str,
    ) -> None:
        self.property_id = property_id
        self.event_id = event_id
        self.occurred_at = occurred_at
        self.received_at = received_at
        self.identifiers = identifiers
        self.device = device
        self.trace_parent = trace_parent
        self.sealed_identifiers = sealed_identifiers
        self.network = network
        self.late = late
        self.consent = consent or {}
        self.url = url
        self.title = title


class Conversion(RecordedFact):
    """A conversion, with its value as sent and in the reporting currency (as micros).

    Recorded with analytics consent denied, it also holds the channel, source, medium and
    campaign of its own page URL and referrer (what it is credited to, having no journey).
    """

    Recorded: ClassVar[type[DomainEvent]]

    @event("Recorded")
    def __init__(
        self,
        *,
        id: UUID,
        property_id: str,
        event_id: str,
        occurred_at: datetime,
        received_at: datetime,
        identifiers: list[str],
        device: dict[str, Any],
        trace_parent: str,
        sealed_identifiers: dict[str, str],
        network: dict[str, str],
        late: bool = False,
        consent: dict[str, str] | None = None,
        name: str,
        currency_code: str,
        value_micros: int,
        reporting_currency_code: str,
        reporting_value_micros: int,
        order_id: str,
        channel: str = "",
        source: str = "",
        medium: str = "",
        campaign: str = "",
    ) -> None:
        self.property_id = property_id
        self.event_id = event_id
        self.occurred_at = occurred_at
        self.received_at = received_at
        self.identifiers = identifiers
        self.device = device
        self.trace_parent = trace_parent
        self.sealed_identifiers = sealed_identifiers
        self.network = network
        self.late = late
        self.consent = consent or {}
        self.name = name
        self.currency_code = currency_code
        self.value_micros = value_micros
        self.reporting_currency_code = reporting_currency_code
        self.reporting_value_micros = reporting_value_micros
        self.order_id = order_id
        self.channel = channel
        self.source = source
        self.medium = medium
        self.campaign = campaign


class ConversionOutcome(RecordedFact):
    """An outcome of a conversion (a stage, a new value, a refund or a retraction), keyed by
    its own event id; `conversion_id` is the id of the conversion it refers to (by name and
    order id), recorded or not. It keeps no identifier. Amounts are micros; an empty
    currency code means the outcome carries no such amount."""

    Recorded: ClassVar[type[DomainEvent]]

    @event("Recorded")
    def __init__(
        self,
        *,
        id: UUID,
        property_id: str,
        event_id: str,
        occurred_at: datetime,
        received_at: datetime,
        identifiers: list[str],
        device: dict[str, Any],
        trace_parent: str,
        sealed_identifiers: dict[str, str],
        network: dict[str, str],
        late: bool = False,
        consent: dict[str, str] | None = None,
        conversion_name: str,
        order_id: str,
        conversion_id: str,
        stage: str,
        currency_code: str,
        value_micros: int,
        refund_currency_code: str,
        refund_micros: int,
        reporting_currency_code: str,
        reporting_value_micros: int,
        reporting_refund_micros: int,
        retracted: bool,
    ) -> None:
        self.property_id = property_id
        self.event_id = event_id
        self.occurred_at = occurred_at
        self.received_at = received_at
        self.identifiers = identifiers
        self.device = device
        self.trace_parent = trace_parent
        self.sealed_identifiers = sealed_identifiers
        self.network = network
        self.late = late
        self.consent = consent or {}
        self.conversion_name = conversion_name
        self.order_id = order_id
        self.conversion_id = conversion_id
        self.stage = stage
        self.currency_code = currency_code
        self.value_micros = value_micros
        self.refund_currency_code = refund_currency_code
        self.refund_micros = refund_micros
        self.reporting_currency_code = reporting_currency_code
        self.reporting_value_micros = reporting_value_micros
        self.reporting_refund_micros = reporting_refund_micros
        self.retracted = retracted


class Identification(RecordedFact):
    """An identify call: the identifiers belong to one person."""

    Recorded: ClassVar[type[DomainEvent]]

    @event("Recorded")
    def __init__(
        self,
        *,
        id: UUID,
        property_id: str,
        event_id: str,
        occurred_at: datetime,
        received_at: datetime,
        identifiers: list[str],
        device: dict[str, Any],
        trace_parent: str,
        sealed_identifiers: dict[str, str],
        network: dict[str, str],
        late: bool = False,
        consent: dict[str, str] | None = None,
    ) -> None:
        self.property_id = property_id
        self.event_id = event_id
        self.occurred_at = occurred_at
        self.received_at = received_at
        self.identifiers = identifiers
        self.device = device
        self.trace_parent = trace_parent
        self.sealed_identifiers = sealed_identifiers
        self.network = network
        self.late = late
        self.consent = consent or {}


def spend_record_id(property_id: str, day: str, source: str, medium: str, campaign: str) -> UUID:
    """The id of a spend key's record: (property, day, source, medium, campaign)."""
    return record_id(property_id, "\x1f".join(("spend", day, source, medium, campaign)))


@dataclass(frozen=True, slots=True)
class SpendFigure:
    """A day's spend on one campaign as ingest keeps it: the key, the channel, the cost as
    sent and in the reporting currency (micros)."""

    property_id: str
    day: str
    channel: str
    source: str
    medium: str
    campaign: str
    currency_code: str
    cost_micros: int
    reporting_currency_code: str
    reporting_cost_micros: int

    @property
    def record_id(self) -> UUID:
        """The id of its key's record."""
        return spend_record_id(self.property_id, self.day, self.source, self.medium, self.campaign)


class SpendLine(Aggregate):
    """The spend of one key (property, day, source, medium, campaign): each figure sent for
    it is an event, and the latest holds. Its events' versions are the figure's revisions."""

    Recorded: ClassVar[type[DomainEvent]]
    Corrected: ClassVar[type[DomainEvent]]

    @event("Recorded")
    def __init__(
        self,
        *,
        id: UUID,
        property_id: str,
        day: str,
        channel: str,
        source: str,
        medium: str,
        campaign: str,
        currency_code: str,
        cost_micros: int,
        reporting_currency_code: str,
        reporting_cost_micros: int,
        received_at: datetime,
        trace_parent: str,
    ) -> None:
        self.property_id = property_id
        self.day = day
        self.source = source
        self.medium = medium
        self.campaign = campaign
        self._set(
            channel,
            currency_code,
            cost_micros,
            reporting_currency_code,
            reporting_cost_micros,
            received_at,
            trace_parent,
        )

    def _set(
        self,
        channel: str,
        currency_code: str,
        cost_micros: int,
        reporting_currency_code: str,
        reporting_cost_micros: int,
        received_at: datetime,
        trace_parent: str,
    ) -> None:
        self.channel = channel
        self.currency_code = currency_code
        self.cost_micros = cost_micros
        self.reporting_currency_code = reporting_currency_code
        self.reporting_cost_micros = reporting_cost_micros
        self.received_at = received_at
        self.trace_parent = trace_parent

    @classmethod
    def record(cls, figure: SpendFigure, received_at: datetime, trace_parent: str) -> SpendLine:
        """A key's first figure."""
        return cls(
            id=figure.record_id,
            property_id=figure.property_id,
            day=figure.day,
            channel=figure.channel,
            source=figure.source,
            medium=figure.medium,
            campaign=figure.campaign,
            currency_code=figure.currency_code,
            cost_micros=figure.cost_micros,
            reporting_currency_code=figure.reporting_currency_code,
            reporting_cost_micros=figure.reporting_cost_micros,
            received_at=received_at,
            trace_parent=trace_parent,
        )

    def holds(self, figure: SpendFigure) -> bool:
        """Whether its current figure is this one (channel and cost as sent)."""
        return (
            self.channel == figure.channel
            and self.currency_code == figure.currency_code
            and self.cost_micros == figure.cost_micros
        )

    def correct_to(self, figure: SpendFigure, received_at: datetime, trace_parent: str) -> None:
        """Replaces the key's figure by `figure` (a day re-sent corrected)."""
        self.correct(
            property_id=self.property_id,
            day=self.day,
            source=self.source,
            medium=self.medium,
            campaign=self.campaign,
            channel=figure.channel,
            currency_code=figure.currency_code,
            cost_micros=figure.cost_micros,
            reporting_currency_code=figure.reporting_currency_code,
            reporting_cost_micros=figure.reporting_cost_micros,
            received_at=received_at,
            trace_parent=trace_parent,
        )

    @event("Corrected")
    def correct(
        self,
        *,
        property_id: str,
        day: str,
        source: str,
        medium: str,
        campaign: str,
        channel: str,
        currency_code: str,
        cost_micros: int,
        reporting_currency_code: str,
        reporting_cost_micros: int,
        received_at: datetime,
        trace_parent: str,
    ) -> None:
        """Replaces the figure; the event repeats the key, so each log entry is whole."""
        self._set(
            channel,
            currency_code,
            cost_micros,
            reporting_currency_code,
            reporting_cost_micros,
            received_at,
            trace_parent,
        )
