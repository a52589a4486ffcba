"""The outcome parts of the conversion projection: stages reached per conversion, and
retracted conversions taken out of every view."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert

from services.reporting.domainmodel import Retraction, StageChange
from services.reporting.views import (
    conversion_credits,
    conversion_path_channels,
    conversion_paths,
    conversion_stages,
    unconsented_conversions,
)

RETRACTED_FROM = (
    conversion_credits,
    unconsented_conversions,
    conversion_paths,
    conversion_path_channels,
    conversion_stages,
)
"""Every view that holds rows of a conversion."""


def apply_outcomes(conn: Connection, values: Iterable[object]) -> None:
    """Applies a page's stage changes (each conversion's last one in the page replaces its
    stage rows), then its retractions (every row of the conversion goes, in every view).
    Attribution logs nothing about a conversion after its retraction, so retractions last is
    the page's order in effect."""
    changes: dict[tuple[str, str], StageChange] = {}
    retractions: list[Retraction] = []
    for value in values:
        if isinstance(value, StageChange):
            changes[(value.property_id, value.conversion_id)] = value
        elif isinstance(value, Retraction):
            retractions.append(value)
    _replace_stages(conn, list(changes.values()))
    _delete_conversions(conn, [(r.property_id, r.conversion_id) for r in retractions])


def _replace_stages(conn: Connection, changes: Sequence[StageChange]) -> None:
    if not changes:
        return
    _delete_from(conn, [conversion_stages], [(c.property_id, c.conversion_id) for c in changes])
    rows: list[dict[str, Any]] = [
        {
            "property_id": change.property_id,
            "conversion_id": change.conversion_id,
            "stage": stage,
            "conversion_name": change.conversion_name,
            "occurred_at": change.occurred_at.astimezone(UTC),
            "reached_at": reached_at.astimezone(UTC),
            "is_current": stage == change.stage,
            "value_micros": change.value_micros,
            "currency_code": change.currency_code,
        }
        for change in changes
        for stage, reached_at in change.stages
    ]
    if rows:
        conn.execute(insert(conversion_stages), rows)


def _delete_conversions(conn: Connection, keys: Sequence[tuple[str, str]]) -> None:
    if keys:
        _delete_from(conn, RETRACTED_FROM, keys)


def _delete_from(conn: Connection, tables: Iterable[Any], keys: Sequence[tuple[str, str]]) -> None:
    parameters = [{"p_property": p, "p_conversion": c} for p, c in keys]
    for table in tables:
        conn.execute(
            delete(table).where(
                table.c.property_id == bindparam("p_property"),
                table.c.conversion_id == bindparam("p_conversion"),
            ),
            parameters,
        )
