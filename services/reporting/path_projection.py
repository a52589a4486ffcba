"""The conversion paths views' part of the attribution projection: each conversion's path
and the channels it assisted or closed, per attribution revision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import Connection

from services.reporting.bulk import insert_rows
from services.reporting.domainmodel import Revision
from services.reporting.path_values import collapsed_key, lag_days, steps_key
from services.reporting.views import conversion_path_channels, conversion_paths

PATH_TABLES = (conversion_paths, conversion_path_channels)
"""The path views, whose current rows a new revision of their conversion ends."""


def insert_paths(conn: Connection, revisions: Sequence[Revision]) -> None:
    """Inserts the path rows of each revision (its conversion's current rows are ended
    before); a conversion without analytics consent has no path and gets no row."""
    paths: list[dict[str, Any]] = []
    channels: list[dict[str, Any]] = []
    for r in revisions:
        a = r.attribution
        path = a.path
        if path is None or a.unconsented:
            continue
        occurred_at = a.occurred_at.astimezone(UTC)
        steps = path.steps()
        validity = {"valid_from": r.valid_from, "valid_to": r.valid_to}
        paths.append(
            {
                "property_id": a.property_id,
                "conversion_id": a.conversion_id,
                "conversion_name": a.conversion_name,
                "occurred_at": occurred_at,
                "value_micros": a.value_micros,
                "currency_code": a.currency_code,
                "revision": a.revision,
                "steps": steps_key(steps),
                "collapsed_steps": collapsed_key(steps),
                "touchpoints": path.touchpoint_count,
                "first_touch_at": (
                    path.first_touch_at.astimezone(UTC) if path.first_touch_at else None
                ),
                "lag_days": lag_days(path.first_touch_at, a.occurred_at),
                "last_non_direct_channel": path.last_non_direct_channel,
                **validity,
            }
        )
        channels += [
            {
                "property_id": a.property_id,
                "conversion_id": a.conversion_id,
                "channel": channel,
                "conversion_name": a.conversion_name,
                "occurred_at": occurred_at,
                "value_micros": a.value_micros,
                "last_touch": channel == path.last_non_direct_channel,
                **validity,
            }
            for channel in path.distinct_channels()
        ]
    if paths:
        insert_rows(conn, conversion_paths, paths)
    if channels:
        insert_rows(conn, conversion_path_channels, channels)
