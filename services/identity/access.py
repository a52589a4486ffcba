"""Who may call each of identity's RPCs (the policy table the authorisation interceptor
enforces)."""

from __future__ import annotations

from common.authorisation import AccessPolicy, Rule, audited, internal, internal_or_operator, scoped
from common.callers import Scope
from common.rate_limits import Cost
from convtrack.identity.v1 import identity_pb2

# The services that follow identity's log (services.launcher.PEERS).
LOG_FOLLOWERS = ("ingest", "attribution", "reporting")
PEER_SERVICES = ("ingest", "identity", "attribution", "reporting")

RULES: dict[str, Rule] = {
    "ResolveIdentity": scoped(Scope.IDENTITY_ADMIN, "property_id"),
    "ExplainPerson": scoped(Scope.IDENTITY_ADMIN, "property_id"),
    "LinkIdentifiers": audited(scoped(Scope.IDENTITY_ADMIN, "property_id")),
    "UnlinkIdentifier": audited(scoped(Scope.IDENTITY_ADMIN, "property_id")),
    "SplitPerson": audited(scoped(Scope.IDENTITY_ADMIN, "property_id")),
    "ForgetPerson": audited(scoped(Scope.IDENTITY_ADMIN, "property_id")),
    "RunMatching": audited(scoped(Scope.IDENTITY_ADMIN, "property_id")),
    "ConfigureRules": audited(scoped(Scope.IDENTITY_ADMIN, "property_id")),
    "GetRules": scoped(Scope.IDENTITY_ADMIN, "property_id"),
    "ListEvents": internal(peers=LOG_FOLLOWERS),
    "GetLogHead": internal_or_operator(peers=LOG_FOLLOWERS),
    "GetSyncStatus": internal_or_operator(peers=PEER_SERVICES),
    "ListAuditEvents": scoped(Scope.IDENTITY_ADMIN, "property_id"),
}

# Every call costs one against the key's rate limit (calls per second).
RATE_COSTS: dict[str, Cost] = {}


def policy() -> AccessPolicy:
    """Identity's policy table, checked against its descriptor."""
    return AccessPolicy(identity_pb2.DESCRIPTOR.services_by_name["IdentityService"], RULES)
