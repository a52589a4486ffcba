"""The conversion paths views' part of the attribution projection: each conversion's path
and the channels it assisted or closed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert

from services.reporting.domainmodel import ConversionAttribution
from services.reporting.path_values import collapsed_key, lag_days, steps_key
from services.reporting.views import conversion_path_channels, conversion_paths


def replace_paths(conn: Connection, attributions: Sequence[ConversionAttribution]) -> None:
    """Replaces the path rows of each conversion by those of its (latest) attribution; a
    conversion without analytics consent has no path and gets no row."""
    deletions: list[dict[str, Any]] = []
    paths: list[dict[str, Any]] = []
    channels: list[dict[str, Any]] = []
    for a in attributions:
        deletions.append({"p_property": a.property_id, "p_conversion": a.conversion_id})
        path = a.path
        if path is None or a.unconsented:
            continue
        occurred_at = a.occurred_at.astimezone(UTC)
        steps = path.steps()
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
            }
            for channel in path.distinct_channels()
        ]
    if deletions:
        for table in (conversion_paths, conversion_path_channels):
            conn.execute(
                delete(table).where(
                    table.c.property_id == bindparam("p_property"),
                    table.c.conversion_id == bindparam("p_conversion"),
                ),
                deletions,
            )
    if paths:
        conn.execute(insert(conversion_paths), paths)
    if channels:
        conn.execute(insert(conversion_path_channels), channels)
