import datetime

from convtrack.common.v1 import common_pb2 as _common_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConfigureRulesRequest(_message.Message):
    __slots__ = ("property_id", "rules")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    rules: ResolutionRules
    def __init__(self, property_id: _Optional[str] = ..., rules: _Optional[_Union[ResolutionRules, _Mapping]] = ...) -> None: ...

class ConfigureRulesResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRulesRequest(_message.Message):
    __slots__ = ("property_id",)
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    def __init__(self, property_id: _Optional[str] = ...) -> None: ...

class GetRulesResponse(_message.Message):
    __slots__ = ("rules", "configured")
    RULES_FIELD_NUMBER: _ClassVar[int]
    CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    rules: ResolutionRules
    configured: bool
    def __init__(self, rules: _Optional[_Union[ResolutionRules, _Mapping]] = ..., configured: _Optional[bool] = ...) -> None: ...

class ResolutionRules(_message.Message):
    __slots__ = ("kinds", "max_persons_per_identifier", "fanout_window")
    KINDS_FIELD_NUMBER: _ClassVar[int]
    MAX_PERSONS_PER_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    FANOUT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedCompositeFieldContainer[KindRule]
    max_persons_per_identifier: int
    fanout_window: _duration_pb2.Duration
    def __init__(self, kinds: _Optional[_Iterable[_Union[KindRule, _Mapping]]] = ..., max_persons_per_identifier: _Optional[int] = ..., fanout_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class KindRule(_message.Message):
    __slots__ = ("kind", "priority", "max_per_person", "max_persons", "duplicate_records", "keeps_devices_apart", "max_unvouched", "names_person")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    MAX_PER_PERSON_FIELD_NUMBER: _ClassVar[int]
    MAX_PERSONS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_RECORDS_FIELD_NUMBER: _ClassVar[int]
    KEEPS_DEVICES_APART_FIELD_NUMBER: _ClassVar[int]
    MAX_UNVOUCHED_FIELD_NUMBER: _ClassVar[int]
    NAMES_PERSON_FIELD_NUMBER: _ClassVar[int]
    kind: _common_pb2.IdentifierType
    priority: int
    max_per_person: int
    max_persons: int
    duplicate_records: bool
    keeps_devices_apart: bool
    max_unvouched: int
    names_person: bool
    def __init__(self, kind: _Optional[_Union[_common_pb2.IdentifierType, str]] = ..., priority: _Optional[int] = ..., max_per_person: _Optional[int] = ..., max_persons: _Optional[int] = ..., duplicate_records: _Optional[bool] = ..., keeps_devices_apart: _Optional[bool] = ..., max_unvouched: _Optional[int] = ..., names_person: _Optional[bool] = ...) -> None: ...

class RunMatchingRequest(_message.Message):
    __slots__ = ("property_id",)
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    def __init__(self, property_id: _Optional[str] = ...) -> None: ...

class RunMatchingResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[MatchingRun]
    def __init__(self, runs: _Optional[_Iterable[_Union[MatchingRun, _Mapping]]] = ...) -> None: ...

class MatchingRun(_message.Message):
    __slots__ = ("property_id", "observations", "candidate_pairs", "links_proposed", "links_accepted", "links_added", "links_removed", "duration", "check")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_PAIRS_FIELD_NUMBER: _ClassVar[int]
    LINKS_PROPOSED_FIELD_NUMBER: _ClassVar[int]
    LINKS_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    LINKS_ADDED_FIELD_NUMBER: _ClassVar[int]
    LINKS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    observations: int
    candidate_pairs: int
    links_proposed: int
    links_accepted: int
    links_added: int
    links_removed: int
    duration: _duration_pb2.Duration
    check: MatchingCheck
    def __init__(self, property_id: _Optional[str] = ..., observations: _Optional[int] = ..., candidate_pairs: _Optional[int] = ..., links_proposed: _Optional[int] = ..., links_accepted: _Optional[int] = ..., links_added: _Optional[int] = ..., links_removed: _Optional[int] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., check: _Optional[_Union[MatchingCheck, _Mapping]] = ...) -> None: ...

class MatchingCheck(_message.Message):
    __slots__ = ("expected_precision", "model_precision", "held_out_precision", "held_out_recall", "target", "passed", "reason")
    EXPECTED_PRECISION_FIELD_NUMBER: _ClassVar[int]
    MODEL_PRECISION_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_PRECISION_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_RECALL_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    expected_precision: float
    model_precision: float
    held_out_precision: float
    held_out_recall: float
    target: float
    passed: bool
    reason: str
    def __init__(self, expected_precision: _Optional[float] = ..., model_precision: _Optional[float] = ..., held_out_precision: _Optional[float] = ..., held_out_recall: _Optional[float] = ..., target: _Optional[float] = ..., passed: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class ForgetPersonRequest(_message.Message):
    __slots__ = ("property_id", "person_id", "note")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    person_id: str
    note: str
    def __init__(self, property_id: _Optional[str] = ..., person_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class ForgetPersonResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExplainPersonRequest(_message.Message):
    __slots__ = ("property_id", "person_id")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    person_id: str
    def __init__(self, property_id: _Optional[str] = ..., person_id: _Optional[str] = ...) -> None: ...

class ExplainPersonResponse(_message.Message):
    __slots__ = ("person_id", "identifiers", "decisions", "matching_check")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    MATCHING_CHECK_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    decisions: _containers.RepeatedCompositeFieldContainer[LogEntry]
    matching_check: MatchingCheck
    def __init__(self, person_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ..., decisions: _Optional[_Iterable[_Union[LogEntry, _Mapping]]] = ..., matching_check: _Optional[_Union[MatchingCheck, _Mapping]] = ...) -> None: ...

class LinkIdentifiersRequest(_message.Message):
    __slots__ = ("property_id", "identifiers", "note")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    note: str
    def __init__(self, property_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ..., note: _Optional[str] = ...) -> None: ...

class LinkIdentifiersResponse(_message.Message):
    __slots__ = ("person_id",)
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    def __init__(self, person_id: _Optional[str] = ...) -> None: ...

class UnlinkIdentifierRequest(_message.Message):
    __slots__ = ("property_id", "identifier", "note")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    identifier: _common_pb2.Identifier
    note: str
    def __init__(self, property_id: _Optional[str] = ..., identifier: _Optional[_Union[_common_pb2.Identifier, _Mapping]] = ..., note: _Optional[str] = ...) -> None: ...

class UnlinkIdentifierResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SplitPersonRequest(_message.Message):
    __slots__ = ("property_id", "person_id", "identifiers", "note")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    person_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    note: str
    def __init__(self, property_id: _Optional[str] = ..., person_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ..., note: _Optional[str] = ...) -> None: ...

class SplitPersonResponse(_message.Message):
    __slots__ = ("new_person_id",)
    NEW_PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    new_person_id: str
    def __init__(self, new_person_id: _Optional[str] = ...) -> None: ...

class ResolveIdentityRequest(_message.Message):
    __slots__ = ("property_id", "identifier", "reporting_identity")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    REPORTING_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    identifier: _common_pb2.Identifier
    reporting_identity: _common_pb2.ReportingIdentity
    def __init__(self, property_id: _Optional[str] = ..., identifier: _Optional[_Union[_common_pb2.Identifier, _Mapping]] = ..., reporting_identity: _Optional[_Union[_common_pb2.ReportingIdentity, str]] = ...) -> None: ...

class ResolveIdentityResponse(_message.Message):
    __slots__ = ("person_id", "identifiers")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    def __init__(self, person_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("after", "limit", "max_wait")
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MAX_WAIT_FIELD_NUMBER: _ClassVar[int]
    after: int
    limit: int
    max_wait: _duration_pb2.Duration
    def __init__(self, after: _Optional[int] = ..., limit: _Optional[int] = ..., max_wait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LogEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[LogEntry, _Mapping]]] = ...) -> None: ...

class GetLogHeadRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetLogHeadResponse(_message.Message):
    __slots__ = ("position",)
    POSITION_FIELD_NUMBER: _ClassVar[int]
    position: int
    def __init__(self, position: _Optional[int] = ...) -> None: ...

class GetSyncStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSyncStatusResponse(_message.Message):
    __slots__ = ("upstreams",)
    UPSTREAMS_FIELD_NUMBER: _ClassVar[int]
    upstreams: _containers.RepeatedCompositeFieldContainer[_common_pb2.UpstreamPosition]
    def __init__(self, upstreams: _Optional[_Iterable[_Union[_common_pb2.UpstreamPosition, _Mapping]]] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("position", "recorded_at", "trace_parent", "person_created", "identifiers_linked", "persons_merged", "person_split", "identifier_marked_shared", "merge_refused", "probabilistic_link_added", "person_forgotten", "probabilistic_link_removed")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    TRACE_PARENT_FIELD_NUMBER: _ClassVar[int]
    PERSON_CREATED_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_LINKED_FIELD_NUMBER: _ClassVar[int]
    PERSONS_MERGED_FIELD_NUMBER: _ClassVar[int]
    PERSON_SPLIT_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_MARKED_SHARED_FIELD_NUMBER: _ClassVar[int]
    MERGE_REFUSED_FIELD_NUMBER: _ClassVar[int]
    PROBABILISTIC_LINK_ADDED_FIELD_NUMBER: _ClassVar[int]
    PERSON_FORGOTTEN_FIELD_NUMBER: _ClassVar[int]
    PROBABILISTIC_LINK_REMOVED_FIELD_NUMBER: _ClassVar[int]
    position: int
    recorded_at: _timestamp_pb2.Timestamp
    trace_parent: str
    person_created: PersonCreated
    identifiers_linked: IdentifiersLinked
    persons_merged: PersonsMerged
    person_split: PersonSplit
    identifier_marked_shared: IdentifierMarkedShared
    merge_refused: MergeRefused
    probabilistic_link_added: ProbabilisticLinkAdded
    person_forgotten: PersonForgotten
    probabilistic_link_removed: ProbabilisticLinkRemoved
    def __init__(self, position: _Optional[int] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trace_parent: _Optional[str] = ..., person_created: _Optional[_Union[PersonCreated, _Mapping]] = ..., identifiers_linked: _Optional[_Union[IdentifiersLinked, _Mapping]] = ..., persons_merged: _Optional[_Union[PersonsMerged, _Mapping]] = ..., person_split: _Optional[_Union[PersonSplit, _Mapping]] = ..., identifier_marked_shared: _Optional[_Union[IdentifierMarkedShared, _Mapping]] = ..., merge_refused: _Optional[_Union[MergeRefused, _Mapping]] = ..., probabilistic_link_added: _Optional[_Union[ProbabilisticLinkAdded, _Mapping]] = ..., person_forgotten: _Optional[_Union[PersonForgotten, _Mapping]] = ..., probabilistic_link_removed: _Optional[_Union[ProbabilisticLinkRemoved, _Mapping]] = ...) -> None: ...

class PersonSplit(_message.Message):
    __slots__ = ("property_id", "person_id", "parts", "evidence_record_id")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    person_id: str
    parts: _containers.RepeatedCompositeFieldContainer[SplitPart]
    evidence_record_id: str
    def __init__(self, property_id: _Optional[str] = ..., person_id: _Optional[str] = ..., parts: _Optional[_Iterable[_Union[SplitPart, _Mapping]]] = ..., evidence_record_id: _Optional[str] = ...) -> None: ...

class SplitPart(_message.Message):
    __slots__ = ("person_id", "identifiers")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    def __init__(self, person_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ...) -> None: ...

class IdentifierMarkedShared(_message.Message):
    __slots__ = ("property_id", "identifier", "shared_person_id", "persons_seen", "evidence_record_id")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    SHARED_PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    PERSONS_SEEN_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    identifier: _common_pb2.Identifier
    shared_person_id: str
    persons_seen: _containers.RepeatedScalarFieldContainer[str]
    evidence_record_id: str
    def __init__(self, property_id: _Optional[str] = ..., identifier: _Optional[_Union[_common_pb2.Identifier, _Mapping]] = ..., shared_person_id: _Optional[str] = ..., persons_seen: _Optional[_Iterable[str]] = ..., evidence_record_id: _Optional[str] = ...) -> None: ...

class MergeRefused(_message.Message):
    __slots__ = ("property_id", "persons", "reason", "dropped_identifier", "evidence_record_id")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DROPPED_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    persons: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    dropped_identifier: _common_pb2.Identifier
    evidence_record_id: str
    def __init__(self, property_id: _Optional[str] = ..., persons: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., dropped_identifier: _Optional[_Union[_common_pb2.Identifier, _Mapping]] = ..., evidence_record_id: _Optional[str] = ...) -> None: ...

class ProbabilisticLinkRemoved(_message.Message):
    __slots__ = ("property_id", "a", "b", "reason")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    a: _common_pb2.Identifier
    b: _common_pb2.Identifier
    reason: str
    def __init__(self, property_id: _Optional[str] = ..., a: _Optional[_Union[_common_pb2.Identifier, _Mapping]] = ..., b: _Optional[_Union[_common_pb2.Identifier, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class ProbabilisticLinkAdded(_message.Message):
    __slots__ = ("property_id", "a", "b", "weight", "signal_weights")
    class SignalWeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    a: _common_pb2.Identifier
    b: _common_pb2.Identifier
    weight: float
    signal_weights: _containers.ScalarMap[str, float]
    def __init__(self, property_id: _Optional[str] = ..., a: _Optional[_Union[_common_pb2.Identifier, _Mapping]] = ..., b: _Optional[_Union[_common_pb2.Identifier, _Mapping]] = ..., weight: _Optional[float] = ..., signal_weights: _Optional[_Mapping[str, float]] = ...) -> None: ...

class PersonCreated(_message.Message):
    __slots__ = ("property_id", "person_id", "identifiers", "evidence_record_id")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    person_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    evidence_record_id: str
    def __init__(self, property_id: _Optional[str] = ..., person_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ..., evidence_record_id: _Optional[str] = ...) -> None: ...

class IdentifiersLinked(_message.Message):
    __slots__ = ("property_id", "person_id", "identifiers", "evidence_record_id")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    person_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    evidence_record_id: str
    def __init__(self, property_id: _Optional[str] = ..., person_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ..., evidence_record_id: _Optional[str] = ...) -> None: ...

class PersonsMerged(_message.Message):
    __slots__ = ("property_id", "surviving_person_id", "merged_person_id", "identifiers", "evidence_record_id")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    SURVIVING_PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    MERGED_PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    surviving_person_id: str
    merged_person_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    evidence_record_id: str
    def __init__(self, property_id: _Optional[str] = ..., surviving_person_id: _Optional[str] = ..., merged_person_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ..., evidence_record_id: _Optional[str] = ...) -> None: ...

class PersonForgotten(_message.Message):
    __slots__ = ("property_id", "person_id", "identifiers")
    PROPERTY_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    property_id: str
    person_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Identifier]
    def __init__(self, property_id: _Optional[str] = ..., person_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[_common_pb2.Identifier, _Mapping]]] = ...) -> None: ...

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
