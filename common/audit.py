"""The audit log: every admin call (per the policy table) recorded as events of an `AuditEntry`
in the service's own database, and listed by `ListAuditEvents`.

Order: the entry is recorded *before* the call runs (caller, time, RPC, property, summary) and
completed with the call's status code after it. If the first write fails the call fails and
nothing was done; if the second fails the call fails too and its entry stays "outcome unknown".
So no admin action can run unaudited; at worst an entry does not say how it ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

import grpc
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, DomainEvent, event
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from common.authorisation import AccessPolicy, property_values
from common.callers import current_caller
from common.interceptors import Behaviour, wrap_handler
from common.storage import Database

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
OUTCOME_UNKNOWN = ""
_NUMERIC = {
    FieldDescriptor.TYPE_BOOL,
    FieldDescriptor.TYPE_DOUBLE,
    FieldDescriptor.TYPE_FLOAT,
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SINT64,
}


class AuditEntry(Aggregate):
    """One admin call: who made it, when, what it asked, and how it ended."""

    Recorded: ClassVar[type[DomainEvent]]
    Completed: ClassVar[type[DomainEvent]]

    @event("Recorded")
    def __init__(
        self, *, caller: str, at: datetime, rpc: str, property_id: str, summary: str
    ) -> None:
        self.caller = caller
        self.at = at
        self.rpc = rpc
        self.property_id = property_id
        self.summary = summary
        self.outcome = OUTCOME_UNKNOWN

    @event("Completed")
    def complete(self, *, outcome: str) -> None:
        """Records the call's status code (`OK`, `INVALID_ARGUMENT`, ...)."""
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One listed audit entry; `outcome` is empty when the call's end was not recorded."""

    position: int
    caller: str
    at: datetime
    rpc: str
    property_id: str
    summary: str
    outcome: str


@dataclass(frozen=True, slots=True)
class AuditPage:
    """A page of audit entries, oldest first; `next_position` 0 when there are no more."""

    records: list[AuditRecord]
    next_position: int


class AuditLog(Application[UUID]):
    """The audit entries of one service, in their own table of its database (`auditlog_events`
    on PostgreSQL, in the service's schema; a sibling `<service>-audit.db` on SQLite), so they
    never appear in the log the service serves to its followers."""

    name = "AuditLog"

    def begin(self, *, caller: str, rpc: str, property_id: str, summary: str) -> UUID:
        """Records that `caller` is making an admin call; returns the entry's id."""
        entry = AuditEntry(
            caller=caller, at=datetime.now(UTC), rpc=rpc, property_id=property_id, summary=summary
        )
        self.save(entry)
        return entry.id

    def complete(self, entry_id: UUID, outcome: str) -> None:
        """Records how the call ended."""
        entry: AuditEntry = self.repository.get(entry_id)
        entry.complete(outcome=outcome)
        self.save(entry)

    def list(
        self,
        *,
        property_id: str = "",
        since: datetime | None = None,
        after: int = 0,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> AuditPage:
        """Entries after position `after`, of `property_id` (every property's when empty) and
        at or after `since`, oldest first."""
        topic = f"{AuditEntry.__module__}:{AuditEntry.__qualname__}.Recorded"
        records: list[AuditRecord] = []
        start = after + 1
        while len(records) < limit:
            notifications = self.recorder.select_notifications(
                start=start, limit=limit, topics=[topic]
            )
            if not notifications:
                return AuditPage(records, 0)
            for notification in notifications:
                start = notification.id + 1
                entry: AuditEntry = self.repository.get(UUID(str(notification.originator_id)))
                if property_id and entry.property_id != property_id:
                    continue
                if since is not None and entry.at < since:
                    continue
                records.append(
                    AuditRecord(
                        notification.id,
                        entry.caller,
                        entry.at,
                        entry.rpc,
                        entry.property_id,
                        entry.summary,
                        entry.outcome,
                    )
                )
                if len(records) == limit:
                    break
        return AuditPage(records, records[-1].position)


def audit_database(database: Database) -> Database:
    """Where a service's audit log lives: the same PostgreSQL schema, or a sibling SQLite file."""
    if database.is_postgres:
        return database
    path = database.sqlite_path
    sibling = path.with_name(f"{path.stem}-audit{path.suffix}")
    return Database(url=f"sqlite:///{sibling}", schema="", create_tables=database.create_tables)


AUDIT_POOL = {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "2"}
"""Admin calls are rare: the audit log holds one PostgreSQL connection, not a service's four."""


def open_audit_log(database: Database) -> AuditLog:
    """The service's audit log (creating its table unless tables are created by `migrate`)."""
    database.ensure_schema()
    env = audit_database(database).eventsourcing_env()
    if database.is_postgres:
        env.update(AUDIT_POOL)
    return AuditLog(env=env)


def request_summary(request: Message) -> str:
    """What a request asked, without identifiers or secrets: the names of the fields it set,
    with the values of numbers, booleans and enums and the length of lists; never a string
    or bytes value."""
    parts: list[str] = []
    for field, value in request.ListFields():
        if field.is_repeated:
            parts.append(f"{field.name}: {len(value)} item(s)")
        elif field.type == FieldDescriptor.TYPE_ENUM:
            enum_type = field.enum_type
            enum_value = enum_type.values_by_number.get(value) if enum_type else None
            parts.append(f"{field.name}={enum_value.name if enum_value else value}")
        elif field.type in _NUMERIC:
            parts.append(f"{field.name}={value}")
        else:
            parts.append(field.name)
    return ", ".join(parts)


def _outcome(context: grpc.ServicerContext, failed: bool) -> str:
    code = getattr(context, "code", lambda: None)()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return "INTERNAL" if failed else "OK"


class AuditInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Records every call of an RPC its policy table marks `audited` in `audit` (before the
    call, then its outcome after it; see the module docstring for why)."""

    def __init__(self, policy: AccessPolicy, audit: Callable[[], AuditLog]) -> None:
        self._policy = policy
        self._audit = audit

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """The handler of the method, audited when its rule says so."""
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        rule = self._policy.rule_for(method)
        if handler is None or rule is None or not rule.audited:
            return handler
        rpc = method.rpartition("/")[2]

        def audited(behaviour: Behaviour, request_streaming: bool, streaming: bool) -> Behaviour:
            if request_streaming or streaming:
                return behaviour

            def run(request: Any, context: grpc.ServicerContext) -> Any:
                audit = self._audit()
                properties = (
                    property_values(request, rule.property_path) if rule.property_path else set()
                )
                entry = audit.begin(
                    caller=current_caller().name,
                    rpc=rpc,
                    property_id=",".join(sorted(properties)),
                    summary=request_summary(request),
                )
                try:
                    response = behaviour(request, context)
                except BaseException:
                    audit.complete(entry, _outcome(context, failed=True))
                    raise
                audit.complete(entry, _outcome(context, failed=False))
                return response

            return run

        return wrap_handler(handler, audited)


def audit_interceptors(
    policy: AccessPolicy, audit: AuditLog | None
) -> list[grpc.ServerInterceptor[Any, Any]]:
    """The audit interceptor for `access_interceptors(below=...)`, when the service has a log."""
    if audit is None:
        return []
    return [AuditInterceptor(policy, lambda: audit)]
