"""Who may call each of ingest's RPCs (the policy table the authorisation interceptor enforces)."""

from __future__ import annotations

from common.authorisation import (
    AccessPolicy,
    Rule,
    audited,
    every_property,
    internal,
    internal_or_operator,
    scoped,
    scoped_or_default,
)
from common.callers import Scope
from common.rate_limits import Cost
from convtrack.ingest.v1 import ingest_pb2

# The services that follow ingest's log (services.launcher.PEERS), and those that check API
# keys with ingest's key ring (every other service).
LOG_FOLLOWERS = ("identity", "attribution", "reporting")
KEY_RING_READERS = ("identity", "attribution", "reporting")

RULES: dict[str, Rule] = {
    "TrackEvents": scoped(Scope.INGEST_WRITE, "events[*].property_id"),
    "ListRejected": scoped(Scope.INGEST_WRITE, "property_id"),
    "RecordSpend": scoped(Scope.INGEST_WRITE, "rows[*].property_id"),
    "PseudonymiseIdentifiers": scoped(Scope.IDENTITY_ADMIN, "property_id", peers=("identity",)),
    "RevealIdentifiers": internal(peers=("identity",)),
    "ListEvents": internal(peers=LOG_FOLLOWERS),
    "GetLogHead": internal_or_operator(peers=LOG_FOLLOWERS),
    "GetKeyRing": internal(peers=KEY_RING_READERS),
    "CreateApiKey": audited(every_property(Scope.ADMIN)),
    "ListApiKeys": every_property(Scope.ADMIN),
    "RevokeApiKey": audited(every_property(Scope.ADMIN)),
    "ListAuditEvents": every_property(Scope.ADMIN),
    # Consent policy and erasure are the property's privacy administration (identity:admin,
    # like ForgetPerson): write keys often ship inside clients and must not loosen consent.
    "GetConsentDefaults": scoped_or_default(Scope.IDENTITY_ADMIN, "property_id"),
    "SetConsentDefaults": audited(scoped_or_default(Scope.IDENTITY_ADMIN, "property_id")),
    "ForgetIdentifiers": audited(scoped(Scope.IDENTITY_ADMIN, "property_id")),
    # Channel grouping decides which channel gets credit: the property's attribution settings.
    "GetChannelGroups": scoped_or_default(Scope.ATTRIBUTION_ADMIN, "property_id"),
    "SetChannelGroups": audited(scoped_or_default(Scope.ATTRIBUTION_ADMIN, "property_id")),
}

# What a call costs against the key's rate limit (events per second): one per event.
RATE_COSTS: dict[str, Cost] = {
    "TrackEvents": lambda request: len(request.events),
    "RecordSpend": lambda request: len(request.rows),
}


def policy() -> AccessPolicy:
    """Ingest's policy table, checked against its descriptor."""
    return AccessPolicy(ingest_pb2.DESCRIPTOR.services_by_name["IngestService"], RULES)
