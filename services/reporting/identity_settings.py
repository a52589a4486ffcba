"""The reporting identity of each property as attribution's log said it (deterministic or
blended), kept per revision, so that funnels and cohorts resolve persons the way attribution
credits them, now and as of a past position (read by person_reports.is_blended)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from common.follower import UpstreamEntry
from services.reporting.domainmodel import ConfiguredModels
from services.reporting.revisions import Revisions, revise
from services.reporting.views import reporting_identities

DEFAULT_SCOPE = "*"
"""The property id of the deployment default's settings."""


def apply_reporting_identities(conn: Connection, entries: Iterable[UpstreamEntry[Any]]) -> None:
    """Records each settings entry's reporting identity as a revision of its property's (a
    property's current row ends where its next entry starts)."""
    revisions: Revisions = {}
    for e in entries:
        if isinstance(e.value, ConfiguredModels):
            row = {"property_id": e.value.property_id, "blended": e.value.blended}
            revisions.setdefault((e.value.property_id,), []).append((e.position, row))
    revise(conn, reporting_identities, ("property_id",), revisions)
