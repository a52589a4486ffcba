"""The reporting identity of each property as attribution's log said it (deterministic or
blended), kept per revision, so that funnels and cohorts resolve persons the way attribution
credits them, now and as of a past position (read by person_reports.is_blended)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from services.reporting.domainmodel import ConfiguredModels
from services.reporting.revisions import Revisions, revise
from services.reporting.views import reporting_identities

DEFAULT_SCOPE = "*"
"""The property id of the deployment default's settings."""


def apply_reporting_identities(
    conn: Connection, changes: Sequence[tuple[int, ConfiguredModels]]
) -> None:
    """Records the reporting identity of each settings entry (with its position) as a
    revision of its property's (a property's current row ends where its next entry
    starts)."""
    revisions: Revisions = {}
    for position, change in changes:
        row = {"property_id": change.property_id, "blended": change.blended}
        revisions.setdefault((change.property_id,), []).append((position, row))
    revise(conn, reporting_identities, ("property_id",), revisions)
