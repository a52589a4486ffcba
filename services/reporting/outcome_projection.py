"""The outcome parts of the conversion projection: stages reached per conversion, and
retracted conversions taken out of every view."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert

from common.follower import UpstreamEntry
from services.reporting.domainmodel import Retraction, StageChange
from services.reporting.views import (
    conversion_credits,
    conversion_path_channels,
    conversion_paths,
    conversion_stages,
    unconsented_conversions,
)

HISTORY_TABLES = (
    conversion_credits,
    unconsented_conversions,
    conversion_paths,
    conversion_path_channels,
)
"""The views that keep a conversion's superseded rows (valid_from, valid_to): a retraction
ends its current rows there, so reports as of an earlier moment still count it."""


def apply_outcomes(
    conn: Connection, entries: Iterable[UpstreamEntry[Any]]
) -> dict[tuple[str, str], int]:
    """Applies a page's stage changes (each conversion's last one in the page replaces its
    stage rows) and removes retracted conversions' stage rows. Returns each retracted
    conversion with the position of its retraction, where the caller ends its rows in
    HISTORY_TABLES. Attribution logs nothing about a conversion after its retraction."""
    changes: dict[tuple[str, str], StageChange] = {}
    retracted: dict[tuple[str, str], int] = {}
    for entry in entries:
        value = entry.value
        if isinstance(value, StageChange):
            changes[(value.property_id, value.conversion_id)] = value
        elif isinstance(value, Retraction):
            retracted.setdefault((value.property_id, value.conversion_id), entry.position)
    _replace_stages(conn, list(changes.values()))
    if retracted:
        _delete_from(conn, [conversion_stages], list(retracted))
    return retracted


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
