"""Who may call each of identity's RPCs (the policy table the authorisation interceptor
enforces)."""

from __future__ import annotations

from common.authorisation import AccessPolicy, Rule, internal, scoped
from common.callers import Scope
from convtrack.identity.v1 import identity_pb2

# The services that follow identity's log (services.launcher.PEERS).
LOG_FOLLOWERS = ("ingest", "attribution")
PEER_SERVICES = ("ingest", "identity", "attribution", "reporting")

RULES: dict[str, Rule] = {
    "ResolveIdentity": scoped(Scope.IDENTITY_ADMIN, "property_id"),
    "ExplainPerson": scoped(Scope.IDENTITY_ADMIN, "property_id"),
    "LinkIdentifiers": scoped(Scope.IDENTITY_ADMIN, "property_id"),
    "UnlinkIdentifier": scoped(Scope.IDENTITY_ADMIN, "property_id"),
    "SplitPerson": scoped(Scope.IDENTITY_ADMIN, "property_id"),
    "ForgetPerson": scoped(Scope.IDENTITY_ADMIN, "property_id"),
    "RunMatching": scoped(Scope.IDENTITY_ADMIN, "property_id"),
    "ConfigureRules": scoped(Scope.IDENTITY_ADMIN, "property_id"),
    "GetRules": scoped(Scope.IDENTITY_ADMIN, "property_id"),
    "ListEvents": internal(peers=LOG_FOLLOWERS),
    "GetLogHead": internal(peers=LOG_FOLLOWERS),
    "GetSyncStatus": internal(peers=PEER_SERVICES),
}


def policy() -> AccessPolicy:
    """Identity's policy table, checked against its descriptor."""
    return AccessPolicy(identity_pb2.DESCRIPTOR.services_by_name["IdentityService"], RULES)
