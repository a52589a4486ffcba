"""Attribution's inputs: ingest's and identity's log entries translated to plain values."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from common.wire import from_identifier_pb, from_money_pb, from_timestamp, identifier_keys
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2
from services.attribution.domainmodel import (
    ConversionSeen,
    IdentifierShared,
    OutcomeSeen,
    PersonChanged,
    PersonForgottenSeen,
    PersonSplitSeen,
    ProbabilisticLinkSeen,
    TouchpointSeen,
)
from services.attribution.models import JourneyTouch
from services.attribution.outcomes import OutcomeValue

# Landing URLs repeat (campaign links): parsing each once spares `urlsplit` per touchpoint.
LANDING_PAGE_CACHE_SIZE = 1 << 14
_TOUCH_TYPES = {
    ingest_pb2.TOUCHPOINT_TYPE_CLICK: "click",
    ingest_pb2.TOUCHPOINT_TYPE_IMPRESSION: "impression",
    ingest_pb2.TOUCHPOINT_TYPE_VISIT: "visit",
}


def _keys(identifiers: list[common_pb2.Identifier]) -> tuple[str, ...]:
    return identifier_keys(identifiers)


@lru_cache(maxsize=LANDING_PAGE_CACHE_SIZE)
def landing_page_of(url: str) -> str:
    """The path of a landing URL, without query or fragment ("/" for a URL without a path;
    "" without a URL)."""
    if not url:
        return ""
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return ""


def _denied(state: int) -> bool:
    return state == ingest_pb2.CONSENT_STATE_DENIED


def _amount(
    sent: common_pb2.Money, reporting: common_pb2.Money, present: bool
) -> OutcomeValue | None:
    if not present:
        return None
    as_sent, converted = from_money_pb(sent), from_money_pb(reporting)
    return OutcomeValue(
        as_sent.currency_code,
        as_sent.to_micros(),
        converted.currency_code,
        converted.to_micros(),
    )


def _outcome(o: ingest_pb2.OutcomeRecorded) -> OutcomeSeen:
    return OutcomeSeen(
        property_id=o.envelope.property_id,
        record_id=o.envelope.record_id,
        conversion_id=o.conversion_id,
        conversion_name=o.conversion_name,
        occurred_at=from_timestamp(o.envelope.occurred_at),
        stage=o.stage,
        value=_amount(o.value, o.reporting_value, o.HasField("value")),
        refund=_amount(o.refund, o.reporting_refund, o.HasField("refund")),
        retracted=o.retracted,
    )


def ingest_input(
    entry: ingest_pb2.LogEntry,
) -> TouchpointSeen | ConversionSeen | OutcomeSeen | None:
    """A touchpoint, conversion or outcome from ingest's log; None for other entries."""
    kind = entry.WhichOneof("event")
    if kind == "outcome_recorded":
        return _outcome(entry.outcome_recorded)
    if kind == "touchpoint_recorded":
        # Each nested field read builds a message view: read each once (most of the cost).
        t = entry.touchpoint_recorded
        envelope = t.envelope
        device = envelope.device
        record_id = envelope.record_id
        return TouchpointSeen(
            property_id=envelope.property_id,
            record_id=record_id,
            identifiers=_keys(list(envelope.identifiers)),
            touch=JourneyTouch(
                touchpoint_id=record_id,
                occurred_at=from_timestamp(envelope.occurred_at),
                channel=t.channel,
                source=t.source,
                medium=t.medium,
                campaign=t.campaign,
                touch_type=_TOUCH_TYPES.get(t.type, "click"),
                term=t.term,
                content=t.content,
                device_type=device.device_type,
                browser=device.browser,
                country=envelope.network.geo_country,
                landing_page=landing_page_of(t.landing_url),
                advertising_denied=_denied(envelope.consent.advertising),
            ),
            is_bot=device.is_bot,
        )
    if kind == "conversion_recorded":
        c = entry.conversion_recorded
        value = from_money_pb(c.value)
        reporting = from_money_pb(c.reporting_value)
        unconsented = _denied(c.envelope.consent.analytics)
        advertising_denied = _denied(c.envelope.consent.advertising)
        return ConversionSeen(
            property_id=c.envelope.property_id,
            record_id=c.envelope.record_id,
            event_id=c.envelope.event_id,
            name=c.name,
            occurred_at=from_timestamp(c.envelope.occurred_at),
            identifiers=_keys(list(c.envelope.identifiers)),
            currency_code=value.currency_code,
            value_micros=value.to_micros(),
            reporting_currency_code=reporting.currency_code,
            reporting_value_micros=reporting.to_micros(),
            unconsented=unconsented,
            advertising_denied=advertising_denied,
            own_touch=(
                JourneyTouch(
                    touchpoint_id=c.envelope.record_id,
                    occurred_at=from_timestamp(c.envelope.occurred_at),
                    channel=c.channel or "direct",
                    source=c.source,
                    medium=c.medium,
                    campaign=c.campaign,
                    touch_type="visit",
                    device_type=c.envelope.device.device_type,
                    browser=c.envelope.device.browser,
                    country=c.envelope.network.geo_country,
                    advertising_denied=advertising_denied,
                )
                if unconsented
                else None
            ),
        )
    return None


IdentityInput = (
    PersonChanged | PersonSplitSeen | IdentifierShared | PersonForgottenSeen | ProbabilisticLinkSeen
)


def identity_input(entry: identity_pb2.LogEntry) -> IdentityInput | None:
    """A change of a person's identifiers from identity's log; None for other entries."""
    kind = entry.WhichOneof("event")
    translate = IDENTITY_TRANSLATIONS.get(kind) if kind is not None else None
    return translate(getattr(entry, kind)) if translate is not None and kind else None


def _person_created(p: identity_pb2.PersonCreated) -> IdentityInput:
    return PersonChanged(p.property_id, p.person_id, _keys(list(p.identifiers)))


def _identifiers_linked(linked: identity_pb2.IdentifiersLinked) -> IdentityInput:
    return PersonChanged(linked.property_id, linked.person_id, _keys(list(linked.identifiers)))


def _persons_merged(m: identity_pb2.PersonsMerged) -> IdentityInput:
    return PersonChanged(
        m.property_id,
        m.surviving_person_id,
        _keys(list(m.identifiers)),
        merged_person_id=m.merged_person_id,
    )


def _person_split(split: identity_pb2.PersonSplit) -> IdentityInput:
    return PersonSplitSeen(
        split.property_id,
        split.person_id,
        tuple((part.person_id, _keys(list(part.identifiers))) for part in split.parts),
    )


def _person_forgotten(forgotten: identity_pb2.PersonForgotten) -> IdentityInput:
    return PersonForgottenSeen(
        forgotten.property_id, forgotten.person_id, _keys(list(forgotten.identifiers))
    )


def _identifier_marked_shared(shared: identity_pb2.IdentifierMarkedShared) -> IdentityInput:
    return IdentifierShared(
        shared.property_id, from_identifier_pb(shared.identifier).key, shared.shared_person_id
    )


def _probabilistic_link(accepted: bool) -> Callable[[Any], IdentityInput]:
    def translate(link: Any) -> IdentityInput:
        return ProbabilisticLinkSeen(
            link.property_id,
            from_identifier_pb(link.a).key,
            from_identifier_pb(link.b).key,
            accepted=accepted,
        )

    return translate


# What attribution reads of each `LogEntry.event` of identity's log; events listed in
# IGNORED_IDENTITY_EVENTS change no journey.
IDENTITY_TRANSLATIONS: dict[str, Callable[[Any], IdentityInput]] = {
    "person_created": _person_created,
    "identifiers_linked": _identifiers_linked,
    "persons_merged": _persons_merged,
    "person_split": _person_split,
    "person_forgotten": _person_forgotten,
    "identifier_marked_shared": _identifier_marked_shared,
    "probabilistic_link_added": _probabilistic_link(accepted=True),
    "probabilistic_link_removed": _probabilistic_link(accepted=False),
}
IGNORED_IDENTITY_EVENTS = frozenset({"merge_refused"})
