"""Reporting's inputs: attribution's log entries translated to plain conversion attributions
and the models each property is configured with, ingest's to spend figures and visit events."""

from __future__ import annotations

from common.values import Identifier, IdentifierType
from common.wire import from_identifier_pb, from_money_pb, from_timestamp
from convtrack.attribution.v1 import attribution_pb2
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
        return ConfiguredModels(
            property_id=changed.property_id,
            models=None if follows else tuple(m.name for m in changed.models),
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


def activity_of(entry: ingest_pb2.LogEntry) -> SpendEntry | VisitEvent | None:
    """A spend figure, or a visit event of a touchpoint (not an impression) or page view by a
    visitor who is not a bot; None for other entries."""
    kind = entry.WhichOneof("event")
    if kind == "spend_recorded":
        return _spend(entry.spend_recorded)
    if kind == "page_view_recorded":
        return _visit(entry.page_view_recorded.envelope, None)
    if kind == "touchpoint_recorded":
        t = entry.touchpoint_recorded
        if t.type == ingest_pb2.TOUCHPOINT_TYPE_IMPRESSION:
            return None
        return _visit(t.envelope, (t.channel, t.source, t.medium, t.campaign))
    return None
