"""One conversion's journey as the demo's tour shows it: the person's identifiers as identity
explains them (`ExplainPerson`) and the touchpoints with their credits under two models
(attribution's `GetAttribution`), as tables of services.commands.metric_output."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from common.settings import TlsSettings
from common.wire import from_money_pb, from_timestamp
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from services.commands.credentials import client_channel
from services.commands.metric_output import Column, Kind, MetricTable

CALL_TIMEOUT = 30.0
SHOWN_VALUE_CHARACTERS = 16
"""Identifier values longer than this (email hashes, cookie ids) are shown cut to it, with …."""

_TYPE_NAMES = {
    common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID: "anonymous id (a device's cookie)",
    common_pb2.IDENTIFIER_TYPE_USER_ID: "user id (a login)",
    common_pb2.IDENTIFIER_TYPE_EMAIL_SHA256: "email (SHA-256)",
    common_pb2.IDENTIFIER_TYPE_PHONE_SHA256: "phone (SHA-256)",
    common_pb2.IDENTIFIER_TYPE_CRM_ID: "CRM id",
}


@dataclass(frozen=True)
class Journey:
    """A conversion's person and credits, as identity and attribution answer them."""

    person: identity_pb2.ExplainPersonResponse
    attribution: attribution_pb2.ConversionAttributed

    @property
    def device_types(self) -> set[str]:
        """The device types its touchpoints came from."""
        return {t.device_type for t in self.attribution.journey if t.device_type}


def fetch_journey(
    identity_address: str,
    attribution_address: str,
    *,
    property_id: str,
    user_id: str,
    conversion_id: str,
    api_key: str | None = None,
    tls: TlsSettings | None = None,
) -> Journey:
    """The person of `user_id` explained (an admin call) and the latest attribution of the
    conversion `conversion_id` (ingest's record id)."""
    with client_channel(identity_address, api_key, tls) as channel:
        identity = identity_pb2_grpc.IdentityServiceStub(channel)
        resolved = identity.ResolveIdentity(
            identity_pb2.ResolveIdentityRequest(
                property_id=property_id,
                identifier=common_pb2.Identifier(
                    type=common_pb2.IDENTIFIER_TYPE_USER_ID, value=user_id
                ),
            ),
            timeout=CALL_TIMEOUT,
        )
        person = identity.ExplainPerson(
            identity_pb2.ExplainPersonRequest(
                property_id=property_id, person_id=resolved.person_id
            ),
            timeout=CALL_TIMEOUT,
        )
    with client_channel(attribution_address, api_key, tls) as channel:
        attribution = attribution_pb2_grpc.AttributionServiceStub(channel).GetAttribution(
            attribution_pb2.GetAttributionRequest(
                conversion_id=conversion_id, property_id=property_id
            ),
            timeout=CALL_TIMEOUT,
        )
    return Journey(person, attribution.attribution)


def _shown(value: str) -> str:
    if len(value) <= SHOWN_VALUE_CHARACTERS:
        return value
    return value[:SHOWN_VALUE_CHARACTERS] + "…"


def _decision(entry: identity_pb2.LogEntry) -> str:
    """What one of identity's decisions did, in words."""
    kind = entry.WhichOneof("event")
    if kind == "person_created":
        return f"created from {len(entry.person_created.identifiers)} identifier(s)"
    if kind == "identifiers_linked":
        linked = entry.identifiers_linked.identifiers
        return "linked " + ", ".join(_TYPE_NAMES.get(i.type, "identifier") for i in linked)
    if kind == "persons_merged":
        merged = entry.persons_merged
        return f"merged with a person of {len(merged.identifiers)} identifier(s)"
    return (kind or "decision").replace("_", " ")


def identifier_table(person: identity_pb2.ExplainPersonResponse) -> MetricTable:
    """The person's identifiers, one row each, and their decisions in the caption."""
    rows = tuple(
        {"type": _TYPE_NAMES.get(i.type, "identifier"), "value": _shown(i.value)}
        for i in person.identifiers
    )
    decisions = "; ".join(_decision(d) for d in person.decisions)
    caption = (
        f"Person {person.person_id}: identifiers as identity's ExplainPerson answers an admin "
        "key (identity keeps only pseudonyms; ingest's vault reveals them; emails only as "
        f"hashes; long values cut). Decisions, oldest first: {decisions or 'none'}."
    )
    columns = (Column("type", "identifier", Kind.TEXT), Column("value", "value", Kind.TEXT))
    return MetricTable(columns, rows, {"type": f"{len(rows)} identifiers"}, {}, caption)


def journey_table(
    attribution: attribution_pb2.ConversionAttributed, models: Sequence[str]
) -> MetricTable:
    """The conversion's touchpoints (when, device, channel, campaign) with the fraction of
    the conversion each model credits to it."""
    credits = {
        m.model: {c.touchpoint_id: c.fraction for c in m.credits}
        for m in attribution.models
        if m.model in models
    }
    rows: list[dict[str, Any]] = []
    for touchpoint in attribution.journey:
        row: dict[str, Any] = {
            "when": from_timestamp(touchpoint.occurred_at).strftime("%Y-%m-%d %H:%M"),
            "device": touchpoint.device_type or "?",
            "channel": touchpoint.channel,
            "campaign": touchpoint.campaign or "—",
        }
        for model in models:
            row[model] = credits.get(model, {}).get(touchpoint.touchpoint_id, 0.0)
        rows.append(row)
    amount = "no value"
    if attribution.HasField("reporting_value"):
        value = from_money_pb(attribution.reporting_value)
        amount = f"{value.to_decimal():,.2f} {value.currency_code}"
    columns = (
        Column("when", "when (UTC)", Kind.TEXT),
        Column("device", "device", Kind.TEXT),
        Column("channel", "channel", Kind.TEXT),
        Column("campaign", "campaign", Kind.TEXT),
        *(Column(m, f"{m} credit", Kind.RATIO) for m in models),
    )
    totals: dict[str, Any] = {"when": "total"}
    totals.update({m: float(sum(Decimal(str(r[m])) for r in rows)) for m in models})
    caption = (
        f"Conversion {attribution.conversion_name} ({attribution.event_id}, {amount}) at "
        f"{from_timestamp(attribution.occurred_at).isoformat(timespec='seconds')}, revision "
        f"{attribution.revision} (each re-attribution, as when identity joins devices, "
        f"adds one): its {attribution.journey_length} touchpoints in the lookback "
        "window, with the fraction of the conversion each model credits (attribution's "
        "GetAttribution)."
    )
    return MetricTable(columns, tuple(rows), totals, {}, caption)
