"""Bulk inserts and deletes of a page's view rows straight through the driver, inside the caller's
transaction: SQLAlchemy's per-row parameter processing cost more than the database's work
(docs/benchmarks.md, issue #9)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Table, delete, tuple_
from sqlalchemy.exc import DBAPIError

COPY_MIN_ROWS = 50
"""From how many rows PostgreSQL gets them by COPY rather than a pipelined executemany."""


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Inserts `rows` (dicts with the same keys, Python values as for `insert(table)`) into
    `table` in `conn`'s transaction, equal to `conn.execute(insert(table), rows)`: SQLite by
    the driver's executemany, PostgreSQL by COPY. Values are converted to the driver's by
    the columns' SQLAlchemy types, once per distinct object in a run of equal ones."""
    if not rows:
        return
    columns = tuple(rows[0])
    dialect = conn.dialect
    schema = _schema(conn, table)
    processors = _processors(dialect, table, columns)
    pick = itemgetter(*columns)
    values: list[tuple[Any, ...]] = [
        pick(row) if len(columns) > 1 else (pick(row),) for row in rows
    ]
    if processors:
        values = _converted(values, processors)
    copying = dialect.name == "postgresql" and len(values) >= COPY_MIN_ROWS
    statement = (_copy_statement if copying else _insert_statement)(
        dialect, schema, table.name, columns
    )
    _on_driver(conn, statement, values, copying)


def _schema(conn: Connection, table: Table) -> str | None:
    """The schema `table` is in on this connection (schema translation applied)."""
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema: str | None = translate.get(table.schema, table.schema)
    return schema


def _on_driver(
    conn: Connection, statement: str, values: Sequence[tuple[Any, ...]], copying: bool
) -> None:
    """Runs `statement` for each row of `values` (or COPYs them in) on the driver connection
    of `conn`'s transaction, with errors raised as SQLAlchemy's own execution raises them."""
    dialect = conn.dialect
    driver = conn.connection.dbapi_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        if copying:
            with cursor.copy(statement) as copy:
                for row in values:
                    copy.write_row(row)
        else:
            cursor.executemany(statement, values)
    except dialect.loaded_dbapi.Error as error:
        # As SQLAlchemy's own execution would: its exception types, a lost connection invalidated.
        lost = dialect.is_disconnect(error, driver, cursor)
        if lost:
            conn.invalidate(error)
        raise DBAPIError.instance(
            statement,
            None,
            error,
            dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=dialect,
        ) from error
    finally:
        cursor.close()


def _converted(
    values: list[tuple[Any, ...]], processors: Sequence[tuple[int, Callable[[Any], Any]]]
) -> list[tuple[Any, ...]]:
    """The rows with the processed columns converted; consecutive rows often share one
    object (a conversion's time in each of its credits), converted once."""
    last: list[tuple[Any, Any]] = [(object(), None)] * len(processors)
    out = []
    for row in values:
        mutable = list(row)
        for slot, (index, process) in enumerate(processors):
            value = mutable[index]
            seen, converted = last[slot]
            if value is not seen:
                converted = None if value is None else process(value)
                last[slot] = (value, converted)
            mutable[index] = converted
        out.append(tuple(mutable))
    return out


def _processors(
    dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> list[tuple[int, Callable[[Any], Any]]]:
    found: list[tuple[int, Callable[[Any], Any]]] = []
    for index, name in enumerate(columns):
        process = table.c[name].type._cached_bind_processor(dialect)
        if process is not None:
            found.append((index, process))
    return found


def _qualified(dialect: Dialect, schema: str | None, name: str) -> str:
    quote = dialect.identifier_preparer.quote
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


@lru_cache(maxsize=256)
def _insert_statement(
    dialect: Dialect, schema: str | None, name: str, columns: tuple[str, ...]
) -> str:
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    return (
        f"INSERT INTO {_qualified(dialect, schema, name)} "
        f"({', '.join(quote(c) for c in columns)}) VALUES ({', '.join([marker] * len(columns))})"
    )


@lru_cache(maxsize=256)
def _copy_statement(
    dialect: Dialect, schema: str | None, name: str, columns: tuple[str, ...]
) -> str:
    quote = dialect.identifier_preparer.quote
    return (
        f"COPY {_qualified(dialect, schema, name)} ({', '.join(quote(c) for c in columns)}) "
        "FROM STDIN"
    )


DELETE_CHUNK = 500
"""Keys per DELETE statement (well under SQLite's bound-parameter limit)."""


def delete_keys(
    conn: Connection, table: Table, columns: Sequence[str], keys: Iterable[Sequence[Any]]
) -> None:
    """Deletes the rows of `table` whose `columns` equal one of `keys`: on SQLite by the
    driver's executemany (a key costs an index lookup, in C), on PostgreSQL one statement
    per chunk of keys (`IN`) rather than a round trip per key."""
    unique = list(dict.fromkeys(tuple(key) for key in keys))
    if not unique:
        return
    if conn.dialect.name == "sqlite":
        quote = conn.dialect.identifier_preparer.quote
        statement = (
            f"DELETE FROM {_qualified(conn.dialect, _schema(conn, table), table.name)} WHERE "
            + " AND ".join(f"{quote(c)} = ?" for c in columns)
        )
        _on_driver(conn, statement, unique, copying=False)
        return
    selected = [table.c[name] for name in columns]
    for start in range(0, len(unique), DELETE_CHUNK):
        chunk = unique[start : start + DELETE_CHUNK]
        if len(selected) == 1:
            condition = selected[0].in_([key[0] for key in chunk])
        else:
            condition = tuple_(*selected).in_(chunk)
        conn.execute(delete(table).where(condition))


def add_to_sums(
    conn: Connection,
    table: Table,
    keys: Sequence[str],
    sums: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    count: str,
) -> None:
    """Adds each row's `sums` to those of the row of `table` with its `keys` (rows are keys
    then sums, each key once), inserting the rows not there yet (`INSERT ... ON CONFLICT DO
    UPDATE`), then deletes the rows among them whose `count` column became 0. On SQLite by
    the driver's executemany; on PostgreSQL the rows are COPYed into a temporary table and
    added and deleted from it in one statement each."""
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    columns = [*keys, *sums]
    target = _qualified(conn.dialect, _schema(conn, table), table.name)
    added = ", ".join(f"{quote(s)} = old.{quote(s)} + excluded.{quote(s)}" for s in sums)
    conflict = f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO UPDATE SET {added}"
    names = ", ".join(quote(c) for c in columns)
    at = columns.index(count)
    if conn.dialect.name != "postgresql":
        marks = ", ".join("?" for _ in columns)
        statement = f"INSERT INTO {target} AS old ({names}) VALUES ({marks}) {conflict}"
        _on_driver(conn, statement, rows, copying=False)
        matched = " AND ".join(f"{quote(k)} = ?" for k in keys)
        emptied = [row[: len(keys)] for row in rows if row[at] < 0]
        if emptied:
            statement = f"DELETE FROM {target} WHERE {matched} AND {quote(count)} = 0"
            _on_driver(conn, statement, emptied, copying=False)
        return
    staged = quote(f"staged_{table.name}")
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} (LIKE {target}) ON COMMIT DELETE ROWS"
    )
    conn.exec_driver_sql(f"TRUNCATE {staged}")
    _on_driver(conn, _copy_statement(conn.dialect, None, f"staged_{table.name}", tuple(columns)),
               rows, copying=True)  # fmt: skip
    conn.exec_driver_sql(
        f"INSERT INTO {target} AS old ({names}) SELECT {names} FROM {staged} {conflict}"
    )
    joined = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in keys)
    conn.exec_driver_sql(
        f"DELETE FROM {target} AS t USING {staged} AS s WHERE {joined} "
        f"AND s.{quote(count)} < 0 AND t.{quote(count)} = 0"
    )
