"""The outcome parts of the conversion projection: stages reached and value per conversion
(every revision), and retracted conversions taken out of every view."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update

from common.follower import UpstreamEntry
from services.reporting.domainmodel import Retraction, StageChange
from services.reporting.views import (
    conversion_credits,
    conversion_path_channels,
    conversion_paths,
    conversion_stages,
    conversion_values,
    unconsented_conversions,
)

HISTORY_TABLES = (
    conversion_credits,
    unconsented_conversions,
    conversion_paths,
    conversion_path_channels,
    conversion_stages,
    conversion_values,
)
"""The views that keep a conversion's superseded rows (valid_from, valid_to): a retraction
ends its current rows there, so reports as of an earlier moment still count it."""


def apply_outcomes(
    conn: Connection, entries: Iterable[UpstreamEntry[Any]]
) -> dict[tuple[str, str], int]:
    """Applies a page's stage changes, each as a revision of its conversion's stage rows and
    value (ending the current ones where it starts). Returns each retracted conversion with
    the position of its retraction, where the caller ends its rows in HISTORY_TABLES.
    Attribution logs nothing about a conversion after its retraction."""
    changes: dict[tuple[str, str], list[tuple[int, StageChange]]] = {}
    retracted: dict[tuple[str, str], int] = {}
    for entry in entries:
        value = entry.value
        if isinstance(value, StageChange):
            changes.setdefault((value.property_id, value.conversion_id), []).append(
                (entry.position, value)
            )
        elif isinstance(value, Retraction):
            retracted.setdefault((value.property_id, value.conversion_id), entry.position)
    _revise_stages(conn, changes)
    return retracted


def _revise_stages(
    conn: Connection, changes: dict[tuple[str, str], list[tuple[int, StageChange]]]
) -> None:
    if not changes:
        return
    parameters = [
        {"p_property": p, "p_conversion": c, "p_end": found[0][0]}
        for (p, c), found in changes.items()
    ]
    for table in (conversion_stages, conversion_values):
        t = table.c
        conn.execute(
            update(table)
            .where(
                t.property_id == bindparam("p_property"),
                t.conversion_id == bindparam("p_conversion"),
                t.valid_to.is_(None),
            )
            .values(valid_to=bindparam("p_end")),
            parameters,
        )
    stages: list[dict[str, Any]] = []
    values: list[dict[str, Any]] = []
    for found in changes.values():
        ends: list[int | None] = [position for position, _ in found[1:]]
        ends.append(None)
        for (position, change), end in zip(found, ends, strict=True):
            revision = {"valid_from": position, "valid_to": end}
            values.append(
                {
                    "property_id": change.property_id,
                    "conversion_id": change.conversion_id,
                    "value_micros": change.value_micros,
                    "currency_code": change.currency_code,
                    **revision,
                }
            )
            stages += [
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
                    **revision,
                }
                for stage, reached_at in change.stages
            ]
    conn.execute(insert(conversion_values), values)
    if stages:
        conn.execute(insert(conversion_stages), stages)
