"""Identity's gRPC edge: protobuf messages to plain values and back, errors to status codes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf.message import Message

from common.audit import AuditLog
from common.audit_api import list_audit_events
from common.log_endpoint import LogEndpoint
from common.requests import FieldChecks
from common.values import Identifier, IdentifierType
from common.wire import to_duration, to_identifier_pb, to_timestamp
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.application import (
    IdentityApplication,
    IdentityError,
    MatchingNotConfiguredError,
    UnknownIdentifierError,
    UnknownPersonError,
)
from services.identity.domainmodel import IdentityGraph, MatchingCheck
from services.identity.resolution import (
    Decision,
    IdentifierMarkedShared,
    IdentifiersLinked,
    IdentityRules,
    KindRule,
    MergeRefused,
    ObservationIgnored,
    PersonCreated,
    PersonForgotten,
    PersonsMerged,
    PersonSplit,
    ProbabilisticLinkAdded,
    ProbabilisticLinkRemoved,
    decision_from_dict,
    shared_person_id,
)

KIND_OF_TYPE = {
    common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID: IdentifierType.ANONYMOUS_ID.value,
    common_pb2.IDENTIFIER_TYPE_USER_ID: IdentifierType.USER_ID.value,
    common_pb2.IDENTIFIER_TYPE_EMAIL_SHA256: IdentifierType.EMAIL_SHA256.value,
    common_pb2.IDENTIFIER_TYPE_PHONE_SHA256: IdentifierType.PHONE_SHA256.value,
    common_pb2.IDENTIFIER_TYPE_CRM_ID: IdentifierType.CRM_ID.value,
}
TYPE_OF_KIND = {kind: pb for pb, kind in KIND_OF_TYPE.items()}
MIN_FANOUT_WINDOW = timedelta(hours=1)
MAX_FANOUT_WINDOW = timedelta(days=366)
PERSON_ID = "a person id (a UUID)"
BLENDED_OF_IDENTITY = {
    common_pb2.REPORTING_IDENTITY_UNSPECIFIED: False,
    common_pb2.REPORTING_IDENTITY_DETERMINISTIC: False,
    common_pb2.REPORTING_IDENTITY_BLENDED: True,
}


def _identifiers(keys: Iterable[str]) -> list[common_pb2.Identifier]:
    return [to_identifier_pb(Identifier.from_key(k)) for k in keys]


def log_entry(position: int, event: Any) -> identity_pb2.LogEntry:
    """The LogEntry message of an identity graph event; decisions that change nobody (ignored
    identifiers) and the graph's start have no event set."""
    entry = identity_pb2.LogEntry(position=position, recorded_at=to_timestamp(event.timestamp))
    if isinstance(event, IdentityGraph.Decided):
        e: Any = event
        entry.trace_parent = e.trace_parent
        _set_decision(entry, e.property_id, decision_from_dict(e.kind, e.decision))
    return entry


def _set_decision(entry: identity_pb2.LogEntry, prop: str, decision: Decision) -> None:
    encode = DECISION_ENCODERS.get(type(decision))
    if encode is not None:
        field, message = encode(prop, decision)
        getattr(entry, field).CopyFrom(message)


def _matching_check_pb(check: MatchingCheck) -> identity_pb2.MatchingCheck:
    return identity_pb2.MatchingCheck(
        expected_precision=check.expected_precision,
        model_precision=check.model_precision,
        held_out_precision=check.held_out_precision,
        held_out_recall=check.held_out_recall,
        target=check.target,
        passed=check.passed,
        reason=check.reason,
    )


def _identifier_pb(key: str) -> common_pb2.Identifier:
    return to_identifier_pb(Identifier.from_key(key))


def _person_created(prop: str, d: PersonCreated) -> tuple[str, Message]:
    return "person_created", identity_pb2.PersonCreated(
        property_id=prop,
        person_id=d.person_id,
        identifiers=_identifiers(d.identifiers),
        evidence_record_id=d.evidence.obs_id,
    )


def _identifiers_linked(prop: str, d: IdentifiersLinked) -> tuple[str, Message]:
    return "identifiers_linked", identity_pb2.IdentifiersLinked(
        property_id=prop,
        person_id=d.person_id,
        identifiers=_identifiers(d.identifiers),
        evidence_record_id=d.evidence.obs_id,
    )


def _persons_merged(prop: str, d: PersonsMerged) -> tuple[str, Message]:
    return "persons_merged", identity_pb2.PersonsMerged(
        property_id=prop,
        surviving_person_id=d.survivor,
        merged_person_id=d.merged,
        identifiers=_identifiers(d.identifiers),
        evidence_record_id=d.evidence.obs_id,
    )


def _person_split(prop: str, d: PersonSplit) -> tuple[str, Message]:
    return "person_split", identity_pb2.PersonSplit(
        property_id=prop,
        person_id=d.person_id,
        parts=[
            identity_pb2.SplitPart(person_id=person, identifiers=_identifiers(ids))
            for person, ids in d.parts
        ],
        evidence_record_id=d.evidence.obs_id,
    )


def _identifier_marked_shared(prop: str, d: IdentifierMarkedShared) -> tuple[str, Message]:
    return "identifier_marked_shared", identity_pb2.IdentifierMarkedShared(
        property_id=prop,
        identifier=_identifier_pb(d.identifier),
        shared_person_id=shared_person_id(prop, d.identifier),
        persons_seen=d.persons_seen,
        evidence_record_id=d.evidence.obs_id,
    )


def _merge_refused(prop: str, d: MergeRefused) -> tuple[str, Message]:
    refused = identity_pb2.MergeRefused(
        property_id=prop,
        persons=d.persons,
        reason=d.reason,
        evidence_record_id=d.observation.obs_id,
    )
    if d.dropped_identifier:
        refused.dropped_identifier.CopyFrom(_identifier_pb(d.dropped_identifier))
    return "merge_refused", refused


def _person_forgotten(prop: str, d: PersonForgotten) -> tuple[str, Message]:
    return "person_forgotten", identity_pb2.PersonForgotten(
        property_id=prop, person_id=d.person_id, identifiers=_identifiers(d.identifiers)
    )


def _probabilistic_link_added(prop: str, d: ProbabilisticLinkAdded) -> tuple[str, Message]:
    return "probabilistic_link_added", identity_pb2.ProbabilisticLinkAdded(
        property_id=prop,
        a=_identifier_pb(d.a),
        b=_identifier_pb(d.b),
        weight=d.weight,
        signal_weights=dict(d.evidence),
    )


def _probabilistic_link_removed(prop: str, d: ProbabilisticLinkRemoved) -> tuple[str, Message]:
    return "probabilistic_link_removed", identity_pb2.ProbabilisticLinkRemoved(
        property_id=prop, a=_identifier_pb(d.a), b=_identifier_pb(d.b), reason=d.reason
    )


# Each decision type's log entry: the `LogEntry.event` field it sets and its message. A type
# listed in NOT_SERVED changes nobody and is served as an entry with no event set.
DECISION_ENCODERS: dict[type[Any], Callable[[str, Any], tuple[str, Message]]] = {
    PersonCreated: _person_created,
    IdentifiersLinked: _identifiers_linked,
    PersonsMerged: _persons_merged,
    PersonSplit: _person_split,
    IdentifierMarkedShared: _identifier_marked_shared,
    MergeRefused: _merge_refused,
    PersonForgotten: _person_forgotten,
    ProbabilisticLinkAdded: _probabilistic_link_added,
    ProbabilisticLinkRemoved: _probabilistic_link_removed,
}
NOT_SERVED: frozenset[type[Any]] = frozenset({ObservationIgnored})


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    """Translates IdentityService calls to the identity application."""

    def __init__(
        self,
        app: IdentityApplication,
        positions: Callable[[], dict[str, int]],
        audit: AuditLog | None = None,
    ) -> None:
        self._app = app
        self._audit = audit
        self._log = LogEndpoint(app, log_entry)
        self._positions = positions

    def ListAuditEvents(
        self, request: identity_pb2.ListAuditEventsRequest, context: grpc.ServicerContext
    ) -> identity_pb2.ListAuditEventsResponse:
        """A page of this service's audit log."""
        if self._audit is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "this server keeps no audit log")
            raise AssertionError("unreachable: abort raises")
        return list_audit_events(
            self._audit, request, context, identity_pb2.ListAuditEventsResponse
        )

    def ResolveIdentity(
        self, request: identity_pb2.ResolveIdentityRequest, context: grpc.ServicerContext
    ) -> identity_pb2.ResolveIdentityResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        key = check.identifier_key(request.identifier, "identifier")
        blended = check.choice(
            request.reporting_identity,
            "reporting_identity",
            BLENDED_OF_IDENTITY,
            common_pb2.ReportingIdentity.DESCRIPTOR,
        )
        check.abort_if_invalid(context, "invalid ResolveIdentity request")
        try:
            person = self._app.resolve(property_id, key, blended=blended)
        except UnknownIdentifierError as error:
            context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        return identity_pb2.ResolveIdentityResponse(
            person_id=person.person_id, identifiers=_identifiers(person.identifiers)
        )

    def ExplainPerson(
        self, request: identity_pb2.ExplainPersonRequest, context: grpc.ServicerContext
    ) -> identity_pb2.ExplainPersonResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        person_id = str(check.uuid(request.person_id, "person_id", PERSON_ID))
        check.abort_if_invalid(context, "invalid ExplainPerson request")
        try:
            explanation = self._app.explain(property_id, person_id)
        except UnknownPersonError as error:
            context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        response = identity_pb2.ExplainPersonResponse(
            person_id=explanation.person_id, identifiers=_identifiers(explanation.identifiers)
        )
        for step in explanation.steps:
            entry = response.decisions.add(recorded_at=to_timestamp(step.decided_at))
            _set_decision(entry, property_id, step.decision)
        if explanation.matching_check is not None:
            response.matching_check.CopyFrom(_matching_check_pb(explanation.matching_check))
        return response

    def LinkIdentifiers(
        self, request: identity_pb2.LinkIdentifiersRequest, context: grpc.ServicerContext
    ) -> identity_pb2.LinkIdentifiersResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        keys = _identifier_keys(check, request.identifiers)
        if len(set(keys)) < 2:
            check.add("identifiers", "at least two different are required")
        note = check.note(request.note)
        check.abort_if_invalid(context, "invalid LinkIdentifiers request")
        try:
            person = self._app.link_identifiers(property_id, keys, note)
        except IdentityError as error:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        return identity_pb2.LinkIdentifiersResponse(person_id=person)

    def UnlinkIdentifier(
        self, request: identity_pb2.UnlinkIdentifierRequest, context: grpc.ServicerContext
    ) -> identity_pb2.UnlinkIdentifierResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        key = check.identifier_key(request.identifier, "identifier")
        note = check.note(request.note)
        check.abort_if_invalid(context, "invalid UnlinkIdentifier request")
        try:
            self._app.unlink_identifier(property_id, key, note)
        except IdentityError as error:
            context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        return identity_pb2.UnlinkIdentifierResponse()

    def SplitPerson(
        self, request: identity_pb2.SplitPersonRequest, context: grpc.ServicerContext
    ) -> identity_pb2.SplitPersonResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        person_id = str(check.uuid(request.person_id, "person_id", PERSON_ID))
        keys = _identifier_keys(check, request.identifiers)
        if not keys:
            check.add("identifiers", "at least one is required")
        note = check.note(request.note)
        check.abort_if_invalid(context, "invalid SplitPerson request")
        try:
            new_person = self._app.split_person(property_id, person_id, keys, note)
        except IdentityError as error:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        return identity_pb2.SplitPersonResponse(new_person_id=new_person)

    def ForgetPerson(
        self, request: identity_pb2.ForgetPersonRequest, context: grpc.ServicerContext
    ) -> identity_pb2.ForgetPersonResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        person_id = str(check.uuid(request.person_id, "person_id", PERSON_ID))
        note = check.note(request.note)
        check.abort_if_invalid(context, "invalid ForgetPerson request")
        try:
            self._app.forget_person(property_id, person_id, note)
        except IdentityError as error:
            context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        return identity_pb2.ForgetPersonResponse()

    def RunMatching(
        self, request: identity_pb2.RunMatchingRequest, context: grpc.ServicerContext
    ) -> identity_pb2.RunMatchingResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id, required=False)
        check.abort_if_invalid(context, "invalid RunMatching request")
        try:
            runs = self._app.run_matching(property_id or None)
        except MatchingNotConfiguredError as error:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        return identity_pb2.RunMatchingResponse(
            runs=[
                identity_pb2.MatchingRun(
                    property_id=run.property_id,
                    observations=run.observations,
                    candidate_pairs=run.candidate_pairs,
                    links_proposed=run.links_proposed,
                    links_accepted=run.links_accepted,
                    links_added=run.links_added,
                    links_removed=run.links_removed,
                    duration=to_duration(run.seconds),
                    check=_matching_check_pb(run.check),
                )
                for run in runs
            ]
        )

    def ConfigureRules(
        self, request: identity_pb2.ConfigureRulesRequest, context: grpc.ServicerContext
    ) -> identity_pb2.ConfigureRulesResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        rules = _rules_from_pb(request.rules, self._app.rules, check)
        check.abort_if_invalid(context, "invalid ConfigureRules request")
        self._app.configure_rules(property_id, rules)
        return identity_pb2.ConfigureRulesResponse()

    def GetRules(
        self, request: identity_pb2.GetRulesRequest, context: grpc.ServicerContext
    ) -> identity_pb2.GetRulesResponse:
        check = FieldChecks()
        property_id = check.property_id(request.property_id)
        check.abort_if_invalid(context, "invalid GetRules request")
        rules, configured = self._app.rules_for(property_id)
        return identity_pb2.GetRulesResponse(rules=_rules_to_pb(rules), configured=configured)

    def ListEvents(
        self, request: identity_pb2.ListEventsRequest, context: grpc.ServicerContext
    ) -> identity_pb2.ListEventsResponse:
        return identity_pb2.ListEventsResponse.FromString(self._log.encoded_page(request, context))

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


def _identifier_keys(check: FieldChecks, identifiers: Iterable[common_pb2.Identifier]) -> list[str]:
    return [
        check.identifier_key(identifier, f"identifiers[{index}]")
        for index, identifier in enumerate(identifiers)
    ]


def _rules_to_pb(rules: IdentityRules) -> identity_pb2.ResolutionRules:
    return identity_pb2.ResolutionRules(
        kinds=[
            identity_pb2.KindRule(
                kind=TYPE_OF_KIND[kind],
                priority=rule.priority,
                max_per_person=rule.max_per_person or 0,
                max_persons=rule.max_persons or 0,
                duplicate_records=rule.duplicate_records,
                keeps_devices_apart=rule.keeps_devices_apart,
                max_unvouched=rule.max_unvouched or 0,
                names_person=rule.names_person,
            )
            for kind, rule in sorted(rules.kinds.items(), key=lambda item: item[1].priority)
        ],
        max_persons_per_identifier=rules.max_persons_per_identifier,
        fanout_window=to_duration(rules.fanout_window.total_seconds()),
    )


def _rules_from_pb(
    message: identity_pb2.ResolutionRules, defaults: IdentityRules, check: FieldChecks
) -> IdentityRules:
    """The rules of a request (the defaults' blocked values and link threshold), recording
    each problem with its field path."""
    kinds: dict[str, KindRule] = {}
    priorities: set[int] = set()
    if not message.kinds:
        check.add("rules.kinds", "at least one kind rule is required")
    for index, rule in enumerate(message.kinds):
        path = f"rules.kinds[{index}]"
        if rule.kind not in KIND_OF_TYPE:
            check.choice(
                rule.kind, f"{path}.kind", KIND_OF_TYPE, common_pb2.IdentifierType.DESCRIPTOR
            )
            continue
        kind = KIND_OF_TYPE[rule.kind]
        if kind in kinds:
            check.add(f"{path}.kind", f"{kind} has a rule already")
        if rule.priority < 1:
            check.add(f"{path}.priority", "must be at least 1")
        elif rule.priority in priorities:
            check.add(f"{path}.priority", "must differ from the others")
        priorities.add(rule.priority)
        kinds[kind] = KindRule(
            priority=rule.priority,
            max_per_person=rule.max_per_person or None,
            max_persons=rule.max_persons or None,
            duplicate_records=rule.duplicate_records,
            keeps_devices_apart=rule.keeps_devices_apart,
            max_unvouched=rule.max_unvouched or None,
            names_person=rule.names_person,
        )
    if message.max_persons_per_identifier < 1:
        check.add("rules.max_persons_per_identifier", "must be at least 1")
    window = check.duration(
        message.fanout_window,
        "rules.fanout_window",
        minimum=MIN_FANOUT_WINDOW,
        maximum=MAX_FANOUT_WINDOW,
    )
    return replace(
        defaults,
        kinds=kinds,
        max_persons_per_identifier=message.max_persons_per_identifier,
        fanout_window=window,
    )
