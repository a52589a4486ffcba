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

class ModelKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_KIND_UNSPECIFIED: _ClassVar[ModelKind]
    MODEL_KIND_FIRST_TOUCH: _ClassVar[ModelKind]
    MODEL_KIND_LAST_TOUCH: _ClassVar[ModelKind]
    MODEL_KIND_LAST_NON_DIRECT: _ClassVar[ModelKind]
    MODEL_KIND_LINEAR: _ClassVar[ModelKind]
    MODEL_KIND_POSITION_BASED: _ClassVar[ModelKind]
    MODEL_KIND_W_SHAPED: _ClassVar[ModelKind]
    MODEL_KIND_J_SHAPED: _ClassVar[ModelKind]
    MODEL_KIND_INVERSE_J: _ClassVar[ModelKind]
    MODEL_KIND_TIME_DECAY: _ClassVar[ModelKind]
    MODEL_KIND_PARTICIPATION: _ClassVar[ModelKind]
    MODEL_KIND_CUSTOM_POSITIONS: _ClassVar[ModelKind]
    MODEL_KIND_MARKOV: _ClassVar[ModelKind]
    MODEL_KIND_SHAPLEY: _ClassVar[ModelKind]

class SettingSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SETTING_SOURCE_UNSPECIFIED: _ClassVar[SettingSource]
    SETTING_SOURCE_ENVIRONMENT: _ClassVar[SettingSource]
    SETTING_SOURCE_DEFAULT: _ClassVar[SettingSource]
    SETTING_SOURCE_PROPERTY: _ClassVar[SettingSource]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_COMPLETED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]

class WatchEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WATCH_EVENT_KIND_UNSPECIFIED: _ClassVar[WatchEventKind]
    WATCH_EVENT_KIND_ATTRIBUTED: _ClassVar[WatchEventKind]
    WATCH_EVENT_KIND_REATTRIBUTED: _ClassVar[WatchEventKind]
    WATCH_EVENT_KIND_HEARTBEAT: _ClassVar[WatchEventKind]
    WATCH_EVENT_KIND_RETRACTED: _ClassVar[WatchEventKind]
MODEL_KIND_UNSPECIFIED: ModelKind
MODEL_KIND_FIRST_TOUCH: ModelKind
MODEL_KIND_LAST_TOUCH: ModelKind
MODEL_KIND_LAST_NON_DIRECT: ModelKind
MODEL_KIND_LINEAR: ModelKind
MODEL_KIND_POSITION_BASED: ModelKind
MODEL_KIND_W_SHAPED: ModelKind
MODEL_KIND_J_SHAPED: ModelKind
MODEL_KIND_INVERSE_J: ModelKind
MODEL_KIND_TIME_DECAY: ModelKind
MODEL_KIND_PARTICIPATION: ModelKind
MODEL_KIND_CUSTOM_POSITIONS: ModelKind
MODEL_KIND_MARKOV: ModelKind
MODEL_KIND_SHAPLEY: ModelKind
SETTING_SOURCE_UNSPECIFIED: SettingSource
SETTING_SOURCE_ENVIRONMENT: SettingSource
SETTING_SOURCE_DEFAULT: SettingSource
SETTING_SOURCE_PROPERTY: SettingSource
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_COMPLETED: JobState
JOB_STATE_FAILED: JobState
WATCH_EVENT_KIND_UNSPECIFIED: WatchEventKind
WATCH_EVENT_KIND_ATTRIBUTED: WatchEventKind
WATCH_EVENT_KIND_REATTRIBUTED: WatchEventKind
WATCH_EVENT_KIND_HEARTBEAT: WatchEventKind
WATCH_EVENT_KIND_RETRACTED: WatchEventKind

class ModelConfig(_message.Message):
    __slots__ = ("name", "kind", "first_share", "last_share", "key_share", "half_life", "position_weights", "markov_order", "training_window")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FIRST_SHARE_FIELD_NUMBER: _ClassVar[int]
    LAST_SHARE_FIELD_NUMBER: _ClassVar[int]
    KEY_SHARE_FIELD_NUMBER: _ClassVar[int]
    HALF_LIFE_FIELD_NUMBER: _ClassVar[int]
    POSITION_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    MARKOV_ORDER_FIELD_NUMBER: _ClassVar[int]
    TRAINING_WINDOW_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ModelKind
    first_share: float
    last_share: float
    key_share: float
    half_life: _duration_pb2.Duration
    position_weights: _containers.RepeatedScalarFieldContainer[float]
    markov_order: int
    training_window: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ModelKind, str]] = ..., first_share: _Optional[float] = ..., last_share: _Optional[float] = ..., key_share: _Optional[float] = ..., half_life: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., position_weights: _Optional[_Iterable[float]] = ..., markov_order: _Optional[int] = ..., training_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class LookbackWindow(_message.Message):
    __slots__ = ("clicks", "views")
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    VIEWS_FIELD_NUMBER: _ClassVar[int]
    clicks: _duration_pb2.Duration
    views: _duration_pb2.Duration
    def __init__(self, clicks: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., views: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class LookbackSettings(_message.Message):
    __slots__ = ("default_window", "by_conversion")
    class ByConversionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: LookbackWindow
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[LookbackWindow, _Mapping]] = ...) -> None: ...
    DEFAULT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    BY_CONVERSION_FIELD_NUMBER: _ClassVar[int]
    default_window: LookbackWindow
    by_conversion: _containers.MessageMap[str, LookbackWindow]
    def __init__(self, default_window: _Optional[_Union[LookbackWindow, _Mapping]] = ..., by_conversion: _Optional[_Mapping[str, LookbackWindow]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("property_id",)
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    def __init__(self, property_id: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "reporting_identity", "property_id", "models_source", "reporting_identity_source", "lookbacks", "lookbacks_source")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    REPORTING_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    MODELS_SOURCE_FIELD_NUMBER: _ClassVar[int]
    REPORTING_IDENTITY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    LOOKBACKS_FIELD_NUMBER: _ClassVar[int]
    LOOKBACKS_SOURCE_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelConfig]
    reporting_identity: _common_pb2.ReportingIdentity
    property_id: str
    models_source: SettingSource
    reporting_identity_source: SettingSource
    lookbacks: LookbackSettings
    lookbacks_source: SettingSource
    def __init__(self, models: _Optional[_Iterable[_Union[ModelConfig, _Mapping]]] = ..., reporting_identity: _Optional[_Union[_common_pb2.ReportingIdentity, str]] = ..., property_id: _Optional[str] = ..., models_source: _Optional[_Union[SettingSource, str]] = ..., reporting_identity_source: _Optional[_Union[SettingSource, str]] = ..., lookbacks: _Optional[_Union[LookbackSettings, _Mapping]] = ..., lookbacks_source: _Optional[_Union[SettingSource, str]] = ...) -> None: ...

class SetReportingIdentityRequest(_message.Message):
    __slots__ = ("reporting_identity", "property_id")
    REPORTING_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    reporting_identity: _common_pb2.ReportingIdentity
    property_id: str
    def __init__(self, reporting_identity: _Optional[_Union[_common_pb2.ReportingIdentity, str]] = ..., property_id: _Optional[str] = ...) -> None: ...

class SetReportingIdentityResponse(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ConfigureModelsRequest(_message.Message):
    __slots__ = ("models", "property_id", "lookbacks", "follow_default")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    LOOKBACKS_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelConfig]
    property_id: str
    lookbacks: LookbackSettings
    follow_default: bool
    def __init__(self, models: _Optional[_Iterable[_Union[ModelConfig, _Mapping]]] = ..., property_id: _Optional[str] = ..., lookbacks: _Optional[_Union[LookbackSettings, _Mapping]] = ..., follow_default: _Optional[bool] = ...) -> None: ...

class ConfigureModelsResponse(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class RefitModelRequest(_message.Message):
    __slots__ = ("property_id", "conversion_name", "model")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    conversion_name: str
    model: str
    def __init__(self, property_id: _Optional[str] = ..., conversion_name: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class RefitModelResponse(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class StartReattributionRequest(_message.Message):
    __slots__ = ("property_id",)
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    def __init__(self, property_id: _Optional[str] = ...) -> None: ...

class StartReattributionResponse(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id", "property_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    property_id: str
    def __init__(self, job_id: _Optional[str] = ..., property_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job_id", "description", "state", "total", "done", "error", "started_at", "finished_at")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    description: str
    state: JobState
    total: int
    done: int
    error: str
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    def __init__(self, job_id: _Optional[str] = ..., description: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., total: _Optional[int] = ..., done: _Optional[int] = ..., error: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetAttributionRequest(_message.Message):
    __slots__ = ("conversion_id", "property_id")
    CONVERSION_ID_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    conversion_id: str
    property_id: str
    def __init__(self, conversion_id: _Optional[str] = ..., property_id: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("position", "recorded_at", "conversion_attributed", "model_fitted", "settings_changed", "conversion_stage_changed", "conversion_retracted")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_ATTRIBUTED_FIELD_NUMBER: _ClassVar[int]
    MODEL_FITTED_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_CHANGED_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_STAGE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RETRACTED_FIELD_NUMBER: _ClassVar[int]
    position: int
    recorded_at: _timestamp_pb2.Timestamp
    conversion_attributed: ConversionAttributed
    model_fitted: ModelFitted
    settings_changed: AttributionSettingsChanged
    conversion_stage_changed: ConversionStageChanged
    conversion_retracted: ConversionRetracted
    def __init__(self, position: _Optional[int] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., conversion_attributed: _Optional[_Union[ConversionAttributed, _Mapping]] = ..., model_fitted: _Optional[_Union[ModelFitted, _Mapping]] = ..., settings_changed: _Optional[_Union[AttributionSettingsChanged, _Mapping]] = ..., conversion_stage_changed: _Optional[_Union[ConversionStageChanged, _Mapping]] = ..., conversion_retracted: _Optional[_Union[ConversionRetracted, _Mapping]] = ...) -> None: ...

class AttributionSettingsChanged(_message.Message):
    __slots__ = ("property_id", "models", "models_source", "reporting_identity", "reporting_identity_source", "lookbacks", "lookbacks_source")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    MODELS_SOURCE_FIELD_NUMBER: _ClassVar[int]
    REPORTING_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    REPORTING_IDENTITY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    LOOKBACKS_FIELD_NUMBER: _ClassVar[int]
    LOOKBACKS_SOURCE_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    models: _containers.RepeatedCompositeFieldContainer[ModelConfig]
    models_source: SettingSource
    reporting_identity: _common_pb2.ReportingIdentity
    reporting_identity_source: SettingSource
    lookbacks: LookbackSettings
    lookbacks_source: SettingSource
    def __init__(self, property_id: _Optional[str] = ..., models: _Optional[_Iterable[_Union[ModelConfig, _Mapping]]] = ..., models_source: _Optional[_Union[SettingSource, str]] = ..., reporting_identity: _Optional[_Union[_common_pb2.ReportingIdentity, str]] = ..., reporting_identity_source: _Optional[_Union[SettingSource, str]] = ..., lookbacks: _Optional[_Union[LookbackSettings, _Mapping]] = ..., lookbacks_source: _Optional[_Union[SettingSource, str]] = ...) -> None: ...

class ConversionAttributed(_message.Message):
    __slots__ = ("property_id", "conversion_id", "event_id", "conversion_name", "occurred_at", "value", "reporting_value", "revision", "journey", "models", "trace_parent", "journey_length", "credits_grouped", "unconsented", "advertising_denied", "path", "stage", "stages")
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
    TRACE_PARENT_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_LENGTH_FIELD_NUMBER: _ClassVar[int]
    CREDITS_GROUPED_FIELD_NUMBER: _ClassVar[int]
    UNCONSENTED_FIELD_NUMBER: _ClassVar[int]
    ADVERTISING_DENIED_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
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
    trace_parent: str
    journey_length: int
    credits_grouped: bool
    unconsented: bool
    advertising_denied: bool
    path: ConversionPath
    stage: str
    stages: _containers.RepeatedCompositeFieldContainer[StageReached]
    def __init__(self, property_id: _Optional[str] = ..., conversion_id: _Optional[str] = ..., event_id: _Optional[str] = ..., conversion_name: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reporting_value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., revision: _Optional[int] = ..., journey: _Optional[_Iterable[_Union[JourneyTouchpoint, _Mapping]]] = ..., models: _Optional[_Iterable[_Union[ModelCredits, _Mapping]]] = ..., trace_parent: _Optional[str] = ..., journey_length: _Optional[int] = ..., credits_grouped: _Optional[bool] = ..., unconsented: _Optional[bool] = ..., advertising_denied: _Optional[bool] = ..., path: _Optional[_Union[ConversionPath, _Mapping]] = ..., stage: _Optional[str] = ..., stages: _Optional[_Iterable[_Union[StageReached, _Mapping]]] = ...) -> None: ...

class JourneyTouchpoint(_message.Message):
    __slots__ = ("touchpoint_id", "occurred_at", "channel", "source", "medium", "campaign", "advertising_denied", "term", "content", "device_type", "browser", "country", "landing_page")
    TOUCHPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MEDIUM_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    ADVERTISING_DENIED_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    LANDING_PAGE_FIELD_NUMBER: _ClassVar[int]
    touchpoint_id: str
    occurred_at: _timestamp_pb2.Timestamp
    channel: str
    source: str
    medium: str
    campaign: str
    advertising_denied: bool
    term: str
    content: str
    device_type: str
    browser: str
    country: str
    landing_page: str
    def __init__(self, touchpoint_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., channel: _Optional[str] = ..., source: _Optional[str] = ..., medium: _Optional[str] = ..., campaign: _Optional[str] = ..., advertising_denied: _Optional[bool] = ..., term: _Optional[str] = ..., content: _Optional[str] = ..., device_type: _Optional[str] = ..., browser: _Optional[str] = ..., country: _Optional[str] = ..., landing_page: _Optional[str] = ...) -> None: ...

class ModelCredits(_message.Message):
    __slots__ = ("model", "credits", "model_version", "exceeds_conversion")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXCEEDS_CONVERSION_FIELD_NUMBER: _ClassVar[int]
    model: str
    credits: _containers.RepeatedCompositeFieldContainer[Credit]
    model_version: int
    exceeds_conversion: bool
    def __init__(self, model: _Optional[str] = ..., credits: _Optional[_Iterable[_Union[Credit, _Mapping]]] = ..., model_version: _Optional[int] = ..., exceeds_conversion: _Optional[bool] = ...) -> None: ...

class ModelFitted(_message.Message):
    __slots__ = ("property_id", "conversion_name", "model", "version", "window_start", "window_end", "converting_paths", "null_paths", "channel_shares", "value_shares")
    class ChannelSharesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ValueSharesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    CONVERTING_PATHS_FIELD_NUMBER: _ClassVar[int]
    NULL_PATHS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_SHARES_FIELD_NUMBER: _ClassVar[int]
    VALUE_SHARES_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    conversion_name: str
    model: str
    version: int
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    converting_paths: int
    null_paths: int
    channel_shares: _containers.ScalarMap[str, float]
    value_shares: _containers.ScalarMap[str, float]
    def __init__(self, property_id: _Optional[str] = ..., conversion_name: _Optional[str] = ..., model: _Optional[str] = ..., version: _Optional[int] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., converting_paths: _Optional[int] = ..., null_paths: _Optional[int] = ..., channel_shares: _Optional[_Mapping[str, float]] = ..., value_shares: _Optional[_Mapping[str, float]] = ...) -> None: ...

class Credit(_message.Message):
    __slots__ = ("touchpoint_id", "channel", "source", "medium", "campaign", "fraction", "value", "touchpoint_count", "term", "content", "device_type", "browser", "country", "landing_page")
    TOUCHPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MEDIUM_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TOUCHPOINT_COUNT_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    LANDING_PAGE_FIELD_NUMBER: _ClassVar[int]
    touchpoint_id: str
    channel: str
    source: str
    medium: str
    campaign: str
    fraction: float
    value: _common_pb2.Money
    touchpoint_count: int
    term: str
    content: str
    device_type: str
    browser: str
    country: str
    landing_page: str
    def __init__(self, touchpoint_id: _Optional[str] = ..., channel: _Optional[str] = ..., source: _Optional[str] = ..., medium: _Optional[str] = ..., campaign: _Optional[str] = ..., fraction: _Optional[float] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., touchpoint_count: _Optional[int] = ..., term: _Optional[str] = ..., content: _Optional[str] = ..., device_type: _Optional[str] = ..., browser: _Optional[str] = ..., country: _Optional[str] = ..., landing_page: _Optional[str] = ...) -> None: ...

class ConversionPath(_message.Message):
    __slots__ = ("channels", "run_lengths", "touchpoint_count", "first_touch_at", "last_non_direct_channel", "head_runs", "omitted_runs", "omitted_touchpoints", "omitted_channels")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    RUN_LENGTHS_FIELD_NUMBER: _ClassVar[int]
    TOUCHPOINT_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_TOUCH_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_NON_DIRECT_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    HEAD_RUNS_FIELD_NUMBER: _ClassVar[int]
    OMITTED_RUNS_FIELD_NUMBER: _ClassVar[int]
    OMITTED_TOUCHPOINTS_FIELD_NUMBER: _ClassVar[int]
    OMITTED_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedScalarFieldContainer[str]
    run_lengths: _containers.RepeatedScalarFieldContainer[int]
    touchpoint_count: int
    first_touch_at: _timestamp_pb2.Timestamp
    last_non_direct_channel: str
    head_runs: int
    omitted_runs: int
    omitted_touchpoints: int
    omitted_channels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, channels: _Optional[_Iterable[str]] = ..., run_lengths: _Optional[_Iterable[int]] = ..., touchpoint_count: _Optional[int] = ..., first_touch_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_non_direct_channel: _Optional[str] = ..., head_runs: _Optional[int] = ..., omitted_runs: _Optional[int] = ..., omitted_touchpoints: _Optional[int] = ..., omitted_channels: _Optional[_Iterable[str]] = ...) -> None: ...

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

class WatchConversionsRequest(_message.Message):
    __slots__ = ("property_id", "after", "from_now", "conversion_names", "heartbeat_interval")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    FROM_NOW_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAMES_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    after: int
    from_now: bool
    conversion_names: _containers.RepeatedScalarFieldContainer[str]
    heartbeat_interval: _duration_pb2.Duration
    def __init__(self, property_id: _Optional[str] = ..., after: _Optional[int] = ..., from_now: _Optional[bool] = ..., conversion_names: _Optional[_Iterable[str]] = ..., heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class WatchConversionsResponse(_message.Message):
    __slots__ = ("position", "kind", "recorded_at", "attribution", "log_head", "retraction")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    LOG_HEAD_FIELD_NUMBER: _ClassVar[int]
    RETRACTION_FIELD_NUMBER: _ClassVar[int]
    position: int
    kind: WatchEventKind
    recorded_at: _timestamp_pb2.Timestamp
    attribution: ConversionAttributed
    log_head: int
    retraction: ConversionRetracted
    def __init__(self, position: _Optional[int] = ..., kind: _Optional[_Union[WatchEventKind, str]] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attribution: _Optional[_Union[ConversionAttributed, _Mapping]] = ..., log_head: _Optional[int] = ..., retraction: _Optional[_Union[ConversionRetracted, _Mapping]] = ...) -> None: ...

class StageReached(_message.Message):
    __slots__ = ("stage", "reached_at")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    REACHED_AT_FIELD_NUMBER: _ClassVar[int]
    stage: str
    reached_at: _timestamp_pb2.Timestamp
    def __init__(self, stage: _Optional[str] = ..., reached_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConversionStageChanged(_message.Message):
    __slots__ = ("property_id", "conversion_id", "conversion_name", "occurred_at", "stage", "stages", "value", "reporting_value")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REPORTING_VALUE_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    conversion_id: str
    conversion_name: str
    occurred_at: _timestamp_pb2.Timestamp
    stage: str
    stages: _containers.RepeatedCompositeFieldContainer[StageReached]
    value: _common_pb2.Money
    reporting_value: _common_pb2.Money
    def __init__(self, property_id: _Optional[str] = ..., conversion_id: _Optional[str] = ..., conversion_name: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stage: _Optional[str] = ..., stages: _Optional[_Iterable[_Union[StageReached, _Mapping]]] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reporting_value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class ConversionRetracted(_message.Message):
    __slots__ = ("property_id", "conversion_id", "conversion_name", "occurred_at", "retracted_at")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    RETRACTED_AT_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    conversion_id: str
    conversion_name: str
    occurred_at: _timestamp_pb2.Timestamp
    retracted_at: _timestamp_pb2.Timestamp
    def __init__(self, property_id: _Optional[str] = ..., conversion_id: _Optional[str] = ..., conversion_name: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retracted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
