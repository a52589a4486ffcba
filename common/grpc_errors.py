"""Turning errors into gRPC statuses with details (google.rpc.BadRequest, google.rpc.RetryInfo)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import grpc
from google.protobuf import any_pb2, message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

D = TypeVar("D", bound=message.Message)


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One invalid field and why."""

    field: str
    description: str


def abort_invalid(
    context: grpc.ServicerContext, message: str, problems: Iterable[FieldProblem] = ()
) -> None:
    """Aborts the call with INVALID_ARGUMENT, listing each bad field in a BadRequest detail."""
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=p.field, description=p.description)
            for p in problems
        ]
    )
    detail = any_pb2.Any()
    detail.Pack(bad_request)
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[detail])
    context.abort_with_status(rpc_status.to_status(status))


def bad_request_of(error: grpc.RpcError) -> list[FieldProblem]:
    """The field problems in an INVALID_ARGUMENT error's details (for clients and tests)."""
    return [
        FieldProblem(v.field, v.description)
        for bad_request in _details_of(error, error_details_pb2.BadRequest)
        for v in bad_request.field_violations
    ]


def abort_unavailable(context: grpc.ServicerContext, message: str, retry_after: float) -> None:
    """Aborts the call with UNAVAILABLE and a google.rpc.RetryInfo detail saying how long to
    wait before retrying."""
    _abort_retryable(context, code_pb2.UNAVAILABLE, message, retry_after)


def abort_resource_exhausted(
    context: grpc.ServicerContext, message: str, retry_after: float
) -> None:
    """Aborts the call with RESOURCE_EXHAUSTED (the server is busier than it may queue for)
    and a google.rpc.RetryInfo detail saying how long to wait before retrying."""
    _abort_retryable(context, code_pb2.RESOURCE_EXHAUSTED, message, retry_after)


def _abort_retryable(
    context: grpc.ServicerContext, code: int, message: str, retry_after: float
) -> None:
    retry_info = error_details_pb2.RetryInfo()
    retry_info.retry_delay.FromTimedelta(timedelta(seconds=retry_after))
    detail = any_pb2.Any()
    detail.Pack(retry_info)
    status = status_pb2.Status(code=code, message=message, details=[detail])
    context.abort_with_status(rpc_status.to_status(status))


def retry_delay_of(error: grpc.RpcError) -> timedelta | None:
    """The delay an error's RetryInfo detail asks for before a retry, if it has one."""
    for retry_info in _details_of(error, error_details_pb2.RetryInfo):
        delay: timedelta = retry_info.retry_delay.ToTimedelta()
        return delay
    return None


def _details_of(error: grpc.RpcError, kind: type[D]) -> list[D]:
    """The details of this kind in an error's status."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    found: list[D] = []
    for detail in status.details if status is not None else []:
        if detail.Is(kind.DESCRIPTOR):
            message = kind()
            detail.Unpack(message)
            found.append(message)
    return found
