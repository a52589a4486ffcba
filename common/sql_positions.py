"""Upstream positions kept in SQL, for log consumers whose writes are SQL (read models, the
vault): read and recorded inside the consumer's own transaction."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)


def positions_table(metadata: MetaData, name: str) -> Table:
    """A table of (consumer, upstream) → last position processed."""
    return Table(
        name,
        metadata,
        Column("consumer", String, primary_key=True),
        Column("upstream", String, primary_key=True),
        Column("position", BigInteger, nullable=False),
    )


def stored_position(conn: Connection, table: Table, consumer: str, upstream: str) -> int:
    """The last position of `upstream` that `consumer` processed (0 before the first)."""
    found = conn.execute(
        select(table.c.position).where(table.c.consumer == consumer, table.c.upstream == upstream)
    ).scalar_one_or_none()
    return int(found or 0)


def stored_positions(conn: Connection, table: Table) -> dict[tuple[str, str], int]:
    """Every recorded position, by (consumer, upstream), in one query."""
    rows = conn.execute(select(table.c.consumer, table.c.upstream, table.c.position))
    return {(consumer, upstream): int(position) for consumer, upstream, position in rows}


def record_position(
    conn: Connection, table: Table, consumer: str, upstream: str, position: int
) -> None:
    """Records the position, in the caller's transaction."""
    updated = conn.execute(
        update(table)
        .where(table.c.consumer == consumer, table.c.upstream == upstream)
        .values(position=position)
    )
    if updated.rowcount == 0:
        conn.execute(insert(table).values(consumer=consumer, upstream=upstream, position=position))
