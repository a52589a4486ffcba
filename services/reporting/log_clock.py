"""The log clock: when upstream entries were recorded, so that a time maps to the position
the views stood at then."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from common.follower import UpstreamEntry
from services.reporting.bulk import insert_new_rows, qualified_name
from services.reporting.views import log_clock


def position_at(conn: Connection, upstream: str, moment: datetime) -> int:
    """The newest position of `upstream` recorded at or before `moment` (0: none)."""
    k = log_clock.c
    found = conn.execute(
        select(func.max(k.position)).where(k.upstream == upstream, k.recorded_at <= moment)
    ).scalar_one()
    return int(found or 0)


def time_of(conn: Connection, upstream: str, position: int) -> datetime | None:
    """When the newest entry of `upstream` at or before `position` was recorded (None when
    unknown)."""
    k = log_clock.c
    found = conn.execute(
        select(k.recorded_at)
        .where(k.upstream == upstream, k.position <= position)
        .order_by(k.position.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if found is None else _utc(found)


def record_times(
    conn: Connection, upstream: str, entries: Sequence[UpstreamEntry[Any]], changed: set[int]
) -> None:
    """Records when the entries at positions `changed` (at least those that changed a view)
    and the page's last entry were recorded, those whose time is known. A shard's tracking
    name counts as its upstream's: shards read the same log, so a row another shard wrote
    is kept."""
    base = upstream.split("/", 1)[0]
    last = entries[-1].position if entries else None
    kept = [
        (e.position, _utc(e.recorded_at))
        for e in entries
        if e.recorded_at is not None and (e.position in changed or e.position == last)
    ]
    if not kept:
        return
    if conn.dialect.name == "postgresql":
        _insert_from_arrays(conn, base, kept)
        return
    rows = [{"upstream": base, "position": p, "recorded_at": t} for p, t in kept]
    insert_new_rows(conn, log_clock, rows)


def _insert_from_arrays(
    conn: Connection, upstream: str, kept: Sequence[tuple[int, datetime]]
) -> None:
    """Inserts the (position, time) rows of `upstream` not stored yet by one PostgreSQL
    statement, the positions and times passed as two array literals: one round trip, where
    staging them in a temporary table took four; a literal is one `str.join`, where psycopg
    adapts a list element by element in Python."""
    positions = "{" + ",".join(str(position) for position, _ in kept) + "}"
    times = "{" + ",".join(moment.isoformat() for _, moment in kept) + "}"
    conn.exec_driver_sql(
        f"INSERT INTO {qualified_name(conn, log_clock)} (upstream, position, recorded_at) "
        "SELECT %s, k.position, k.recorded_at "
        "FROM unnest(%s::bigint[], %s::timestamptz[]) AS k(position, recorded_at) "
        "ON CONFLICT DO NOTHING",
        (upstream, positions, times),
    )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
