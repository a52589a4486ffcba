import datetime

from convtrack.common.v1 import common_pb2 as _common_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ApiKeyScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    API_KEY_SCOPE_UNSPECIFIED: _ClassVar[ApiKeyScope]
    API_KEY_SCOPE_INGEST_WRITE: _ClassVar[ApiKeyScope]
    API_KEY_SCOPE_REPORTS_READ: _ClassVar[ApiKeyScope]
    API_KEY_SCOPE_IDENTITY_ADMIN: _ClassVar[ApiKeyScope]
    API_KEY_SCOPE_ATTRIBUTION_ADMIN: _ClassVar[ApiKeyScope]
    API_KEY_SCOPE_ADMIN: _ClassVar[ApiKeyScope]

class TouchpointType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOUCHPOINT_TYPE_UNSPECIFIED: _ClassVar[TouchpointType]
    TOUCHPOINT_TYPE_CLICK: _ClassVar[TouchpointType]
    TOUCHPOINT_TYPE_IMPRESSION: _ClassVar[TouchpointType]
    TOUCHPOINT_TYPE_VISIT: _ClassVar[TouchpointType]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_ACCEPTED: _ClassVar[Verdict]
    VERDICT_DUPLICATE: _ClassVar[Verdict]
    VERDICT_REJECTED: _ClassVar[Verdict]

class SpendOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPEND_OUTCOME_UNSPECIFIED: _ClassVar[SpendOutcome]
    SPEND_OUTCOME_RECORDED: _ClassVar[SpendOutcome]
    SPEND_OUTCOME_CORRECTED: _ClassVar[SpendOutcome]
    SPEND_OUTCOME_UNCHANGED: _ClassVar[SpendOutcome]
    SPEND_OUTCOME_REJECTED: _ClassVar[SpendOutcome]

class ConsentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_STATE_UNSPECIFIED: _ClassVar[ConsentState]
    CONSENT_STATE_GRANTED: _ClassVar[ConsentState]
    CONSENT_STATE_DENIED: _ClassVar[ConsentState]

class ConsentDefault(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_DEFAULT_UNSPECIFIED: _ClassVar[ConsentDefault]
    CONSENT_DEFAULT_GRANTED: _ClassVar[ConsentDefault]
    CONSENT_DEFAULT_DENIED: _ClassVar[ConsentDefault]

class ConsentDefaultsSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_DEFAULTS_SOURCE_UNSPECIFIED: _ClassVar[ConsentDefaultsSource]
    CONSENT_DEFAULTS_SOURCE_ENVIRONMENT: _ClassVar[ConsentDefaultsSource]
    CONSENT_DEFAULTS_SOURCE_DEFAULT: _ClassVar[ConsentDefaultsSource]
    CONSENT_DEFAULTS_SOURCE_PROPERTY: _ClassVar[ConsentDefaultsSource]

class ChannelMatch(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_MATCH_UNSPECIFIED: _ClassVar[ChannelMatch]
    CHANNEL_MATCH_EXACT: _ClassVar[ChannelMatch]
    CHANNEL_MATCH_PREFIX: _ClassVar[ChannelMatch]
    CHANNEL_MATCH_REGEX: _ClassVar[ChannelMatch]

class ReferrerKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFERRER_KIND_UNSPECIFIED: _ClassVar[ReferrerKind]
    REFERRER_KIND_SEARCH: _ClassVar[ReferrerKind]
    REFERRER_KIND_SOCIAL: _ClassVar[ReferrerKind]
    REFERRER_KIND_INTERNAL: _ClassVar[ReferrerKind]
    REFERRER_KIND_NONE: _ClassVar[ReferrerKind]
    REFERRER_KIND_OTHER: _ClassVar[ReferrerKind]

class ChannelRulesSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_RULES_SOURCE_UNSPECIFIED: _ClassVar[ChannelRulesSource]
    CHANNEL_RULES_SOURCE_BUILT_IN: _ClassVar[ChannelRulesSource]
    CHANNEL_RULES_SOURCE_DEFAULT: _ClassVar[ChannelRulesSource]
    CHANNEL_RULES_SOURCE_PROPERTY: _ClassVar[ChannelRulesSource]
API_KEY_SCOPE_UNSPECIFIED: ApiKeyScope
API_KEY_SCOPE_INGEST_WRITE: ApiKeyScope
API_KEY_SCOPE_REPORTS_READ: ApiKeyScope
API_KEY_SCOPE_IDENTITY_ADMIN: ApiKeyScope
API_KEY_SCOPE_ATTRIBUTION_ADMIN: ApiKeyScope
API_KEY_SCOPE_ADMIN: ApiKeyScope
TOUCHPOINT_TYPE_UNSPECIFIED: TouchpointType
TOUCHPOINT_TYPE_CLICK: TouchpointType
TOUCHPOINT_TYPE_IMPRESSION: TouchpointType
TOUCHPOINT_TYPE_VISIT: TouchpointType
VERDICT_UNSPECIFIED: Verdict
VERDICT_ACCEPTED: Verdict
VERDICT_DUPLICATE: Verdict
VERDICT_REJECTED: Verdict
SPEND_OUTCOME_UNSPECIFIED: SpendOutcome
SPEND_OUTCOME_RECORDED: SpendOutcome
SPEND_OUTCOME_CORRECTED: SpendOutcome
SPEND_OUTCOME_UNCHANGED: SpendOutcome
SPEND_OUTCOME_REJECTED: SpendOutcome
CONSENT_STATE_UNSPECIFIED: ConsentState
CONSENT_STATE_GRANTED: ConsentState
CONSENT_STATE_DENIED: ConsentState
CONSENT_DEFAULT_UNSPECIFIED: ConsentDefault
CONSENT_DEFAULT_GRANTED: ConsentDefault
CONSENT_DEFAULT_DENIED: ConsentDefault
CONSENT_DEFAULTS_SOURCE_UNSPECIFIED: ConsentDefaultsSource
CONSENT_DEFAULTS_SOURCE_ENVIRONMENT: ConsentDefaultsSource
CONSENT_DEFAULTS_SOURCE_DEFAULT: ConsentDefaultsSource
CONSENT_DEFAULTS_SOURCE_PROPERTY: ConsentDefaultsSource
CHANNEL_MATCH_UNSPECIFIED: ChannelMatch
CHANNEL_MATCH_EXACT: ChannelMatch
CHANNEL_MATCH_PREFIX: ChannelMatch
CHANNEL_MATCH_REGEX: ChannelMatch
REFERRER_KIND_UNSPECIFIED: ReferrerKind
REFERRER_KIND_SEARCH: ReferrerKind
REFERRER_KIND_SOCIAL: ReferrerKind
REFERRER_KIND_INTERNAL: ReferrerKind
REFERRER_KIND_NONE: ReferrerKind
REFERRER_KIND_OTHER: ReferrerKind
CHANNEL_RULES_SOURCE_UNSPECIFIED: ChannelRulesSource
CHANNEL_RULES_SOURCE_BUILT_IN: ChannelRulesSource
CHANNEL_RULES_SOURCE_DEFAULT: ChannelRulesSource
CHANNEL_RULES_SOURCE_PROPERTY: ChannelRulesSource

class ApiKey(_message.Message):
    __slots__ = ("key_id", "property_id", "scopes", "created_at", "expires_at", "revoked", "revoked_at", "description")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    property_id: str
    scopes: _containers.RepeatedScalarFieldContainer[ApiKeyScope]
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    revoked: bool
    revoked_at: _timestamp_pb2.Timestamp
    description: str
    def __init__(self, key_id: _Optional[str] = ..., property_id: _Optional[str] = ..., scopes: _Optional[_Iterable[_Union[ApiKeyScope, str]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked: _Optional[bool] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("property_id", "scopes", "expires_at", "description")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    scopes: _containers.RepeatedScalarFieldContainer[ApiKeyScope]
    expires_at: _timestamp_pb2.Timestamp
    description: str
    def __init__(self, property_id: _Optional[str] = ..., scopes: _Optional[_Iterable[_Union[ApiKeyScope, str]]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("key", "api_key")
    KEY_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    api_key: str
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ..., api_key: _Optional[str] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ("property_id",)
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    def __init__(self, property_id: _Optional[str] = ...) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class RevokeApiKeyResponse(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class GetKeyRingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetKeyRingResponse(_message.Message):
    __slots__ = ("version", "keys")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    version: int
    keys: _containers.RepeatedCompositeFieldContainer[KeyRingEntry]
    def __init__(self, version: _Optional[int] = ..., keys: _Optional[_Iterable[_Union[KeyRingEntry, _Mapping]]] = ...) -> None: ...

class KeyRingEntry(_message.Message):
    __slots__ = ("key", "secret_sha256")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_SHA256_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    secret_sha256: str
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ..., secret_sha256: _Optional[str] = ...) -> None: ...

class ListRejectedRequest(_message.Message):
    __slots__ = ("property_id", "since", "field", "reason", "page_size", "page_token")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    since: _timestamp_pb2.Timestamp
    field: str
    reason: str
    page_size: int
    page_token: str
    def __init__(self, property_id: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRejectedResponse(_message.Message):
    __slots__ = ("events", "counts", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[RejectedEvent]
    counts: _containers.RepeatedCompositeFieldContainer[RejectionCount]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[RejectedEvent, _Mapping]]] = ..., counts: _Optional[_Iterable[_Union[RejectionCount, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RejectedEvent(_message.Message):
    __slots__ = ("property_id", "event_id", "kind", "received_at", "violations", "fields_json")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_JSON_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    event_id: str
    kind: str
    received_at: _timestamp_pb2.Timestamp
    violations: _containers.RepeatedCompositeFieldContainer[FieldViolation]
    fields_json: str
    def __init__(self, property_id: _Optional[str] = ..., event_id: _Optional[str] = ..., kind: _Optional[str] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., violations: _Optional[_Iterable[_Union[FieldViolation, _Mapping]]] = ..., fields_json: _Optional[str] = ...) -> None: ...

class RejectionCount(_message.Message):
    __slots__ = ("field", "description", "count")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    field: str
    description: str
    count: int
    def __init__(self, field: _Optional[str] = ..., description: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class PseudonymiseIdentifiersRequest(_message.Message):
    __slots__ = ("property_id", "identifiers")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    def __init__(self, property_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ...) -> None: ...

class PseudonymiseIdentifiersResponse(_message.Message):
    __slots__ = ("pairs",)
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    pairs: _containers.RepeatedCompositeFieldContainer[PseudonymPair]
    def __init__(self, pairs: _Optional[_Iterable[_Union[PseudonymPair, _Mapping]]] = ...) -> None: ...

class RevealIdentifiersRequest(_message.Message):
    __slots__ = ("property_id", "pseudonyms")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    PSEUDONYMS_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    pseudonyms: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    def __init__(self, property_id: _Optional[str] = ..., pseudonyms: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ...) -> None: ...

class RevealIdentifiersResponse(_message.Message):
    __slots__ = ("pairs",)
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    pairs: _containers.RepeatedCompositeFieldContainer[PseudonymPair]
    def __init__(self, pairs: _Optional[_Iterable[_Union[PseudonymPair, _Mapping]]] = ...) -> None: ...

class PseudonymPair(_message.Message):
    __slots__ = ("identifier", "pseudonym")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    identifier: _common_pb2.Identifier
    pseudonym: _common_pb2.Identifier
    def __init__(self, identifier: _Optional[_Union[_common_pb2.Identifier, _Mapping]] = ..., pseudonym: _Optional[_Union[_common_pb2.Identifier, _Mapping]] = ...) -> None: ...

class TrackEventsRequest(_message.Message):
    __slots__ = ("events", "sent_at", "backfill")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    sent_at: _timestamp_pb2.Timestamp
    backfill: bool
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., backfill: _Optional[bool] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("property_id", "event_id", "timestamp", "identity", "context", "touchpoint", "page_view", "conversion", "identify", "outcome", "consent")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TOUCHPOINT_FIELD_NUMBER: _ClassVar[int]
    PAGE_VIEW_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_FIELD_NUMBER: _ClassVar[int]
    IDENTIFY_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    event_id: str
    timestamp: _timestamp_pb2.Timestamp
    identity: Identity
    context: Context
    touchpoint: Touchpoint
    page_view: PageView
    conversion: Conversion
    identify: Identify
    outcome: Outcome
    consent: Consent
    def __init__(self, property_id: _Optional[str] = ..., event_id: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., identity: _Optional[_Union[Identity, _Mapping]] = ..., context: _Optional[_Union[Context, _Mapping]] = ..., touchpoint: _Optional[_Union[Touchpoint, _Mapping]] = ..., page_view: _Optional[_Union[PageView, _Mapping]] = ..., conversion: _Optional[_Union[Conversion, _Mapping]] = ..., identify: _Optional[_Union[Identify, _Mapping]] = ..., outcome: _Optional[_Union[Outcome, _Mapping]] = ..., consent: _Optional[_Union[Consent, _Mapping]] = ...) -> None: ...

class Identity(_message.Message):
    __slots__ = ("anonymous_id", "user_id", "email", "email_sha256")
    ANONYMOUS_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_SHA256_FIELD_NUMBER: _ClassVar[int]
    anonymous_id: str
    user_id: str
    email: str
    email_sha256: str
    def __init__(self, anonymous_id: _Optional[str] = ..., user_id: _Optional[str] = ..., email: _Optional[str] = ..., email_sha256: _Optional[str] = ...) -> None: ...

class Context(_message.Message):
    __slots__ = ("user_agent", "page_url", "referrer", "ip_address", "geo_country", "geo_city")
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_URL_FIELD_NUMBER: _ClassVar[int]
    REFERRER_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    GEO_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    GEO_CITY_FIELD_NUMBER: _ClassVar[int]
    user_agent: str
    page_url: str
    referrer: str
    ip_address: str
    geo_country: str
    geo_city: str
    def __init__(self, user_agent: _Optional[str] = ..., page_url: _Optional[str] = ..., referrer: _Optional[str] = ..., ip_address: _Optional[str] = ..., geo_country: _Optional[str] = ..., geo_city: _Optional[str] = ...) -> None: ...

class Touchpoint(_message.Message):
    __slots__ = ("type", "landing_url", "referrer", "utm", "click_ids")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LANDING_URL_FIELD_NUMBER: _ClassVar[int]
    REFERRER_FIELD_NUMBER: _ClassVar[int]
    UTM_FIELD_NUMBER: _ClassVar[int]
    CLICK_IDS_FIELD_NUMBER: _ClassVar[int]
    type: TouchpointType
    landing_url: str
    referrer: str
    utm: Utm
    click_ids: ClickIds
    def __init__(self, type: _Optional[_Union[TouchpointType, str]] = ..., landing_url: _Optional[str] = ..., referrer: _Optional[str] = ..., utm: _Optional[_Union[Utm, _Mapping]] = ..., click_ids: _Optional[_Union[ClickIds, _Mapping]] = ...) -> None: ...

class Utm(_message.Message):
    __slots__ = ("source", "medium", "campaign", "term", "content")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MEDIUM_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    source: str
    medium: str
    campaign: str
    term: str
    content: str
    def __init__(self, source: _Optional[str] = ..., medium: _Optional[str] = ..., campaign: _Optional[str] = ..., term: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class ClickIds(_message.Message):
    __slots__ = ("gclid", "fbclid", "msclkid", "gbraid", "wbraid", "dclid", "ttclid", "li_fat_id", "twclid", "sccid")
    GCLID_FIELD_NUMBER: _ClassVar[int]
    FBCLID_FIELD_NUMBER: _ClassVar[int]
    MSCLKID_FIELD_NUMBER: _ClassVar[int]
    GBRAID_FIELD_NUMBER: _ClassVar[int]
    WBRAID_FIELD_NUMBER: _ClassVar[int]
    DCLID_FIELD_NUMBER: _ClassVar[int]
    TTCLID_FIELD_NUMBER: _ClassVar[int]
    LI_FAT_ID_FIELD_NUMBER: _ClassVar[int]
    TWCLID_FIELD_NUMBER: _ClassVar[int]
    SCCID_FIELD_NUMBER: _ClassVar[int]
    gclid: str
    fbclid: str
    msclkid: str
    gbraid: str
    wbraid: str
    dclid: str
    ttclid: str
    li_fat_id: str
    twclid: str
    sccid: str
    def __init__(self, gclid: _Optional[str] = ..., fbclid: _Optional[str] = ..., msclkid: _Optional[str] = ..., gbraid: _Optional[str] = ..., wbraid: _Optional[str] = ..., dclid: _Optional[str] = ..., ttclid: _Optional[str] = ..., li_fat_id: _Optional[str] = ..., twclid: _Optional[str] = ..., sccid: _Optional[str] = ...) -> None: ...

class PageView(_message.Message):
    __slots__ = ("url", "title")
    URL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    url: str
    title: str
    def __init__(self, url: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class Conversion(_message.Message):
    __slots__ = ("name", "value", "order_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: _common_pb2.Money
    order_id: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., order_id: _Optional[str] = ...) -> None: ...

class Identify(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TrackEventsResponse(_message.Message):
    __slots__ = ("verdicts", "accepted_count", "duplicate_count", "rejected_count")
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    verdicts: _containers.RepeatedCompositeFieldContainer[EventVerdict]
    accepted_count: int
    duplicate_count: int
    rejected_count: int
    def __init__(self, verdicts: _Optional[_Iterable[_Union[EventVerdict, _Mapping]]] = ..., accepted_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ..., rejected_count: _Optional[int] = ...) -> None: ...

class EventVerdict(_message.Message):
    __slots__ = ("index", "event_id", "verdict", "record_id", "violations")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    index: int
    event_id: str
    verdict: Verdict
    record_id: str
    violations: _containers.RepeatedCompositeFieldContainer[FieldViolation]
    def __init__(self, index: _Optional[int] = ..., event_id: _Optional[str] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., record_id: _Optional[str] = ..., violations: _Optional[_Iterable[_Union[FieldViolation, _Mapping]]] = ...) -> None: ...

class FieldViolation(_message.Message):
    __slots__ = ("field", "description")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    field: str
    description: str
    def __init__(self, field: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("after", "limit", "max_wait")
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MAX_WAIT_FIELD_NUMBER: _ClassVar[int]
    after: int
    limit: int
    max_wait: _duration_pb2.Duration
    def __init__(self, after: _Optional[int] = ..., limit: _Optional[int] = ..., max_wait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LogEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[LogEntry, _Mapping]]] = ...) -> None: ...

class GetLogHeadRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetLogHeadResponse(_message.Message):
    __slots__ = ("position",)
    POSITION_FIELD_NUMBER: _ClassVar[int]
    position: int
    def __init__(self, position: _Optional[int] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("position", "touchpoint_recorded", "page_view_recorded", "conversion_recorded", "identify_recorded", "spend_recorded", "outcome_recorded")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    TOUCHPOINT_RECORDED_FIELD_NUMBER: _ClassVar[int]
    PAGE_VIEW_RECORDED_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RECORDED_FIELD_NUMBER: _ClassVar[int]
    IDENTIFY_RECORDED_FIELD_NUMBER: _ClassVar[int]
    SPEND_RECORDED_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_RECORDED_FIELD_NUMBER: _ClassVar[int]
    position: int
    touchpoint_recorded: TouchpointRecorded
    page_view_recorded: PageViewRecorded
    conversion_recorded: ConversionRecorded
    identify_recorded: IdentifyRecorded
    spend_recorded: SpendRecorded
    outcome_recorded: OutcomeRecorded
    def __init__(self, position: _Optional[int] = ..., touchpoint_recorded: _Optional[_Union[TouchpointRecorded, _Mapping]] = ..., page_view_recorded: _Optional[_Union[PageViewRecorded, _Mapping]] = ..., conversion_recorded: _Optional[_Union[ConversionRecorded, _Mapping]] = ..., identify_recorded: _Optional[_Union[IdentifyRecorded, _Mapping]] = ..., spend_recorded: _Optional[_Union[SpendRecorded, _Mapping]] = ..., outcome_recorded: _Optional[_Union[OutcomeRecorded, _Mapping]] = ...) -> None: ...

class RecordedEnvelope(_message.Message):
    __slots__ = ("record_id", "property_id", "event_id", "occurred_at", "received_at", "identifiers", "device", "trace_parent", "network", "late", "consent")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    TRACE_PARENT_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    LATE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    property_id: str
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    received_at: _timestamp_pb2.Timestamp
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    device: Device
    trace_parent: str
    network: NetworkSignals
    late: bool
    consent: RecordedConsent
    def __init__(self, record_id: _Optional[str] = ..., property_id: _Optional[str] = ..., event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ..., device: _Optional[_Union[Device, _Mapping]] = ..., trace_parent: _Optional[str] = ..., network: _Optional[_Union[NetworkSignals, _Mapping]] = ..., late: _Optional[bool] = ..., consent: _Optional[_Union[RecordedConsent, _Mapping]] = ...) -> None: ...

class NetworkSignals(_message.Message):
    __slots__ = ("ip_pseudonym", "network_pseudonym", "geo_country", "geo_city")
    IP_PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    NETWORK_PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    GEO_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    GEO_CITY_FIELD_NUMBER: _ClassVar[int]
    ip_pseudonym: str
    network_pseudonym: str
    geo_country: str
    geo_city: str
    def __init__(self, ip_pseudonym: _Optional[str] = ..., network_pseudonym: _Optional[str] = ..., geo_country: _Optional[str] = ..., geo_city: _Optional[str] = ...) -> None: ...

class Device(_message.Message):
    __slots__ = ("browser", "os", "device", "is_bot", "browser_version", "os_version", "device_type")
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    IS_BOT_FIELD_NUMBER: _ClassVar[int]
    BROWSER_VERSION_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    browser: str
    os: str
    device: str
    is_bot: bool
    browser_version: str
    os_version: str
    device_type: str
    def __init__(self, browser: _Optional[str] = ..., os: _Optional[str] = ..., device: _Optional[str] = ..., is_bot: _Optional[bool] = ..., browser_version: _Optional[str] = ..., os_version: _Optional[str] = ..., device_type: _Optional[str] = ...) -> None: ...

class TouchpointRecorded(_message.Message):
    __slots__ = ("envelope", "type", "channel", "source", "medium", "campaign", "term", "content", "landing_url", "referrer_host", "click_id_type")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MEDIUM_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    LANDING_URL_FIELD_NUMBER: _ClassVar[int]
    REFERRER_HOST_FIELD_NUMBER: _ClassVar[int]
    CLICK_ID_TYPE_FIELD_NUMBER: _ClassVar[int]
    envelope: RecordedEnvelope
    type: TouchpointType
    channel: str
    source: str
    medium: str
    campaign: str
    term: str
    content: str
    landing_url: str
    referrer_host: str
    click_id_type: str
    def __init__(self, envelope: _Optional[_Union[RecordedEnvelope, _Mapping]] = ..., type: _Optional[_Union[TouchpointType, str]] = ..., channel: _Optional[str] = ..., source: _Optional[str] = ..., medium: _Optional[str] = ..., campaign: _Optional[str] = ..., term: _Optional[str] = ..., content: _Optional[str] = ..., landing_url: _Optional[str] = ..., referrer_host: _Optional[str] = ..., click_id_type: _Optional[str] = ...) -> None: ...

class PageViewRecorded(_message.Message):
    __slots__ = ("envelope", "url", "title")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    envelope: RecordedEnvelope
    url: str
    title: str
    def __init__(self, envelope: _Optional[_Union[RecordedEnvelope, _Mapping]] = ..., url: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class ConversionRecorded(_message.Message):
    __slots__ = ("envelope", "name", "value", "reporting_value", "order_id", "channel", "source", "medium", "campaign")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REPORTING_VALUE_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MEDIUM_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    envelope: RecordedEnvelope
    name: str
    value: _common_pb2.Money
    reporting_value: _common_pb2.Money
    order_id: str
    channel: str
    source: str
    medium: str
    campaign: str
    def __init__(self, envelope: _Optional[_Union[RecordedEnvelope, _Mapping]] = ..., name: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reporting_value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., order_id: _Optional[str] = ..., channel: _Optional[str] = ..., source: _Optional[str] = ..., medium: _Optional[str] = ..., campaign: _Optional[str] = ...) -> None: ...

class IdentifyRecorded(_message.Message):
    __slots__ = ("envelope",)
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    envelope: RecordedEnvelope
    def __init__(self, envelope: _Optional[_Union[RecordedEnvelope, _Mapping]] = ...) -> None: ...

class RecordSpendRequest(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[SpendRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[SpendRow, _Mapping]]] = ...) -> None: ...

class SpendRow(_message.Message):
    __slots__ = ("property_id", "date", "channel", "source", "medium", "campaign", "cost")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MEDIUM_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    date: str
    channel: str
    source: str
    medium: str
    campaign: str
    cost: _common_pb2.Money
    def __init__(self, property_id: _Optional[str] = ..., date: _Optional[str] = ..., channel: _Optional[str] = ..., source: _Optional[str] = ..., medium: _Optional[str] = ..., campaign: _Optional[str] = ..., cost: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class SpendVerdict(_message.Message):
    __slots__ = ("index", "outcome", "record_id", "violations")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    index: int
    outcome: SpendOutcome
    record_id: str
    violations: _containers.RepeatedCompositeFieldContainer[FieldViolation]
    def __init__(self, index: _Optional[int] = ..., outcome: _Optional[_Union[SpendOutcome, str]] = ..., record_id: _Optional[str] = ..., violations: _Optional[_Iterable[_Union[FieldViolation, _Mapping]]] = ...) -> None: ...

class RecordSpendResponse(_message.Message):
    __slots__ = ("verdicts", "recorded_count", "corrected_count", "unchanged_count", "rejected_count")
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    RECORDED_COUNT_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    verdicts: _containers.RepeatedCompositeFieldContainer[SpendVerdict]
    recorded_count: int
    corrected_count: int
    unchanged_count: int
    rejected_count: int
    def __init__(self, verdicts: _Optional[_Iterable[_Union[SpendVerdict, _Mapping]]] = ..., recorded_count: _Optional[int] = ..., corrected_count: _Optional[int] = ..., unchanged_count: _Optional[int] = ..., rejected_count: _Optional[int] = ...) -> None: ...

class SpendRecorded(_message.Message):
    __slots__ = ("record_id", "property_id", "date", "channel", "source", "medium", "campaign", "cost", "reporting_cost", "revision", "received_at", "trace_parent")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MEDIUM_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    REPORTING_COST_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    TRACE_PARENT_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    property_id: str
    date: str
    channel: str
    source: str
    medium: str
    campaign: str
    cost: _common_pb2.Money
    reporting_cost: _common_pb2.Money
    revision: int
    received_at: _timestamp_pb2.Timestamp
    trace_parent: str
    def __init__(self, record_id: _Optional[str] = ..., property_id: _Optional[str] = ..., date: _Optional[str] = ..., channel: _Optional[str] = ..., source: _Optional[str] = ..., medium: _Optional[str] = ..., campaign: _Optional[str] = ..., cost: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reporting_cost: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., revision: _Optional[int] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trace_parent: _Optional[str] = ...) -> None: ...

class Consent(_message.Message):
    __slots__ = ("analytics", "advertising", "gcs", "analytics_storage", "ad_storage", "tcf_string")
    ANALYTICS_FIELD_NUMBER: _ClassVar[int]
    ADVERTISING_FIELD_NUMBER: _ClassVar[int]
    GCS_FIELD_NUMBER: _ClassVar[int]
    ANALYTICS_STORAGE_FIELD_NUMBER: _ClassVar[int]
    AD_STORAGE_FIELD_NUMBER: _ClassVar[int]
    TCF_STRING_FIELD_NUMBER: _ClassVar[int]
    analytics: ConsentState
    advertising: ConsentState
    gcs: str
    analytics_storage: str
    ad_storage: str
    tcf_string: str
    def __init__(self, analytics: _Optional[_Union[ConsentState, str]] = ..., advertising: _Optional[_Union[ConsentState, str]] = ..., gcs: _Optional[str] = ..., analytics_storage: _Optional[str] = ..., ad_storage: _Optional[str] = ..., tcf_string: _Optional[str] = ...) -> None: ...

class RecordedConsent(_message.Message):
    __slots__ = ("analytics", "advertising")
    ANALYTICS_FIELD_NUMBER: _ClassVar[int]
    ADVERTISING_FIELD_NUMBER: _ClassVar[int]
    analytics: ConsentState
    advertising: ConsentState
    def __init__(self, analytics: _Optional[_Union[ConsentState, str]] = ..., advertising: _Optional[_Union[ConsentState, str]] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("property_id", "since", "page_token", "page_size")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    since: _timestamp_pb2.Timestamp
    page_token: str
    page_size: int
    def __init__(self, property_id: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_token: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_common_pb2.AuditEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[_common_pb2.AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Outcome(_message.Message):
    __slots__ = ("conversion_name", "order_id", "stage", "value", "refund", "retracted")
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REFUND_FIELD_NUMBER: _ClassVar[int]
    RETRACTED_FIELD_NUMBER: _ClassVar[int]
    conversion_name: str
    order_id: str
    stage: str
    value: _common_pb2.Money
    refund: _common_pb2.Money
    retracted: bool
    def __init__(self, conversion_name: _Optional[str] = ..., order_id: _Optional[str] = ..., stage: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., refund: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., retracted: _Optional[bool] = ...) -> None: ...

class OutcomeRecorded(_message.Message):
    __slots__ = ("envelope", "conversion_name", "order_id", "conversion_id", "stage", "value", "reporting_value", "refund", "reporting_refund", "retracted")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REPORTING_VALUE_FIELD_NUMBER: _ClassVar[int]
    REFUND_FIELD_NUMBER: _ClassVar[int]
    REPORTING_REFUND_FIELD_NUMBER: _ClassVar[int]
    RETRACTED_FIELD_NUMBER: _ClassVar[int]
    envelope: RecordedEnvelope
    conversion_name: str
    order_id: str
    conversion_id: str
    stage: str
    value: _common_pb2.Money
    reporting_value: _common_pb2.Money
    refund: _common_pb2.Money
    reporting_refund: _common_pb2.Money
    retracted: bool
    def __init__(self, envelope: _Optional[_Union[RecordedEnvelope, _Mapping]] = ..., conversion_name: _Optional[str] = ..., order_id: _Optional[str] = ..., conversion_id: _Optional[str] = ..., stage: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reporting_value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., refund: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reporting_refund: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., retracted: _Optional[bool] = ...) -> None: ...

class GetConsentDefaultsRequest(_message.Message):
    __slots__ = ("property_id",)
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    def __init__(self, property_id: _Optional[str] = ...) -> None: ...

class GetConsentDefaultsResponse(_message.Message):
    __slots__ = ("property_id", "analytics", "advertising", "source")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    ANALYTICS_FIELD_NUMBER: _ClassVar[int]
    ADVERTISING_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    analytics: ConsentDefault
    advertising: ConsentDefault
    source: ConsentDefaultsSource
    def __init__(self, property_id: _Optional[str] = ..., analytics: _Optional[_Union[ConsentDefault, str]] = ..., advertising: _Optional[_Union[ConsentDefault, str]] = ..., source: _Optional[_Union[ConsentDefaultsSource, str]] = ...) -> None: ...

class SetConsentDefaultsRequest(_message.Message):
    __slots__ = ("property_id", "analytics", "advertising")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    ANALYTICS_FIELD_NUMBER: _ClassVar[int]
    ADVERTISING_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    analytics: ConsentDefault
    advertising: ConsentDefault
    def __init__(self, property_id: _Optional[str] = ..., analytics: _Optional[_Union[ConsentDefault, str]] = ..., advertising: _Optional[_Union[ConsentDefault, str]] = ...) -> None: ...

class SetConsentDefaultsResponse(_message.Message):
    __slots__ = ("defaults",)
    DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    defaults: GetConsentDefaultsResponse
    def __init__(self, defaults: _Optional[_Union[GetConsentDefaultsResponse, _Mapping]] = ...) -> None: ...

class ForgetIdentifiersRequest(_message.Message):
    __slots__ = ("property_id", "identifiers", "note")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    note: str
    def __init__(self, property_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ..., note: _Optional[str] = ...) -> None: ...

class ForgetIdentifiersResponse(_message.Message):
    __slots__ = ("consent_records_erased", "held_for_persons")
    CONSENT_RECORDS_ERASED_FIELD_NUMBER: _ClassVar[int]
    HELD_FOR_PERSONS_FIELD_NUMBER: _ClassVar[int]
    consent_records_erased: int
    held_for_persons: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    def __init__(self, consent_records_erased: _Optional[int] = ..., held_for_persons: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ...) -> None: ...

class ChannelTextCondition(_message.Message):
    __slots__ = ("match", "values")
    MATCH_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    match: ChannelMatch
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, match: _Optional[_Union[ChannelMatch, str]] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class ChannelRule(_message.Message):
    __slots__ = ("channel", "source", "medium", "campaign", "click_id_types", "referrer_kinds")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MEDIUM_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    CLICK_ID_TYPES_FIELD_NUMBER: _ClassVar[int]
    REFERRER_KINDS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    source: ChannelTextCondition
    medium: ChannelTextCondition
    campaign: ChannelTextCondition
    click_id_types: _containers.RepeatedScalarFieldContainer[str]
    referrer_kinds: _containers.RepeatedScalarFieldContainer[ReferrerKind]
    def __init__(self, channel: _Optional[str] = ..., source: _Optional[_Union[ChannelTextCondition, _Mapping]] = ..., medium: _Optional[_Union[ChannelTextCondition, _Mapping]] = ..., campaign: _Optional[_Union[ChannelTextCondition, _Mapping]] = ..., click_id_types: _Optional[_Iterable[str]] = ..., referrer_kinds: _Optional[_Iterable[_Union[ReferrerKind, str]]] = ...) -> None: ...

class GetChannelGroupsRequest(_message.Message):
    __slots__ = ("property_id",)
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    def __init__(self, property_id: _Optional[str] = ...) -> None: ...

class GetChannelGroupsResponse(_message.Message):
    __slots__ = ("property_id", "rules", "replace_defaults", "source")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    REPLACE_DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    rules: _containers.RepeatedCompositeFieldContainer[ChannelRule]
    replace_defaults: bool
    source: ChannelRulesSource
    def __init__(self, property_id: _Optional[str] = ..., rules: _Optional[_Iterable[_Union[ChannelRule, _Mapping]]] = ..., replace_defaults: _Optional[bool] = ..., source: _Optional[_Union[ChannelRulesSource, str]] = ...) -> None: ...

class SetChannelGroupsRequest(_message.Message):
    __slots__ = ("property_id", "rules", "replace_defaults")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    REPLACE_DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    rules: _containers.RepeatedCompositeFieldContainer[ChannelRule]
    replace_defaults: bool
    def __init__(self, property_id: _Optional[str] = ..., rules: _Optional[_Iterable[_Union[ChannelRule, _Mapping]]] = ..., replace_defaults: _Optional[bool] = ...) -> None: ...

class SetChannelGroupsResponse(_message.Message):
    __slots__ = ("channel_groups",)
    CHANNEL_GROUPS_FIELD_NUMBER: _ClassVar[int]
    channel_groups: GetChannelGroupsResponse
    def __init__(self, channel_groups: _Optional[_Union[GetChannelGroupsResponse, _Mapping]] = ...) -> None: ...
