import datetime

from convtrack.common.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GroupBy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GROUP_BY_UNSPECIFIED: _ClassVar[GroupBy]
    GROUP_BY_CHANNEL: _ClassVar[GroupBy]
    GROUP_BY_SOURCE: _ClassVar[GroupBy]
    GROUP_BY_MEDIUM: _ClassVar[GroupBy]
    GROUP_BY_CAMPAIGN: _ClassVar[GroupBy]
GROUP_BY_UNSPECIFIED: GroupBy
GROUP_BY_CHANNEL: GroupBy
GROUP_BY_SOURCE: GroupBy
GROUP_BY_MEDIUM: GroupBy
GROUP_BY_CAMPAIGN: GroupBy

class GetConversionReportRequest(_message.Message):
    __slots__ = ("property_id", "model", "group_by", "start_time", "end_time", "conversion_name")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    model: str
    group_by: GroupBy
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    conversion_name: str
    def __init__(self, property_id: _Optional[str] = ..., model: _Optional[str] = ..., group_by: _Optional[_Union[GroupBy, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., conversion_name: _Optional[str] = ...) -> None: ...

class GetConversionReportResponse(_message.Message):
    __slots__ = ("rows", "total_conversions", "total_value", "exceeds_conversions", "total_value_saturated")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    EXCEEDS_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_VALUE_SATURATED_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[ReportRow]
    total_conversions: float
    total_value: _common_pb2.Money
    exceeds_conversions: bool
    total_value_saturated: bool
    def __init__(self, rows: _Optional[_Iterable[_Union[ReportRow, _Mapping]]] = ..., total_conversions: _Optional[float] = ..., total_value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., exceeds_conversions: _Optional[bool] = ..., total_value_saturated: _Optional[bool] = ...) -> None: ...

class ReportRow(_message.Message):
    __slots__ = ("group", "conversions", "value", "share", "value_saturated")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    VALUE_SATURATED_FIELD_NUMBER: _ClassVar[int]
    group: str
    conversions: float
    value: _common_pb2.Money
    share: float
    value_saturated: bool
    def __init__(self, group: _Optional[str] = ..., conversions: _Optional[float] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., share: _Optional[float] = ..., value_saturated: _Optional[bool] = ...) -> None: ...

class CompareModelsRequest(_message.Message):
    __slots__ = ("property_id", "conversion_name", "start_time", "end_time", "models", "group_by")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    conversion_name: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    models: _containers.RepeatedScalarFieldContainer[str]
    group_by: GroupBy
    def __init__(self, property_id: _Optional[str] = ..., conversion_name: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., models: _Optional[_Iterable[str]] = ..., group_by: _Optional[_Union[GroupBy, str]] = ...) -> None: ...

class CompareModelsResponse(_message.Message):
    __slots__ = ("models", "rows", "models_exceeding_conversions")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    MODELS_EXCEEDING_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedScalarFieldContainer[str]
    rows: _containers.RepeatedCompositeFieldContainer[ComparisonRow]
    models_exceeding_conversions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, models: _Optional[_Iterable[str]] = ..., rows: _Optional[_Iterable[_Union[ComparisonRow, _Mapping]]] = ..., models_exceeding_conversions: _Optional[_Iterable[str]] = ...) -> None: ...

class ComparisonRow(_message.Message):
    __slots__ = ("group", "figures")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    group: str
    figures: _containers.RepeatedCompositeFieldContainer[ModelFigures]
    def __init__(self, group: _Optional[str] = ..., figures: _Optional[_Iterable[_Union[ModelFigures, _Mapping]]] = ...) -> None: ...

class ModelFigures(_message.Message):
    __slots__ = ("model", "conversions", "value", "share", "value_saturated")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    VALUE_SATURATED_FIELD_NUMBER: _ClassVar[int]
    model: str
    conversions: float
    value: _common_pb2.Money
    share: float
    value_saturated: bool
    def __init__(self, model: _Optional[str] = ..., conversions: _Optional[float] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., share: _Optional[float] = ..., value_saturated: _Optional[bool] = ...) -> None: ...

class GetSyncStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSyncStatusResponse(_message.Message):
    __slots__ = ("upstreams",)
    UPSTREAMS_FIELD_NUMBER: _ClassVar[int]
    upstreams: _containers.RepeatedCompositeFieldContainer[_common_pb2.UpstreamPosition]
    def __init__(self, upstreams: _Optional[_Iterable[_Union[_common_pb2.UpstreamPosition, _Mapping]]] = ...) -> None: ...
