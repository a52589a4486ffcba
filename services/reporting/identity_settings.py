"""The reporting identity of each property as attribution's log said it (deterministic or
blended), kept per revision, so that funnels and cohorts resolve persons the way attribution
credits them, now and as of a past position (read by person_reports.is_blended)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update

from common.follower import UpstreamEntry
from services.reporting.domainmodel import ConfiguredModels
from services.reporting.views import reporting_identities

DEFAULT_SCOPE = "*"
"""The property id of the deployment default's settings."""


def apply_reporting_identities(conn: Connection, entries: Iterable[UpstreamEntry[Any]]) -> None:
    """Records each settings entry's reporting identity as a revision of its property's (a
    property's current row ends where its next entry starts)."""
    changes = [(e.position, e.value) for e in entries if isinstance(e.value, ConfiguredModels)]
    if not changes:
        return
    by_property: dict[str, list[tuple[int, ConfiguredModels]]] = {}
    for position, change in changes:
        by_property.setdefault(change.property_id, []).append((position, change))
    r = reporting_identities.c
    conn.execute(
        update(reporting_identities)
        .where(r.property_id == bindparam("p_property"), r.valid_to.is_(None))
        .values(valid_to=bindparam("p_end")),
        [{"p_property": p, "p_end": found[0][0]} for p, found in by_property.items()],
    )
    rows = []
    for found in by_property.values():
        ends: list[int | None] = [position for position, _ in found[1:]]
        ends.append(None)
        for (position, change), end in zip(found, ends, strict=True):
            rows.append(
                {
                    "property_id": change.property_id,
                    "blended": change.blended,
                    "valid_from": position,
                    "valid_to": end,
                }
            )
    conn.execute(insert(reporting_identities), rows)
