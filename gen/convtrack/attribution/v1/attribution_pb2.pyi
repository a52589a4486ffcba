import datetime

from convtrack.common.v1 import common_pb2 as _common_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetAttributionRequest(_message.Message):
    __slots__ = ("conversion_id",)
    CONVERSION_ID_FIELD_NUMBER: _ClassVar[int]
    conversion_id: str
    def __init__(self, conversion_id: _Optional[str] = ...) -> None: ...

class GetAttributionResponse(_message.Message):
    __slots__ = ("attribution",)
    ATTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    attribution: ConversionAttributed
    def __init__(self, attribution: _Optional[_Union[ConversionAttributed, _Mapping]] = ...) -> None: ...

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

class GetSyncStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSyncStatusResponse(_message.Message):
    __slots__ = ("upstreams",)
    UPSTREAMS_FIELD_NUMBER: _ClassVar[int]
    upstreams: _containers.RepeatedCompositeFieldContainer[_common_pb2.UpstreamPosition]
    def __init__(self, upstreams: _Optional[_Iterable[_Union[_common_pb2.UpstreamPosition, _Mapping]]] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("position", "recorded_at", "conversion_attributed")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_ATTRIBUTED_FIELD_NUMBER: _ClassVar[int]
    position: int
    recorded_at: _timestamp_pb2.Timestamp
    conversion_attributed: ConversionAttributed
    def __init__(self, position: _Optional[int] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., conversion_attributed: _Optional[_Union[ConversionAttributed, _Mapping]] = ...) -> None: ...

class ConversionAttributed(_message.Message):
    __slots__ = ("property_id", "conversion_id", "event_id", "conversion_name", "occurred_at", "value", "reporting_value", "revision", "journey", "models")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REPORTING_VALUE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    conversion_id: str
    event_id: str
    conversion_name: str
    occurred_at: _timestamp_pb2.Timestamp
    value: _common_pb2.Money
    reporting_value: _common_pb2.Money
    revision: int
    journey: _containers.RepeatedCompositeFieldContainer[JourneyTouchpoint]
    models: _containers.RepeatedCompositeFieldContainer[ModelCredits]
    def __init__(self, property_id: _Optional[str] = ..., conversion_id: _Optional[str] = ..., event_id: _Optional[str] = ..., conversion_name: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reporting_value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., revision: _Optional[int] = ..., journey: _Optional[_Iterable[_Union[JourneyTouchpoint, _Mapping]]] = ..., models: _Optional[_Iterable[_Union[ModelCredits, _Mapping]]] = ...) -> None: ...

class JourneyTouchpoint(_message.Message):
    __slots__ = ("touchpoint_id", "occurred_at", "channel", "source", "medium", "campaign")
    TOUCHPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MEDIUM_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    touchpoint_id: str
    occurred_at: _timestamp_pb2.Timestamp
    channel: str
    source: str
    medium: str
    campaign: str
    def __init__(self, touchpoint_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., channel: _Optional[str] = ..., source: _Optional[str] = ..., medium: _Optional[str] = ..., campaign: _Optional[str] = ...) -> None: ...

class ModelCredits(_message.Message):
    __slots__ = ("model", "credits")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    model: str
    credits: _containers.RepeatedCompositeFieldContainer[Credit]
    def __init__(self, model: _Optional[str] = ..., credits: _Optional[_Iterable[_Union[Credit, _Mapping]]] = ...) -> None: ...

class Credit(_message.Message):
    __slots__ = ("touchpoint_id", "channel", "source", "medium", "campaign", "fraction", "value")
    TOUCHPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MEDIUM_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    touchpoint_id: str
    channel: str
    source: str
    medium: str
    campaign: str
    fraction: float
    value: _common_pb2.Money
    def __init__(self, touchpoint_id: _Optional[str] = ..., channel: _Optional[str] = ..., source: _Optional[str] = ..., medium: _Optional[str] = ..., campaign: _Optional[str] = ..., fraction: _Optional[float] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...
