"""Identity's gRPC edge: protobuf messages to plain values and back, errors to status codes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import grpc

from common.grpc_errors import FieldProblem, abort_invalid
from common.identifiers import InvalidEmailError, hash_email
from common.values import Identifier, IdentifierType
from common.wire import to_identifier_pb, to_timestamp
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.application import IdentityApplication, UnknownIdentifierError
from services.identity.domainmodel import IdentityGraph, decision_from_dict
from services.identity.resolution import (
    IdentifierMarkedShared,
    IdentifiersLinked,
    MergeRefused,
    PersonCreated,
    PersonsMerged,
    PersonSplit,
    ProbabilisticLinkAdded,
    shared_person_id,
)

MAX_WAIT_SECONDS = 30.0
DEFAULT_PAGE = 500

_QUERY_TYPES = {
    common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID: IdentifierType.ANONYMOUS_ID,
    common_pb2.IDENTIFIER_TYPE_USER_ID: IdentifierType.USER_ID,
    common_pb2.IDENTIFIER_TYPE_EMAIL_SHA256: IdentifierType.EMAIL_SHA256,
    common_pb2.IDENTIFIER_TYPE_PHONE_SHA256: IdentifierType.PHONE_SHA256,
    common_pb2.IDENTIFIER_TYPE_CRM_ID: IdentifierType.CRM_ID,
}


def _identifiers(keys: Iterable[str]) -> list[common_pb2.Identifier]:
    return [to_identifier_pb(Identifier.from_key(k)) for k in keys]


def log_entry(position: int, event: Any) -> identity_pb2.LogEntry:
    """The LogEntry message of an identity graph event; decisions that change nobody (ignored
    identifiers) and the graph's start have no event set."""
    entry = identity_pb2.LogEntry(position=position, recorded_at=to_timestamp(event.timestamp))
    if not isinstance(event, IdentityGraph.Decided):
        return entry
    e: Any = event
    prop = e.property_id
    decision = decision_from_dict(e.kind, e.decision)
    if isinstance(decision, PersonCreated):
        entry.person_created.CopyFrom(
            identity_pb2.PersonCreated(
                property_id=prop,
                person_id=decision.person_id,
                identifiers=_identifiers(decision.identifiers),
                evidence_record_id=decision.evidence.obs_id,
            )
        )
    elif isinstance(decision, IdentifiersLinked):
        entry.identifiers_linked.CopyFrom(
            identity_pb2.IdentifiersLinked(
                property_id=prop,
                person_id=decision.person_id,
                identifiers=_identifiers(decision.identifiers),
                evidence_record_id=decision.evidence.obs_id,
            )
        )
    elif isinstance(decision, PersonsMerged):
        entry.persons_merged.CopyFrom(
            identity_pb2.PersonsMerged(
                property_id=prop,
                surviving_person_id=decision.survivor,
                merged_person_id=decision.merged,
                identifiers=_identifiers(decision.identifiers),
                evidence_record_id=decision.evidence.obs_id,
            )
        )
    elif isinstance(decision, PersonSplit):
        entry.person_split.CopyFrom(
            identity_pb2.PersonSplit(
                property_id=prop,
                person_id=decision.person_id,
                parts=[
                    identity_pb2.SplitPart(person_id=person, identifiers=_identifiers(ids))
                    for person, ids in decision.parts
                ],
                evidence_record_id=decision.evidence.obs_id,
            )
        )
    elif isinstance(decision, IdentifierMarkedShared):
        entry.identifier_marked_shared.CopyFrom(
            identity_pb2.IdentifierMarkedShared(
                property_id=prop,
                identifier=to_identifier_pb(Identifier.from_key(decision.identifier)),
                shared_person_id=shared_person_id(prop, decision.identifier),
                persons_seen=decision.persons_seen,
                evidence_record_id=decision.evidence.obs_id,
            )
        )
    elif isinstance(decision, MergeRefused):
        entry.merge_refused.CopyFrom(
            identity_pb2.MergeRefused(
                property_id=prop,
                persons=decision.persons,
                reason=decision.reason,
                dropped_identifier=to_identifier_pb(
                    Identifier.from_key(decision.dropped_identifier)
                ),
                evidence_record_id=decision.observation.obs_id,
            )
        )
    elif isinstance(decision, ProbabilisticLinkAdded):
        entry.probabilistic_link_added.CopyFrom(
            identity_pb2.ProbabilisticLinkAdded(
                property_id=prop,
                a=to_identifier_pb(Identifier.from_key(decision.a)),
                b=to_identifier_pb(Identifier.from_key(decision.b)),
                weight=decision.weight,
                signal_weights=dict(decision.evidence),
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
            person_id=person.person_id, identifiers=_identifiers(person.identifiers)
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
