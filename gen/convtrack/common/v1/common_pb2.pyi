import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IdentifierType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IDENTIFIER_TYPE_UNSPECIFIED: _ClassVar[IdentifierType]
    IDENTIFIER_TYPE_ANONYMOUS_ID: _ClassVar[IdentifierType]
    IDENTIFIER_TYPE_USER_ID: _ClassVar[IdentifierType]
    IDENTIFIER_TYPE_EMAIL_SHA256: _ClassVar[IdentifierType]
    IDENTIFIER_TYPE_EMAIL: _ClassVar[IdentifierType]
    IDENTIFIER_TYPE_PHONE_SHA256: _ClassVar[IdentifierType]
    IDENTIFIER_TYPE_CRM_ID: _ClassVar[IdentifierType]

class ReportingIdentity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORTING_IDENTITY_UNSPECIFIED: _ClassVar[ReportingIdentity]
    REPORTING_IDENTITY_DETERMINISTIC: _ClassVar[ReportingIdentity]
    REPORTING_IDENTITY_BLENDED: _ClassVar[ReportingIdentity]
IDENTIFIER_TYPE_UNSPECIFIED: IdentifierType
IDENTIFIER_TYPE_ANONYMOUS_ID: IdentifierType
IDENTIFIER_TYPE_USER_ID: IdentifierType
IDENTIFIER_TYPE_EMAIL_SHA256: IdentifierType
IDENTIFIER_TYPE_EMAIL: IdentifierType
IDENTIFIER_TYPE_PHONE_SHA256: IdentifierType
IDENTIFIER_TYPE_CRM_ID: IdentifierType
REPORTING_IDENTITY_UNSPECIFIED: ReportingIdentity
REPORTING_IDENTITY_DETERMINISTIC: ReportingIdentity
REPORTING_IDENTITY_BLENDED: ReportingIdentity

class Money(_message.Message):
    __slots__ = ("currency_code", "units", "nanos")
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    NANOS_FIELD_NUMBER: _ClassVar[int]
    currency_code: str
    units: int
    nanos: int
    def __init__(self, currency_code: _Optional[str] = ..., units: _Optional[int] = ..., nanos: _Optional[int] = ...) -> None: ...

class Identifier(_message.Message):
    __slots__ = ("type", "value")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    type: IdentifierType
    value: str
    def __init__(self, type: _Optional[_Union[IdentifierType, str]] = ..., value: _Optional[str] = ...) -> None: ...

class UpstreamPosition(_message.Message):
    __slots__ = ("upstream", "position")
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    upstream: str
    position: int
    def __init__(self, upstream: _Optional[str] = ..., position: _Optional[int] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("caller", "time", "rpc", "property_id", "request_summary", "outcome")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    RPC_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    caller: str
    time: _timestamp_pb2.Timestamp
    rpc: str
    property_id: str
    request_summary: str
    outcome: str
    def __init__(self, caller: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rpc: _Optional[str] = ..., property_id: _Optional[str] = ..., request_summary: _Optional[str] = ..., outcome: _Optional[str] = ...) -> None: ...
