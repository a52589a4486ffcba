"""Who may call each of reporting's RPCs (the policy table the authorisation interceptor
enforces)."""

from __future__ import annotations

from common.authorisation import (
    AccessPolicy,
    Rule,
    audited,
    every_property,
    internal_or_operator,
    scoped,
    unscoped,
)
from common.callers import Scope
from common.rate_limits import Cost
from convtrack.reporting.v1 import reporting_pb2

PEER_SERVICES = ("ingest", "identity", "attribution", "reporting")

RULES: dict[str, Rule] = {
    "GetConversionReport": scoped(Scope.REPORTS_READ, "property_id"),
    "CompareModels": scoped(Scope.REPORTS_READ, "property_id"),
    "ListConversionNames": scoped(Scope.REPORTS_READ, "property_id"),
    "ListReportModels": scoped(Scope.REPORTS_READ, "property_id"),
    "GetCostReport": scoped(Scope.REPORTS_READ, "property_id"),
    "GetConversionRateReport": scoped(Scope.REPORTS_READ, "property_id"),
    "GetPropertySettings": scoped(Scope.REPORTS_READ, "property_id"),
    # A property's report settings (its time zone) are configuration, like its models.
    "SetPropertySettings": audited(scoped(Scope.ATTRIBUTION_ADMIN, "property_id")),
    "GetPathReport": scoped(Scope.REPORTS_READ, "property_id"),
    "GetPathDistribution": scoped(Scope.REPORTS_READ, "property_id"),
    "GetAssistedConversions": scoped(Scope.REPORTS_READ, "property_id"),
    "GetOutcomeReport": scoped(Scope.REPORTS_READ, "property_id"),
    "GetFunnelReport": scoped(Scope.REPORTS_READ, "property_id"),
    "GetCohortReport": scoped(Scope.REPORTS_READ, "property_id"),
    # Names every property: only for keys of every property.
    "ListProperties": every_property(Scope.REPORTS_READ),
    # The dimensions reports group by: the same for every property.
    "ListDimensions": unscoped(Scope.REPORTS_READ),
    "GetSyncStatus": internal_or_operator(peers=PEER_SERVICES),
    # The audit log of the admin RPCs above: a property's entries for its attribution:admin
    # key, every property's for a key of every property.
    "ListAuditEvents": scoped(Scope.ATTRIBUTION_ADMIN, "property_id"),
}

# Every call costs one against the key's rate limit (queries per second).
RATE_COSTS: dict[str, Cost] = {}


def policy() -> AccessPolicy:
    """Reporting's policy table, checked against its descriptor."""
    return AccessPolicy(reporting_pb2.DESCRIPTOR.services_by_name["ReportingService"], RULES)
