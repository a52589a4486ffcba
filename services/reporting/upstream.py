"""Reporting's inputs: attribution's log entries translated to plain conversion attributions
and the models each property is configured with, ingest's to spend figures, visits and the
events funnels count, identity's to the persons identifiers belong to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from common.values import Identifier, IdentifierType
from common.wire import from_identifier_pb, from_money_pb, from_timestamp
from convtrack.attribution.v1 import attribution_pb2
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2
from services.reporting.domainmodel import (
    AttributedCredit,
    ConfiguredModels,
    ConversionAttribution,
    ModelCredits,
    ReportingInput,
    Retraction,
    SpendEntry,
    StageChange,
    VisitEvent,
)
from services.reporting.path_values import PathSummary
from services.reporting.person_values import (
    ConversionRetraction,
    EventKind,
    IdentityChange,
    PersonEvent,
    TrackedVisit,
)
from services.reporting.sessions import DIRECT_CHANNEL

VISITOR_TYPES = (IdentifierType.ANONYMOUS_ID, IdentifierType.USER_ID)
"""The identifier that names a visitor, in order of preference."""


def _credit(message: attribution_pb2.Credit) -> AttributedCredit:
    return AttributedCredit(
        touchpoint_id=message.touchpoint_id,
        channel=message.channel,
        source=message.source,
        medium=message.medium,
        campaign=message.campaign,
        fraction=message.fraction,
        value_micros=from_money_pb(message.value).to_micros(),
        term=message.term,
        content=message.content,
        device_type=message.device_type,
        browser=message.browser,
        country=message.country,
        landing_page=message.landing_page,
    )


def attribution_of(entry: attribution_pb2.LogEntry) -> ReportingInput | None:
    """The conversion attribution or the configured models an entry carries, or None for an
    entry without either."""
    kind = entry.WhichOneof("event")
    if kind == "settings_changed":
        changed = entry.settings_changed
        follows = changed.models_source == attribution_pb2.SETTING_SOURCE_DEFAULT
        identity_follows = (
            changed.reporting_identity_source == attribution_pb2.SETTING_SOURCE_DEFAULT
            or changed.reporting_identity == common_pb2.REPORTING_IDENTITY_UNSPECIFIED
        )
        return ConfiguredModels(
            property_id=changed.property_id,
            models=None if follows else tuple(m.name for m in changed.models),
            blended=(
                None
                if identity_follows
                else changed.reporting_identity == common_pb2.REPORTING_IDENTITY_BLENDED
            ),
        )
    if kind == "conversion_stage_changed":
        staged = entry.conversion_stage_changed
        reporting = from_money_pb(staged.reporting_value)
        return StageChange(
            property_id=staged.property_id,
            conversion_id=staged.conversion_id,
            conversion_name=staged.conversion_name,
            occurred_at=from_timestamp(staged.occurred_at),
            stage=staged.stage,
            stages=tuple((s.stage, from_timestamp(s.reached_at)) for s in staged.stages),
            currency_code=reporting.currency_code,
            value_micros=reporting.to_micros(),
        )
    if kind == "conversion_retracted":
        retracted = entry.conversion_retracted
        return Retraction(retracted.property_id, retracted.conversion_id)
    if kind != "conversion_attributed":
        return None
    event = entry.conversion_attributed
    return ConversionAttribution(
        property_id=event.property_id,
        conversion_id=event.conversion_id,
        event_id=event.event_id,
        conversion_name=event.conversion_name,
        occurred_at=from_timestamp(event.occurred_at),
        currency_code=event.reporting_value.currency_code,
        value_micros=from_money_pb(event.reporting_value).to_micros(),
        revision=event.revision,
        models=tuple(
            ModelCredits(model=m.model, credits=tuple(_credit(c) for c in m.credits))
            for m in event.models
        ),
        unconsented=event.unconsented,
        path=_path(event.path) if event.HasField("path") else None,
    )


def _path(message: attribution_pb2.ConversionPath) -> PathSummary:
    return PathSummary(
        channels=tuple(message.channels),
        run_lengths=tuple(message.run_lengths),
        touchpoint_count=message.touchpoint_count,
        first_touch_at=(
            from_timestamp(message.first_touch_at) if message.HasField("first_touch_at") else None
        ),
        last_non_direct_channel=message.last_non_direct_channel,
        head_runs=message.head_runs,
        omitted_runs=message.omitted_runs,
        omitted_touchpoints=message.omitted_touchpoints,
        omitted_channels=tuple(message.omitted_channels),
    )


def _visitor(envelope: ingest_pb2.RecordedEnvelope) -> str:
    """The event's anonymous id pseudonym, else its user id pseudonym; "" without either."""
    identifiers: list[Identifier] = [from_identifier_pb(i) for i in envelope.identifiers]
    for kind in VISITOR_TYPES:
        found = next((i.key for i in identifiers if i.type is kind), "")
        if found:
            return found
    return ""


def _spend(event: ingest_pb2.SpendRecorded) -> SpendEntry:
    reporting = from_money_pb(event.reporting_cost)
    original = from_money_pb(event.cost)
    return SpendEntry(
        property_id=event.property_id,
        day=event.date,
        channel=event.channel,
        source=event.source,
        medium=event.medium,
        campaign=event.campaign,
        currency_code=reporting.currency_code,
        cost_micros=reporting.to_micros(),
        original_currency_code=original.currency_code,
        original_cost_micros=original.to_micros(),
        revision=event.revision,
    )


def _visit(
    envelope: ingest_pb2.RecordedEnvelope, traffic: tuple[str, str, str, str] | None
) -> VisitEvent | None:
    visitor = _visitor(envelope)
    if not visitor or envelope.device.is_bot:
        return None
    channel, source, medium, campaign = traffic or ("", "", "", "")
    return VisitEvent(
        property_id=envelope.property_id,
        visitor=visitor,
        occurred_at=from_timestamp(envelope.occurred_at),
        campaign_touch=bool(channel) and channel != DIRECT_CHANNEL,
        channel=channel,
        source=source,
        medium=medium,
        campaign=campaign,
    )


def _person(envelope: ingest_pb2.RecordedEnvelope) -> str:
    """The identifier funnels count the event's person by: its visitor (anonymous id, else
    user id), else its first identifier (an offline conversion's email or CRM id); "" for an
    event without identifiers or of a bot."""
    if envelope.device.is_bot:
        return ""
    return _visitor(envelope) or next((from_identifier_pb(i).key for i in envelope.identifiers), "")


def path_of(url: str) -> str:
    """The path of a URL, without query or fragment ("/" for none; "" for no URL)."""
    if not url:
        return ""
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return ""


def _person_event(
    envelope: ingest_pb2.RecordedEnvelope,
    kind: EventKind,
    name: str,
    channel: str = "",
    value: Any = None,
) -> PersonEvent | None:
    person = _person(envelope)
    if not person:
        return None
    money = from_money_pb(value) if value is not None else None
    return PersonEvent(
        property_id=envelope.property_id,
        record_id=envelope.record_id,
        visitor=person,
        kind=kind,
        name=name,
        occurred_at=from_timestamp(envelope.occurred_at),
        channel=channel,
        value_micros=money.to_micros() if money is not None else 0,
        currency_code=money.currency_code if money is not None else "",
    )


def _tracked(
    envelope: ingest_pb2.RecordedEnvelope, visit: VisitEvent | None, event: PersonEvent | None
) -> TrackedVisit | PersonEvent | VisitEvent | None:
    if visit is not None and event is not None:
        return TrackedVisit(visit, event)
    return visit or event


Activity = SpendEntry | VisitEvent | PersonEvent | TrackedVisit | ConversionRetraction


def activity_of(entry: ingest_pb2.LogEntry) -> Activity | None:
    """A spend figure; a visit (a touchpoint but an impression, or a page view) with the
    event funnels count; a conversion or identify call as such an event; an outcome that
    retracts a conversion; None for other entries and for events of bots or without
    identifiers."""
    kind = entry.WhichOneof("event")
    if kind == "spend_recorded":
        return _spend(entry.spend_recorded)
    if kind == "page_view_recorded":
        view = entry.page_view_recorded
        return _tracked(
            view.envelope,
            _visit(view.envelope, None),
            _person_event(view.envelope, EventKind.PAGE_VIEW, path_of(view.url)),
        )
    if kind == "touchpoint_recorded":
        t = entry.touchpoint_recorded
        if t.type == ingest_pb2.TOUCHPOINT_TYPE_IMPRESSION:
            return None
        return _tracked(
            t.envelope,
            _visit(t.envelope, (t.channel, t.source, t.medium, t.campaign)),
            _person_event(
                t.envelope, EventKind.TOUCHPOINT, path_of(t.landing_url), channel=t.channel
            ),
        )
    if kind == "conversion_recorded":
        c = entry.conversion_recorded
        return _person_event(c.envelope, EventKind.CONVERSION, c.name, value=c.reporting_value)
    if kind == "identify_recorded":
        return _person_event(entry.identify_recorded.envelope, EventKind.IDENTIFY, "")
    if kind == "outcome_recorded" and entry.outcome_recorded.retracted:
        outcome = entry.outcome_recorded
        return ConversionRetraction(outcome.envelope.property_id, outcome.conversion_id)
    return None


def identity_of(entry: identity_pb2.LogEntry) -> IdentityChange | None:
    """Which person identifiers belong to after an entry of identity's log, or which
    probabilistic link it accepted or removed (the blended reporting identity joins persons
    by them); None for entries that change neither (refused merges)."""
    kind = entry.WhichOneof("event")
    translate = _IDENTITY_CHANGES.get(kind) if kind is not None else None
    return translate(getattr(entry, kind)) if translate is not None and kind else None


def _keys(identifiers: Any) -> tuple[str, ...]:
    return tuple(from_identifier_pb(i).key for i in identifiers)


def _moved(property_id: str, person_id: str, identifiers: Any) -> IdentityChange:
    return IdentityChange(property_id, ((person_id, _keys(identifiers)),))


def _split(split: identity_pb2.PersonSplit) -> IdentityChange:
    return IdentityChange(
        split.property_id,
        tuple((part.person_id, _keys(part.identifiers)) for part in split.parts),
    )


def _probable(accepted: bool) -> Callable[[Any], IdentityChange]:
    def translate(link: Any) -> IdentityChange:
        a, b = from_identifier_pb(link.a).key, from_identifier_pb(link.b).key
        return IdentityChange(link.property_id, (), ((a, b, accepted),))

    return translate


# What reporting reads of each `LogEntry.event` of identity's log.
_IDENTITY_CHANGES: dict[str, Callable[[Any], IdentityChange]] = {
    "person_created": lambda p: _moved(p.property_id, p.person_id, p.identifiers),
    "identifiers_linked": lambda p: _moved(p.property_id, p.person_id, p.identifiers),
    "persons_merged": lambda m: _moved(m.property_id, m.surviving_person_id, m.identifiers),
    "person_split": _split,
    "identifier_marked_shared": lambda s: _moved(s.property_id, s.shared_person_id, [s.identifier]),
    "person_forgotten": lambda f: _moved(f.property_id, "", f.identifiers),
    "probabilistic_link_added": _probable(accepted=True),
    "probabilistic_link_removed": _probable(accepted=False),
}
