"""`ListAuditEvents`, the same on every service: protobuf ⇄ the audit log's plain records."""

from __future__ import annotations

from datetime import UTC
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from common.audit import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, AuditLog
from common.grpc_errors import FieldProblem, abort_invalid
from common.requests import timestamp_problem
from convtrack.common.v1 import common_pb2

R = TypeVar("R", bound=Message)


def list_audit_events(
    audit: AuditLog, request: Any, context: grpc.ServicerContext, response_class: type[R]
) -> R:
    """Answers a `ListAuditEventsRequest` with a page of `response_class`."""
    problems: list[FieldProblem] = []
    after = 0
    if request.page_token:
        if not request.page_token.isdigit():
            problems.append(FieldProblem("page_token", "not a token from a previous page"))
        else:
            after = int(request.page_token)
    if not 0 <= request.page_size <= MAX_PAGE_SIZE:
        problems.append(FieldProblem("page_size", f"must be from 0 to {MAX_PAGE_SIZE}"))
    since = None
    if request.HasField("since"):
        problem = timestamp_problem(request.since)
        if problem is not None:
            problems.append(FieldProblem("since", problem))
        else:
            since = request.since.ToDatetime(tzinfo=UTC)
    if problems:
        abort_invalid(context, "invalid ListAuditEvents request", problems)
    page = audit.list(
        property_id=request.property_id,
        since=since,
        after=after,
        limit=request.page_size or DEFAULT_PAGE_SIZE,
    )
    events = []
    for record in page.records:
        event = common_pb2.AuditEvent(
            caller=record.caller,
            rpc=record.rpc,
            property_id=record.property_id,
            request_summary=record.summary,
            outcome=record.outcome,
        )
        event.time.FromDatetime(record.at)
        events.append(event)
    return response_class(  # type: ignore[call-arg]
        events=events, next_page_token=str(page.next_position) if page.next_position else ""
    )
