"""Reporting's inputs: attribution's log entries translated to plain conversion attributions."""

from __future__ import annotations

from common.wire import from_money_pb, from_timestamp
from convtrack.attribution.v1 import attribution_pb2
from services.reporting.domainmodel import AttributedCredit, ConversionAttribution, ModelCredits


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


def attribution_of(entry: attribution_pb2.LogEntry) -> ConversionAttribution | None:
    """The conversion attribution an entry carries, or None for an entry without an event."""
    if entry.WhichOneof("event") != "conversion_attributed":
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
    )
