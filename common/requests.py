"""Checks of request fields at the gRPC edge: each invalid field becomes a FieldProblem named by
its path (`models[0].half_life`), so a call is answered INVALID_ARGUMENT before any bad value
reaches the domain, the database or the standard library."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import grpc
from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.message import Message

from common.fields import (
    MAX_IDENTIFIER_LENGTH,
    NAME_PATTERN,
    NAME_RULE,
    PROPERTY_ID_PATTERN,
    PROPERTY_ID_RULE,
)
from common.grpc_errors import FieldProblem, abort_invalid
from common.identifiers import InvalidEmailError, hash_email, is_sha256_hex
from common.values import Identifier, IdentifierType
from common.wire import STORED_IDENTIFIER_TYPES
from convtrack.common.v1 import common_pb2

T = TypeVar("T")

MAX_NOTE_LENGTH = 1000
MIN_TIMESTAMP_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_TIMESTAMP_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_DURATION_SECONDS = 315_576_000_000  # about 10,000 years, protobuf's limit
MAX_NANOS = 999_999_999

_HASHED_TYPES = (common_pb2.IDENTIFIER_TYPE_EMAIL_SHA256, common_pb2.IDENTIFIER_TYPE_PHONE_SHA256)


def timestamp_problem(stamp: timestamp_pb2.Timestamp) -> str | None:
    """Why a Timestamp is not a point in time that can be stored (None when it is one)."""
    if not MIN_TIMESTAMP_SECONDS <= stamp.seconds <= MAX_TIMESTAMP_SECONDS:
        return (
            f"seconds {stamp.seconds} is outside the representable range "
            "(0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z)"
        )
    if not 0 <= stamp.nanos <= MAX_NANOS:
        return f"nanos {stamp.nanos} must be between 0 and {MAX_NANOS}"
    return None


def duration_problem(duration: duration_pb2.Duration) -> str | None:
    """Why a Duration is not a valid span of time (None when it is one)."""
    if not -MAX_DURATION_SECONDS <= duration.seconds <= MAX_DURATION_SECONDS:
        return f"seconds {duration.seconds} is outside the range of a Duration"
    if not -MAX_NANOS <= duration.nanos <= MAX_NANOS:
        return f"nanos {duration.nanos} must be between -{MAX_NANOS} and {MAX_NANOS}"
    if duration.seconds * duration.nanos < 0:
        return "seconds and nanos must have the same sign"
    return None


def identifier_key(message: common_pb2.Identifier, field: str, problems: list[FieldProblem]) -> str:
    """The stored key of an identifier in a request ("type:value"); a plain email is
    normalised and hashed. Problems are appended, and "" returned, when it is invalid."""
    value = message.value.strip()
    if not value:
        problems.append(FieldProblem(f"{field}.value", "is required"))
        return ""
    if len(value) > MAX_IDENTIFIER_LENGTH:
        problems.append(
            FieldProblem(f"{field}.value", f"is longer than {MAX_IDENTIFIER_LENGTH} characters")
        )
        return ""
    if message.type == common_pb2.IDENTIFIER_TYPE_EMAIL:
        try:
            return Identifier(IdentifierType.EMAIL_SHA256, hash_email(value)).key
        except InvalidEmailError as error:
            problems.append(FieldProblem(f"{field}.value", str(error)))
            return ""
    if message.type not in STORED_IDENTIFIER_TYPES:
        problems.append(FieldProblem(f"{field}.type", _enum_rule(message.type, _TYPE_NAMES)))
        return ""
    if message.type in _HASHED_TYPES:
        value = value.lower()
        if not is_sha256_hex(value):
            problems.append(FieldProblem(f"{field}.value", "must be 64 hexadecimal digits"))
            return ""
    return Identifier(STORED_IDENTIFIER_TYPES[message.type], value).key


def _enum_rule(value: int, names: list[str]) -> str:
    allowed = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
    if value == 0:
        return f"is required: {allowed}"
    return f"must be {allowed}, not {value}"


def _names(enum: EnumDescriptor, numbers: Iterable[int]) -> list[str]:
    return [enum.values_by_number[n].name for n in sorted(numbers) if n in enum.values_by_number]


_TYPE_NAMES = _names(
    common_pb2.IdentifierType.DESCRIPTOR,
    [*STORED_IDENTIFIER_TYPES, common_pb2.IDENTIFIER_TYPE_EMAIL],
)


class FieldChecks:
    """Checks a request's fields, collecting one FieldProblem per invalid field.

    Each check returns the field's plain value. For an invalid field it records the problem and
    returns a stand-in of the right type, so call `abort_if_invalid` before using any value.
    """

    def __init__(self) -> None:
        self.problems: list[FieldProblem] = []

    def add(self, field: str, description: str) -> None:
        """Records a problem found by the caller."""
        self.problems.append(FieldProblem(field, description))

    def abort_if_invalid(self, context: grpc.ServicerContext, message: str) -> None:
        """Aborts the call with INVALID_ARGUMENT listing every problem, if there is one."""
        if self.problems:
            abort_invalid(context, message, self.problems)

    def property_id(self, value: str, field: str = "property_id", *, required: bool = True) -> str:
        """A property id, trimmed ("" when absent and not required)."""
        return self._formatted(value, field, PROPERTY_ID_PATTERN, PROPERTY_ID_RULE, required)

    def name(self, value: str, field: str, *, required: bool = True) -> str:
        """A conversion or model name, trimmed ("" when absent and not required)."""
        return self._formatted(value, field, NAME_PATTERN, NAME_RULE, required)

    def _formatted(
        self, value: str, field: str, pattern: re.Pattern[str], rule: str, required: bool
    ) -> str:
        value = value.strip()
        if not value:
            if required:
                self.add(field, "is required")
        elif not pattern.fullmatch(value):
            self.add(field, rule)
        return value

    def note(self, value: str, field: str = "note") -> str:
        """A free-text note kept with a decision."""
        if len(value) > MAX_NOTE_LENGTH:
            self.add(field, f"is longer than {MAX_NOTE_LENGTH} characters")
        return value

    def uuid(self, value: str, field: str, what: str = "a UUID") -> UUID:
        """An id that is a UUID; `what` says which id it is for the error."""
        try:
            return UUID(value.strip())
        except ValueError:
            self.add(field, f"must be {what}" if value.strip() else "is required")
            return UUID(int=0)

    def integer(self, value: int, field: str, *, minimum: int, maximum: int) -> int:
        """An integer between `minimum` and `maximum`, both included."""
        if not minimum <= value <= maximum:
            self.add(field, f"must be between {minimum:,} and {maximum:,}, not {value:,}")
            return minimum
        return value

    def number(self, value: float, field: str, *, minimum: float, maximum: float) -> float:
        """A finite number between `minimum` and `maximum`, both included."""
        if not math.isfinite(value) or not minimum <= value <= maximum:
            self.add(field, f"must be between {minimum:g} and {maximum:g}, not {value!r}")
            return minimum
        return value

    def choice(self, value: int, field: str, table: Mapping[Any, T], enum: EnumDescriptor) -> T:
        """The plain value an enum number maps to in `table`; unknown numbers, and
        UNSPECIFIED unless `table` maps it, are problems."""
        if value in table:
            return table[value]
        self.add(field, _enum_rule(value, _names(enum, [n for n in table if n != 0])))
        return next(iter(table.values()))

    def timestamp(self, message: timestamp_pb2.Timestamp, field: str) -> datetime:
        """A Timestamp as an aware UTC datetime."""
        problem = timestamp_problem(message)
        if problem is not None:
            self.add(field, problem)
            return datetime.fromtimestamp(0, UTC)
        return message.ToDatetime(tzinfo=UTC)

    def optional_timestamp(self, request: Message, field: str) -> datetime | None:
        """The request's Timestamp field `field` as an aware UTC datetime; None when unset."""
        if not request.HasField(field):
            return None
        stamp: timestamp_pb2.Timestamp = getattr(request, field)
        return self.timestamp(stamp, field)

    def duration(
        self,
        message: duration_pb2.Duration,
        field: str,
        *,
        minimum: timedelta,
        maximum: timedelta,
    ) -> timedelta:
        """A Duration between `minimum` and `maximum`, both included."""
        problem = duration_problem(message)
        if problem is None:
            value = message.ToTimedelta()
            if minimum <= value <= maximum:
                return value
            problem = f"must be between {_span(minimum)} and {_span(maximum)}, not {_span(value)}"
        self.add(field, problem)
        return minimum

    def identifier_key(self, message: common_pb2.Identifier, field: str) -> str:
        """The stored key of an identifier in a query ("type:value"), a plain email hashed."""
        return identifier_key(message, field, self.problems)

    def stored_identifier_key(self, message: common_pb2.Identifier, field: str) -> str:
        """The key of an identifier as stored ("type:value"): no plain emails, value as sent."""
        if message.type not in STORED_IDENTIFIER_TYPES:
            self.add(f"{field}.type", _enum_rule(message.type, _names_of_stored_types()))
            return ""
        if not message.value:
            self.add(f"{field}.value", "is required")
            return ""
        if len(message.value) > MAX_IDENTIFIER_LENGTH:
            self.add(f"{field}.value", f"is longer than {MAX_IDENTIFIER_LENGTH} characters")
            return ""
        return Identifier(STORED_IDENTIFIER_TYPES[message.type], message.value).key


def _names_of_stored_types() -> list[str]:
    return _names(common_pb2.IdentifierType.DESCRIPTOR, STORED_IDENTIFIER_TYPES)


def _span(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds and seconds % 86_400 == 0:
        return f"{seconds / 86_400:g} days"
    if seconds and seconds % 3600 == 0:
        return f"{seconds / 3600:g} hours"
    return f"{seconds:g} s"
