"""Ingest's gRPC edge: protobuf messages to plain values and back, errors to status codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from opentelemetry.metrics import Meter

from common.audit import AuditLog
from common.audit_api import list_audit_events
from common.consent import ConsentState
from common.deadlines import wait_budget
from common.grpc_errors import (
    FieldProblem,
    abort_invalid,
    abort_resource_exhausted,
    abort_unavailable,
)
from common.key_ring import SCOPES, SCOPES_BACK
from common.log_endpoint import LogEndpoint
from common.money import Money
from common.requests import FieldChecks, timestamp_problem
from common.telemetry import current_trace_parent
from common.values import Identifier
from common.wire import (
    identifier_fields,
    timestamp_fields,
    to_identifier_pb,
    to_money_pb,
    to_timestamp,
)
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.api_keys import (
    ApiKeys,
    InvalidKeyRequestError,
    UnknownApiKeyError,
)
from services.ingest.application import (
    BatchTooLargeError,
    IngestApplication,
    IngestBusyError,
    Outcome,
    SpendOutcome,
    SpendVerdict,
    Verdict,
)
from services.ingest.channel_settings import PropertyChannelRules
from services.ingest.channel_wire import channel_groups_message, rules_from_request
from services.ingest.consent import IncomingConsent
from services.ingest.consent_defaults import (
    DEFAULT_PROPERTY,
    AppliedDefaults,
    ConsentDefaultsSource,
    PropertyConsentDefaults,
)
from services.ingest.domainmodel import (
    Conversion,
    ConversionOutcome,
    EventKind,
    Identification,
    IncomingConversion,
    IncomingEvent,
    IncomingOutcome,
    IncomingPageView,
    IncomingTouchpoint,
    PageView,
    SpendLine,
    Touchpoint,
    TouchpointType,
    is_late,
)
from services.ingest.enrichment import CLICK_ID_FIELDS, CampaignTags, ClickIds, device_type_of
from services.ingest.keyring import KeyRing, StoredKey
from services.ingest.rejected import (
    MAX_PROPERTY_LENGTH,
    RejectedEvent,
    RejectedFilter,
    RejectedPage,
)
from services.ingest.spend import IncomingSpend
from services.ingest.vault import VaultPurgeError

DEFAULT_REJECTED_PAGE_SIZE = 100
MAX_REJECTED_PAGE_SIZE = 1000
MAX_REASON_FILTER_LENGTH = 200
BUSY_MESSAGE = (
    "ingest holds as many events waiting to be stored as it may; nothing of this batch was "
    "stored: send it again after the delay in the RetryInfo detail"
)

_NO_CLICK_IDS = ClickIds()
_NO_TAGS = CampaignTags()
_NO_CONSENT = IncomingConsent()
_KINDS = {kind.value: kind for kind in EventKind}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOUCH_TYPES = {
    ingest_pb2.TOUCHPOINT_TYPE_UNSPECIFIED: TouchpointType.VISIT,
    ingest_pb2.TOUCHPOINT_TYPE_CLICK: TouchpointType.CLICK,
    ingest_pb2.TOUCHPOINT_TYPE_IMPRESSION: TouchpointType.IMPRESSION,
    ingest_pb2.TOUCHPOINT_TYPE_VISIT: TouchpointType.VISIT,
}
_TOUCH_TYPES_BACK = {
    TouchpointType.CLICK: ingest_pb2.TOUCHPOINT_TYPE_CLICK,
    TouchpointType.IMPRESSION: ingest_pb2.TOUCHPOINT_TYPE_IMPRESSION,
    TouchpointType.VISIT: ingest_pb2.TOUCHPOINT_TYPE_VISIT,
}
KEY_ID_MAX_LENGTH = 64
_CONSENT_STATES = {
    ingest_pb2.CONSENT_STATE_UNSPECIFIED: ConsentState.UNKNOWN,
    ingest_pb2.CONSENT_STATE_GRANTED: ConsentState.GRANTED,
    ingest_pb2.CONSENT_STATE_DENIED: ConsentState.DENIED,
}
_CONSENT_STATES_BACK = {state: number for number, state in _CONSENT_STATES.items()}
# By the stored consent's values (`Consent.to_dict()`).
_CONSENT_NUMBERS = {state.value: number for state, number in _CONSENT_STATES_BACK.items()}
_UNKNOWN_CONSENT = ConsentState.UNKNOWN.value
# What unknown consent counts as: denied (True), granted (False), unchanged (None).
_CONSENT_DEFAULTS: dict[int, bool | None] = {
    ingest_pb2.CONSENT_DEFAULT_UNSPECIFIED: None,
    ingest_pb2.CONSENT_DEFAULT_GRANTED: False,
    ingest_pb2.CONSENT_DEFAULT_DENIED: True,
}
_CONSENT_DEFAULTS_BACK = {
    False: ingest_pb2.CONSENT_DEFAULT_GRANTED,
    True: ingest_pb2.CONSENT_DEFAULT_DENIED,
}
_CONSENT_DEFAULTS_SOURCES = {
    ConsentDefaultsSource.ENVIRONMENT: ingest_pb2.CONSENT_DEFAULTS_SOURCE_ENVIRONMENT,
    ConsentDefaultsSource.DEFAULT: ingest_pb2.CONSENT_DEFAULTS_SOURCE_DEFAULT,
    ConsentDefaultsSource.PROPERTY: ingest_pb2.CONSENT_DEFAULTS_SOURCE_PROPERTY,
}
MAX_FORGOTTEN_IDENTIFIERS = 100
PURGE_RETRY_SECONDS = 1.0
_VERDICTS = {
    Outcome.ACCEPTED: ingest_pb2.VERDICT_ACCEPTED,
    Outcome.DUPLICATE: ingest_pb2.VERDICT_DUPLICATE,
    Outcome.REJECTED: ingest_pb2.VERDICT_REJECTED,
}

_SPEND_OUTCOMES = {
    SpendOutcome.RECORDED: ingest_pb2.SPEND_OUTCOME_RECORDED,
    SpendOutcome.CORRECTED: ingest_pb2.SPEND_OUTCOME_CORRECTED,
    SpendOutcome.UNCHANGED: ingest_pb2.SPEND_OUTCOME_UNCHANGED,
    SpendOutcome.REJECTED: ingest_pb2.SPEND_OUTCOME_REJECTED,
}


def incoming_spend(message: ingest_pb2.SpendRow) -> IncomingSpend:
    """The plain spend row of a SpendRow message."""
    cost = None
    if message.HasField("cost"):
        c = message.cost
        cost = Money(c.currency_code.strip().upper(), c.units, c.nanos)
    return IncomingSpend(
        property_id=message.property_id,
        day=message.date.strip(),
        channel=message.channel,
        source=message.source,
        medium=message.medium,
        campaign=message.campaign,
        cost=cost,
    )


def spend_verdict_message(index: int, verdict: SpendVerdict) -> ingest_pb2.SpendVerdict:
    """The SpendVerdict message of a plain verdict; field paths start at the row."""
    return ingest_pb2.SpendVerdict(
        index=index,
        outcome=_SPEND_OUTCOMES[verdict.outcome],
        record_id=str(verdict.record_id) if verdict.record_id else "",
        violations=[
            ingest_pb2.FieldViolation(field=f"rows[{index}].{v.field}", description=v.description)
            for v in verdict.violations
        ],
    )


def _spend_entry(position: int, event: Any) -> ingest_pb2.LogEntry:
    return ingest_pb2.LogEntry(
        position=position,
        spend_recorded=ingest_pb2.SpendRecorded(
            record_id=str(event.originator_id),
            property_id=event.property_id,
            date=event.day,
            channel=event.channel,
            source=event.source,
            medium=event.medium,
            campaign=event.campaign,
            cost=to_money_pb(Money.from_micros(event.currency_code, event.cost_micros)),
            reporting_cost=to_money_pb(
                Money.from_micros(event.reporting_currency_code, event.reporting_cost_micros)
            ),
            revision=event.originator_version,
            received_at=to_timestamp(event.received_at),
            trace_parent=event.trace_parent,
        ),
    )


def incoming_event(message: ingest_pb2.Event) -> IncomingEvent:
    """The plain incoming event of an Event message."""
    kind_name = message.WhichOneof("kind")
    identity, context = message.identity, message.context
    touchpoint = page_view = conversion = outcome = None
    if kind_name == "touchpoint":
        t = message.touchpoint
        touchpoint = IncomingTouchpoint(
            type=_TOUCH_TYPES.get(t.type),
            landing_url=t.landing_url,
            referrer=t.referrer,
            tags=(
                CampaignTags(
                    source=t.utm.source,
                    medium=t.utm.medium,
                    campaign=t.utm.campaign,
                    term=t.utm.term,
                    content=t.utm.content,
                )
                if t.HasField("utm")
                else _NO_TAGS
            ),
            click_ids=(
                ClickIds(**{name: getattr(t.click_ids, name) for name in CLICK_ID_FIELDS})
                if t.HasField("click_ids")
                else _NO_CLICK_IDS
            ),
        )
    elif kind_name == "page_view":
        page_view = IncomingPageView(url=message.page_view.url, title=message.page_view.title)
    elif kind_name == "conversion":
        c = message.conversion
        value = None
        if c.HasField("value"):
            value = Money(c.value.currency_code.strip().upper(), c.value.units, c.value.nanos)
        conversion = IncomingConversion(name=c.name, value=value, order_id=c.order_id)
    elif kind_name == "outcome":
        o = message.outcome
        outcome = IncomingOutcome(
            conversion_name=o.conversion_name,
            order_id=o.order_id,
            stage=o.stage,
            value=_incoming_money(o.value) if o.HasField("value") else None,
            refund=_incoming_money(o.refund) if o.HasField("refund") else None,
            retracted=o.retracted,
        )
    timestamp, timestamp_error = None, ""
    if message.HasField("timestamp"):
        stamp = message.timestamp
        timestamp_error = timestamp_problem(stamp) or ""
        timestamp = None if timestamp_error else _utc_datetime(stamp)
    return IncomingEvent(
        kind=_KINDS[kind_name] if kind_name else None,
        property_id=message.property_id,
        event_id=message.event_id,
        timestamp=timestamp,
        timestamp_error=timestamp_error,
        anonymous_id=identity.anonymous_id,
        user_id=identity.user_id,
        email=identity.email,
        email_sha256=identity.email_sha256,
        user_agent=context.user_agent,
        page_url=context.page_url,
        referrer=context.referrer,
        ip_address=context.ip_address,
        geo_country=context.geo_country,
        geo_city=context.geo_city,
        touchpoint=touchpoint,
        page_view=page_view,
        conversion=conversion,
        outcome=outcome,
        size_bytes=message.ByteSize(),
        consent=_incoming_consent(message.consent) if message.HasField("consent") else _NO_CONSENT,
    )


def _utc_datetime(stamp: Any) -> datetime:
    """`from_timestamp` of a valid Timestamp (nanos not negative), the same value computed
    without the checks that `timestamp_problem` made already."""
    return _EPOCH + timedelta(0, stamp.seconds, stamp.nanos // 1000)


def _incoming_money(money: Any) -> Money:
    """An amount as sent, its currency code trimmed and upper case."""
    return Money(money.currency_code.strip().upper(), money.units, money.nanos)


def _micros_pb(currency_code: str, micros: int) -> Any:
    """A Money message of an amount in micros; None without a currency (no amount)."""
    return to_money_pb(Money.from_micros(currency_code, micros)) if currency_code else None


def _outcome_entry(position: int, e: Any) -> ingest_pb2.LogEntry:
    reporting_code = e.reporting_currency_code
    return ingest_pb2.LogEntry(
        position=position,
        outcome_recorded=ingest_pb2.OutcomeRecorded(
            envelope=_envelope(e),
            conversion_name=e.conversion_name,
            order_id=e.order_id,
            conversion_id=e.conversion_id,
            stage=e.stage,
            value=_micros_pb(e.currency_code, e.value_micros),
            reporting_value=(
                _micros_pb(reporting_code, e.reporting_value_micros) if e.currency_code else None
            ),
            refund=_micros_pb(e.refund_currency_code, e.refund_micros),
            reporting_refund=(
                _micros_pb(reporting_code, e.reporting_refund_micros)
                if e.refund_currency_code
                else None
            ),
            retracted=e.retracted,
        ),
    )


def _incoming_consent(consent: ingest_pb2.Consent) -> IncomingConsent:
    """The consent signals as sent; an unknown enum number is read as None (invalid)."""
    return IncomingConsent(
        analytics=_CONSENT_STATES.get(consent.analytics),
        advertising=_CONSENT_STATES.get(consent.advertising),
        gcs=consent.gcs,
        analytics_storage=consent.analytics_storage,
        ad_storage=consent.ad_storage,
        tcf_string=consent.tcf_string,
    )


def _settings_scope(value: str, check: FieldChecks) -> str:
    """The property id of a settings request: a property, or "*" for the default."""
    if value.strip() == DEFAULT_PROPERTY:
        return DEFAULT_PROPERTY
    return check.property_id(value)


def _consent_defaults_message(
    property_id: str, applied: AppliedDefaults
) -> ingest_pb2.GetConsentDefaultsResponse:
    defaults = applied.defaults
    return ingest_pb2.GetConsentDefaultsResponse(
        property_id=property_id,
        analytics=_CONSENT_DEFAULTS_BACK[defaults.analytics_denied],
        advertising=_CONSENT_DEFAULTS_BACK[defaults.advertising_denied],
        source=_CONSENT_DEFAULTS_SOURCES[applied.source],
    )


def _pair(identifier: str, pseudonym: str) -> ingest_pb2.PseudonymPair:
    return ingest_pb2.PseudonymPair(
        identifier=to_identifier_pb(Identifier.from_key(identifier)),
        pseudonym=to_identifier_pb(Identifier.from_key(pseudonym)),
    )


def verdict_fields(index: int, event_id: str, verdict: Verdict) -> dict[str, Any]:
    """The fields of a plain verdict's EventVerdict message: a response's verdicts are
    built from them in one constructor call in C, which costs a third of building each
    message and copying it into the response."""
    fields: dict[str, Any] = {
        "index": index,
        "event_id": event_id,
        "verdict": _VERDICTS[verdict.outcome],
        "record_id": str(verdict.record_id) if verdict.record_id else "",
    }
    if verdict.violations:
        fields["violations"] = [
            {"field": v.field, "description": v.description} for v in verdict.violations
        ]
    return fields


def _envelope(event: Any) -> dict[str, Any]:
    """A recorded fact's RecordedEnvelope as the constructor's nested fields: one
    constructor call in C, where building each nested message and copying it in cost most
    of serving the log."""
    device = event.device
    network = getattr(event, "network", {})  # none in events recorded before it existed
    consent = getattr(event, "consent", None) or {}
    return {
        "record_id": str(event.originator_id),
        "property_id": event.property_id,
        "event_id": event.event_id,
        "occurred_at": timestamp_fields(event.occurred_at),
        "received_at": timestamp_fields(event.received_at),
        "identifiers": identifier_fields(event.identifiers),
        "device": {
            "browser": device["browser"],
            "os": device["os"],
            "device": device["device"],
            "is_bot": device["is_bot"],
            "browser_version": device.get("browser_version", ""),
            "os_version": device.get("os_version", ""),
            # Events stored before the device type: derived from the families.
            "device_type": device.get("device_type")
            or device_type_of(device["os"], device["device"], device["is_bot"]),
        },
        "trace_parent": event.trace_parent,
        "late": is_late(event),
        "network": {
            "ip_pseudonym": network.get("ip_pseudonym", ""),
            "network_pseudonym": network.get("network_pseudonym", ""),
            "geo_country": network.get("geo_country", ""),
            "geo_city": network.get("geo_city", ""),
        },
        "consent": {
            "analytics": _CONSENT_NUMBERS[consent.get("analytics", _UNKNOWN_CONSENT)],
            "advertising": _CONSENT_NUMBERS[consent.get("advertising", _UNKNOWN_CONSENT)],
        },
    }


def _touchpoint_entry(position: int, e: Any) -> ingest_pb2.LogEntry:
    return ingest_pb2.LogEntry(
        position=position,
        touchpoint_recorded={
            "envelope": _envelope(e),
            "type": _TOUCH_TYPES_BACK[TouchpointType(e.touch_type)],
            "channel": e.channel,
            "source": e.source,
            "medium": e.medium,
            "campaign": e.campaign,
            "term": e.term,
            "content": e.content,
            "landing_url": e.landing_url,
            "referrer_host": e.referrer_host,
            "click_id_type": e.click_id_type,
        },
    )


def _conversion_entry(position: int, e: Any) -> ingest_pb2.LogEntry:
    value = (
        to_money_pb(Money.from_micros(e.currency_code, e.value_micros)) if e.currency_code else None
    )
    return ingest_pb2.LogEntry(
        position=position,
        conversion_recorded=ingest_pb2.ConversionRecorded(
            envelope=_envelope(e),
            name=e.name,
            value=value,
            reporting_value=to_money_pb(
                Money.from_micros(e.reporting_currency_code, e.reporting_value_micros)
            ),
            order_id=e.order_id,
            channel=getattr(e, "channel", ""),
            source=getattr(e, "source", ""),
            medium=getattr(e, "medium", ""),
            campaign=getattr(e, "campaign", ""),
        ),
    )


def _page_view_entry(position: int, e: Any) -> ingest_pb2.LogEntry:
    return ingest_pb2.LogEntry(
        position=position,
        page_view_recorded={"envelope": _envelope(e), "url": e.url, "title": e.title},
    )


def _identify_entry(position: int, e: Any) -> ingest_pb2.LogEntry:
    return ingest_pb2.LogEntry(position=position, identify_recorded={"envelope": _envelope(e)})


def _bookkeeping_entry(position: int, e: Any) -> ingest_pb2.LogEntry:
    """Served with no event set, so readers' positions still advance."""
    return ingest_pb2.LogEntry(position=position)


# The log message of each event class, by exact class (a subclass is looked up once).
_LOG_ENTRIES: dict[type, Callable[[int, Any], ingest_pb2.LogEntry]] = {
    Touchpoint.Recorded: _touchpoint_entry,
    Conversion.Recorded: _conversion_entry,
    PageView.Recorded: _page_view_entry,
    Identification.Recorded: _identify_entry,
    ConversionOutcome.Recorded: _outcome_entry,
    SpendLine.Recorded: _spend_entry,
    SpendLine.Corrected: _spend_entry,
}
_BOOKKEEPING = (KeyRing.Event, PropertyConsentDefaults.Event, PropertyChannelRules.Event)


def log_entry(position: int, event: Any) -> ingest_pb2.LogEntry:
    """The LogEntry message of a recorded fact's event."""
    build = _LOG_ENTRIES.get(type(event))
    if build is None:
        for kind, found in list(_LOG_ENTRIES.items()):
            if isinstance(event, kind):
                build = found
                break
        else:
            if not isinstance(event, _BOOKKEEPING):
                raise TypeError(f"no log message for {type(event).__name__}")
            build = _bookkeeping_entry
        _LOG_ENTRIES[type(event)] = build
    return build(position, event)


def api_key_message(key: StoredKey) -> ingest_pb2.ApiKey:
    """The ApiKey message of a stored key (never its secret or hash)."""
    message = ingest_pb2.ApiKey(
        key_id=key.key_id,
        property_id=key.property_id,
        scopes=[SCOPES_BACK[s] for s in key.scopes],
        created_at=to_timestamp(key.created_at),
        revoked=key.revoked,
        description=key.description,
    )
    if key.expires_at is not None:
        message.expires_at.CopyFrom(to_timestamp(key.expires_at))
    if key.revoked_at is not None:
        message.revoked_at.CopyFrom(to_timestamp(key.revoked_at))
    return message


def _rejected_event_message(event: RejectedEvent) -> ingest_pb2.RejectedEvent:
    return ingest_pb2.RejectedEvent(
        property_id=event.property_id,
        event_id=event.event_id,
        kind=event.kind,
        received_at=to_timestamp(event.received_at),
        violations=[
            ingest_pb2.FieldViolation(field=v.field, description=v.description)
            for v in event.violations
        ],
        fields_json=json.dumps(event.fields, ensure_ascii=False, sort_keys=True),
    )


def rejected_page_message(page: RejectedPage) -> ingest_pb2.ListRejectedResponse:
    """The ListRejectedResponse of a page of dead letters."""
    return ingest_pb2.ListRejectedResponse(
        events=[_rejected_event_message(e) for e in page.events],
        counts=[
            ingest_pb2.RejectionCount(field=c.field, description=c.description, count=c.count)
            for c in page.counts
        ],
        next_page_token=str(page.next_before_id) if page.next_before_id is not None else "",
    )


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    """Translates IngestService calls to the ingest application."""

    def __init__(
        self,
        app: IngestApplication,
        api_keys: ApiKeys,
        meter: Meter | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self._app = app
        self._audit = audit
        self._api_keys = api_keys
        self._log = LogEndpoint(app, log_entry)
        self._verdicts = (
            meter.create_counter(
                "convtrack.ingest.events",
                unit="{event}",
                description="events received, by verdict",
            )
            if meter
            else None
        )
        self._rejections = (
            meter.create_counter(
                "convtrack.ingest.rejections",
                unit="{violation}",
                description="reasons events were rejected, by field",
            )
            if meter
            else None
        )

    def ListAuditEvents(
        self, request: ingest_pb2.ListAuditEventsRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.ListAuditEventsResponse:
        """A page of this service's audit log."""
        if self._audit is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "this server keeps no audit log")
            raise AssertionError("unreachable: abort raises")
        return list_audit_events(self._audit, request, context, ingest_pb2.ListAuditEventsResponse)

    def GetConsentDefaults(
        self, request: ingest_pb2.GetConsentDefaultsRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.GetConsentDefaultsResponse:
        check = FieldChecks()
        property_id = _settings_scope(request.property_id, check)
        check.abort_if_invalid(context, "invalid GetConsentDefaults request")
        applied = self._app.consent_defaults.applying_to(property_id)
        return _consent_defaults_message(property_id, applied)

    def SetConsentDefaults(
        self, request: ingest_pb2.SetConsentDefaultsRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.SetConsentDefaultsResponse:
        check = FieldChecks()
        property_id = _settings_scope(request.property_id, check)
        chosen = {}
        for name in ("analytics", "advertising"):
            number = getattr(request, name)
            if number not in _CONSENT_DEFAULTS:
                check.add(name, "must be CONSENT_DEFAULT_GRANTED, _DENIED or unset (unchanged)")
            chosen[name] = _CONSENT_DEFAULTS.get(number)
        check.abort_if_invalid(context, "invalid SetConsentDefaults request")
        applied = self._app.consent_defaults.choose(
            property_id,
            analytics_denied=chosen["analytics"],
            advertising_denied=chosen["advertising"],
            now=datetime.now(UTC),
        )
        return ingest_pb2.SetConsentDefaultsResponse(
            defaults=_consent_defaults_message(property_id, applied)
        )

    def GetChannelGroups(
        self, request: ingest_pb2.GetChannelGroupsRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.GetChannelGroupsResponse:
        check = FieldChecks()
        property_id = _settings_scope(request.property_id, check)
        check.abort_if_invalid(context, "invalid GetChannelGroups request")
        return channel_groups_message(property_id, self._app.channel_rules.applying_to(property_id))

    def SetChannelGroups(
        self, request: ingest_pb2.SetChannelGroupsRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.SetChannelGroupsResponse:
        check = FieldChecks()
        property_id = _settings_scope(request.property_id, check)
        rules = rules_from_request(request, check)
        check.abort_if_invalid(context, "invalid SetChannelGroups request")
        applied = self._app.channel_rules.choose(property_id, rules, now=datetime.now(UTC))
        return ingest_pb2.SetChannelGroupsResponse(
            channel_groups=channel_groups_message(property_id, applied)
        )

    def ForgetIdentifiers(
        self, request: ingest_pb2.ForgetIdentifiersRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.ForgetIdentifiersResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        if not request.identifiers:
            check.add("identifiers", "at least one is required")
        elif len(request.identifiers) > MAX_FORGOTTEN_IDENTIFIERS:
            check.add("identifiers", f"at most {MAX_FORGOTTEN_IDENTIFIERS} per call")
        keys = [
            check.identifier_key(identifier, f"identifiers[{index}]")
            for index, identifier in enumerate(request.identifiers[:MAX_FORGOTTEN_IDENTIFIERS])
        ]
        check.note(request.note)
        check.abort_if_invalid(context, "invalid ForgetIdentifiers request")
        try:
            erased, held = self._app.vault.forget_identifiers(property_id, keys)
        except VaultPurgeError as error:
            abort_unavailable(context, f"the records were deleted; {error}", PURGE_RETRY_SECONDS)
            raise
        return ingest_pb2.ForgetIdentifiersResponse(
            consent_records_erased=erased,
            held_for_persons=[to_identifier_pb(Identifier.from_key(key)) for key in held],
        )

    def TrackEvents(
        self, request: ingest_pb2.TrackEventsRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.TrackEventsResponse:
        received_at = datetime.now(UTC)
        check = FieldChecks()
        sent_at = check.optional_timestamp(request, "sent_at")
        check.abort_if_invalid(context, "invalid TrackEvents request")
        incoming = [incoming_event(e) for e in request.events]
        try:
            verdicts = self._app.track(
                incoming,
                received_at=received_at,
                sent_at=sent_at,
                trace_parent=current_trace_parent(),
                write_timeout=wait_budget(context),
                backfill=request.backfill,
            )
        except BatchTooLargeError as error:
            abort_invalid(context, str(error), [FieldProblem(error.field, error.description)])
            raise
        except IngestBusyError as busy:
            abort_resource_exhausted(context, BUSY_MESSAGE, busy.retry_after)
            raise
        messages = [
            verdict_fields(i, e.event_id, v)
            for i, (e, v) in enumerate(zip(incoming, verdicts, strict=True))
        ]
        self._count(verdicts)
        return ingest_pb2.TrackEventsResponse(
            verdicts=messages,
            accepted_count=sum(v.outcome is Outcome.ACCEPTED for v in verdicts),
            duplicate_count=sum(v.outcome is Outcome.DUPLICATE for v in verdicts),
            rejected_count=sum(v.outcome is Outcome.REJECTED for v in verdicts),
        )

    def _count(self, verdicts: list[Verdict]) -> None:
        if self._verdicts is None or self._rejections is None:
            return
        for outcome in Outcome:
            count = sum(v.outcome is outcome for v in verdicts)
            if count:
                self._verdicts.add(count, {"verdict": outcome.value})
        for verdict in verdicts:
            for violation in verdict.violations:
                self._rejections.add(1, {"field": violation.field or "(event)"})

    def RecordSpend(
        self, request: ingest_pb2.RecordSpendRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.RecordSpendResponse:
        rows = [incoming_spend(row) for row in request.rows]
        try:
            verdicts = self._app.record_spend(
                rows, received_at=datetime.now(UTC), trace_parent=current_trace_parent()
            )
        except BatchTooLargeError as error:
            abort_invalid(context, str(error), [FieldProblem(error.field, error.description)])
            raise
        counts = {outcome: sum(v.outcome is outcome for v in verdicts) for outcome in SpendOutcome}
        return ingest_pb2.RecordSpendResponse(
            verdicts=[spend_verdict_message(i, v) for i, v in enumerate(verdicts)],
            recorded_count=counts[SpendOutcome.RECORDED],
            corrected_count=counts[SpendOutcome.CORRECTED],
            unchanged_count=counts[SpendOutcome.UNCHANGED],
            rejected_count=counts[SpendOutcome.REJECTED],
        )

    def PseudonymiseIdentifiers(
        self, request: ingest_pb2.PseudonymiseIdentifiersRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.PseudonymiseIdentifiersResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        keys = [
            check.identifier_key(identifier, f"identifiers[{index}]")
            for index, identifier in enumerate(request.identifiers)
        ]
        check.abort_if_invalid(context, "invalid PseudonymiseIdentifiers request")
        pseudonyms = self._app.pseudonyms(property_id, keys)
        return ingest_pb2.PseudonymiseIdentifiersResponse(
            pairs=[_pair(key, pseudonyms[key]) for key in keys if key in pseudonyms]
        )

    def RevealIdentifiers(
        self, request: ingest_pb2.RevealIdentifiersRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.RevealIdentifiersResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        pseudonyms = [
            check.stored_identifier_key(pseudonym, f"pseudonyms[{index}]")
            for index, pseudonym in enumerate(request.pseudonyms)
        ]
        check.abort_if_invalid(context, "invalid RevealIdentifiers request")
        revealed = self._app.vault.reveal(property_id, pseudonyms)
        return ingest_pb2.RevealIdentifiersResponse(
            pairs=[_pair(revealed[p], p) for p in pseudonyms if p in revealed]
        )

    def ListRejected(
        self, request: ingest_pb2.ListRejectedRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.ListRejectedResponse:
        check = FieldChecks()
        if not request.property_id:
            check.add("property_id", "is required")
        elif len(request.property_id) > MAX_PROPERTY_LENGTH or "\x00" in request.property_id:
            check.add(
                "property_id",
                f"must be at most {MAX_PROPERTY_LENGTH} characters, without NUL characters",
            )
        since = check.optional_timestamp(request, "since")
        if len(request.field) > MAX_PROPERTY_LENGTH or "\x00" in request.field:
            check.add("field", f"must be a field path of at most {MAX_PROPERTY_LENGTH} characters")
        if len(request.reason) > MAX_REASON_FILTER_LENGTH or "\x00" in request.reason:
            check.add(
                "reason",
                f"must be at most {MAX_REASON_FILTER_LENGTH} characters, without NUL characters",
            )
        page_size = check.integer(
            request.page_size or DEFAULT_REJECTED_PAGE_SIZE,
            "page_size",
            minimum=1,
            maximum=MAX_REJECTED_PAGE_SIZE,
        )
        before_id = None
        if request.page_token:
            token = request.page_token
            if token.isascii() and token.isdigit() and len(token) <= 18:
                before_id = int(request.page_token)
            else:
                check.add("page_token", "is not a token returned by ListRejected")
        check.abort_if_invalid(context, "invalid ListRejected request")
        page = self._app.rejected.list(
            RejectedFilter(request.property_id, since, request.field, request.reason),
            page_size=page_size,
            before_id=before_id,
        )
        return rejected_page_message(page)

    def ListEvents(
        self, request: ingest_pb2.ListEventsRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.ListEventsResponse:
        return ingest_pb2.ListEventsResponse.FromString(self._log.encoded_page(request, context))

    def GetLogHead(
        self, request: ingest_pb2.GetLogHeadRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.GetLogHeadResponse:
        return ingest_pb2.GetLogHeadResponse(position=self._app.log_head())

    def CreateApiKey(
        self, request: ingest_pb2.CreateApiKeyRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.CreateApiKeyResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id, required=False)
        scopes = [
            check.choice(number, f"scopes[{index}]", SCOPES, ingest_pb2.ApiKeyScope.DESCRIPTOR)
            for index, number in enumerate(request.scopes)
        ]
        expires_at = check.optional_timestamp(request, "expires_at")
        check.abort_if_invalid(context, "invalid CreateApiKey request")
        try:
            created = self._api_keys.create(
                property_id=property_id,
                scopes=scopes,
                now=datetime.now(UTC),
                expires_at=expires_at,
                description=request.description,
            )
        except InvalidKeyRequestError as error:
            abort_invalid(context, str(error), [FieldProblem(error.field, error.description)])
            raise
        return ingest_pb2.CreateApiKeyResponse(
            key=api_key_message(created.key), api_key=created.token
        )

    def ListApiKeys(
        self, request: ingest_pb2.ListApiKeysRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.ListApiKeysResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id, required=False)
        check.abort_if_invalid(context, "invalid ListApiKeys request")
        return ingest_pb2.ListApiKeysResponse(
            keys=[api_key_message(k) for k in self._api_keys.list(property_id)]
        )

    def RevokeApiKey(
        self, request: ingest_pb2.RevokeApiKeyRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.RevokeApiKeyResponse:
        check = FieldChecks()
        key_id = request.key_id.strip()
        if not key_id:
            check.add("key_id", "is required")
        elif len(key_id) > KEY_ID_MAX_LENGTH or not key_id.isascii() or not key_id.isalnum():
            check.add("key_id", "is not an API key id (letters and digits)")
        check.abort_if_invalid(context, "invalid RevokeApiKey request")
        try:
            revoked = self._api_keys.revoke(key_id, datetime.now(UTC))
        except UnknownApiKeyError as error:
            context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        return ingest_pb2.RevokeApiKeyResponse(key=api_key_message(revoked))

    def GetKeyRing(
        self, request: ingest_pb2.GetKeyRingRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.GetKeyRingResponse:
        version, keys = self._api_keys.ring()
        return ingest_pb2.GetKeyRingResponse(
            version=version,
            keys=[
                ingest_pb2.KeyRingEntry(key=api_key_message(k), secret_sha256=k.secret_sha256)
                for k in keys
            ],
        )
