"""Identity's gRPC edge: protobuf messages to plain values and back, errors to status codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from common.grpc_errors import FieldProblem, abort_invalid
from common.identifiers import InvalidEmailError, hash_email
from common.values import Identifier, IdentifierType
from common.wire import to_identifier_pb, to_timestamp
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.application import IdentityApplication, UnknownIdentifierError
from services.identity.domainmodel import Person

MAX_WAIT_SECONDS = 30.0
DEFAULT_PAGE = 500

_QUERY_TYPES = {
    common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID: IdentifierType.ANONYMOUS_ID,
    common_pb2.IDENTIFIER_TYPE_USER_ID: IdentifierType.USER_ID,
    common_pb2.IDENTIFIER_TYPE_EMAIL_SHA256: IdentifierType.EMAIL_SHA256,
}


def _identifiers(keys: list[str]) -> list[common_pb2.Identifier]:
    return [to_identifier_pb(Identifier.from_key(k)) for k in keys]


def log_entry(position: int, event: Any) -> identity_pb2.LogEntry:
    """The LogEntry message of an identity event; internal bookkeeping has no event set."""
    entry = identity_pb2.LogEntry(position=position, recorded_at=to_timestamp(event.timestamp))
    if isinstance(event, Person.Created):
        e: Any = event
        entry.person_created.CopyFrom(
            identity_pb2.PersonCreated(
                property_id=e.property_id,
                person_id=str(e.originator_id),
                identifiers=_identifiers(e.identifiers),
                evidence_record_id=e.evidence_record_id,
            )
        )
    elif isinstance(event, Person.IdentifiersLinked):
        e = event
        entry.identifiers_linked.CopyFrom(
            identity_pb2.IdentifiersLinked(
                property_id=e.property_id,
                person_id=str(e.originator_id),
                identifiers=_identifiers(e.identifiers),
                evidence_record_id=e.evidence_record_id,
            )
        )
    elif isinstance(event, Person.Merged):
        e = event
        entry.persons_merged.CopyFrom(
            identity_pb2.PersonsMerged(
                property_id=e.property_id,
                surviving_person_id=str(e.originator_id),
                merged_person_id=str(e.merged_person_id),
                identifiers=_identifiers(e.identifiers),
                evidence_record_id=e.evidence_record_id,
            )
        )
    return entry


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    """Translates IdentityService calls to the identity application."""

    def __init__(self, app: IdentityApplication, positions: Callable[[], dict[str, int]]) -> None:
        self._app = app
        self._positions = positions

    def ResolveIdentity(
        self, request: identity_pb2.ResolveIdentityRequest, context: grpc.ServicerContext
    ) -> identity_pb2.ResolveIdentityResponse:
        problems = []
        if not request.property_id:
            problems.append(FieldProblem("property_id", "is required"))
        value = request.identifier.value.strip()
        kind = request.identifier.type
        if not value:
            problems.append(FieldProblem("identifier.value", "is required"))
        elif kind == common_pb2.IDENTIFIER_TYPE_EMAIL:
            try:
                value = hash_email(value)
            except InvalidEmailError as error:
                problems.append(FieldProblem("identifier.value", str(error)))
        elif kind not in _QUERY_TYPES:
            problems.append(FieldProblem("identifier.type", "is required"))
        if problems:
            abort_invalid(context, "invalid ResolveIdentity request", problems)
        if kind == common_pb2.IDENTIFIER_TYPE_EMAIL:
            identifier = Identifier(IdentifierType.EMAIL_SHA256, value)
        elif kind == common_pb2.IDENTIFIER_TYPE_EMAIL_SHA256:
            identifier = Identifier(IdentifierType.EMAIL_SHA256, value.lower())
        else:
            identifier = Identifier(_QUERY_TYPES[kind], value)
        try:
            person = self._app.resolve(request.property_id, identifier.key)
        except UnknownIdentifierError as error:
            context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        return identity_pb2.ResolveIdentityResponse(
            person_id=str(person.id), identifiers=_identifiers(sorted(person.identifiers))
        )

    def ListEvents(
        self, request: identity_pb2.ListEventsRequest, context: grpc.ServicerContext
    ) -> identity_pb2.ListEventsResponse:
        wait = min(request.max_wait.ToTimedelta().total_seconds(), MAX_WAIT_SECONDS)
        records = self._app.read_log(request.after, request.limit or DEFAULT_PAGE, max(wait, 0))
        return identity_pb2.ListEventsResponse(
            entries=[log_entry(r.position, r.event) for r in records]
        )

    def GetLogHead(
        self, request: identity_pb2.GetLogHeadRequest, context: grpc.ServicerContext
    ) -> identity_pb2.GetLogHeadResponse:
        return identity_pb2.GetLogHeadResponse(position=self._app.log_head())

    def GetSyncStatus(
        self, request: identity_pb2.GetSyncStatusRequest, context: grpc.ServicerContext
    ) -> identity_pb2.GetSyncStatusResponse:
        return identity_pb2.GetSyncStatusResponse(
            upstreams=[
                common_pb2.UpstreamPosition(upstream=name, position=position)
                for name, position in self._positions().items()
            ]
        )
