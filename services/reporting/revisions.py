"""Rows kept per revision (`valid_from`/`valid_to` positions): writing a page's new rows of
each key so that the key's current row ends where its first new one starts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table

from services.reporting.bulk import end_current, insert_rows

Key = tuple[str, ...]
Revisions = dict[Key, list[tuple[int, dict[str, Any] | None]]]
"""Per key of a table, its new rows (None: no row) in log order, each with its position."""


def revise(conn: Connection, table: Table, keys: Sequence[str], revisions: Revisions) -> None:
    """Makes each key's new rows current from their positions on: the key's current row
    ends where its first new one starts, each new row where the next starts (a None ends
    the one before and begins none). Of several new rows of a key at one position (one
    entry that moves an identifier twice), the last is the one that counts."""
    if not revisions:
        return
    revisions = {
        key: found if len(found) == 1 else _last_per_position(found)
        for key, found in revisions.items()
    }
    end_current(conn, table, keys, [(*key, found[0][0]) for key, found in revisions.items()])
    rows: list[dict[str, Any]] = []
    for found in revisions.values():
        ends: list[int | None] = [position for position, _ in found[1:]]
        ends.append(None)
        for (position, row), end in zip(found, ends, strict=True):
            if row is not None:
                rows.append({**row, "valid_from": position, "valid_to": end})
    insert_rows(conn, table, rows)


def _last_per_position(
    found: list[tuple[int, dict[str, Any] | None]],
) -> list[tuple[int, dict[str, Any] | None]]:
    last: dict[int, dict[str, Any] | None] = {}
    for position, row in found:
        last[position] = row
    return list(last.items())
