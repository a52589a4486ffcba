"""Who may call each of attribution's RPCs (the policy table the authorisation interceptor
enforces)."""

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
from convtrack.attribution.v1 import attribution_pb2

# The services that follow attribution's log (services.launcher.PEERS).
LOG_FOLLOWERS = ("reporting",)
PEER_SERVICES = ("ingest", "identity", "attribution", "reporting")

RULES: dict[str, Rule] = {
    "GetAttribution": scoped(Scope.REPORTS_READ, "property_id"),
    # A property's own settings, or with property_id `*` the deployment default's (which
    # every property without its own follows): only an admin key may name `*`.
    "ListModels": scoped_or_default(Scope.REPORTS_READ, "property_id"),
    "ConfigureModels": audited(scoped_or_default(Scope.ATTRIBUTION_ADMIN, "property_id")),
    "SetReportingIdentity": audited(scoped_or_default(Scope.ATTRIBUTION_ADMIN, "property_id")),
    "RefitModel": audited(scoped(Scope.ATTRIBUTION_ADMIN, "property_id")),
    "StartReattribution": audited(every_property(Scope.ATTRIBUTION_ADMIN)),
    "GetJob": scoped(Scope.ATTRIBUTION_ADMIN, "property_id"),
    "ListEvents": internal(peers=LOG_FOLLOWERS),
    "GetLogHead": internal_or_operator(peers=LOG_FOLLOWERS),
    "GetSyncStatus": internal_or_operator(peers=PEER_SERVICES),
    "ListAuditEvents": scoped(Scope.ATTRIBUTION_ADMIN, "property_id"),
    # A stream of one property's conversions and credits: what its reports are made of.
    "WatchConversions": scoped(Scope.REPORTS_READ, "property_id"),
}

# Every call costs one against the key's rate limit (calls per second); opening a
# WatchConversions stream costs one, whatever it sends afterwards.
RATE_COSTS: dict[str, Cost] = {}


def policy() -> AccessPolicy:
    """Attribution's policy table, checked against its descriptor."""
    return AccessPolicy(attribution_pb2.DESCRIPTOR.services_by_name["AttributionService"], RULES)
