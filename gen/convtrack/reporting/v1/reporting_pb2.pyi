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

class GroupBy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GROUP_BY_UNSPECIFIED: _ClassVar[GroupBy]
    GROUP_BY_CHANNEL: _ClassVar[GroupBy]
    GROUP_BY_SOURCE: _ClassVar[GroupBy]
    GROUP_BY_MEDIUM: _ClassVar[GroupBy]
    GROUP_BY_CAMPAIGN: _ClassVar[GroupBy]
    GROUP_BY_TERM: _ClassVar[GroupBy]
    GROUP_BY_CONTENT: _ClassVar[GroupBy]
    GROUP_BY_DEVICE_TYPE: _ClassVar[GroupBy]
    GROUP_BY_BROWSER: _ClassVar[GroupBy]
    GROUP_BY_COUNTRY: _ClassVar[GroupBy]
    GROUP_BY_LANDING_PAGE: _ClassVar[GroupBy]
    GROUP_BY_CONVERSION_NAME: _ClassVar[GroupBy]

class ReportInterval(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_INTERVAL_UNSPECIFIED: _ClassVar[ReportInterval]
    REPORT_INTERVAL_DAY: _ClassVar[ReportInterval]
    REPORT_INTERVAL_WEEK: _ClassVar[ReportInterval]
    REPORT_INTERVAL_MONTH: _ClassVar[ReportInterval]

class PathDistributionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PATH_DISTRIBUTION_KIND_UNSPECIFIED: _ClassVar[PathDistributionKind]
    PATH_DISTRIBUTION_KIND_PATH_LENGTH: _ClassVar[PathDistributionKind]
    PATH_DISTRIBUTION_KIND_TIME_LAG: _ClassVar[PathDistributionKind]

class FunnelStepKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FUNNEL_STEP_KIND_UNSPECIFIED: _ClassVar[FunnelStepKind]
    FUNNEL_STEP_KIND_PAGE: _ClassVar[FunnelStepKind]
    FUNNEL_STEP_KIND_EVENT: _ClassVar[FunnelStepKind]
    FUNNEL_STEP_KIND_CONVERSION: _ClassVar[FunnelStepKind]

class FunnelStepMatch(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FUNNEL_STEP_MATCH_UNSPECIFIED: _ClassVar[FunnelStepMatch]
    FUNNEL_STEP_MATCH_EXACT: _ClassVar[FunnelStepMatch]
    FUNNEL_STEP_MATCH_PREFIX: _ClassVar[FunnelStepMatch]

class CohortInterval(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COHORT_INTERVAL_UNSPECIFIED: _ClassVar[CohortInterval]
    COHORT_INTERVAL_WEEK: _ClassVar[CohortInterval]
    COHORT_INTERVAL_MONTH: _ClassVar[CohortInterval]
GROUP_BY_UNSPECIFIED: GroupBy
GROUP_BY_CHANNEL: GroupBy
GROUP_BY_SOURCE: GroupBy
GROUP_BY_MEDIUM: GroupBy
GROUP_BY_CAMPAIGN: GroupBy
GROUP_BY_TERM: GroupBy
GROUP_BY_CONTENT: GroupBy
GROUP_BY_DEVICE_TYPE: GroupBy
GROUP_BY_BROWSER: GroupBy
GROUP_BY_COUNTRY: GroupBy
GROUP_BY_LANDING_PAGE: GroupBy
GROUP_BY_CONVERSION_NAME: GroupBy
REPORT_INTERVAL_UNSPECIFIED: ReportInterval
REPORT_INTERVAL_DAY: ReportInterval
REPORT_INTERVAL_WEEK: ReportInterval
REPORT_INTERVAL_MONTH: ReportInterval
PATH_DISTRIBUTION_KIND_UNSPECIFIED: PathDistributionKind
PATH_DISTRIBUTION_KIND_PATH_LENGTH: PathDistributionKind
PATH_DISTRIBUTION_KIND_TIME_LAG: PathDistributionKind
FUNNEL_STEP_KIND_UNSPECIFIED: FunnelStepKind
FUNNEL_STEP_KIND_PAGE: FunnelStepKind
FUNNEL_STEP_KIND_EVENT: FunnelStepKind
FUNNEL_STEP_KIND_CONVERSION: FunnelStepKind
FUNNEL_STEP_MATCH_UNSPECIFIED: FunnelStepMatch
FUNNEL_STEP_MATCH_EXACT: FunnelStepMatch
FUNNEL_STEP_MATCH_PREFIX: FunnelStepMatch
COHORT_INTERVAL_UNSPECIFIED: CohortInterval
COHORT_INTERVAL_WEEK: CohortInterval
COHORT_INTERVAL_MONTH: CohortInterval

class GetConversionReportRequest(_message.Message):
    __slots__ = ("property_id", "model", "group_by", "start_time", "end_time", "conversion_name", "dimensions", "filters", "interval", "compare_to", "page_size", "page_token", "as_of")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    COMPARE_TO_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    model: str
    group_by: GroupBy
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    conversion_name: str
    dimensions: _containers.RepeatedScalarFieldContainer[GroupBy]
    filters: _containers.RepeatedCompositeFieldContainer[DimensionFilter]
    interval: ReportInterval
    compare_to: ComparePeriod
    page_size: int
    page_token: str
    as_of: AsOf
    def __init__(self, property_id: _Optional[str] = ..., model: _Optional[str] = ..., group_by: _Optional[_Union[GroupBy, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., conversion_name: _Optional[str] = ..., dimensions: _Optional[_Iterable[_Union[GroupBy, str]]] = ..., filters: _Optional[_Iterable[_Union[DimensionFilter, _Mapping]]] = ..., interval: _Optional[_Union[ReportInterval, str]] = ..., compare_to: _Optional[_Union[ComparePeriod, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class DimensionFilter(_message.Message):
    __slots__ = ("dimension", "values")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    dimension: GroupBy
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dimension: _Optional[_Union[GroupBy, str]] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class ComparePeriod(_message.Message):
    __slots__ = ("previous_period", "start_time", "end_time")
    PREVIOUS_PERIOD_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    previous_period: bool
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, previous_period: _Optional[bool] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetConversionReportResponse(_message.Message):
    __slots__ = ("rows", "total_conversions", "total_value", "exceeds_conversions", "total_value_saturated", "conversion_name", "freshness", "unconsented_conversions", "dimensions", "interval", "time_zone", "conversion_names", "previous_total", "compare_start_time", "compare_end_time", "next_page_token", "total_rows")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    EXCEEDS_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_VALUE_SATURATED_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    UNCONSENTED_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAMES_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    COMPARE_START_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPARE_END_TIME_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[ReportRow]
    total_conversions: float
    total_value: _common_pb2.Money
    exceeds_conversions: bool
    total_value_saturated: bool
    conversion_name: str
    freshness: ReportFreshness
    unconsented_conversions: int
    dimensions: _containers.RepeatedScalarFieldContainer[GroupBy]
    interval: ReportInterval
    time_zone: str
    conversion_names: _containers.RepeatedScalarFieldContainer[str]
    previous_total: PeriodComparison
    compare_start_time: _timestamp_pb2.Timestamp
    compare_end_time: _timestamp_pb2.Timestamp
    next_page_token: str
    total_rows: int
    def __init__(self, rows: _Optional[_Iterable[_Union[ReportRow, _Mapping]]] = ..., total_conversions: _Optional[float] = ..., total_value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., exceeds_conversions: _Optional[bool] = ..., total_value_saturated: _Optional[bool] = ..., conversion_name: _Optional[str] = ..., freshness: _Optional[_Union[ReportFreshness, _Mapping]] = ..., unconsented_conversions: _Optional[int] = ..., dimensions: _Optional[_Iterable[_Union[GroupBy, str]]] = ..., interval: _Optional[_Union[ReportInterval, str]] = ..., time_zone: _Optional[str] = ..., conversion_names: _Optional[_Iterable[str]] = ..., previous_total: _Optional[_Union[PeriodComparison, _Mapping]] = ..., compare_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., compare_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_page_token: _Optional[str] = ..., total_rows: _Optional[int] = ...) -> None: ...

class PeriodComparison(_message.Message):
    __slots__ = ("conversions", "value", "conversions_change", "value_change", "conversions_change_ratio", "value_change_ratio", "value_saturated")
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_CHANGE_FIELD_NUMBER: _ClassVar[int]
    VALUE_CHANGE_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_CHANGE_RATIO_FIELD_NUMBER: _ClassVar[int]
    VALUE_CHANGE_RATIO_FIELD_NUMBER: _ClassVar[int]
    VALUE_SATURATED_FIELD_NUMBER: _ClassVar[int]
    conversions: float
    value: _common_pb2.Money
    conversions_change: float
    value_change: _common_pb2.Money
    conversions_change_ratio: float
    value_change_ratio: float
    value_saturated: bool
    def __init__(self, conversions: _Optional[float] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., conversions_change: _Optional[float] = ..., value_change: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., conversions_change_ratio: _Optional[float] = ..., value_change_ratio: _Optional[float] = ..., value_saturated: _Optional[bool] = ...) -> None: ...

class ReportFreshness(_message.Message):
    __slots__ = ("upstream_positions", "newest_conversion_time", "as_of_time")
    UPSTREAM_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    NEWEST_CONVERSION_TIME_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    upstream_positions: _containers.RepeatedCompositeFieldContainer[_common_pb2.UpstreamPosition]
    newest_conversion_time: _timestamp_pb2.Timestamp
    as_of_time: _timestamp_pb2.Timestamp
    def __init__(self, upstream_positions: _Optional[_Iterable[_Union[_common_pb2.UpstreamPosition, _Mapping]]] = ..., newest_conversion_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReportRow(_message.Message):
    __slots__ = ("group", "conversions", "value", "share", "value_saturated", "dimension_values", "period_start", "period", "previous")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    VALUE_SATURATED_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_VALUES_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    group: str
    conversions: float
    value: _common_pb2.Money
    share: float
    value_saturated: bool
    dimension_values: _containers.RepeatedScalarFieldContainer[str]
    period_start: _timestamp_pb2.Timestamp
    period: str
    previous: PeriodComparison
    def __init__(self, group: _Optional[str] = ..., conversions: _Optional[float] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., share: _Optional[float] = ..., value_saturated: _Optional[bool] = ..., dimension_values: _Optional[_Iterable[str]] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period: _Optional[str] = ..., previous: _Optional[_Union[PeriodComparison, _Mapping]] = ...) -> None: ...

class CompareModelsRequest(_message.Message):
    __slots__ = ("property_id", "conversion_name", "start_time", "end_time", "models", "group_by", "as_of", "filters", "interval", "compare_to", "dimensions")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    COMPARE_TO_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    conversion_name: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    models: _containers.RepeatedScalarFieldContainer[str]
    group_by: GroupBy
    as_of: AsOf
    filters: _containers.RepeatedCompositeFieldContainer[DimensionFilter]
    interval: ReportInterval
    compare_to: ComparePeriod
    dimensions: _containers.RepeatedScalarFieldContainer[GroupBy]
    def __init__(self, property_id: _Optional[str] = ..., conversion_name: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., models: _Optional[_Iterable[str]] = ..., group_by: _Optional[_Union[GroupBy, str]] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ..., filters: _Optional[_Iterable[_Union[DimensionFilter, _Mapping]]] = ..., interval: _Optional[_Union[ReportInterval, str]] = ..., compare_to: _Optional[_Union[ComparePeriod, _Mapping]] = ..., dimensions: _Optional[_Iterable[_Union[GroupBy, str]]] = ...) -> None: ...

class CompareModelsResponse(_message.Message):
    __slots__ = ("models", "rows", "models_exceeding_conversions", "conversion_name", "freshness", "interval", "time_zone", "compare_start_time", "compare_end_time", "dimensions", "conversion_names")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    MODELS_EXCEEDING_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    COMPARE_START_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPARE_END_TIME_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAMES_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedScalarFieldContainer[str]
    rows: _containers.RepeatedCompositeFieldContainer[ComparisonRow]
    models_exceeding_conversions: _containers.RepeatedScalarFieldContainer[str]
    conversion_name: str
    freshness: ReportFreshness
    interval: ReportInterval
    time_zone: str
    compare_start_time: _timestamp_pb2.Timestamp
    compare_end_time: _timestamp_pb2.Timestamp
    dimensions: _containers.RepeatedScalarFieldContainer[GroupBy]
    conversion_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, models: _Optional[_Iterable[str]] = ..., rows: _Optional[_Iterable[_Union[ComparisonRow, _Mapping]]] = ..., models_exceeding_conversions: _Optional[_Iterable[str]] = ..., conversion_name: _Optional[str] = ..., freshness: _Optional[_Union[ReportFreshness, _Mapping]] = ..., interval: _Optional[_Union[ReportInterval, str]] = ..., time_zone: _Optional[str] = ..., compare_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., compare_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dimensions: _Optional[_Iterable[_Union[GroupBy, str]]] = ..., conversion_names: _Optional[_Iterable[str]] = ...) -> None: ...

class ComparisonRow(_message.Message):
    __slots__ = ("group", "figures", "period_start", "period", "dimension_values")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_VALUES_FIELD_NUMBER: _ClassVar[int]
    group: str
    figures: _containers.RepeatedCompositeFieldContainer[ModelFigures]
    period_start: _timestamp_pb2.Timestamp
    period: str
    dimension_values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group: _Optional[str] = ..., figures: _Optional[_Iterable[_Union[ModelFigures, _Mapping]]] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period: _Optional[str] = ..., dimension_values: _Optional[_Iterable[str]] = ...) -> None: ...

class ModelFigures(_message.Message):
    __slots__ = ("model", "conversions", "value", "share", "value_saturated", "previous")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    VALUE_SATURATED_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    model: str
    conversions: float
    value: _common_pb2.Money
    share: float
    value_saturated: bool
    previous: PeriodComparison
    def __init__(self, model: _Optional[str] = ..., conversions: _Optional[float] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., share: _Optional[float] = ..., value_saturated: _Optional[bool] = ..., previous: _Optional[_Union[PeriodComparison, _Mapping]] = ...) -> None: ...

class GetSyncStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSyncStatusResponse(_message.Message):
    __slots__ = ("upstreams",)
    UPSTREAMS_FIELD_NUMBER: _ClassVar[int]
    upstreams: _containers.RepeatedCompositeFieldContainer[_common_pb2.UpstreamPosition]
    def __init__(self, upstreams: _Optional[_Iterable[_Union[_common_pb2.UpstreamPosition, _Mapping]]] = ...) -> None: ...

class ListPropertiesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPropertiesResponse(_message.Message):
    __slots__ = ("property_ids", "next_page_token")
    PROPERTY_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    property_ids: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    def __init__(self, property_ids: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListConversionNamesRequest(_message.Message):
    __slots__ = ("property_id", "page_size", "page_token")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    page_size: int
    page_token: str
    def __init__(self, property_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConversionNamesResponse(_message.Message):
    __slots__ = ("conversion_names", "next_page_token")
    CONVERSION_NAMES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    conversion_names: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    def __init__(self, conversion_names: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListDimensionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDimensionsResponse(_message.Message):
    __slots__ = ("dimensions",)
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    dimensions: _containers.RepeatedCompositeFieldContainer[Dimension]
    def __init__(self, dimensions: _Optional[_Iterable[_Union[Dimension, _Mapping]]] = ...) -> None: ...

class Dimension(_message.Message):
    __slots__ = ("name", "group_by", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    group_by: GroupBy
    description: str
    def __init__(self, name: _Optional[str] = ..., group_by: _Optional[_Union[GroupBy, str]] = ..., description: _Optional[str] = ...) -> None: ...

class ListReportModelsRequest(_message.Message):
    __slots__ = ("property_id", "conversion_name", "as_of")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    conversion_name: str
    as_of: AsOf
    def __init__(self, property_id: _Optional[str] = ..., conversion_name: _Optional[str] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class ListReportModelsResponse(_message.Message):
    __slots__ = ("models", "configured_models")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    CONFIGURED_MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedScalarFieldContainer[str]
    configured_models: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, models: _Optional[_Iterable[str]] = ..., configured_models: _Optional[_Iterable[str]] = ...) -> None: ...

class GetCostReportRequest(_message.Message):
    __slots__ = ("property_id", "model", "group_by", "start_time", "end_time", "conversion_name", "page_size", "page_token", "as_of")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    model: str
    group_by: GroupBy
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    conversion_name: str
    page_size: int
    page_token: str
    as_of: AsOf
    def __init__(self, property_id: _Optional[str] = ..., model: _Optional[str] = ..., group_by: _Optional[_Union[GroupBy, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., conversion_name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class CostRow(_message.Message):
    __slots__ = ("group", "cost", "conversions", "value", "cost_per_conversion", "roas", "roi")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    COST_PER_CONVERSION_FIELD_NUMBER: _ClassVar[int]
    ROAS_FIELD_NUMBER: _ClassVar[int]
    ROI_FIELD_NUMBER: _ClassVar[int]
    group: str
    cost: _common_pb2.Money
    conversions: float
    value: _common_pb2.Money
    cost_per_conversion: _common_pb2.Money
    roas: float
    roi: float
    def __init__(self, group: _Optional[str] = ..., cost: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., conversions: _Optional[float] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., cost_per_conversion: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., roas: _Optional[float] = ..., roi: _Optional[float] = ...) -> None: ...

class GetCostReportResponse(_message.Message):
    __slots__ = ("rows", "totals", "conversion_name", "model", "currency_code", "freshness", "next_page_token")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[CostRow]
    totals: CostRow
    conversion_name: str
    model: str
    currency_code: str
    freshness: ReportFreshness
    next_page_token: str
    def __init__(self, rows: _Optional[_Iterable[_Union[CostRow, _Mapping]]] = ..., totals: _Optional[_Union[CostRow, _Mapping]] = ..., conversion_name: _Optional[str] = ..., model: _Optional[str] = ..., currency_code: _Optional[str] = ..., freshness: _Optional[_Union[ReportFreshness, _Mapping]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetConversionRateReportRequest(_message.Message):
    __slots__ = ("property_id", "model", "group_by", "start_time", "end_time", "conversion_name", "page_size", "page_token", "as_of")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    model: str
    group_by: GroupBy
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    conversion_name: str
    page_size: int
    page_token: str
    as_of: AsOf
    def __init__(self, property_id: _Optional[str] = ..., model: _Optional[str] = ..., group_by: _Optional[_Union[GroupBy, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., conversion_name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class ConversionRateRow(_message.Message):
    __slots__ = ("group", "visitors", "sessions", "conversions", "conversions_per_session", "conversions_per_visitor")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VISITORS_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_PER_SESSION_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_PER_VISITOR_FIELD_NUMBER: _ClassVar[int]
    group: str
    visitors: int
    sessions: int
    conversions: float
    conversions_per_session: float
    conversions_per_visitor: float
    def __init__(self, group: _Optional[str] = ..., visitors: _Optional[int] = ..., sessions: _Optional[int] = ..., conversions: _Optional[float] = ..., conversions_per_session: _Optional[float] = ..., conversions_per_visitor: _Optional[float] = ...) -> None: ...

class GetConversionRateReportResponse(_message.Message):
    __slots__ = ("rows", "totals", "conversion_name", "model", "freshness", "next_page_token")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[ConversionRateRow]
    totals: ConversionRateRow
    conversion_name: str
    model: str
    freshness: ReportFreshness
    next_page_token: str
    def __init__(self, rows: _Optional[_Iterable[_Union[ConversionRateRow, _Mapping]]] = ..., totals: _Optional[_Union[ConversionRateRow, _Mapping]] = ..., conversion_name: _Optional[str] = ..., model: _Optional[str] = ..., freshness: _Optional[_Union[ReportFreshness, _Mapping]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PropertySettings(_message.Message):
    __slots__ = ("time_zone",)
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    time_zone: str
    def __init__(self, time_zone: _Optional[str] = ...) -> None: ...

class GetPropertySettingsRequest(_message.Message):
    __slots__ = ("property_id",)
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    def __init__(self, property_id: _Optional[str] = ...) -> None: ...

class GetPropertySettingsResponse(_message.Message):
    __slots__ = ("settings",)
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    settings: PropertySettings
    def __init__(self, settings: _Optional[_Union[PropertySettings, _Mapping]] = ...) -> None: ...

class SetPropertySettingsRequest(_message.Message):
    __slots__ = ("property_id", "settings")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    settings: PropertySettings
    def __init__(self, property_id: _Optional[str] = ..., settings: _Optional[_Union[PropertySettings, _Mapping]] = ...) -> None: ...

class SetPropertySettingsResponse(_message.Message):
    __slots__ = ("settings",)
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    settings: PropertySettings
    def __init__(self, settings: _Optional[_Union[PropertySettings, _Mapping]] = ...) -> None: ...

class GetPathReportRequest(_message.Message):
    __slots__ = ("property_id", "start_time", "end_time", "conversion_name", "collapse_repeats", "page_size", "page_token", "as_of")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    COLLAPSE_REPEATS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    conversion_name: str
    collapse_repeats: bool
    page_size: int
    page_token: str
    as_of: AsOf
    def __init__(self, property_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., conversion_name: _Optional[str] = ..., collapse_repeats: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class PathStep(_message.Message):
    __slots__ = ("channel", "touchpoints")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TOUCHPOINTS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    touchpoints: int
    def __init__(self, channel: _Optional[str] = ..., touchpoints: _Optional[int] = ...) -> None: ...

class PathRow(_message.Message):
    __slots__ = ("path", "steps", "conversions", "value", "conversion_share", "value_share", "touchpoints")
    PATH_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_SHARE_FIELD_NUMBER: _ClassVar[int]
    VALUE_SHARE_FIELD_NUMBER: _ClassVar[int]
    TOUCHPOINTS_FIELD_NUMBER: _ClassVar[int]
    path: str
    steps: _containers.RepeatedCompositeFieldContainer[PathStep]
    conversions: int
    value: _common_pb2.Money
    conversion_share: float
    value_share: float
    touchpoints: int
    def __init__(self, path: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[PathStep, _Mapping]]] = ..., conversions: _Optional[int] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., conversion_share: _Optional[float] = ..., value_share: _Optional[float] = ..., touchpoints: _Optional[int] = ...) -> None: ...

class PathReportSummary(_message.Message):
    __slots__ = ("conversion_name", "total_conversions", "total_value", "unconsented_conversions", "freshness")
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    UNCONSENTED_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    conversion_name: str
    total_conversions: int
    total_value: _common_pb2.Money
    unconsented_conversions: int
    freshness: ReportFreshness
    def __init__(self, conversion_name: _Optional[str] = ..., total_conversions: _Optional[int] = ..., total_value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., unconsented_conversions: _Optional[int] = ..., freshness: _Optional[_Union[ReportFreshness, _Mapping]] = ...) -> None: ...

class GetPathReportResponse(_message.Message):
    __slots__ = ("rows", "summary", "collapse_repeats", "next_page_token")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    COLLAPSE_REPEATS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[PathRow]
    summary: PathReportSummary
    collapse_repeats: bool
    next_page_token: str
    def __init__(self, rows: _Optional[_Iterable[_Union[PathRow, _Mapping]]] = ..., summary: _Optional[_Union[PathReportSummary, _Mapping]] = ..., collapse_repeats: _Optional[bool] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPathDistributionRequest(_message.Message):
    __slots__ = ("property_id", "start_time", "end_time", "conversion_name", "kind", "as_of")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    conversion_name: str
    kind: PathDistributionKind
    as_of: AsOf
    def __init__(self, property_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., conversion_name: _Optional[str] = ..., kind: _Optional[_Union[PathDistributionKind, str]] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class PathBucket(_message.Message):
    __slots__ = ("label", "low", "high", "conversions", "value", "conversion_share", "value_share")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_SHARE_FIELD_NUMBER: _ClassVar[int]
    VALUE_SHARE_FIELD_NUMBER: _ClassVar[int]
    label: str
    low: int
    high: int
    conversions: int
    value: _common_pb2.Money
    conversion_share: float
    value_share: float
    def __init__(self, label: _Optional[str] = ..., low: _Optional[int] = ..., high: _Optional[int] = ..., conversions: _Optional[int] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., conversion_share: _Optional[float] = ..., value_share: _Optional[float] = ...) -> None: ...

class GetPathDistributionResponse(_message.Message):
    __slots__ = ("kind", "buckets", "summary", "without_touchpoints")
    KIND_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    WITHOUT_TOUCHPOINTS_FIELD_NUMBER: _ClassVar[int]
    kind: PathDistributionKind
    buckets: _containers.RepeatedCompositeFieldContainer[PathBucket]
    summary: PathReportSummary
    without_touchpoints: int
    def __init__(self, kind: _Optional[_Union[PathDistributionKind, str]] = ..., buckets: _Optional[_Iterable[_Union[PathBucket, _Mapping]]] = ..., summary: _Optional[_Union[PathReportSummary, _Mapping]] = ..., without_touchpoints: _Optional[int] = ...) -> None: ...

class GetAssistedConversionsRequest(_message.Message):
    __slots__ = ("property_id", "start_time", "end_time", "conversion_name", "as_of")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    conversion_name: str
    as_of: AsOf
    def __init__(self, property_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., conversion_name: _Optional[str] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class AssistedConversionsRow(_message.Message):
    __slots__ = ("channel", "assisted_conversions", "assisted_value", "last_touch_conversions", "last_touch_value", "assisted_per_last_touch")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ASSISTED_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    ASSISTED_VALUE_FIELD_NUMBER: _ClassVar[int]
    LAST_TOUCH_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_TOUCH_VALUE_FIELD_NUMBER: _ClassVar[int]
    ASSISTED_PER_LAST_TOUCH_FIELD_NUMBER: _ClassVar[int]
    channel: str
    assisted_conversions: int
    assisted_value: _common_pb2.Money
    last_touch_conversions: int
    last_touch_value: _common_pb2.Money
    assisted_per_last_touch: float
    def __init__(self, channel: _Optional[str] = ..., assisted_conversions: _Optional[int] = ..., assisted_value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., last_touch_conversions: _Optional[int] = ..., last_touch_value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., assisted_per_last_touch: _Optional[float] = ...) -> None: ...

class GetAssistedConversionsResponse(_message.Message):
    __slots__ = ("rows", "summary")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[AssistedConversionsRow]
    summary: PathReportSummary
    def __init__(self, rows: _Optional[_Iterable[_Union[AssistedConversionsRow, _Mapping]]] = ..., summary: _Optional[_Union[PathReportSummary, _Mapping]] = ...) -> None: ...

class GetOutcomeReportRequest(_message.Message):
    __slots__ = ("property_id", "conversion_name", "start_time", "end_time", "group_by", "model", "stages", "as_of")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    conversion_name: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    group_by: GroupBy
    model: str
    stages: _containers.RepeatedScalarFieldContainer[str]
    as_of: AsOf
    def __init__(self, property_id: _Optional[str] = ..., conversion_name: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group_by: _Optional[_Union[GroupBy, str]] = ..., model: _Optional[str] = ..., stages: _Optional[_Iterable[str]] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class OutcomeGroupRow(_message.Message):
    __slots__ = ("group", "conversions", "value", "share")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    group: str
    conversions: float
    value: _common_pb2.Money
    share: float
    def __init__(self, group: _Optional[str] = ..., conversions: _Optional[float] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., share: _Optional[float] = ...) -> None: ...

class OutcomeStageRow(_message.Message):
    __slots__ = ("stage", "conversions", "current_conversions", "value", "conversion_share", "groups")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_SHARE_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    conversions: int
    current_conversions: int
    value: _common_pb2.Money
    conversion_share: float
    groups: _containers.RepeatedCompositeFieldContainer[OutcomeGroupRow]
    def __init__(self, stage: _Optional[str] = ..., conversions: _Optional[int] = ..., current_conversions: _Optional[int] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., conversion_share: _Optional[float] = ..., groups: _Optional[_Iterable[_Union[OutcomeGroupRow, _Mapping]]] = ...) -> None: ...

class GetOutcomeReportResponse(_message.Message):
    __slots__ = ("stages", "conversion_name", "model", "group_by", "currency_code", "total_conversions", "freshness")
    STAGES_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    stages: _containers.RepeatedCompositeFieldContainer[OutcomeStageRow]
    conversion_name: str
    model: str
    group_by: GroupBy
    currency_code: str
    total_conversions: int
    freshness: ReportFreshness
    def __init__(self, stages: _Optional[_Iterable[_Union[OutcomeStageRow, _Mapping]]] = ..., conversion_name: _Optional[str] = ..., model: _Optional[str] = ..., group_by: _Optional[_Union[GroupBy, str]] = ..., currency_code: _Optional[str] = ..., total_conversions: _Optional[int] = ..., freshness: _Optional[_Union[ReportFreshness, _Mapping]] = ...) -> None: ...

class AsOf(_message.Message):
    __slots__ = ("time", "attribution_position")
    TIME_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTION_POSITION_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    attribution_position: int
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attribution_position: _Optional[int] = ...) -> None: ...

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

class FunnelStep(_message.Message):
    __slots__ = ("kind", "value", "match")
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    kind: FunnelStepKind
    value: str
    match: FunnelStepMatch
    def __init__(self, kind: _Optional[_Union[FunnelStepKind, str]] = ..., value: _Optional[str] = ..., match: _Optional[_Union[FunnelStepMatch, str]] = ...) -> None: ...

class GetFunnelReportRequest(_message.Message):
    __slots__ = ("property_id", "steps", "within", "start_time", "end_time", "page_size", "page_token", "as_of")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    WITHIN_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    steps: _containers.RepeatedCompositeFieldContainer[FunnelStep]
    within: _duration_pb2.Duration
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    as_of: AsOf
    def __init__(self, property_id: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[FunnelStep, _Mapping]]] = ..., within: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class FunnelStepFigures(_message.Message):
    __slots__ = ("step", "persons", "conversion_from_previous", "conversion_from_first", "dropped", "drop_off")
    STEP_FIELD_NUMBER: _ClassVar[int]
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_FROM_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_FROM_FIRST_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    DROP_OFF_FIELD_NUMBER: _ClassVar[int]
    step: FunnelStep
    persons: int
    conversion_from_previous: float
    conversion_from_first: float
    dropped: int
    drop_off: float
    def __init__(self, step: _Optional[_Union[FunnelStep, _Mapping]] = ..., persons: _Optional[int] = ..., conversion_from_previous: _Optional[float] = ..., conversion_from_first: _Optional[float] = ..., dropped: _Optional[int] = ..., drop_off: _Optional[float] = ...) -> None: ...

class FunnelChannel(_message.Message):
    __slots__ = ("channel", "steps")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    steps: _containers.RepeatedCompositeFieldContainer[FunnelStepFigures]
    def __init__(self, channel: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[FunnelStepFigures, _Mapping]]] = ...) -> None: ...

class GetFunnelReportResponse(_message.Message):
    __slots__ = ("steps", "channels", "within", "freshness", "next_page_token")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    WITHIN_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[FunnelStepFigures]
    channels: _containers.RepeatedCompositeFieldContainer[FunnelChannel]
    within: _duration_pb2.Duration
    freshness: ReportFreshness
    next_page_token: str
    def __init__(self, steps: _Optional[_Iterable[_Union[FunnelStepFigures, _Mapping]]] = ..., channels: _Optional[_Iterable[_Union[FunnelChannel, _Mapping]]] = ..., within: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., freshness: _Optional[_Union[ReportFreshness, _Mapping]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetCohortReportRequest(_message.Message):
    __slots__ = ("property_id", "interval", "start_time", "end_time", "conversion_names", "periods", "page_size", "page_token", "as_of")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAMES_FIELD_NUMBER: _ClassVar[int]
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    interval: CohortInterval
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    conversion_names: _containers.RepeatedScalarFieldContainer[str]
    periods: int
    page_size: int
    page_token: str
    as_of: AsOf
    def __init__(self, property_id: _Optional[str] = ..., interval: _Optional[_Union[CohortInterval, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., conversion_names: _Optional[_Iterable[str]] = ..., periods: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class CohortPeriod(_message.Message):
    __slots__ = ("index", "conversions", "converted_persons", "conversion_rate", "value")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_PERSONS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    index: int
    conversions: int
    converted_persons: int
    conversion_rate: float
    value: _common_pb2.Money
    def __init__(self, index: _Optional[int] = ..., conversions: _Optional[int] = ..., converted_persons: _Optional[int] = ..., conversion_rate: _Optional[float] = ..., value: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class CohortRow(_message.Message):
    __slots__ = ("period_start", "period", "channel", "persons", "periods")
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    period_start: _timestamp_pb2.Timestamp
    period: str
    channel: str
    persons: int
    periods: _containers.RepeatedCompositeFieldContainer[CohortPeriod]
    def __init__(self, period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period: _Optional[str] = ..., channel: _Optional[str] = ..., persons: _Optional[int] = ..., periods: _Optional[_Iterable[_Union[CohortPeriod, _Mapping]]] = ...) -> None: ...

class GetCohortReportResponse(_message.Message):
    __slots__ = ("rows", "interval", "time_zone", "conversion_names", "freshness", "next_page_token")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_NAMES_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[CohortRow]
    interval: CohortInterval
    time_zone: str
    conversion_names: _containers.RepeatedScalarFieldContainer[str]
    freshness: ReportFreshness
    next_page_token: str
    def __init__(self, rows: _Optional[_Iterable[_Union[CohortRow, _Mapping]]] = ..., interval: _Optional[_Union[CohortInterval, str]] = ..., time_zone: _Optional[str] = ..., conversion_names: _Optional[_Iterable[str]] = ..., freshness: _Optional[_Union[ReportFreshness, _Mapping]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RebuildViewsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RebuildViewsResponse(_message.Message):
    __slots__ = ("generation", "started")
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    generation: int
    started: bool
    def __init__(self, generation: _Optional[int] = ..., started: _Optional[bool] = ...) -> None: ...

class GetRebuildStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RebuildProgress(_message.Message):
    __slots__ = ("upstream", "position", "live_position", "head")
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    LIVE_POSITION_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    upstream: str
    position: int
    live_position: int
    head: int
    def __init__(self, upstream: _Optional[str] = ..., position: _Optional[int] = ..., live_position: _Optional[int] = ..., head: _Optional[int] = ...) -> None: ...

class GetRebuildStatusResponse(_message.Message):
    __slots__ = ("live_generation", "building_generation", "progress", "live_since")
    LIVE_GENERATION_FIELD_NUMBER: _ClassVar[int]
    BUILDING_GENERATION_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    LIVE_SINCE_FIELD_NUMBER: _ClassVar[int]
    live_generation: int
    building_generation: int
    progress: _containers.RepeatedCompositeFieldContainer[RebuildProgress]
    live_since: _timestamp_pb2.Timestamp
    def __init__(self, live_generation: _Optional[int] = ..., building_generation: _Optional[int] = ..., progress: _Optional[_Iterable[_Union[RebuildProgress, _Mapping]]] = ..., live_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
